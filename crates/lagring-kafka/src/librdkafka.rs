//! [`RdkafkaClient`]: the librdkafka backend of [`KafkaClient`], and the types both backends
//! answer with.
//!
//! Every call runs its blocking librdkafka work in `spawn_blocking`, bounded
//! three ways: librdkafka's request timeout (the connection's
//! `request_timeout`), a deadline the blocking worker itself stops at, and an
//! outer `tokio::time::timeout` a little later in case the worker is stuck.
//! A dead cluster therefore costs its caller a bounded wait, never a hang.
//!
//! The `*_until` calls take the caller's deadline (the end of the iteration):
//! no worker budget ever runs past it, so a slow broker never makes an
//! iteration overrun and no blocking worker outlives its iteration.
//! [`RdkafkaClient::blocking_in_flight`] counts the workers still running.
//!
//! librdkafka reports a failed login only in its log and error events, served after every
//! call; `login` keeps the failure, and request errors made while it stands name it.

pub(crate) mod login;
pub(crate) mod oauthbearer;
mod offsets;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use lagring_core::model::{Offset, TopicPartition};
use rdkafka::ClientConfig;
use tracing::debug;

use crate::answers::{GroupList, GroupListing};
use crate::commits::{TopicInterner, commit_map, group_error};
use crate::config::{Isolation, KafkaConnection, client_properties};
use crate::error::{AUTHENTICATION, BrokerError, KafkaError};
use crate::ffi::{self, Admin};
use crate::group_types::GroupType;
use crate::stats::{Api, Counters, RequestStats};

/// How much later than librdkafka's own timeout the blocking worker gives up.
const WORKER_SLACK: Duration = Duration::from_secs(1);
/// How much later than the worker's deadline the async caller gives up.
const OUTER_SLACK: Duration = Duration::from_secs(2);

/// The librdkafka client of one cluster. Cheap to clone: all clones share one
/// librdkafka handle and one set of counters.
#[derive(Clone)]
pub(crate) struct RdkafkaClient {
    inner: Arc<Inner>,
}

struct Inner {
    cluster: Arc<str>,
    /// Shared with the OAUTHBEARER token feed's task, which holds it only weakly.
    admin: Arc<Admin>,
    /// OAUTHBEARER: the tokens handed to librdkafka.
    oauth: Option<Arc<oauthbearer::TokenFeed>>,
    request_timeout: Duration,
    isolation: Isolation,
    counters: Counters,
    /// Partition leaders from the last metadata, to split ListOffsets.
    leaders: offsets::LeaderCache,
    /// Blocking workers started and not yet returned.
    blocking_in_flight: Arc<AtomicI64>,
}

/// Decrements the in-flight worker count when the worker returns (or unwinds).
struct InFlight(Arc<AtomicI64>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl fmt::Debug for RdkafkaClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RdkafkaClient")
            .field("cluster", &self.inner.cluster)
            .field("request_timeout", &self.inner.request_timeout)
            .field("isolation", &self.inner.isolation)
            .finish_non_exhaustive()
    }
}

impl RdkafkaClient {
    /// Creates the client. Does not contact the cluster (librdkafka connects
    /// in the background), so it fails only on invalid configuration.
    pub(crate) fn new(cluster: &str, conn: &KafkaConnection) -> Result<Self, KafkaError> {
        let cluster: Arc<str> = Arc::from(cluster);
        let mut config = ClientConfig::new();
        for (key, value) in client_properties(conn) {
            // The admin handle is a producer-type client, which warns about
            // consumer properties; ListOffsets gets the isolation level per
            // request instead.
            if key != "isolation.level" {
                config.set(key, value);
            }
        }
        let admin: Admin = config
            .create_with_context(login::LoginContext::default())
            .map_err(|source| KafkaError::Config { cluster: cluster.clone(), source })?;
        let oauthbearer = conn.sasl.as_ref().filter(|sasl| sasl.mechanism == crate::SaslMechanism::OAuthBearer);
        let oauth = match oauthbearer.and_then(|sasl| Some((sasl.oauthbearer.as_ref()?, &sasl.username))) {
            Some((source, principal)) => Some(
                oauthbearer::TokenFeed::new(source, principal, conn.request_timeout)
                    .map_err(|what| KafkaError::Unsupported { cluster: cluster.clone(), what })?,
            ),
            None => None,
        };
        let inner = Inner {
            cluster,
            admin: Arc::new(admin),
            oauth,
            request_timeout: conn.request_timeout,
            isolation: conn.isolation,
            counters: Counters::default(),
            leaders: offsets::LeaderCache::default(),
            blocking_in_flight: Arc::new(AtomicI64::new(0)),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// Request counters since the client was created.
    pub(crate) fn stats(&self) -> RequestStats {
        self.inner.counters.snapshot()
    }

    /// Blocking librdkafka workers running now (each bounded by its deadline).
    pub(crate) fn blocking_in_flight(&self) -> i64 {
        self.inner.blocking_in_flight.load(Ordering::Relaxed)
    }

    /// The groups of every broker that answered by `deadline`; fails only if
    /// the listing failed as a whole. A partial listing says so.
    pub(crate) async fn list_groups_until(&self, deadline: Option<Instant>) -> Result<GroupList, KafkaError> {
        // Admin operations keep librdkafka's full timeout (longer than
        // `socket.timeout.ms`, see `client_properties`); only the worker's wait
        // is cut at the deadline (librdkafka holds its own reference to the
        // reply queue).
        let started = Instant::now();
        let budget = self.capped(self.inner.request_timeout + WORKER_SLACK, deadline);
        let timeout = self.inner.request_timeout;
        let outcome = self
            .blocking(Api::ListGroups, budget, None, move |admin, deadline| ffi::list_groups(admin, timeout, deadline))
            .await
            .and_then(|r| r.map_err(|error| self.request_error(Api::ListGroups, error)));
        if outcome.as_ref().is_ok_and(|(_, errors)| errors.is_empty()) {
            self.login().succeeded();
        }
        self.count(Api::ListGroups, 1, u64::from(outcome.as_ref().map_or(true, |(_, errors)| !errors.is_empty())));
        let (groups, errors) = outcome.map_err(|e| self.or_refusal(Api::ListGroups, e, started))?;
        let failed = errors.len();
        // A broker that refused the OAUTHBEARER token answers nothing: its refusal is the reason.
        let partial = errors.into_iter().next().map(|first| KafkaError::PartialGroupListing {
            cluster: self.inner.cluster.clone(),
            failed,
            first: self.refusal_since(started).unwrap_or_else(|| self.login().explain(first)),
        });
        debug!(cluster = %self.inner.cluster, groups = groups.len(), failed_brokers = failed, "listed consumer groups");
        let groups = groups
            .into_iter()
            .map(|g| GroupListing {
                group: Arc::from(g.name),
                state: g.state.to_owned(),
                is_simple: g.is_simple,
                group_type: if g.is_simple { GroupType::Classic } else { GroupType::Unknown },
            })
            .collect();
        Ok(GroupList { groups, partial })
    }

    /// Committed offsets of each group (duplicates answered once), with up to
    /// `max_in_flight` requests outstanding and every answer due by
    /// `deadline`: groups without one by then fail with a timeout, the others
    /// are kept. Partitions without a commit are left out of a group's map.
    pub(crate) async fn committed_offsets_until(
        &self,
        groups: Vec<Arc<str>>,
        max_in_flight: usize,
        deadline: Option<Instant>,
    ) -> Vec<(Arc<str>, Result<BTreeMap<TopicPartition, Offset>, KafkaError>)> {
        let mut seen = BTreeSet::new();
        let groups: Vec<Arc<str>> = groups.into_iter().filter(|g| seen.insert(g.clone())).collect();
        if groups.is_empty() {
            return Vec::new();
        }
        let max_in_flight = max_in_flight.max(1);
        let waves = u32::try_from(groups.len().div_ceil(max_in_flight)).unwrap_or(u32::MAX);
        let budget = self.capped(self.inner.request_timeout.saturating_mul(waves) + WORKER_SLACK, deadline);
        let timeout = self.inner.request_timeout;
        let shared = Arc::new(groups.clone());
        let outcome = self
            .blocking(Api::OffsetFetch, budget, None, move |admin, deadline| {
                ffi::committed_offsets(admin, &shared, max_in_flight, timeout, deadline)
            })
            .await;
        let cluster = &self.inner.cluster;
        let per_group: Vec<Result<Vec<ffi::RawCommit>, KafkaError>> = match outcome {
            Ok(Ok(results)) => results
                .into_iter()
                .zip(&groups)
                .map(|(r, g)| r.map_err(|error| group_error(cluster, g, self.login().explain(error))))
                .collect(),
            Ok(Err(error)) | Err(KafkaError::Request { error, .. }) => {
                let error = self.login().explain(error);
                groups.iter().map(|g| Err(group_error(cluster, g, error.clone()))).collect()
            }
            Err(_) => groups
                .iter()
                .map(|g| {
                    Err(KafkaError::GroupTimeout {
                        cluster: cluster.clone(),
                        group: g.clone(),
                        after: budget + OUTER_SLACK,
                    })
                })
                .collect(),
        };
        let mut topics = TopicInterner::default();
        let results: Vec<_> = groups
            .into_iter()
            .zip(per_group)
            .map(|(group, raw)| {
                let commits = raw.and_then(|entries| commit_map(cluster, &group, entries, &mut topics));
                (group, commits)
            })
            .collect();
        let failed = results.iter().filter(|(_, r)| r.is_err()).count();
        self.count(Api::OffsetFetch, results.len() as u64, failed as u64);
        debug!(cluster = %cluster, groups = results.len(), failed, "fetched committed offsets");
        results
    }

    /// Partition count of every topic in the cluster metadata, due by
    /// `deadline`. Topics the metadata reports an error for are left out. Also
    /// remembers each partition's leader, by which later ListOffsets calls are
    /// split.
    pub(crate) async fn topic_partition_counts_until(
        &self,
        deadline: Option<Instant>,
    ) -> Result<BTreeMap<Arc<str>, i32>, KafkaError> {
        let started = Instant::now();
        let budget = self.capped(self.inner.request_timeout + WORKER_SLACK, deadline);
        let timeout = budget.min(self.inner.request_timeout);
        let inner = self.inner.clone();
        let outcome = self
            .blocking(Api::Metadata, budget, None, move |admin, _deadline| {
                let metadata = admin.inner().fetch_metadata(None, timeout)?;
                inner.leaders.update(&metadata);
                let counts = metadata
                    .topics()
                    .iter()
                    .filter(|t| t.error().is_none())
                    .map(|t| (Arc::from(t.name()), i32::try_from(t.partitions().len()).unwrap_or(i32::MAX)))
                    .collect::<BTreeMap<Arc<str>, i32>>();
                Ok(counts)
            })
            .await
            .and_then(|r: Result<_, rdkafka::error::KafkaError>| r.map_err(|source| self.metadata_error(source)));
        self.count(Api::Metadata, 1, u64::from(outcome.is_err()));
        outcome.map_err(|e| self.or_refusal(Api::Metadata, e, started))
    }

    /// `budget`, shortened so that the blocking worker stops by `deadline`
    /// (at least a millisecond, so a late call fails fast). The caller's own
    /// timeout at `deadline` bounds the wait for a worker that is stuck.
    fn capped(&self, budget: Duration, deadline: Option<Instant>) -> Duration {
        match deadline {
            Some(d) => budget.min(d.saturating_duration_since(Instant::now())),
            None => budget,
        }
        .max(Duration::from_millis(1))
    }

    /// Runs `work` on the blocking pool with a deadline `budget` from now
    /// (capped by `deadline`), and gives up waiting for it `OUTER_SLACK`
    /// after that.
    async fn blocking<T, F>(
        &self,
        api: Api,
        budget: Duration,
        deadline: Option<Instant>,
        work: F,
    ) -> Result<T, KafkaError>
    where
        T: Send + 'static,
        F: FnOnce(&Admin, Instant) -> T + Send + 'static,
    {
        let budget = self.capped(budget, deadline);
        let deadline = Instant::now() + budget;
        self.oauthbearer_ready(api, budget).await?;
        let budget = self.capped(budget, Some(deadline));
        let inner = self.inner.clone();
        inner.blocking_in_flight.fetch_add(1, Ordering::Relaxed);
        let guard = InFlight(inner.blocking_in_flight.clone());
        let task = tokio::task::spawn_blocking(move || {
            let _guard = guard;
            let value = work(&inner.admin, deadline);
            ffi::serve_main_queue(&inner.admin);
            value
        });
        let cluster = self.inner.cluster.clone();
        match tokio::time::timeout(budget + OUTER_SLACK, task).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(join)) => Err(KafkaError::Internal { cluster, api: api.name(), message: join.to_string() }),
            Err(_) => Err(KafkaError::Timeout { cluster, api: api.name(), after: budget + OUTER_SLACK }),
        }
    }

    /// With OAUTHBEARER, makes sure librdkafka holds a usable token within `budget`: without
    /// one no broker can log in, so the call fails at once with the token source's error.
    async fn oauthbearer_ready(&self, api: Api, budget: Duration) -> Result<(), KafkaError> {
        let Some(feed) = &self.inner.oauth else { return Ok(()) };
        let cluster = self.inner.cluster.clone();
        match tokio::time::timeout(budget, feed.ready(&self.inner.admin)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(KafkaError::Request { cluster, api: api.name(), error: self.login_failed(&reason) }),
            Err(_) => Err(KafkaError::Timeout { cluster, api: api.name(), after: budget }),
        }
    }

    /// `error` of a call started at `since`, or, with OAUTHBEARER, the authentication error
    /// librdkafka reported meanwhile (a broker's refusal of the token): that is why the call
    /// failed, the timeout or lost connection only what followed.
    fn or_refusal(&self, api: Api, error: KafkaError, since: Instant) -> KafkaError {
        match self.refusal_since(since) {
            Some(error) => KafkaError::Request { cluster: self.inner.cluster.clone(), api: api.name(), error },
            None => error,
        }
    }

    /// With OAUTHBEARER, the authentication error librdkafka reported since `since`.
    fn refusal_since(&self, since: Instant) -> Option<BrokerError> {
        let feed = self.inner.oauth.as_ref()?;
        let reason = feed.refusal_since(&self.inner.admin, since)?;
        Some(self.login_failed(&reason))
    }

    /// The error of a failed OAUTHBEARER login, worded as the native client words it.
    fn login_failed(&self, reason: &str) -> BrokerError {
        let principal = self.inner.oauth.as_ref().map_or("", |feed| feed.principal());
        BrokerError {
            code: AUTHENTICATION,
            message: format!("sasl OAUTHBEARER authentication as {principal:?} failed: {reason}"),
        }
    }

    /// A failed metadata request; a standing login failure says why better than librdkafka's
    /// "broker transport failure".
    fn metadata_error(&self, source: rdkafka::error::KafkaError) -> KafkaError {
        let cluster = self.inner.cluster.clone();
        match self.login().failure() {
            Some(error) => KafkaError::Request { cluster, api: Api::Metadata.name(), error },
            None => KafkaError::Metadata { cluster, source },
        }
    }

    fn request_error(&self, api: Api, error: BrokerError) -> KafkaError {
        let cluster = self.inner.cluster.clone();
        let error = self.login().explain(error);
        if error.code == crate::error::TIMED_OUT {
            return KafkaError::Timeout { cluster, api: api.name(), after: self.inner.request_timeout };
        }
        KafkaError::Request { cluster, api: api.name(), error }
    }

    /// What librdkafka logged about failed logins.
    fn login(&self) -> &login::LoginContext {
        self.inner.admin.inner().context()
    }

    fn count(&self, api: Api, requests: u64, errors: u64) {
        self.inner.counters.requests(api, requests);
        self.inner.counters.errors(api, errors);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Events on the client's main queue, polled until `done` holds or 30 s pass.
    fn queue_length_when(client: &RdkafkaClient, done: impl Fn(usize) -> bool) -> usize {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let length = ffi::admin_main_queue_length(&client.inner.admin);
            if done(length) || Instant::now() > deadline {
                return length;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[tokio::test]
    async fn what_librdkafka_reports_about_a_refusing_broker_is_read_after_each_call() {
        // A port nobody listens on: every connect is refused, and librdkafka reports each.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut conn = KafkaConnection::plaintext(format!("127.0.0.1:{port}"));
        conn.request_timeout = Duration::from_millis(500);
        let client = RdkafkaClient::new("refusing", &conn).unwrap();
        // Nothing reads the queue between calls: the reports pile up (the rdkafka admin client
        // never reads it; before lagring served it they grew for as long as a broker was down).
        let before = queue_length_when(&client, |n| n >= 3);
        assert!(before >= 3, "librdkafka reported only {before} events about a refusing broker in 30 s");
        let listing = client.list_groups_until(Some(Instant::now() + Duration::from_secs(2))).await;
        assert!(!matches!(&listing, Ok(l) if l.partial.is_none()), "a refusing broker listed groups: {listing:?}");
        // Served after the call: at most what one further connect attempt reported since.
        let after = ffi::admin_main_queue_length(&client.inner.admin);
        assert!(after < before && after <= 3, "main queue held {before} events before the call and {after} after");
    }

    #[test]
    fn timeout_errors_are_recognised() {
        let err = KafkaError::Request {
            cluster: Arc::from("c"),
            api: "list groups",
            error: BrokerError { code: crate::error::TIMED_OUT, message: "timed out".into() },
        };
        assert!(err.is_timeout());
    }
}
