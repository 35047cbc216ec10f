//! The native Kafka client: lagring's offset path spoken directly on the wire with the
//! `kafka-protocol` codec on tokio, without librdkafka, FFI or blocking threads.
//!
//! Why: librdkafka's ListConsumerGroupOffsets takes one group per call, so every iteration costs
//! one FindCoordinator and one OffsetFetch per group. Kafka ≥ 3.0 takes many coordinator keys per
//! FindCoordinator (v4, KIP-699) and many groups per OffsetFetch (v8, KIP-709); this client uses
//! both, so requests per iteration grow with brokers, not groups. See docs/native-client.md.
//!
//! Modules (data flows top to bottom):
//! - `directory`: bootstrap addresses, brokers by node id, partition leaders.
//! - `broker`: one broker's lazy connection, ApiVersions, reconnect backoff.
//! - `connection`: one TCP (or TLS, see `tls`) connection; pipelined requests matched by
//!   correlation id.
//! - `sasl`: SASL PLAIN, SCRAM-SHA-256/512 and OAUTHBEARER on each new connection;
//!   `oauthbearer` caches and refreshes the cluster's tokens, `oidc` fetches them; `msk_iam`
//!   signs AWS_MSK_IAM logins with keys `aws_credentials` caches and `aws_sources` fetches.
//! - `versions`: the versions this client speaks and the highest common one per broker.
//! - `wire`: request / response framing around the codec.
//! - `metadata`, `groups`, `coordinators`, `offset_fetch`, `list_offsets`: one Kafka API each,
//!   turning answers into the adapter's model types and errors.
//! - `fetch`: produce times of committed offsets (exact time lag) from Fetch; `record_batch`
//!   parses the batch headers of its answers and `batch_cache` keeps the batches read, bounded.
//! - `describe`: state and members of each group by its type's describe API; `assignments`
//!   reads from those answers which member each partition is assigned to.
//! - `error`: transport errors and their mapping to [`crate::error::BrokerError`].
//!
//! Every request is bounded by the connection's `request_timeout` and never past the caller's
//! deadline. TLS and SASL are set up once per cluster (a bad certificate file is an error at
//! construction); GSSAPI needs the librdkafka client.

mod assignments;
mod aws_credentials;
mod aws_sources;
mod batch_cache;
mod broker;
mod by_coordinator;
mod commit_entries;
mod connection;
mod coordinators;
mod describe;
mod directory;
mod error;
mod fetch;
#[cfg(test)]
mod fuzz_tests;
mod groups;
mod list_offsets;
mod metadata;
mod msk_iam;
pub(crate) mod oauthbearer;
mod offset_fetch;
mod oidc;
mod record_batch;
mod sasl;
mod share_offsets;
#[cfg(test)]
mod streams_wire_tests;
mod tls;
mod versions;
mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::{Isolation, KafkaConnection, NativeOptions};
use crate::error::KafkaError;
use crate::stats::{Api, Counters, RequestStats};
use batch_cache::BatchCache;
use directory::Directory;
use error::WireError;

/// A native client of one cluster, shared by all clones of a `KafkaClient`.
pub(crate) struct NativeClient {
    cluster: Arc<str>,
    request_timeout: Duration,
    isolation: Isolation,
    options: NativeOptions,
    counters: Arc<Counters>,
    directory: Directory,
    /// Coordinator node id per group, until a broker says it moved. A `std` mutex: held only to
    /// read or update entries, never across an `.await`.
    coordinators: Mutex<HashMap<Arc<str>, i32>>,
    /// Set when a broker failed a describe at the transport level (see `describe.rs`).
    describe_paused_until: Mutex<Option<Instant>>,
    /// Record batches read for exact time lag (`fetch.rs`), bounded.
    batches: BatchCache,
}

impl NativeClient {
    /// Checks the configuration; connects lazily on the first request.
    pub(crate) fn new(cluster: Arc<str>, conn: &KafkaConnection, options: NativeOptions) -> Result<Self, KafkaError> {
        let tls = conn
            .tls
            .as_ref()
            .map(tls::TlsSettings::new)
            .transpose()
            .map_err(|what| KafkaError::Unsupported { cluster: cluster.clone(), what })?;
        let options = options.normalised();
        let max_frame = options.max_response_frame_bytes;
        let tokens = match conn.sasl.as_ref().filter(|s| s.mechanism == crate::SaslMechanism::OAuthBearer) {
            None => None,
            Some(sasl) => {
                let unsupported = |what: String| KafkaError::Unsupported { cluster: cluster.clone(), what };
                let source = sasl.oauthbearer.as_ref().ok_or_else(|| {
                    unsupported("sasl OAUTHBEARER: no token source (oidc or token file) given".to_owned())
                })?;
                Some(oauthbearer::Tokens::new(source, conn.request_timeout).map_err(unsupported)?)
            }
        };
        let aws = match conn.sasl.as_ref().filter(|s| s.mechanism == crate::SaslMechanism::AwsMskIam) {
            None => None,
            Some(sasl) => {
                let unsupported = |what: String| KafkaError::Unsupported { cluster: cluster.clone(), what };
                let settings = sasl
                    .msk_iam
                    .as_ref()
                    .ok_or_else(|| unsupported("sasl AWS_MSK_IAM: no region and credentials given".to_owned()))?;
                Some(
                    aws_credentials::AwsCredentials::new(&settings.credentials, conn.request_timeout)
                        .map_err(unsupported)?,
                )
            }
        };
        if conn.sasl.as_ref().is_some_and(|s| s.mechanism == crate::SaslMechanism::Gssapi) {
            return Err(KafkaError::Unsupported {
                cluster,
                what: "sasl GSSAPI needs the librdkafka client".to_owned(),
            });
        }
        let setup = Arc::new(broker::Setup { tls, sasl: conn.sasl.clone(), tokens, aws, max_frame });
        let counters = Arc::new(Counters::default());
        let directory = Directory::new(&conn.bootstrap_servers, counters.clone(), setup).ok_or_else(|| {
            KafkaError::Unsupported { cluster: cluster.clone(), what: "bootstrap servers: no address given".to_owned() }
        })?;
        Ok(NativeClient {
            cluster,
            request_timeout: conn.request_timeout,
            isolation: conn.isolation,
            options,
            counters,
            directory,
            coordinators: Mutex::default(),
            describe_paused_until: Mutex::default(),
            batches: BatchCache::default(),
        })
    }

    pub(crate) fn stats(&self) -> RequestStats {
        self.counters.snapshot()
    }

    /// Brokers known by node id that were sent a request since the last call, with what those
    /// requests met (see `Broker::take_seen`).
    pub(crate) fn brokers_seen(&self) -> Vec<crate::answers::BrokerSeen> {
        self.directory
            .all()
            .into_iter()
            .filter_map(|(id, broker)| {
                let seen = broker.take_seen();
                (seen.answered > 0 || seen.failed > 0).then(|| crate::answers::BrokerSeen {
                    id,
                    addr: broker.addr.clone(),
                    answered: seen.answered,
                    failed: seen.failed,
                    last_failure: seen.last_failure,
                })
            })
            .collect()
    }

    /// The bound of one request: the request timeout, cut at `deadline`; an error once the
    /// deadline has passed.
    fn timeout(&self, deadline: Option<Instant>) -> Result<Duration, WireError> {
        let Some(deadline) = deadline else { return Ok(self.request_timeout) };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(WireError::Timeout(Duration::ZERO));
        }
        Ok(self.request_timeout.min(left))
    }

    fn count(&self, api: Api, requests: u64, errors: u64) {
        self.counters.requests(api, requests);
        self.counters.errors(api, errors);
    }

    fn request_error(&self, api: Api, error: WireError) -> KafkaError {
        KafkaError::Request { cluster: self.cluster.clone(), api: api.name(), error: error.into() }
    }
}
