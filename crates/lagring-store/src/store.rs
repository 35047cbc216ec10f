//! The coordination contract the pipeline talks to, whether it runs as a fleet
//! (Redis) or alone (memory).
//!
//! The trait returns boxed futures rather than using `async fn` so that it is
//! dyn-compatible: the binary picks `Arc<dyn CoordinationStore>` from config
//! and the pipeline never knows which store it has. One allocation per call is
//! nothing next to a network round trip.
//!
//! Fencing lives in the contract itself:
//! - a node is a [`NodeIdentity`]: its configured id plus an incarnation token
//!   drawn at process start. Lease values carry both, so two processes with
//!   the same id never share a lease, and a heartbeat from a second live
//!   process with an id already in use is refused ([`HeartbeatOutcome::duplicate_of`]).
//! - the store reports an [`Epoch`] that changes whenever it may have lost
//!   data (Redis restarted, failed over, flushed); the ownership layer waits
//!   out every lease of the old epoch before claiming.
//! - leases are claimed for an iteration slot and handed over *after* a slot:
//!   a lease handed over after slot `s` can be claimed by another node for
//!   slot `s + 1` or later, never for `s`, so a planned move neither misses
//!   nor duplicates a slot.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::StoreError;

/// What every store call returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// One process of a node: the configured id and a per-process token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeIdentity {
    /// Node id (StatefulSet pod name or configured id).
    pub id: String,
    /// Random per process start; tells two processes with one id apart.
    pub incarnation: String,
}

impl NodeIdentity {
    /// An identity for `id` with a fresh random incarnation.
    pub fn new(id: impl Into<String>) -> Self {
        Self { id: id.into(), incarnation: format!("{:016x}", rand::random::<u64>()) }
    }

    /// An identity with a given incarnation (tests, tools).
    pub fn with_incarnation(id: impl Into<String>, incarnation: impl Into<String>) -> Self {
        Self { id: id.into(), incarnation: incarnation.into() }
    }

    /// The value stored in a lease this process holds: `id#incarnation`.
    pub fn holder(&self) -> String {
        format!("{}#{}", self.id, self.incarnation)
    }
}

impl fmt::Display for NodeIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.id, self.incarnation)
    }
}

/// What a node says about itself with every heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Groups it emits now (operator view).
    #[serde(default)]
    pub owned_groups: u64,
    /// True from SIGTERM on: peers leave it out of every ring and take its
    /// groups over at the slot after it hands them over.
    #[serde(default)]
    pub leaving: bool,
    /// Clusters this node cannot complete iterations of: peers leave it out
    /// of those clusters' rings.
    #[serde(default)]
    pub unhealthy_clusters: Vec<String>,
}

/// One live node as the store sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Node id.
    pub id: String,
    /// Incarnation of the process that heartbeats under this id.
    pub incarnation: String,
    /// Time since its last heartbeat, by the store's clock.
    pub heartbeat_age: Duration,
    /// What it reported with its last heartbeat.
    pub status: NodeStatus,
}

/// The store's data generation. A different token means the store may have
/// lost leases (restart without persistence, failover, flush).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Epoch {
    /// Changes whenever the store may have lost data.
    pub token: String,
    /// Time since the epoch began, by the store's clock.
    pub age: Duration,
}

/// The live set, sorted by node id, and the store's epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    /// Live nodes, sorted by id.
    pub nodes: Vec<NodeInfo>,
    /// The epoch this live set was read in.
    pub epoch: Epoch,
}

impl Membership {
    /// Live node ids, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(|n| n.id.as_str())
    }

    /// True when `node_id` is live.
    pub fn contains(&self, node_id: &str) -> bool {
        self.nodes.iter().any(|n| n.id == node_id)
    }

    /// The live entry of `node_id`.
    pub fn node(&self, node_id: &str) -> Option<&NodeInfo> {
        self.nodes.iter().find(|n| n.id == node_id)
    }
}

/// The answer to one heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeartbeatOutcome {
    /// The live set after the heartbeat.
    pub membership: Membership,
    /// `Some(incarnation)` when another live process already heartbeats under
    /// this node id: this heartbeat was NOT recorded, and the caller must not
    /// emit anything while that lasts.
    pub duplicate_of: Option<String>,
}

/// Result of one claim-or-renew over a batch of keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimOutcome {
    /// Keys whose lease this process now holds (claimed or renewed), in request order.
    pub held: Vec<String>,
    /// Keys held by another process, with its holder value (`id#incarnation`), in request order.
    pub held_by_others: Vec<(String, String)>,
}

/// Membership and per-key leases shared by the nodes of a fleet.
///
/// Node status for the operator view and for per-cluster rings travels with
/// the heartbeat (one hash field per node, pruned with the node), so `lagring
/// ring` and every ring read it in the same call.
pub trait CoordinationStore: Send + Sync + std::fmt::Debug {
    /// Marks `node` live for `ttl` (by the store's clock) with `status`,
    /// prunes expired nodes and returns the live set and the epoch, all in
    /// one round trip. Refused (see [`HeartbeatOutcome::duplicate_of`]) while
    /// another live process holds the same id.
    fn heartbeat<'a>(
        &'a self,
        node: &'a NodeIdentity,
        ttl: Duration,
        status: &'a NodeStatus,
    ) -> StoreFuture<'a, HeartbeatOutcome>;

    /// The live set without registering anybody (operator view).
    fn membership(&self) -> StoreFuture<'_, Membership>;

    /// Removes `node` from the live set at once (graceful shutdown); a no-op
    /// when the id is live under another incarnation.
    fn deregister<'a>(&'a self, node: &'a NodeIdentity) -> StoreFuture<'a, ()>;

    /// For iteration slot `slot`: claims every free key, every key handed
    /// over after an earlier slot, and renews every key `node` holds, for
    /// `ttl`; reports who holds each key afterwards. Batched: a handful of
    /// round trips for thousands of keys.
    fn claim_leases<'a>(
        &'a self,
        node: &'a NodeIdentity,
        keys: &'a [String],
        ttl: Duration,
        slot: u64,
    ) -> StoreFuture<'a, ClaimOutcome>;

    /// Marks the leases among `keys` that `node` holds as handed over after
    /// `last_slot`: `node` emitted them up to that slot, another node may
    /// claim them for any later slot. Returns how many were marked.
    fn hand_over_leases<'a>(
        &'a self,
        node: &'a NodeIdentity,
        keys: &'a [String],
        last_slot: u64,
    ) -> StoreFuture<'a, u64>;

    /// Releases the leases among `keys` that `node` holds; returns how many.
    fn release_leases<'a>(&'a self, node: &'a NodeIdentity, keys: &'a [String]) -> StoreFuture<'a, u64>;

    /// Current holder value of each key, in request order (`None` when free).
    fn lease_holders<'a>(&'a self, keys: &'a [String]) -> StoreFuture<'a, Vec<Option<String>>>;
}

/// A lease value split into holder and hand-over slot: `id#inc` or
/// `id#inc@slot`.
pub fn parse_lease_value(value: &str) -> (&str, Option<u64>) {
    match value.split_once('@') {
        Some((holder, slot)) => (holder, slot.parse().ok()),
        None => (value, None),
    }
}

/// The node id part of a holder value (`id#inc[@slot]`).
pub fn holder_node_id(value: &str) -> &str {
    let (holder, _) = parse_lease_value(value);
    holder.rsplit_once('#').map_or(holder, |(id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_values_parse_holder_and_hand_over_slot() {
        assert_eq!(parse_lease_value("n-1#ab12"), ("n-1#ab12", None));
        assert_eq!(parse_lease_value("n-1#ab12@42"), ("n-1#ab12", Some(42)));
        assert_eq!(holder_node_id("lagring-0#ab12@42"), "lagring-0");
        assert_eq!(holder_node_id("odd#id#ab12"), "odd#id");
        let a = NodeIdentity::new("a");
        let b = NodeIdentity::new("a");
        assert_ne!(a.holder(), b.holder(), "two processes with one id hold different lease values");
        assert_eq!(a.incarnation.len(), 16);
    }
}
