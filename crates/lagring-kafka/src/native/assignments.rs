//! Who consumes each partition, from a describe answer: Burrow's `owner`
//! (the member's client host) and `client_id`, per assigned partition.
//!
//! A classic group carries each member's assignment as the consumer
//! protocol's bytes (`ConsumerProtocolAssignment`, a version then the
//! topics); a KIP-848 group lists it by topic in the answer. Bytes that do
//! not decode (another protocol type, such as Connect's, or garbage) give
//! no owner for that member, never an error: owners are informational.

use std::sync::Arc;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::ConsumerProtocolAssignment;
use kafka_protocol::messages::consumer_group_describe_response::Member;
use kafka_protocol::messages::describe_groups_response::DescribedGroupMember;
use kafka_protocol::protocol::Decodable;
use lagring_core::model::TopicPartition;

use crate::group_types::PartitionOwner;

/// Highest `ConsumerProtocolAssignment` version the codec knows; a newer
/// one is read as this one, as Kafka's own consumer does.
const MAX_ASSIGNMENT_VERSION: i16 = 3;

/// Owners of the partitions assigned to the members of a classic group.
pub(super) fn classic_owners(members: &[DescribedGroupMember]) -> Vec<PartitionOwner> {
    let mut owners = Vec::new();
    for m in members {
        let Some(assignment) = decode_assignment(m.member_assignment.clone()) else { continue };
        let (host, client_id) = (Arc::from(m.client_host.as_str()), Arc::from(m.client_id.as_str()));
        for t in &assignment.assigned_partitions {
            let topic: Arc<str> = Arc::from(t.topic.0.as_str());
            for &p in &t.partitions {
                let tp = TopicPartition::new(topic.clone(), p);
                owners.push(PartitionOwner { tp, host: Arc::clone(&host), client_id: Arc::clone(&client_id) });
            }
        }
    }
    owners.sort_by(|a, b| a.tp.cmp(&b.tp));
    owners
}

/// Owners of the partitions assigned to the members of a KIP-848 group.
pub(super) fn consumer_owners(members: &[Member]) -> Vec<PartitionOwner> {
    let mut owners = Vec::new();
    for m in members {
        let (host, client_id) = (Arc::from(m.client_host.as_str()), Arc::from(m.client_id.as_str()));
        for t in &m.assignment.topic_partitions {
            let topic: Arc<str> = Arc::from(t.topic_name.0.as_str());
            for &p in &t.partitions {
                let tp = TopicPartition::new(topic.clone(), p);
                owners.push(PartitionOwner { tp, host: Arc::clone(&host), client_id: Arc::clone(&client_id) });
            }
        }
    }
    owners.sort_by(|a, b| a.tp.cmp(&b.tp));
    owners
}

/// The consumer protocol's assignment in `bytes`, or `None` when empty or
/// not one.
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

    fn member(client: &str, bytes: Bytes) -> DescribedGroupMember {
        DescribedGroupMember::default()
            .with_client_id(StrBytes::from_string(client.to_owned()))
            .with_client_host(StrBytes::from_string(format!("/10.0.0.{}", client.len())))
            .with_member_assignment(bytes)
    }

    #[test]
    fn classic_assignments_name_each_partitions_member_and_bad_bytes_name_nobody() {
        let members = [
            member("c-a", assignment(1, &[("orders", &[1, 0])])),
            member("c-bb", assignment(3, &[("orders", &[2]), ("pay", &[0])])),
            member("garbage", Bytes::from_static(&[0, 1, 0xff, 0xff, 0xff, 0x7f])),
            member("empty", Bytes::new()),
            member("negative", Bytes::from_static(&[0xff, 0xff])),
        ];
        let owners = classic_owners(&members);
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
        let owners = classic_owners(&[member("x", bytes.freeze())]);
        assert_eq!(owners.iter().map(|o| o.tp.partition).collect::<Vec<_>>(), vec![5]);
    }
}
