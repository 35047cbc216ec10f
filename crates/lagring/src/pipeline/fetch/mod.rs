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
use lagring_kafka::{GroupListing, GroupType, KafkaClient, KafkaError, RecordTimeOptions};

mod outcome;

pub use outcome::{
    Descriptions, Discovery, FetchFailures, FetchOutcome, FetchTimings, GroupsSeen, Owners, RecordTimes, Selection,
};

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
    last_metadata: std::sync::Mutex<(BTreeMap<Arc<str>, i32>, u32)>,
}

/// Offset fetches in flight per cluster unless configured
/// (`clusters[].max_in_flight_offset_fetches` has its own default).
const MAX_IN_FLIGHT: usize = 8;

impl ClusterFetcher {
    /// A fetcher of every group and topic of `client`'s cluster, with
    /// interpolated time lag; the `with_*` methods narrow it.
    pub fn new(cluster: Arc<str>, client: KafkaClient) -> Self {
        Self {
            cluster,
            client,
            groups: NameFilter::allow_all(),
            topics: NameFilter::allow_all(),
            max_in_flight: MAX_IN_FLIGHT,
            exact_time_lag: None,
            last_metadata: std::sync::Mutex::default(),
        }
    }

    /// Only the groups and topics the filters match.
    pub fn with_filters(self, groups: NameFilter, topics: NameFilter) -> Self {
        Self { groups, topics, ..self }
    }

    /// At most `max_in_flight` offset fetches (and describes) at once.
    pub fn with_max_in_flight(self, max_in_flight: usize) -> Self {
        Self { max_in_flight, ..self }
    }

    /// Reads the produce time of the record at each lagging committed offset
    /// (`time_lag.method: exact`; native client only).
    pub fn with_exact_time_lag(self, exact_time_lag: Option<RecordTimeOptions>) -> Self {
        Self { exact_time_lag, ..self }
    }

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
        let matched = kept.iter().map(|g| g.group.clone()).collect();
        let listings = kept.into_iter().map(|g| (g.group.clone(), g)).collect();
        Ok(Discovery {
            matched,
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
        let record_times = self.record_times(&groups, &offsets, deadline).await;
        timings.record_times = t.elapsed();

        // The librdkafka client cannot describe by type: info from the listing only.
        let described = if owned_listings.is_empty() || !self.client.describes_group_types() {
            Vec::new()
        } else {
            self.client.describe_groups_until(owned_listings.clone(), self.max_in_flight, Some(deadline)).await
        };
        let described = describe_results(owned_listings, described);

        let observation = ClusterObservation {
            cluster: self.cluster.clone(),
            observed_at_ms: slot_ms,
            groups,
            topic_partitions,
            offsets,
        };
        let mut outcome = FetchOutcome::new(observation, started);
        outcome.share_starts = share_starts;
        outcome.groups = GroupsSeen {
            listed: discovery.listed,
            matched: discovery.matched.into_iter().collect(),
            members: discovery.members,
            partial: discovery.partial,
        };
        outcome.described = described;
        outcome.failures = FetchFailures { groups: group_errors, partitions: partition_errors };
        outcome.record_times = record_times;
        outcome.owns_cluster_series = selection.owns_cluster_series;
        outcome.timings = timings;
        Ok(outcome)
    }

    /// Produce times of the records at the lagging committed offsets of
    /// `groups` (with `exact_time_lag` only), and the pairs that failed. A
    /// call that fails as a whole fails every pair; the caller estimates them.
    async fn record_times(
        &self,
        groups: &[GroupCommits],
        offsets: &BTreeMap<TopicPartition, lagring_core::model::PartitionOffsets>,
        deadline: Instant,
    ) -> RecordTimes {
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
                RecordTimes { read: times, failed }
            }
            Err(error) => {
                tracing::debug!(%error, "exact time lag unavailable, estimating");
                RecordTimes { read: HashMap::new(), failed: lagging.into_iter().collect() }
            }
        }
    }
}

/// The group series' input: each listing with its describe's state and members where the
/// describe answered, else the listing's state and no member count; and the partition owners
/// and members with their partitions the describes named.
fn describe_results(
    listings: Vec<GroupListing>,
    described: Vec<(Arc<str>, Result<lagring_kafka::GroupDescription, KafkaError>)>,
) -> Descriptions {
    let mut described: HashMap<Arc<str>, Result<lagring_kafka::GroupDescription, KafkaError>> =
        described.into_iter().collect();
    let mut failed = HashSet::new();
    let mut owners = HashMap::new();
    let mut members = HashMap::new();
    let info = listings
        .into_iter()
        .map(|listing| {
            let (state, count) = match described.remove(&listing.group) {
                Some(Ok(d)) => {
                    if !d.owners.is_empty() {
                        owners.insert(listing.group.clone(), d.owners);
                    }
                    if d.members.is_some() {
                        members.insert(listing.group.clone(), d.member_assignments);
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
                members: count,
            }
        })
        .collect();
    Descriptions { info, failed, owners, members }
}
