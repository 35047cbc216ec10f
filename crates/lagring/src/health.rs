//! Health behind `/healthz`, `/readyz` and `/livez`.
//!
//! - A cluster is unhealthy when its last iteration failed, when no
//!   iteration has succeeded for three intervals (a stuck fetch), or when
//!   none of the brokers its last iteration contacted answered a request.
//! - A broker that did not answer in the last iteration of its cluster (while
//!   others did) makes the node degraded, not unhealthy: its partitions and
//!   groups are missing, the rest of the cluster is measured. `degraded`
//!   names cluster and broker.
//! - A node problem (a duplicate node id) makes the node unhealthy whatever
//!   its clusters do.
//! - A fatal problem (a critical task died) makes the node unhealthy AND not
//!   live: `/livez` answers 503 only then, so a liveness probe never restarts
//!   a fleet because one Kafka cluster is down.
//! - The node is ready once every cluster has finished its first iteration,
//!   so a rollout does not route scrapes to a node that has nothing to show yet.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lagring_kafka::BrokerSeen;
use serde::Serialize;

#[derive(Debug, Default, Clone)]
struct ClusterHealth {
    attempted: bool,
    last_success: Option<Instant>,
    last_error: Option<String>,
    /// Brokers that answered at least one request of the last iteration.
    answering_brokers: usize,
    /// Brokers the last iteration could not reach, by node id, with why.
    unreachable_brokers: BTreeMap<i32, String>,
}

/// Shared health state. The mutex guards short map updates only and is
/// never held across `.await`.
#[derive(Debug, Clone)]
pub struct Health {
    inner: Arc<Mutex<State>>,
    stuck_after: Duration,
}

#[derive(Debug, Default)]
struct State {
    clusters: BTreeMap<String, ClusterHealth>,
    degraded: BTreeMap<String, String>,
    node_problems: BTreeMap<String, String>,
    fatal: Option<String>,
}

/// The JSON body of `/healthz`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct HealthReport {
    pub status: &'static str,
    /// Unhealthy clusters and why.
    pub unhealthy: BTreeMap<String, String>,
    /// Components working in a degraded mode (e.g. Redis unreachable).
    pub degraded: BTreeMap<String, String>,
    /// Problems of the node itself (duplicate node id, a dead task).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub node: BTreeMap<String, String>,
}

impl Health {
    pub fn new(clusters: impl IntoIterator<Item = String>, interval: Duration) -> Self {
        let state = State {
            clusters: clusters.into_iter().map(|c| (c, ClusterHealth::default())).collect(),
            ..Default::default()
        };
        Self { inner: Arc::new(Mutex::new(state)), stuck_after: interval.saturating_mul(3) }
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut guard = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    pub fn success(&self, cluster: &str) {
        self.with(|s| {
            let h = s.clusters.entry(cluster.to_owned()).or_default();
            h.attempted = true;
            h.last_success = Some(Instant::now());
            h.last_error = None;
        });
    }

    pub fn failure(&self, cluster: &str, reason: String) {
        self.with(|s| {
            let h = s.clusters.entry(cluster.to_owned()).or_default();
            h.attempted = true;
            h.last_error = Some(reason);
        });
    }

    /// Records which brokers of `cluster` the last iteration reached (see
    /// [`BrokerSeen::reachable`]); brokers it sent nothing are left out.
    pub fn brokers(&self, cluster: &str, seen: &[BrokerSeen]) {
        self.with(|s| {
            let h = s.clusters.entry(cluster.to_owned()).or_default();
            h.answering_brokers = seen.iter().filter(|b| b.answered > 0).count();
            h.unreachable_brokers = seen
                .iter()
                .filter(|b| !b.reachable())
                .map(|b| {
                    let why = b.last_failure.as_deref().unwrap_or("no answer");
                    (b.id, format!("cluster {cluster}: broker {} ({}) unreachable: {why}", b.id, b.addr))
                })
                .collect();
        });
    }

    /// Marks a component degraded (`Some(reason)`) or recovered (`None`).
    pub fn set_degraded(&self, component: &str, reason: Option<String>) {
        self.with(|s| match reason {
            Some(r) => {
                s.degraded.insert(component.to_owned(), r);
            }
            None => {
                s.degraded.remove(component);
            }
        });
    }

    /// Records (`Some`) or clears (`None`) a problem of the node itself.
    pub fn set_node_problem(&self, what: &str, reason: Option<String>) {
        self.with(|s| match reason {
            Some(r) => {
                s.node_problems.insert(what.to_owned(), r);
            }
            None => {
                s.node_problems.remove(what);
            }
        });
    }

    /// A critical task died: the node is neither healthy nor live from now on.
    pub fn set_fatal(&self, reason: String) {
        self.with(|s| {
            s.node_problems.insert("fatal".to_owned(), reason.clone());
            s.fatal.get_or_insert(reason);
        });
    }

    /// `Some(reason)` once a critical task died.
    pub fn fatal(&self) -> Option<String> {
        self.with(|s| s.fatal.clone())
    }

    pub fn report(&self) -> HealthReport {
        let stuck_after = self.stuck_after;
        self.with(|s| {
            let mut unhealthy = BTreeMap::new();
            let mut degraded = s.degraded.clone();
            for (name, h) in &s.clusters {
                if let Some(err) = &h.last_error {
                    unhealthy.insert(name.clone(), err.clone());
                } else if let Some(ok) = h.last_success
                    && ok.elapsed() > stuck_after
                {
                    unhealthy.insert(name.clone(), format!("no successful iteration for {:?}", ok.elapsed()));
                } else if h.answering_brokers == 0 && !h.unreachable_brokers.is_empty() {
                    let ids: Vec<String> = h.unreachable_brokers.keys().map(i32::to_string).collect();
                    unhealthy.insert(name.clone(), format!("no broker reachable (brokers {})", ids.join(", ")));
                }
                for (id, reason) in &h.unreachable_brokers {
                    degraded.insert(format!("{name}/broker/{id}"), reason.clone());
                }
            }
            let healthy = unhealthy.is_empty() && s.node_problems.is_empty();
            let status = if healthy { "ok" } else { "unhealthy" };
            HealthReport { status, unhealthy, degraded, node: s.node_problems.clone() }
        })
    }

    /// Clusters that have not finished a first iteration yet.
    pub fn not_ready(&self) -> Vec<String> {
        self.with(|s| s.clusters.iter().filter(|(_, h)| !h.attempted).map(|(n, _)| n.clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_names_cluster_and_reason_and_success_clears_it() {
        let h = Health::new(["a".to_owned(), "b".to_owned()], Duration::from_secs(30));
        assert_eq!(h.not_ready(), vec!["a".to_owned(), "b".to_owned()]);
        h.success("a");
        h.failure("b", "list groups: broker down".to_owned());
        assert!(h.not_ready().is_empty());
        let r = h.report();
        assert_eq!(r.status, "unhealthy");
        assert_eq!(r.unhealthy.get("b").map(String::as_str), Some("list groups: broker down"));
        assert!(!r.unhealthy.contains_key("a"));
        h.success("b");
        assert_eq!(h.report().status, "ok");
        h.set_degraded("redis", Some("connection refused".to_owned()));
        assert_eq!(h.report().degraded.get("redis").map(String::as_str), Some("connection refused"));
        assert_eq!(h.report().status, "ok", "degraded is not unhealthy");
    }

    fn seen(id: i32, failure: Option<&str>) -> BrokerSeen {
        BrokerSeen {
            id,
            addr: format!("127.0.0.1:{}", 9092 + id),
            answered: u64::from(failure.is_none()) * 5,
            failed: u64::from(failure.is_some()) * 2,
            last_failure: failure.map(str::to_owned),
        }
    }

    #[test]
    fn one_unreachable_broker_degrades_and_none_reachable_is_unhealthy() {
        let h = Health::new(["prod".to_owned(), "other".to_owned()], Duration::from_secs(30));
        h.success("prod");
        h.success("other");
        h.brokers("prod", &[seen(0, None), seen(1, Some("request timed out after 1s")), seen(2, None)]);
        let r = h.report();
        assert_eq!(r.status, "ok", "one silent broker of three: degraded, still 200");
        assert!(r.unhealthy.is_empty(), "{r:?}");
        let want: BTreeMap<String, String> = [(
            "prod/broker/1".to_owned(),
            "cluster prod: broker 1 (127.0.0.1:9093) unreachable: request timed out after 1s".to_owned(),
        )]
        .into_iter()
        .collect();
        assert_eq!(r.degraded, want);

        // One request of every broker failed, but each answered others: degraded only.
        let flaky = |id| BrokerSeen { answered: 3, ..seen(id, Some("request timed out after 1s")) };
        h.brokers("prod", &[flaky(0), flaky(1), flaky(2)]);
        let r = h.report();
        assert_eq!((r.status, r.unhealthy.len(), r.degraded.len()), ("ok", 0, 3), "{r:?}");

        // Every broker silent, even while the iteration itself still counts as a success.
        let refused = Some("connect to 127.0.0.1:9092 failed: connection refused");
        h.brokers("prod", &[seen(0, refused), seen(1, Some("request timed out after 1s")), seen(2, refused)]);
        let r = h.report();
        assert_eq!(r.status, "unhealthy");
        assert_eq!(r.unhealthy.get("prod").map(String::as_str), Some("no broker reachable (brokers 0, 1, 2)"));
        assert_eq!(r.degraded.len(), 3, "{r:?}");
        assert!(!r.unhealthy.contains_key("other"));

        // The broker answers again: nothing left.
        h.brokers("prod", &[seen(0, None), seen(1, None), seen(2, None)]);
        let r = h.report();
        assert_eq!((r.status, r.unhealthy.len(), r.degraded.len()), ("ok", 0, 0), "{r:?}");
    }

    #[test]
    fn node_problems_and_fatal_errors_make_the_node_unhealthy() {
        let h = Health::new(["a".to_owned()], Duration::from_secs(30));
        h.success("a");
        h.set_node_problem("duplicate_node_id", Some("duplicate node id \"n\"".to_owned()));
        let r = h.report();
        assert_eq!((r.status, r.node.len()), ("unhealthy", 1));
        h.set_node_problem("duplicate_node_id", None);
        assert_eq!(h.report().status, "ok");
        assert_eq!(h.fatal(), None);
        h.set_fatal("emit task panicked".to_owned());
        assert_eq!(h.fatal().as_deref(), Some("emit task panicked"));
        assert_eq!(h.report().node.get("fatal").map(String::as_str), Some("emit task panicked"));
    }
}
