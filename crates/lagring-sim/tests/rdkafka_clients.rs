//! Real librdkafka clients (rdkafka 0.39, librdkafka 2.12) against the simulator: every value
//! read over the wire equals `expected_at(t)` for the manual clock's instant.

// Integration-test crate: helpers outside #[test] fns panic on failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Buf;
use common::{TIMEOUT, consumer, start_file};
use kafka_protocol::messages::ConsumerProtocolAssignment;
use kafka_protocol::protocol::Decodable;
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};

#[test]
fn metadata_lists_brokers_topics_and_round_robin_leaders() {
    let t = start_file("basic.yaml");
    let c = consumer(t.sim(), "probe", &[]);
    let md = c.fetch_metadata(None, TIMEOUT).unwrap();
    assert_eq!(md.brokers().len(), 3);
    let orders = md.topics().iter().find(|t| t.name() == "orders").unwrap();
    assert_eq!(orders.partitions().len(), 6);
    let leaders: Vec<i32> = orders.partitions().iter().map(|p| p.leader()).collect();
    assert_eq!(leaders, vec![0, 1, 2, 0, 1, 2]);
    assert_eq!(md.topics().len(), 3);
}

#[test]
fn group_list_has_states_members_and_assignments() {
    let t = start_file("basic.yaml");
    let c = consumer(t.sim(), "probe", &[]);
    let list = c.fetch_group_list(None, TIMEOUT).unwrap();
    let groups: BTreeMap<&str, _> = list.groups().iter().map(|g| (g.name(), g)).collect();
    assert_eq!(groups.len(), 9, "{:?}", groups.keys().collect::<Vec<_>>());
    assert_eq!(groups["empty"].state(), "Empty");
    assert!(groups["empty"].members().is_empty());
    let keeps = groups["keeps-up"];
    assert_eq!(keeps.state(), "Stable");
    assert_eq!(keeps.protocol_type(), "consumer");
    assert_eq!(keeps.members().len(), 2);
    let m0 = &keeps.members()[0];
    assert_eq!(m0.client_id(), "keeps-up-client-0");
    assert_eq!(m0.client_host(), "/10.0.0.1");
    let mut bytes = bytes::Bytes::copy_from_slice(m0.assignment().unwrap());
    let version = bytes.get_i16();
    let assignment = ConsumerProtocolAssignment::decode(&mut bytes, version).unwrap();
    let got: Vec<(String, Vec<i32>)> =
        assignment.assigned_partitions.iter().map(|tp| (tp.topic.0.to_string(), tp.partitions.clone())).collect();
    assert_eq!(got, vec![("orders".to_string(), vec![0, 2, 4])]);

    // Deleted groups disappear from the list.
    t.clock.set(Duration::from_secs(25));
    let list = c.fetch_group_list(None, TIMEOUT).unwrap();
    assert!(list.groups().iter().all(|g| g.name() != "deleted"));
    assert_eq!(list.groups().len(), 8);
}

fn committed(t: &common::TestSim, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
    let c = consumer(t.sim(), group, &[]);
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = c.committed_offsets(tpl, TIMEOUT).unwrap();
    (0..partitions)
        .map(|p| match got.find_partition(topic, p).unwrap().offset() {
            Offset::Offset(o) => Some(o),
            Offset::Invalid => None,
            other => panic!("unexpected offset {other:?}"),
        })
        .collect()
}

#[test]
fn committed_offsets_match_expected_for_every_behaviour() {
    let t = start_file("basic.yaml");
    for secs in [1u64, 4, 8] {
        let at = Duration::from_secs(secs);
        t.clock.set(at);
        let expected = t.sim().expected_at(at);
        for group in ["keeps-up", "lagging", "stalled", "stopped", "rewinder", "empty", "partial"] {
            let want: Vec<Option<i64>> =
                (0..6).map(|p| expected.groups[group].committed[&("orders".to_string(), p)]).collect();
            assert_eq!(committed(&t, group, "orders", 6), want, "group {group} at {secs}s");
        }
    }
    // Spot-check the formulas themselves at 8 s: hw = 1000 + 80.
    let e = t.sim().expected_at(Duration::from_secs(8));
    let o0 = ("orders".to_string(), 0);
    assert_eq!(e.partitions[&o0].high_watermark, 1080);
    assert_eq!(e.groups["stalled"].committed[&o0], Some(1020));
    assert_eq!(e.groups["rewinder"].committed[&o0], Some(1040));
    assert_eq!(e.groups["partial"].committed[&("orders".to_string(), 1)], None);
    // A deleted group has no offsets.
    t.clock.set(Duration::from_secs(21));
    assert_eq!(committed(&t, "deleted", "audit", 2), vec![None, None]);
}

#[test]
fn watermarks_and_read_committed_lso() {
    let t = start_file("basic.yaml");
    let at = Duration::from_millis(7_250);
    t.clock.set(at);
    let e = t.sim().expected_at(at);
    // librdkafka defaults to read_committed, so the plain reader opts out explicitly.
    let plain = consumer(t.sim(), "probe", &[("isolation.level", "read_uncommitted")]);
    let committed_reader = consumer(t.sim(), "probe", &[("isolation.level", "read_committed")]);
    for (topic, parts) in [("orders", 6), ("payments", 3), ("audit", 2)] {
        for p in 0..parts {
            let want = e.partitions[&(topic.to_string(), p)];
            let (low, high) = plain.fetch_watermarks(topic, p, TIMEOUT).unwrap();
            assert_eq!((low, high), (want.log_start, want.high_watermark), "{topic}/{p}");
            let (_, lso) = committed_reader.fetch_watermarks(topic, p, TIMEOUT).unwrap();
            assert_eq!(lso, want.last_stable, "{topic}/{p} read_committed");
        }
    }
    let pay = e.partitions[&("payments".to_string(), 0)];
    assert_eq!(pay.high_watermark - pay.last_stable, 5);
    assert_eq!(e.lag("txn-reader", "payments", 0, true), Some(15));
    assert_eq!(e.partitions[&("audit".to_string(), 1)].log_start, 300);
}

#[test]
fn offsets_for_times_finds_the_first_message_at_or_after() {
    let t = start_file("basic.yaml");
    t.clock.set(Duration::from_secs(10));
    let c = consumer(t.sim(), "probe", &[]);
    let epoch = t.sim().epoch_ms();
    let mut tpl = TopicPartitionList::new();
    // orders: 10 msg/s from t = 0 on top of 1000 initial messages: offset 1000 + k at (k+1)·100 ms.
    tpl.add_partition_offset("orders", 0, Offset::Offset(epoch + 2_050)).unwrap();
    tpl.add_partition_offset("orders", 1, Offset::Offset(epoch - 10)).unwrap();
    tpl.add_partition_offset("orders", 2, Offset::Offset(epoch + 60_000)).unwrap();
    let got = c.offsets_for_times(tpl, TIMEOUT).unwrap();
    assert_eq!(got.find_partition("orders", 0).unwrap().offset(), Offset::Offset(1020));
    assert_eq!(got.find_partition("orders", 1).unwrap().offset(), Offset::Offset(990));
    assert_eq!(got.find_partition("orders", 2).unwrap().offset(), Offset::End);
}

#[test]
fn counters_see_the_client_requests() {
    let t = start_file("basic.yaml");
    let c = consumer(t.sim(), "lagging", &[]);
    c.fetch_group_list(None, TIMEOUT).unwrap();
    c.fetch_watermarks("orders", 0, TIMEOUT).unwrap();
    let counts = t.sim().request_counts();
    assert!(counts.api("ApiVersions") >= 1, "{counts:?}");
    assert!(counts.api("Metadata") >= 1);
    assert_eq!(counts.api("ListGroups"), 3, "one per broker");
    assert!(counts.api("DescribeGroups") >= 3);
    assert!(counts.api("ListOffsets") >= 1);
}

#[test]
fn bursts_retention_and_topic_recreation() {
    let t = start_file("bursts.yaml");
    let c = consumer(t.sim(), "clicks-consumer", &[("isolation.level", "read_uncommitted")]);
    for secs in [5u64, 12, 29, 31] {
        let at = Duration::from_secs(secs);
        t.clock.set(at);
        let e = t.sim().expected_at(at);
        for p in 0..4 {
            let want = e.partitions[&("clicks".to_string(), p)];
            let got = c.fetch_watermarks("clicks", p, TIMEOUT).unwrap();
            assert_eq!(got, (want.log_start, want.high_watermark), "p{p} at {secs}s");
        }
    }
    // Recreated at 30 s: offsets restart below the old log start.
    let before = t.sim().expected_at(Duration::from_secs(29));
    let after = t.sim().expected_at(Duration::from_secs(31));
    let key = ("clicks".to_string(), 0);
    assert!(after.partitions[&key].high_watermark < before.partitions[&key].log_start);
    assert_eq!(after.partitions[&key].log_start, 0);
}
