//! Fleet coordination for one node (DESIGN §2): heartbeats, the live set,
//! and per-cluster ownership of `cluster/group` keys.
//!
//! - One heartbeat task per node writes liveness every `heartbeat_interval`,
//!   publishes the live set, and renews every lease the node holds, so a
//!   crashed node's groups are free after `node_ttl` even when the iteration
//!   interval is longer than that.
//! - One [`ClusterOwnership`] per cluster decides, each iteration, which of
//!   the discovered groups this node fetches and emits: the ring must assign
//!   the key here AND this node must hold its lease. A per-cluster tracker is
//!   needed because a tracker releases every lease it is not given back.
//! - The key `"{cluster}/"` (an empty group id, which Kafka does not allow)
//!   owns the per-cluster iteration series, so exactly one node emits those.
//!
//! In single-node mode the store is in memory and the node owns everything
//! through the same code path.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lagring_store::{CoordinationStore, Membership, OwnershipTracker, SystemClock};
use prometheus::{IntCounter, IntGauge, Registry};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::health::Health;

/// Coordination self metrics.
#[derive(Debug, Clone)]
pub struct CoordinationMetrics {
    pub ring_nodes: IntGauge,
    pub ownership_changes: IntCounter,
    pub redis_errors: IntCounter,
    pub degraded: IntGauge,
}

impl CoordinationMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let ring_nodes = IntGauge::new("lagring_ring_nodes", "Live nodes on the ownership ring as last seen")?;
        let ownership_changes =
            IntCounter::new("lagring_ownership_changes_total", "Groups gained or lost by this node")?;
        let redis_errors = IntCounter::new("lagring_redis_errors_total", "Failed coordination-store calls")?;
        let degraded = IntGauge::new("lagring_coordination_degraded", "1 while the coordination store is unreachable")?;
        registry.register(Box::new(ring_nodes.clone()))?;
        registry.register(Box::new(ownership_changes.clone()))?;
        registry.register(Box::new(redis_errors.clone()))?;
        registry.register(Box::new(degraded.clone()))?;
        Ok(Self { ring_nodes, ownership_changes, redis_errors, degraded })
    }
}

/// State shared by the heartbeat task and every cluster's ownership.
#[derive(Debug)]
pub struct Coordinator {
    pub node_id: String,
    pub store: Arc<dyn CoordinationStore>,
    pub node_ttl: Duration,
    pub heartbeat_interval: Duration,
    pub vnodes: u32,
    pub metrics: CoordinationMetrics,
    pub health: Health,
    membership_tx: watch::Sender<Option<Membership>>,
    /// Keys each cluster emits now. Short critical sections, never across `.await`.
    held: Mutex<BTreeMap<Arc<str>, Vec<String>>>,
}

impl Coordinator {
    pub fn new(
        node_id: String,
        store: Arc<dyn CoordinationStore>,
        node_ttl: Duration,
        heartbeat_interval: Duration,
        vnodes: u32,
        metrics: CoordinationMetrics,
        health: Health,
    ) -> Arc<Self> {
        let (membership_tx, _) = watch::channel(None);
        Arc::new(Self {
            node_id,
            store,
            node_ttl,
            heartbeat_interval,
            vnodes,
            metrics,
            health,
            membership_tx,
            held: Mutex::new(BTreeMap::new()),
        })
    }

    fn with_held<R>(&self, f: impl FnOnce(&mut BTreeMap<Arc<str>, Vec<String>>) -> R) -> R {
        let mut guard = match self.held.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    fn all_held(&self) -> Vec<String> {
        self.with_held(|h| h.values().flatten().cloned().collect())
    }

    fn owned_groups(&self) -> u64 {
        self.with_held(|h| h.values().flatten().filter(|k| !k.ends_with('/')).count() as u64)
    }

    /// Heartbeats once; publishes the live set or marks the node degraded.
    pub async fn heartbeat_once(&self) {
        match self.store.heartbeat(&self.node_id, self.node_ttl, self.owned_groups()).await {
            Ok(m) => {
                self.metrics.ring_nodes.set(m.nodes.len() as i64);
                self.membership_tx.send_replace(Some(m));
                self.set_degraded(None);
            }
            Err(e) => {
                self.metrics.redis_errors.inc();
                self.set_degraded(Some(format!("heartbeat: {e}")));
            }
        }
        let held = self.all_held();
        if !held.is_empty()
            && let Err(e) = self.store.renew_leases(&self.node_id, &held, self.node_ttl).await
        {
            self.metrics.redis_errors.inc();
            tracing::debug!(node = %self.node_id, error = %e, "lease renewal failed");
        }
    }

    fn set_degraded(&self, reason: Option<String>) {
        let was = self.metrics.degraded.get() == 1;
        match &reason {
            Some(r) if !was => {
                tracing::warn!(node = %self.node_id, reason = %r, "coordination store unreachable, keeping the last ring")
            }
            None if was => tracing::info!(node = %self.node_id, "coordination store reachable again"),
            _ => {}
        }
        self.metrics.degraded.set(i64::from(reason.is_some()));
        self.health.set_degraded("redis", reason);
    }

    /// Heartbeats every `heartbeat_interval` until `shutdown`.
    pub async fn heartbeat_loop(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.heartbeat_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                () = self.heartbeat_once() => {}
            }
        }
    }

    /// Leaves the live set at once, so peers take over without waiting for
    /// the ttl. Call after every cluster released its leases.
    pub async fn deregister(&self) {
        if let Err(e) = self.store.deregister(&self.node_id).await {
            tracing::warn!(node = %self.node_id, error = %e, "deregister failed; peers take over after node_ttl");
        }
    }

    /// The latest live set, if any heartbeat succeeded yet.
    pub fn membership(&self) -> Option<Membership> {
        self.membership_tx.borrow().clone()
    }
}

/// What this node works on in one iteration of one cluster.
#[derive(Debug, Default)]
pub struct Selection {
    pub owned: Vec<Arc<str>>,
    /// This node emits the per-cluster iteration series.
    pub owns_cluster_series: bool,
}

/// Per-cluster ownership decisions across iterations.
#[derive(Debug)]
pub struct ClusterOwnership {
    cluster: Arc<str>,
    coordinator: Arc<Coordinator>,
    tracker: OwnershipTracker,
}

impl ClusterOwnership {
    pub fn new(cluster: Arc<str>, coordinator: Arc<Coordinator>) -> Self {
        let tracker = OwnershipTracker::new(coordinator.node_id.clone(), coordinator.node_ttl, Arc::new(SystemClock))
            .with_vnodes(coordinator.vnodes);
        Self { cluster, coordinator, tracker }
    }

    fn cluster_key(&self) -> String {
        format!("{}/", self.cluster)
    }

    /// Claims/renews/releases leases for `discovered` and returns what to emit.
    pub async fn select(&mut self, discovered: &[Arc<str>]) -> Selection {
        if let Some(m) = self.coordinator.membership() {
            self.tracker.observe_membership(&m);
        }
        let prefix_len = self.cluster.len() + 1;
        let mut keys: Vec<String> = discovered.iter().map(|g| format!("{}/{g}", self.cluster)).collect();
        keys.push(self.cluster_key());
        let report = self.tracker.sync_leases(self.coordinator.store.as_ref(), &keys).await;
        if report.degraded {
            self.coordinator.metrics.redis_errors.inc();
        }
        let changes = (report.gained + report.lost) as u64;
        self.coordinator.metrics.ownership_changes.inc_by(changes);
        let cluster_key = self.cluster_key();
        let owns_cluster_series = report.emit.contains(&cluster_key);
        let owned = report
            .emit
            .iter()
            .filter(|k| **k != cluster_key)
            .filter_map(|k| k.get(prefix_len..))
            .map(Arc::from)
            .collect();
        self.coordinator.with_held(|h| h.insert(self.cluster.clone(), report.emit));
        Selection { owned, owns_cluster_series }
    }

    /// Releases this cluster's leases (graceful shutdown).
    pub async fn release_all(&mut self) {
        let keys = self.coordinator.with_held(|h| h.remove(&self.cluster)).unwrap_or_default();
        if keys.is_empty() {
            return;
        }
        if let Err(e) = self.coordinator.store.release_leases(&self.coordinator.node_id, &keys).await {
            tracing::warn!(cluster = %self.cluster, error = %e, "lease release on shutdown failed; they expire by ttl");
        }
    }
}
