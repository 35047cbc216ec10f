//! Log offsets: [`KafkaClient::list_offsets`] for one spec and
//! [`KafkaClient::log_offsets`] for earliest and latest together.
//!
//! Partitions are deduplicated and sent in one ListOffsets admin call per
//! spec (librdkafka batches per leader). The isolation level comes from the
//! connection, so "latest" is the last stable offset under read_committed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::CString;

use lagring_core::model::{Offset, PartitionOffsets, TopicPartition};
use tracing::debug;

use super::{KafkaClient, WORKER_SLACK};
use crate::error::KafkaError;
use crate::ffi::{self, RawSpec};
use crate::stats::Api;

/// Which end of a partition's log to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetSpec {
    /// Log-start offset.
    Earliest,
    /// High watermark (read_uncommitted) or last stable offset
    /// (read_committed).
    Latest,
}

impl OffsetSpec {
    fn raw(self) -> RawSpec {
        match self {
            OffsetSpec::Earliest => RawSpec::Earliest,
            OffsetSpec::Latest => RawSpec::Latest,
        }
    }
}

type PartitionResults = BTreeMap<TopicPartition, Result<Offset, KafkaError>>;

impl KafkaClient {
    /// The `spec` offset of each partition. The outer error means the request
    /// failed as a whole; otherwise every requested partition has an entry.
    pub async fn list_offsets(
        &self,
        partitions: Vec<TopicPartition>,
        spec: OffsetSpec,
    ) -> Result<BTreeMap<TopicPartition, Result<Offset, KafkaError>>, KafkaError> {
        let mut per_spec = self.fetch_offsets(partitions, &[spec]).await?;
        Ok(per_spec.pop().unwrap_or_default())
    }

    /// Earliest and latest offset of each partition, fetched concurrently.
    /// Partitions for which either failed are returned as errors.
    pub async fn log_offsets(
        &self,
        partitions: Vec<TopicPartition>,
    ) -> Result<(BTreeMap<TopicPartition, PartitionOffsets>, Vec<(TopicPartition, KafkaError)>), KafkaError> {
        let mut per_spec = self.fetch_offsets(partitions, &[OffsetSpec::Earliest, OffsetSpec::Latest]).await?;
        let latest = per_spec.pop().unwrap_or_default();
        let mut earliest = per_spec.pop().unwrap_or_default();
        let mut offsets = BTreeMap::new();
        let mut errors = Vec::new();
        for (tp, end) in latest {
            let start = earliest.remove(&tp).unwrap_or_else(|| Err(self.missing(&tp)));
            match (start, end) {
                (Ok(start), Ok(end)) => {
                    offsets.insert(tp, PartitionOffsets { start, end });
                }
                (Err(e), _) | (_, Err(e)) => errors.push((tp, e)),
            }
        }
        debug!(cluster = %self.inner.cluster, partitions = offsets.len(), failed = errors.len(), "fetched log offsets");
        Ok((offsets, errors))
    }

    /// One ListOffsets call per spec, all in one blocking worker. Returns one
    /// map per spec, each with an entry for every requested partition.
    async fn fetch_offsets(
        &self,
        partitions: Vec<TopicPartition>,
        specs: &[OffsetSpec],
    ) -> Result<Vec<PartitionResults>, KafkaError> {
        let cluster = self.inner.cluster.clone();
        let requested: BTreeSet<TopicPartition> = partitions.into_iter().collect();
        let mut invalid: Vec<TopicPartition> = Vec::new();
        let mut raw_parts: Vec<(CString, i32)> = Vec::with_capacity(requested.len());
        for tp in &requested {
            match CString::new(tp.topic.as_bytes()) {
                Ok(topic) => raw_parts.push((topic, tp.partition)),
                Err(_) => invalid.push(tp.clone()),
            }
        }
        let answers = if raw_parts.is_empty() {
            specs.iter().map(|_| Ok(Vec::new())).collect()
        } else {
            self.count(Api::ListOffsets, specs.len() as u64, 0);
            let raw_specs: Vec<RawSpec> = specs.iter().map(|s| s.raw()).collect();
            let (timeout, isolation) = (self.inner.request_timeout, self.inner.isolation);
            let outcome = self
                .blocking(Api::ListOffsets, timeout + WORKER_SLACK, move |admin, deadline| {
                    ffi::list_offsets(admin, &raw_parts, &raw_specs, isolation, timeout, deadline)
                })
                .await
                .and_then(|r| r.map_err(|error| self.request_error(Api::ListOffsets, error)));
            let answers = match outcome {
                Ok(answers) => answers,
                Err(e) => {
                    self.count(Api::ListOffsets, 0, specs.len() as u64);
                    return Err(e);
                }
            };
            let failed = answers.iter().filter(|a| a.is_err()).count();
            self.count(Api::ListOffsets, 0, failed as u64);
            answers
        };
        let mut maps = Vec::with_capacity(specs.len());
        for answer in answers {
            let entries = answer.map_err(|error| self.request_error(Api::ListOffsets, error))?;
            let mut by_key: HashMap<(String, i32), Result<i64, crate::error::BrokerError>> =
                entries.into_iter().map(|(topic, partition, r)| ((topic, partition), r)).collect();
            let mut map = PartitionResults::new();
            for tp in &requested {
                let outcome = match by_key.remove(&(tp.topic.to_string(), tp.partition)) {
                    _ if invalid.contains(tp) => Err(KafkaError::InvalidName {
                        cluster: cluster.clone(),
                        what: "topic name",
                        name: tp.topic.to_string(),
                    }),
                    None => Err(self.missing(tp)),
                    Some(Err(error)) => Err(KafkaError::Partition {
                        cluster: cluster.clone(),
                        api: Api::ListOffsets.name(),
                        partition: tp.clone(),
                        error,
                    }),
                    Some(Ok(offset)) if offset < 0 => Err(KafkaError::InvalidOffset {
                        cluster: cluster.clone(),
                        api: Api::ListOffsets.name(),
                        partition: tp.clone(),
                        offset,
                    }),
                    Some(Ok(offset)) => Ok(offset),
                };
                map.insert(tp.clone(), outcome);
            }
            maps.push(map);
        }
        Ok(maps)
    }

    fn missing(&self, tp: &TopicPartition) -> KafkaError {
        KafkaError::MissingPartition {
            cluster: self.inner.cluster.clone(),
            api: Api::ListOffsets.name(),
            partition: tp.clone(),
        }
    }
}
