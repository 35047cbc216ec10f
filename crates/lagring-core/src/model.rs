//! Plain data that flows from the fetch stage into the lag math.
//!
//! Everything here is what one node observed of one cluster in one iteration.
//! Topic names are `Arc<str>` because thousands of groups share a handful of
//! topics and the fetch stage should not clone strings per group.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A Kafka offset.
pub type Offset = i64;

/// One partition of one topic.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: Arc<str>,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<Arc<str>>, partition: i32) -> Self {
        Self { topic: topic.into(), partition }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// Log offsets of one partition, fetched after the committed offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionOffsets {
    /// Log-start offset (earliest offset still on the broker).
    pub start: Offset,
    /// Log-end reference: high watermark, or last stable offset under
    /// `read_committed`.
    pub end: Offset,
}

/// Committed offsets of one consumer group: only partitions that have a
/// commit appear (the broker reports "no commit" as offset -1; the fetch stage
/// drops those).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupCommits {
    pub group: Arc<str>,
    pub committed: BTreeMap<TopicPartition, Offset>,
}

/// Everything one iteration fetched for one cluster.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterObservation {
    pub cluster: Arc<str>,
    /// Milliseconds since the Unix epoch at which end offsets were fetched.
    pub observed_at_ms: i64,
    pub groups: Vec<GroupCommits>,
    /// Number of partitions of every topic that any observed group committed
    /// on (from metadata). A partition of such a topic without a commit from
    /// the group counts as "without commit".
    pub topic_partitions: BTreeMap<Arc<str>, i32>,
    /// Log offsets of every partition listed in `topic_partitions` that the
    /// broker answered for. A missing entry means the fetch failed for it.
    pub offsets: BTreeMap<TopicPartition, PartitionOffsets>,
}
