//! The fleet (exclusive emission, failover, zero-gap planned moves), with
//! real processes: 3–4 lagring nodes, a real redis-server, a real tansu broker
//! and the testkit's recording remote-write receiver (see `common`).

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use lagring_e2e::fleet::{Fleet, GROUPS, MARKER, TIMEOUT};
use lagring_testkit::ports::wait_for;

async fn sleep_slots(fleet: &Fleet, n: i64) {
    tokio::time::sleep(Duration::from_millis((n * fleet.timing.interval_ms) as u64)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_state_every_group_once_per_slot_split_over_three_nodes() -> Result<()> {
    let fleet = Fleet::start(3).await?;
    let from = fleet.wait_stable(3, 0).await?;
    sleep_slots(&fleet, 4).await;
    let to = fleet.now_slot() - 2;
    let em = fleet.emissions();
    for g in &fleet.groups {
        assert!(
            em.missing(g, from, to).is_empty(),
            "{g} missing in {from}..={to}: {:?}\n{}",
            em.missing(g, from, to),
            fleet.logs()
        );
    }
    fleet.assert_no_duplicates();
    let owners = em.owners_at(to);
    assert_eq!(owners.len(), GROUPS);
    let mut per_node = std::collections::BTreeMap::<&str, usize>::new();
    for n in owners.values() {
        *per_node.entry(n).or_default() += 1;
    }
    assert_eq!(per_node.len(), 3, "every node owns groups: {per_node:?}");
    // Lag values are exact whichever node emits them: group-i lags 50 - i.
    let last = fleet.receiver.samples();
    for s in last.iter().filter(|s| s.series.name == MARKER && s.timestamp_ms / fleet.timing.interval_ms == to) {
        let i: i64 = s.series.labels["group"].trim_start_matches("group-").parse()?;
        assert_eq!(s.value, (50 - i) as f64);
        assert!(!s.series.labels.contains_key("node"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_survivors_take_over_within_lease_ttl_plus_interval() -> Result<()> {
    let mut fleet = Fleet::start(3).await?;
    let from = fleet.wait_stable(2, 0).await?;
    let owners = fleet.emissions().owners_at(from);
    let victim_groups: Vec<String> = owners.iter().filter(|(_, n)| *n == "node-1").map(|(g, _)| g.clone()).collect();
    ensure!(!victim_groups.is_empty(), "node-1 owns nothing: {owners:?}");
    let killed_at = Instant::now();
    let kill_slot = fleet.now_slot();
    fleet.node("node-1").kill();
    let back = wait_for("survivors emit the victim's groups", TIMEOUT, || async {
        let em = fleet.emissions();
        let slot = em.first_complete_slot(&victim_groups, kill_slot + 1);
        Ok(slot.filter(|s| em.by_group.values().all(|m| !m.get(s).is_some_and(|n| n.contains(&"node-1".to_owned())))))
    })
    .await
    .map_err(|e| e.context(fleet.logs()))?;
    let failover = killed_at.elapsed();
    println!("failover after kill -9: {failover:?} (slots {kill_slot} -> {back})");
    let t = fleet.timing;
    let bound_slots = (t.lease_ttl_ms() + t.interval_ms) / t.interval_ms + 1;
    assert!(back - kill_slot <= bound_slots, "took {} slots, bound {bound_slots}", back - kill_slot);
    sleep_slots(&fleet, 2).await;
    fleet.assert_no_duplicates();
    let (gap, _) = fleet.emissions().longest_gap(&fleet.groups, from, fleet.now_slot() - 2);
    assert!(gap as i64 <= bound_slots, "gap {gap}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fourth_node_takes_about_a_quarter_with_no_gap_and_no_duplicate() -> Result<()> {
    let mut fleet = Fleet::start(3).await?;
    let from = fleet.wait_stable(2, 0).await?;
    let before = fleet.emissions().owners_at(from);
    fleet.add_node("node-3")?;
    let joined = wait_for("node-3 emits", TIMEOUT, || async {
        let em = fleet.emissions();
        let first = em.by_group.values().flat_map(|m| m.iter()).filter(|(_, n)| n.contains(&"node-3".to_owned()));
        Ok(first.map(|(slot, _)| *slot).min())
    })
    .await?;
    let settled = fleet.wait_stable(3, joined).await?;
    let after = fleet.emissions().owners_at(settled + 2);
    let moved: Vec<&String> = before.keys().filter(|g| before.get(*g) != after.get(*g)).collect();
    println!("4th node joined: {} of {GROUPS} groups moved", moved.len());
    assert!(moved.iter().all(|g| after[*g] == "node-3"), "only moves to the new node: {moved:?}");
    assert!((2..=12).contains(&moved.len()), "about 1/4 of {GROUPS} moved, got {}", moved.len());
    fleet.assert_no_duplicates();
    let (gap, group) = fleet.emissions().longest_gap(&fleet.groups, from, fleet.now_slot() - 2);
    assert_eq!(gap, 0, "{group:?} missed a slot while node-3 joined\n{}", fleet.logs());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_groups_over_with_no_gap() -> Result<()> {
    let mut fleet = Fleet::start(3).await?;
    let from = fleet.wait_stable(2, 0).await?;
    let asked = Instant::now();
    let status = fleet.node("node-2").terminate(Duration::from_secs(30)).expect("exits");
    assert!(status.success(), "graceful exit: {status:?}");
    println!("SIGTERM to exit: {:?}", asked.elapsed());
    let term_slot = fleet.now_slot();
    sleep_slots(&fleet, 3).await;
    let to = fleet.now_slot() - 2;
    let em = fleet.emissions();
    for g in &fleet.groups {
        assert!(em.owner_at(g, to).is_some_and(|n| n != "node-2"), "{g} not taken over by {to}\n{}", fleet.logs());
    }
    let (gap, group) = em.longest_gap(&fleet.groups, from, to);
    assert_eq!(gap, 0, "{group:?} missed a slot after SIGTERM at slot {term_slot}\n{}", fleet.logs());
    fleet.assert_no_duplicates();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_the_whole_fleet_misses_no_slot_and_doubles_none() -> Result<()> {
    let mut fleet = Fleet::start(3).await?;
    let from = fleet.wait_stable(2, 0).await?;
    for id in ["node-0", "node-1", "node-2"] {
        let status = fleet.node(id).terminate(Duration::from_secs(30)).expect("exits");
        assert!(status.success(), "{id} graceful exit: {status:?}");
        fleet.forget(id);
        let restarted_slot = fleet.now_slot();
        fleet.add_node(id)?;
        wait_for("the restarted node to emit again", TIMEOUT, || async {
            let em = fleet.emissions();
            let own = em
                .by_group
                .values()
                .flat_map(|m| m.iter())
                .any(|(s, n)| *s > restarted_slot && n.contains(&id.to_owned()));
            Ok(own.then_some(()))
        })
        .await
        .map_err(|e| e.context(fleet.logs()))?;
    }
    let settled = fleet.wait_stable(2, fleet.now_slot()).await?;
    let em = fleet.emissions();
    let (gap, group) = em.longest_gap(&fleet.groups, from, settled + 1);
    println!("rolling restart: slots {from}..={} longest gap {gap}", settled + 1);
    assert_eq!(gap, 0, "{group:?} missed a slot during the rolling restart\n{}", fleet.logs());
    fleet.assert_no_duplicates();
    assert_eq!(
        em.owners_at(settled).values().collect::<std::collections::BTreeSet<_>>().len(),
        3,
        "all three own groups again"
    );
    Ok(())
}
