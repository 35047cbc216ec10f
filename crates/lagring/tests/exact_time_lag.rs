//! The fetch stage with `time_lag.method: exact` on a native-client cluster, against the
//! in-process simulator: every lagging (partition, committed offset) gets the produce time the
//! model gives that offset, caught-up partitions are not read, one Fetch per leader is sent,
//! and the next iteration with the same commits reads nothing.

// Test code: a panic with a message is the failure report.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::time::{Duration, Instant};

use lagring::pipeline::fetch::{ClusterFetcher, Selection};
use lagring_core::model::TopicPartition;
use lagring_kafka::{ClientKind, KafkaClient, KafkaConnection, NativeOptions, RecordTime, RecordTimeOptions};
use lagring_sim::{Clock, Scenario, Sim};

const SCENARIO: &str = "seed: 5\nbrokers: 2\n\
  topics: [ { name: t, partitions: 3, initial_messages: 1000, produce: { constant: 10.0 }, batch_size: 10 } ]\n\
  groups: [ { name: behind, topics: [t], behaviour: { lags_by: 25 } }, { name: current, topics: [t] } ]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_partitions_get_the_models_produce_time() {
    let (clock, manual) = Clock::manual();
    manual.set(Duration::from_secs(30));
    let sim = Sim::start(Scenario::from_yaml(SCENARIO).unwrap(), clock).await.unwrap();
    let conn = KafkaConnection::plaintext(sim.bootstrap());
    let client = KafkaClient::new("sim", &conn, ClientKind::Native(NativeOptions::default())).unwrap();
    let fetcher = ClusterFetcher::new("sim".into(), client.clone())
        .with_max_in_flight(4)
        .with_exact_time_lag(Some(RecordTimeOptions::default()));
    let t_ms = u64::try_from(sim.elapsed().as_millis()).unwrap();
    let model = sim.model().topic("t").unwrap();
    let iterate = || async {
        let deadline = Instant::now() + Duration::from_secs(10);
        let discovery = fetcher.discover(deadline).await.unwrap();
        let selection = Selection { owned: discovery.matched.clone(), owns_cluster_series: true };
        fetcher.fetch_owned(discovery, selection, 30_000, Instant::now(), deadline).await.unwrap()
    };

    let outcome = iterate().await;
    // `behind` is 25 records behind on each partition (hw 1,300 → committed 1,275); `current`
    // is caught up and not read.
    let mut got: Vec<(TopicPartition, i64, RecordTime)> =
        outcome.record_times.read.iter().map(|((tp, c), t)| (tp.clone(), *c, *t)).collect();
    got.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let want: Vec<(TopicPartition, i64, RecordTime)> = (0..3)
        .map(|p| {
            let produce_ms = sim.epoch_ms() + model.produce_time_ms(p, 1_275, t_ms);
            (TopicPartition::new("t", p), 1_275, RecordTime { produce_ms, exact: true, bound_ms: 0, lost_messages: 0 })
        })
        .collect();
    assert_eq!(got, want);
    assert!(outcome.record_times.failed.is_empty());
    // Partitions 0 and 2 are led by broker 0, partition 1 by broker 1: two Fetch requests.
    assert_eq!(sim.request_counts().api("Fetch"), 2);
    assert_eq!(client.stats().fetch.requests, 2);

    // Same commits next iteration: answered from the cached batches.
    let again = iterate().await;
    assert_eq!(again.record_times.read, outcome.record_times.read);
    assert_eq!(sim.request_counts().api("Fetch"), 2);
}
