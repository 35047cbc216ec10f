//! ListOffsets split by partition leader, against the in-process Kafka
//! simulator (3 brokers, leaders round-robin): exact offsets for every
//! partition, and one wire request per leader per spec.

// Test code: a panic with a message is the failure report.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::time::Duration;

use lagring_core::model::{PartitionOffsets, TopicPartition};
use lagring_kafka::{ApiCounts, ClientKind, KafkaClient, KafkaConnection, OffsetSpec};
use lagring_sim::{Clock, Scenario, Sim};

const SCENARIO: &str = "seed: 7\nbrokers: 3\n\
     topics:\n\
     \x20 - { name: orders, partitions: 7, initial_messages: 1000, produce: { constant: 10.0 } }\n\
     \x20 - { name: payments, partitions: 5, initial_messages: 200, produce: { constant: 3.0 } }\n\
     groups: [ { name: billing, topics: [orders, payments] } ]\n";
const LEADERS: u64 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_spanning_three_leaders_are_exact_with_one_request_per_leader_and_spec() {
    let (clock, manual) = Clock::manual();
    manual.set(Duration::from_secs(10));
    let sim = Sim::start(Scenario::from_yaml(SCENARIO).unwrap(), clock).await.unwrap();
    let mut conn = KafkaConnection::plaintext(sim.bootstrap());
    conn.request_timeout = Duration::from_secs(5);
    let client = KafkaClient::new("sim", &conn, ClientKind::Librdkafka).unwrap();

    // Fills the leader map the ListOffsets split uses.
    let counts = client.topic_partition_counts().await.unwrap();
    let partitions: Vec<TopicPartition> =
        counts.iter().flat_map(|(topic, &n)| (0..n).map(move |p| TopicPartition::new(topic.clone(), p))).collect();
    assert_eq!(partitions.len(), 12);
    let want: BTreeMap<TopicPartition, PartitionOffsets> = sim
        .expected_now()
        .partitions
        .iter()
        .map(|((topic, p), o)| {
            (TopicPartition::new(topic.as_str(), *p), PartitionOffsets { start: o.log_start, end: o.high_watermark })
        })
        .collect();

    let before = sim.request_counts().api("ListOffsets");
    let (offsets, errors) = client.log_offsets(partitions.clone()).await.unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(offsets, want);
    assert_eq!(sim.request_counts().api("ListOffsets") - before, LEADERS * 2);
    assert_eq!(client.stats().list_offsets, ApiCounts { requests: LEADERS * 2, errors: 0 });

    let before = sim.request_counts().api("ListOffsets");
    let latest = client.list_offsets(partitions, OffsetSpec::Latest).await.unwrap();
    let latest: BTreeMap<TopicPartition, i64> = latest.into_iter().map(|(k, v)| (k, v.unwrap())).collect();
    assert_eq!(latest, want.iter().map(|(k, v)| (k.clone(), v.end)).collect());
    assert_eq!(sim.request_counts().api("ListOffsets") - before, LEADERS);
}
