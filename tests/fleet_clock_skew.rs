//! A node whose wall clock runs ahead of its peers', with real processes:
//! node-2 runs under libfaketime (Debian's `faketime` package) with its wall
//! clock 300 ms ahead, its monotonic clock untouched (what an NTP-less host
//! drifts into). Slots are read off each node's wall clock, leases are judged
//! by each node's monotonic clock and Redis' expiry; docs/operations.md
//! ("Clocks") derives what a skew of `d` costs. This shows it for real: with
//! the skewed node in the fleet no (group, slot) is ever sent twice, a planned
//! move away from it and one onto it miss at most `⌈(d + f) / I⌉ − 1` slots
//! (0 here while a fetch `f` takes under 700 ms; 1 allowed for a loaded
//! machine), and a crash of a peer is covered within `lease_ttl + interval`.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::time::Duration;

use anyhow::{Context, Result};
use lagring_e2e::fleet::{Fleet, TIMEOUT};
use lagring_testkit::ports::wait_for;

const SKEW: &str = "+0.3";

/// libfaketime's multi-threaded library, as Debian installs it.
fn libfaketime() -> Result<String> {
    let found = std::fs::read_dir("/usr/lib")?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("faketime/libfaketimeMT.so.1"))
        .find(|p| p.is_file());
    found
        .map(|p| p.display().to_string())
        .context("libfaketime not found: install Debian's faketime package (scripts/setup.sh does)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_a_skewed_wall_clock_never_doubles_a_slot_and_moves_within_the_bound() -> Result<()> {
    let lib = libfaketime()?;
    let skewed = [("LD_PRELOAD", lib.as_str()), ("FAKETIME", SKEW), ("FAKETIME_DONT_FAKE_MONOTONIC", "1")];
    let mut fleet = Fleet::start(0).await?;
    fleet.add_node("node-0")?;
    fleet.add_node("node-1")?;
    fleet.add_node_with_env("node-2", &skewed)?;
    let from = fleet.wait_stable(2, 0).await?;
    let owners = fleet.emissions().owners_at(from);
    assert!(owners.values().any(|n| n == "node-2"), "the skewed node owns groups: {owners:?}");
    // The skew is real: node-2 starts slot `s` 300 ms before it begins, so
    // some of its samples arrive before their own timestamp; the others' never do.
    let early = |node: &str| {
        fleet.receiver.samples().iter().filter(|s| s.node.as_deref() == Some(node)).any(|s| {
            let received = s.received_at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
            received < s.timestamp_ms
        })
    };
    assert!(early("node-2"), "node-2's clock is not ahead: is libfaketime working?");
    assert!(!early("node-0") && !early("node-1"), "a node with a right clock sent a sample before its slot");

    // A planned move away from the node that is ahead.
    fleet.node("node-2").terminate(Duration::from_secs(30));
    fleet.forget("node-2");
    let left = fleet.now_slot();
    let after_leave = fleet.wait_stable(2, left).await?;
    // A planned move onto it (it joins again, still ahead).
    fleet.add_node_with_env("node-2", &skewed)?;
    let joined = fleet.now_slot();
    wait_for("the skewed node emits again", TIMEOUT, || async {
        let em = fleet.emissions();
        let upto = fleet.now_slot() - 2;
        Ok((upto > joined && em.owners_at(upto).values().any(|n| n == "node-2")).then_some(()))
    })
    .await
    .map_err(|e| e.context(fleet.logs()))?;
    let after_join = fleet.wait_stable(2, joined).await?;
    let em = fleet.emissions();
    let (planned_gap, worst) = em.longest_gap(&fleet.groups, from, after_join + 1);
    println!(
        "skew {SKEW} s: planned moves (leave at slot {left}, settled {after_leave}; join at {joined}, settled {after_join}): worst gap {planned_gap} slots ({worst:?})"
    );
    assert!(planned_gap <= 1, "{worst:?} missed {planned_gap} slots in a planned move\n{}", fleet.logs());

    // A crash of a peer whose clock is right: the skewed node covers its share in time.
    fleet.node("node-0").kill();
    fleet.forget("node-0");
    let crashed = fleet.now_slot();
    let after_crash = fleet.wait_stable(2, crashed).await?;
    let t = fleet.timing;
    let bound = (t.lease_ttl_ms() + t.interval_ms + t.interval_ms - 1) / t.interval_ms + 1;
    let (crash_gap, worst) = fleet.emissions().longest_gap(&fleet.groups, after_join, after_crash + 1);
    println!("crash of node-0: worst gap {crash_gap} slots ({worst:?}), bound {bound}");
    assert!(crash_gap as i64 <= bound, "{worst:?} dark for {crash_gap} slots, bound {bound}\n{}", fleet.logs());
    fleet.assert_no_duplicates();
    Ok(())
}
