//! Tracker rules on the memory store and a hand-moved clock: assignment,
//! zero-gap hand-over on join and leave, release when a node cannot reach a
//! cluster, riding out a store outage, and the fence.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};

use super::*;
use crate::clock::ManualClock;
use crate::memory::MEMORY_EPOCH;
use crate::store::{
    ClaimOutcome, Heartbeat, HeartbeatOutcome, LeaseClaim, LeaseHandOver, NodeStatus, StoreFuture, parse_lease_value,
};
use crate::{MemoryStore, StoreError};

const TTL: Duration = Duration::from_secs(10);
const NODE_TTL: Duration = Duration::from_secs(5);
const HEALTHY: SelfState = SelfState { joined: true, leaving: false, undeliverable: false };

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
    fn beat<'a>(&'a self, heartbeat: Heartbeat<'a>) -> StoreFuture<'a, HeartbeatOutcome> {
        self.gate(self.inner.beat(heartbeat))
    }
    fn membership(&self) -> StoreFuture<'_, Membership> {
        self.gate(self.inner.membership())
    }
    fn deregister<'a>(&'a self, node: &'a NodeIdentity) -> StoreFuture<'a, ()> {
        self.gate(self.inner.deregister(node))
    }
    fn claim_for_slot<'a>(&'a self, claim: LeaseClaim<'a>) -> StoreFuture<'a, ClaimOutcome> {
        self.gate(self.inner.claim_for_slot(claim))
    }
    fn mark_handed_over<'a>(&'a self, hand_over: LeaseHandOver<'a>) -> StoreFuture<'a, u64> {
        self.gate(self.inner.mark_handed_over(hand_over))
    }
    fn release_leases<'a>(&'a self, node: &'a NodeIdentity, keys: &'a [String]) -> StoreFuture<'a, u64> {
        self.gate(self.inner.release_leases(node, keys))
    }
    fn lease_holders<'a>(&'a self, keys: &'a [String]) -> StoreFuture<'a, Vec<Option<String>>> {
        self.gate(self.inner.lease_holders(keys))
    }
}

/// One node: identity, tracker and its last membership.
struct Node {
    id: NodeIdentity,
    tracker: ClusterOwnership,
    membership: Option<Membership>,
    status: NodeStatus,
}

impl Node {
    fn new(id: &str, clock: &Arc<ManualClock>) -> Self {
        let identity = NodeIdentity::new(id);
        let tracker = ClusterOwnership::new(identity.clone(), "c", TTL, Arc::clone(clock) as Arc<dyn Clock>);
        Self { id: identity, tracker, membership: None, status: NodeStatus::default() }
    }

    async fn heartbeat(&mut self, store: &dyn CoordinationStore) -> bool {
        match store.heartbeat(&self.id, NODE_TTL, &self.status).await {
            Ok(outcome) => {
                self.membership = Some(outcome.membership);
                true
            }
            Err(_) => false,
        }
    }

    async fn sync_as(&mut self, store: &dyn CoordinationStore, me: SelfState, c: &[String], slot: u64) -> SyncReport {
        let view = NodeView { membership: self.membership.as_ref(), me, claims_allowed: true };
        self.tracker.sync(store, view, c, slot).await
    }

    async fn sync(&mut self, store: &dyn CoordinationStore, c: &[String], slot: u64) -> SyncReport {
        self.sync_as(store, HEALTHY, c, slot).await
    }
}

fn set(v: &[String]) -> BTreeSet<&str> {
    v.iter().map(String::as_str).collect()
}

#[tokio::test]
async fn single_node_emits_everything() {
    let clock = Arc::new(ManualClock::new());
    let store = MemoryStore::with_clock(clock.clone());
    let mut a = Node::new("a", &clock);
    let candidates = keys(100);
    assert!(a.heartbeat(&store).await);
    let report = a.sync(&store, &candidates, 1).await;
    assert_eq!(report.emit, candidates);
    assert_eq!((report.gained, report.lost, report.waiting, report.degraded), (100, 0, 0, false));
    let again = a.sync(&store, &candidates, 2).await;
    assert_eq!((again.emit.len(), again.gained, again.lost), (100, 0, 0));
}

#[tokio::test]
async fn a_joining_node_takes_over_at_the_next_slot_with_no_gap_and_no_overlap() {
    let clock = Arc::new(ManualClock::new());
    let store = MemoryStore::with_clock(clock.clone());
    let candidates = keys(1_000);
    let (mut a, mut b) = (Node::new("a", &clock), Node::new("b", &clock));
    a.heartbeat(&store).await;
    assert_eq!(a.sync(&store, &candidates, 1).await.emit.len(), 1_000);
    a.tracker.finish_slot(&store, 1).await;

    // Slot 2: b joined and syncs first; a still holds everything, so b waits.
    b.heartbeat(&store).await;
    a.heartbeat(&store).await;
    let b2 = b.sync(&store, &candidates, 2).await;
    assert!(b2.emit.is_empty());
    let moving = b2.waiting;
    assert!((250..=750).contains(&moving), "{moving}");
    // a emits everything one last time in slot 2 and hands b's keys over after it.
    let a2 = a.sync(&store, &candidates, 2).await;
    assert_eq!((a2.emit.len(), a2.moving), (1_000, moving));
    a.tracker.finish_slot(&store, 2).await;
    // A late claim by b within slot 2 still fails: the hand-over is after slot 2.
    assert!(b.sync(&store, &candidates, 2).await.emit.is_empty());
    // Every moved key names b as its successor.
    let values = store.lease_holders(&candidates).await.unwrap();
    let to_b = values.iter().flatten().filter(|v| parse_lease_value(v).successor == Some("b")).count();
    assert_eq!(to_b, moving);

    // Slot 3: each emits its own share exactly.
    let a3 = a.sync(&store, &candidates, 3).await;
    let b3 = b.sync(&store, &candidates, 3).await;
    assert_eq!((a3.emit.len(), b3.emit.len(), b3.gained, b3.waiting), (1_000 - moving, moving, moving, 0));
    assert!(set(&a3.emit).is_disjoint(&set(&b3.emit)));
    assert_eq!(a.tracker.held_leases() + b.tracker.held_leases(), 1_000);
}

#[tokio::test]
async fn a_leaving_node_emits_its_last_slot_then_peers_continue_at_the_next() {
    let clock = Arc::new(ManualClock::new());
    let store = MemoryStore::with_clock(clock.clone());
    let candidates = keys(300);
    let (mut a, mut b) = (Node::new("a", &clock), Node::new("b", &clock));
    a.heartbeat(&store).await;
    b.heartbeat(&store).await;
    let a1 = a.sync(&store, &candidates, 1).await;
    let b1 = b.sync(&store, &candidates, 1).await;
    assert_eq!(a1.emit.len() + b1.emit.len(), 300);

    // a is leaving and peers have seen it: a's slot 2 is its last.
    a.status.leaving = true;
    a.heartbeat(&store).await;
    b.heartbeat(&store).await;
    let leaving = SelfState { joined: true, leaving: true, undeliverable: false };
    let b2 = b.sync(&store, &candidates, 2).await;
    let a2 = a.sync_as(&store, leaving, &candidates, 2).await;
    assert_eq!((a2.emit.len(), a2.moving), (a1.emit.len(), a1.emit.len()));
    assert_eq!(b2.emit.len(), b1.emit.len(), "b cannot take a's keys within slot 2");
    a.tracker.finish_slot(&store, 2).await;
    assert_eq!(a.tracker.held_leases(), 0);
    let b3 = b.sync(&store, &candidates, 3).await;
    assert_eq!(b3.emit.len(), 300);
    assert!(a.sync_as(&store, leaving, &candidates, 3).await.emit.is_empty());
}

#[tokio::test]
async fn an_undeliverable_node_hands_over_like_a_planned_move_and_takes_back_when_it_delivers() {
    let clock = Arc::new(ManualClock::new());
    let store = MemoryStore::with_clock(clock.clone());
    let candidates = keys(300);
    let (mut a, mut b) = (Node::new("a", &clock), Node::new("b", &clock));
    a.heartbeat(&store).await;
    b.heartbeat(&store).await;
    a.heartbeat(&store).await;
    let a1 = a.sync(&store, &candidates, 1).await;
    b.sync(&store, &candidates, 1).await;
    assert!((75..=225).contains(&a1.emit.len()), "{}", a1.emit.len());

    // a's receiver refuses it; a published that and b has seen it.
    a.status.undeliverable = true;
    a.heartbeat(&store).await;
    b.heartbeat(&store).await;
    let refused = SelfState { undeliverable: true, ..HEALTHY };
    let b2 = b.sync(&store, &candidates, 2).await;
    let a2 = a.sync_as(&store, refused, &candidates, 2).await;
    assert_eq!((a2.emit.len(), a2.moving), (a1.emit.len(), a1.emit.len()), "a emits slot 2 one last time");
    assert_eq!(b2.waiting, a1.emit.len(), "b waits for the hand-over");
    a.tracker.finish_slot(&store, 2).await;
    let a3 = a.sync_as(&store, refused, &candidates, 3).await;
    let b3 = b.sync(&store, &candidates, 3).await;
    assert_eq!((a3.emit.len(), b3.emit.len()), (0, 300), "b continues at slot 3");

    // a delivers again: its own view counts at once, b hands back after slot 4.
    a.status.undeliverable = false;
    a.heartbeat(&store).await;
    b.heartbeat(&store).await;
    assert!(a.sync(&store, &candidates, 4).await.emit.is_empty(), "a waits for b's hand-over");
    let b4 = b.sync(&store, &candidates, 4).await;
    assert_eq!((b4.emit.len(), b4.moving), (300, a1.emit.len()));
    b.tracker.finish_slot(&store, 4).await;
    let a5 = a.sync(&store, &candidates, 5).await;
    let b5 = b.sync(&store, &candidates, 5).await;
    assert_eq!((a5.emit.len(), b5.emit.len()), (a1.emit.len(), 300 - a1.emit.len()));
}

#[tokio::test]
async fn a_node_off_the_cluster_ring_releases_at_once_for_peers_to_claim() {
    let clock = Arc::new(ManualClock::new());
    let store = MemoryStore::with_clock(clock.clone());
    let candidates = keys(200);
    let (mut a, mut b) = (Node::new("a", &clock), Node::new("b", &clock));
    a.heartbeat(&store).await;
    b.heartbeat(&store).await;
    let a1 = a.sync(&store, &candidates, 1).await;
    b.sync(&store, &candidates, 1).await;

    // a cannot reach cluster c: it leaves c's ring and publishes that.
    a.status.unhealthy_clusters = vec!["c".into()];
    a.heartbeat(&store).await;
    b.heartbeat(&store).await;
    let cut_off = SelfState { joined: false, leaving: false, undeliverable: false };
    let a2 = a.sync_as(&store, cut_off, &candidates, 2).await;
    assert_eq!((a2.emit.len(), a2.lost), (0, a1.emit.len()));
    assert_eq!(b.sync(&store, &candidates, 2).await.emit.len(), 200, "same slot: released, not handed over");
}

#[tokio::test]
async fn keys_of_deleted_groups_are_released() {
    let clock = Arc::new(ManualClock::new());
    let store = MemoryStore::with_clock(clock.clone());
    let mut a = Node::new("a", &clock);
    a.heartbeat(&store).await;
    a.sync(&store, &keys(3), 1).await;
    let after = a.sync(&store, &keys(2), 2).await;
    assert_eq!((after.emit.len(), after.lost, after.moving), (2, 1, 0));
    assert_eq!(store.lease_holders(&["c/g2".to_owned()]).await.unwrap(), [None]);
}

#[tokio::test]
async fn outage_keeps_unexpired_leases_then_recovers() {
    let clock = Arc::new(ManualClock::new());
    let store = FlakyStore::new(clock.clone());
    let candidates = keys(50);
    let mut a = Node::new("a", &clock);
    a.heartbeat(&store).await;
    assert_eq!(a.sync(&store, &candidates, 1).await.emit.len(), 50);

    store.set_down(true);
    clock.advance(TTL - Duration::from_millis(1));
    assert!(!a.heartbeat(&store).await);
    let during = a.sync(&store, &candidates, 2).await;
    assert_eq!((during.emit.len(), during.degraded), (50, true), "last ring and valid leases kept");

    clock.advance(Duration::from_millis(1));
    let expired = a.sync(&store, &candidates, 3).await;
    assert_eq!((expired.emit.len(), expired.lost, expired.degraded), (0, 50, true));

    store.set_down(false);
    assert!(a.heartbeat(&store).await);
    let back = a.sync(&store, &candidates, 4).await;
    assert_eq!((back.emit.len(), back.gained, back.degraded), (50, 50, false));
}

#[tokio::test]
async fn a_closed_fence_claims_nothing_but_emits_leases_still_valid() {
    let clock = Arc::new(ManualClock::new());
    let store = MemoryStore::with_clock(clock.clone());
    let candidates = keys(20);
    let mut a = Node::new("a", &clock);
    a.heartbeat(&store).await;
    a.sync(&store, &candidates, 1).await;
    let fenced = NodeView { membership: a.membership.as_ref(), me: HEALTHY, claims_allowed: false };
    assert_eq!(a.tracker.sync(&store, fenced, &candidates, 2).await.emit.len(), 20);
    clock.advance(TTL);
    let fenced = NodeView { membership: a.membership.as_ref(), me: HEALTHY, claims_allowed: false };
    assert!(a.tracker.sync(&store, fenced, &candidates, 3).await.emit.is_empty(), "expired, and no claim");
    let mut newcomer = keys(20);
    newcomer.push("c/new".into());
    let fenced = NodeView { membership: a.membership.as_ref(), me: HEALTHY, claims_allowed: false };
    assert!(a.tracker.sync(&store, fenced, &newcomer, 4).await.emit.is_empty());
}

#[tokio::test]
async fn a_node_with_a_stale_ring_cannot_take_keys_handed_to_another() {
    let clock = Arc::new(ManualClock::new());
    let store = MemoryStore::with_clock(clock.clone());
    let candidates = keys(300);
    let (mut a, mut b, mut c) = (Node::new("a", &clock), Node::new("b", &clock), Node::new("c", &clock));
    a.heartbeat(&store).await;
    c.heartbeat(&store).await;
    a.heartbeat(&store).await;
    assert_eq!(a.sync(&store, &candidates, 1).await.emit.len() + c.sync(&store, &candidates, 1).await.emit.len(), 300);

    // b joins and a leaves: a emits slot 2 and hands each key to its owner on
    // a's ring (b or c).
    b.heartbeat(&store).await;
    a.status.leaving = true;
    a.heartbeat(&store).await;
    let leaving = SelfState { joined: true, leaving: true, undeliverable: false };
    let a2 = a.sync_as(&store, leaving, &candidates, 2).await;
    a.tracker.finish_slot(&store, 2).await;
    let values = store.lease_holders(&candidates).await.unwrap();
    let successors: Vec<Option<&str>> =
        values.iter().map(|v| v.as_deref().and_then(|v| parse_lease_value(v).successor)).collect();
    let to_b = successors.iter().filter(|s| **s == Some("b")).count();
    assert!(to_b > 0 && to_b < a2.emit.len(), "{to_b} of {}", a2.emit.len());

    // Slot 3: c's ring, from a live set without b (say c's heartbeats failed
    // since b joined), gives c everything; but the keys handed to b stay b's,
    // and b claims exactly those (c still holds the rest of b's share).
    c.membership = Some(store.membership().await.unwrap());
    if let Some(m) = c.membership.as_mut() {
        m.nodes.retain(|n| n.id != "b");
    }
    let c3 = c.sync(&store, &candidates, 3).await;
    assert_eq!(c3.emit.len(), 300 - to_b);
    b.heartbeat(&store).await;
    let b3 = b.sync(&store, &candidates, 3).await;
    assert_eq!(b3.emit.len(), to_b);
    assert!(set(&b3.emit).is_disjoint(&set(&c3.emit)));
}

#[tokio::test]
async fn a_claim_refused_for_a_changed_epoch_renews_nothing_and_is_reported() {
    let clock = Arc::new(ManualClock::new());
    let store = MemoryStore::with_clock(clock.clone());
    let candidates = keys(20);
    let mut a = Node::new("a", &clock);
    a.heartbeat(&store).await;
    let first = a.sync(&store, &candidates, 1).await;
    assert_eq!((first.emit.len(), first.epoch_changed.as_deref()), (20, None));

    // The node's last heartbeat saw another epoch than the store has now.
    if let Some(m) = a.membership.as_mut() {
        m.epoch.token = "before-the-loss".into();
    }
    clock.advance(TTL - Duration::from_millis(1));
    let refused = a.sync(&store, &candidates, 2).await;
    assert_eq!(refused.epoch_changed.as_deref(), Some(MEMORY_EPOCH));
    assert_eq!((refused.emit.len(), refused.degraded), (20, false), "leases still valid locally are emitted");
    clock.advance(Duration::from_millis(1));
    let lapsed = a.sync(&store, &candidates, 3).await;
    assert_eq!((lapsed.emit.len(), lapsed.lost), (0, 20), "the refused claim renewed nothing");

    a.heartbeat(&store).await;
    let back = a.sync(&store, &candidates, 4).await;
    assert_eq!((back.emit.len(), back.epoch_changed), (20, None));
}

#[path = "tracker_skew_tests.rs"]
mod skew;
