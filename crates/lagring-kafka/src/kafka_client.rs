//! [`KafkaClient`]: the async face of the adapter, the one type the binary calls. It dispatches
//! to one of two backends chosen at construction ([`ClientKind`]):
//!
//! - librdkafka (`librdkafka`): admin calls on the blocking pool, one OffsetFetch per group;
//! - native (`native`): the Kafka protocol on tokio, batched FindCoordinator and OffsetFetch.
//!
//! Both answer with the same types, errors and deadline semantics, and count requests in the
//! same [`RequestStats`], so callers and benchmarks cannot tell them apart except by cost.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use lagring_core::group_series::SharePosition;
use lagring_core::model::{Offset, PartitionOffsets, TopicPartition};
use tracing::debug;

use crate::answers::{BrokerSeen, GroupList, GroupListing, OffsetSpec};
use crate::config::{ClientKind, KafkaConnection};
use crate::error::{BrokerError, KafkaError};
use crate::group_types::GroupDescription;
use crate::librdkafka::RdkafkaClient;
use crate::native::NativeClient;
use crate::record_time::{RecordTimeOptions, RecordTimes};
use crate::stats::{Api, RequestStats};

/// A client of one cluster. Cheap to clone: all clones share one backend and
/// one set of counters.
#[derive(Clone)]
pub struct KafkaClient {
    cluster: Arc<str>,
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Librdkafka(RdkafkaClient),
    Native(Arc<NativeClient>),
}

impl std::fmt::Debug for KafkaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.backend {
            Backend::Librdkafka(_) => "librdkafka",
            Backend::Native(_) => "native",
        };
        f.debug_struct("KafkaClient").field("cluster", &self.cluster).field("backend", &kind).finish_non_exhaustive()
    }
}

type LogOffsets = (BTreeMap<TopicPartition, PartitionOffsets>, Vec<(TopicPartition, KafkaError)>);

impl KafkaClient {
    /// The client of `kind` for `cluster`. Contacts nothing: both clients
    /// connect lazily, on the first request (librdkafka in the background),
    /// so this fails only on invalid settings.
    pub fn new(cluster: &str, conn: &KafkaConnection, kind: ClientKind) -> Result<Self, KafkaError> {
        let name: Arc<str> = Arc::from(cluster);
        let backend = match kind {
            ClientKind::Librdkafka => Backend::Librdkafka(RdkafkaClient::new(cluster, conn)?),
            ClientKind::Native(options) => Backend::Native(Arc::new(NativeClient::new(name.clone(), conn, options)?)),
        };
        Ok(Self { cluster: name, backend })
    }

    /// The cluster name errors and logs carry.
    pub fn cluster(&self) -> &Arc<str> {
        &self.cluster
    }

    /// Request counters since the client was created.
    pub fn stats(&self) -> RequestStats {
        match &self.backend {
            Backend::Librdkafka(c) => c.stats(),
            Backend::Native(c) => c.stats(),
        }
    }

    /// Blocking librdkafka workers running now (each bounded by its deadline);
    /// always 0 for the native client, which blocks no thread.
    pub fn blocking_in_flight(&self) -> i64 {
        match &self.backend {
            Backend::Librdkafka(c) => c.blocking_in_flight(),
            Backend::Native(_) => 0,
        }
    }

    /// Each broker (by node id) sent a request since the previous call, with what those requests
    /// met; counting starts afresh. The native client only: the librdkafka client reports none
    /// (its per-broker state is not exposed through the admin API lagring uses).
    pub fn brokers_seen(&self) -> Vec<BrokerSeen> {
        match &self.backend {
            Backend::Librdkafka(_) => Vec::new(),
            Backend::Native(c) => c.brokers_seen(),
        }
    }

    /// All consumer groups on all brokers. Fails if any broker did not answer,
    /// so a partial listing is never mistaken for groups having disappeared.
    pub async fn list_groups(&self) -> Result<Vec<GroupListing>, KafkaError> {
        let list = self.list_groups_until(None).await?;
        match list.partial {
            None => Ok(list.groups),
            Some(e) => Err(e),
        }
    }

    /// The groups of every broker that answered by `deadline`; fails only if
    /// the listing failed as a whole. A partial listing says so.
    pub async fn list_groups_until(&self, deadline: Option<Instant>) -> Result<GroupList, KafkaError> {
        match &self.backend {
            Backend::Librdkafka(c) => c.list_groups_until(deadline).await,
            Backend::Native(c) => c.list_groups_until(deadline).await,
        }
    }

    /// Committed offsets of each group (duplicates answered once), with up to
    /// `max_in_flight` requests outstanding. Partitions without a commit are
    /// left out of a group's map.
    pub async fn committed_offsets(
        &self,
        groups: Vec<Arc<str>>,
        max_in_flight: usize,
    ) -> Vec<(Arc<str>, Result<BTreeMap<TopicPartition, Offset>, KafkaError>)> {
        self.committed_offsets_until(groups, max_in_flight, None).await
    }

    /// Like [`KafkaClient::committed_offsets`], with every answer due by
    /// `deadline`: groups without one by then fail with a timeout, the others
    /// are kept. A per-group error fails only that group.
    pub async fn committed_offsets_until(
        &self,
        groups: Vec<Arc<str>>,
        max_in_flight: usize,
        deadline: Option<Instant>,
    ) -> Vec<(Arc<str>, Result<BTreeMap<TopicPartition, Offset>, KafkaError>)> {
        match &self.backend {
            Backend::Librdkafka(c) => c.committed_offsets_until(groups, max_in_flight, deadline).await,
            Backend::Native(c) => c.committed_offsets_until(groups, max_in_flight, deadline).await,
        }
    }

    /// Whether this client describes groups by type and reads share-group offsets (the native
    /// client); the librdkafka client fails those calls for every group.
    pub fn describes_group_types(&self) -> bool {
        matches!(self.backend, Backend::Native(_))
    }

    /// State and member count of each listed group through its type's describe API (duplicates
    /// answered once, in input order), due by `deadline`. A per-group error fails only that
    /// group. Native client only: the librdkafka client fails every group with
    /// `KafkaError::Unsupported` (see `crate::group_types`).
    pub async fn describe_groups_until(
        &self,
        groups: Vec<GroupListing>,
        max_in_flight: usize,
        deadline: Option<Instant>,
    ) -> Vec<(Arc<str>, Result<GroupDescription, KafkaError>)> {
        match &self.backend {
            Backend::Librdkafka(_) => {
                groups.into_iter().map(|g| (g.group, Err(self.unsupported("describe groups")))).collect()
            }
            Backend::Native(c) => c.describe_groups_until(groups, max_in_flight, deadline).await,
        }
    }

    /// Share-partition start offset (KIP-932) of every initialised partition of each share
    /// group (duplicates answered once, in input order), due by `deadline`: a share group's
    /// position, as a committed offset is a consumer group's. Native client only (see
    /// [`KafkaClient::describe_groups_until`]). Each start carries the broker's own lag where
    /// the broker computed it (DescribeShareGroupOffsets v1, KIP-1226).
    pub async fn share_group_offsets_until(
        &self,
        groups: Vec<Arc<str>>,
        max_in_flight: usize,
        deadline: Option<Instant>,
    ) -> Vec<(Arc<str>, Result<BTreeMap<TopicPartition, SharePosition>, KafkaError>)> {
        match &self.backend {
            Backend::Librdkafka(_) => {
                groups.into_iter().map(|g| (g, Err(self.unsupported("describe share group offsets")))).collect()
            }
            Backend::Native(c) => c.share_group_offsets_until(groups, max_in_flight, deadline).await,
        }
    }

    fn unsupported(&self, api: &'static str) -> KafkaError {
        KafkaError::Request {
            cluster: self.cluster.clone(),
            api,
            error: BrokerError {
                code: crate::error::UNSUPPORTED_FEATURE,
                message: "not supported by the librdkafka client; use the native client".to_owned(),
            },
        }
    }

    /// Partition count of every topic in the cluster metadata. Topics the
    /// metadata reports an error for are left out. Also remembers each
    /// partition's leader, by which later ListOffsets calls are split.
    pub async fn topic_partition_counts(&self) -> Result<BTreeMap<Arc<str>, i32>, KafkaError> {
        self.topic_partition_counts_until(None).await
    }

    /// Like [`KafkaClient::topic_partition_counts`], due by `deadline`.
    pub async fn topic_partition_counts_until(
        &self,
        deadline: Option<Instant>,
    ) -> Result<BTreeMap<Arc<str>, i32>, KafkaError> {
        match &self.backend {
            Backend::Librdkafka(c) => c.topic_partition_counts_until(deadline).await,
            Backend::Native(c) => c.topic_partition_counts_until(deadline).await,
        }
    }

    /// The `spec` offset of each partition. The outer error means the request
    /// failed as a whole; otherwise every requested partition has an entry.
    pub async fn list_offsets(
        &self,
        partitions: Vec<TopicPartition>,
        spec: OffsetSpec,
    ) -> Result<BTreeMap<TopicPartition, Result<Offset, KafkaError>>, KafkaError> {
        let mut per_spec = self.fetch_offsets(partitions, &[spec], None).await?;
        Ok(per_spec.pop().unwrap_or_default())
    }

    /// Earliest and latest offset of each partition, fetched concurrently.
    /// Partitions for which either failed are returned as errors.
    pub async fn log_offsets(&self, partitions: Vec<TopicPartition>) -> Result<LogOffsets, KafkaError> {
        self.log_offsets_until(partitions, None).await
    }

    /// Like [`KafkaClient::log_offsets`], due by `deadline`. A leader that
    /// fails or does not answer costs only the partitions it leads.
    pub async fn log_offsets_until(
        &self,
        partitions: Vec<TopicPartition>,
        deadline: Option<Instant>,
    ) -> Result<LogOffsets, KafkaError> {
        let specs = [OffsetSpec::Earliest, OffsetSpec::Latest];
        let mut per_spec = self.fetch_offsets(partitions, &specs, deadline).await?;
        let latest = per_spec.pop().unwrap_or_default();
        let mut earliest = per_spec.pop().unwrap_or_default();
        let mut offsets = BTreeMap::new();
        let mut errors = Vec::new();
        for (tp, end) in latest {
            let start = earliest.remove(&tp).unwrap_or_else(|| {
                Err(KafkaError::MissingPartition {
                    cluster: self.cluster.clone(),
                    api: Api::ListOffsets.name(),
                    partition: tp.clone(),
                })
            });
            match (start, end) {
                (Ok(start), Ok(end)) => {
                    offsets.insert(tp, PartitionOffsets { start, end });
                }
                (Err(e), _) | (_, Err(e)) => errors.push((tp, e)),
            }
        }
        debug!(cluster = %self.cluster, partitions = offsets.len(), failed = errors.len(), "fetched log offsets");
        Ok((offsets, errors))
    }

    /// One map per spec, each with an entry for every requested partition.
    async fn fetch_offsets(
        &self,
        partitions: Vec<TopicPartition>,
        specs: &[OffsetSpec],
        deadline: Option<Instant>,
    ) -> Result<Vec<BTreeMap<TopicPartition, Result<Offset, KafkaError>>>, KafkaError> {
        match &self.backend {
            Backend::Librdkafka(c) => c.fetch_offsets(partitions, specs, deadline).await,
            Backend::Native(c) => c.fetch_offsets(partitions, specs, deadline).await,
        }
    }

    /// When the record at each (partition, committed offset) was produced, read from its record
    /// batch with Fetch (one request per leader, bounded follow-ups, cached batches; see
    /// [`RecordTimeOptions`]), for exact time lag. The outer error means the call failed as a
    /// whole (always so for the librdkafka client, which does not support it); otherwise every
    /// distinct pair asked has an entry.
    pub async fn record_times(
        &self,
        commits: Vec<(TopicPartition, Offset)>,
        options: RecordTimeOptions,
        deadline: Option<Instant>,
    ) -> Result<RecordTimes, KafkaError> {
        match &self.backend {
            Backend::Librdkafka(_) => {
                Err(KafkaError::NeedsNative { cluster: self.cluster.clone(), what: "reading record produce times" })
            }
            Backend::Native(c) => c.record_times(commits, options, deadline).await,
        }
    }
}
