//! Property tests of every response decoder the native client runs on broker bytes: random
//! bytes, and valid responses (encoded with kafka-protocol at every version the client speaks)
//! with bytes flipped, the frame cut, and 32-bit or varint length fields overwritten with huge
//! values. Each decode must return `Ok` or `Err`, never panic, and never allocate far beyond its
//! input: the suite runs in a child process whose address space is capped (`prlimit --as`), where
//! one of the 64 GiB pre-allocations the unpatched codec made aborts the child and fails the test.
//! 256 cases per decoder and input kind.

use std::process::Command;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, HeaderVersion, Request, StrBytes};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::record_batch::{MAX_BATCHES_PER_ANSWER, encoded_batch, parse_batches};
use super::versions::Versions;
use super::wire::decode_response;

/// The child's address-space cap: far above what decoding a few KiB needs (the test binary's
/// threads and allocator arenas included), far below one 64 GiB or even 4 GiB allocation.
const CHILD_ADDRESS_SPACE: &str = "2147483648";
const CHILD_ENV: &str = "LAGRING_FUZZ_CHILD";
const CASES: u32 = 256;

/// One way to spoil a valid frame.
#[derive(Clone, Debug)]
enum Mutation {
    Flip {
        at: usize,
        xor: u8,
    },
    Truncate {
        to: usize,
    },
    /// An `INT32` length of 2^31 − 1 (or −2 for nullable fields' neighbours) at a position.
    HugeInt32 {
        at: usize,
        value: i32,
    },
    /// An unsigned varint of 2^32 − 1 (compact lengths) at a position.
    HugeVarint {
        at: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, xor)| Mutation::Flip { at, xor }),
        any::<usize>().prop_map(|to| Mutation::Truncate { to }),
        (any::<usize>(), prop_oneof![Just(i32::MAX), Just(i32::MIN), Just(-2), Just(0x4000_0000)])
            .prop_map(|(at, value)| Mutation::HugeInt32 { at, value }),
        any::<usize>().prop_map(|at| Mutation::HugeVarint { at }),
    ]
}

fn mutate(frame: &[u8], mutations: &[Mutation]) -> Bytes {
    let mut bytes = frame.to_vec();
    for m in mutations {
        let len = bytes.len().max(1);
        match *m {
            Mutation::Flip { at, xor } => {
                if let Some(b) = bytes.get_mut(at % len) {
                    *b ^= xor;
                }
            }
            Mutation::Truncate { to } => bytes.truncate(to % len),
            Mutation::HugeInt32 { at, value } => overwrite(&mut bytes, at % len, &value.to_be_bytes()),
            Mutation::HugeVarint { at } => overwrite(&mut bytes, at % len, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        }
    }
    Bytes::from(bytes)
}

fn overwrite(bytes: &mut [u8], at: usize, with: &[u8]) {
    for (b, w) in bytes.iter_mut().skip(at).zip(with) {
        *b = *w;
    }
}

/// A response frame as the connection hands it over: response header, then body.
fn frame<R: Request>(response: &R::Response, version: i16) -> Option<Bytes> {
    let mut buf = BytesMut::new();
    let header = ResponseHeader::default().with_correlation_id(7);
    header.encode(&mut buf, <R::Response as HeaderVersion>::header_version(version)).ok()?;
    response.encode(&mut buf, version).ok()?;
    Some(buf.freeze())
}

/// Valid frames of `R` at each version of `versions`, from `samples` (those a version cannot
/// carry are skipped).
fn valid<R: Request>(versions: std::ops::RangeInclusive<i16>, samples: &[R::Response]) -> Vec<(i16, Bytes)> {
    versions.flat_map(|v| samples.iter().filter_map(move |s| frame::<R>(s, v).map(|f| (v, f)))).collect()
}

/// Runs the client's decoder of `R` on random and on mutated valid frames.
fn fuzz<R: Request>(name: &str, versions: std::ops::RangeInclusive<i16>, samples: &[R::Response]) {
    fuzz_with(name, versions.clone(), valid::<R>(versions, samples), |frame, version| {
        let _ = decode_response::<R>(frame, version);
    });
}

fn fuzz_with(
    name: &str,
    versions: std::ops::RangeInclusive<i16>,
    valid: Vec<(i16, Bytes)>,
    decode: impl Fn(Bytes, i16),
) {
    assert!(!valid.is_empty(), "{name}: no valid sample encodes");
    let config = Config { cases: CASES, failure_persistence: None, ..Config::default() };
    let random = (proptest::collection::vec(any::<u8>(), 0..512), versions);
    TestRunner::new(config.clone())
        .run(&random, |(bytes, version)| {
            decode(Bytes::from(bytes), version);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{name}, random bytes: {e}"));
    let count = valid.len();
    let mutated = (0..count, proptest::collection::vec(mutation(), 1..4));
    TestRunner::new(config)
        .run(&mutated, |(i, mutations)| {
            let (version, frame) = &valid[i];
            decode(mutate(frame, &mutations), *version);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{name}, mutated: {e}"));
}

fn s(text: &'static str) -> StrBytes {
    StrBytes::from_static_str(text)
}

fn records() -> Bytes {
    let mut bytes = encoded_batch(10, 3, 1_000);
    bytes.extend(encoded_batch(13, 2, 2_000));
    Bytes::from(bytes)
}

fn run_all() {
    let api_versions = ApiVersionsResponse::default().with_api_keys(
        (0..3).map(|k| ApiVersion::default().with_api_key(k).with_min_version(0).with_max_version(9)).collect(),
    );
    let valid_versions: Vec<(i16, Bytes)> =
        (0..=3).filter_map(|v| frame::<ApiVersionsRequest>(&api_versions, v).map(|f| (v, f))).collect();
    // The client reads ApiVersions without its header (always v0: the correlation id).
    fuzz_with("api versions", 0..=3, valid_versions, |frame, version| {
        let _ = Versions::decode(frame.slice(4.min(frame.len())..), version);
    });

    let broker = MetadataResponseBroker::default().with_node_id(BrokerId(1)).with_host(s("b1")).with_port(9092);
    let partition = MetadataResponsePartition::default().with_partition_index(0).with_leader_id(BrokerId(1));
    let topic = MetadataResponseTopic::default()
        .with_name(Some(TopicName(s("t"))))
        .with_partitions(vec![partition.clone(), partition.with_partition_index(1)]);
    let metadata = MetadataResponse::default().with_brokers(vec![broker]).with_topics(vec![topic]);
    fuzz::<MetadataRequest>("metadata", 1..=12, &[MetadataResponse::default(), metadata]);

    let coordinator = Coordinator::default().with_key(s("g")).with_node_id(BrokerId(1)).with_host(s("b1"));
    let coordinators = FindCoordinatorResponse::default().with_coordinators(vec![coordinator.clone(), coordinator]);
    let single = FindCoordinatorResponse::default().with_node_id(BrokerId(1)).with_host(s("b1")).with_port(9092);
    fuzz::<FindCoordinatorRequest>("find coordinator", 0..=6, &[single, coordinators]);

    let groups = ListGroupsResponse::default()
        .with_groups(vec![ListedGroup::default().with_group_id(GroupId(s("a"))).with_protocol_type(s("consumer"))]);
    fuzz::<ListGroupsRequest>("list groups", 0..=5, &[ListGroupsResponse::default(), groups]);

    use kafka_protocol::messages::{
        consumer_group_describe_response as cgd, describe_groups_response as dg,
        describe_share_group_offsets_response as dsgo, list_offsets_response as lo, offset_fetch_response as of,
        share_group_describe_response as sgd,
    };
    let member = dg::DescribedGroupMember::default().with_member_id(s("m1")).with_client_id(s("c"));
    let described =
        dg::DescribedGroup::default().with_group_id(GroupId(s("g"))).with_members(vec![member.clone(), member]);
    fuzz::<DescribeGroupsRequest>(
        "describe groups",
        0..=5,
        &[DescribeGroupsResponse::default().with_groups(vec![described])],
    );

    let assigned = cgd::TopicPartitions::default().with_topic_name(TopicName(s("t"))).with_partitions(vec![0, 1, 2]);
    let member = cgd::Member::default()
        .with_member_id(s("m1"))
        .with_subscribed_topic_names(vec![TopicName(s("t"))])
        .with_assignment(cgd::Assignment::default().with_topic_partitions(vec![assigned]));
    let group = cgd::DescribedGroup::default().with_group_id(GroupId(s("g"))).with_members(vec![member]);
    let consumer = ConsumerGroupDescribeResponse::default().with_groups(vec![group]);
    fuzz::<ConsumerGroupDescribeRequest>("consumer group describe", 0..=1, &[consumer]);

    let assigned = sgd::TopicPartitions::default().with_topic_name(TopicName(s("t"))).with_partitions(vec![0, 1]);
    let member = sgd::Member::default()
        .with_member_id(s("m1"))
        .with_assignment(sgd::Assignment::default().with_topic_partitions(vec![assigned]));
    let group = sgd::DescribedGroup::default().with_group_id(GroupId(s("g"))).with_members(vec![member]);
    let share = ShareGroupDescribeResponse::default().with_groups(vec![group]);
    fuzz::<ShareGroupDescribeRequest>("share group describe", 1..=1, &[share]);

    let partition = dsgo::DescribeShareGroupOffsetsResponsePartition::default().with_partition_index(3);
    let topic = dsgo::DescribeShareGroupOffsetsResponseTopic::default()
        .with_topic_name(TopicName(s("t")))
        .with_partitions(vec![partition]);
    let group =
        dsgo::DescribeShareGroupOffsetsResponseGroup::default().with_group_id(GroupId(s("g"))).with_topics(vec![topic]);
    let share_offsets = DescribeShareGroupOffsetsResponse::default().with_groups(vec![group]);
    fuzz::<DescribeShareGroupOffsetsRequest>("describe share group offsets", 0..=1, &[share_offsets]);

    use kafka_protocol::messages::streams_group_describe_response as stgd;
    let tasks = stgd::TaskIds::default().with_subtopology_id(s("0")).with_partitions(vec![0, 1]);
    let member = stgd::Member::default()
        .with_member_id(s("m"))
        .with_assignment(stgd::Assignment::default().with_active_tasks(vec![tasks]));
    let topology = stgd::Topology::default().with_subtopologies(Some(vec![stgd::Subtopology::default()]));
    let group = stgd::DescribedGroup::default()
        .with_group_id(GroupId(s("g")))
        .with_topology(Some(topology))
        .with_members(vec![member]);
    let streams = kafka_protocol::messages::StreamsGroupDescribeResponse::default().with_groups(vec![group]);
    fuzz::<kafka_protocol::messages::StreamsGroupDescribeRequest>("streams group describe", 0..=0, &[streams]);

    // OffsetFetch: v2–7 answer one group at the top level, v8+ a list of groups.
    let single = of::OffsetFetchResponseTopic::default()
        .with_name(TopicName(s("t")))
        .with_partitions(vec![of::OffsetFetchResponsePartition::default().with_partition_index(0)]);
    let batched = of::OffsetFetchResponseTopics::default()
        .with_name(TopicName(s("t")))
        .with_partitions(vec![of::OffsetFetchResponsePartitions::default().with_partition_index(0)]);
    let group = of::OffsetFetchResponseGroup::default().with_group_id(GroupId(s("g"))).with_topics(vec![batched]);
    let offsets = [
        OffsetFetchResponse::default().with_topics(vec![single]),
        OffsetFetchResponse::default().with_groups(vec![group]),
    ];
    fuzz::<OffsetFetchRequest>("offset fetch", 2..=9, &offsets);

    let partition = lo::ListOffsetsPartitionResponse::default().with_partition_index(0).with_offset(42);
    let topic = lo::ListOffsetsTopicResponse::default()
        .with_name(TopicName(s("t")))
        .with_partitions(vec![partition.clone(), partition.with_partition_index(1)]);
    fuzz::<ListOffsetsRequest>("list offsets", 2..=10, &[ListOffsetsResponse::default().with_topics(vec![topic])]);
    fuzz::<SaslHandshakeRequest>("sasl handshake", 1..=1, &[SaslHandshakeResponse::default()]);
    fuzz::<SaslAuthenticateRequest>(
        "sasl authenticate",
        0..=2,
        &[SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from_static(b"r=abc,s=c2FsdA==,i=4096"))],
    );

    let data = PartitionData::default().with_partition_index(0).with_records(Some(records()));
    let fetch = FetchResponse::default().with_responses(vec![
        FetchableTopicResponse::default().with_topic(TopicName(s("t"))).with_partitions(vec![data]),
    ]);
    let valid_fetch = valid::<FetchRequest>(4..=11, &[fetch]);
    fuzz_with("fetch", 4..=11, valid_fetch, |frame, version| {
        let Ok(response) = decode_response::<FetchRequest>(frame, version) else { return };
        for partition in response.responses.iter().flat_map(|t| &t.partitions) {
            if let Ok(batches) = parse_batches(partition.records.as_deref().unwrap_or_default()) {
                assert!(batches.len() <= MAX_BATCHES_PER_ANSWER);
            }
        }
    });

    // The record-batch parser alone, on random and on mutated valid batches.
    let valid_records = vec![(0, records())];
    fuzz_with("record batches", 0..=0, valid_records, |bytes, _| {
        if let Ok(batches) = parse_batches(&bytes) {
            assert!(batches.len() <= MAX_BATCHES_PER_ANSWER);
        }
    });

    // The SCRAM server-first check runs on broker bytes too.
    let scram = vec![(0, Bytes::from_static(b"r=abc,s=c2FsdA==,i=4096"))];
    fuzz_with("scram server-first", 0..=0, scram, |bytes, _| {
        let _ = lagring_scram::check_server_first(&bytes);
    });
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status.lines().find(|l| l.starts_with("VmHWM")).unwrap_or("VmHWM unknown");
    println!("fuzz child peak resident memory: {peak}");
}

#[test]
fn every_decoder_survives_random_and_mutated_answers_in_bounded_memory() {
    if std::env::var_os(CHILD_ENV).is_some() {
        run_all();
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let test = "native::fuzz_tests::every_decoder_survives_random_and_mutated_answers_in_bounded_memory";
    let started = std::time::Instant::now();
    let output = Command::new("prlimit")
        .arg(format!("--as={CHILD_ADDRESS_SPACE}"))
        .arg("--")
        .arg(exe)
        .args([test, "--exact", "--test-threads=1", "--nocapture"])
        .env(CHILD_ENV, "1")
        .output();
    let Ok(output) = output else {
        // No prlimit (util-linux) here: run in-process, still catching panics, without the cap.
        eprintln!("prlimit not found: decoding without an address-space cap");
        run_all();
        return;
    };
    println!("fuzz child: {:?} in {:?}", output.status, started.elapsed());
    let stdout = String::from_utf8_lossy(&output.stdout);
    if let Some(peak) = stdout.lines().find(|l| l.contains("peak resident memory")) {
        println!("{peak}");
    }
    assert!(
        output.status.success(),
        "fuzz child failed ({:?}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("1 passed"), "the child ran the suite: {stdout}");
}

#[test]
fn a_two_to_the_31_element_count_is_an_error_not_an_allocation() {
    // ApiVersions v0: error 0, api_keys count 2^31 − 1, nothing after. Unpatched, this asked
    // the allocator for 64 GiB and aborted the process.
    let body = Bytes::from_static(&[0, 0, 0x7f, 0xff, 0xff, 0xff]);
    assert!(Versions::decode(body, 0).is_err());
    // v3, compact: count 2^31.
    let body = Bytes::from_static(&[0, 0, 0x81, 0x80, 0x80, 0x80, 0x08]);
    assert!(Versions::decode(body, 3).is_err());
    let mut frame = BytesMut::new();
    frame.put_i32(7);
    frame.put_slice(&[0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]);
    assert!(decode_response::<MetadataRequest>(frame.freeze(), 1).is_err());
}
