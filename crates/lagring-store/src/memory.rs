//! The in-memory store of single-node mode (no Redis configured).
//!
//! Same semantics as the Redis store (expiring membership, duplicate-id
//! refusal, exclusive expiring leases with slot hand-over) kept in this
//! process, so the pipeline runs unchanged: with one node heartbeating, that
//! node is the whole live set and owns every key. Its epoch never changes (a
//! process cannot lose its own memory and live), but a claim sent with another
//! epoch is refused as in Redis, so both honour one contract. Time comes from an injectable
//! [`Clock`], so the expiry rules are unit-tested without sleeping.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::clock::{Clock, SystemClock};
use crate::store::{
    ClaimOutcome, CoordinationStore, Epoch, HandOver, Heartbeat, HeartbeatOutcome, LeaseClaim, LeaseHandOver,
    LeaseValue, Membership, NodeIdentity, NodeInfo, NodeStatus, StoreFuture, may_claim,
};

/// The one epoch of a store kept in this process.
pub const MEMORY_EPOCH: &str = "memory";

#[derive(Debug)]
struct Member {
    incarnation: String,
    last_heartbeat: Instant,
    expires: Instant,
    status: NodeStatus,
}

#[derive(Debug)]
struct Lease {
    /// `id#incarnation`.
    holder: String,
    /// Set once the holder handed the key over after this slot.
    handed_over_after: Option<u64>,
    /// The node id it was handed over to (`None`: any node).
    successor: Option<String>,
    expires: Instant,
}

impl Lease {
    fn value(&self) -> String {
        match (self.handed_over_after, &self.successor) {
            (Some(slot), Some(successor)) => format!("{}@{slot}>{successor}", self.holder),
            (Some(slot), None) => format!("{}@{slot}", self.holder),
            (None, _) => self.holder.clone(),
        }
    }

    fn parts(&self) -> LeaseValue<'_> {
        LeaseValue {
            holder: &self.holder,
            handed_over_after: self.handed_over_after,
            successor: self.successor.as_deref(),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    members: BTreeMap<String, Member>,
    leases: HashMap<String, Lease>,
}

/// Membership and leases held in this process.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    clock: Arc<dyn Clock>,
    // std Mutex: every critical section is short and never crosses an `.await`.
    state: Arc<Mutex<State>>,
}

impl MemoryStore {
    /// A store on the process's monotonic clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// A store on the given clock (tests).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self { clock, state: Arc::default() }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn live(&self, state: &mut State, now: Instant) -> Membership {
        state.members.retain(|_, m| m.expires > now);
        let nodes = state
            .members
            .iter()
            .map(|(id, m)| NodeInfo {
                id: id.clone(),
                incarnation: m.incarnation.clone(),
                heartbeat_age: now.saturating_duration_since(m.last_heartbeat),
                status: m.status.clone(),
            })
            .collect();
        // One process cannot lose its own memory and live on: the epoch is as
        // old as it gets, so nothing ever waits for it.
        let epoch = Epoch { token: MEMORY_EPOCH.to_owned(), age: Duration::MAX };
        Membership { nodes, epoch }
    }

    fn live_lease<'s>(state: &'s mut State, key: &str, now: Instant) -> Option<&'s mut Lease> {
        state.leases.get_mut(key).filter(|l| l.expires > now)
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

fn ready<'a, T: Send + 'a>(value: T) -> StoreFuture<'a, T> {
    Box::pin(std::future::ready(Ok(value)))
}

impl CoordinationStore for MemoryStore {
    fn beat<'a>(&'a self, heartbeat: Heartbeat<'a>) -> StoreFuture<'a, HeartbeatOutcome> {
        let Heartbeat { node, ttl, status } = heartbeat;
        let now = self.clock.now();
        let mut state = self.state();
        self.live(&mut state, now);
        let duplicate_of =
            state.members.get(&node.id).filter(|m| m.incarnation != node.incarnation).map(|m| m.incarnation.clone());
        if duplicate_of.is_none() {
            let member = Member {
                incarnation: node.incarnation.clone(),
                last_heartbeat: now,
                expires: now + ttl,
                status: status.clone(),
            };
            state.members.insert(node.id.clone(), member);
        }
        ready(HeartbeatOutcome { membership: self.live(&mut state, now), duplicate_of })
    }

    fn membership(&self) -> StoreFuture<'_, Membership> {
        let now = self.clock.now();
        ready(self.live(&mut self.state(), now))
    }

    fn deregister<'a>(&'a self, node: &'a NodeIdentity) -> StoreFuture<'a, ()> {
        let mut state = self.state();
        if state.members.get(&node.id).is_some_and(|m| m.incarnation == node.incarnation) {
            state.members.remove(&node.id);
        }
        ready(())
    }

    fn claim_for_slot<'a>(&'a self, claim: LeaseClaim<'a>) -> StoreFuture<'a, ClaimOutcome> {
        let LeaseClaim { node, keys, ttl, slot, epoch } = claim;
        if epoch != MEMORY_EPOCH {
            return ready(ClaimOutcome { epoch_changed: Some(MEMORY_EPOCH.to_owned()), ..ClaimOutcome::default() });
        }
        let now = self.clock.now();
        let me = node.holder();
        let mut state = self.state();
        let mut outcome = ClaimOutcome::default();
        for key in keys {
            let taken =
                Self::live_lease(&mut state, key, now).is_none_or(|lease| may_claim(&lease.parts(), node, slot));
            if taken {
                let lease = Lease { holder: me.clone(), handed_over_after: None, successor: None, expires: now + ttl };
                state.leases.insert(key.clone(), lease);
                outcome.held.push(key.clone());
            } else if let Some(lease) = state.leases.get(key) {
                outcome.held_by_others.push((key.clone(), lease.value()));
            }
        }
        ready(outcome)
    }

    fn mark_handed_over<'a>(&'a self, hand_over: LeaseHandOver<'a>) -> StoreFuture<'a, u64> {
        let LeaseHandOver { node, leases, last_slot } = hand_over;
        let now = self.clock.now();
        let me = node.holder();
        let mut state = self.state();
        let mut marked = 0;
        for HandOver { key, successor } in leases {
            if let Some(lease) = Self::live_lease(&mut state, key, now).filter(|l| l.holder == me) {
                lease.handed_over_after = Some(last_slot);
                lease.successor.clone_from(successor);
                marked += 1;
            }
        }
        ready(marked)
    }

    fn release_leases<'a>(&'a self, node: &'a NodeIdentity, keys: &'a [String]) -> StoreFuture<'a, u64> {
        let now = self.clock.now();
        let me = node.holder();
        let mut state = self.state();
        let mut released = 0;
        for key in keys {
            if Self::live_lease(&mut state, key, now).is_some_and(|l| l.holder == me) {
                state.leases.remove(key);
                released += 1;
            }
        }
        ready(released)
    }

    fn lease_holders<'a>(&'a self, keys: &'a [String]) -> StoreFuture<'a, Vec<Option<String>>> {
        let now = self.clock.now();
        let mut state = self.state();
        let holders = keys.iter().map(|k| Self::live_lease(&mut state, k, now).map(|l| l.value())).collect();
        ready(holders)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    const TTL: Duration = Duration::from_secs(1);

    fn store() -> (Arc<ManualClock>, MemoryStore) {
        let clock = Arc::new(ManualClock::new());
        (clock.clone(), MemoryStore::with_clock(clock))
    }

    fn ids(m: &Membership) -> Vec<&str> {
        m.ids().collect()
    }

    fn k(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    fn status(owned: u64) -> NodeStatus {
        NodeStatus { owned_groups: owned, ..NodeStatus::default() }
    }

    #[tokio::test]
    async fn membership_expires_and_deregisters() {
        let (clock, s) = store();
        let (a, b, c) = (NodeIdentity::new("a"), NodeIdentity::new("b"), NodeIdentity::new("c"));
        s.heartbeat(&b, TTL, &status(3)).await.unwrap();
        clock.advance(Duration::from_millis(400));
        s.heartbeat(&c, TTL, &status(0)).await.unwrap();
        let m = s.heartbeat(&a, TTL, &status(7)).await.unwrap().membership;
        assert_eq!(ids(&m), ["a", "b", "c"]);
        assert_eq!(m.nodes[1].heartbeat_age, Duration::from_millis(400));
        assert_eq!(m.nodes[1].status.owned_groups, 3);
        assert_eq!(m.epoch.token, "memory");
        clock.advance(Duration::from_millis(600));
        assert_eq!(ids(&s.membership().await.unwrap()), ["a", "c"]);
        s.deregister(&c).await.unwrap();
        assert_eq!(ids(&s.membership().await.unwrap()), ["a"]);
    }

    #[tokio::test]
    async fn a_second_process_with_a_live_id_is_refused_until_the_first_expires() {
        let (clock, s) = store();
        let first = NodeIdentity::with_incarnation("n", "one");
        let second = NodeIdentity::with_incarnation("n", "two");
        assert_eq!(s.heartbeat(&first, TTL, &status(0)).await.unwrap().duplicate_of, None);
        let refused = s.heartbeat(&second, TTL, &status(0)).await.unwrap();
        assert_eq!(refused.duplicate_of.as_deref(), Some("one"));
        assert_eq!(refused.membership.nodes[0].incarnation, "one");
        s.deregister(&second).await.unwrap();
        assert_eq!(ids(&s.membership().await.unwrap()), ["n"], "the refused process cannot deregister the live one");
        clock.advance(TTL);
        assert_eq!(s.heartbeat(&second, TTL, &status(0)).await.unwrap().duplicate_of, None);
    }

    #[tokio::test]
    async fn leases_are_exclusive_per_incarnation_and_expire() {
        let (clock, s) = store();
        let (a, b) = (NodeIdentity::new("a"), NodeIdentity::new("b"));
        let a2 = NodeIdentity::new("a");
        assert_eq!(s.claim_leases(&a, &k(&["1", "2"]), TTL, 1, MEMORY_EPOCH).await.unwrap().held, ["1", "2"]);
        let by_b = s.claim_leases(&b, &k(&["2", "3"]), TTL, 1, MEMORY_EPOCH).await.unwrap();
        assert_eq!(by_b.held, ["3"]);
        assert_eq!(by_b.held_by_others, [("2".to_owned(), a.holder())]);
        assert!(
            s.claim_leases(&a2, &k(&["1"]), TTL, 1, MEMORY_EPOCH).await.unwrap().held.is_empty(),
            "same id, other process"
        );
        assert_eq!(s.release_leases(&b, &k(&["1", "2"])).await.unwrap(), 0);
        clock.advance(Duration::from_millis(900));
        assert_eq!(s.claim_leases(&a, &k(&["1"]), TTL, 2, MEMORY_EPOCH).await.unwrap().held, ["1"]);
        clock.advance(Duration::from_millis(200));
        let holders = s.lease_holders(&k(&["1", "2", "3"])).await.unwrap();
        assert_eq!(holders, [Some(a.holder()), None, None]);
        assert_eq!(s.release_leases(&a, &k(&["1"])).await.unwrap(), 1);
        assert_eq!(s.claim_leases(&b, &k(&["1", "2"]), TTL, 3, MEMORY_EPOCH).await.unwrap().held, ["1", "2"]);
    }

    fn to(successor: Option<&str>, keys: &[&str]) -> Vec<HandOver> {
        keys.iter().map(|key| HandOver { key: (*key).to_owned(), successor: successor.map(str::to_owned) }).collect()
    }

    #[tokio::test]
    async fn a_handed_over_lease_goes_to_its_successor_from_the_next_slot_only() {
        let (clock, s) = store();
        let (a, b, c) = (NodeIdentity::new("a"), NodeIdentity::new("b"), NodeIdentity::new("c"));
        s.claim_leases(&a, &k(&["g", "h"]), TTL, 10, MEMORY_EPOCH).await.unwrap();
        assert_eq!(s.hand_over_leases(&b, &to(Some("b"), &["g"]), 10).await.unwrap(), 0, "only the holder hands over");
        assert_eq!(s.hand_over_leases(&a, &to(Some("b"), &["g"]), 10).await.unwrap(), 1);
        assert_eq!(s.hand_over_leases(&a, &to(None, &["h"]), 10).await.unwrap(), 1);
        let handed = [Some(format!("{}@10>b", a.holder())), Some(format!("{}@10", a.holder()))];
        assert_eq!(s.lease_holders(&k(&["g", "h"])).await.unwrap(), handed);
        let same_slot = s.claim_leases(&b, &k(&["g"]), TTL, 10, MEMORY_EPOCH).await.unwrap();
        assert_eq!(same_slot.held_by_others, [("g".to_owned(), format!("{}@10>b", a.holder()))]);
        let by_c = s.claim_leases(&c, &k(&["g", "h"]), TTL, 11, MEMORY_EPOCH).await.unwrap();
        assert_eq!(by_c.held, ["h"], "a lease handed over to nobody in particular goes to any later claimer");
        assert_eq!(by_c.held_by_others, [("g".to_owned(), format!("{}@10>b", a.holder()))]);
        assert_eq!(s.claim_leases(&b, &k(&["g"]), TTL, 11, MEMORY_EPOCH).await.unwrap().held, ["g"]);
        assert!(s.claim_leases(&a, &k(&["g"]), TTL, 12, MEMORY_EPOCH).await.unwrap().held.is_empty());

        // Unclaimed by its successor, a handed-over lease frees when its ttl ends.
        s.claim_leases(&a, &k(&["x"]), TTL, 20, MEMORY_EPOCH).await.unwrap();
        s.hand_over_leases(&a, &to(Some("b"), &["x"]), 20).await.unwrap();
        assert!(s.claim_leases(&c, &k(&["x"]), TTL, 21, MEMORY_EPOCH).await.unwrap().held.is_empty());
        clock.advance(TTL);
        assert_eq!(s.claim_leases(&c, &k(&["x"]), TTL, 22, MEMORY_EPOCH).await.unwrap().held, ["x"]);
    }

    #[tokio::test]
    async fn the_old_holder_may_take_back_a_lease_its_successor_did_not_claim() {
        let (_clock, s) = store();
        let (a, b) = (NodeIdentity::new("a"), NodeIdentity::new("b"));
        s.claim_leases(&a, &k(&["g"]), TTL, 10, MEMORY_EPOCH).await.unwrap();
        s.hand_over_leases(&a, &to(Some("b"), &["g"]), 10).await.unwrap();
        assert_eq!(s.claim_leases(&a, &k(&["g"]), TTL, 11, MEMORY_EPOCH).await.unwrap().held, ["g"]);
        let late = s.claim_leases(&b, &k(&["g"]), TTL, 11, MEMORY_EPOCH).await.unwrap();
        assert_eq!(late.held_by_others, [("g".to_owned(), a.holder())], "taking back ends the hand-over");
    }

    #[tokio::test]
    async fn a_claim_sent_with_another_epoch_claims_and_renews_nothing() {
        let (_clock, s) = store();
        let a = NodeIdentity::new("a");
        assert_eq!(s.claim_leases(&a, &k(&["1"]), TTL, 1, MEMORY_EPOCH).await.unwrap().held, ["1"]);
        let refused = s.claim_leases(&a, &k(&["1", "2"]), TTL, 2, "lost").await.unwrap();
        let want = ClaimOutcome { held: vec![], held_by_others: vec![], epoch_changed: Some(MEMORY_EPOCH.to_owned()) };
        assert_eq!(refused, want);
        assert_eq!(s.lease_holders(&k(&["1", "2"])).await.unwrap(), [Some(a.holder()), None]);
        let again = s.claim_leases(&a, &k(&["1", "2"]), TTL, 2, MEMORY_EPOCH).await.unwrap();
        assert_eq!((again.held, again.epoch_changed), (k(&["1", "2"]), None));
    }
}
