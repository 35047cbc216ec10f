//! The fetch stage of one cluster: discover groups, fetch their committed
//! offsets, then the log offsets of every partition they read.
//!
//! Order matters (DESIGN §3): committed offsets are fetched *before* end
//! offsets, so a race can only over-estimate lag, never under-estimate it.
//! End offsets are fetched once per partition per iteration however many
//! groups read it, in ListOffsets requests that librdkafka batches per leader.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lagring_core::filter::NameFilter;
use lagring_core::model::{ClusterObservation, GroupCommits, TopicPartition};
use lagring_kafka::{KafkaClient, KafkaError};

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
}

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
    /// Groups dropped because OffsetFetch failed for them.
    pub group_errors: Vec<(Arc<str>, KafkaError)>,
    /// Partitions whose log offsets the broker did not return.
    pub partition_errors: Vec<(TopicPartition, KafkaError)>,
    /// Set when some brokers did not list their groups this iteration.
    pub partial_listing: Option<KafkaError>,
    pub timings: FetchTimings,
    pub started: Instant,
}

/// Why a whole iteration of a cluster failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("list groups: {0}")]
    ListGroups(#[source] KafkaError),
    #[error("metadata: {0}")]
    Metadata(#[source] KafkaError),
    #[error("list offsets: {0}")]
    ListOffsets(#[source] KafkaError),
    #[error("offset fetch failed for all {0} groups, first error: {1}")]
    AllGroupsFailed(usize, #[source] KafkaError),
    #[error("iteration timed out after {0:?}")]
    Timeout(Duration),
}

/// Fetches one cluster; cheap to share between iterations.
#[derive(Debug)]
pub struct ClusterFetcher {
    pub cluster: Arc<str>,
    pub client: KafkaClient,
    pub groups: NameFilter,
    pub topics: NameFilter,
    pub max_in_flight: usize,
}

impl ClusterFetcher {
    /// Lists the cluster's groups and keeps those passing the group filter.
    /// Brokers that do not answer make the listing partial, not failed.
    pub async fn discover(&self, deadline: Instant) -> Result<Discovery, FetchError> {
        let started = Instant::now();
        let list = self.client.list_groups_until(Some(deadline)).await.map_err(FetchError::ListGroups)?;
        let listed_count = list.groups.len();
        let groups = list.groups.into_iter().map(|g| g.group).filter(|g| self.groups.matches(g)).collect();
        Ok(Discovery { groups, listed: listed_count, partial: list.partial, took: started.elapsed() })
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
        let requested = selection.owned.len();
        // Committed offsets may use half of what is left; metadata and log
        // offsets share the rest, so a slow coordinator never starves them.
        let offsets_deadline = t + deadline.saturating_duration_since(t) / 2;
        let results =
            self.client.committed_offsets_until(selection.owned, self.max_in_flight, Some(offsets_deadline)).await;
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

        let read_topics: BTreeSet<Arc<str>> =
            groups.iter().flat_map(|g| g.committed.keys().map(|tp| tp.topic.clone())).collect();
        let t = Instant::now();
        let topic_partitions: BTreeMap<Arc<str>, i32> = if read_topics.is_empty() {
            BTreeMap::new()
        } else {
            let mut all =
                self.client.topic_partition_counts_until(Some(deadline)).await.map_err(FetchError::Metadata)?;
            all.retain(|topic, _| read_topics.contains(topic));
            all
        };
        timings.metadata = t.elapsed();

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
            group_errors,
            partition_errors,
            timings,
            started,
        })
    }
}

/// The groups of one cluster that passed the group filter this iteration.
#[derive(Debug)]
pub struct Discovery {
    pub groups: Vec<Arc<str>>,
    /// Groups the broker listed, before filtering.
    pub listed: usize,
    /// Set when some brokers did not answer: groups they coordinate may be
    /// missing from `groups` without having been deleted.
    pub partial: Option<KafkaError>,
    pub took: Duration,
}
