//! The group series end to end in process: the simulator (real wire protocol) with a classic,
//! a KIP-848 consumer, a share and a streams group, the native client, the fetch stage and the
//! compute stage. The info, members and share-lag series have exactly the values the model has,
//! and the share group gets no consumer-lag series. The share group has 4 records acknowledged
//! ahead of its start offset: a broker answering DescribeShareGroupOffsets v1 (KIP-1226) says
//! lag 26, which lagring reports; capped at v0 it gives none and lagring computes `end − start`
//! = 30.

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

use super::compute::Compute;
use super::fetch::{ClusterFetcher, Selection};
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

/// The group series of one fetch and compute, by rendered key; `v0_share_offsets` caps the
/// simulator's DescribeShareGroupOffsets at v0, like a broker before KIP-1226.
async fn group_series(v0_share_offsets: bool) -> BTreeMap<String, f64> {
    let (clock, manual) = Clock::manual();
    manual.set(Duration::from_secs(10));
    let sim = Sim::start(Scenario::from_yaml(SCENARIO).unwrap(), clock).await.unwrap();
    if v0_share_offsets {
        sim.cap_version(lagring_sim::ApiKey::DescribeShareGroupOffsets, 0);
    }
    let conn = KafkaConnection::plaintext(sim.bootstrap());
    let client = KafkaClient::new("sim", &conn, ClientKind::Native(NativeOptions::default())).unwrap();
    let fetcher = ClusterFetcher::new(Arc::from("sim"), client);
    let deadline = Instant::now() + Duration::from_secs(10);
    let discovery = fetcher.discover(deadline).await.unwrap();
    let selection = Selection { owned: discovery.matched.clone(), owns_cluster_series: false };
    let outcome = fetcher.fetch_owned(discovery, selection, 1_000, Instant::now(), deadline).await.unwrap();
    assert!(outcome.failures.groups.is_empty(), "{:?}", outcome.failures.groups);

    let policy = TimeLagPolicy { enabled: false, rate_window_ms: 10_000, status: StatusPolicy { window_ms: 3_000 } };
    let store = Arc::new(MemoryHistoryStore::new(HistoryPolicies::default()));
    let mut compute =
        Compute::new(Arc::from("sim"), LabelOptions::default(), SelfMetrics::new().unwrap(), store, policy);
    let batch = compute.run(&outcome).await;
    let series: BTreeMap<String, f64> = batch
        .samples
        .iter()
        .filter(|s| {
            [
                metric_names::GROUP_INFO,
                metric_names::GROUP_MEMBERS,
                metric_names::SHARE_GROUP_LAG,
                metric_names::PARTITION_LAG_OFFSETS,
            ]
            .contains(&s.key.name())
        })
        .map(|s| {
            let labels: Vec<String> = s.key.labels().iter().map(|(k, v)| format!("{k}={v}")).collect();
            (format!("{}{{{}}}", s.key.name(), labels.join(",")), s.value)
        })
        .collect();
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
