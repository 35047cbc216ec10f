//! Three trackers sharing one real redis-server: every key emitted by exactly
//! one node, about a third each, and a graceful leave handed over at once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use lagring_store::{Clock, CoordinationStore, OwnershipTracker, RedisConfig, RedisStore, SystemClock};
use lagring_testkit::redis::RedisServer;

const TTL: Duration = Duration::from_secs(30);

fn tracker(id: &str) -> OwnershipTracker {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    OwnershipTracker::new(id, TTL, clock)
}

/// One iteration on every node: heartbeat all, then sync all, twice, so late
/// releases are picked up. Returns node → keys emitted.
async fn round(
    store: &dyn CoordinationStore,
    nodes: &mut [OwnershipTracker],
    keys: &[String],
) -> BTreeMap<String, Vec<String>> {
    let mut emitted = BTreeMap::new();
    for _ in 0..2 {
        for node in nodes.iter_mut() {
            assert!(node.heartbeat(store, TTL).await.is_some());
        }
        for node in nodes.iter_mut() {
            let report = node.sync_leases(store, keys).await;
            assert!(!report.degraded);
            emitted.insert(node.node_id().to_owned(), report.emit);
        }
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
async fn three_nodes_split_the_keys_and_a_leaver_hands_over_at_once() -> Result<()> {
    let server = RedisServer::start()?;
    let store = RedisStore::connect(&RedisConfig::new(server.url())).await?;
    let keys: Vec<String> = (0..3_000).map(|i| format!("prod/group-{i}")).collect();
    let mut nodes = vec![tracker("lagring-0"), tracker("lagring-1"), tracker("lagring-2")];

    let emitted = round(&store, &mut nodes, &keys).await;
    assert_exactly_once(&emitted, &keys);
    let max = emitted.values().map(Vec::len).max().unwrap_or(0);
    assert!(max as f64 / 1_000.0 < 1.25, "max/mean {}", max as f64 / 1_000.0);

    // Owned counts ride on the heartbeat, so they show after the next one.
    for node in &mut nodes {
        node.heartbeat(&store, TTL).await;
    }
    let owned: Vec<u64> = store.membership().await?.nodes.iter().map(|n| n.owned_groups).collect();
    let counts: Vec<u64> = emitted.values().map(|v| v.len() as u64).collect();
    assert_eq!(owned, counts, "owned counts travel with the heartbeat");

    let mut leaver = nodes.remove(1);
    leaver.shutdown(&store).await;
    let emitted = round(&store, &mut nodes, &keys).await;
    assert_exactly_once(&emitted, &keys);
    Ok(())
}
