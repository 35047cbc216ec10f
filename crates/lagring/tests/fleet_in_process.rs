//! Fleet behaviour in one process: three nodes over one memory store and the
//! in-process simulator (see `support/mod.rs`). Planned moves — a node
//! joining, a node leaving on shutdown — hand groups over with no slot
//! emitted twice and none missed.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use anyhow::Result;
use support::{InProcessFleet, now_slot};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_in_one_process_share_every_group_and_a_leaving_node_hands_over_without_a_gap() -> Result<()> {
    let mut fleet = InProcessFleet::start().await?;
    for id in ["node-0", "node-1", "node-2"] {
        fleet.add_node(id).await?;
    }
    let from = fleet.wait_stable(2, 0, 3).await?;
    let left = fleet.emissions().owners_at(from).values().filter(|n| *n == "node-1").count();
    assert!(left > 0, "node-1 owned nothing: {:?}", fleet.emissions().owners_at(from));

    fleet.stop_node("node-1").await?;
    let stopped_at = now_slot();
    let settled = fleet.wait_stable(2, stopped_at, 2).await?;
    let em = fleet.emissions();
    assert_eq!(em.duplicates(), vec![], "a slot emitted twice");
    for g in &fleet.groups {
        assert_eq!(em.missing(g, from, settled + 1), Vec::<i64>::new(), "{g} missed slots around the hand-over");
    }
    // Nothing from node-1 after it stopped.
    let late: Vec<_> = em
        .by_group
        .iter()
        .flat_map(|(g, slots)| slots.iter().map(move |(s, nodes)| (g, *s, nodes)))
        .filter(|(_, s, nodes)| *s > stopped_at && nodes.iter().any(|n| n == "node-1"))
        .collect();
    assert!(late.is_empty(), "node-1 emitted after it stopped: {late:?}");

    // A node joining takes its share over, again without a gap or a double.
    fleet.add_node("node-3").await?;
    let joined_at = now_slot();
    let after_join = fleet.wait_stable(2, joined_at, 3).await?;
    let em = fleet.emissions();
    assert_eq!(em.duplicates(), vec![], "a slot emitted twice after the join");
    for g in &fleet.groups {
        assert_eq!(em.missing(g, from, after_join + 1), Vec::<i64>::new(), "{g} missed slots around the join");
    }
    fleet.shutdown().await
}
