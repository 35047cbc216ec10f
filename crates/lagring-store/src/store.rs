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
//! - every claim (and renewal) carries the epoch the node last saw; the store
//!   refuses it atomically when its epoch is another one
//!   ([`ClaimOutcome::epoch_changed`]), so a claim sent between the store
//!   losing its data and the node's next heartbeat claims nothing.
//! - leases are claimed for an iteration slot and handed over *after* a slot
//!   *to a named successor*: a lease handed over after slot `s` can be
//!   claimed by that successor for slot `s + 1` or later, never for `s`, so a
//!   planned move neither misses nor duplicates a slot (see
//!   [`may_claim`] for the whole rule).

use std::collections::BTreeMap;
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
    /// True from SIGTERM on when the node expects to come back under the
    /// same id (`node.restart_grace`): peers keep it on their rings for the
    /// grace after it is gone, so its groups wait for it instead of moving
    /// away and back (`ownership::restart_hold`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restarting: bool,
    /// Clusters this node cannot complete iterations of: peers leave it out
    /// of those clusters' rings.
    #[serde(default)]
    pub unhealthy_clusters: Vec<String>,
    /// Its remote write cannot deliver (the receiver refuses it, or has
    /// failed for `remote_write.leave_after`): peers leave it out of every
    /// ring while one of them delivers.
    #[serde(default)]
    pub undeliverable: bool,
    /// Per cluster, the brokers (Kafka node ids) this node has not reached
    /// for several iterations in a row (`ownership::reachability`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unreachable_brokers: BTreeMap<String, Vec<i32>>,
    /// Per cluster, groups this node cannot fetch because a broker they need
    /// is unreachable from it while a peer reaches it: every node places
    /// them as if this node were off the cluster's ring.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub blocked_groups: BTreeMap<String, Vec<String>>,
    /// The node's labels (`node.labels`, e.g. `region`, `zone`): clusters
    /// with a placement affinity put only matching nodes on their ring.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
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
    /// `Some(current epoch token)` when the store's epoch was not the one the
    /// claim was sent with: the store lost data since the caller's last
    /// heartbeat, and the keys of that batch and every later one were neither
    /// claimed nor renewed (they are in neither list). The caller must treat it
    /// like an epoch change seen by a heartbeat: wait out the old leases.
    pub epoch_changed: Option<String>,
}

/// One lease to hand over after a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandOver {
    /// The key.
    pub key: String,
    /// Node id of the only other node that may claim it (the key's owner on
    /// the ring the handing-over node sees); `None` when that ring names no
    /// other node, then any node may.
    pub successor: Option<String>,
}

/// The arguments of one [`CoordinationStore::heartbeat`] call.
#[derive(Clone, Copy, Debug)]
pub struct Heartbeat<'a> {
    pub node: &'a NodeIdentity,
    pub ttl: Duration,
    pub status: &'a NodeStatus,
}

/// The arguments of one [`CoordinationStore::hand_over_leases`] call.
#[derive(Clone, Copy, Debug)]
pub struct LeaseHandOver<'a> {
    pub node: &'a NodeIdentity,
    pub leases: &'a [HandOver],
    pub last_slot: u64,
}

/// The arguments of one [`CoordinationStore::claim_leases`] call.
#[derive(Clone, Copy, Debug)]
pub struct LeaseClaim<'a> {
    pub node: &'a NodeIdentity,
    pub keys: &'a [String],
    pub ttl: Duration,
    pub slot: u64,
    pub epoch: &'a str,
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
    ) -> StoreFuture<'a, HeartbeatOutcome> {
        self.beat(Heartbeat { node, ttl, status })
    }

    /// [`Self::heartbeat`], the method a store implements.
    fn beat<'a>(&'a self, heartbeat: Heartbeat<'a>) -> StoreFuture<'a, HeartbeatOutcome>;

    /// The live set without registering anybody (operator view).
    fn membership(&self) -> StoreFuture<'_, Membership>;

    /// Removes `node` from the live set at once (graceful shutdown); a no-op
    /// when the id is live under another incarnation.
    fn deregister<'a>(&'a self, node: &'a NodeIdentity) -> StoreFuture<'a, ()>;

    /// For iteration slot `slot`, in store epoch `epoch` (the token of the
    /// last heartbeat `node` saw): claims every key [`may_claim`] allows
    /// (free, handed over to `node` after an earlier slot, or held by `node`
    /// already) for `ttl`, and reports who holds each key afterwards. When the
    /// store's epoch is not `epoch` it claims and renews nothing and says so
    /// ([`ClaimOutcome::epoch_changed`]). Batched: a handful of round trips for
    /// thousands of keys.
    fn claim_leases<'a>(
        &'a self,
        node: &'a NodeIdentity,
        keys: &'a [String],
        ttl: Duration,
        slot: u64,
        epoch: &'a str,
    ) -> StoreFuture<'a, ClaimOutcome> {
        self.claim_for_slot(LeaseClaim { node, keys, ttl, slot, epoch })
    }

    /// [`Self::claim_leases`], the method a store implements.
    fn claim_for_slot<'a>(&'a self, claim: LeaseClaim<'a>) -> StoreFuture<'a, ClaimOutcome>;

    /// Marks the leases among `leases` that `node` holds as handed over after
    /// `last_slot` to their successor: `node` emitted them up to that slot,
    /// the successor may claim them for any later slot (see [`may_claim`]).
    /// The lease keeps its expiry. Returns how many were marked.
    fn hand_over_leases<'a>(
        &'a self,
        node: &'a NodeIdentity,
        leases: &'a [HandOver],
        last_slot: u64,
    ) -> StoreFuture<'a, u64> {
        self.mark_handed_over(LeaseHandOver { node, leases, last_slot })
    }

    /// [`Self::hand_over_leases`], the method a store implements.
    fn mark_handed_over<'a>(&'a self, hand_over: LeaseHandOver<'a>) -> StoreFuture<'a, u64>;

    /// Releases the leases among `keys` that `node` holds; returns how many.
    fn release_leases<'a>(&'a self, node: &'a NodeIdentity, keys: &'a [String]) -> StoreFuture<'a, u64>;

    /// Current holder value of each key, in request order (`None` when free).
    fn lease_holders<'a>(&'a self, keys: &'a [String]) -> StoreFuture<'a, Vec<Option<String>>>;
}

/// A lease value taken apart: `id#inc` (held), `id#inc@slot` (handed over
/// after `slot` to any node) or `id#inc@slot>successor` (handed over after
/// `slot` to node id `successor` only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseValue<'a> {
    /// `id#incarnation` of the process that holds (or handed over) the lease.
    pub holder: &'a str,
    /// The last slot the holder emitted, once it handed the lease over.
    pub handed_over_after: Option<u64>,
    /// The node id the lease was handed over to, if it names one.
    pub successor: Option<&'a str>,
}

/// Splits a lease value (see [`LeaseValue`]).
pub fn parse_lease_value(value: &str) -> LeaseValue<'_> {
    let Some((holder, rest)) = value.split_once('@') else {
        return LeaseValue { holder: value, handed_over_after: None, successor: None };
    };
    let (slot, successor) = match rest.split_once('>') {
        Some((slot, successor)) => (slot, Some(successor)),
        None => (rest, None),
    };
    LeaseValue { holder, handed_over_after: slot.parse().ok(), successor }
}

/// The lease rule both stores implement (the Redis one in Lua): `claimer`
/// may take a live lease whose value is `value` for `slot` when it holds it
/// already (a renewal, or taking back a lease it handed over that nobody
/// claimed yet), or when the lease was handed over after an earlier slot to
/// `claimer`'s node id, or to nobody in particular. A free key may always be
/// taken; that check is the caller's.
pub fn may_claim(value: &LeaseValue<'_>, claimer: &NodeIdentity, slot: u64) -> bool {
    if value.holder == claimer.holder() {
        return true;
    }
    let after_hand_over = value.handed_over_after.is_some_and(|last| last < slot);
    after_hand_over && value.successor.is_none_or(|successor| successor == claimer.id)
}

/// The node id part of a holder value (`id#inc[@slot]`).
pub fn holder_node_id(value: &str) -> &str {
    let holder = parse_lease_value(value).holder;
    holder.rsplit_once('#').map_or(holder, |(id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_values_parse_holder_and_hand_over_slot() {
        let value = |holder, handed_over_after, successor| LeaseValue { holder, handed_over_after, successor };
        assert_eq!(parse_lease_value("n-1#ab12"), value("n-1#ab12", None, None));
        assert_eq!(parse_lease_value("n-1#ab12@42"), value("n-1#ab12", Some(42), None));
        assert_eq!(parse_lease_value("n-1#ab12@42>n-2"), value("n-1#ab12", Some(42), Some("n-2")));
        assert_eq!(holder_node_id("lagring-0#ab12@42"), "lagring-0");
        assert_eq!(holder_node_id("lagring-0#ab12@42>lagring-1"), "lagring-0");
        assert_eq!(holder_node_id("odd#id#ab12"), "odd#id");
        let a = NodeIdentity::new("a");
        let b = NodeIdentity::new("a");
        assert_ne!(a.holder(), b.holder(), "two processes with one id hold different lease values");
        assert_eq!(a.incarnation.len(), 16);
    }

    #[test]
    fn a_handed_over_lease_goes_to_its_successor_or_back_to_its_holder_only() {
        let (a, b, c) = (
            NodeIdentity::with_incarnation("a", "1"),
            NodeIdentity::with_incarnation("b", "1"),
            NodeIdentity::with_incarnation("c", "1"),
        );
        let held = parse_lease_value("a#1");
        assert_eq!([may_claim(&held, &a, 9), may_claim(&held, &b, 9)], [true, false]);
        let to_b = parse_lease_value("a#1@7>b");
        let b_again = NodeIdentity::with_incarnation("b", "2");
        let who = |slot| [&a, &b, &b_again, &c].map(|n| may_claim(&to_b, n, slot));
        assert_eq!(who(7), [true, false, false, false], "the hand-over slot stays the old holder's");
        assert_eq!(who(8), [true, true, true, false], "from the next slot: the successor's id, or the holder");
        let to_anyone = parse_lease_value("a#1@7");
        assert_eq!([7, 8].map(|slot| may_claim(&to_anyone, &c, slot)), [false, true]);
    }
}
