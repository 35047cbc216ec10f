//! Placement in one process (see `support/mod.rs`): several cluster names
//! over the one simulator, each with a `placement`, and nodes with labels.
//!
//! - Two regions: each cluster's groups are owned only by the nodes of its
//!   region; the last eu node leaving moves the eu cluster to the us nodes
//!   (`fallback: any`) and its return moves it back — planned moves, so no
//!   slot is missed or emitted twice. A cluster no node matches with
//!   `fallback: none` is emitted by nobody, and every node says so in
//!   `/healthz` and `lagring_cluster_unplaced`.
//! - Static ids: groups spread over the listed nodes only; when the last
//!   listed node leaves, `fallback: none` leaves them unmeasured (reported),
//!   and a listed node's return takes them back.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use std::collections::BTreeSet;

use anyhow::Result;
use lagring_testkit::ports::wait_for;
use support::{InProcessFleet, TIMEOUT, now_slot};

/// Slots from a node's stop (its hand-over done) until the new owners have
/// emitted two complete slots (a slot or two for the move, margin for a
/// loaded machine).
const MOVE_BOUND: i64 = 8;

/// Waits for two consecutive complete slots of `cluster` after `after`, with
/// the same owners, all of them in `owners` and every one of `owners` used;
/// returns the first of them.
async fn wait_owned_by(fleet: &InProcessFleet, cluster: &str, owners: &[&str], after: i64) -> Result<i64> {
    let wanted: BTreeSet<String> = owners.iter().map(|o| (*o).to_owned()).collect();
    wait_for(&format!("{cluster} owned by {owners:?}"), TIMEOUT, || async {
        let em = fleet.emissions_of(cluster);
        let upto = now_slot() - 2;
        let from = upto - 1;
        if from <= after {
            return Ok(None);
        }
        let complete = (from..=upto).all(|s| fleet.groups.iter().all(|g| em.missing(g, s, s).is_empty()));
        let by = em.owners_at(from);
        let settled = em.owners_at(upto) == by;
        let used: BTreeSet<String> = by.values().cloned().collect();
        Ok((complete && settled && used == wanted).then_some(from))
    })
    .await
}

/// No (group, slot) of `cluster` emitted twice, and none missing in `from..=to`.
fn assert_gapless(fleet: &InProcessFleet, cluster: &str, from: i64, to: i64) {
    let em = fleet.emissions_of(cluster);
    assert_eq!(em.duplicates(), vec![], "{cluster}: a slot emitted twice");
    for g in &fleet.groups {
        assert_eq!(em.missing(g, from, to), Vec::<i64>::new(), "{cluster}/{g} missed slots in {from}..={to}");
    }
}

/// Waits until node `id` reports `cluster` unplaced (`placed == false`) or
/// placed again, in `/healthz` and in `lagring_cluster_unplaced`.
async fn wait_unplaced_reported(fleet: &InProcessFleet, id: &str, cluster: &str, unplaced: bool) -> Result<()> {
    let addr = fleet.http(id);
    let metric = format!("lagring_cluster_unplaced{{cluster=\"{cluster}\"}} {}", u8::from(unplaced));
    let reason = format!("cluster {cluster}: no live node matches its placement");
    wait_for(&format!("{id} reports {cluster} unplaced={unplaced}"), TIMEOUT, || async {
        let health = reqwest::get(format!("http://{addr}/healthz")).await?.text().await?;
        let metrics = reqwest::get(format!("http://{addr}/metrics")).await?.text().await?;
        let said = health.contains(&format!("placement/{cluster}")) && health.contains(&reason);
        Ok((said == unplaced && metrics.lines().any(|l| l == metric)).then_some(()))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_region_owns_its_cluster_and_the_last_node_of_a_region_falls_back_and_returns() -> Result<()> {
    let mut fleet = InProcessFleet::start().await?;
    let clusters = format!(
        "[{}, {}, {}]",
        fleet.cluster_yaml("eu-kafka", "placement: { affinity: { region: eu } }"),
        fleet.cluster_yaml("us-kafka", "placement: { affinity: { region: us }, fallback: any }"),
        fleet.cluster_yaml("ap-kafka", "placement: { affinity: { region: ap }, fallback: none }"),
    );
    for (id, region) in [("eu-0", "eu"), ("eu-1", "eu"), ("us-0", "us"), ("us-1", "us")] {
        fleet.add_node_configured(id, &format!("labels: {{ region: {region}, zone: {id} }}"), Some(&clusters)).await?;
    }
    let from = wait_owned_by(&fleet, "eu-kafka", &["eu-0", "eu-1"], 0).await?;
    let us_from = wait_owned_by(&fleet, "us-kafka", &["us-0", "us-1"], 0).await?;
    for id in fleet.node_ids() {
        wait_unplaced_reported(&fleet, &id, "ap-kafka", true).await?;
        wait_unplaced_reported(&fleet, &id, "eu-kafka", false).await?;
    }

    fleet.stop_node("eu-1").await?;
    let stopped = now_slot();
    wait_owned_by(&fleet, "eu-kafka", &["eu-0"], stopped).await?;

    // The last eu node leaves: the us nodes take the eu cluster over.
    fleet.stop_node("eu-0").await?;
    let stopped = now_slot();
    let fallen_back = wait_owned_by(&fleet, "eu-kafka", &["us-0", "us-1"], stopped).await?;
    println!("eu-kafka on the us nodes {} slot(s) after the last eu node stopped", fallen_back - stopped);
    assert!(fallen_back - stopped <= MOVE_BOUND, "fallback took {} slots", fallen_back - stopped);
    assert_gapless(&fleet, "eu-kafka", from, fallen_back + 1);

    // An eu node returns: the eu cluster moves back to it.
    fleet.add_node_configured("eu-0", "labels: { region: eu }", Some(&clusters)).await?;
    let returned = now_slot();
    let back = wait_owned_by(&fleet, "eu-kafka", &["eu-0"], returned).await?;
    println!("eu-kafka back on eu-0 {} slot(s) after it started", back - returned);
    assert!(back - returned <= MOVE_BOUND, "moving back took {} slots", back - returned);
    assert_gapless(&fleet, "eu-kafka", from, back + 1);
    let us = wait_owned_by(&fleet, "us-kafka", &["us-0", "us-1"], back).await?;
    assert_gapless(&fleet, "us-kafka", us_from, us + 1);
    // Before both us nodes were up, `fallback: any` let the eu nodes carry it; not since.
    let us_em = fleet.emissions_of("us-kafka");
    let us_nodes: BTreeSet<&String> =
        us_em.by_group.values().flat_map(|slots| slots.range(us_from..).flat_map(|(_, nodes)| nodes)).collect();
    assert_eq!(us_nodes, BTreeSet::from([&"us-0".to_owned(), &"us-1".to_owned()]), "us-kafka left its region");
    assert_eq!(fleet.emissions_of("ap-kafka").by_group.len(), 0, "ap-kafka has no eligible node: nobody emits it");
    fleet.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_ids_own_the_cluster_and_without_them_fallback_none_leaves_it_unmeasured_and_reported() -> Result<()> {
    let mut fleet = InProcessFleet::start().await?;
    let clusters = format!("[{}]", fleet.cluster_yaml("pinned", "placement: { static: [n-0, n-1], fallback: none }"));
    for id in ["n-0", "n-1", "n-2"] {
        fleet.add_node_configured(id, "", Some(&clusters)).await?;
    }
    let from = wait_owned_by(&fleet, "pinned", &["n-0", "n-1"], 0).await?;
    wait_unplaced_reported(&fleet, "n-2", "pinned", false).await?;

    fleet.stop_node("n-1").await?;
    let stopped = now_slot();
    let alone = wait_owned_by(&fleet, "pinned", &["n-0"], stopped).await?;
    assert_gapless(&fleet, "pinned", from, alone + 1);

    // No listed node left: n-2 does not take the groups, and says so.
    fleet.stop_node("n-0").await?;
    let stopped = now_slot();
    wait_unplaced_reported(&fleet, "n-2", "pinned", true).await?;
    let watched_until = now_slot() + 3;
    wait_for("three more slots", TIMEOUT, || async { Ok((now_slot() > watched_until).then_some(())) }).await?;
    let late: Vec<(String, i64)> = fleet
        .emissions_of("pinned")
        .by_group
        .iter()
        .flat_map(|(g, slots)| slots.keys().filter(|s| **s > stopped).map(move |s| (g.clone(), *s)))
        .collect();
    assert_eq!(late, vec![], "a group of the pinned cluster was emitted without a listed node");

    // A listed node returns and owns every group again.
    fleet.add_node_configured("n-0", "", Some(&clusters)).await?;
    let returned = now_slot();
    wait_owned_by(&fleet, "pinned", &["n-0"], returned).await?;
    wait_unplaced_reported(&fleet, "n-2", "pinned", false).await?;
    assert!(!fleet.emissions_of("pinned").nodes().contains("n-2"), "n-2 is not listed and never emitted");
    fleet.shutdown().await
}
