//! The in-memory store of single-node mode (no Redis configured).
//!
//! Same semantics as the Redis store (expiring membership, duplicate-id
//! refusal, exclusive expiring leases with slot hand-over) kept in this
//! process, so the pipeline runs unchanged: with one node heartbeating, that
//! node is the whole live set and owns every key. Its epoch never changes (a
//! process cannot lose its own memory and live). Time comes from an injectable
//! [`Clock`], so the expiry rules are unit-tested without sleeping.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::clock::{Clock, SystemClock};
use crate::store::{
    ClaimOutcome, CoordinationStore, Epoch, HeartbeatOutcome, Membership, NodeIdentity, NodeInfo, NodeStatus,
    StoreFuture,
};

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
    expires: Instant,
}

impl Lease {
    fn value(&self) -> String {
        match self.handed_over_after {
            Some(slot) => format!("{}@{slot}", self.holder),
            None => self.holder.clone(),
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
        let epoch = Epoch { token: "memory".to_owned(), age: Duration::MAX };
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
    fn heartbeat<'a>(
        &'a self,
        node: &'a NodeIdentity,
        ttl: Duration,
        status: &'a NodeStatus,
    ) -> StoreFuture<'a, HeartbeatOutcome> {
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

    fn claim_leases<'a>(
        &'a self,
        node: &'a NodeIdentity,
        keys: &'a [String],
        ttl: Duration,
        slot: u64,
    ) -> StoreFuture<'a, ClaimOutcome> {
        let now = self.clock.now();
        let me = node.holder();
        let mut state = self.state();
        let mut outcome = ClaimOutcome::default();
        for key in keys {
            let taken = match Self::live_lease(&mut state, key, now) {
                None => true,
                Some(lease) => lease.holder == me || lease.handed_over_after.is_some_and(|last| last < slot),
            };
            if taken {
                let lease = Lease { holder: me.clone(), handed_over_after: None, expires: now + ttl };
                state.leases.insert(key.clone(), lease);
                outcome.held.push(key.clone());
            } else if let Some(lease) = state.leases.get(key) {
                outcome.held_by_others.push((key.clone(), lease.value()));
            }
        }
        ready(outcome)
    }

    fn hand_over_leases<'a>(
        &'a self,
        node: &'a NodeIdentity,
        keys: &'a [String],
        last_slot: u64,
    ) -> StoreFuture<'a, u64> {
        let now = self.clock.now();
        let me = node.holder();
        let mut state = self.state();
        let mut marked = 0;
        for key in keys {
            if let Some(lease) = Self::live_lease(&mut state, key, now).filter(|l| l.holder == me) {
                lease.handed_over_after = Some(last_slot);
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
        assert_eq!(s.claim_leases(&a, &k(&["1", "2"]), TTL, 1).await.unwrap().held, ["1", "2"]);
        let by_b = s.claim_leases(&b, &k(&["2", "3"]), TTL, 1).await.unwrap();
        assert_eq!(by_b.held, ["3"]);
        assert_eq!(by_b.held_by_others, [("2".to_owned(), a.holder())]);
        assert!(s.claim_leases(&a2, &k(&["1"]), TTL, 1).await.unwrap().held.is_empty(), "same id, other process");
        assert_eq!(s.release_leases(&b, &k(&["1", "2"])).await.unwrap(), 0);
        clock.advance(Duration::from_millis(900));
        assert_eq!(s.claim_leases(&a, &k(&["1"]), TTL, 2).await.unwrap().held, ["1"]);
        clock.advance(Duration::from_millis(200));
        let holders = s.lease_holders(&k(&["1", "2", "3"])).await.unwrap();
        assert_eq!(holders, [Some(a.holder()), None, None]);
        assert_eq!(s.release_leases(&a, &k(&["1"])).await.unwrap(), 1);
        assert_eq!(s.claim_leases(&b, &k(&["1", "2"]), TTL, 3).await.unwrap().held, ["1", "2"]);
    }

    #[tokio::test]
    async fn a_handed_over_lease_is_free_from_the_next_slot_only() {
        let (_clock, s) = store();
        let (a, b) = (NodeIdentity::new("a"), NodeIdentity::new("b"));
        s.claim_leases(&a, &k(&["g"]), TTL, 10).await.unwrap();
        assert_eq!(s.hand_over_leases(&b, &k(&["g"]), 10).await.unwrap(), 0, "only the holder hands over");
        assert_eq!(s.hand_over_leases(&a, &k(&["g"]), 10).await.unwrap(), 1);
        assert_eq!(s.lease_holders(&k(&["g"])).await.unwrap(), [Some(format!("{}@10", a.holder()))]);
        let same_slot = s.claim_leases(&b, &k(&["g"]), TTL, 10).await.unwrap();
        assert_eq!(same_slot.held_by_others, [("g".to_owned(), format!("{}@10", a.holder()))]);
        assert_eq!(s.claim_leases(&b, &k(&["g"]), TTL, 11).await.unwrap().held, ["g"]);
        assert!(s.claim_leases(&a, &k(&["g"]), TTL, 12).await.unwrap().held.is_empty());
    }
}
