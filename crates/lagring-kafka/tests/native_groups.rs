//! Every Kafka 4.x group type through the native client against the in-process simulator (real
//! wire protocol): ListGroups reports each group's exact type and state; the describe call gives
//! state and member count through DescribeGroups (classic), ConsumerGroupDescribe (KIP-848) and
//! ShareGroupDescribe (KIP-932) and StreamsGroupDescribe (KIP-1071), one request per coordinator; share-partition start offsets come
//! from one DescribeShareGroupOffsets per coordinator, exactly as the model has them; a streams
//! group's commits come through OffsetFetch and a share group has none there.

// Test code: a panic with a message is the failure report.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use lagring_core::model::TopicPartition;
use lagring_kafka::{
    ApiCounts, ClientKind, GroupDescription, GroupListing, GroupType, KafkaClient, KafkaConnection, KafkaError,
    NativeOptions,
};
use lagring_sim::{Clock, Expected, Scenario, Sim, SimHandle};

/// One group of every type and of every state of its type, plus enough groups of each type
/// that most coordinators hold several (so batching per coordinator shows in the counts).
const SCENARIO: &str = r#"
brokers: 3
topics:
  - { name: a, partitions: 3, initial_messages: 100, produce: { constant: 10.0 } }
  - { name: b, partitions: 2, initial_messages: 50 }
groups:
  - { name: classic-stable, topics: [a], members: 2 }
  - { name: classic-empty, topics: [a], members: 0 }
  - { name: classic-preparing, topics: [a, b], state: preparing_rebalance }
  - { name: classic-completing, topics: [b], members: 2, state: completing_rebalance }
  - { name: classic-dead, topics: [a], members: 0, state: dead }
  - { name: classic-more-1, topics: [b], behaviour: { lags_by: 3 } }
  - { name: classic-more-2, topics: [b], members: 3 }
  - { name: kip848, type: consumer, topics: [a], members: 3 }
  - { name: kip848-assigning, type: consumer, topics: [a], state: assigning }
  - { name: kip848-reconciling, type: consumer, topics: [a, b], members: 2, state: reconciling }
  - { name: kip848-empty, type: consumer, topics: [a], members: 0 }
  - { name: kip848-dead, type: consumer, topics: [a], members: 0, state: dead }
  - { name: kip848-more, type: consumer, topics: [b], members: 2 }
  - { name: share, type: share, topics: [a, b], members: 2, behaviour: { lags_by: 30 }, never_committed: { b: [1] } }
  - { name: share-empty, type: share, topics: [a], members: 0, behaviour: { stalls: 10s } }
  - { name: share-dead, type: share, topics: [a], members: 0, state: dead }
  - { name: share-more-1, type: share, topics: [b], behaviour: { lags_by: 7 } }
  - { name: share-more-2, type: share, topics: [a] }
  - { name: streams, type: streams, topics: [a], behaviour: { lags_by: 5 } }
  - { name: streams-reconciling, type: streams, topics: [b], members: 2, state: reconciling }
"#;

async fn start() -> SimHandle {
    let (clock, manual) = Clock::manual();
    manual.set(Duration::from_secs(30));
    Sim::start(Scenario::from_yaml(SCENARIO).unwrap(), clock).await.unwrap()
}

fn native(sim: &SimHandle) -> KafkaClient {
    let conn = KafkaConnection::plaintext(sim.bootstrap());
    KafkaClient::new("sim", &conn, ClientKind::Native(NativeOptions::default())).unwrap()
}

fn group_type(name: &str) -> GroupType {
    GroupType::parse(name)
}

/// Distinct coordinators of the model's groups of `wanted` type.
fn coordinators(sim: &SimHandle, e: &Expected, wanted: &str) -> u64 {
    let nodes: BTreeSet<i32> =
        e.groups.iter().filter(|(_, g)| g.group_type == wanted).map(|(n, _)| sim.coordinator_of(n)).collect();
    nodes.len() as u64
}

async fn listing(client: &KafkaClient) -> Vec<GroupListing> {
    let mut groups = client.list_groups().await.unwrap();
    groups.sort_by(|a, b| a.group.cmp(&b.group));
    groups
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_group_is_listed_with_its_exact_type_and_state() {
    let sim = start().await;
    let client = native(&sim);
    let expected = sim.expected_now();
    let listed: Vec<(String, GroupType, String)> =
        listing(&client).await.into_iter().map(|g| (g.group.to_string(), g.group_type, g.state)).collect();
    let want: Vec<(String, GroupType, String)> =
        expected.groups.iter().map(|(n, g)| (n.clone(), group_type(g.group_type), g.state.to_string())).collect();
    assert_eq!(listed, want);
    // Spot-check the model itself, so a model bug cannot hide behind the comparison.
    let of = |name: &str| listed.iter().find(|(n, _, _)| n == name).map(|(_, t, s)| (*t, s.clone())).unwrap();
    assert_eq!(of("classic-preparing"), (GroupType::Classic, "PreparingRebalance".to_owned()));
    assert_eq!(of("kip848-assigning"), (GroupType::Consumer, "Assigning".to_owned()));
    assert_eq!(of("share-dead"), (GroupType::Share, "Dead".to_owned()));
    assert_eq!(of("streams-reconciling"), (GroupType::Streams, "Reconciling".to_owned()));
    assert_eq!(listed.len(), 20);
    // One ListGroups per broker, no more.
    assert_eq!(sim.request_counts().api("ListGroups"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_gives_state_and_members_in_one_request_per_coordinator_and_type() {
    let sim = start().await;
    let client = native(&sim);
    let expected = sim.expected_now();
    let groups = listing(&client).await;
    let before = sim.request_counts();
    let mut asked = groups.clone();
    asked.push(groups[0].clone());
    let described = client.describe_groups_until(asked, 8, None).await;
    let after = sim.request_counts();

    let names: Vec<&str> = described.iter().map(|(g, _)| &**g).collect();
    assert_eq!(names, expected.groups.keys().map(String::as_str).collect::<Vec<_>>(), "once each, in input order");
    let mut got: BTreeMap<String, GroupDescription> =
        described.into_iter().map(|(g, d)| (g.to_string(), d.unwrap())).collect();
    // Partition owners: every partition of a stable group's topics has exactly one member,
    // named by client id and host; a group between assignments names nobody.
    let owned = |g: &GroupDescription| -> Vec<(String, i32)> {
        g.owners.iter().map(|o| (o.tp.topic.to_string(), o.tp.partition)).collect()
    };
    let all_of_a = vec![("a".to_owned(), 0), ("a".to_owned(), 1), ("a".to_owned(), 2)];
    for name in ["classic-stable", "kip848", "streams"] {
        assert_eq!(owned(&got[name]), all_of_a, "{name}: one owner per partition");
        for o in &got[name].owners {
            assert!(o.client_id.starts_with(&format!("{name}-client-")), "{name}: {o:?}");
            assert!(o.host.starts_with("/10.0."), "{name}: {o:?}");
        }
    }
    let clients: BTreeSet<&str> = got["classic-stable"].owners.iter().map(|o| &*o.client_id).collect();
    assert_eq!(clients.len(), 2, "both members of classic-stable own partitions");
    for name in ["classic-preparing", "classic-completing", "classic-empty", "share"] {
        assert_eq!(owned(&got[name]), vec![], "{name} names no owner");
    }
    // Members with their partitions: the model deals (topic, partition) pairs round-robin.
    let members = |name: &str| -> Vec<(String, String, String, usize)> {
        let m = got[name].member_assignments.iter();
        m.map(|m| (m.member_id.to_string(), m.client_id.to_string(), m.host.to_string(), m.partitions.len())).collect()
    };
    let member = |g: &str, i: usize, host: &str, n: usize| {
        (format!("{g}-member-{i}"), format!("{g}-client-{i}"), host.to_owned(), n)
    };
    assert_eq!(
        members("classic-stable"),
        vec![member("classic-stable", 0, "/10.0.0.1", 2), member("classic-stable", 1, "/10.0.0.2", 1)]
    );
    assert_eq!(members("share"), vec![member("share", 0, "/10.0.0.1", 3), member("share", 1, "/10.0.0.2", 2)]);
    assert_eq!(members("streams"), vec![member("streams", 0, "/10.0.0.1", 3)], "its tasks read a-0..a-2");
    assert_eq!(
        members("classic-preparing").iter().map(|m| m.3).collect::<Vec<_>>(),
        vec![0],
        "no assignment while rebalancing"
    );
    for g in got.values_mut() {
        g.owners.clear();
        g.member_assignments.clear();
    }
    let want: BTreeMap<String, GroupDescription> = expected
        .groups
        .iter()
        .map(|(n, g)| {
            let group_type = group_type(g.group_type);
            let members = Some(g.members);
            let state = g.state.to_string();
            let (owners, member_assignments) = (Vec::new(), Vec::new());
            (n.clone(), GroupDescription { group_type, state, members, owners, member_assignments })
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(got["classic-completing"].members, Some(2));
    assert_eq!(got["kip848"].members, Some(3));
    assert_eq!(got["share"].members, Some(2));
    assert_eq!(got["kip848-dead"].members, Some(0));
    assert_eq!(got["streams-reconciling"].members, Some(2));

    let sent = |api: &str| after.api(api) - before.api(api);
    assert_eq!(sent("DescribeGroups"), coordinators(&sim, &expected, "classic"));
    assert_eq!(sent("ConsumerGroupDescribe"), coordinators(&sim, &expected, "consumer"));
    assert_eq!(sent("ShareGroupDescribe"), coordinators(&sim, &expected, "share"));
    assert_eq!(sent("StreamsGroupDescribe"), coordinators(&sim, &expected, "streams"));
    assert_eq!(sent("OffsetFetch"), 0);
    assert_eq!(sent("DescribeShareGroupOffsets"), 0);
    assert!(coordinators(&sim, &expected, "classic") >= 2, "the scenario spreads classic groups");
    // The client counts the same requests.
    let describes = sent("DescribeGroups")
        + sent("ConsumerGroupDescribe")
        + sent("ShareGroupDescribe")
        + sent("StreamsGroupDescribe");
    assert_eq!(client.stats().describe_groups, ApiCounts { requests: describes, errors: 0 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_group_start_offsets_are_exact_in_one_request_per_coordinator() {
    let sim = start().await;
    let client = native(&sim);
    let expected = sim.expected_now();
    let share: Vec<Arc<str>> =
        expected.groups.iter().filter(|(_, g)| g.group_type == "share").map(|(n, _)| Arc::from(n.as_str())).collect();
    let before = sim.request_counts();
    let starts = client.share_group_offsets_until(share.clone(), 8, None).await;
    let after = sim.request_counts();
    let share_coordinators = coordinators(&sim, &expected, "share");
    assert_eq!(after.api("DescribeShareGroupOffsets") - before.api("DescribeShareGroupOffsets"), share_coordinators);
    assert_eq!(client.stats().share_group_offsets, ApiCounts { requests: share_coordinators, errors: 0 });

    let got: BTreeMap<String, BTreeMap<TopicPartition, i64>> = starts
        .into_iter()
        .map(|(g, s)| (g.to_string(), s.unwrap().into_iter().map(|(tp, p)| (tp, p.start)).collect()))
        .collect();
    let want: BTreeMap<String, BTreeMap<TopicPartition, i64>> = share
        .iter()
        .map(|g| {
            let starts = expected.groups[&**g]
                .share_start
                .iter()
                .filter_map(|((t, p), o)| o.map(|o| (TopicPartition::new(t.as_str(), *p), o)))
                .collect();
            (g.to_string(), starts)
        })
        .collect();
    assert_eq!(got, want);
    // At t = 30 s: a has 100 + 300 = 400, b 50; the share group lags by 30 and never
    // initialised b-1; the stalled one stopped at 10 s (200); a held-Dead group has none.
    let tp = TopicPartition::new;
    assert_eq!(
        got["share"],
        BTreeMap::from([(tp("a", 0), 370), (tp("a", 1), 370), (tp("a", 2), 370), (tp("b", 0), 20)])
    );
    assert_eq!(got["share-empty"], BTreeMap::from([(tp("a", 0), 200), (tp("a", 1), 200), (tp("a", 2), 200)]));
    assert_eq!(got["share-dead"], BTreeMap::new());

    // Not a share group: GROUP_ID_NOT_FOUND for that group only.
    let mixed = client.share_group_offsets_until(vec![Arc::from("kip848"), Arc::from("share-more-1")], 8, None).await;
    match &mixed[0].1 {
        Err(KafkaError::GroupRequest { api, group, error, .. }) => {
            assert_eq!((*api, &**group, error.code), ("describe share group offsets", "kip848", 69));
        }
        other => panic!("expected a group error, got {other:?}"),
    }
    let more: Vec<(TopicPartition, i64)> =
        mixed[1].1.as_ref().unwrap().iter().map(|(tp, p)| (tp.clone(), p.start)).collect();
    assert_eq!(more, vec![(tp("b", 0), 43), (tp("b", 1), 43)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_groups_commit_and_share_groups_do_not() {
    let sim = start().await;
    let client = native(&sim);
    let groups = vec![Arc::from("streams"), Arc::from("share"), Arc::from("kip848")];
    let commits = client.committed_offsets(groups, 8).await;
    let tp = TopicPartition::new;
    let got: Vec<(&str, BTreeMap<TopicPartition, i64>)> =
        commits.iter().map(|(g, c)| (&**g, c.as_ref().unwrap().clone())).collect();
    let at = |o: i64| BTreeMap::from([(tp("a", 0), o), (tp("a", 1), o), (tp("a", 2), o)]);
    assert_eq!(got, vec![("streams", at(395)), ("share", BTreeMap::new()), ("kip848", at(400))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_coordinator_fails_its_group_once_and_is_looked_up_again() {
    let sim = start().await;
    let client = native(&sim);
    let groups = listing(&client).await;
    let asked: Vec<GroupListing> =
        groups.into_iter().filter(|g| ["kip848", "kip848-more", "share"].contains(&&*g.group)).collect();
    client.describe_groups_until(asked.clone(), 8, None).await.into_iter().for_each(|(_, d)| {
        d.unwrap();
    });
    let moved_to = (sim.coordinator_of("kip848") + 1) % 3;
    sim.move_coordinator("kip848", moved_to);

    let first = client.describe_groups_until(asked.clone(), 8, None).await;
    match &first[0] {
        (g, Err(KafkaError::GroupRequest { api, error, .. })) => {
            assert_eq!((&**g, *api, error.code), ("kip848", "consumer group describe", 16), "NOT_COORDINATOR");
        }
        other => panic!("expected kip848 to fail once, got {other:?}"),
    }
    assert_eq!(first[1].1.as_ref().unwrap().members, Some(2), "other groups are unaffected");
    assert_eq!(first[2].1.as_ref().unwrap().members, Some(2));

    let second = client.describe_groups_until(asked, 8, None).await;
    let members: Vec<Option<u32>> = second.into_iter().map(|(_, d)| d.unwrap().members).collect();
    assert_eq!(members, vec![Some(3), Some(2), Some(2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_list_groups_v5_types_come_from_the_protocol_type() {
    let sim = start().await;
    sim.cap_version(kafka_protocol::messages::ApiKey::ListGroups, 4);
    let client = native(&sim);
    let groups = listing(&client).await;
    let of = |name: &str| groups.iter().find(|g| &*g.group == name).unwrap().clone();
    let types: Vec<GroupType> =
        ["classic-stable", "kip848", "share", "streams"].iter().map(|n| of(n).group_type).collect();
    // `consumer` is classic or KIP-848: only v5 tells them apart.
    assert_eq!(types, vec![GroupType::Unknown, GroupType::Unknown, GroupType::Share, GroupType::Streams]);
    let described = client.describe_groups_until(vec![of("classic-stable"), of("kip848")], 8, None).await;
    let got: Vec<(String, Option<u32>)> =
        described.into_iter().map(|(_, d)| d.map(|d| (d.state, d.members)).unwrap()).collect();
    // DescribeGroups calls the KIP-848 group `Dead`; the listing's state is kept instead.
    assert_eq!(got, vec![("Stable".to_owned(), Some(2)), ("Stable".to_owned(), None)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_without_streams_group_describe_leaves_streams_groups_to_the_listing() {
    let sim = start().await;
    // Advertised as (0, -1): no version both sides speak, like a broker before Kafka 4.1.
    sim.cap_version(kafka_protocol::messages::ApiKey::StreamsGroupDescribe, -1);
    let client = native(&sim);
    let asked: Vec<GroupListing> = listing(&client)
        .await
        .into_iter()
        .filter(|g| g.group.starts_with("streams") || &*g.group == "kip848")
        .collect();
    let got: Vec<(String, Result<GroupDescription, String>)> = client
        .describe_groups_until(asked, 8, None)
        .await
        .into_iter()
        .map(|(g, d)| (g.to_string(), d.map_err(|e| e.to_string())))
        .collect();
    let from_listing = |state: &str| Ok(GroupDescription::from_listing(GroupType::Streams, state.to_owned()));
    let kip848 = GroupDescription {
        group_type: GroupType::Consumer,
        state: "Stable".into(),
        members: Some(3),
        owners: vec![],
        member_assignments: vec![],
    };
    let mut got = got;
    if let Some((_, Ok(d))) = got.iter_mut().find(|(n, _)| n == "kip848") {
        d.owners.clear();
        d.member_assignments.clear();
    }
    assert_eq!(
        got,
        vec![
            ("kip848".to_owned(), Ok(kip848)),
            ("streams".to_owned(), from_listing("Stable")),
            ("streams-reconciling".to_owned(), from_listing("Reconciling")),
        ]
    );
    assert_eq!(sim.request_counts().api("StreamsGroupDescribe"), 0);
}
