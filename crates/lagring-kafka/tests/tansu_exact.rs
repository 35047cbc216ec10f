//! `KafkaClient::record_times` against a real Kafka-API broker (tansu, sqlite storage), whose
//! record batches are librdkafka's own (uncompressed CreateTime): the produce time read back
//! for a committed offset lies between the wall clock before and after producing it, is exact,
//! and a repeat costs no Fetch.

// Integration-test crate: a panic with a message is the failure report.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lagring_core::model::TopicPartition;
use lagring_kafka::{ClientKind, KafkaClient, KafkaConnection, NativeOptions, RecordTimeOptions};
use lagring_testkit::kafka_fixtures::{create_topic, produce};
use lagring_testkit::tansu::TansuBroker;

fn wall_ms() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_times_come_from_librdkafka_batches_on_tansu() {
    let broker = TansuBroker::start().unwrap();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "events", 2).await.unwrap();
    let before = wall_ms();
    produce(&bootstrap, "events", 0, 6).await.unwrap_or_else(|e| panic!("produce: {e:#}\n{}", broker.log_tail(3000)));
    produce(&bootstrap, "events", 1, 3).await.unwrap();
    let after = wall_ms();

    let mut conn = KafkaConnection::plaintext(&bootstrap);
    conn.request_timeout = Duration::from_secs(10);
    let client = KafkaClient::new("tansu", &conn, ClientKind::Native(NativeOptions::default())).unwrap();
    let commits = vec![(TopicPartition::new("events", 0), 2), (TopicPartition::new("events", 1), 0)];
    let got = client
        .record_times(commits.clone(), RecordTimeOptions::default(), None)
        .await
        .unwrap_or_else(|e| panic!("record times: {e:#}\n{}", broker.log_tail(3000)));
    assert_eq!(got.len(), 2);
    for (key, result) in &got {
        let time = result.as_ref().unwrap_or_else(|e| panic!("{key:?}: {e}\n{}", broker.log_tail(3000)));
        assert!(time.exact, "{key:?}: {time:?}");
        assert_eq!((time.bound_ms, time.lost_messages), (0, 0), "{key:?}");
        assert!((before..=after).contains(&time.produce_ms), "{key:?}: {} not in {before}..={after}", time.produce_ms);
    }
    // One leader (a single broker): one Fetch for both partitions.
    assert_eq!(client.stats().fetch.requests, 1);

    let again = client.record_times(commits, RecordTimeOptions::default(), None).await.unwrap();
    for (key, result) in &again {
        assert_eq!(result.as_ref().unwrap(), got[key].as_ref().unwrap(), "{key:?}");
    }
    assert_eq!(client.stats().fetch.requests, 1);
}
