//! Three nodes' ownership trackers sharing one real redis-server, slot by
//! slot: every key emitted by exactly one node in every slot, about a third
//! each, and a leaving node's keys continued by the others at the very next
//! slot (no gap, no overlap).

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use lagring_store::ownership::{ClusterOwnership, NodeView, SelfState};
use lagring_store::{
    Clock, CoordinationStore, Membership, NodeIdentity, NodeStatus, RedisConfig, RedisStore, SystemClock,
};
use lagring_testkit::redis::RedisServer;

const TTL: Duration = Duration::from_secs(30);

struct Node {
    id: NodeIdentity,
    tracker: ClusterOwnership,
    status: NodeStatus,
    membership: Option<Membership>,
}

impl Node {
    fn new(id: &str) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let identity = NodeIdentity::new(id);
        Self {
            tracker: ClusterOwnership::new(identity.clone(), "prod", TTL, clock),
            id: identity,
            status: NodeStatus::default(),
            membership: None,
        }
    }
}

/// One slot on every node: heartbeat all (twice, so every node has seen
/// every other), sync all, then hand over. Returns node → keys emitted in
/// that slot.
async fn slot(
    store: &dyn CoordinationStore,
    nodes: &mut [Node],
    keys: &[String],
    s: u64,
) -> BTreeMap<String, Vec<String>> {
    for _ in 0..2 {
        for node in nodes.iter_mut() {
            let outcome = store.heartbeat(&node.id, TTL, &node.status).await.expect("heartbeat");
            node.membership = Some(outcome.membership);
        }
    }
    let mut emitted = BTreeMap::new();
    for node in nodes.iter_mut() {
        let me = SelfState { joined: true, leaving: node.status.leaving, undeliverable: false };
        let view = NodeView { membership: node.membership.as_ref(), me, claims_allowed: true };
        let report = node.tracker.sync(store, view, keys, s).await;
        assert!(!report.degraded);
        node.status.owned_groups = report.emit.len() as u64;
        emitted.insert(node.id.id.clone(), report.emit);
    }
    for node in nodes.iter_mut() {
        node.tracker.finish_slot(store, s).await;
    }
    emitted
}

fn assert_exactly_once(emitted: &BTreeMap<String, Vec<String>>, keys: &[String]) {
    let mut all: Vec<&String> = emitted.values().flatten().collect();
    all.sort();
    let mut want: Vec<&String> = keys.iter().collect();
    want.sort();
    assert_eq!(all, want, "every key exactly once");
}

#[tokio::test]
async fn three_nodes_split_the_keys_and_a_leaver_is_continued_at_the_next_slot() -> Result<()> {
    let server = RedisServer::start()?;
    let store = RedisStore::connect(&RedisConfig::new(server.url())).await?;
    let keys: Vec<String> = (0..3_000).map(|i| format!("prod/group-{i}")).collect();
    let mut nodes = vec![Node::new("lagring-0"), Node::new("lagring-1"), Node::new("lagring-2")];

    let emitted = slot(&store, &mut nodes, &keys, 1).await;
    assert_exactly_once(&emitted, &keys);
    let max = emitted.values().map(Vec::len).max().unwrap_or(0);
    assert!(max as f64 / 1_000.0 < 1.25, "max/mean {}", max as f64 / 1_000.0);

    // Owned counts ride on the heartbeat, so they show after the next one.
    let emitted = slot(&store, &mut nodes, &keys, 2).await;
    assert_exactly_once(&emitted, &keys);
    let owned: Vec<u64> = store.membership().await?.nodes.iter().map(|n| n.status.owned_groups).collect();
    let counts: Vec<u64> = emitted.values().map(|v| v.len() as u64).collect();
    assert_eq!(owned, counts, "owned counts travel with the heartbeat");

    // lagring-1 leaves: slot 3 is its last, slot 4 is the others' first.
    nodes[1].status.leaving = true;
    let last = slot(&store, &mut nodes, &keys, 3).await;
    assert_exactly_once(&last, &keys);
    assert_eq!(last["lagring-1"].len(), counts[1] as usize, "the leaver emits its share one last time");
    let next = slot(&store, &mut nodes, &keys, 4).await;
    assert_exactly_once(&next, &keys);
    assert!(next["lagring-1"].is_empty());
    Ok(())
}
