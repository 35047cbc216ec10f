//! The fetch stage of one cluster: discover groups, fetch their committed
//! offsets (share groups: their share-partition start offsets) and their
//! type, state and members, then the log offsets of every partition they read.
//!
//! A share group (KIP-932) commits nothing: OffsetFetch would answer it with
//! no offsets. Its position is the share-partition start offset, read with
//! DescribeShareGroupOffsets, and its lag is a series of its own
//! (`kafka_share_group_lag`, docs/metrics.md).
//!
//! Order matters: committed offsets are fetched *before* end
//! offsets, so a race can only over-estimate lag, never under-estimate it.
//! End offsets are fetched once per partition per iteration however many
//! groups read it, in ListOffsets requests that librdkafka batches per leader.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lagring_core::filter::NameFilter;
use lagring_core::group_series::GroupInfo;
use lagring_core::model::{ClusterObservation, GroupCommits, Offset, TopicPartition};
use lagring_core::status::Members;
use lagring_kafka::{GroupListing, GroupType, KafkaClient, KafkaError, PartitionOwner, RecordTime, RecordTimeOptions};

/// What this node works on in one iteration of one cluster.
#[derive(Debug, Default)]
pub struct Selection {
    pub owned: Vec<Arc<str>>,
    /// This node emits the per-cluster iteration series.
    pub owns_cluster_series: bool,
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

/// What one successful fetch produced, plus the partial failures in it.
#[derive(Debug)]
pub struct FetchOutcome {
    pub observation: ClusterObservation,
    /// Groups the broker listed, before filtering.
    pub groups_discovered: usize,
    /// Groups that passed the filters (the whole fleet checks these).
    pub groups_checked: usize,
    /// Every group that passed the filters, owned here or not: a series of a
    /// group in this set that this node no longer owns has moved, not ended.
    pub discovered: HashSet<Arc<str>>,
    /// This node emits the per-cluster iteration series this iteration.
    pub owns_cluster_series: bool,
    /// Whether each listed group has active members (its ListGroups state),
    /// for the STOP/STALL status rule; a group missing here is `Unknown`.
    pub members: HashMap<Arc<str>, Members>,
    /// Groups dropped because OffsetFetch (share groups: DescribeShareGroupOffsets) failed
    /// for them.
    pub group_errors: Vec<(Arc<str>, KafkaError)>,
    /// Type, state and member count of each owned listed group (group series).
    pub group_info: Vec<GroupInfo>,
    /// Owned groups whose describe failed this iteration: their members series is kept, not
    /// ended (with the librdkafka client, which cannot describe by type, every group).
    pub describe_failed: HashSet<Arc<str>>,
    /// Per owned group whose describe named them, the member each assigned partition is
    /// assigned to (sorted by partition): the Burrow read API's `owner` and `client_id`.
    pub owners: Owners,
    /// Share-partition start offsets of the owned share groups.
    pub share_starts: Vec<(Arc<str>, BTreeMap<TopicPartition, Offset>)>,
    /// Partitions whose log offsets the broker did not return.
    pub partition_errors: Vec<(TopicPartition, KafkaError)>,
    /// Set when some brokers did not list their groups this iteration.
    pub partial_listing: Option<KafkaError>,
    /// Produce time of the record at each lagging (partition, committed
    /// offset) read this iteration (`time_lag.method: exact`).
    pub record_times: HashMap<(TopicPartition, Offset), RecordTime>,
    /// Lagging (partition, committed offset) pairs whose read failed: their
    /// time lag is estimated.
    pub record_time_failures: HashSet<(TopicPartition, Offset)>,
    pub timings: FetchTimings,
    pub started: Instant,
}

impl FetchOutcome {
    /// True when this iteration shows the cluster is reachable from this
    /// node: the listing was complete, some brokers listed groups, or some
    /// group's offsets were fetched. A listing that failed with nothing else
    /// fetched is a failed iteration for the ring-membership gate even though
    /// the groups of the last listing were kept.
    pub fn reached_cluster(&self) -> bool {
        self.partial_listing.is_none() || self.groups_discovered > 0 || !self.observation.groups.is_empty()
    }
}

/// Why a whole iteration of a cluster failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("metadata: {0}")]
    Metadata(#[source] KafkaError),
    #[error("list offsets: {0}")]
    ListOffsets(#[source] KafkaError),
    #[error("offset fetch failed for all {0} groups, first error: {1}")]
    AllGroupsFailed(usize, #[source] KafkaError),
    #[error("iteration timed out after {0:?}")]
    Timeout(Duration),
}

/// Metadata failures in a row that the last good metadata covers for.
pub const METADATA_FAILURES_TOLERATED: u32 = 2;

/// Fetches one cluster; cheap to share between iterations.
#[derive(Debug)]
pub struct ClusterFetcher {
    pub cluster: Arc<str>,
    pub client: KafkaClient,
    pub groups: NameFilter,
    pub topics: NameFilter,
    pub max_in_flight: usize,
    /// `Some` with `time_lag.method: exact` on a native-client cluster: read
    /// the produce time of the record at each lagging committed offset.
    pub exact_time_lag: Option<RecordTimeOptions>,
    /// Last good partition counts and the failures since. std mutex: held
    /// for a clone, never across an `.await`.
    pub last_metadata: std::sync::Mutex<(BTreeMap<Arc<str>, i32>, u32)>,
}

impl ClusterFetcher {
    /// Lists the cluster's groups and keeps those passing the group filter.
    /// Brokers that do not answer make the listing partial, not failed.
    ///
    /// Metadata comes first, within a quarter of the time left: a metadata
    /// request that times out on a broker that never answers falls back to the
    /// last metadata (for up to [`METADATA_FAILURES_TOLERATED`] iterations in
    /// a row), while a cluster none of whose brokers answers fails here,
    /// before any admin request is sent (no work queued for a cluster that
    /// cannot answer it).
    /// The listing gets another quarter, so a silent broker never leaves the
    /// owned groups' offsets without time.
    pub async fn discover(&self, deadline: Instant) -> Result<Discovery, FetchError> {
        let t = Instant::now();
        let quarter = |from: Instant| from + deadline.saturating_duration_since(from) / 4;
        let topic_partitions = self.metadata(quarter(t)).await?;
        let metadata_took = t.elapsed();
        let started = Instant::now();
        let list_deadline = started + deadline.saturating_duration_since(t) / 4;
        // A listing that fails as a whole (a broker that never answers holds
        // the whole ListConsumerGroups call) is a partial listing of nothing:
        // the groups of the last complete listing are kept and fetched.
        let list = match self.client.list_groups_until(Some(list_deadline)).await {
            Ok(list) => list,
            Err(e) => lagring_kafka::GroupList { groups: Vec::new(), partial: Some(e) },
        };
        let listed_count = list.groups.len();
        let kept: Vec<_> = list.groups.into_iter().filter(|g| self.groups.matches(&g.group)).collect();
        let members = kept.iter().map(|g| (g.group.clone(), Members::from_group_state(&g.state))).collect();
        let groups = kept.iter().map(|g| g.group.clone()).collect();
        let listings = kept.into_iter().map(|g| (g.group.clone(), g)).collect();
        Ok(Discovery {
            groups,
            members,
            listings,
            listed: listed_count,
            partial: list.partial,
            took: started.elapsed(),
            topic_partitions,
            metadata_took,
        })
    }

    /// Partition counts (and, inside the client, leaders) from fresh
    /// metadata, or from the last good metadata while failures are few.
    async fn metadata(&self, deadline: Instant) -> Result<BTreeMap<Arc<str>, i32>, FetchError> {
        match self.client.topic_partition_counts_until(Some(deadline)).await {
            Ok(counts) => {
                let mut last = self.last_metadata.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                *last = (counts.clone(), 0);
                Ok(counts)
            }
            Err(e) => {
                let mut last = self.last_metadata.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                last.1 += 1;
                // Only a timeout (a broker that does not answer) is covered: a
                // transport failure means the cluster is unreachable from here.
                if e.is_timeout() && last.1 <= METADATA_FAILURES_TOLERATED && !last.0.is_empty() {
                    tracing::debug!(error = %e, failures = last.1, "metadata failed, using the last metadata");
                    return Ok(last.0.clone());
                }
                Err(FetchError::Metadata(e))
            }
        }
    }

    /// Fetches committed offsets of the groups `selection` owns, then the log offsets of
    /// every partition they read. `slot_ms` stamps the observation.
    pub async fn fetch_owned(
        &self,
        discovery: Discovery,
        selection: Selection,
        slot_ms: i64,
        started: Instant,
        deadline: Instant,
    ) -> Result<FetchOutcome, FetchError> {
        let mut timings = FetchTimings { list_groups: discovery.took, ..FetchTimings::default() };
        let t = Instant::now();
        let is_share = |g: &Arc<str>| discovery.listings.get(g).is_some_and(|l| l.group_type == GroupType::Share);
        let (share, commit): (Vec<Arc<str>>, Vec<Arc<str>>) = selection.owned.into_iter().partition(is_share);
        let requested = commit.len();
        let owned_listings: Vec<GroupListing> =
            commit.iter().chain(&share).filter_map(|g| discovery.listings.get(g).cloned()).collect();
        // Committed offsets may use two thirds of what is left; metadata and
        // log offsets share the rest, so a slow coordinator never starves them.
        // Share-group positions run alongside, with the same bound. Describes
        // (state and members only) run after everything lag needs, so a broker
        // that mishandles them cannot cost this iteration's lag.
        let offsets_deadline = t + deadline.saturating_duration_since(t) * 2 / 3;
        let (results, starts) = tokio::join!(
            self.client.committed_offsets_until(commit, self.max_in_flight, Some(offsets_deadline)),
            async {
                if share.is_empty() {
                    return Vec::new();
                }
                self.client.share_group_offsets_until(share, self.max_in_flight, Some(offsets_deadline)).await
            },
        );
        timings.offset_fetch = t.elapsed();
        let mut groups = Vec::with_capacity(results.len());
        let mut group_errors = Vec::new();
        for (group, result) in results {
            match result {
                Ok(mut committed) => {
                    committed.retain(|tp, _| self.topics.matches(&tp.topic));
                    groups.push(GroupCommits { group, committed });
                }
                Err(e) => group_errors.push((group, e)),
            }
        }
        if requested > 0
            && groups.is_empty()
            && let Some((_, e)) = group_errors.pop()
        {
            return Err(FetchError::AllGroupsFailed(requested, e));
        }
        let mut share_starts = Vec::new();
        for (group, result) in starts {
            match result {
                Ok(mut starts) => {
                    starts.retain(|tp, _| self.topics.matches(&tp.topic));
                    share_starts.push((group, starts));
                }
                Err(e) => group_errors.push((group, e)),
            }
        }

        let read_topics: BTreeSet<Arc<str>> = groups
            .iter()
            .flat_map(|g| g.committed.keys())
            .chain(share_starts.iter().flat_map(|(_, s)| s.keys()))
            .map(|tp| tp.topic.clone())
            .collect();
        let mut topic_partitions = discovery.topic_partitions;
        topic_partitions.retain(|topic, _| read_topics.contains(topic));
        timings.metadata = discovery.metadata_took;

        let partitions: Vec<TopicPartition> = topic_partitions
            .iter()
            .flat_map(|(topic, &n)| (0..n.max(0)).map(move |p| TopicPartition::new(topic.clone(), p)))
            .collect();
        let t = Instant::now();
        let (offsets, partition_errors) = if partitions.is_empty() {
            (BTreeMap::new(), Vec::new())
        } else {
            self.client.log_offsets_until(partitions, Some(deadline)).await.map_err(FetchError::ListOffsets)?
        };
        timings.list_offsets = t.elapsed();

        let t = Instant::now();
        let (record_times, record_time_failures) = self.record_times(&groups, &offsets, deadline).await;
        timings.record_times = t.elapsed();

        // The librdkafka client cannot describe by type: info from the listing only.
        let described = if owned_listings.is_empty() || !self.client.describes_group_types() {
            Vec::new()
        } else {
            self.client.describe_groups_until(owned_listings.clone(), self.max_in_flight, Some(deadline)).await
        };
        let (group_info, describe_failed, owners) = group_info(owned_listings, described);

        let observation = ClusterObservation {
            cluster: self.cluster.clone(),
            observed_at_ms: slot_ms,
            groups,
            topic_partitions,
            offsets,
        };
        Ok(FetchOutcome {
            observation,
            groups_discovered: discovery.listed,
            groups_checked: discovery.groups.len(),
            discovered: discovery.groups.into_iter().collect(),
            partial_listing: discovery.partial,
            owns_cluster_series: selection.owns_cluster_series,
            members: discovery.members,
            group_errors,
            group_info,
            describe_failed,
            owners,
            share_starts,
            partition_errors,
            record_times,
            record_time_failures,
            timings,
            started,
        })
    }

    /// Produce times of the records at the lagging committed offsets of
    /// `groups` (with `exact_time_lag` only), and the pairs that failed. A
    /// call that fails as a whole fails every pair; the caller estimates them.
    async fn record_times(
        &self,
        groups: &[GroupCommits],
        offsets: &BTreeMap<TopicPartition, lagring_core::model::PartitionOffsets>,
        deadline: Instant,
    ) -> (HashMap<(TopicPartition, Offset), RecordTime>, HashSet<(TopicPartition, Offset)>) {
        let Some(options) = self.exact_time_lag else { return Default::default() };
        let lagging: BTreeSet<(TopicPartition, Offset)> = groups
            .iter()
            .flat_map(|g| g.committed.iter())
            .filter(|(tp, c)| offsets.get(*tp).is_some_and(|o| **c < o.end))
            .map(|(tp, c)| (tp.clone(), *c))
            .collect();
        if lagging.is_empty() {
            return Default::default();
        }
        let asked: Vec<_> = lagging.iter().cloned().collect();
        match self.client.record_times(asked, options, Some(deadline)).await {
            Ok(answers) => {
                let mut times = HashMap::with_capacity(answers.len());
                let mut failed = HashSet::new();
                for (key, answer) in answers {
                    match answer {
                        Ok(time) => {
                            times.insert(key, time);
                        }
                        Err(error) => {
                            tracing::debug!(%error, "exact time lag unavailable, estimating");
                            failed.insert(key);
                        }
                    }
                }
                (times, failed)
            }
            Err(error) => {
                tracing::debug!(%error, "exact time lag unavailable, estimating");
                (HashMap::new(), lagging.into_iter().collect())
            }
        }
    }
}

/// The group series' input: each listing with its describe's state and members where the
/// describe answered, else the listing's state and no member count; and the partition owners
/// the describes named.
fn group_info(
    listings: Vec<GroupListing>,
    described: Vec<(Arc<str>, Result<lagring_kafka::GroupDescription, KafkaError>)>,
) -> (Vec<GroupInfo>, HashSet<Arc<str>>, Owners) {
    let mut described: HashMap<Arc<str>, Result<lagring_kafka::GroupDescription, KafkaError>> =
        described.into_iter().collect();
    let mut failed = HashSet::new();
    let mut owners = HashMap::new();
    let info = listings
        .into_iter()
        .map(|listing| {
            let (state, members) = match described.remove(&listing.group) {
                Some(Ok(d)) => {
                    if !d.owners.is_empty() {
                        owners.insert(listing.group.clone(), d.owners);
                    }
                    (d.state, d.members)
                }
                Some(Err(error)) => {
                    tracing::debug!(group = %listing.group, %error, "describe failed, using the listing");
                    failed.insert(listing.group.clone());
                    (listing.state, None)
                }
                None => (listing.state, None),
            };
            GroupInfo {
                group: listing.group,
                group_type: Arc::from(listing.group_type.as_str()),
                state: Arc::from(state),
                members,
            }
        })
        .collect();
    (info, failed, owners)
}

/// The groups of one cluster that passed the group filter this iteration.
#[derive(Debug)]
pub struct Discovery {
    pub groups: Vec<Arc<str>>,
    /// Members of each group in `groups` as ListGroups reported them.
    pub members: HashMap<Arc<str>, Members>,
    /// The listing of each group in `groups` (type and state).
    pub listings: HashMap<Arc<str>, GroupListing>,
    /// Groups the broker listed, before filtering.
    pub listed: usize,
    /// Set when some brokers did not answer: groups they coordinate may be
    /// missing from `groups` without having been deleted.
    pub partial: Option<KafkaError>,
    pub took: Duration,
    /// Partition count of every topic (metadata fetched before listing).
    pub topic_partitions: BTreeMap<Arc<str>, i32>,
    pub metadata_took: Duration,
}
