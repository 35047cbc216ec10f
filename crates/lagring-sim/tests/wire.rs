//! Wire-level checks with a raw kafka-protocol client: version negotiation, the batched and
//! multi-group request forms, routing errors, and unsupported APIs answered without dropping
//! the connection.

// Integration-test crate: helpers outside #[test] fns panic on failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use bytes::Buf;
use common::{Raw, start_file};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopics};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, StrBytes};
use std::time::Duration;

fn group(name: &str) -> GroupId {
    GroupId(StrBytes::from_string(name.to_string()))
}

#[test]
fn api_versions_advertises_supported_ranges_and_downgrades() {
    let t = start_file("basic.yaml");
    let mut raw = Raw::connect(t.sim().broker_addrs()[0]);
    let resp: ApiVersionsResponse = raw.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    assert_eq!(resp.error_code, 0);
    let offset_fetch = resp.api_keys.iter().find(|k| k.api_key == ApiKey::OffsetFetch as i16).unwrap();
    assert_eq!((offset_fetch.min_version, offset_fetch.max_version), (1, 9));
    assert_eq!(resp.api_keys.len(), lagring_sim::SUPPORTED.len());
    // A version newer than ours: v0-encoded UNSUPPORTED_VERSION with our ranges.
    let id = raw.send_as(ApiKey::ApiVersions, 3, 9, &ApiVersionsRequest::default());
    let mut frame = raw.read_frame().unwrap();
    assert_eq!(frame.get_i32(), id);
    let resp = ApiVersionsResponse::decode(&mut frame, 0).unwrap();
    assert_eq!(resp.error_code, ResponseError::UnsupportedVersion.code());
    assert!(!resp.api_keys.is_empty());
}

#[test]
fn unsupported_api_gets_an_error_and_the_connection_survives() {
    let t = start_file("basic.yaml");
    let mut raw = Raw::connect(t.sim().broker_addrs()[0]);
    let hb: HeartbeatResponse = raw.call(ApiKey::Heartbeat, 4, &HeartbeatRequest::default());
    assert_eq!(hb.error_code, ResponseError::UnsupportedVersion.code());
    let init: InitProducerIdResponse = raw.call(ApiKey::InitProducerId, 4, &InitProducerIdRequest::default());
    assert_eq!(init.error_code, ResponseError::UnsupportedVersion.code());
    // A supported API at an unsupported version (ListOffsets v8) still gets an answer.
    let id = raw.send_as(ApiKey::ListOffsets, 7, 8, &ListOffsetsRequest::default());
    let mut frame = raw.read_frame().unwrap();
    assert_eq!(frame.get_i32(), id);
    let md: MetadataResponse = raw.call(ApiKey::Metadata, 12, &MetadataRequest::default());
    assert_eq!(md.brokers.len(), 3);
    let counts = t.sim().request_counts();
    assert_eq!(counts.api("Heartbeat"), 1);
}

#[test]
fn find_coordinator_batched_form_matches_single_key_form() {
    let t = start_file("basic.yaml");
    let mut raw = Raw::connect(t.sim().broker_addrs()[0]);
    let keys: Vec<StrBytes> =
        ["keeps-up", "lagging", "stalled", "empty"].iter().map(|k| StrBytes::from_static_str(k)).collect();
    let batched: FindCoordinatorResponse =
        raw.call(ApiKey::FindCoordinator, 4, &FindCoordinatorRequest::default().with_coordinator_keys(keys.clone()));
    assert_eq!(batched.coordinators.len(), 4);
    for (key, coord) in keys.iter().zip(&batched.coordinators) {
        let single: FindCoordinatorResponse =
            raw.call(ApiKey::FindCoordinator, 2, &FindCoordinatorRequest::default().with_key(key.clone()));
        assert_eq!(coord.key, *key);
        assert_eq!((single.node_id, single.port), (coord.node_id, coord.port));
        assert_eq!(coord.node_id.0, t.sim().model().coordinator_for_key(key.as_str()));
    }
}

#[test]
fn offset_fetch_multi_group_form_and_coordinator_routing() {
    let t = start_file("basic.yaml");
    t.clock.set(Duration::from_secs(3));
    let e = t.sim().expected_at(Duration::from_secs(3));
    let model = t.sim().model();
    let names = ["lagging", "partial", "empty", "stalled"];
    let coord = model.coordinator_for_key("lagging");
    let mut raw = Raw::connect(t.sim().broker_addrs()[coord as usize]);
    let groups = names
        .iter()
        .map(|g| {
            let topics = (*g == "partial").then(|| {
                vec![
                    OffsetFetchRequestTopics::default()
                        .with_name(TopicName(StrBytes::from_static_str("orders")))
                        .with_partition_indexes(vec![0, 1]),
                ]
            });
            OffsetFetchRequestGroup::default().with_group_id(group(g)).with_topics(topics)
        })
        .collect();
    let resp: OffsetFetchResponse =
        raw.call(ApiKey::OffsetFetch, 9, &OffsetFetchRequest::default().with_groups(groups));
    assert_eq!(resp.groups.len(), 4);
    for g in &resp.groups {
        let name = g.group_id.0.as_str();
        if model.coordinator_for_key(name) != coord {
            assert_eq!(g.error_code, ResponseError::NotCoordinator.code(), "{name}");
            continue;
        }
        assert_eq!(g.error_code, 0);
        for topic in &g.topics {
            for p in &topic.partitions {
                let want = e.groups[name].committed[&(topic.name.0.to_string(), p.partition_index)];
                assert_eq!(Some(p.committed_offset).filter(|o| *o >= 0), want, "{name}");
            }
        }
        if name == "partial" {
            let offsets: Vec<i64> = g.topics[0].partitions.iter().map(|p| p.committed_offset).collect();
            assert_eq!(offsets[1], -1, "never committed partition");
        }
        if name == "empty" {
            let topics: Vec<&str> = g.topics.iter().map(|t| t.name.0.as_str()).collect();
            assert_eq!(topics, vec!["orders", "audit"]);
        }
    }
}

#[test]
fn list_offsets_answers_only_for_led_partitions() {
    let t = start_file("basic.yaml");
    let mut raw = Raw::connect(t.sim().broker_addrs()[0]);
    let partitions = (0..6)
        .map(|p| list_offsets_request::ListOffsetsPartition::default().with_partition_index(p).with_timestamp(-1))
        .collect();
    let req = ListOffsetsRequest::default().with_topics(vec![
        list_offsets_request::ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("orders")))
            .with_partitions(partitions),
    ]);
    let resp: ListOffsetsResponse = raw.call(ApiKey::ListOffsets, 7, &req);
    let errors: Vec<i16> = resp.topics[0].partitions.iter().map(|p| p.error_code).collect();
    let nl = ResponseError::NotLeaderOrFollower.code();
    assert_eq!(errors, vec![0, nl, nl, 0, nl, nl]);
    assert_eq!(resp.topics[0].partitions[0].offset, 1000);
}
