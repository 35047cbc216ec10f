//! Fencing with real processes: Redis restarted empty or flushed mid-run
//! (the store epoch changes and every node waits out the old leases before
//! claiming) — never two nodes in one slot, and a bounded gap; the same with
//! the default interval/ttl ratios scaled down; and two processes started
//! with one `node.id` — exactly one emits, the other is unhealthy and says why.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::time::Instant;

use anyhow::Result;
use lagring_e2e::fleet::{Fleet, TIMEOUT, Timing, data_loss_gap_bound};
use lagring_testkit::lagring_node::LagringNode;
use lagring_testkit::metrics_text::select;
use lagring_testkit::ports::wait_for;

async fn lose_redis_data(fleet: &mut Fleet, how: &str) -> Result<i64> {
    let started = Instant::now();
    match how {
        "restart" => fleet.redis.restart()?,
        _ => fleet.redis.flush_all()?,
    }
    Ok(started.elapsed().as_millis() as i64)
}

/// The node's count of store epoch changes (a node that starts on a young
/// epoch counts that one too).
async fn epoch_changes(node: &LagringNode) -> Result<f64> {
    let m = node.metrics().await?;
    Ok(select(&m, "lagring_store_epoch_changes_total", &[]).first().map_or(0.0, |s| s.value))
}

async fn data_loss_run(timing: Timing, how: &str) -> Result<()> {
    let mut fleet = Fleet::start_with(3, timing).await?;
    let from = fleet.wait_stable(2, 0).await?;
    let mut changes_before = Vec::new();
    for (_, node) in &fleet.nodes {
        changes_before.push(epoch_changes(node).await?);
    }
    let lost_slot = fleet.now_slot();
    let outage_ms = lose_redis_data(&mut fleet, how).await?;
    let back = fleet.wait_stable(3, lost_slot).await?;
    for (id, node) in fleet.nodes.iter_mut() {
        assert!(node.is_running(), "{id} exited");
    }
    for ((id, node), before) in fleet.nodes.iter().zip(changes_before) {
        assert_eq!(epoch_changes(node).await?, before + 1.0, "{id} saw exactly one more epoch change");
    }
    let em = fleet.emissions();
    let (gap, group) = em.longest_gap(&fleet.groups, from, back + 2);
    let bound = data_loss_gap_bound(timing, outage_ms);
    println!("redis {how} ({timing:?}, outage {outage_ms} ms): longest gap {gap} slots, bound {bound}");
    assert!(gap as i64 <= bound, "{group:?} missed {gap} slots (bound {bound})\n{}", fleet.logs());
    fleet.assert_no_duplicates();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_empty_never_doubles_a_slot_and_the_gap_is_bounded() -> Result<()> {
    data_loss_run(Timing::QUICK, "restart").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_flushed_never_doubles_a_slot_and_the_gap_is_bounded() -> Result<()> {
    data_loss_run(Timing::QUICK, "flush").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_empty_with_the_default_ratios_scaled_down() -> Result<()> {
    data_loss_run(Timing::DEFAULT_RATIOS, "restart").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_with_the_same_node_id_emits_nothing_and_says_why() -> Result<()> {
    let mut fleet = Fleet::start(2).await?;
    fleet.wait_stable(2, 0).await?;
    let bin = &lagring_e2e::lagring_binary()?;
    let twin = LagringNode::start(bin, "node-0-twin", &fleet.config("node-0"))?;
    let body = wait_for("the twin to report the duplicate id", TIMEOUT, || async {
        let (status, body) = twin.get("/healthz").await?;
        Ok((status == 503 && body.contains("duplicate node id")).then_some(body))
    })
    .await
    .map_err(|e| e.context(twin.log_tail()))?;
    assert!(body.contains("duplicate node id \\\"node-0\\\""), "{body}");
    let since = fleet.now_slot();
    fleet.wait_stable(3, since).await?;
    let m = twin.metrics().await?;
    assert_eq!(select(&m, "lagring_duplicate_node_id", &[]).first().map(|s| s.value), Some(1.0));
    assert_eq!(select(&m, "lagring_owned_groups", &[("cluster", "local")]).first().map(|s| s.value), Some(0.0));
    let (status, _) = twin.get("/livez").await?;
    assert_eq!(status, 200, "a duplicate id is unhealthy, not dead");
    let (status, _) = fleet.node("node-0").get("/healthz").await?;
    assert_eq!(status, 200, "the first process stays healthy");
    fleet.assert_no_duplicates();
    Ok(())
}
