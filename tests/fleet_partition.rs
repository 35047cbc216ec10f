//! Partial partition with real processes: one node of three loses its route
//! to the Kafka cluster (an iptables owner-match rule rejects its TCP to the
//! broker port; it runs as its own user) while Redis stays reachable. It must
//! leave the cluster's ring after `leave_cluster_after_failures` failed
//! iterations so the others emit every group again — no group left dark, no
//! duplicate — report the cluster unhealthy, and rejoin once the route is back.
//!
//! Run once with `client: librdkafka` and once with the default config (no
//! `client:` key: native); with both, the cut-off process must stay up
//! through the cut and the heal. With librdkafka 2.12 unpatched it aborted
//! when the cut healed (librdkafka #4605, fixed by the vendored copy in
//! crates/vendor/rdkafka-sys, see its PATCHED.md).

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use anyhow::{Result, ensure};
use lagring_e2e::fleet::{Fleet, TIMEOUT};
use lagring_testkit::metrics_text::select;
use lagring_testkit::netfilter::OwnerPortBlock;
use lagring_testkit::ports::wait_for;

/// `nobody`: the cut-off node runs as this user, so the rule hits only it.
const CUT_OFF_UID: u32 = 65534;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_from_kafka_but_not_redis_hands_its_groups_to_peers_and_rejoins() -> Result<()> {
    partial_partition_run(Some("librdkafka")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_default_client_the_cut_off_node_stays_up_and_rejoins() -> Result<()> {
    partial_partition_run(None).await
}

/// Fails with node-2's log (an abort message included) once it has exited: no restarts.
fn ensure_node2_up(fleet: &mut Fleet, client: &str, when: &str) -> Result<()> {
    let node = fleet.node("node-2");
    ensure!(node.is_running(), "node-2 ({client}) exited {when}\n{}", node.log_tail());
    Ok(())
}

/// The whole scenario, with the cut-off node never restarted.
async fn partial_partition_run(client_key: Option<&'static str>) -> Result<()> {
    let client = client_key.unwrap_or("default: native");
    let mut fleet = Fleet::start_empty_with_client(client_key).await?;
    fleet.add_node("node-0")?;
    fleet.add_node("node-1")?;
    fleet.add_node_as_uid("node-2", CUT_OFF_UID)?;
    let from = fleet.wait_stable(2, 0).await?;
    let owned: Vec<String> =
        fleet.emissions().owners_at(from).into_iter().filter(|(_, n)| n == "node-2").map(|(g, _)| g).collect();
    ensure!(!owned.is_empty(), "node-2 owns nothing\n{}", fleet.logs());

    // Cut in the middle of a slot, between two iterations.
    let t = fleet.timing;
    wait_for("the middle of a slot", TIMEOUT, || async {
        let into_slot = lagring_e2e::fleet::now_ms() % t.interval_ms;
        Ok((into_slot >= t.interval_ms * 2 / 5 && into_slot < t.interval_ms * 3 / 5).then_some(()))
    })
    .await?;
    let mut block = OwnerPortBlock::install(CUT_OFF_UID, fleet.broker.port())?;
    let cut_slot = fleet.now_slot();
    let back = wait_for("peers emit node-2's groups", TIMEOUT, || async {
        let em = fleet.emissions();
        Ok(em.first_complete_slot(&owned, cut_slot + 1))
    })
    .await
    .map_err(|e| e.context(fleet.logs()))?;
    // Bound: leave after 2 failed iterations, publish within a heartbeat,
    // peers claim at their next slot (released, not handed over), +1 slack.
    let bound = 2 + 1 + (t.heartbeat_ms + t.interval_ms - 1) / t.interval_ms + 1;
    println!("partial partition ({client}): node-2's groups back after {} slots (bound {bound})", back - cut_slot);
    assert!(back - cut_slot <= bound, "took {} slots, bound {bound}\n{}", back - cut_slot, fleet.logs());

    ensure_node2_up(&mut fleet, client, "during the cut")?;
    let node2 = &fleet.nodes.iter().find(|(n, _)| n == "node-2").expect("node-2").1;
    let (status, body) = node2.get("/healthz").await?;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"local\""), "names the cluster: {body}");
    let m = node2.metrics().await?;
    assert_eq!(select(&m, "lagring_cluster_ring_member", &[("cluster", "local")]).first().map(|s| s.value), Some(0.0));
    let (live, _) = node2.get("/livez").await?;
    assert_eq!(live, 200, "a cluster it cannot reach does not make the node dead");

    block.remove()?;
    let healed = fleet.now_slot();
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        ensure_node2_up(&mut fleet, client, "after the heal")?;
        let em = fleet.emissions();
        if em.by_group.values().flat_map(|m| m.iter()).any(|(s, n)| *s > healed && n.contains(&"node-2".to_owned())) {
            break;
        }
        ensure!(std::time::Instant::now() < deadline, "node-2 did not rejoin\n{}", fleet.logs());
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    fleet.wait_stable(2, healed).await?;
    ensure_node2_up(&mut fleet, client, "after rejoining")?;
    fleet.assert_no_duplicates();
    let (gap, group) = fleet.emissions().longest_gap(&fleet.groups, from, fleet.now_slot() - 2);
    assert!(gap as i64 <= bound, "{group:?} dark for {gap} slots");
    println!("partial partition ({client}): node-2 stayed up through the cut and the heal");
    Ok(())
}
