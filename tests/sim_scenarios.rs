//! Exact lag for the consume behaviours a real broker cannot easily stage
//! (stall, rewind, empty group, never-committed partitions, transactional
//! topics read with `read_committed`), with a real lagring process against
//! the in-process Kafka simulator.
//!
//! The simulator runs on a manual clock: its offsets only move when a test
//! moves the clock, so whatever wall-clock slot lagring samples in, the
//! expected lag is exact. Expectations come from the simulator's own model
//! (`expected_now()`), and each test also pins the hand-computed numbers so a
//! formula change in the simulator cannot silently make both sides agree.
//!
//! Every cluster entry exists twice, once per Kafka client: `<name>` on
//! librdkafka and `<name>-native` on the native protocol client; both must
//! show exactly the expected lags.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use lagring_sim::{Clock, ManualClock, Scenario, Sim, SimHandle};
use lagring_testkit::lagring_node::LagringNode;
use lagring_testkit::metrics_text::{TextSample, select};
use lagring_testkit::ports::wait_for;

const TIMEOUT: Duration = Duration::from_secs(30);
const LAG: &str = "kafka_consumer_group_lag_in_offsets";
const WITHOUT_COMMIT: &str = "kafka_consumer_group_partitions_without_commit";

/// (group, topic, partition) → lag.
type PartitionLags = BTreeMap<(String, String, String), f64>;

/// How a lagring cluster entry reads the simulator.
#[derive(Clone, Copy, PartialEq)]
enum Isolation {
    ReadUncommitted,
    ReadCommitted,
}

/// A simulator on a manual clock and one lagring node watching it.
struct Bed {
    sim: SimHandle,
    clock: ManualClock,
    node: LagringNode,
}

impl Bed {
    /// Starts the simulator at scenario time `at` and a node with one cluster
    /// entry per `(name, isolation)`, all pointing at the simulator.
    async fn start(scenario: &str, at: Duration, clusters: &[(&str, Isolation)]) -> Result<Self> {
        let (clock, manual) = Clock::manual();
        manual.set(at);
        let sim = Sim::start(Scenario::from_yaml(scenario)?, clock).await?;
        let brokers: Vec<String> = sim.broker_addrs().iter().map(|a| format!("'{a}'")).collect();
        let mut config = String::from("node: { id: sim-test, interval: 1s }\nclusters:\n");
        for (name, isolation) in clusters {
            for (suffix, client) in [("", "librdkafka"), ("-native", "native")] {
                config.push_str(&format!(
                    "  - name: {name}{suffix}\n    client: {client}\n    brokers: [{}]\n",
                    brokers.join(", ")
                ));
                if *isolation == Isolation::ReadCommitted {
                    config.push_str("    isolation: read_committed\n");
                }
            }
        }
        config.push_str("http: { listen: '{HTTP_LISTEN}' }\n");
        let node = LagringNode::start(&lagring_e2e::lagring_binary()?, "lagring", &config)?;
        Ok(Self { sim, clock: manual, node })
    }

    /// Lag of every committed partition of every live group, by the
    /// simulator's model at its current time.
    fn expected_lags(&self, isolation: Isolation) -> PartitionLags {
        let e = self.sim.expected_now();
        let mut out = BTreeMap::new();
        for (group, g) in &e.groups {
            for (topic, partition) in g.committed.keys() {
                if let Some(lag) = e.lag(group, topic, *partition, isolation == Isolation::ReadCommitted) {
                    out.insert((group.clone(), topic.clone(), partition.to_string()), lag as f64);
                }
            }
        }
        out
    }

    /// Waits until the node's `/metrics` shows exactly `expected` partition
    /// lags for `cluster` through both clients, and returns that scrape.
    async fn wait_for_lags(&self, cluster: &str, expected: &PartitionLags) -> Result<Vec<TextSample>> {
        wait_for(&format!("exact lag of cluster {cluster} on /metrics"), TIMEOUT, || async {
            let m = self.node.metrics().await?;
            for name in [cluster.to_owned(), format!("{cluster}-native")] {
                let got = partition_lags(&m, &name);
                anyhow::ensure!(&got == expected, "{name}: last seen: {got:?}\nexpected: {expected:?}");
            }
            Ok(Some(m))
        })
        .await
        .map_err(|e| e.context(self.node.log_tail()))
    }
}

fn partition_lags(samples: &[TextSample], cluster: &str) -> PartitionLags {
    select(samples, LAG, &[("clustername", cluster)])
        .into_iter()
        .map(|s| ((s.labels["group"].clone(), s.labels["topic"].clone(), s.labels["partition"].clone()), s.value))
        .collect()
}

/// `name{clustername=cluster, group=group}`, when present.
fn group_value(samples: &[TextSample], name: &str, cluster: &str, group: &str) -> Option<f64> {
    select(samples, name, &[("clustername", cluster), ("group", group)]).first().map(|s| s.value)
}

fn lags(rows: &[(&str, &str, i32, i64)]) -> PartitionLags {
    rows.iter().map(|(g, t, p, lag)| (((*g).to_owned(), (*t).to_owned(), p.to_string()), *lag as f64)).collect()
}

/// orders: 2 partitions, 1,000 messages at t = 0, then 10 msg/s each.
const ORDERS: &str = "{ name: orders, partitions: 2, initial_messages: 1000, produce: { constant: 10.0 } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_group_lags_by_everything_produced_since_the_stall() -> Result<()> {
    let scenario = format!(
        "seed: 1\nbrokers: 2\ntopics: [ {ORDERS} ]\n\
         groups:\n  - {{ name: stalled, topics: [orders], behaviour: {{ stalls: 2s }} }}\n\
         \x20 - {{ name: keeps-up, topics: [orders] }}\n"
    );
    let bed = Bed::start(&scenario, Duration::from_secs(10), &[("sim", Isolation::ReadUncommitted)]).await?;
    // hw(10s) = 1,100; the stalled group sits at hw(2s) = 1,020.
    let at_10s = lags(&[("keeps-up", "orders", 0, 0), ("keeps-up", "orders", 1, 0)])
        .into_iter()
        .chain(lags(&[("stalled", "orders", 0, 80), ("stalled", "orders", 1, 80)]))
        .collect();
    assert_eq!(bed.expected_lags(Isolation::ReadUncommitted), at_10s);
    let m = bed.wait_for_lags("sim", &at_10s).await?;
    assert_eq!(group_value(&m, "kafka_consumer_group_sum_lag_in_offsets", "sim", "stalled"), Some(160.0));
    assert_eq!(group_value(&m, "kafka_consumer_group_max_lag_in_offsets", "sim", "stalled"), Some(80.0));

    // Ten more seconds of production: the stall's lag grows by exactly 100.
    bed.clock.set(Duration::from_secs(20));
    let at_20s = bed.expected_lags(Isolation::ReadUncommitted);
    assert_eq!(at_20s[&("stalled".into(), "orders".into(), "1".into())], 180.0);
    bed.wait_for_lags("sim", &at_20s).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewound_group_lags_by_the_rewind() -> Result<()> {
    let scenario = format!(
        "seed: 2\nbrokers: 3\ntopics: [ {ORDERS} ]\n\
         groups: [ {{ name: rewinder, topics: [orders], behaviour: {{ rewinds: {{ at: 5s, by: 40 }} }} }} ]\n"
    );
    let bed = Bed::start(&scenario, Duration::from_secs(3), &[("sim", Isolation::ReadUncommitted)]).await?;
    let before = lags(&[("rewinder", "orders", 0, 0), ("rewinder", "orders", 1, 0)]);
    assert_eq!(bed.expected_lags(Isolation::ReadUncommitted), before);
    bed.wait_for_lags("sim", &before).await?;

    bed.clock.set(Duration::from_secs(10));
    let after = lags(&[("rewinder", "orders", 0, 40), ("rewinder", "orders", 1, 40)]);
    assert_eq!(bed.expected_lags(Isolation::ReadUncommitted), after);
    let m = bed.wait_for_lags("sim", &after).await?;
    assert_eq!(group_value(&m, "kafka_consumer_group_sum_lag_in_offsets", "sim", "rewinder"), Some(80.0));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_group_with_commits_still_has_exact_lag() -> Result<()> {
    // audit is idle and starts at offset 300 (log start 300, hw 500).
    let scenario = format!(
        "seed: 3\nbrokers: 2\ntopics:\n  - {ORDERS}\n\
         \x20 - {{ name: audit, partitions: 1, start_offset: 300, initial_messages: 200, produce: idle }}\n\
         groups: [ {{ name: empty, topics: [orders, audit], members: 0, behaviour: {{ lags_by: 10 }} }} ]\n"
    );
    let bed = Bed::start(&scenario, Duration::from_secs(7), &[("sim", Isolation::ReadUncommitted)]).await?;
    let expected = lags(&[("empty", "audit", 0, 10), ("empty", "orders", 0, 10), ("empty", "orders", 1, 10)]);
    assert_eq!(bed.sim.expected_now().groups["empty"].state, "Empty");
    assert_eq!(bed.expected_lags(Isolation::ReadUncommitted), expected);
    let m = bed.wait_for_lags("sim", &expected).await?;
    assert_eq!(group_value(&m, "kafka_consumer_group_sum_lag_in_offsets", "sim", "empty"), Some(30.0));
    assert_eq!(group_value(&m, WITHOUT_COMMIT, "sim", "empty"), Some(0.0));
    assert_eq!(select(&m, "kafka_total_groups_checked", &[("clustername", "sim")])[0].value, 1.0);
    assert!(select(&m, "kafka_consumer_group_lag_beyond_retention", &[]).is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_committed_partitions_are_counted_not_given_a_lag() -> Result<()> {
    let scenario = "seed: 4\nbrokers: 3\n\
         topics: [ { name: orders, partitions: 4, initial_messages: 1000, produce: { constant: 10.0 } } ]\n\
         groups: [ { name: partial, topics: [orders], behaviour: { lags_by: 25 }, never_committed: { orders: [1, 3] } } ]\n";
    let bed = Bed::start(scenario, Duration::from_secs(5), &[("sim", Isolation::ReadUncommitted)]).await?;
    let expected = lags(&[("partial", "orders", 0, 25), ("partial", "orders", 2, 25)]);
    assert_eq!(bed.expected_lags(Isolation::ReadUncommitted), expected);
    let m = bed.wait_for_lags("sim", &expected).await?;
    assert_eq!(group_value(&m, WITHOUT_COMMIT, "sim", "partial"), Some(2.0));
    assert_eq!(group_value(&m, "kafka_consumer_group_sum_lag_in_offsets", "sim", "partial"), Some(50.0));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_measures_to_the_last_stable_offset() -> Result<()> {
    // payments is transactional: LSO = hw − 5. A reader 2 behind the hw is
    // past the LSO, so its read_committed lag clamps at 0.
    let scenario = format!(
        "seed: 5\nbrokers: 3\ntopics:\n  - {ORDERS}\n\
         \x20 - {{ name: payments, partitions: 3, initial_messages: 500, produce: {{ constant: 4.0 }}, transactional: {{ lso_gap: 5 }} }}\n\
         groups:\n  - {{ name: txn-reader, topics: [payments, orders], behaviour: {{ lags_by: 20 }} }}\n\
         \x20 - {{ name: txn-close, topics: [payments], behaviour: {{ lags_by: 2 }} }}\n"
    );
    let clusters = [("committed", Isolation::ReadCommitted), ("uncommitted", Isolation::ReadUncommitted)];
    let bed = Bed::start(&scenario, Duration::from_secs(9), &clusters).await?;
    let mut committed = BTreeMap::new();
    let mut uncommitted = BTreeMap::new();
    for p in 0..3 {
        committed.extend(lags(&[("txn-reader", "payments", p, 15), ("txn-close", "payments", p, 0)]));
        uncommitted.extend(lags(&[("txn-reader", "payments", p, 20), ("txn-close", "payments", p, 2)]));
    }
    for p in 0..2 {
        committed.extend(lags(&[("txn-reader", "orders", p, 20)]));
        uncommitted.extend(lags(&[("txn-reader", "orders", p, 20)]));
    }
    assert_eq!(bed.expected_lags(Isolation::ReadCommitted), committed);
    assert_eq!(bed.expected_lags(Isolation::ReadUncommitted), uncommitted);
    let m = bed.wait_for_lags("committed", &committed).await?;
    assert_eq!(group_value(&m, "kafka_consumer_group_sum_lag_in_offsets", "committed", "txn-reader"), Some(85.0));
    assert_eq!(group_value(&m, "kafka_consumer_group_max_lag_in_offsets", "committed", "txn-close"), Some(0.0));
    let m = bed.wait_for_lags("uncommitted", &uncommitted).await?;
    assert_eq!(group_value(&m, "kafka_consumer_group_sum_lag_in_offsets", "uncommitted", "txn-reader"), Some(100.0));
    Ok(())
}
