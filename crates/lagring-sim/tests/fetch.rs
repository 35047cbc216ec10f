//! librdkafka (rdkafka 0.39) consuming from the simulator's Fetch: exact offsets, timestamps
//! (CreateTime and LogAppendTime), keys and values for plain and compressed topics, starting in
//! the middle of a batch, and waiting (not failing) at the high watermark until the clock moves.

// Integration-test crate: helpers outside #[test] fns panic on failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{Raw, TIMEOUT, TestSim, consumer};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use lagring_sim::Scenario;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Message, Timestamp};
use rdkafka::{Offset, TopicPartitionList};

/// Every topic: 100 initial messages (offset o < 100 produced at o − 100 ms), then 10 msg/s
/// (offset 100 + k produced at (k + 1) · 100 ms). At t = 5 s the high watermark is 150.
const SCENARIO: &str = r#"
seed: 3
brokers: 2
topics:
  - { name: plain, partitions: 3, initial_messages: 100, produce: { constant: 10.0 } }
  - { name: gzipped, partitions: 1, initial_messages: 100, produce: { constant: 10.0 }, compression: gzip, batch_size: 7 }
  - { name: snappy, partitions: 1, initial_messages: 100, produce: { constant: 10.0 }, compression: snappy }
  - { name: lz4, partitions: 1, initial_messages: 100, produce: { constant: 10.0 }, compression: lz4, batch_size: 4 }
  - { name: appended, partitions: 2, initial_messages: 100, produce: { constant: 10.0 }, timestamp_type: log_append, batch_size: 5 }
  - { name: txn, partitions: 1, initial_messages: 100, produce: { constant: 10.0 }, batch_size: 5, transactional: { lso_gap: 3, markers: true } }
faults:
  # Stands in for the broker's max_wait_ms hold: no busy refetch loop at the high watermark.
  latency: { Fetch: 20ms }
"#;

const AT: Duration = Duration::from_secs(5);

fn start() -> TestSim {
    let t = common::start(Scenario::from_yaml(SCENARIO).unwrap());
    t.clock.set(AT);
    t
}

/// Scenario ms at which `offset` was produced (see [`SCENARIO`]).
fn produced_ms(offset: i64) -> i64 {
    if offset < 100 { offset - 100 } else { (offset - 99) * 100 }
}

#[derive(Debug, PartialEq)]
struct Got {
    offset: i64,
    timestamp: Timestamp,
    key: String,
    value: String,
}

fn reader(t: &TestSim, topic: &str, partition: i32, offset: i64) -> BaseConsumer {
    reader_with(t, topic, partition, offset, "read_uncommitted")
}

fn reader_with(t: &TestSim, topic: &str, partition: i32, offset: i64, isolation: &str) -> BaseConsumer {
    let c = consumer(t.sim(), "fetch-test", &[("isolation.level", isolation)]);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(offset)).unwrap();
    c.assign(&tpl).unwrap();
    c
}

/// Poll until `n` messages arrived (deadline [`TIMEOUT`]); any error fails the test.
fn read(c: &BaseConsumer, n: usize) -> Vec<Got> {
    let deadline = Instant::now() + TIMEOUT;
    let mut got = Vec::new();
    while got.len() < n {
        assert!(Instant::now() < deadline, "only {} of {n} messages before the deadline: {got:?}", got.len());
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => got.push(Got {
                offset: m.offset(),
                timestamp: m.timestamp(),
                key: String::from_utf8(m.key().unwrap().to_vec()).unwrap(),
                value: String::from_utf8(m.payload().unwrap().to_vec()).unwrap(),
            }),
            Some(Err(e)) => panic!("consumer error: {e}"),
            None => {}
        }
    }
    got
}

fn create_time(t: &TestSim, topic: &str, partition: i32, offsets: std::ops::Range<i64>) -> Vec<Got> {
    let epoch = t.sim().epoch_ms();
    offsets
        .map(|o| Got {
            offset: o,
            timestamp: Timestamp::CreateTime(epoch + produced_ms(o)),
            key: o.to_string(),
            value: format!("{topic}/{partition}/{o}"),
        })
        .collect()
}

#[test]
fn plain_topic_from_the_middle_of_a_batch() {
    let t = start();
    for (partition, from) in [(0, 95), (1, 0), (2, 143)] {
        let c = reader(&t, "plain", partition, from);
        let n = (150 - from).min(20);
        let got = read(&c, n as usize);
        assert_eq!(got, create_time(&t, "plain", partition, from..from + n), "plain/{partition} from {from}");
    }
    // The formula is the model's.
    let model = t.sim().model().topic("plain").unwrap();
    for o in [0u64, 95, 99, 100, 149] {
        assert_eq!(model.produce_time_ms(1, o, 5_000), produced_ms(o as i64));
    }
    assert!(t.sim().request_counts().api("Fetch") >= 3);
}

#[test]
fn older_fetch_versions_by_topic_name() {
    // librdkafka 2.12 uses v16 (topic ids) by default; capped, v12 and v4 (topic names).
    for max in [12, 4] {
        let t = start();
        t.sim().cap_version(ApiKey::Fetch, max);
        let c = reader(&t, "plain", 1, 97);
        assert_eq!(read(&c, 10), create_time(&t, "plain", 1, 97..107), "fetch v{max}");
    }
}

#[test]
fn compressed_topics() {
    let t = start();
    for (topic, from) in [("gzipped", 96), ("snappy", 33), ("lz4", 101)] {
        let c = reader(&t, topic, 0, from);
        let got = read(&c, 25);
        assert_eq!(got, create_time(&t, topic, 0, from..from + 25), "{topic} from {from}");
    }
}

#[test]
fn log_append_time_is_the_batch_append_time() {
    let t = start();
    let epoch = t.sim().epoch_ms();
    let c = reader(&t, "appended", 1, 97);
    let got = read(&c, 30);
    let want: Vec<Got> = (97..127)
        .map(|o| Got {
            offset: o,
            // Batches of 5 offsets; the append time is the produce time of the batch's last one.
            timestamp: Timestamp::LogAppendTime(epoch + produced_ms(o - o % 5 + 4)),
            key: o.to_string(),
            value: format!("appended/1/{o}"),
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn waits_at_the_high_watermark_until_the_clock_moves() {
    let t = start();
    let c = reader(&t, "plain", 0, 145);
    assert_eq!(read(&c, 5), create_time(&t, "plain", 0, 145..150));
    // Nothing past the high watermark, and no error either.
    let quiet_until = Instant::now() + Duration::from_millis(800);
    while Instant::now() < quiet_until {
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            panic!("nothing expected at the high watermark, got {:?}", m.map(|m| m.offset()));
        }
    }
    let before = t.sim().request_counts().api("Fetch");
    assert!(before >= 2, "the consumer keeps fetching: {before}");
    // One more second: ten new messages (a batch that grew from 150 to 160).
    t.clock.set(AT + Duration::from_secs(1));
    assert_eq!(read(&c, 10), create_time(&t, "plain", 0, 150..160));
}

#[test]
fn out_of_range_offset_resets_per_auto_offset_reset() {
    let t = start();
    let c =
        consumer(t.sim(), "fetch-test", &[("isolation.level", "read_uncommitted"), ("auto.offset.reset", "earliest")]);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("plain", 2, Offset::Offset(1_000)).unwrap();
    c.assign(&tpl).unwrap();
    // OFFSET_OUT_OF_RANGE: librdkafka resets to the log start (via ListOffsets) and reads from 0.
    let got = read(&c, 3);
    assert_eq!(got, create_time(&t, "plain", 2, 0..3));
}

#[test]
fn transactional_topic_skips_commit_markers() {
    let t = start();
    // Runs of 5 offsets: 4 records of one transaction, then its commit marker (o mod 5 = 4).
    let data = |range: std::ops::Range<i64>| -> Vec<Got> {
        create_time(&t, "txn", 0, range).into_iter().filter(|g| g.offset % 5 != 4).collect()
    };
    let want = data(97..150);
    let c = reader_with(&t, "txn", 0, 97, "read_uncommitted");
    assert_eq!(read(&c, want.len()), want);
    // read_committed stops at the last stable offset (hw 150 − lso_gap 3).
    let want = data(97..147);
    let c = reader_with(&t, "txn", 0, 97, "read_committed");
    assert_eq!(read(&c, want.len()), want);
    let quiet_until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < quiet_until {
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            panic!("nothing expected past the last stable offset, got {:?}", m.map(|m| m.offset()));
        }
    }
}

/// One raw Fetch v12 from broker 0 (leader of plain/0 and plain/2) at offset 95 of both.
fn raw_fetch(t: &TestSim, limits: [i32; 2]) -> [bytes::Bytes; 2] {
    let mut raw = Raw::connect(t.sim().broker_addrs()[0]);
    let partitions = [0, 2]
        .iter()
        .zip(limits)
        .map(|(p, limit)| {
            FetchPartition::default().with_partition(*p).with_fetch_offset(95).with_partition_max_bytes(limit)
        })
        .collect();
    let topic =
        FetchTopic::default().with_topic(TopicName(StrBytes::from_static_str("plain"))).with_partitions(partitions);
    let req = FetchRequest::default().with_max_bytes(1 << 20).with_topics(vec![topic]);
    let resp: FetchResponse = raw.call(ApiKey::Fetch, 12, &req);
    let parts = &resp.responses[0].partitions;
    assert!(parts.iter().all(|p| p.error_code == 0 && p.high_watermark == 150));
    [parts[0].records.clone().unwrap(), parts[1].records.clone().unwrap()]
}

#[test]
fn raw_fetch_with_tiny_limits_reads_one_batch_header() {
    let t = start();
    let epoch = t.sim().epoch_ms();
    // 61-byte limits: the first partition still gets its whole first batch (offsets 90..100),
    // the second nothing, as a broker answers Fetch v3+.
    let [first, second] = raw_fetch(&t, [61, 61]);
    let batch = first.len();
    assert_eq!(i64::from_be_bytes(first[..8].try_into().unwrap()), 90);
    assert_eq!(i32::from_be_bytes(first[8..12].try_into().unwrap()) as usize, batch - 12);
    assert!(second.is_empty());
    // Limit 0 on the first partition: still its whole batch. One batch + 61 bytes on the second:
    // that batch whole, then the next batch cut to its 61-byte header.
    let [none, second] = raw_fetch(&t, [0, (batch + 61) as i32]);
    assert!(!none.is_empty(), "the first partition always gets a whole batch");
    assert_eq!(none.len(), batch);
    assert_eq!(second.len(), batch + 61);
    let h = &second[batch..];
    let i64_at = |i: usize| i64::from_be_bytes(h[i..i + 8].try_into().unwrap());
    assert_eq!(i64_at(0), 100, "base offset");
    assert_eq!(h[16], 2, "magic");
    assert_eq!(i16::from_be_bytes([h[21], h[22]]), 0, "attributes: CreateTime, uncompressed");
    assert_eq!(i32::from_be_bytes(h[23..27].try_into().unwrap()), 9, "last offset delta");
    assert_eq!((i64_at(27), i64_at(35)), (epoch + produced_ms(100), epoch + produced_ms(109)));
    assert_eq!(i32::from_be_bytes(h[57..61].try_into().unwrap()), 10, "record count");
}
