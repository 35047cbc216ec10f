//! Every Kafka 4.x group type and state through the handlers: ListGroups types and filters,
//! DescribeGroups for classic groups (and `Dead` for the others), ConsumerGroupDescribe,
//! ShareGroupDescribe, DescribeShareGroupOffsets and OffsetFetch of share and streams groups.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_share_group_offsets_request::{
    DescribeShareGroupOffsetsRequestGroup, DescribeShareGroupOffsetsRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::*;

use super::{BrokerAddr, Ctx, sb};
use crate::controls::Controls;
use crate::model::Model;
use crate::scenario::Scenario;

const SCENARIO: &str = r#"
brokers: 1
topics: [ { name: a, partitions: 2, initial_messages: 100 } ]
groups:
  - { name: classic-stable, topics: [a], members: 2 }
  - { name: classic-empty, topics: [a], members: 0 }
  - { name: classic-preparing, topics: [a], state: preparing_rebalance }
  - { name: classic-completing, topics: [a], state: completing_rebalance }
  - { name: classic-dead, topics: [a], members: 0, state: dead }
  - { name: kip848, type: consumer, topics: [a], members: 2 }
  - { name: kip848-assigning, type: consumer, topics: [a], state: assigning }
  - { name: kip848-reconciling, type: consumer, topics: [a], members: 2, state: reconciling }
  - { name: kip848-empty, type: consumer, topics: [a], members: 0 }
  - { name: kip848-dead, type: consumer, topics: [a], members: 0, state: dead }
  - { name: share, type: share, topics: [a], behaviour: { lags_by: 30 }, never_committed: { a: [1] } }
  - { name: share-empty, type: share, topics: [a], members: 0 }
  - { name: share-dead, type: share, topics: [a], members: 0, state: dead }
  - { name: streams, type: streams, topics: [a], behaviour: { lags_by: 5 } }
"#;

fn model() -> Model {
    Model::new(Scenario::from_yaml(SCENARIO).unwrap(), 0)
}

fn with_ctx<T>(model: &Model, version: i16, f: impl FnOnce(&Ctx) -> T) -> T {
    let controls = Controls::new(1);
    let brokers = [BrokerAddr { id: 0, host: "127.0.0.1".into(), port: 1 }];
    let ctx = Ctx { model, brokers: &brokers, broker: 0, t_ms: 0, version, injected: None, controls: &controls };
    f(&ctx)
}

fn ids(names: &[&str]) -> Vec<GroupId> {
    names.iter().map(|n| GroupId(sb(*n))).collect()
}

const NOT_FOUND: i16 = ResponseError::GroupIdNotFound.code();

/// (group, error, state, group epoch, assignment epoch, member epochs).
type Described<'a> = (&'a str, i16, &'a str, i32, i32, Vec<i32>);
/// (error, [(topic, partition, start offset)]).
type Starts = (i16, Vec<(String, i32, i64)>);

#[test]
fn scenario_rejects_a_state_the_type_does_not_have() {
    let err = Scenario::from_yaml("groups: [ { name: g, topics: [], type: share, state: assigning } ]").unwrap_err();
    assert_eq!(err.to_string(), "invalid scenario: groups[0].state: a share group has no state Assigning");
    let err = Scenario::from_yaml("groups: [ { name: g, topics: [], state: empty } ]").unwrap_err();
    assert_eq!(err.to_string(), "invalid scenario: groups[0].state: Empty needs members: 0");
}

#[test]
fn list_groups_reports_every_type_and_state_and_honours_the_type_filter() {
    let m = model();
    let all = with_ctx(&m, 5, |ctx| super::list_groups::handle(ctx, ListGroupsRequest::default()));
    let listed: Vec<(&str, &str, &str, &str)> = all
        .groups
        .iter()
        .map(|g| (g.group_id.0.as_str(), g.group_type.as_str(), g.group_state.as_str(), g.protocol_type.as_str()))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("classic-stable", "classic", "Stable", "consumer"),
            ("classic-empty", "classic", "Empty", "consumer"),
            ("classic-preparing", "classic", "PreparingRebalance", "consumer"),
            ("classic-completing", "classic", "CompletingRebalance", "consumer"),
            ("classic-dead", "classic", "Dead", "consumer"),
            ("kip848", "consumer", "Stable", "consumer"),
            ("kip848-assigning", "consumer", "Assigning", "consumer"),
            ("kip848-reconciling", "consumer", "Reconciling", "consumer"),
            ("kip848-empty", "consumer", "Empty", "consumer"),
            ("kip848-dead", "consumer", "Dead", "consumer"),
            ("share", "share", "Stable", "share"),
            ("share-empty", "share", "Empty", "share"),
            ("share-dead", "share", "Dead", "share"),
            ("streams", "streams", "Stable", "streams"),
        ]
    );
    let request = ListGroupsRequest::default().with_types_filter(vec![sb("Share"), sb("streams")]);
    let some = with_ctx(&m, 5, |ctx| super::list_groups::handle(ctx, request));
    let names: Vec<&str> = some.groups.iter().map(|g| g.group_id.0.as_str()).collect();
    assert_eq!(names, vec!["share", "share-empty", "share-dead", "streams"]);
    // Below v4 every type is still listed, without state or type.
    let old = with_ctx(&m, 3, |ctx| super::list_groups::handle(ctx, ListGroupsRequest::default()));
    assert_eq!(old.groups.len(), 14);
    assert!(old.groups.iter().all(|g| g.group_state.is_empty() && g.group_type.is_empty()));
}

#[test]
fn describe_groups_knows_classic_states_and_calls_other_types_dead() {
    let m = model();
    let request = DescribeGroupsRequest::default().with_groups(ids(&[
        "classic-stable",
        "classic-preparing",
        "classic-dead",
        "kip848",
        "share",
    ]));
    let r = with_ctx(&m, 5, |ctx| super::describe_groups::handle(ctx, request));
    let summary: Vec<(&str, i16, &str, &str, usize)> = r
        .groups
        .iter()
        .map(|g| {
            (g.group_id.0.as_str(), g.error_code, g.group_state.as_str(), g.protocol_data.as_str(), g.members.len())
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("classic-stable", 0, "Stable", "range", 2),
            ("classic-preparing", 0, "PreparingRebalance", "", 1),
            ("classic-dead", 0, "Dead", "", 0),
            ("kip848", 0, "Dead", "", 0),
            ("share", 0, "Dead", "", 0),
        ]
    );
    assert!(r.groups[1].members[0].member_assignment.is_empty(), "no assignment while rebalancing");
    assert_eq!(r.groups[0].members[0].member_assignment.len(), 2 + 4 + 2 + 1 + 4 + 4 + 4);
}

#[test]
fn consumer_group_describe_gives_epochs_members_and_assignments() {
    let m = model();
    let request = ConsumerGroupDescribeRequest::default().with_group_ids(ids(&[
        "kip848",
        "kip848-assigning",
        "kip848-reconciling",
        "kip848-empty",
        "classic-stable",
        "nope",
    ]));
    let r = with_ctx(&m, 1, |ctx| super::consumer_group_describe::handle(ctx, request));
    let summary: Vec<Described> = r
        .groups
        .iter()
        .map(|g| {
            let epochs = g.members.iter().map(|m| m.member_epoch).collect();
            (g.group_id.0.as_str(), g.error_code, g.group_state.as_str(), g.group_epoch, g.assignment_epoch, epochs)
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("kip848", 0, "Stable", 3, 3, vec![3, 3]),
            ("kip848-assigning", 0, "Assigning", 3, 2, vec![2]),
            ("kip848-reconciling", 0, "Reconciling", 3, 3, vec![2, 3]),
            ("kip848-empty", 0, "Empty", 1, 1, vec![]),
            ("classic-stable", NOT_FOUND, "", 0, 0, vec![]),
            ("nope", NOT_FOUND, "", 0, 0, vec![]),
        ]
    );
    let parts = |a: &consumer_group_describe_response::Assignment| -> Vec<(String, Vec<i32>)> {
        a.topic_partitions.iter().map(|t| (t.topic_name.0.to_string(), t.partitions.clone())).collect()
    };
    let stable = &r.groups[0].members;
    assert_eq!(parts(&stable[0].assignment), vec![("a".to_string(), vec![0])]);
    assert_eq!(parts(&stable[1].assignment), vec![("a".to_string(), vec![1])]);
    let reconciling = &r.groups[2].members;
    assert_eq!(parts(&reconciling[0].assignment), vec![]);
    assert_eq!(parts(&reconciling[0].target_assignment), vec![("a".to_string(), vec![0])]);
    assert_eq!(r.groups[4].error_message.as_deref(), Some("Group classic-stable is not a consumer group."));
    assert_eq!(r.groups[5].error_message.as_deref(), Some("Group nope not found."));
}

#[test]
fn share_group_describe_and_start_offsets() {
    let m = model();
    let request = ShareGroupDescribeRequest::default().with_group_ids(ids(&["share", "share-empty", "kip848"]));
    let r = with_ctx(&m, 1, |ctx| super::share_group_describe::handle(ctx, request));
    let summary: Vec<(&str, i16, &str, usize)> = r
        .groups
        .iter()
        .map(|g| (g.group_id.0.as_str(), g.error_code, g.group_state.as_str(), g.members.len()))
        .collect();
    assert_eq!(summary, vec![("share", 0, "Stable", 1), ("share-empty", 0, "Empty", 0), ("kip848", NOT_FOUND, "", 0)]);
    assert_eq!(r.groups[2].error_message.as_deref(), Some("Group kip848 is not a share group."));

    let named = DescribeShareGroupOffsetsRequestTopic::default()
        .with_topic_name(TopicName(sb("a")))
        .with_partitions(vec![0, 1]);
    let request = DescribeShareGroupOffsetsRequest::default().with_groups(vec![
        DescribeShareGroupOffsetsRequestGroup::default().with_group_id(GroupId(sb("share"))).with_topics(None),
        DescribeShareGroupOffsetsRequestGroup::default()
            .with_group_id(GroupId(sb("share")))
            .with_topics(Some(vec![named])),
        DescribeShareGroupOffsetsRequestGroup::default().with_group_id(GroupId(sb("streams"))).with_topics(None),
        DescribeShareGroupOffsetsRequestGroup::default().with_group_id(GroupId(sb("share-dead"))).with_topics(None),
    ]);
    let r = with_ctx(&m, 0, |ctx| super::describe_share_group_offsets::handle(ctx, request));
    let offsets: Vec<Starts> = r
        .groups
        .iter()
        .map(|g| {
            let starts = g
                .topics
                .iter()
                .flat_map(|t| {
                    t.partitions.iter().map(|p| (t.topic_name.0.to_string(), p.partition_index, p.start_offset))
                })
                .collect();
            (g.error_code, starts)
        })
        .collect();
    let a = |p: i32, o: i64| ("a".to_string(), p, o);
    // hw 100, lags by 30; partition 1 never initialised.
    assert_eq!(offsets, vec![(0, vec![a(0, 70)]), (0, vec![a(0, 70), a(1, -1)]), (NOT_FOUND, vec![]), (0, vec![])]);
    let expected = m.expected_at(std::time::Duration::ZERO);
    assert_eq!(expected.groups["share"].share_start[&("a".to_string(), 0)], Some(70));
    assert_eq!(expected.groups["share"].committed[&("a".to_string(), 0)], None);
}

#[test]
fn offset_fetch_gives_nothing_for_a_share_group_and_commits_for_streams() {
    let m = model();
    let group = |name: &str| OffsetFetchRequestGroup::default().with_group_id(GroupId(sb(name))).with_topics(None);
    let request = OffsetFetchRequest::default().with_groups(vec![group("share"), group("streams")]);
    let r = with_ctx(&m, 9, |ctx| super::offset_fetch::handle(ctx, request));
    let answers: Vec<(i16, Vec<(i32, i64)>)> = r
        .groups
        .iter()
        .map(|g| {
            let offsets =
                g.topics.iter().flat_map(|t| t.partitions.iter().map(|p| (p.partition_index, p.committed_offset)));
            (g.error_code, offsets.collect())
        })
        .collect();
    assert_eq!(answers, vec![(0, vec![]), (0, vec![(0, 95), (1, 95)])]);
}
