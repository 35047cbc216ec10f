//! Honest series with real processes (2–3 lagring nodes, a real redis-server,
//! the recording receiver, the simulator on a manual clock):
//! - a group that moves to a joining node gets **no** staleness marker;
//! - a deleted group gets **exactly one** marker per series, from its owner;
//! - a cluster that goes down gets **no** markers, and its series leave every
//!   node's `/metrics` once the last good iteration is older than
//!   `node.series_max_age`.
//!
//! Markers are counted on the raw recorded samples (NaN values are asserted,
//! never filtered out).

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use lagring_sim::{Clock, Scenario, Sim};
use lagring_testkit::lagring_node::LagringNode;
use lagring_testkit::metrics_text::select;
use lagring_testkit::ports::wait_for;
use lagring_testkit::receiver::RecordingReceiver;
use lagring_testkit::redis::RedisServer;

const TIMEOUT: Duration = Duration::from_secs(60);
const MARKER: &str = "kafka_consumer_group_sum_lag_in_offsets";

const SCENARIO: &str = "seed: 11\nbrokers: 2\n\
topics:\n\
\x20 - { name: orders, partitions: 2, initial_messages: 500, produce: { constant: 5.0 } }\n\
groups:\n\
\x20 - { name: g-0, topics: [orders] }\n\
\x20 - { name: g-1, topics: [orders] }\n\
\x20 - { name: g-2, topics: [orders] }\n\
\x20 - { name: g-3, topics: [orders] }\n\
\x20 - { name: g-4, topics: [orders] }\n\
\x20 - { name: g-5, topics: [orders] }\n\
\x20 - { name: g-6, topics: [orders] }\n\
\x20 - { name: doomed, topics: [orders], deleted_at: 20s }\n";

fn config(id: &str, brokers: &str, redis: &str, receiver: &str) -> String {
    format!(
        "node: {{ id: {id}, interval: 1s, heartbeat_interval: 250ms, node_ttl: 2s, series_max_age: 3s }}\n\
         redis: {{ url: '{redis}' }}\n\
         clusters: [ {{ name: sim, brokers: [{brokers}], request_timeout: 1s }} ]\n\
         remote_write: {{ url: '{receiver}', min_backoff: 50ms, max_backoff: 500ms }}\n\
         http: {{ listen: '{{HTTP_LISTEN}}' }}\n"
    )
}

/// Stale markers (NaN samples) recorded so far, per (series name, group).
fn markers(receiver: &RecordingReceiver) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for s in receiver.samples().iter().filter(|s| s.value.is_nan()) {
        let group = s.series.labels.get("group").cloned().unwrap_or_default();
        *out.entry((s.series.name.clone(), group)).or_default() += 1;
    }
    out
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn emitted_groups(receiver: &RecordingReceiver, after_ms: i64) -> std::collections::BTreeSet<String> {
    receiver
        .samples()
        .iter()
        .filter(|s| s.series.name == MARKER && s.timestamp_ms > after_ms && !s.value.is_nan())
        .filter_map(|s| s.series.labels.get("group").cloned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moved_groups_get_no_marker_deleted_ones_exactly_one_and_a_dead_cluster_none() -> Result<()> {
    let (clock, manual) = Clock::manual();
    manual.set(Duration::from_secs(10));
    let sim = Sim::start(Scenario::from_yaml(SCENARIO)?, clock).await?;
    let brokers: Vec<String> = sim.broker_addrs().iter().map(|a| format!("'{a}'")).collect();
    let brokers = brokers.join(", ");
    let redis = RedisServer::start()?;
    let receiver = RecordingReceiver::start().await?;
    let bin = &lagring_e2e::lagring_binary()?;
    let cfg = |id: &str| config(id, &brokers, &redis.url(), &receiver.url());
    let mut nodes =
        vec![LagringNode::start(bin, "node-0", &cfg("node-0"))?, LagringNode::start(bin, "node-1", &cfg("node-1"))?];
    let logs = |nodes: &[LagringNode]| nodes.iter().map(LagringNode::log_tail).collect::<Vec<_>>().join("\n---\n");

    let all: std::collections::BTreeSet<String> =
        (0..7).map(|i| format!("g-{i}")).chain(["doomed".to_owned()]).collect();
    wait_for("every group emitted", TIMEOUT, || async { Ok((emitted_groups(&receiver, 0) == all).then_some(())) })
        .await
        .map_err(|e| e.context(logs(&nodes)))?;

    // A third node joins: some groups move to it, none is marked stale.
    nodes.push(LagringNode::start(bin, "node-2", &cfg("node-2"))?);
    wait_for("node-2 emits", TIMEOUT, || async {
        let from_node2 =
            receiver.requests().iter().any(|r| r.node.as_deref() == Some("node-2") && !r.series.is_empty());
        Ok(from_node2.then_some(()))
    })
    .await
    .map_err(|e| e.context(logs(&nodes)))?;
    let after_join = now_ms();
    wait_for("every group emitted after the join", TIMEOUT, || async {
        Ok((emitted_groups(&receiver, after_join + 1_000) == all).then_some(()))
    })
    .await?;
    assert_eq!(markers(&receiver), BTreeMap::new(), "a move is not an end\n{}", logs(&nodes));

    // The group is deleted: exactly one marker for each of its series.
    manual.set(Duration::from_secs(25));
    wait_for("the deleted group's markers", TIMEOUT, || async {
        Ok(markers(&receiver).keys().any(|(_, g)| g == "doomed").then_some(()))
    })
    .await
    .map_err(|e| e.context(logs(&nodes)))?;
    let settled = now_ms();
    wait_for("three more slots", TIMEOUT, || async {
        Ok((emitted_groups(&receiver, settled + 3_000).len() == 7).then_some(()))
    })
    .await?;
    let got = markers(&receiver);
    // Two partitions, one topic: two partition series, one of everything else.
    let want: BTreeMap<(String, String), usize> = [
        ("kafka_consumer_group_lag_in_offsets", 2),
        ("kafka_consumer_group_max_lag_in_offsets", 1),
        ("kafka_consumer_group_sum_lag_in_offsets", 1),
        ("kafka_consumer_group_topic_max_lag_in_offsets", 1),
        ("kafka_consumer_group_topic_sum_lag_in_offsets", 1),
        ("kafka_consumer_group_partitions_without_commit", 1),
    ]
    .iter()
    .map(|(name, n)| (((*name).to_owned(), "doomed".to_owned()), *n))
    .collect();
    let doomed: BTreeMap<(String, String), usize> =
        got.iter().filter(|(k, _)| want.contains_key(*k)).map(|(k, v)| (k.clone(), *v)).collect();
    assert_eq!(doomed, want, "one marker per series of the deleted group (2 partitions)\n{got:?}");
    assert!(got.keys().all(|(_, g)| g == "doomed"), "only the deleted group ends: {got:?}");
    let before_down = got;

    // The whole cluster goes away: no markers, and its series leave /metrics.
    sim.shutdown().await;
    for node in &nodes {
        wait_for("the dead cluster's series to leave /metrics", TIMEOUT, || async {
            let m = node.metrics().await?;
            Ok(select(&m, "kafka_consumer_group_lag_in_offsets", &[]).is_empty().then_some(()))
        })
        .await
        .map_err(|e| e.context(node.log_tail()))?;
    }
    assert_eq!(markers(&receiver), before_down, "a cluster that is down ends nothing");
    Ok(())
}
