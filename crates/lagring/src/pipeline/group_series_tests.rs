//! The group series end to end in process: the simulator (real wire protocol) with a classic,
//! a KIP-848 consumer, a share and a streams group, the native client, the fetch stage and the
//! compute stage. The info, members and share-lag series have exactly the values the model has,
//! and the share group gets no consumer-lag series.

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
  - { name: share, type: share, topics: [a], behaviour: { lags_by: 30 }, never_committed: { a: [1] } }
  - { name: streams, type: streams, topics: [a], behaviour: { lags_by: 5 } }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_members_and_share_lag_series_are_exact() {
    let (clock, manual) = Clock::manual();
    manual.set(Duration::from_secs(10));
    let sim = Sim::start(Scenario::from_yaml(SCENARIO).unwrap(), clock).await.unwrap();
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
    let want: BTreeMap<String, f64> = [
        ("kafka_consumer_group_info{clustername=sim,group=classic-stable,state=Stable,type=classic}", 1.0),
        ("kafka_consumer_group_info{clustername=sim,group=kip848-reconciling,state=Reconciling,type=consumer}", 1.0),
        ("kafka_consumer_group_info{clustername=sim,group=share,state=Stable,type=share}", 1.0),
        ("kafka_consumer_group_info{clustername=sim,group=streams,state=Stable,type=streams}", 1.0),
        ("kafka_consumer_group_members{clustername=sim,group=classic-stable}", 2.0),
        ("kafka_consumer_group_members{clustername=sim,group=kip848-reconciling}", 2.0),
        ("kafka_consumer_group_members{clustername=sim,group=share}", 1.0),
        // Idle topic at 100: the share group's start offset is 70 on a-0; a-1 has no share state.
        ("kafka_share_group_lag{clustername=sim,group=share,partition=0,topic=a}", 30.0),
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
    sim.shutdown().await;
}
