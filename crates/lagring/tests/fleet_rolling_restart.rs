//! A whole-fleet rolling restart in one process (see `support/mod.rs`):
//! every node stopped (SIGTERM's path) and started again under the same id,
//! one after the other, as a StatefulSet update does.
//!
//! Measured: how often each group changes owner during the roll, from the
//! samples the receiver got. Without `node.restart_grace` a restarting
//! node's groups move to peers and back (2 moves per group, no slot missed);
//! with it they wait for the next process with the same id (at most 1).

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use std::collections::BTreeMap;

use anyhow::Result;
use lagring_testkit::emissions::Emissions;
use support::{InProcessFleet, now_slot};

const NODES: [&str; 3] = ["node-0", "node-1", "node-2"];

/// What one roll did, over the slots from before the first stop to after
/// the last node is back.
#[derive(Debug)]
struct Roll {
    /// Owner changes per group.
    moves: BTreeMap<String, usize>,
    /// (group, slot) emitted by nobody.
    missed: usize,
    /// The longest run of consecutive missed slots of one group.
    longest_gap: usize,
    /// (group, slot) emitted more than once.
    duplicates: usize,
}

impl Roll {
    fn max_moves(&self) -> usize {
        self.moves.values().copied().max().unwrap_or(0)
    }

    fn mean_moves(&self) -> f64 {
        self.moves.values().sum::<usize>() as f64 / self.moves.len().max(1) as f64
    }
}

/// Owner changes of each group over `from..=to`, slots without a single
/// emitter skipped.
fn moves_per_group(em: &Emissions, groups: &[String], from: i64, to: i64) -> BTreeMap<String, usize> {
    groups
        .iter()
        .map(|g| {
            let (mut last, mut moves) = (None, 0);
            for owner in (from..=to).filter_map(|s| em.owner_at(g, s)) {
                moves += usize::from(last.is_some_and(|l| l != owner));
                last = Some(owner);
            }
            (g.clone(), moves)
        })
        .collect()
}

/// Starts three nodes with `node_extra`, restarts each in turn and measures.
async fn roll(node_extra: &str) -> Result<Roll> {
    let mut fleet = InProcessFleet::start().await?;
    for id in NODES {
        fleet.add_node_configured(id, node_extra, None).await?;
    }
    let from = fleet.wait_stable(2, 0, 3).await?;
    let mut last = from;
    for id in NODES {
        fleet.stop_node(id).await?;
        fleet.add_node_configured(id, node_extra, None).await?;
        last = fleet.wait_stable(2, now_slot(), 3).await?;
    }
    let to = last + 1;
    let em = fleet.emissions();
    let roll = Roll {
        moves: moves_per_group(&em, &fleet.groups, from, to),
        missed: fleet.groups.iter().map(|g| em.missing(g, from, to).len()).sum(),
        longest_gap: em.longest_gap(&fleet.groups, from, to).0,
        duplicates: em.duplicates().len(),
    };
    fleet.shutdown().await?;
    Ok(roll)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_fleet_roll_moves_each_group_at_most_once_with_a_restart_grace() -> Result<()> {
    let before = roll("").await?;
    println!(
        "without restart_grace: moves per group max {} mean {:.2}, missed slots {}, duplicates {}",
        before.max_moves(),
        before.mean_moves(),
        before.missed,
        before.duplicates
    );
    let after = roll("restart_grace: 2s").await?;
    println!(
        "with restart_grace 2s: moves per group max {} mean {:.2}, missed slots {} (longest gap {}), duplicates {}",
        after.max_moves(),
        after.mean_moves(),
        after.missed,
        after.longest_gap,
        after.duplicates
    );
    assert_eq!((before.duplicates, before.missed), (0, 0), "hand-over to peers: no slot doubled or missed");
    assert!(before.max_moves() >= 2, "without a grace the groups go away and come back: {before:?}");
    assert_eq!(after.duplicates, 0, "a slot emitted twice: {after:?}");
    assert!(after.max_moves() <= 1, "with a grace a group moves at most once: {after:?}");
    assert!(after.longest_gap <= 1, "a restart costs at most the slot the new process needs: {after:?}");
    Ok(())
}
