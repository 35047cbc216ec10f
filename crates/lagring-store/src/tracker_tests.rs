//! Tracker behaviour on the memory store and a hand-moved clock: assignment,
//! handoff without overlap, and riding out a store outage.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::*;
use crate::clock::ManualClock;
use crate::store::{ClaimOutcome, StoreFuture};
use crate::{MemoryStore, StoreError};

const TTL: Duration = Duration::from_secs(10);

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("c/g{i}")).collect()
}

/// A memory store that can be switched to fail every call (a Redis outage).
#[derive(Debug)]
struct FlakyStore {
    inner: MemoryStore,
    down: AtomicBool,
}

impl FlakyStore {
    fn new(clock: Arc<ManualClock>) -> Self {
        Self { inner: MemoryStore::with_clock(clock), down: AtomicBool::new(false) }
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn gate<'a, T: Send + 'a>(&'a self, call: StoreFuture<'a, T>) -> StoreFuture<'a, T> {
        if self.down.load(Ordering::SeqCst) {
            let error = StoreError::Protocol { op: "test", detail: "store is down".into() };
            return Box::pin(std::future::ready(Err(error)));
        }
        call
    }
}

impl CoordinationStore for FlakyStore {
    fn heartbeat<'a>(&'a self, node_id: &'a str, ttl: Duration, owned: u64) -> StoreFuture<'a, Membership> {
        self.gate(self.inner.heartbeat(node_id, ttl, owned))
    }
    fn membership(&self) -> StoreFuture<'_, Membership> {
        self.gate(self.inner.membership())
    }
    fn deregister<'a>(&'a self, node_id: &'a str) -> StoreFuture<'a, ()> {
        self.gate(self.inner.deregister(node_id))
    }
    fn claim_leases<'a>(&'a self, node: &'a str, keys: &'a [String], ttl: Duration) -> StoreFuture<'a, ClaimOutcome> {
        self.gate(self.inner.claim_leases(node, keys, ttl))
    }
    fn release_leases<'a>(&'a self, node: &'a str, keys: &'a [String]) -> StoreFuture<'a, u64> {
        self.gate(self.inner.release_leases(node, keys))
    }
    fn renew_leases<'a>(&'a self, node: &'a str, keys: &'a [String], ttl: Duration) -> StoreFuture<'a, u64> {
        self.gate(self.inner.renew_leases(node, keys, ttl))
    }
    fn lease_holders<'a>(&'a self, keys: &'a [String]) -> StoreFuture<'a, Vec<Option<String>>> {
        self.gate(self.inner.lease_holders(keys))
    }
}

fn tracker(id: &str, clock: &Arc<ManualClock>) -> OwnershipTracker {
    OwnershipTracker::new(id, TTL, Arc::clone(clock) as Arc<dyn Clock>)
}

#[tokio::test]
async fn single_node_emits_everything() {
    let clock = Arc::new(ManualClock::new());
    let store = MemoryStore::with_clock(clock.clone());
    let mut a = tracker("a", &clock);
    let candidates = keys(100);
    assert!(a.heartbeat(&store, TTL).await.is_some());
    let report = a.sync_leases(&store, &candidates).await;
    assert_eq!(report.emit, candidates);
    assert_eq!((report.gained, report.lost, report.waiting, report.degraded), (100, 0, 0, false));
    let again = a.sync_leases(&store, &candidates).await;
    assert_eq!((again.emit.len(), again.gained, again.lost), (100, 0, 0));
}

#[tokio::test]
async fn joining_node_takes_over_only_after_release_and_never_overlaps() {
    let clock = Arc::new(ManualClock::new());
    let store = MemoryStore::with_clock(clock.clone());
    let candidates = keys(1_000);
    let (mut a, mut b) = (tracker("a", &clock), tracker("b", &clock));
    a.heartbeat(&store, TTL).await;
    assert_eq!(a.sync_leases(&store, &candidates).await.emit.len(), 1_000);

    // b joins and syncs before a notices: everything b should own is still leased by a.
    b.heartbeat(&store, TTL).await;
    let b_first = b.sync_leases(&store, &candidates).await;
    assert!(b_first.emit.is_empty());
    let moving = b_first.waiting;
    assert!((250..=750).contains(&moving), "{moving}");

    // a sees the new ring, stops emitting b's keys and releases them.
    a.heartbeat(&store, TTL).await;
    let a_now = a.sync_leases(&store, &candidates).await;
    assert_eq!((a_now.emit.len(), a_now.lost), (1_000 - moving, moving));

    let b_now = b.sync_leases(&store, &candidates).await;
    assert_eq!((b_now.emit.len(), b_now.gained, b_now.waiting), (moving, moving, 0));
    let overlap = a_now.emit.iter().filter(|k| b_now.emit.contains(k)).count();
    assert_eq!(overlap, 0);
    assert_eq!(a.held_leases() + b.held_leases(), 1_000);
}

#[tokio::test]
async fn outage_keeps_unexpired_leases_then_recovers() {
    let clock = Arc::new(ManualClock::new());
    let store = FlakyStore::new(clock.clone());
    let candidates = keys(50);
    let mut a = tracker("a", &clock);
    a.heartbeat(&store, TTL).await;
    assert_eq!(a.sync_leases(&store, &candidates).await.emit.len(), 50);

    store.set_down(true);
    clock.advance(TTL - Duration::from_millis(1));
    assert!(a.heartbeat(&store, TTL).await.is_none());
    let during = a.sync_leases(&store, &candidates).await;
    assert_eq!((during.emit.len(), during.degraded), (50, true));
    assert_eq!(a.ring().map(Ring::len), Some(1), "last ring kept");

    clock.advance(Duration::from_millis(1));
    let expired = a.sync_leases(&store, &candidates).await;
    assert_eq!((expired.emit.len(), expired.lost, expired.degraded), (0, 50, true));

    store.set_down(false);
    assert!(a.heartbeat(&store, TTL).await.is_some());
    let back = a.sync_leases(&store, &candidates).await;
    assert_eq!((back.emit.len(), back.gained, back.degraded), (50, 50, false));
}

#[tokio::test]
async fn shutdown_hands_everything_over_at_once() {
    let clock = Arc::new(ManualClock::new());
    let store = MemoryStore::with_clock(clock.clone());
    let candidates = keys(200);
    let (mut a, mut b) = (tracker("a", &clock), tracker("b", &clock));
    a.heartbeat(&store, TTL).await;
    b.heartbeat(&store, TTL).await;
    a.sync_leases(&store, &candidates).await;
    b.sync_leases(&store, &candidates).await;
    a.shutdown(&store).await;
    let ids: Vec<String> = store.membership().await.unwrap().ids().map(str::to_owned).collect();
    assert_eq!(ids, ["b"]);
    b.heartbeat(&store, TTL).await;
    assert_eq!(b.sync_leases(&store, &candidates).await.emit.len(), 200);
}
