//! The group series end to end in process: the simulator (real wire protocol) with a classic,
//! a KIP-848 consumer, a share and a streams group, the native client, the fetch stage and the
//! compute stage. The info, members and share-lag series have exactly the values the model has,
//! and the share group gets no consumer-lag series. The share group has 4 records acknowledged
//! ahead of its start offset: a broker answering DescribeShareGroupOffsets v1 (KIP-1226) says
//! lag 26, which lagring reports; capped at v0 it gives none and lagring computes `end − start`
//! = 30.
//!
//! The member series (opt-in) has each member's exact partition count for every type, is absent
//! by default, and ends when a member leaves (not when the describe failed).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lagring_core::group_time::TimeLagPolicy;
use lagring_core::lag_series::LabelOptions;
use lagring_core::metric_names;
use lagring_core::status::StatusPolicy;
use lagring_kafka::{ClientKind, KafkaClient, KafkaConnection, NativeOptions};
use lagring_sim::{Clock, Scenario, Sim};
use lagring_store::{HistoryPolicies, MemoryHistoryStore};

use lagring_core::series::{SeriesBatch, SeriesKey};

use super::compute::Compute;
use super::fetch::{ClusterFetcher, FetchOutcome, Selection};
use crate::self_metrics::SelfMetrics;

const SCENARIO: &str = r#"
brokers: 3
topics: [ { name: a, partitions: 2, initial_messages: 100 } ]
groups:
  - { name: classic-stable, topics: [a], members: 2 }
  - { name: kip848-reconciling, type: consumer, topics: [a], members: 2, state: reconciling }
  - { name: share, type: share, topics: [a], behaviour: { lags_by: 30 }, acknowledged_ahead: 4, never_committed: { a: [1] } }
  - { name: streams, type: streams, topics: [a], behaviour: { lags_by: 5 } }
"#;

async fn start_sim() -> lagring_sim::SimHandle {
    let (clock, manual) = Clock::manual();
    manual.set(Duration::from_secs(10));
    Sim::start(Scenario::from_yaml(SCENARIO).unwrap(), clock).await.unwrap()
}

/// One fetch of every group of `sim` through the native client.
async fn fetch(sim: &lagring_sim::SimHandle) -> FetchOutcome {
    let conn = KafkaConnection::plaintext(sim.bootstrap());
    let client = KafkaClient::new("sim", &conn, ClientKind::Native(NativeOptions::default())).unwrap();
    let fetcher = ClusterFetcher::new(Arc::from("sim"), client);
    let deadline = Instant::now() + Duration::from_secs(10);
    let discovery = fetcher.discover(deadline).await.unwrap();
    let selection = Selection { owned: discovery.matched.clone(), owns_cluster_series: false };
    let outcome = fetcher.fetch_owned(discovery, selection, 1_000, Instant::now(), deadline).await.unwrap();
    assert!(outcome.failures.groups.is_empty(), "{:?}", outcome.failures.groups);
    outcome
}

fn compute() -> Compute {
    let policy = TimeLagPolicy { enabled: false, rate_window_ms: 10_000, status: StatusPolicy { window_ms: 3_000 } };
    let store = Arc::new(MemoryHistoryStore::new(HistoryPolicies::default()));
    Compute::new(Arc::from("sim"), LabelOptions::default(), SelfMetrics::new().unwrap(), store, policy)
}

fn render(key: &SeriesKey) -> String {
    let labels: Vec<String> = key.labels().iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

/// The samples of `batch` named in `names`, by rendered key.
fn named(batch: &SeriesBatch, names: &[&str]) -> BTreeMap<String, f64> {
    batch.samples.iter().filter(|s| names.contains(&s.key.name())).map(|s| (render(&s.key), s.value)).collect()
}

/// The group series of one fetch and compute, by rendered key; `v0_share_offsets` caps the
/// simulator's DescribeShareGroupOffsets at v0, like a broker before KIP-1226.
async fn group_series(v0_share_offsets: bool) -> BTreeMap<String, f64> {
    let sim = start_sim().await;
    if v0_share_offsets {
        sim.cap_version(lagring_sim::ApiKey::DescribeShareGroupOffsets, 0);
    }
    let outcome = fetch(&sim).await;
    let batch = compute().run(&outcome).await;
    let names = [
        metric_names::GROUP_INFO,
        metric_names::GROUP_MEMBERS,
        metric_names::SHARE_GROUP_LAG,
        metric_names::PARTITION_LAG_OFFSETS,
        metric_names::MEMBER_PARTITIONS,
    ];
    let series = named(&batch, &names);
    sim.shutdown().await;
    series
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_members_and_share_lag_series_are_exact() {
    let series = group_series(false).await;
    let want: BTreeMap<String, f64> = [
        ("kafka_consumer_group_info{clustername=sim,group=classic-stable,state=Stable,type=classic}", 1.0),
        ("kafka_consumer_group_info{clustername=sim,group=kip848-reconciling,state=Reconciling,type=consumer}", 1.0),
        ("kafka_consumer_group_info{clustername=sim,group=share,state=Stable,type=share}", 1.0),
        ("kafka_consumer_group_info{clustername=sim,group=streams,state=Stable,type=streams}", 1.0),
        ("kafka_consumer_group_members{clustername=sim,group=classic-stable}", 2.0),
        ("kafka_consumer_group_members{clustername=sim,group=kip848-reconciling}", 2.0),
        ("kafka_consumer_group_members{clustername=sim,group=share}", 1.0),
        ("kafka_consumer_group_members{clustername=sim,group=streams}", 1.0),
        // Idle topic at 100: the share group's start offset is 70 on a-0, 4 records above it are
        // acknowledged, and the broker's lag (v1) is 26; a-1 has no share state.
        ("kafka_share_group_lag{clustername=sim,group=share,partition=0,topic=a}", 26.0),
        // Consumer lag for the committing types only, never for the share group.
        ("kafka_consumer_group_lag_in_offsets{clustername=sim,group=classic-stable,partition=0,topic=a}", 0.0),
        ("kafka_consumer_group_lag_in_offsets{clustername=sim,group=classic-stable,partition=1,topic=a}", 0.0),
        ("kafka_consumer_group_lag_in_offsets{clustername=sim,group=kip848-reconciling,partition=0,topic=a}", 0.0),
        ("kafka_consumer_group_lag_in_offsets{clustername=sim,group=kip848-reconciling,partition=1,topic=a}", 0.0),
        ("kafka_consumer_group_lag_in_offsets{clustername=sim,group=streams,partition=0,topic=a}", 5.0),
        ("kafka_consumer_group_lag_in_offsets{clustername=sim,group=streams,partition=1,topic=a}", 5.0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    // And no `kafka_consumer_group_member_partitions`: the member series is opt-in.
    assert_eq!(series, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_lag_is_computed_when_the_broker_gives_none() {
    let series = group_series(true).await;
    let share: Vec<(&str, f64)> = series
        .iter()
        .filter(|(k, _)| k.starts_with(metric_names::SHARE_GROUP_LAG))
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    // v0: start offset 70, end 100, so 30 (the acknowledged-ahead records are unknown here).
    assert_eq!(share, vec![("kafka_share_group_lag{clustername=sim,group=share,partition=0,topic=a}", 30.0)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_series_are_opt_in_exact_and_end_when_a_member_leaves() {
    let sim = start_sim().await;
    let mut opted_in = compute();
    opted_in.emit_member_series();
    let first = opted_in.run(&fetch(&sim).await).await;
    let member = |group: &str, i: usize, host: &str| {
        format!(
            "kafka_consumer_group_member_partitions{{client_id={group}-client-{i},clustername=sim,group={group},host={host},member_id={group}-member-{i}}}"
        )
    };
    // Topic a has 2 partitions, dealt round-robin over each group's members.
    let want: BTreeMap<String, f64> = [
        (member("classic-stable", 0, "/10.0.0.1"), 1.0),
        (member("classic-stable", 1, "/10.0.0.2"), 1.0),
        // Reconciling: the first member's assignment is still empty (its target is a-0).
        (member("kip848-reconciling", 0, "/10.0.0.1"), 0.0),
        (member("kip848-reconciling", 1, "/10.0.0.2"), 1.0),
        (member("share", 0, "/10.0.0.1"), 2.0),
        // A streams member's tasks 0 and 1 read a-0 and a-1.
        (member("streams", 0, "/10.0.0.1"), 2.0),
    ]
    .into_iter()
    .collect();
    assert_eq!(named(&first, &[metric_names::MEMBER_PARTITIONS]), want);

    // The second member of classic-stable leaves; kip848-reconciling's describe fails.
    let mut next = fetch(&sim).await;
    next.described.members.get_mut("classic-stable").unwrap().pop();
    next.described.members.remove("kip848-reconciling");
    next.described.failed.insert(Arc::from("kip848-reconciling"));
    let second = opted_in.run(&next).await;
    let ended: Vec<String> =
        second.ended.iter().filter(|k| k.name() == metric_names::MEMBER_PARTITIONS).map(render).collect();
    assert_eq!(ended, vec![member("classic-stable", 1, "/10.0.0.2")], "only the member that left ends");
    let kept = named(&second, &[metric_names::MEMBER_PARTITIONS]);
    assert_eq!(kept.len(), 3, "classic-stable's first member, share's and streams': {kept:?}");
    sim.shutdown().await;
}
