//! Fault injection seen by clients: added latency, injected error codes, a broker that stops
//! answering for a period of scenario time.

// Integration-test crate: helpers outside #[test] fns panic on failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{Raw, TIMEOUT, consumer, start_file};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use rdkafka::TopicPartitionList;
use rdkafka::consumer::Consumer;

#[test]
fn latency_is_added_to_list_offsets() {
    let t = start_file("faults.yaml");
    let c = consumer(t.sim(), "g", &[]);
    c.fetch_metadata(None, TIMEOUT).unwrap();
    let started = Instant::now();
    c.fetch_watermarks("t", 0, TIMEOUT).unwrap();
    // Earliest and latest are two requests, each delayed by 300 ms.
    assert!(started.elapsed() >= Duration::from_millis(600), "{:?}", started.elapsed());
}

#[test]
fn injected_error_reaches_the_client() {
    let t = start_file("faults.yaml");
    let c = consumer(t.sim(), "g", &[]);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition("t", 0);
    let err = c.committed_offsets(tpl, TIMEOUT).unwrap_err();
    assert!(err.to_string().contains("Authorization"), "{err}");
    assert!(t.sim().request_counts().api("OffsetFetch") >= 1);
}

#[test]
fn broker_down_holds_requests_until_the_outage_ends() {
    let t = start_file("faults.yaml");
    t.clock.set(Duration::from_secs(15));
    let addrs = t.sim().broker_addrs();
    let mut up = Raw::connect(addrs[0]);
    let _: ApiVersionsResponse = up.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    let mut down = Raw::connect(addrs[1]);
    down.set_read_timeout(Duration::from_millis(300));
    down.send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    assert!(down.read_frame().is_err(), "broker 1 must be silent while down");
    t.clock.set(Duration::from_secs(20));
    down.set_read_timeout(TIMEOUT);
    assert!(down.read_frame().is_ok(), "answer arrives once the outage ends");
}

#[test]
fn error_fraction_is_the_same_on_every_run() {
    use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse};
    use kafka_protocol::protocol::StrBytes;
    let yaml = "seed: 9\nbrokers: 1\ntopics: [ { name: t, partitions: 1 } ]\n\
                groups: [ { name: g, topics: [t] } ]\n\
                faults: { errors: [ { api: OffsetFetch, code: 15, fraction: 0.5 } ] }";
    let pattern = || {
        let t = common::start(lagring_sim::Scenario::from_yaml(yaml).unwrap());
        let mut raw = Raw::connect(t.sim().broker_addrs()[0]);
        let req = OffsetFetchRequest::default().with_group_id(GroupId(StrBytes::from_static_str("g")));
        (0..40)
            .map(|_| raw.call::<_, OffsetFetchResponse>(ApiKey::OffsetFetch, 7, &req).error_code)
            .collect::<Vec<i16>>()
    };
    let first = pattern();
    assert_eq!(first, pattern());
    let failed = first.iter().filter(|c| **c == 15).count();
    assert!((10..=30).contains(&failed), "{failed} of 40 failed");
    assert!(first.iter().all(|c| *c == 0 || *c == 15));
}
