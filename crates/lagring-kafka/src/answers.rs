//! The answers both Kafka clients give, in neutral types: the librdkafka
//! client (`librdkafka`) and the native one (`native`) build them, the
//! front type [`crate::KafkaClient`] returns them, and neither back end
//! imports the other's types.

use std::sync::Arc;

use crate::error::KafkaError;
use crate::group_types::GroupType;

/// One group as ListGroups reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupListing {
    pub group: Arc<str>,
    /// Kafka's state name ("Stable", "Empty", "Assigning", ...; "Unknown" if
    /// the broker does not say).
    pub state: String,
    /// True for groups that only commit offsets (no group protocol).
    pub is_simple: bool,
    /// Group protocol (ListGroups v5). The librdkafka client says `Classic`
    /// for simple groups and `Unknown` otherwise, and lists no share or
    /// streams groups (see `crate::group_types`).
    pub group_type: GroupType,
}

/// One listing of the cluster's groups, possibly partial.
#[derive(Debug)]
pub struct GroupList {
    /// Groups of every broker that answered.
    pub groups: Vec<GroupListing>,
    /// Set when some brokers did not answer: their groups are missing, which
    /// must not be taken for the groups having been deleted.
    pub partial: Option<KafkaError>,
}

/// Which end of a partition's log to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetSpec {
    /// Log-start offset.
    Earliest,
    /// High watermark (read_uncommitted) or last stable offset
    /// (read_committed).
    Latest,
}

/// What the client saw of one broker between two [`KafkaClient::brokers_seen`] calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerSeen {
    /// Kafka node id.
    pub id: i32,
    /// `host:port` as the cluster metadata gave it.
    pub addr: String,
    /// Requests it answered (an answer with an error code counts).
    pub answered: u64,
    /// Requests that failed at the transport level: no connection, no answer in time, still
    /// backing off after such a failure, or login refused.
    pub failed: u64,
    /// The last of those failures.
    pub last_failure: Option<String>,
}

impl BrokerSeen {
    /// Reachable: every request sent to it was answered.
    pub fn reachable(&self) -> bool {
        self.failed == 0
    }
}
