//! The coordination contract the pipeline talks to, whether it runs as a fleet
//! (Redis) or alone (memory).
//!
//! The trait returns boxed futures rather than using `async fn` so that it is
//! dyn-compatible: the binary picks `Arc<dyn CoordinationStore>` from config
//! and the pipeline never knows which store it has. One allocation per call is
//! nothing next to a network round trip.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::StoreError;

/// What every store call returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// One live node as the store sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Node id (StatefulSet pod name or configured id).
    pub id: String,
    /// Time since its last heartbeat, by the store's clock.
    pub heartbeat_age: Duration,
    /// Groups it reported owning with its last heartbeat.
    pub owned_groups: u64,
}

/// The live set, sorted by node id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    /// Live nodes, sorted by id.
    pub nodes: Vec<NodeInfo>,
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
}

/// Result of one claim-or-renew over a batch of keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimOutcome {
    /// Keys whose lease this node now holds (claimed or renewed), in request order.
    pub held: Vec<String>,
    /// Keys held by another node, with that node's id, in request order.
    pub held_by_others: Vec<(String, String)>,
}

/// Membership and per-key leases shared by the nodes of a fleet.
///
/// Owned counts for the operator view travel with the heartbeat (one hash
/// field per node, pruned with the node), so `lagring ring` reads them in one
/// call instead of scanning every lease.
pub trait CoordinationStore: Send + Sync + std::fmt::Debug {
    /// Marks `node_id` live for `ttl` (by the store's clock), records how many
    /// groups it owns, prunes expired nodes and returns the live set, all in
    /// one round trip.
    fn heartbeat<'a>(&'a self, node_id: &'a str, ttl: Duration, owned_groups: u64) -> StoreFuture<'a, Membership>;

    /// The live set without registering anybody (operator view).
    fn membership(&self) -> StoreFuture<'_, Membership>;

    /// Removes `node_id` from the live set at once (graceful shutdown).
    fn deregister<'a>(&'a self, node_id: &'a str) -> StoreFuture<'a, ()>;

    /// Claims every free key and renews every key already held by `node_id`,
    /// for `ttl`; reports who holds each key afterwards. Batched: a handful of
    /// round trips for thousands of keys.
    fn claim_leases<'a>(&'a self, node_id: &'a str, keys: &'a [String], ttl: Duration)
    -> StoreFuture<'a, ClaimOutcome>;

    /// Releases the leases among `keys` that `node_id` holds; returns how many.
    fn release_leases<'a>(&'a self, node_id: &'a str, keys: &'a [String]) -> StoreFuture<'a, u64>;

    /// Extends the leases among `keys` that `node_id` still holds, for `ttl`;
    /// never claims a free key. Lets the heartbeat keep leases alive between
    /// iterations without racing a release. Returns how many were renewed.
    fn renew_leases<'a>(&'a self, node_id: &'a str, keys: &'a [String], ttl: Duration) -> StoreFuture<'a, u64>;

    /// Current holder of each key, in request order (`None` when free).
    fn lease_holders<'a>(&'a self, keys: &'a [String]) -> StoreFuture<'a, Vec<Option<String>>>;
}
