//! Delivery-aware membership in one process: three nodes over one memory
//! store, each writing to its own recording receiver (see `support/mod.rs`).
//!
//! - One node's receiver answers 401 (rotated credentials): within a bound
//!   its groups are emitted by the peers, with no slot delivered twice; when
//!   the receiver takes it back it rejoins and gets groups back, and what it
//!   held meanwhile is delivered — no slot of any group is missing.
//! - Every receiver answers 401: nobody can do better, so no group changes
//!   owner (the leases are never handed over), and after the receivers come
//!   back every slot is delivered once, by the owner it had before.
//!
//! Bounds, with this harness' timing (interval 1 s, heartbeat 250 ms, settle
//! 1 s): a refused node counts itself off the rings once peers have had two
//! heartbeats and the settle delay (1.5 s), emits one more slot and hands
//! over; peers continue at the next slot — [`MOVE_BOUND`] slots in all, with
//! margin for a slow slot on a shared machine.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use lagring_store::CoordinationStore;
use lagring_store::store::{holder_node_id, parse_lease_value};
use lagring_testkit::ports::wait_for;
use lagring_testkit::receiver::Reply;
use support::{InProcessFleet, TIMEOUT, now_slot};

/// Slots from the first refused request until every group of the refused
/// node is emitted by a peer (measured: see the test output).
const MOVE_BOUND: i64 = 6;
/// Slots from the receiver accepting again until the node emits groups again
/// (settle 1 s + a heartbeat + the peers' hand-over slot, plus margin).
const BACK_BOUND: i64 = 7;

const NODES: [&str; 3] = ["node-0", "node-1", "node-2"];

async fn three_nodes() -> Result<(InProcessFleet, i64)> {
    let mut fleet = InProcessFleet::start_with_receiver_per_node().await?;
    for id in NODES {
        fleet.add_node(id).await?;
    }
    let from = fleet.wait_stable(2, 0, 3).await?;
    Ok((fleet, from))
}

fn assert_complete_and_exclusive(fleet: &InProcessFleet, from: i64, to: i64) {
    let em = fleet.emissions();
    assert_eq!(em.duplicates(), vec![], "a (group, slot) delivered twice");
    for g in &fleet.groups {
        assert_eq!(em.missing(g, from, to), Vec::<i64>::new(), "{g} missed slots in {from}..={to}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_receiver_refuses_it_hands_its_groups_to_peers_and_takes_them_back() -> Result<()> {
    let (fleet, from) = three_nodes().await?;
    let owned: Vec<String> =
        fleet.emissions().owners_at(from).into_iter().filter(|(_, n)| n == "node-1").map(|(g, _)| g).collect();
    assert!(!owned.is_empty(), "node-1 owned nothing: {:?}", fleet.emissions().owners_at(from));

    let refused = fleet.receivers["node-1"].request_count();
    fleet.receivers["node-1"].set_status(401);
    fleet.receivers["node-1"].wait_for_requests(refused + 1, TIMEOUT).await?;
    let refused_at = now_slot();
    let moved = fleet.wait_stable(2, refused_at, 2).await?;
    let em = fleet.emissions();
    assert!(em.owners_at(moved).values().all(|n| n != "node-1"), "{:?}", em.owners_at(moved));
    assert_eq!(em.duplicates(), vec![], "a (group, slot) delivered twice during the move");
    eprintln!(
        "moved: slot {moved} is the first complete slot without node-1, {} after the refusal",
        moved - refused_at
    );
    assert!(moved - refused_at <= MOVE_BOUND, "groups moved after {} slots", moved - refused_at);
    let health = reqwest::get(format!("http://{}/healthz", fleet.http("node-1"))).await?;
    assert_eq!(health.status(), 200, "undeliverable is degraded, not unhealthy");
    let body = health.text().await?;
    assert!(body.contains("\"remote_write\"") && body.contains("answered 401"), "{body}");

    fleet.receivers["node-1"].set_reply(Reply::Ok);
    let back_at = now_slot();
    let back = fleet.wait_stable(2, back_at, 3).await?;
    eprintln!(
        "back: slot {back} is the first complete slot with node-1 again, {} after it was taken back",
        back - back_at
    );
    assert!(back - back_at <= BACK_BOUND, "node-1 came back after {} slots", back - back_at);
    // What node-1 emitted while refused (up to its hand-over) was held and
    // is delivered now: no slot of any group is missing, none is doubled.
    wait_for("node-1's held samples delivered", TIMEOUT, || async {
        Ok(fleet.receivers["node-1"].requests().last().is_some_and(|r| r.accepted()).then_some(()))
    })
    .await?;
    assert_complete_and_exclusive(&fleet, from, back + 1);
    fleet.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_receiver_refuses_no_group_changes_owner() -> Result<()> {
    let (fleet, from) = three_nodes().await?;
    let owners = fleet.emissions().owners_at(from);
    let keys: Vec<String> = fleet.groups.iter().map(|g| format!("sim/{g}")).collect();

    for id in NODES {
        fleet.receivers[id].set_status(401);
    }
    let refused_at = now_slot();
    wait_for("every node published undeliverable", TIMEOUT, || async {
        let m = fleet.store.membership().await?;
        Ok((m.nodes.len() == 3 && m.nodes.iter().all(|n| n.status.undeliverable)).then_some(()))
    })
    .await?;
    // Watch the leases for well past the move bound: never handed over, held
    // by the same node throughout.
    let holders_seen: RefCell<BTreeMap<String, BTreeSet<String>>> = RefCell::default();
    let until = refused_at + MOVE_BOUND + 2;
    wait_for("the refusal to outlast the move bound", TIMEOUT, || {
        let (store, keys) = (&fleet.store, &keys);
        let seen = &holders_seen;
        async move {
            let values = store.lease_holders(keys).await?;
            for (key, value) in keys.iter().zip(values) {
                let value = value.unwrap_or_default();
                assert_eq!(parse_lease_value(&value).handed_over_after, None, "{key} handed over: {value}");
                seen.borrow_mut().entry(key.clone()).or_default().insert(holder_node_id(&value).to_owned());
            }
            Ok((now_slot() > until).then_some(()))
        }
    })
    .await?;
    for (key, holders) in holders_seen.borrow().iter() {
        assert_eq!(holders.len(), 1, "{key} changed holder while every receiver refused: {holders:?}");
    }

    for id in NODES {
        fleet.receivers[id].set_reply(Reply::Ok);
    }
    let back_at = now_slot();
    let end = fleet.wait_stable(2, back_at, 3).await?;
    // Held data flushed: every slot of the refusal is there, by its old owner.
    assert_complete_and_exclusive(&fleet, from, end + 1);
    let em = fleet.emissions();
    for slot in from..=end + 1 {
        assert_eq!(em.owners_at(slot), owners, "owners changed in slot {slot} (refused from {refused_at})");
    }
    fleet.shutdown().await
}
