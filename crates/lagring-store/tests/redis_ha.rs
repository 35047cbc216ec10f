//! The Redis stores in `sentinel` and `cluster` mode against real
//! `redis-server` processes made by the testkit: a Sentinel set whose master
//! is killed (the stores follow the Sentinels to the promoted replica, and the
//! fleet sees a new epoch), and a three-master Redis Cluster made with
//! `redis-cli --cluster create` (every key on the one shard that serves the
//! namespace's hash tag, batching unchanged; that shard restarted empty gives
//! a new epoch).

use std::time::Duration;

use anyhow::Result;
use lagring_core::model::TopicPartition;
use lagring_store::{
    CoordinationStore, EndOffset, HistoryPolicies, HistoryStore, NodeIdentity, NodeStatus, RedisConfig,
    RedisHistoryStore, RedisStore,
};
use lagring_testkit::ports::wait_for;
use lagring_testkit::redis_ha::{RedisClusterSet, RedisSentinelSet};

const LONG: Duration = Duration::from_secs(60);
/// Bound on the store finding its way back after a failover or restart.
const RECOVERY: Duration = Duration::from_secs(30);

fn quick(mut config: RedisConfig) -> RedisConfig {
    config.connect_timeout = Duration::from_millis(500);
    config.command_timeout = Duration::from_millis(500);
    config
}

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("prod/group-{i}")).collect()
}

fn node(name: &str) -> NodeIdentity {
    NodeIdentity::with_incarnation(name, "i1")
}

/// Heartbeats until one succeeds; returns the epoch token it saw.
async fn beat_until_ok(store: &RedisStore, name: &str) -> Result<String> {
    wait_for("a heartbeat to succeed", RECOVERY, || async {
        Ok(store.heartbeat(&node(name), LONG, &NodeStatus::default()).await.ok().map(|o| o.membership.epoch.token))
    })
    .await
}

#[tokio::test]
async fn sentinel_mode_follows_a_master_failover_and_sees_a_new_epoch() -> Result<()> {
    let mut set = RedisSentinelSet::start()?;
    let config = quick(RedisConfig::sentinel(set.sentinel_urls(), RedisSentinelSet::MASTER_NAME));
    let store = RedisStore::connect(&config).await?;
    let history = RedisHistoryStore::new(&config, HistoryPolicies::default())?;

    let before = store.heartbeat(&node("a"), LONG, &NodeStatus::default()).await?.membership.epoch.token;
    let claimed = store.claim_leases(&node("a"), &keys(1_500), LONG, 7, &before).await?;
    assert_eq!(claimed.held.len(), 1_500);
    let tp = TopicPartition::new("orders", 0);
    history.record_end_offsets("prod", 1_000, &[EndOffset { tp: tp.clone(), end: 10 }]).await?;
    // The writes reached the master the Sentinels name, and its replica.
    assert_eq!(set.current_master_port()?, set.master.port());
    wait_for("the replica to hold the leases", RECOVERY, || async {
        let count = set.replica.cli(&["DBSIZE"])?.trim().parse::<usize>()?;
        Ok((count >= 1_500).then_some(()))
    })
    .await?;

    set.kill_master();
    let took = set.wait_failover(RECOVERY)?;
    println!("sentinel failover took {took:?}");
    // A claim sent before any heartbeat reached the promoted replica: refused,
    // although the replicated epoch hash still holds the old token.
    let refused = wait_for("a claim to reach the promoted replica", RECOVERY, || async {
        Ok(store.claim_leases(&node("b"), &keys(2), LONG, 8, &before).await.ok())
    })
    .await?;
    assert!(refused.held.is_empty() && refused.held_by_others.is_empty(), "{refused:?}");
    let after = beat_until_ok(&store, "a").await?;
    assert_ne!(after, before, "a promoted replica is a new epoch: its writes may have been lost");
    assert_eq!(refused.epoch_changed.as_deref(), Some(after.as_str()), "the refusal started it");
    // The replicated leases survived; the promoted replica accepts writes.
    let holders = store.lease_holders(&keys(3)).await?;
    assert_eq!(holders, vec![Some(node("a").holder()); 3]);
    assert_eq!(store.claim_leases(&node("b"), &keys(2), LONG, 8, &after).await?.held.len(), 0, "a still holds them");
    // The history store's connection learns of the failover on its own first call.
    let appended = wait_for("a history append to succeed", RECOVERY, || async {
        Ok(history.record_end_offsets("prod", 2_000, &[EndOffset { tp: tp.clone(), end: 12 }]).await.ok())
    })
    .await?;
    assert_eq!(appended[0].history.len(), 2, "the history from before the failover is there: {appended:?}");
    assert_eq!(set.current_master_port()?, set.replica.port());
    Ok(())
}

#[tokio::test]
async fn cluster_mode_keeps_every_key_on_one_shard_and_batches_as_standalone() -> Result<()> {
    let mut cluster = RedisClusterSet::start()?;
    let config = quick(RedisConfig::cluster(cluster.urls()));
    let store = RedisStore::connect(&config).await?;
    let history = RedisHistoryStore::new(&config, HistoryPolicies::default())?;

    let before = store.heartbeat(&node("a"), LONG, &NodeStatus::default()).await?.membership.epoch.token;
    store.heartbeat(&node("b"), LONG, &NodeStatus::default()).await?;
    let calls = store.lua_calls();
    let claimed = store.claim_leases(&node("a"), &keys(2_500), LONG, 3, &before).await?;
    assert_eq!(claimed.held.len(), 2_500);
    assert_eq!(store.lua_calls() - calls, 3, "2,500 keys in 1,000-key script calls, as on one server");
    let others = store.claim_leases(&node("b"), &keys(10), LONG, 3, &before).await?;
    assert_eq!(others.held_by_others.len(), 10, "leases are exclusive in cluster mode too");
    let ends: Vec<EndOffset> =
        (0..50).map(|p| EndOffset { tp: TopicPartition::new("orders", p), end: i64::from(p) }).collect();
    history.record_end_offsets("prod", 1_000, &ends).await?;

    // Every key is on the shard that serves the namespace's hash tag.
    let shard = cluster.node_for_key("{lagring}")?;
    let counts = cluster.key_counts()?;
    let expected: u64 = 5 + 2_500 + 50; // membership hashes + epoch, leases, histories
    for (i, count) in counts.iter().enumerate() {
        assert_eq!(*count, if i == shard { expected } else { 0 }, "keys per node {counts:?}, shard {shard}");
    }
    let membership = store.membership().await?;
    assert_eq!(membership.ids().collect::<Vec<_>>(), ["a", "b"]);

    // That shard restarted empty (it keeps nodes.conf, so its slots): a new epoch.
    cluster.nodes[shard].restart()?;
    cluster.wait_ok(RECOVERY)?;
    let after = beat_until_ok(&store, "a").await?;
    assert_ne!(after, before, "a shard restarted empty is a new epoch");
    assert_eq!(store.lease_holders(&keys(2)).await?, vec![None, None], "the leases were lost with the shard");
    Ok(())
}
