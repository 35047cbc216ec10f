//! The group types of Kafka 4.x and what a describe says about one group.
//!
//! Kafka 4 has four group protocols, each with its own describe API and states: `classic`
//! (JoinGroup/SyncGroup; DescribeGroups), `consumer` (KIP-848; ConsumerGroupDescribe), `share`
//! (KIP-932; ShareGroupDescribe, positions through DescribeShareGroupOffsets, no committed
//! offsets) and `streams` (KIP-1071; StreamsGroupDescribe, commits like a consumer group). ListGroups v5 names the type,
//! so the caller knows which API to ask and whether OffsetFetch means anything for the group.
//!
//! Only the native client speaks these APIs. The librdkafka client lists classic and KIP-848
//! groups without telling them apart (`Unknown`, `Classic` for simple groups), lists no share or
//! streams groups, and fails describe and share-offset calls with an unsupported-feature error.

use std::fmt;

/// A group protocol as ListGroups v5 names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupType {
    Classic,
    Consumer,
    Share,
    Streams,
    /// The broker did not say (ListGroups below v5, the librdkafka client) or named a type this
    /// version does not know.
    Unknown,
}

impl GroupType {
    /// The wire name, also the `type` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupType::Classic => "classic",
            GroupType::Consumer => "consumer",
            GroupType::Share => "share",
            GroupType::Streams => "streams",
            GroupType::Unknown => "unknown",
        }
    }

    /// From ListGroups' `GroupType` (case-insensitive; Kafka sends lowercase).
    pub fn parse(name: &str) -> Self {
        [GroupType::Classic, GroupType::Consumer, GroupType::Share, GroupType::Streams]
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(name))
            .unwrap_or(GroupType::Unknown)
    }

    /// Whether OffsetFetch gives the group's position. A share group has none: Kafka answers
    /// its OffsetFetch with no offsets and no error; its position is the share-partition start
    /// offset.
    pub fn commits_offsets(self) -> bool {
        self != GroupType::Share
    }
}

impl fmt::Display for GroupType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One group as its type's describe API reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_type: GroupType,
    /// Kafka's state name (`Stable`, `PreparingRebalance`, `Assigning`, ...).
    pub state: String,
    /// Members now; `None` where the broker has no describe API for the type (streams groups
    /// before Kafka 4.1's StreamsGroupDescribe) or the client has none (librdkafka), and the
    /// state is then the listing's.
    pub members: Option<u32>,
    /// Who consumes each assigned partition, sorted by partition (classic, KIP-848 and
    /// streams groups; empty for share groups, whose partitions may have several members,
    /// between assignments, and with the librdkafka client).
    pub owners: Vec<PartitionOwner>,
    /// Each member with the partitions assigned to it, as the describe lists them (every type
    /// the native client describes; empty where `members` is `None`).
    pub member_assignments: Vec<lagring_core::group_series::GroupMember>,
}

impl GroupDescription {
    /// A group known from its listing only: its state, no member count, no owners.
    pub fn from_listing(group_type: GroupType, state: String) -> Self {
        Self { group_type, state, members: None, owners: Vec::new(), member_assignments: Vec::new() }
    }
}

/// The member a partition is assigned to: Burrow's `owner` (client host) and `client_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionOwner {
    pub tp: lagring_core::model::TopicPartition,
    /// The member's client host (`/10.1.2.3`).
    pub host: std::sync::Arc<str>,
    pub client_id: std::sync::Arc<str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in [GroupType::Classic, GroupType::Consumer, GroupType::Share, GroupType::Streams] {
            assert_eq!(GroupType::parse(t.as_str()), t);
        }
        assert_eq!(GroupType::parse("Consumer"), GroupType::Consumer);
        assert_eq!(GroupType::parse("bogus"), GroupType::Unknown);
        assert!(!GroupType::Share.commits_offsets());
        assert!(GroupType::Streams.commits_offsets());
    }
}
