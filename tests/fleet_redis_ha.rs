//! A real 3-node fleet coordinating through highly available Redis:
//! - `redis.mode: sentinel` — the master is killed; the Sentinels promote the
//!   replica, every node finds it through the Sentinels, sees a new epoch and
//!   waits out the old leases: never two nodes in one slot, and the gap per
//!   group within the data-loss bound of the failover time.
//! - `redis.mode: cluster` — three masters made by `redis-cli --cluster
//!   create`; the fleet runs settled with every key on the shard of the
//!   namespace's hash tag; that shard restarted empty behaves like a
//!   standalone Redis restarted empty.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::time::{Duration, Instant};

use anyhow::Result;
use lagring_e2e::fleet::{Fleet, Timing, data_loss_gap_bound};
use lagring_testkit::redis_ha::{RedisClusterSet, RedisSentinelSet};

const FAILOVER_TIMEOUT: Duration = Duration::from_secs(30);

fn flow_list(urls: &[String]) -> String {
    urls.iter().map(|u| format!("'{u}'")).collect::<Vec<_>>().join(", ")
}

/// Checks the run from `from` to the settled slot `back`: no duplicates, gap
/// within the bound for an outage of `outage_ms`.
fn assert_bounded_gap(fleet: &mut Fleet, what: &str, from: i64, back: i64, outage_ms: i64) {
    for (id, node) in fleet.nodes.iter_mut() {
        assert!(node.is_running(), "{id} exited\n{}", node.log_tail());
    }
    let em = fleet.emissions();
    let (gap, group) = em.longest_gap(&fleet.groups, from, back + 2);
    let bound = data_loss_gap_bound(fleet.timing, outage_ms);
    println!("{what} (outage {outage_ms} ms): longest gap {gap} slots, bound {bound}");
    assert!(gap as i64 <= bound, "{group:?} missed {gap} slots (bound {bound})\n{}", fleet.logs());
    fleet.assert_no_duplicates();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_failover_never_doubles_a_slot_and_the_gap_is_bounded() -> Result<()> {
    let mut set = RedisSentinelSet::start()?;
    let section = format!(
        "{{ mode: sentinel, nodes: [{}], sentinel: {{ master_name: {} }}, connect_timeout: 500ms, command_timeout: 500ms }}",
        flow_list(&set.sentinel_urls()),
        RedisSentinelSet::MASTER_NAME
    );
    let mut fleet = Fleet::start_with_redis(3, Timing::QUICK, section).await?;
    let from = fleet.wait_stable(2, 0).await?;
    let lost_slot = fleet.now_slot();
    let started = Instant::now();
    set.kill_master();
    set.wait_failover(FAILOVER_TIMEOUT)?;
    let outage_ms = started.elapsed().as_millis() as i64;
    let back = fleet.wait_stable(3, lost_slot).await?;
    assert_eq!(set.current_master_port()?, set.replica.port());
    assert_bounded_gap(&mut fleet, "sentinel failover", from, back, outage_ms);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_fleet_settles_on_one_shard_and_survives_that_shard_restarting_empty() -> Result<()> {
    let mut cluster = RedisClusterSet::start()?;
    let section = format!(
        "{{ mode: cluster, nodes: [{}], connect_timeout: 500ms, command_timeout: 500ms }}",
        flow_list(&cluster.urls())
    );
    let mut fleet = Fleet::start_with_redis(3, Timing::QUICK, section).await?;
    let from = fleet.wait_stable(2, 0).await?;
    let shard = cluster.node_for_key("{lagring}")?;
    let counts = cluster.key_counts()?;
    assert!(counts[shard] > 0, "the tag's shard holds the keys: {counts:?}");
    let elsewhere: u64 = counts.iter().enumerate().filter(|(i, _)| *i != shard).map(|(_, c)| c).sum();
    assert_eq!(elsewhere, 0, "no key on another shard: {counts:?}");

    let lost_slot = fleet.now_slot();
    let started = Instant::now();
    cluster.nodes[shard].restart()?;
    cluster.wait_ok(FAILOVER_TIMEOUT)?;
    let outage_ms = started.elapsed().as_millis() as i64;
    let back = fleet.wait_stable(3, lost_slot).await?;
    assert_bounded_gap(&mut fleet, "cluster shard restarted empty", from, back, outage_ms);
    Ok(())
}
