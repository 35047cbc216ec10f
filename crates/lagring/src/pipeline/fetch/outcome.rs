//! What the fetch stage hands to compute, in one vocabulary for groups:
//! the brokers *list* groups, the group filter *matches* some of them (the
//! whole fleet checks those), and this node *owns* some of the matched ones.
//! A group matched but not owned here has moved, it has not ended.
//!
//! [`FetchOutcome`] is split by concern (the listing, the describes, the
//! per-group and per-partition failures, the exact record times) so compute,
//! ownership and the read API each read the part they need, and a test builds
//! one with [`FetchOutcome::new`] plus the parts it cares about.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lagring_core::group_series::{GroupInfo, GroupMember, SharePosition};
use lagring_core::model::{ClusterObservation, Offset, TopicPartition};
use lagring_core::status::Members;
use lagring_kafka::{GroupListing, KafkaError, PartitionOwner, RecordTime};

/// What this node works on in one iteration of one cluster.
#[derive(Debug, Default)]
pub struct Selection {
    /// Matched groups this node owns this slot.
    pub owned: Vec<Arc<str>>,
    /// This node emits the per-cluster iteration series.
    pub owns_cluster_series: bool,
}

/// The groups of one cluster that matched the group filter this iteration,
/// before ownership is applied.
#[derive(Debug)]
pub struct Discovery {
    /// Groups listed by the brokers and matched by the group filter.
    pub matched: Vec<Arc<str>>,
    /// Members of each matched group as ListGroups reported them.
    pub members: HashMap<Arc<str>, Members>,
    /// The listing of each matched group (type and state).
    pub listings: HashMap<Arc<str>, GroupListing>,
    /// How many groups the brokers listed, before filtering.
    pub listed: usize,
    /// Set when some brokers did not answer: groups they coordinate may be
    /// missing from `matched` without having been deleted.
    pub partial: Option<KafkaError>,
    pub took: Duration,
    /// Partition count of every topic (metadata fetched before listing).
    pub topic_partitions: BTreeMap<Arc<str>, i32>,
    pub metadata_took: Duration,
}

/// Wall time of each Kafka step of one iteration.
#[derive(Debug, Clone, Copy, Default)]
pub struct FetchTimings {
    pub list_groups: Duration,
    pub offset_fetch: Duration,
    pub metadata: Duration,
    pub list_offsets: Duration,
    /// Fetch of record batches for exact time lag (zero when not used).
    pub record_times: Duration,
}

/// Per group, the member of each assigned partition (sorted by partition).
pub type Owners = HashMap<Arc<str>, Vec<PartitionOwner>>;

/// The listing side of an iteration: listed → matched, with members.
#[derive(Debug, Default)]
pub struct GroupsSeen {
    /// How many groups the brokers listed, before filtering.
    pub listed: usize,
    /// Every matched group, owned here or not: a series of a group in this
    /// set that this node no longer owns has moved, not ended.
    pub matched: HashSet<Arc<str>>,
    /// Whether each matched group has active members (its ListGroups
    /// state), for the STOP/STALL status rule; missing means `Unknown`.
    pub members: HashMap<Arc<str>, Members>,
    /// Set when some brokers did not list their groups this iteration.
    pub partial: Option<KafkaError>,
}

/// What the describes of the owned groups said (type, state, members).
#[derive(Debug, Default)]
pub struct Descriptions {
    /// Type, state and member count of each owned listed group (group series).
    pub info: Vec<GroupInfo>,
    /// Owned groups whose describe failed this iteration: their members
    /// series is kept, not ended (with the librdkafka client, which cannot
    /// describe by type, every group).
    pub failed: HashSet<Arc<str>>,
    /// Per owned group whose describe named them, the member each assigned
    /// partition is assigned to: the read API's `owner` and `client_id`.
    pub owners: Owners,
    /// Per owned group whose describe listed its members, each member with
    /// its partitions (the opt-in member series).
    pub members: HashMap<Arc<str>, Vec<GroupMember>>,
}

/// The parts of an iteration that failed while the rest succeeded.
#[derive(Debug, Default)]
pub struct FetchFailures {
    /// Owned groups dropped because OffsetFetch (share groups:
    /// DescribeShareGroupOffsets) failed for them.
    pub groups: Vec<(Arc<str>, KafkaError)>,
    /// Partitions whose log offsets the broker did not return.
    pub partitions: Vec<(TopicPartition, KafkaError)>,
}

/// Produce times read for exact time lag (`time_lag.method: exact`).
#[derive(Debug, Default)]
pub struct RecordTimes {
    /// Produce time of the record at each lagging (partition, committed
    /// offset) read this iteration.
    pub read: HashMap<(TopicPartition, Offset), RecordTime>,
    /// Lagging (partition, committed offset) pairs whose read failed: their
    /// time lag is estimated.
    pub failed: HashSet<(TopicPartition, Offset)>,
}

/// What one successful fetch produced, plus the partial failures in it.
#[derive(Debug)]
pub struct FetchOutcome {
    /// Committed offsets of the owned groups and log offsets of what they read.
    pub observation: ClusterObservation,
    /// Share-partition start offsets of the owned share groups, with the broker's lag where
    /// it supplied one (KIP-1226).
    pub share_starts: Vec<(Arc<str>, BTreeMap<TopicPartition, SharePosition>)>,
    pub groups: GroupsSeen,
    pub described: Descriptions,
    pub failures: FetchFailures,
    pub record_times: RecordTimes,
    /// This node emits the per-cluster iteration series this iteration.
    pub owns_cluster_series: bool,
    pub timings: FetchTimings,
    pub started: Instant,
}

impl FetchOutcome {
    /// An outcome of `observation` with nothing else seen: no listing, no
    /// describes, no failures. The fetch stage and tests fill in the parts.
    pub fn new(observation: ClusterObservation, started: Instant) -> Self {
        Self {
            observation,
            share_starts: Vec::new(),
            groups: GroupsSeen::default(),
            described: Descriptions::default(),
            failures: FetchFailures::default(),
            record_times: RecordTimes::default(),
            owns_cluster_series: false,
            timings: FetchTimings::default(),
            started,
        }
    }

    /// True when this iteration shows the cluster is reachable from this
    /// node: the listing was complete, some brokers listed groups, or some
    /// group's offsets were fetched. A listing that failed with nothing else
    /// fetched is a failed iteration for the ring-membership gate even though
    /// the groups of the last listing were kept.
    pub fn reached_cluster(&self) -> bool {
        self.groups.partial.is_none() || self.groups.listed > 0 || !self.observation.groups.is_empty()
    }

    /// How many groups this node owned this iteration (fetched or failed).
    pub fn owned_count(&self) -> usize {
        self.observation.groups.len() + self.share_starts.len() + self.failures.groups.len()
    }
}
