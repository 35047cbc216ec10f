//! The ownership side of one cluster's fetch loop: which groups this node
//! fetches and emits each slot, when it hands them over, and whether it is on
//! the cluster's ring at all. The rules live in `lagring_store::ownership`;
//! this joins them to the node's [`Coordinator`].

use std::collections::BTreeSet;
use std::sync::Arc;

use lagring_kafka::BrokerSeen;

use lagring_store::SystemClock;
use lagring_store::ownership::cluster_health::GateChange;
use lagring_store::ownership::{
    ClusterHealthGate, ClusterOwnership, IterationReach, NodeView, Placement, ReachabilityGate, RingChoice,
    cluster_series_key, group_key, group_of_key, placed_ring,
};

use super::fetch::{Discovery, FetchOutcome, Selection};
use crate::coordination::Coordinator;
use crate::self_metrics::SelfMetrics;

/// Per-cluster ownership across iterations.
#[derive(Debug)]
pub struct ClusterOwner {
    cluster: Arc<str>,
    coordinator: Arc<Coordinator>,
    tracker: ClusterOwnership,
    gate: ClusterHealthGate,
    reach: ReachabilityGate,
    metrics: SelfMetrics,
    /// Groups of the last complete listing, kept through partial ones.
    last_groups: Vec<Arc<str>>,
    /// Which nodes may own the cluster (`clusters[].placement`).
    placement: Placement,
}

impl ClusterOwner {
    pub fn new(cluster: Arc<str>, coordinator: Arc<Coordinator>, leave_after: u32, metrics: SelfMetrics) -> Self {
        let timing = coordinator.timing;
        let tracker =
            ClusterOwnership::new(coordinator.node.clone(), &*cluster, timing.lease_ttl, Arc::new(SystemClock))
                .with_vnodes(timing.vnodes);
        coordinator.metrics.cluster_unplaced.with_label_values(&[&cluster]).set(0);
        metrics.ring_member.with_label_values(&[&cluster]).set(0);
        Self {
            cluster,
            coordinator,
            tracker,
            gate: ClusterHealthGate::new(leave_after),
            reach: ReachabilityGate::new(leave_after),
            metrics,
            last_groups: Vec::new(),
            placement: Placement::default(),
        }
    }

    /// Puts only the nodes `placement` admits on the cluster's ring.
    pub fn with_placement(mut self, placement: Placement) -> Self {
        self.tracker = self.tracker.with_placement(placement.clone());
        self.placement = placement;
        self
    }

    /// A partial listing (some brokers silent) keeps the groups of the last
    /// complete one: missing is not deleted.
    pub fn merge_partial(&mut self, discovery: &mut Discovery) {
        if discovery.partial.is_none() {
            self.last_groups.clone_from(&discovery.matched);
            return;
        }
        self.metrics.partial_listings.with_label_values(&[&self.cluster]).inc();
        let mut all: BTreeSet<Arc<str>> = discovery.matched.drain(..).collect();
        all.extend(self.last_groups.iter().cloned());
        discovery.matched = all.into_iter().collect();
    }

    /// The groups of the last complete listing (to renew leases through an
    /// iteration whose listing failed).
    pub fn last_groups(&self) -> Vec<Arc<str>> {
        self.last_groups.clone()
    }

    /// A successful listing proves a newcomer can reach the cluster: it joins
    /// the ring before claiming (a node that left needs a whole good iteration).
    pub fn reached(&mut self) {
        if self.gate.failures() == 0 && !self.gate.joined() {
            let change = self.gate.record(true);
            self.apply(change);
        }
    }

    /// Records one whole iteration's outcome.
    pub fn record(&mut self, success: bool) {
        let change = self.gate.record(success);
        self.apply(change);
    }

    fn apply(&self, change: Option<GateChange>) {
        let Some(change) = change else { return };
        let joined = change == GateChange::Joined;
        match change {
            GateChange::Joined => tracing::info!("joined the cluster's ring"),
            GateChange::Left => tracing::warn!(
                failures = self.gate.failures(),
                "left the cluster's ring after failed iterations; peers take its groups over"
            ),
        }
        self.metrics.ring_member.with_label_values(&[&self.cluster]).set(i64::from(joined));
        self.coordinator.set_joined(&self.cluster, joined);
    }

    /// Records which brokers this iteration could not reach and which owned
    /// groups it could not fetch whole; publishes the brokers unreachable for
    /// a streak and the groups given up to peers that reach them.
    pub fn record_reach(&mut self, seen: &[BrokerSeen], outcome: Option<&FetchOutcome>) {
        let unreachable: BTreeSet<i32> = seen.iter().filter(|b| !b.reachable()).map(|b| b.id).collect();
        let (owned, failing) = outcome.map(groups_fetched_and_failing).unwrap_or_default();
        let owned: Vec<&str> = owned.iter().map(|g| &**g).collect();
        let failing: BTreeSet<&str> = failing.iter().map(|g| &**g).collect();
        let iteration = IterationReach { unreachable_brokers: &unreachable, owned: &owned, failing: &failing };
        let (membership, me_state, _) = self.coordinator.view(&self.cluster);
        let me = self.coordinator.node.id.as_str();
        let cluster = &*self.cluster;
        let empty = Vec::new();
        // The peers that could take a group over: the other members of the cluster's ring.
        let peers: Vec<BTreeSet<i32>> = membership
            .iter()
            .flat_map(|m| {
                let (ring, _) = placed_ring(m, cluster, me, me_state, self.coordinator.timing.vnodes, &self.placement);
                m.nodes.iter().filter(move |n| n.id != me && ring.contains(&n.id))
            })
            .map(|n| n.status.unreachable_brokers.get(cluster).unwrap_or(&empty).iter().copied().collect())
            .collect();
        if self.reach.record(iteration, &peers) {
            let blocked: Vec<String> = self.reach.blocked().iter().cloned().collect();
            if blocked.is_empty() {
                tracing::info!(unreachable = ?self.reach.unreachable(), "no group given to peers for unreachable brokers");
            } else {
                tracing::warn!(unreachable = ?self.reach.unreachable(), groups = blocked.len(), "giving groups that need unreachable brokers to peers that reach them");
            }
            self.metrics.groups_given_to_peers.with_label_values(&[cluster]).set(blocked.len() as i64);
            self.coordinator.set_reachability(cluster, self.reach.unreachable().into_iter().collect(), blocked);
        }
    }

    /// Claims, releases and decides what to fetch and emit for `slot`.
    pub async fn select(&mut self, groups: &[Arc<str>], slot: u64) -> Selection {
        let cluster_key = cluster_series_key(&self.cluster);
        let mut keys: Vec<String> = groups.iter().map(|g| group_key(&self.cluster, g)).collect();
        keys.push(cluster_key.clone());
        let (membership, me, claims_allowed) = self.coordinator.view(&self.cluster);
        let view = NodeView { membership: membership.as_ref(), me, claims_allowed };
        let report = self.tracker.sync(self.coordinator.store.as_ref(), view, &keys, slot).await;
        if report.degraded {
            self.coordinator.metrics.redis_errors.inc();
        }
        if let Some(epoch) = &report.epoch_changed {
            self.coordinator.claim_refused_for_epoch(epoch);
        }
        self.coordinator.metrics.ownership_changes.inc_by((report.gained + report.lost) as u64);
        self.report_unplaced(report.ring == RingChoice::Unplaced);
        let owns_cluster_series = report.emit.contains(&cluster_key);
        let owned: Vec<Arc<str>> =
            report.emit.iter().filter_map(|k| group_of_key(&self.cluster, k)).map(Arc::from).collect();
        self.coordinator.set_owned(&self.cluster, owned.len() as u64);
        Selection { owned, owns_cluster_series }
    }

    /// Says whether the cluster has no eligible live node under its
    /// placement with `fallback: none`: `/healthz` names it under `degraded`
    /// and `lagring_cluster_unplaced` is 1 meanwhile.
    fn report_unplaced(&self, unplaced: bool) {
        let cluster = &*self.cluster;
        let gauge = self.coordinator.metrics.cluster_unplaced.with_label_values(&[cluster]);
        if (gauge.get() == 1) != unplaced {
            if unplaced {
                tracing::warn!(
                    "no live node matches the cluster's placement (fallback: none): its groups are not measured"
                );
            } else {
                tracing::info!("a node matching the cluster's placement is live again");
            }
        }
        gauge.set(i64::from(unplaced));
        let reason = unplaced.then(|| {
            format!("cluster {cluster}: no live node matches its placement and its fallback is none, its groups are not measured")
        });
        self.coordinator.health.set_degraded(&format!("placement/{cluster}"), reason);
    }

    /// Hands over what moved away, after `slot`'s fetch.
    pub async fn finish_slot(&mut self, slot: u64) {
        self.tracker.finish_slot(self.coordinator.store.as_ref(), slot).await;
    }

    /// Hands every lease over after `slot` for the next process with this
    /// node id (a restart with `node.restart_grace`).
    pub async fn hand_over_all(&mut self, slot: u64) {
        self.tracker.hand_over_all(self.coordinator.store.as_ref(), slot).await;
        self.coordinator.set_owned(&self.cluster, 0);
    }

    /// True when this node holds no lease of the cluster.
    pub fn holds_nothing(&self) -> bool {
        self.tracker.held_leases() == 0
    }

    /// Releases every lease (shutdown).
    pub async fn release_all(&mut self) {
        self.tracker.release_all(self.coordinator.store.as_ref()).await;
        self.coordinator.set_owned(&self.cluster, 0);
    }
}

/// The groups an iteration fetched, and those of them it could not fetch
/// whole: the offset fetch failed, or a committed partition had no offsets.
fn groups_fetched_and_failing(outcome: &FetchOutcome) -> (Vec<Arc<str>>, Vec<Arc<str>>) {
    let unavailable: BTreeSet<&lagring_core::model::TopicPartition> =
        outcome.failures.partitions.iter().map(|(tp, _)| tp).collect();
    let mut owned: Vec<Arc<str>> = Vec::new();
    let mut failing: Vec<Arc<str>> = Vec::new();
    for g in &outcome.observation.groups {
        owned.push(g.group.clone());
        if g.committed.keys().any(|tp| unavailable.contains(tp)) {
            failing.push(g.group.clone());
        }
    }
    for (group, _) in &outcome.failures.groups {
        owned.push(group.clone());
        failing.push(group.clone());
    }
    (owned, failing)
}
