//! The adapter against a real Kafka-API broker (tansu, sqlite storage):
//! exact committed offsets, log offsets and partition counts for data this
//! test wrote, and bounded failure against a closed port.
//!
//! tansu reports every group's state as "Unknown" and cannot serve
//! DescribeGroups (see `lagring_testkit::tansu`); neither is used here.

// Integration-test crate: the shared helper outside #[test] fns panics on failure by design.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lagring_core::model::{PartitionOffsets, TopicPartition};
use lagring_kafka::{ApiCounts, ClientKind, KafkaClient, KafkaConnection, NativeOptions, OffsetSpec, RequestStats};
use lagring_testkit::kafka_fixtures::{commit, create_topic, produce};
use lagring_testkit::ports::free_port;
use lagring_testkit::tansu::TansuBroker;

/// Records produced per partition.
const ORDERS: [usize; 3] = [5, 7, 3];
const PAYMENTS: [usize; 2] = [4, 0];

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

fn all_partitions() -> Vec<TopicPartition> {
    vec![tp("orders", 0), tp("orders", 1), tp("orders", 2), tp("payments", 0), tp("payments", 1)]
}

async fn seed(bootstrap: &str) -> anyhow::Result<()> {
    create_topic(bootstrap, "orders", 3).await?;
    create_topic(bootstrap, "payments", 2).await?;
    for (p, n) in (0..).zip(ORDERS) {
        produce(bootstrap, "orders", p, n).await?;
    }
    for (p, n) in (0..).zip(PAYMENTS) {
        produce(bootstrap, "payments", p, n).await?;
    }
    commit(bootstrap, "billing", &[("orders", 0, 2), ("orders", 1, 7), ("payments", 0, 4)]).await?;
    commit(bootstrap, "audit", &[("orders", 2, 1), ("payments", 1, 0)]).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_exact_groups_commits_and_offsets_from_tansu() {
    let stats = exact_from_tansu(ClientKind::Librdkafka).await;
    assert_eq!(stats.list_groups, ApiCounts { requests: 1, errors: 0 });
    assert_eq!(stats.offset_fetch, ApiCounts { requests: 3, errors: 0 });
    assert_eq!(stats.list_offsets, ApiCounts { requests: 3, errors: 0 });
    assert_eq!(stats.metadata, ApiCounts { requests: 1, errors: 0 });
}

/// The same exact values through the native client. The request counts are
/// its own: every wire request, including the Metadata it needs before the
/// first ListGroups and the first ListOffsets (leaders).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_client_reads_the_same_exact_values_from_tansu() {
    let stats = exact_from_tansu(ClientKind::Native(NativeOptions::default())).await;
    assert_eq!(stats.list_groups, ApiCounts { requests: 1, errors: 0 });
    // tansu 0.6 serves FindCoordinator v4+ and OffsetFetch v8+: the three
    // groups (one asked twice) cost one batched request each.
    assert_eq!(stats.find_coordinator, ApiCounts { requests: 1, errors: 0 });
    assert_eq!(stats.offset_fetch, ApiCounts { requests: 1, errors: 0 });
    assert_eq!(stats.list_offsets, ApiCounts { requests: 3, errors: 0 });
    assert_eq!(stats.metadata, ApiCounts { requests: 3, errors: 0 });
    assert_eq!(stats.api_versions, ApiCounts { requests: 1, errors: 0 });
}

/// Seeds a fresh tansu, checks groups, commits, log offsets and partition
/// counts exactly with a client of `kind`, and returns its request counts.
async fn exact_from_tansu(kind: ClientKind) -> RequestStats {
    let broker = TansuBroker::start().unwrap();
    let bootstrap = broker.bootstrap();
    seed(&bootstrap).await.unwrap_or_else(|e| panic!("seed: {e:#}\n{}", broker.log_tail(3000)));

    let mut conn = KafkaConnection::plaintext(&bootstrap);
    conn.request_timeout = Duration::from_secs(10);
    let client = KafkaClient::new("tansu", &conn, kind).unwrap();

    let groups = client.list_groups().await.unwrap();
    let names: Vec<&str> = groups.iter().map(|g| &*g.group).collect();
    assert!(names.contains(&"billing"), "{groups:?}");
    assert!(names.contains(&"audit"), "{groups:?}");

    let committed = client
        .committed_offsets(vec![Arc::from("billing"), Arc::from("audit"), Arc::from("ghost"), Arc::from("billing")], 2)
        .await;
    let committed: Vec<(String, BTreeMap<TopicPartition, i64>)> =
        committed.into_iter().map(|(g, r)| (g.to_string(), r.unwrap())).collect();
    assert_eq!(
        committed,
        vec![
            (
                "billing".to_owned(),
                BTreeMap::from([(tp("orders", 0), 2), (tp("orders", 1), 7), (tp("payments", 0), 4)])
            ),
            ("audit".to_owned(), BTreeMap::from([(tp("orders", 2), 1), (tp("payments", 1), 0)])),
            ("ghost".to_owned(), BTreeMap::new()),
        ]
    );

    let (offsets, errors) = client.log_offsets(all_partitions()).await.unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    let want: BTreeMap<TopicPartition, PartitionOffsets> = [("orders", &ORDERS[..]), ("payments", &PAYMENTS[..])]
        .into_iter()
        .flat_map(|(topic, counts)| {
            (0..).zip(counts).map(move |(p, &n)| (tp(topic, p), PartitionOffsets { start: 0, end: n as i64 }))
        })
        .collect();
    assert_eq!(offsets, want);

    let latest = client.list_offsets(all_partitions(), OffsetSpec::Latest).await.unwrap();
    let latest: BTreeMap<TopicPartition, i64> = latest.into_iter().map(|(k, v)| (k, v.unwrap())).collect();
    assert_eq!(latest, want.iter().map(|(k, v)| (k.clone(), v.end)).collect());

    // tansu lists no internal topics, so the map is exactly ours.
    let counts = client.topic_partition_counts().await.unwrap();
    assert_eq!(counts, BTreeMap::from([(Arc::from("orders"), 3), (Arc::from("payments"), 2)]));
    client.stats()
}

/// librdkafka answers a partition without a leader with a per-partition error
/// as long as some requested partition has one (if none has, the whole call
/// fails with "no leaders found").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_partition_is_a_per_partition_error() {
    let broker = TansuBroker::start().unwrap();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "orders", 1).await.unwrap();
    produce(&bootstrap, "orders", 0, 3).await.unwrap();
    let mut conn = KafkaConnection::plaintext(&bootstrap);
    conn.request_timeout = Duration::from_secs(5);
    let client = KafkaClient::new("tansu", &conn, ClientKind::Librdkafka).unwrap();

    let started = Instant::now();
    let result = client.list_offsets(vec![tp("orders", 0), tp("orders", 9)], OffsetSpec::Latest).await;
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
    let result = result.unwrap();
    assert_eq!(result.len(), 2);
    assert_eq!(*result.get(&tp("orders", 0)).unwrap().as_ref().unwrap(), 3);
    let err = result.get(&tp("orders", 9)).unwrap().as_ref().unwrap_err();
    assert!(err.to_string().contains("orders/9"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_port_fails_within_the_timeout() {
    let port = free_port().unwrap();
    let mut conn = KafkaConnection::plaintext(format!("127.0.0.1:{port}"));
    conn.request_timeout = Duration::from_secs(2);
    let client = KafkaClient::new("dead", &conn, ClientKind::Librdkafka).unwrap();
    // librdkafka timeout + worker slack + outer slack, plus scheduling margin.
    let bound = Duration::from_secs(2 + 1 + 2 + 2);

    let started = Instant::now();
    let err = client.list_groups().await.unwrap_err();
    assert!(started.elapsed() < bound, "list groups took {:?}", started.elapsed());
    assert!(err.to_string().starts_with("cluster dead: list groups"), "{err}");

    let started = Instant::now();
    let committed = client.committed_offsets(vec![Arc::from("g1"), Arc::from("g2")], 8).await;
    assert!(started.elapsed() < bound, "offset fetch took {:?}", started.elapsed());
    assert_eq!(committed.len(), 2);
    for (group, result) in &committed {
        let err = result.as_ref().unwrap_err();
        assert!(err.to_string().contains(&format!("group {group}")), "{err}");
    }

    // A leader that does not answer costs only its partitions: here every
    // partition, each with its own error.
    let started = Instant::now();
    let (offsets, errors) = client.log_offsets(all_partitions()).await.unwrap();
    assert!(started.elapsed() < bound, "log offsets took {:?}", started.elapsed());
    assert!(offsets.is_empty(), "{offsets:?}");
    assert_eq!(errors.len(), all_partitions().len());
    for (tp, err) in &errors {
        assert!(err.to_string().starts_with(&format!("cluster dead: list offsets for partition {tp}")), "{err}");
    }

    let started = Instant::now();
    let err = client.topic_partition_counts().await.unwrap_err();
    assert!(started.elapsed() < bound, "metadata took {:?}", started.elapsed());
    assert!(err.to_string().starts_with("cluster dead: metadata"), "{err}");

    let stats = client.stats();
    assert_eq!(stats.list_groups, ApiCounts { requests: 1, errors: 1 });
    assert_eq!(stats.offset_fetch, ApiCounts { requests: 2, errors: 2 });
    assert_eq!(stats.list_offsets, ApiCounts { requests: 2, errors: 2 });
    assert_eq!(stats.metadata, ApiCounts { requests: 1, errors: 1 });
}

/// More groups than `max_in_flight`: the sliding window refills as results
/// arrive and every group gets exactly its own commits, in input order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_groups_through_a_small_window() {
    let broker = TansuBroker::start().unwrap();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "events", 2).await.unwrap();
    produce(&bootstrap, "events", 0, 20).await.unwrap();
    let groups: Vec<String> = (0..12).map(|i| format!("window-{i:02}")).collect();
    for (i, group) in (0..).zip(&groups) {
        commit(&bootstrap, group, &[("events", 0, i), ("events", 1, 0)]).await.unwrap();
    }
    let mut conn = KafkaConnection::plaintext(&bootstrap);
    conn.request_timeout = Duration::from_secs(10);
    let client = KafkaClient::new("tansu", &conn, ClientKind::Librdkafka).unwrap();

    let asked: Vec<Arc<str>> = groups.iter().rev().map(|g| Arc::from(g.as_str())).collect();
    let got = client.committed_offsets(asked.clone(), 3).await;
    let got: Vec<(Arc<str>, BTreeMap<TopicPartition, i64>)> = got.into_iter().map(|(g, r)| (g, r.unwrap())).collect();
    let want: Vec<(Arc<str>, BTreeMap<TopicPartition, i64>)> = asked
        .iter()
        .map(|g| {
            let i: i64 = g.trim_start_matches("window-").parse().unwrap();
            (g.clone(), BTreeMap::from([(tp("events", 0), i), (tp("events", 1), 0)]))
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(client.stats().offset_fetch, ApiCounts { requests: 12, errors: 0 });
}
