//! One node's remote-write receiver answers 401 (its credentials were
//! rotated) while the peers' requests are accepted, with real processes:
//! three lagring nodes, a real redis-server, the tansu broker. The refused
//! node leaves every ring (its peers deliver) and its groups are emitted by
//! the peers within a bound; what it held is delivered once it is accepted
//! again, it gets groups back, and over the whole run — judged from the
//! accepted requests, per slot — no group misses a slot and none is sent
//! twice. No process exits.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use anyhow::{Result, ensure};
use lagring_e2e::fleet::{Fleet, TIMEOUT};
use lagring_testkit::receiver::Reply;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_receiver_refuses_it_hands_its_groups_to_peers_and_takes_them_back() -> Result<()> {
    let mut fleet = Fleet::start_empty_with_client(None).await?;
    // Probes and backoff at half a second: the settle delay (2 × their max) is one second.
    fleet.remote_write_extra = ", probe_interval: 500ms".to_owned();
    for id in ["node-0", "node-1", "node-2"] {
        fleet.add_node(id)?;
    }
    let from = fleet.wait_stable(2, 0).await?;
    let owned: Vec<String> =
        fleet.emissions().owners_at(from).into_iter().filter(|(_, n)| n == "node-1").map(|(g, _)| g).collect();
    ensure!(!owned.is_empty(), "node-1 owns nothing\n{}", fleet.logs());

    fleet.receiver.set_reply_for("node-1", Some(Reply::Status { status: 401, retry_after_secs: None }));
    let refused = fleet.now_slot();
    let moved = lagring_testkit::ports::wait_for("peers emit node-1's groups", TIMEOUT, || async {
        let em = fleet.emissions();
        let upto = fleet.now_slot() - 2;
        let done = upto > refused
            && owned.iter().all(|g| em.owner_at(g, upto).is_some_and(|n| n != "node-1"))
            && fleet.groups.iter().all(|g| em.missing(g, upto, upto).is_empty());
        Ok(done.then_some(upto))
    })
    .await
    .map_err(|e| e.context(fleet.logs()))?;
    let t = fleet.timing;
    // Two heartbeats and the settle delay for peers to see it, the last slot, the hand-over slot, one of slack.
    let bound = (2 * t.heartbeat_ms + 1_000 + t.interval_ms - 1) / t.interval_ms + 3;
    println!(
        "receiver refuses node-1: its {} groups on peers {} slots later (bound {bound})",
        owned.len(),
        moved - refused
    );
    assert!(moved - refused <= bound, "took {} slots, bound {bound}\n{}", moved - refused, fleet.logs());
    let node1 = &fleet.nodes.iter().find(|(n, _)| n == "node-1").expect("node-1").1;
    let (status, body) = node1.get("/healthz").await?;
    assert_eq!(status, 200, "a refused receiver degrades the node, it does not fail it: {body}");
    assert!(body.contains("remote_write"), "{body}");

    fleet.receiver.set_reply_for("node-1", None);
    let accepted = fleet.now_slot();
    lagring_testkit::ports::wait_for("node-1 emits again", TIMEOUT, || async {
        let em = fleet.emissions();
        let upto = fleet.now_slot() - 2;
        Ok((upto > accepted && em.owners_at(upto).values().any(|n| n == "node-1")).then_some(()))
    })
    .await
    .map_err(|e| e.context(fleet.logs()))?;
    let settled = fleet.wait_stable(2, accepted).await?;
    fleet.assert_no_duplicates();
    let (gap, group) = fleet.emissions().longest_gap(&fleet.groups, from, settled + 1);
    println!("over slots {from}..={}: worst gap {gap} slots ({group:?})", settled + 1);
    assert_eq!(gap, 0, "{group:?} missed slots: held data is delivered and moves are planned\n{}", fleet.logs());
    for (id, node) in &mut fleet.nodes {
        assert!(node.is_running(), "{id} exited\n{}", node.log_tail());
    }
    Ok(())
}
