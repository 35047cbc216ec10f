//! Who consumes each partition, from a describe answer: each member (member
//! id, client id, client host) with the partitions assigned to it — the
//! `kafka_consumer_group_member_partitions` series — and, from those,
//! Burrow's `owner` (the member's client host) and `client_id` per partition.
//!
//! A classic group carries each member's assignment as the consumer
//! protocol's bytes (`ConsumerProtocolAssignment`, a version then the
//! topics); KIP-848 and share groups list it by topic in the answer; a
//! streams group (KIP-1071) assigns tasks, and a task `p` of a subtopology
//! reads partition `p` of each of its source topics (the answer's topology
//! names them). Classic bytes that do not decode (another protocol type,
//! such as Connect's, or garbage) leave that member out, never an error:
//! members are informational. Empty bytes are a member between assignments,
//! listed with no partition.
//!
//! Owners come from classic, KIP-848 and streams groups, where a partition
//! has one member; a share group's partitions may be shared by several
//! members, so it has members but no owners.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::ConsumerProtocolAssignment;
use kafka_protocol::messages::consumer_group_describe_response::Member;
use kafka_protocol::messages::describe_groups_response::DescribedGroupMember;
use kafka_protocol::messages::share_group_describe_response::Member as ShareMember;
use kafka_protocol::messages::streams_group_describe_response::{Member as StreamsMember, Topology};
use kafka_protocol::protocol::{Decodable, StrBytes};
use lagring_core::group_series::GroupMember;
use lagring_core::model::TopicPartition;

use crate::group_types::PartitionOwner;

/// Highest `ConsumerProtocolAssignment` version the codec knows; a newer
/// one is read as this one, as Kafka's own consumer does.
const MAX_ASSIGNMENT_VERSION: i16 = 3;

fn member(id: &StrBytes, client_id: &StrBytes, host: &StrBytes, partitions: BTreeSet<TopicPartition>) -> GroupMember {
    GroupMember {
        member_id: Arc::from(id.as_str()),
        client_id: Arc::from(client_id.as_str()),
        host: Arc::from(host.as_str()),
        partitions: partitions.into_iter().collect(),
    }
}

/// The members of a classic group whose assignment is the consumer protocol's (or empty).
pub(super) fn classic_members(members: &[DescribedGroupMember]) -> Vec<GroupMember> {
    let mut out = Vec::with_capacity(members.len());
    for m in members {
        let mut partitions = BTreeSet::new();
        if !m.member_assignment.is_empty() {
            let Some(assignment) = decode_assignment(m.member_assignment.clone()) else { continue };
            for t in &assignment.assigned_partitions {
                let topic: Arc<str> = Arc::from(t.topic.0.as_str());
                partitions.extend(t.partitions.iter().map(|&p| TopicPartition::new(topic.clone(), p)));
            }
        }
        out.push(member(&m.member_id, &m.client_id, &m.client_host, partitions));
    }
    out
}

/// The members of a KIP-848 group.
pub(super) fn consumer_members(members: &[Member]) -> Vec<GroupMember> {
    members
        .iter()
        .map(|m| {
            let partitions = m.assignment.topic_partitions.iter().flat_map(|t| {
                let topic: Arc<str> = Arc::from(t.topic_name.0.as_str());
                t.partitions.iter().map(move |&p| TopicPartition::new(topic.clone(), p))
            });
            member(&m.member_id, &m.client_id, &m.client_host, partitions.collect())
        })
        .collect()
}

/// The members of a share group (KIP-932).
pub(super) fn share_members(members: &[ShareMember]) -> Vec<GroupMember> {
    members
        .iter()
        .map(|m| {
            let partitions = m.assignment.topic_partitions.iter().flat_map(|t| {
                let topic: Arc<str> = Arc::from(t.topic_name.0.as_str());
                t.partitions.iter().map(move |&p| TopicPartition::new(topic.clone(), p))
            });
            member(&m.member_id, &m.client_id, &m.client_host, partitions.collect())
        })
        .collect()
}

/// The members of a streams group (KIP-1071): the partitions their active
/// tasks read, through the subtopologies of `topology`. A task of a
/// subtopology the topology does not name reads nothing known.
pub(super) fn streams_members(topology: Option<&Topology>, members: &[StreamsMember]) -> Vec<GroupMember> {
    let mut sources: HashMap<&str, Vec<Arc<str>>> = HashMap::new();
    for s in topology.and_then(|t| t.subtopologies.as_deref()).unwrap_or_default() {
        let topics = s
            .source_topics
            .iter()
            .map(StrBytes::as_str)
            .chain(s.repartition_source_topics.iter().map(|t| t.name.as_str()));
        sources.entry(s.subtopology_id.as_str()).or_default().extend(topics.map(Arc::from));
    }
    members
        .iter()
        .map(|m| {
            let mut partitions = BTreeSet::new();
            for task in &m.assignment.active_tasks {
                for topic in sources.get(task.subtopology_id.as_str()).map(Vec::as_slice).unwrap_or_default() {
                    partitions.extend(task.partitions.iter().map(|&p| TopicPartition::new(topic.clone(), p)));
                }
            }
            member(&m.member_id, &m.client_id, &m.client_host, partitions)
        })
        .collect()
}

/// The member of each assigned partition, sorted by partition (for a
/// partition two members claim, the first one's).
pub(super) fn owners(members: &[GroupMember]) -> Vec<PartitionOwner> {
    let mut owners: Vec<PartitionOwner> = members
        .iter()
        .flat_map(|m| {
            m.partitions.iter().map(|tp| PartitionOwner {
                tp: tp.clone(),
                host: Arc::clone(&m.host),
                client_id: Arc::clone(&m.client_id),
            })
        })
        .collect();
    owners.sort_by(|a, b| a.tp.cmp(&b.tp));
    owners.dedup_by(|a, b| a.tp == b.tp);
    owners
}

/// The consumer protocol's assignment in `bytes`, or `None` when not one.
fn decode_assignment(mut bytes: Bytes) -> Option<ConsumerProtocolAssignment> {
    if bytes.remaining() < 2 {
        return None;
    }
    let version = bytes.get_i16();
    if version < 0 {
        return None;
    }
    ConsumerProtocolAssignment::decode(&mut bytes, version.min(MAX_ASSIGNMENT_VERSION)).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use bytes::{BufMut, BytesMut};
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as Assigned;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    use super::*;

    fn assignment(version: i16, topics: &[(&str, &[i32])]) -> Bytes {
        let assigned = topics
            .iter()
            .map(|(t, ps)| {
                Assigned::default()
                    .with_topic(TopicName(StrBytes::from_string((*t).to_owned())))
                    .with_partitions(ps.to_vec())
            })
            .collect();
        let mut buf = BytesMut::new();
        buf.put_i16(version);
        ConsumerProtocolAssignment::default()
            .with_assigned_partitions(assigned)
            .encode(&mut buf, version.min(3))
            .unwrap();
        buf.freeze()
    }

    fn classic(client: &str, bytes: Bytes) -> DescribedGroupMember {
        DescribedGroupMember::default()
            .with_member_id(StrBytes::from_string(format!("{client}-id")))
            .with_client_id(StrBytes::from_string(client.to_owned()))
            .with_client_host(StrBytes::from_string(format!("/10.0.0.{}", client.len())))
            .with_member_assignment(bytes)
    }

    /// (member id, client id, host, partitions) of one member.
    type Listed = (String, String, String, Vec<(String, i32)>);

    fn listed(members: &[GroupMember]) -> Vec<Listed> {
        members
            .iter()
            .map(|m| {
                let ps = m.partitions.iter().map(|tp| (tp.topic.to_string(), tp.partition)).collect();
                (m.member_id.to_string(), m.client_id.to_string(), m.host.to_string(), ps)
            })
            .collect()
    }

    #[test]
    fn classic_assignments_name_each_partitions_member_and_bad_bytes_name_nobody() {
        let members = [
            classic("c-a", assignment(1, &[("orders", &[1, 0])])),
            classic("c-bb", assignment(3, &[("orders", &[2]), ("pay", &[0])])),
            classic("garbage", Bytes::from_static(&[0, 1, 0xff, 0xff, 0xff, 0x7f])),
            classic("empty", Bytes::new()),
            classic("negative", Bytes::from_static(&[0xff, 0xff])),
        ];
        let members = classic_members(&members);
        let s = |v: &str| v.to_owned();
        assert_eq!(
            listed(&members),
            vec![
                (s("c-a-id"), s("c-a"), s("/10.0.0.3"), vec![(s("orders"), 0), (s("orders"), 1)]),
                (s("c-bb-id"), s("c-bb"), s("/10.0.0.4"), vec![(s("orders"), 2), (s("pay"), 0)]),
                (s("empty-id"), s("empty"), s("/10.0.0.5"), vec![]),
            ],
            "garbage and a negative version are not the consumer protocol: left out"
        );
        let owners = owners(&members);
        let got: Vec<(String, i32, &str, &str)> =
            owners.iter().map(|o| (o.tp.topic.to_string(), o.tp.partition, &*o.client_id, &*o.host)).collect();
        assert_eq!(
            got,
            vec![
                ("orders".into(), 0, "c-a", "/10.0.0.3"),
                ("orders".into(), 1, "c-a", "/10.0.0.3"),
                ("orders".into(), 2, "c-bb", "/10.0.0.4"),
                ("pay".into(), 0, "c-bb", "/10.0.0.4"),
            ]
        );
    }

    #[test]
    fn a_newer_assignment_version_reads_as_the_newest_known() {
        let mut bytes = BytesMut::from(&assignment(3, &[("t", &[5])])[..]);
        bytes[1] = 9;
        let owners = owners(&classic_members(&[classic("x", bytes.freeze())]));
        assert_eq!(owners.iter().map(|o| o.tp.partition).collect::<Vec<_>>(), vec![5]);
    }

    #[test]
    fn streams_tasks_read_every_source_topic_of_their_subtopology() {
        use kafka_protocol::messages::streams_group_describe_response::{Assignment, Subtopology, TaskIds, TopicInfo};
        let sb = |v: &str| StrBytes::from_string(v.to_owned());
        let topology = Topology::default().with_subtopologies(Some(vec![
            Subtopology::default().with_subtopology_id(sb("0")).with_source_topics(vec![sb("clicks"), sb("views")]),
            Subtopology::default()
                .with_subtopology_id(sb("1"))
                .with_repartition_source_topics(vec![TopicInfo::default().with_name(sb("app-repartition"))]),
        ]));
        let task = |sub: &str, ps: &[i32]| TaskIds::default().with_subtopology_id(sb(sub)).with_partitions(ps.to_vec());
        let members = [
            StreamsMember::default()
                .with_member_id(sb("m0"))
                .with_client_id(sb("app-1"))
                .with_client_host(sb("/10.0.0.9"))
                .with_assignment(Assignment::default().with_active_tasks(vec![task("0", &[1]), task("1", &[0])])),
            StreamsMember::default()
                .with_member_id(sb("m1"))
                .with_client_id(sb("app-2"))
                .with_client_host(sb("/10.0.0.8"))
                .with_assignment(Assignment::default().with_active_tasks(vec![task("7", &[0])])),
        ];
        let s = |v: &str| v.to_owned();
        assert_eq!(
            listed(&streams_members(Some(&topology), &members)),
            vec![
                (
                    s("m0"),
                    s("app-1"),
                    s("/10.0.0.9"),
                    vec![(s("app-repartition"), 0), (s("clicks"), 1), (s("views"), 1)]
                ),
                (s("m1"), s("app-2"), s("/10.0.0.8"), vec![]),
            ],
            "an unknown subtopology reads nothing known"
        );
        assert!(streams_members(None, &members).iter().all(|m| m.partitions.is_empty()));
    }
}
