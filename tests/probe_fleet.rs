//! The end-to-end probe owned through the ring, with real processes: three
//! lagring nodes, redis-server, a tansu broker and the recording receiver.
//! Exactly one node emits the probe's series per slot; a steady run is fully
//! available with nothing lost or duplicated; SIGTERM of the owner hands the
//! probe to a peer with 0 lost / 0 duplicated and the totals continuing;
//! `kill -9` of the next owner lets the last node resume within the failover
//! bound, again with 0 lost / 0 duplicated (it reads what the dead owner
//! produced). The 5-minute steady run of the issue is this test with
//! `PROBE_STEADY_SLOTS=300` (about 6 minutes in all).

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use lagring_e2e::fleet::{Fleet, TIMEOUT, Timing};
use lagring_testkit::ports::wait_for;

const CLUSTER: &str = "probed";
const PARTITIONS: usize = 2;

/// The probed cluster: the fleet's broker under another name, no groups of its own.
fn probed_cluster(bootstrap: &str) -> String {
    format!(
        ", {{ name: {CLUSTER}, brokers: ['{bootstrap}'], request_timeout: 1s, groups: {{ allow: ['^none$'] }}, \
         probe: {{ replication_factor: 1, partitions_per_broker: {PARTITIONS}, produce_interval: 200ms, \
         produce_timeout: 2s, window: 5s, latency_sla: 30s, topic_check_interval: 1s }} }}"
    )
}

/// One probe sample as received: slot timestamp, value, sending node.
type Point = (i64, f64, String);

/// Every sample of probe series `name` of the probed cluster, by partition, in arrival order.
fn points(fleet: &Fleet, name: &str) -> BTreeMap<String, Vec<Point>> {
    let mut out: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for s in fleet.receiver.samples() {
        if s.series.name == name && s.series.labels.get("clustername").map(String::as_str) == Some(CLUSTER) {
            let partition = s.series.labels.get("partition").cloned().unwrap_or_default();
            out.entry(partition).or_default().push((s.timestamp_ms, s.value, s.node.unwrap_or_default()));
        }
    }
    out
}

/// The latest value of `name` per partition (by slot).
fn latest(fleet: &Fleet, name: &str) -> BTreeMap<String, Point> {
    points(fleet, name).into_iter().filter_map(|(p, v)| v.into_iter().max_by_key(|x| x.0).map(|x| (p, x))).collect()
}

/// The node that sent the newest probe sample.
fn owner(fleet: &Fleet) -> Option<String> {
    latest(fleet, "kafka_probe_records_consumed_total").into_values().max_by_key(|x| x.0).map(|x| x.2)
}

/// Slots in which more than one node sent probe series.
fn doubly_emitted_slots(fleet: &Fleet) -> Vec<i64> {
    let mut by_slot: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for points in points(fleet, "kafka_probe_records_consumed_total").into_values() {
        for (ts, _, node) in points {
            by_slot.entry(ts).or_default().insert(node);
        }
    }
    by_slot.into_iter().filter(|(_, nodes)| nodes.len() > 1).map(|(ts, _)| ts).collect()
}

/// Every lost and duplicated total ever received is 0.
fn nothing_lost_or_duplicated(fleet: &Fleet) -> Result<()> {
    for name in ["kafka_probe_records_lost_total", "kafka_probe_records_duplicated_total"] {
        for (partition, points) in points(fleet, name) {
            let bad: Vec<&Point> = points.iter().filter(|p| p.1 != 0.0).collect();
            ensure!(bad.is_empty(), "{name}{{partition={partition}}}: {bad:?}");
        }
    }
    Ok(())
}

/// Waits until `node` (or, with `None`, any node) sends a slot after `after_ms` in which every
/// partition's availabilities are 1 and at least `consumed` records each were consumed.
async fn wait_available(fleet: &Fleet, node: Option<&str>, after_ms: i64, consumed: f64) -> Result<String> {
    wait_for("full probe availability", TIMEOUT, || async {
        let produce = latest(fleet, "kafka_probe_produce_availability");
        let consume = latest(fleet, "kafka_probe_consume_availability");
        let counts = latest(fleet, "kafka_probe_records_consumed_total");
        let ok = |m: &BTreeMap<String, Point>, f: &dyn Fn(&Point) -> bool| {
            m.len() == PARTITIONS && m.values().all(|p| p.0 > after_ms && node.is_none_or(|n| p.2 == n) && f(p))
        };
        let ready = ok(&produce, &|p| p.1 == 1.0) && ok(&consume, &|p| p.1 == 1.0) && ok(&counts, &|p| p.1 >= consumed);
        Ok(ready.then(|| counts.values().next().map(|p| p.2.clone()).unwrap_or_default()))
    })
    .await
    .map_err(|e| e.context(fleet.logs()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_owner_full_availability_and_hand_overs_count_nothing() -> Result<()> {
    let mut fleet = Fleet::start_with(0, Timing::QUICK).await?;
    fleet.extra_clusters = probed_cluster(&fleet.broker.bootstrap());
    for i in 0..3 {
        fleet.add_node(&format!("node-{i}"))?;
    }
    let interval = fleet.timing.interval_ms;

    // Steady state over a bounded run.
    let first = wait_available(&fleet, None, 0, 20.0).await?;
    let steady_slots: i64 = std::env::var("PROBE_STEADY_SLOTS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let from = lagring_e2e::fleet::now_ms();
    tokio::time::sleep(Duration::from_millis((steady_slots * interval) as u64)).await;
    let owner_a = owner(&fleet).expect("an owner");
    ensure!(owner_a == first, "the probe moved during the steady run: {first} -> {owner_a}\n{}", fleet.logs());
    for name in ["kafka_probe_produce_availability", "kafka_probe_consume_availability"] {
        for (partition, points) in points(&fleet, name) {
            let below: Vec<&Point> = points.iter().filter(|p| p.0 > from && p.1 != 1.0).collect();
            ensure!(below.is_empty(), "{name}{{partition={partition}}} below 1 in the steady run: {below:?}");
        }
    }
    nothing_lost_or_duplicated(&fleet)?;
    let consumed_a = latest(&fleet, "kafka_probe_records_consumed_total");
    println!("steady: {steady_slots} slots on {owner_a}, consumed {consumed_a:?}");

    // SIGTERM of the owner: a peer takes over, the totals continue, nothing lost or duplicated.
    let stopped_at = lagring_e2e::fleet::now_ms();
    ensure!(fleet.node(&owner_a).terminate(Duration::from_secs(30)).is_some(), "{owner_a} did not exit");
    let owner_b = wait_for("a peer emits the probe", TIMEOUT, || async { Ok(owner(&fleet).filter(|o| *o != owner_a)) })
        .await
        .map_err(|e| e.context(fleet.logs()))?;
    wait_available(&fleet, Some(&owner_b), stopped_at, 0.0).await?;
    let resumed = points(&fleet, "kafka_probe_records_consumed_total");
    for (partition, points) in &resumed {
        let last_a = points.iter().filter(|p| p.2 == owner_a).map(|p| p.1).fold(0.0, f64::max);
        let first_b = points.iter().find(|p| p.2 == owner_b).map(|p| p.1).unwrap_or(0.0);
        ensure!(
            first_b >= last_a,
            "partition {partition}: {owner_b} restarted the total at {first_b} < {last_a}\n{}",
            fleet.logs()
        );
    }
    nothing_lost_or_duplicated(&fleet)?;

    // kill -9 of the new owner: the last node resumes within the failover bound.
    let killed = Instant::now();
    let killed_at = lagring_e2e::fleet::now_ms();
    fleet.node(&owner_b).kill();
    let owner_c = wait_for("the last node emits the probe", TIMEOUT, || async {
        Ok(owner(&fleet).filter(|o| *o != owner_a && *o != owner_b))
    })
    .await
    .map_err(|e| e.context(fleet.logs()))?;
    let failover = killed.elapsed();
    // The groups' bound (lease expiry, then the next slot) plus the probe's catch-up read.
    let t = fleet.timing;
    let bound = Duration::from_millis((t.lease_ttl_ms() + 2 * t.interval_ms) as u64) + Duration::from_secs(2);
    println!("kill -9: {owner_c} emits the probe after {failover:?} (bound {bound:?})");
    ensure!(failover <= bound, "failover took {failover:?}, bound {bound:?}");
    wait_available(&fleet, Some(&owner_c), killed_at, 0.0).await?;
    // A few more slots on the last owner, then the whole run's totals.
    tokio::time::sleep(Duration::from_millis((3 * interval) as u64)).await;
    nothing_lost_or_duplicated(&fleet)?;
    let doubles = doubly_emitted_slots(&fleet);
    ensure!(doubles.is_empty(), "probe series sent by two nodes in slots {doubles:?}");
    println!("final: {:?}", latest(&fleet, "kafka_probe_records_consumed_total"));
    Ok(())
}
