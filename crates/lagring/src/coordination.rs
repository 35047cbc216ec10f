//! Fleet coordination of one node: heartbeats, the fence, leaving, and the
//! per-cluster state the rings are built from. The ownership rules
//! themselves live in `lagring_store::ownership`; this is the node-wide glue.
//!
//! - One heartbeat task writes liveness every `heartbeat_interval` with this
//!   node's status (owned groups, leaving, clusters it cannot reach, whether
//!   its remote write delivers), and feeds each answer to the [`Fence`]
//!   (epoch changes, duplicate node id).
//! - Each cluster's fetch loop asks [`Coordinator::view`] for the last live
//!   set, this node's own state for that cluster, and whether claims are
//!   allowed; and reports ring joins/leaves through [`Coordinator::set_joined`].
//! - On SIGTERM, [`Coordinator::request_leave`] marks the node leaving; once
//!   peers have had two heartbeats to see the mark, every cluster hands its
//!   groups over after its next slot.
//! - With `node.restart_grace`, SIGTERM marks the node *restarting* instead
//!   ([`Coordinator::request_restart`]): it stays on the rings, every cluster
//!   hands every lease over to the next process with this id after its next
//!   slot, and peers that saw the mark keep the node on their rings for the
//!   grace after it is gone (`ownership::restart_hold`), so a rolling restart
//!   moves nothing.
//! - The heartbeat carries this node's labels (`node.labels`) for placement.
//! - When the remote-write worker finds the node undeliverable
//!   ([`DeliveryHealth`]) the heartbeat publishes it at once, and this node
//!   counts itself off the rings only once peers have had two heartbeats to
//!   see it (like leaving, so the successors it names expect the hand-over)
//!   and the delivery `settle` delay has passed (so a receiver failing for
//!   the whole fleet has made every node undeliverable first: nothing moves).
//!   Delivering again counts at once in its own view (it only makes the node
//!   wait for the peers' hand-over); peers see it `settle` later.
//!   `/healthz` lists the problem under `degraded`.
//!
//! In single-node mode the store is in memory and the node owns everything
//! through the same code path.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use lagring_sink::remote_write::DeliveryHealth;
use lagring_store::ownership::fence::FenceEvent;
use lagring_store::ownership::{Fence, RestartHold, SelfState};
use lagring_store::{CoordinationStore, Membership, NodeIdentity, NodeStatus};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use crate::coordination_metrics::CoordinationMetrics;
use crate::health::Health;

/// Timing of the fleet protocol, from the node config.
#[derive(Debug, Clone, Copy)]
pub struct CoordinationTiming {
    pub node_ttl: Duration,
    pub heartbeat_interval: Duration,
    pub lease_ttl: Duration,
    pub vnodes: u32,
    /// How long peers keep a restarting node on their rings (zero: a
    /// SIGTERM hands groups to peers instead).
    pub restart_grace: Duration,
}

impl CoordinationTiming {
    /// Peers see a status change within one heartbeat; two leave margin for
    /// a slow round trip.
    pub fn propagation(&self) -> Duration {
        self.heartbeat_interval.saturating_mul(2)
    }
}

#[derive(Debug)]
struct NodeState {
    membership: Option<Membership>,
    fence: Fence,
    leave_requested: bool,
    /// SIGTERM with a restart grace: published as `restarting`.
    restart_requested: bool,
    /// When the first heartbeat carrying `restarting` succeeded.
    restarting_published: Option<Instant>,
    /// Peers that left announcing a restart, kept on the rings for the grace.
    hold: RestartHold,
    /// When the first heartbeat carrying `leaving` succeeded.
    leaving_published: Option<Instant>,
    /// When the first heartbeat carrying `undeliverable` succeeded (cleared
    /// by one that carries deliverable).
    undeliverable_published: Option<Instant>,
    /// Clusters this node is not on the ring of (not joined yet, or left).
    unjoined: BTreeSet<String>,
    owned: BTreeMap<String, u64>,
    /// Per cluster: brokers unreachable from this node and the groups it
    /// gives up for that (`ownership::reachability`).
    reach: BTreeMap<String, (Vec<i32>, Vec<String>)>,
    /// This node's labels (`node.labels`), published for placement affinity.
    labels: BTreeMap<String, String>,
}

/// State shared by the heartbeat task and every cluster's fetch loop.
#[derive(Debug)]
pub struct Coordinator {
    pub node: NodeIdentity,
    pub store: Arc<dyn CoordinationStore>,
    pub timing: CoordinationTiming,
    pub metrics: CoordinationMetrics,
    pub health: Health,
    /// Whether the remote write delivers (always, without remote write).
    delivery: DeliveryHealth,
    /// Wakes the heartbeat loop early when the status changed.
    status_changed: Notify,
    /// Short critical sections only, never across an `.await`.
    state: Mutex<NodeState>,
}

impl Coordinator {
    pub fn new(
        node: NodeIdentity,
        store: Arc<dyn CoordinationStore>,
        timing: CoordinationTiming,
        clusters: impl IntoIterator<Item = String>,
        metrics: CoordinationMetrics,
        health: Health,
        delivery: DeliveryHealth,
    ) -> Arc<Self> {
        let settle = timing.propagation();
        let state = NodeState {
            membership: None,
            fence: Fence::new(timing.lease_ttl, settle),
            leave_requested: false,
            restart_requested: false,
            restarting_published: None,
            hold: RestartHold::new(timing.restart_grace),
            leaving_published: None,
            undeliverable_published: None,
            unjoined: clusters.into_iter().collect(),
            owned: BTreeMap::new(),
            reach: BTreeMap::new(),
            labels: BTreeMap::new(),
        };
        let status_changed = Notify::new();
        Arc::new(Self { node, store, timing, metrics, health, delivery, status_changed, state: Mutex::new(state) })
    }

    fn state(&self) -> MutexGuard<'_, NodeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn status(&self) -> NodeStatus {
        let s = self.state();
        NodeStatus {
            owned_groups: s.owned.values().sum(),
            leaving: s.leave_requested,
            restarting: s.restart_requested,
            unhealthy_clusters: s.unjoined.iter().cloned().collect(),
            undeliverable: self.delivery.undeliverable_for_peers(),
            unreachable_brokers: s
                .reach
                .iter()
                .filter(|(_, (brokers, _))| !brokers.is_empty())
                .map(|(c, (brokers, _))| (c.clone(), brokers.clone()))
                .collect(),
            blocked_groups: s
                .reach
                .iter()
                .filter(|(_, (_, groups))| !groups.is_empty())
                .map(|(c, (_, groups))| (c.clone(), groups.clone()))
                .collect(),
            labels: s.labels.clone(),
        }
    }

    /// Lists the delivery problem, if any, under `degraded` in `/healthz`.
    fn report_delivery(&self) {
        let state = self.delivery.state();
        let reason = state.reason.filter(|_| !state.deliverable).map(|reason| {
            let secs = state.since.elapsed().as_secs();
            format!("undeliverable for {secs}s, groups move to peers that deliver: {reason}")
        });
        self.health.set_degraded("remote_write", reason);
    }

    /// Heartbeats once; feeds the fence and publishes the live set, or marks
    /// the node degraded.
    pub async fn heartbeat_once(&self) {
        let status = self.status();
        self.report_delivery();
        let outcome = match self.store.heartbeat(&self.node, self.timing.node_ttl, &status).await {
            Ok(outcome) => outcome,
            Err(e) => {
                self.metrics.redis_errors.inc();
                self.set_degraded(Some(format!("heartbeat: {e}")));
                return;
            }
        };
        self.set_degraded(None);
        self.metrics.ring_nodes.set(outcome.membership.nodes.len() as i64);
        let now = Instant::now();
        let events = {
            let mut s = self.state();
            let events = s.fence.observe(&outcome, now);
            if status.leaving && outcome.duplicate_of.is_none() && s.leaving_published.is_none() {
                s.leaving_published = Some(now);
            }
            if status.restarting && outcome.duplicate_of.is_none() && s.restarting_published.is_none() {
                s.restarting_published = Some(now);
            }
            s.hold.observe(&outcome.membership, now);
            if !status.undeliverable {
                s.undeliverable_published = None;
            } else if outcome.duplicate_of.is_none() && s.undeliverable_published.is_none() {
                s.undeliverable_published = Some(now);
            }
            s.membership = Some(outcome.membership);
            self.metrics.claims_blocked.set(i64::from(!s.fence.claims_allowed(now)));
            events
        };
        for event in events {
            self.on_fence_event(event, now);
        }
    }

    /// A cluster's claim was refused because the store's epoch is now
    /// `token` (it lost data since the last heartbeat): the same fence as an
    /// epoch change a heartbeat sees, counted once however many clusters
    /// report it.
    pub fn claim_refused_for_epoch(&self, token: &str) {
        let now = Instant::now();
        let event = {
            let mut s = self.state();
            let event = s.fence.observe_refused_claim(token, now);
            self.metrics.claims_blocked.set(i64::from(!s.fence.claims_allowed(now)));
            event
        };
        if let Some(event) = event {
            self.on_fence_event(event, now);
        }
    }

    fn on_fence_event(&self, event: FenceEvent, now: Instant) {
        match event {
            FenceEvent::NewEpoch { token, claims_from } => {
                self.metrics.epoch_changes.inc();
                let wait_ms = claims_from.saturating_duration_since(now).as_millis() as u64;
                tracing::warn!(epoch = %token, wait_ms, "coordination store started a new epoch (it may have lost leases): waiting out old leases before claiming");
            }
            FenceEvent::Duplicate(other) => {
                self.metrics.duplicate_id.set(1);
                let reason = format!(
                    "duplicate node id {:?}: another live process (incarnation {other}) heartbeats with it; this process ({}) emits nothing until it is gone",
                    self.node.id, self.node.incarnation
                );
                tracing::error!(node = %self.node.id, other_incarnation = %other, "duplicate node id, refusing to emit");
                self.health.set_node_problem("duplicate_node_id", Some(reason));
            }
            FenceEvent::DuplicateCleared => {
                self.metrics.duplicate_id.set(0);
                tracing::info!(node = %self.node.id, "the other process with this node id is gone");
                self.health.set_node_problem("duplicate_node_id", None);
            }
        }
    }

    fn set_degraded(&self, reason: Option<String>) {
        let was = self.metrics.degraded.get() == 1;
        match &reason {
            Some(r) if !was => tracing::warn!(reason = %r, "coordination store unreachable, keeping the last ring"),
            None if was => tracing::info!("coordination store reachable again"),
            _ => {}
        }
        self.metrics.degraded.set(i64::from(reason.is_some()));
        self.health.set_degraded("redis", reason);
    }

    /// Heartbeats every `heartbeat_interval` (and at once after a status
    /// change) until `shutdown`.
    pub async fn heartbeat_loop(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.timing.heartbeat_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut delivery = self.delivery.clone();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
                () = self.status_changed.notified() => {}
                () = delivery.changed() => {}
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                () = self.heartbeat_once() => {}
            }
        }
    }

    /// What a cluster's sync needs: the last live set, this node's own state
    /// for `cluster`, and whether claims are allowed now.
    pub fn view(&self, cluster: &str) -> (Option<Membership>, SelfState, bool) {
        let now = Instant::now();
        let s = self.state();
        let seen = |published: Option<Instant>| {
            published.is_some_and(|at| now.duration_since(at) >= self.timing.propagation())
        };
        let leaving = seen(s.leaving_published);
        let settled = s.undeliverable_published.is_some_and(|at| now.duration_since(at) >= self.delivery.settle());
        let undeliverable = seen(s.undeliverable_published) && settled && !self.delivery.is_deliverable();
        let me = SelfState { joined: !s.unjoined.contains(cluster), leaving, undeliverable };
        let mut membership = s.membership.clone();
        if let Some(m) = membership.as_mut() {
            s.hold.apply(m, now);
        }
        (membership, me, s.fence.claims_allowed(now))
    }

    /// Records that this node joined (`true`) or left the ring of `cluster`,
    /// and publishes it at once.
    pub fn set_joined(&self, cluster: &str, joined: bool) {
        let changed = {
            let mut s = self.state();
            if joined { s.unjoined.remove(cluster) } else { s.unjoined.insert(cluster.to_owned()) }
        };
        if changed {
            self.status_changed.notify_one();
        }
    }

    /// Records the brokers of `cluster` this node cannot reach and the groups
    /// it gives up for that, and publishes them at once.
    pub fn set_reachability(&self, cluster: &str, unreachable: Vec<i32>, blocked: Vec<String>) {
        let new = (unreachable, blocked);
        let changed = {
            let mut s = self.state();
            let empty = new.0.is_empty() && new.1.is_empty();
            match s.reach.get(cluster) {
                Some(old) if *old == new => false,
                None if empty => false,
                _ if empty => s.reach.remove(cluster).is_some(),
                _ => {
                    s.reach.insert(cluster.to_owned(), new);
                    true
                }
            }
        };
        if changed {
            self.status_changed.notify_one();
        }
    }

    /// Sets the labels this node publishes (before the first heartbeat).
    pub fn set_labels(&self, labels: BTreeMap<String, String>) {
        self.state().labels = labels;
        self.status_changed.notify_one();
    }

    /// Records how many groups this node emits for `cluster` (operator view).
    pub fn set_owned(&self, cluster: &str, groups: u64) {
        self.state().owned.insert(cluster.to_owned(), groups);
    }

    /// Marks this node leaving (SIGTERM) and publishes it at once.
    pub fn request_leave(&self) {
        self.state().leave_requested = true;
        self.status_changed.notify_one();
    }

    /// Marks this node restarting (SIGTERM with `node.restart_grace`) and
    /// publishes it at once: it stays on the rings, and peers keep it there
    /// for the grace after it is gone.
    pub fn request_restart(&self) {
        self.state().restart_requested = true;
        self.status_changed.notify_one();
    }

    /// True once the restarting mark has had time to reach every peer, so
    /// clusters may hand every lease over for the next process.
    pub fn restart_effective(&self) -> bool {
        let published = self.state().restarting_published;
        published.is_some_and(|at| at.elapsed() >= self.timing.propagation())
    }

    /// True once the leaving mark has had time to reach every peer, so
    /// clusters may hand their groups over.
    pub fn leaving_effective(&self) -> bool {
        self.view("").1.leaving
    }

    /// True when some other live node could take groups over.
    pub fn has_peers(&self) -> bool {
        let s = self.state();
        s.membership.as_ref().is_some_and(|m| m.nodes.iter().any(|n| n.id != self.node.id && !n.status.leaving))
    }

    /// Leaves the live set at once, so peers take over without waiting for
    /// the ttl. Call after every cluster released or handed over its leases.
    pub async fn deregister(&self) {
        if let Err(e) = self.store.deregister(&self.node).await {
            tracing::warn!(error = %e, "deregister failed; peers take over after node_ttl");
        }
    }
}

#[cfg(test)]
#[path = "coordination_tests.rs"]
mod tests;
