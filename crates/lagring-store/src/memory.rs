//! The in-memory store of single-node mode (no Redis configured).
//!
//! Same semantics as the Redis store (expiring membership, exclusive expiring
//! leases) kept in this process, so the pipeline runs unchanged: with one node
//! heartbeating, that node is the whole live set and owns every key. Time comes
//! from an injectable [`Clock`], so the expiry rules are unit-tested without
//! sleeping.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::clock::{Clock, SystemClock};
use crate::store::{ClaimOutcome, CoordinationStore, Membership, NodeInfo, StoreFuture};

#[derive(Debug)]
struct Member {
    last_heartbeat: Instant,
    expires: Instant,
    owned_groups: u64,
}

#[derive(Debug)]
struct Lease {
    holder: String,
    expires: Instant,
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

    fn live(state: &mut State, now: Instant) -> Membership {
        state.members.retain(|_, m| m.expires > now);
        let nodes = state
            .members
            .iter()
            .map(|(id, m)| NodeInfo {
                id: id.clone(),
                heartbeat_age: now.saturating_duration_since(m.last_heartbeat),
                owned_groups: m.owned_groups,
            })
            .collect();
        Membership { nodes }
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
    fn heartbeat<'a>(&'a self, node_id: &'a str, ttl: Duration, owned_groups: u64) -> StoreFuture<'a, Membership> {
        let now = self.clock.now();
        let mut state = self.state();
        let member = Member { last_heartbeat: now, expires: now + ttl, owned_groups };
        state.members.insert(node_id.to_owned(), member);
        ready(Self::live(&mut state, now))
    }

    fn membership(&self) -> StoreFuture<'_, Membership> {
        let now = self.clock.now();
        ready(Self::live(&mut self.state(), now))
    }

    fn deregister<'a>(&'a self, node_id: &'a str) -> StoreFuture<'a, ()> {
        self.state().members.remove(node_id);
        ready(())
    }

    fn claim_leases<'a>(
        &'a self,
        node_id: &'a str,
        keys: &'a [String],
        ttl: Duration,
    ) -> StoreFuture<'a, ClaimOutcome> {
        let now = self.clock.now();
        let mut state = self.state();
        let mut outcome = ClaimOutcome::default();
        for key in keys {
            let lease =
                state.leases.entry(key.clone()).or_insert_with(|| Lease { holder: node_id.to_owned(), expires: now });
            if lease.expires <= now || lease.holder == node_id {
                lease.holder = node_id.to_owned();
                lease.expires = now + ttl;
                outcome.held.push(key.clone());
            } else {
                outcome.held_by_others.push((key.clone(), lease.holder.clone()));
            }
        }
        ready(outcome)
    }

    fn release_leases<'a>(&'a self, node_id: &'a str, keys: &'a [String]) -> StoreFuture<'a, u64> {
        let now = self.clock.now();
        let mut state = self.state();
        let mut released = 0;
        for key in keys {
            let mine = state.leases.get(key).is_some_and(|l| l.holder == node_id && l.expires > now);
            if mine {
                state.leases.remove(key);
                released += 1;
            }
        }
        ready(released)
    }

    fn renew_leases<'a>(&'a self, node_id: &'a str, keys: &'a [String], ttl: Duration) -> StoreFuture<'a, u64> {
        let now = self.clock.now();
        let mut state = self.state();
        let mut renewed = 0;
        for key in keys {
            if let Some(lease) = state.leases.get_mut(key).filter(|l| l.holder == node_id && l.expires > now) {
                lease.expires = now + ttl;
                renewed += 1;
            }
        }
        ready(renewed)
    }

    fn lease_holders<'a>(&'a self, keys: &'a [String]) -> StoreFuture<'a, Vec<Option<String>>> {
        let now = self.clock.now();
        let state = self.state();
        let holders =
            keys.iter().map(|k| state.leases.get(k).filter(|l| l.expires > now).map(|l| l.holder.clone())).collect();
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

    #[tokio::test]
    async fn membership_expires_and_deregisters() {
        let (clock, s) = store();
        s.heartbeat("b", TTL, 3).await.unwrap();
        clock.advance(Duration::from_millis(400));
        s.heartbeat("c", TTL, 0).await.unwrap();
        let m = s.heartbeat("a", TTL, 7).await.unwrap();
        assert_eq!(ids(&m), ["a", "b", "c"]);
        assert_eq!(m.nodes[1].heartbeat_age, Duration::from_millis(400));
        assert_eq!(m.nodes[1].owned_groups, 3);
        clock.advance(Duration::from_millis(600));
        assert_eq!(ids(&s.membership().await.unwrap()), ["a", "c"]);
        s.deregister("c").await.unwrap();
        assert_eq!(ids(&s.membership().await.unwrap()), ["a"]);
    }

    #[tokio::test]
    async fn leases_are_exclusive_renewable_and_expire() {
        let (clock, s) = store();
        let k = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        let a = s.claim_leases("a", &k(&["1", "2"]), TTL).await.unwrap();
        assert_eq!(a.held, ["1", "2"]);
        let b = s.claim_leases("b", &k(&["2", "3"]), TTL).await.unwrap();
        assert_eq!(b.held, ["3"]);
        assert_eq!(b.held_by_others, [("2".to_owned(), "a".to_owned())]);
        assert_eq!(s.release_leases("b", &k(&["1", "2"])).await.unwrap(), 0);
        clock.advance(Duration::from_millis(900));
        assert_eq!(s.claim_leases("a", &k(&["1"]), TTL).await.unwrap().held, ["1"]);
        clock.advance(Duration::from_millis(200));
        let holders = s.lease_holders(&k(&["1", "2", "3"])).await.unwrap();
        assert_eq!(holders, [Some("a".to_owned()), None, None]);
        // "1" is a's, "2" expired: renew extends only "1" and never claims "2".
        assert_eq!(s.renew_leases("a", &k(&["1", "2"]), TTL).await.unwrap(), 1);
        assert_eq!(s.lease_holders(&k(&["2"])).await.unwrap(), [None]);
        assert_eq!(s.release_leases("a", &k(&["1"])).await.unwrap(), 1);
        assert_eq!(s.renew_leases("a", &k(&["1"]), TTL).await.unwrap(), 0, "a released key stays free");
        assert_eq!(s.lease_holders(&k(&["1"])).await.unwrap(), [None]);
        assert_eq!(s.claim_leases("b", &k(&["1", "2"]), TTL).await.unwrap().held, ["1", "2"]);
    }
}
