//! Exact produce times of the records at committed offsets (`KafkaClient::record_times`) against
//! the in-process simulator's real record batches: every expected value comes from the model
//! (`TopicModel::produce_time_ms`), and every request is counted on the wire.

// Test code: a panic with a message is the failure report.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lagring_core::model::TopicPartition;
use lagring_kafka::{ClientKind, KafkaClient, KafkaConnection, NativeOptions, RecordTime, RecordTimeOptions};
use lagring_sim::{Clock, Scenario, Sim, SimHandle};

/// At t = 30 s every partition has hw 1,300 (1,000 initial messages 1 ms apart before t = 0,
/// then one every 100 ms); batches hold 10 offsets.
const SCENARIO: &str = "seed: 7\nbrokers: 2\ntopics:\n\
  - { name: plain, partitions: 3, initial_messages: 1000, produce: { constant: 10.0 }, batch_size: 10 }\n\
  - { name: gz, partitions: 2, initial_messages: 1000, produce: { constant: 10.0 }, batch_size: 10, compression: gzip }\n\
  - { name: lat, partitions: 2, initial_messages: 1000, produce: { constant: 10.0 }, batch_size: 10, timestamp_type: log_append }\n\
  - { name: txn, partitions: 2, initial_messages: 1000, produce: { constant: 10.0 }, batch_size: 10, transactional: { lso_gap: 0, markers: true } }\n\
  - { name: short, partitions: 2, initial_messages: 1000, produce: { constant: 10.0 }, batch_size: 10, retention_messages: 100 }\n";

async fn start() -> SimHandle {
    let (clock, manual) = Clock::manual();
    manual.set(Duration::from_secs(30));
    Sim::start(Scenario::from_yaml(SCENARIO).unwrap(), clock).await.unwrap()
}

fn native(sim: &SimHandle, timeout: Duration) -> KafkaClient {
    let mut conn = KafkaConnection::plaintext(sim.bootstrap());
    conn.request_timeout = timeout;
    KafkaClient::new("sim", &conn, ClientKind::Native(NativeOptions::default())).unwrap()
}

/// Wall ms the model gives offset `o` of `topic`/`p` now.
fn time_of(sim: &SimHandle, topic: &str, p: i32, o: u64) -> i64 {
    let t_ms = u64::try_from(sim.elapsed().as_millis()).unwrap();
    sim.epoch_ms() + sim.model().topic(topic).unwrap().produce_time_ms(p, o, t_ms)
}

fn leader(sim: &SimHandle, topic: &str, p: i32) -> i32 {
    sim.model().leader(sim.model().topic(topic).unwrap(), p)
}

fn exact(produce_ms: i64) -> RecordTime {
    RecordTime { produce_ms, exact: true, bound_ms: 0, lost_messages: 0 }
}

fn tp(topic: &str, p: i32) -> TopicPartition {
    TopicPartition::new(topic, p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_times_are_the_models_and_a_repeat_costs_no_request() {
    let sim = start().await;
    let client = native(&sim, Duration::from_secs(10));
    client.topic_partition_counts().await.unwrap();
    let partitions = [("plain", 3), ("gz", 2), ("lat", 2), ("txn", 2)];
    // 995: an initial message; 1055 and 1107: mid-batch; 1109: a commit marker on `txn`.
    let offsets = [995i64, 1055, 1107, 1109];
    let commits: Vec<(TopicPartition, i64)> = partitions
        .iter()
        .flat_map(|(t, n)| (0..*n).flat_map(move |p| offsets.into_iter().map(move |o| (tp(t, p), o))))
        .collect();

    let got = client.record_times(commits.clone(), RecordTimeOptions::default(), None).await.unwrap();
    assert_eq!(got.len(), commits.len());
    for ((tp, offset), result) in &got {
        let (t, p, o) = (&*tp.topic, tp.partition, u64::try_from(*offset).unwrap());
        let batch_first = o - o % 10;
        let want = match t {
            "plain" => exact(time_of(&sim, t, p, o)),
            "txn" => exact(time_of(&sim, t, p, o)),
            // LogAppendTime: the batch's append time, that of its last offset.
            "lat" => exact(time_of(&sim, t, p, batch_first + 9)),
            // Compressed CreateTime: the batch's max timestamp, bounded by its span.
            "gz" => {
                let (first, last) = (time_of(&sim, t, p, batch_first), time_of(&sim, t, p, batch_first + 9));
                RecordTime { produce_ms: last, exact: false, bound_ms: last - first, lost_messages: 0 }
            }
            other => panic!("unexpected topic {other}"),
        };
        assert_eq!(result.as_ref().unwrap(), &want, "{tp} at {offset}");
        if !want.exact {
            let truth = time_of(&sim, t, p, o);
            assert!(want.produce_ms - want.bound_ms <= truth && truth <= want.produce_ms, "{tp} at {offset}");
        }
    }
    // Initial messages are 1 ms apart, produced ones 100 ms apart: the bound of a produced gz
    // batch is exactly 900 ms.
    assert_eq!(got[&(tp("gz", 0), 1055)].as_ref().unwrap().bound_ms, 900);
    // One Fetch per leader (both brokers lead some of these partitions), no follow-up: the
    // default per-partition limit holds every batch from 990 to 1109.
    let stats = client.stats();
    assert_eq!(stats.fetch.requests, 2);
    assert_eq!(stats.fetch.errors, 0);
    assert!(stats.fetch_bytes > 0);
    assert_eq!(sim.request_counts().api("Fetch"), 2);

    // The same commits again: all from cached batches.
    let again = client.record_times(commits, RecordTimeOptions::default(), None).await.unwrap();
    assert_eq!(again.len(), got.len());
    for (key, result) in &again {
        assert_eq!(result.as_ref().unwrap(), got[key].as_ref().unwrap(), "{key:?}");
    }
    assert_eq!(client.stats().fetch.requests, 2);
    assert_eq!(sim.request_counts().api("Fetch"), 2);

    // At the high watermark there is no record yet: an error for that partition only.
    let hw = sim.expected_now().partitions[&("plain".to_owned(), 0)].high_watermark;
    assert_eq!(hw, 1300);
    let got = client.record_times(vec![(tp("plain", 0), hw), (tp("plain", 0), 1299)], Default::default(), None).await;
    let got = got.unwrap();
    assert_eq!(
        got[&(tp("plain", 0), hw)].as_ref().unwrap_err().to_string(),
        "cluster sim: no produce time for partition plain/0 at offset 1300: no record yet: the log ends at 1300"
    );
    assert_eq!(got[&(tp("plain", 0), 1299)].as_ref().unwrap(), &exact(time_of(&sim, "plain", 0, 1299)));
    assert_eq!(sim.request_counts().api("Fetch"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_above_the_limit_are_read_again_alone_within_the_budget() {
    let sim = start().await;
    let client = native(&sim, Duration::from_secs(10));
    client.topic_partition_counts().await.unwrap();
    let commits: Vec<(TopicPartition, i64)> = (0..3).map(|p| (tp("plain", p), 1055)).collect();
    let mut per_leader: BTreeMap<i32, usize> = BTreeMap::new();
    for p in 0..3 {
        *per_leader.entry(leader(&sim, "plain", p)).or_default() += 1;
    }
    assert_eq!(per_leader.len(), 2);
    // A limit below one batch: only the first partition of each leader's request gets its
    // batch; each other one costs a follow-up of its own.
    let tiny = RecordTimeOptions { partition_max_bytes: 61, follow_ups_per_call: 32 };
    let got = client.record_times(commits.clone(), tiny, None).await.unwrap();
    for p in 0..3 {
        assert_eq!(got[&(tp("plain", p), 1055)].as_ref().unwrap(), &exact(time_of(&sim, "plain", p, 1055)));
    }
    assert_eq!(client.stats().fetch.requests, 2 + 1);
    assert_eq!(sim.request_counts().api("Fetch"), 3);

    // With no follow-up allowed, the partition that needed one fails (the caller estimates).
    let fresh = native(&sim, Duration::from_secs(10));
    fresh.topic_partition_counts().await.unwrap();
    let none = RecordTimeOptions { partition_max_bytes: 61, follow_ups_per_call: 0 };
    let got = fresh.record_times(commits, none, None).await.unwrap();
    let failed: Vec<String> = got.values().filter_map(|r| r.as_ref().err()).map(ToString::to_string).collect();
    assert_eq!(failed.len(), 1, "{got:?}");
    assert!(failed[0].ends_with("at offset 1055: follow-up fetch budget of 0 per call spent"), "{}", failed[0]);
    assert_eq!(fresh.stats().fetch.requests, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_below_the_log_start_reports_the_lost_messages() {
    let sim = start().await;
    let client = native(&sim, Duration::from_secs(10));
    client.topic_partition_counts().await.unwrap();
    let start = sim.expected_now().partitions[&("short".to_owned(), 1)].log_start;
    assert_eq!(start, 1200);
    let got = client.record_times(vec![(tp("short", 1), 1150), (tp("short", 1), 1205)], Default::default(), None).await;
    let got = got.unwrap();
    assert_eq!(
        got[&(tp("short", 1), 1150)].as_ref().unwrap(),
        &RecordTime { lost_messages: 50, ..exact(time_of(&sim, "short", 1, 1200)) }
    );
    assert_eq!(got[&(tp("short", 1), 1205)].as_ref().unwrap(), &exact(time_of(&sim, "short", 1, 1205)));
    // The first read (at 1150) is out of range; the follow-up at the log start finds both.
    assert_eq!(client.stats().fetch.requests, 2);
    assert_eq!(sim.request_counts().api("Fetch"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_broker_costs_only_its_partitions() {
    let sim = start().await;
    let client = native(&sim, Duration::from_millis(800));
    client.topic_partition_counts().await.unwrap();
    let commits: Vec<(TopicPartition, i64)> = (0..3).map(|p| (tp("plain", p), 1055)).collect();
    sim.set_silenced(1, true);
    let started = Instant::now();
    let deadline = Some(Instant::now() + Duration::from_secs(5));
    let got = client.record_times(commits, Default::default(), deadline).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    for p in 0..3 {
        let result = &got[&(tp("plain", p), 1055)];
        if leader(&sim, "plain", p) == 1 {
            let err = result.as_ref().unwrap_err().to_string();
            assert!(err.starts_with(&format!("cluster sim: fetch for partition plain/{p} failed: ")), "{err}");
            assert!(err.contains("timed out"), "{err}");
        } else {
            assert_eq!(result.as_ref().unwrap(), &exact(time_of(&sim, "plain", p, 1055)));
        }
    }
    let stats = client.stats();
    assert_eq!((stats.fetch.requests, stats.fetch.errors), (2, 1));
    sim.set_silenced(1, false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_stops_at_the_last_stable_offset() {
    // `txn` with an lso_gap: the last 5 offsets are not stable yet.
    let yaml = SCENARIO.replace("lso_gap: 0, markers: true", "lso_gap: 5, markers: false");
    let (clock, manual) = Clock::manual();
    manual.set(Duration::from_secs(30));
    let sim = Sim::start(Scenario::from_yaml(&yaml).unwrap(), clock).await.unwrap();
    let mut conn = KafkaConnection::plaintext(sim.bootstrap());
    conn.isolation = lagring_kafka::Isolation::ReadCommitted;
    let client = KafkaClient::new("sim", &conn, ClientKind::Native(NativeOptions::default())).unwrap();
    let lso = sim.expected_now().partitions[&("txn".to_owned(), 0)].last_stable;
    assert_eq!(lso, 1295);
    let got = client.record_times(vec![(tp("txn", 0), 1294), (tp("txn", 0), 1297)], Default::default(), None).await;
    let got = got.unwrap();
    assert_eq!(got[&(tp("txn", 0), 1294)].as_ref().unwrap(), &exact(time_of(&sim, "txn", 0, 1294)));
    assert_eq!(
        got[&(tp("txn", 0), 1297)].as_ref().unwrap_err().to_string(),
        "cluster sim: no produce time for partition txn/0 at offset 1297: no record yet: the log ends at 1295"
    );
    // One read at 1294 (its batch ends at the last stable offset) answers both.
    assert_eq!(client.stats().fetch.requests, 1);
}

#[tokio::test]
async fn the_librdkafka_client_does_not_read_record_times() {
    let client =
        KafkaClient::new("sim", &KafkaConnection::plaintext("127.0.0.1:9".to_owned()), ClientKind::Librdkafka).unwrap();
    let err = client.record_times(vec![(tp("t", 0), 1)], Default::default(), None).await.unwrap_err();
    assert_eq!(err.to_string(), "cluster sim: reading record produce times needs the native client (client: native)");
}
