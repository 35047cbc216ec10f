//! A silent broker under a real fleet: two lagring processes (real
//! redis-server, recording remote-write receiver) read the simulator (three
//! brokers, 40 groups, coordinators and partition leaders spread over all
//! three), and one broker goes silent through an iptables `-j DROP` on its
//! loopback port — connects and requests hang, as with a hung host — while
//! the simulator keeps running. Judged per slot from what the receiver got:
//!
//! - every group the silent broker does not coordinate keeps its aggregates
//!   in every slot after a bound, over exactly the partitions the other
//!   brokers lead, with `kafka_consumer_group_partitions_unavailable` equal to
//!   the number of its partitions the silent broker leads; those partitions
//!   have no lag series, the others have their exact lag;
//! - no (series, slot) pair is sent twice, no process exits;
//! - `/healthz` answers 200 on both nodes naming `sim/broker/<id>` under
//!   `degraded`, and `lagring_broker_up` is 0 for it (native client only: the
//!   librdkafka client reports no brokers, so with it neither appears);
//! - after the rule is removed, every group is complete again within a bound,
//!   with `partitions_unavailable` 0.
//!
//! The same with a refusing broker (`-j REJECT --reject-with tcp-reset`).
//! Where iptables is missing or not permitted, the simulator's own switch
//! (`set_silenced`: connections accepted, requests held) stands in for the
//! silent broker; the test prints which one it used.
//!
//! No node may exit, with either client: unpatched, librdkafka 2.12 aborted
//! a node in every run while the broker was silent or once it answered
//! again (librdkafka #4605); the vendored copy in crates/vendor/rdkafka-sys
//! fixes it.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::BTreeSet;

use anyhow::{Result, ensure};
use lagring_e2e::sim_fleet::{Silence, SimFleet, TIMEOUT, Want, duplicates, now_slot};
use lagring_sim::{Clock, Scenario, Sim, SimHandle};
use lagring_testkit::metrics_text::select;
use lagring_testkit::netfilter::PortFault;
use lagring_testkit::ports::wait_for;

/// The broker that goes silent.
const SILENT: i32 = 1;
const GROUPS: usize = 40;
/// Slots judged while the broker is silent, and after it is back.
const WINDOW: i64 = 8;
/// Slots from the cut (or the heal) to the first slot that must be exact:
/// the slot in progress may have fetched before the change, the next one may
/// still wait on requests sent before it (up to the request timeout), +1.
const BOUND: i64 = 3;

/// Topic → partitions; leaders are `(topic index + partition) % 3`, so each
/// broker leads a different number of each group's partitions.
const TOPICS: [(&str, i32); 4] = [("t0", 3), ("t1", 2), ("t2", 4), ("t3", 1)];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_broker_with_the_default_native_client() -> Result<()> {
    silent_broker_run(None, PortFault::Silent).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_broker_with_librdkafka() -> Result<()> {
    silent_broker_run(Some("librdkafka"), PortFault::Silent).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_broker_with_the_default_native_client() -> Result<()> {
    silent_broker_run(None, PortFault::Refusing).await
}

fn scenario() -> String {
    let mut yaml = String::from("seed: 11\nbrokers: 3\ntopics:\n");
    for (name, partitions) in TOPICS {
        yaml.push_str(&format!("  - {{ name: {name}, partitions: {partitions}, initial_messages: 1000 }}\n"));
    }
    yaml.push_str("groups:\n");
    for i in 0..GROUPS {
        // Every non-empty subset of the four topics, cycled; constant lag i + 1.
        let topics: Vec<&str> =
            (0..TOPICS.len()).filter(|t| (i % 15 + 1) & (1 << t) != 0).map(|t| TOPICS[t].0).collect();
        yaml.push_str(&format!(
            "  - {{ name: g-{i:02}, topics: [{}], behaviour: {{ lags_by: {} }} }}\n",
            topics.join(", "),
            i + 1
        ));
    }
    yaml
}

/// What every slot must hold: for each group the silent broker (if any)
/// does not coordinate, the lag of each partition another broker leads, the
/// max and sum over them, and the count of the partitions it leads; and the
/// partitions it leads ("group topic/partition"), which must have no lag.
fn want(sim: &SimHandle, silent: Option<i32>) -> (Want, BTreeSet<String>) {
    let expected = sim.expected_now();
    let mut want = Want::new();
    let mut absent = BTreeSet::new();
    for (group, g) in &expected.groups {
        if Some(sim.coordinator_of(group)) == silent {
            continue;
        }
        let (mut max, mut sum, mut unavailable) = (0i64, 0i64, 0u32);
        for (topic, partition) in g.committed.keys() {
            if Some(sim.leader_of(topic, *partition).expect("leader")) == silent {
                unavailable += 1;
                absent.insert(format!("{group} {topic}/{partition}"));
                continue;
            }
            let lag = expected.lag(group, topic, *partition, false).expect("lag");
            let key =
                ("kafka_consumer_group_lag_in_offsets".to_owned(), group.clone(), topic.clone(), partition.to_string());
            want.insert(key, lag as f64);
            max = max.max(lag);
            sum += lag;
        }
        let key = |name: &str| (name.to_owned(), group.clone(), String::new(), String::new());
        want.insert(key("kafka_consumer_group_max_lag_in_offsets"), max as f64);
        want.insert(key("kafka_consumer_group_sum_lag_in_offsets"), sum as f64);
        want.insert(key("kafka_consumer_group_partitions_unavailable"), f64::from(unavailable));
    }
    (want, absent)
}

/// Per node: `/healthz` status, whether it names the silent broker under
/// `degraded`, and `lagring_broker_up` of the silent broker.
async fn broker_view(fleet: &SimFleet) -> Result<Vec<(u16, bool, Option<f64>)>> {
    let mut out = Vec::new();
    for (_, node) in &fleet.nodes {
        let (status, body) = node.get("/healthz").await?;
        let health: serde_json::Value = serde_json::from_str(&body)?;
        let named = health["degraded"].get(format!("sim/broker/{SILENT}")).is_some();
        let m = node.metrics().await?;
        let broker = SILENT.to_string();
        let up = select(&m, "lagring_broker_up", &[("cluster", "sim"), ("broker", &broker)]).first().map(|s| s.value);
        out.push((status, named, up));
    }
    Ok(out)
}

async fn silent_broker_run(client: Option<&'static str>, fault: PortFault) -> Result<()> {
    let name = format!("{} client, {fault:?} broker", client.unwrap_or("default (native)"));
    let native = client.is_none();
    let sim = Sim::start(Scenario::from_yaml(&scenario())?, Clock::real()).await?;
    let coordinated = (0..GROUPS).filter(|i| sim.coordinator_of(&format!("g-{i:02}")) == SILENT).count();
    ensure!(coordinated > 0 && coordinated < GROUPS / 2, "{coordinated} groups on broker {SILENT}: not spread");
    let mut fleet = SimFleet::start(&sim, &["node-0", "node-1"], client).await?;

    let (whole, none) = want(&sim, None);
    let healthy = fleet.settled(0, 2, &whole, &none).await?;
    let mut silence = Silence::start(&sim, SILENT, fault);
    judge_silence(&mut fleet, &sim, &name, native).await?;

    silence.heal()?;
    let healed = now_slot();
    let back = fleet.settled(healed, WINDOW, &whole, &none).await?;
    println!("{name}: complete from {} slots after the heal (bound {BOUND})", back - healed);
    let report = || fleet.explain(healed, back, &whole, &none);
    assert!(back - healed <= BOUND, "{name}: complete only {} slots after the heal\n{}", back - healed, report());
    if native {
        wait_for("both nodes report the broker back", TIMEOUT, || async {
            let view = broker_view(&fleet).await?;
            Ok(view.iter().all(|(s, named, up)| *s == 200 && !named && *up == Some(1.0)).then_some(()))
        })
        .await
        .map_err(|e| e.context(fleet.logs()))?;
    }

    fleet.check_running()?;
    let dups = duplicates(&fleet.record());
    assert!(dups.is_empty(), "{name}: sent twice: {dups:?}");
    println!("{name}: slots {healthy}..={}: 0 duplicates, 0 exits", now_slot() - 2);
    Ok(())
}

/// The fleet while broker `SILENT` is silent (or refusing): exact slots
/// within the bound, health and broker gauge, nothing for the groups it
/// coordinates. Fails when a node exited.
async fn judge_silence(fleet: &mut SimFleet, sim: &SimHandle, name: &str, native: bool) -> Result<()> {
    let cut = now_slot();
    let (degraded, absent) = want(sim, Some(SILENT));
    let first = fleet.settled(cut, WINDOW, &degraded, &absent).await?;
    println!("{name}: exact from {} slots after the cut (bound {BOUND})", first - cut);
    let report = || fleet.explain(cut, first, &degraded, &absent);
    assert!(first - cut <= BOUND, "{name}: exact only {} slots after the cut\n{}", first - cut, report());

    let view = wait_for("both nodes report the broker", TIMEOUT, || async {
        let view = broker_view(fleet).await?;
        // librdkafka reports no brokers: no gauge, no degraded entry.
        let done = view.iter().all(|(status, named, up)| *status == 200 && (!native || (*named && *up == Some(0.0))));
        Ok(done.then_some(view))
    })
    .await;
    fleet.check_running()?;
    for (status, named, up) in view.map_err(|e| e.context(fleet.logs()))? {
        assert_eq!(status, 200, "one silent broker of three is degraded, not unhealthy");
        assert_eq!((named, up), if native { (true, Some(0.0)) } else { (false, None) }, "{name}");
    }
    // The groups the silent broker coordinates: their commits cannot be read,
    // so nothing is sent for them.
    let until = first + WINDOW - 1;
    let emitted: usize = fleet
        .record()
        .iter()
        .filter(|((n, l), _)| {
            n == "kafka_consumer_group_max_lag_in_offsets"
                && l.get("group").is_some_and(|g| sim.coordinator_of(g) == SILENT)
        })
        .map(|(_, slots)| slots.range(first..=until).count())
        .sum();
    let coordinated = (0..GROUPS).filter(|i| sim.coordinator_of(&format!("g-{i:02}")) == SILENT).count();
    println!(
        "{name}: {coordinated} groups coordinated by it, aggregates sent for them in slots {first}..={until}: {emitted}"
    );
    assert_eq!(emitted, 0, "{name}: a group whose coordinator is silent has no commits to measure");
    Ok(())
}
