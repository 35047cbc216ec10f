//! The built-in scale generator: 50,000 groups start quickly and are all listed over the wire;
//! committed offsets and end offsets come from formulas.

// Integration-test crate: helpers outside #[test] fns panic on failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{Raw, start};
use kafka_protocol::messages::{ApiKey, GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse};
use kafka_protocol::protocol::StrBytes;
use lagring_sim::ScaleSpec;

#[test]
fn fifty_thousand_groups_start_fast_and_are_listed() {
    let spec = ScaleSpec::parse("groups=50000,topics=100,partitions=10").unwrap();
    let started = Instant::now();
    let t = start(spec.scenario());
    let startup = started.elapsed();
    assert!(startup < Duration::from_secs(3), "startup took {startup:?}");

    let mut total = 0;
    for addr in t.sim().broker_addrs() {
        let mut raw = Raw::connect(addr);
        let resp: ListGroupsResponse = raw.call(ApiKey::ListGroups, 4, &ListGroupsRequest::default());
        total += resp.groups.len();
    }
    assert_eq!(total, 50_000);

    t.clock.set(Duration::from_secs(30));
    let name = "group-012345";
    let coordinator = t.sim().model().coordinator_for_key(name);
    let mut raw = Raw::connect(t.sim().broker_addrs()[coordinator as usize]);
    let req = OffsetFetchRequest::default().with_group_id(GroupId(StrBytes::from_static_str(name))).with_topics(None);
    let resp: OffsetFetchResponse = raw.call(ApiKey::OffsetFetch, 7, &req);
    let e = t.sim().model().expected_at(Duration::from_secs(30));
    let group = &e.groups[name];
    let got: usize = resp.topics.iter().map(|t| t.partitions.len()).sum();
    assert_eq!(got, group.committed.values().filter(|c| c.is_some()).count());
    for topic in &resp.topics {
        for p in &topic.partitions {
            let key = (topic.name.0.to_string(), p.partition_index);
            assert_eq!(Some(p.committed_offset), group.committed[&key]);
        }
    }
}
