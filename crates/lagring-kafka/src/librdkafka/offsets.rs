//! Log offsets through librdkafka: [`RdkafkaClient::fetch_offsets`], behind
//! `KafkaClient::list_offsets` and `KafkaClient::log_offsets`.
//!
//! Partitions are deduplicated and split into one ListOffsets admin call per
//! spec and partition leader, each of at most [`MAX_PARTITIONS_PER_CALL`]
//! partitions; all calls are in flight together on one private queue. The
//! split exists because librdkafka 2.12 merges each per-leader reply into the
//! call's result with a nested loop over the call's partitions
//! (`rd_kafka_ListOffsets_response_merge`), which is quadratic in the
//! partitions of one call: at 10,000 partitions one call per spec cost 0.84 s
//! of CPU per iteration. A call holding only one leader's partitions gets one
//! reply, so the scan is over that leader's partitions only, and the chunk
//! bounds it further. On the wire this is still one request per leader per
//! spec while no leader has more than the chunk.
//!
//! Leaders come from the metadata of the last `topic_partition_counts` call (the
//! fetch stage calls it right before `log_offsets`),
//! so splitting costs no extra Metadata request. The map only decides how
//! partitions are grouped: librdkafka still looks up the current leader of
//! every partition itself, so a stale or missing entry costs speed, never
//! correctness. Partitions without a known leader share calls of their own.
//!
//! The isolation level comes from the connection, so "latest" is the last
//! stable offset under read_committed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::CString;
use std::sync::{Arc, Mutex, PoisonError};

use lagring_core::model::{Offset, TopicPartition};

use super::{RdkafkaClient, WORKER_SLACK};
use crate::answers::OffsetSpec;
use crate::error::KafkaError;
use crate::ffi::{self, RawCall, RawSpec};
use crate::stats::Api;

impl OffsetSpec {
    fn raw(self) -> RawSpec {
        match self {
            OffsetSpec::Earliest => RawSpec::Earliest,
            OffsetSpec::Latest => RawSpec::Latest,
        }
    }
}

type PartitionResults = BTreeMap<TopicPartition, Result<Offset, KafkaError>>;

/// Most partitions in one ListOffsets admin call. librdkafka's merge of a
/// call's replies costs about (partitions of the call)² / 2 topic-name
/// comparisons, so the chunk bounds that cost (~12.5 M comparisons, some
/// 0.1 s, at the limit) while keeping one wire request per leader and spec
/// for any leader with up to this many partitions.
const MAX_PARTITIONS_PER_CALL: usize = 5_000;

/// Leader broker id of each partition (index = partition number), per topic.
type LeaderMap = HashMap<Arc<str>, Vec<i32>>;

/// The partition leaders seen in the last metadata, shared by all clones of
/// the client. A `std` mutex: it is held only to swap or clone an `Arc`,
/// never across an `.await`.
#[derive(Default)]
pub(super) struct LeaderCache(Mutex<Arc<LeaderMap>>);

impl LeaderCache {
    /// Remembers the leaders of every topic in `metadata`.
    pub(super) fn update(&self, metadata: &rdkafka::metadata::Metadata) {
        let leaders: LeaderMap = metadata
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| {
                let mut by_partition = vec![-1; t.partitions().len()];
                for p in t.partitions() {
                    if let Some(slot) = usize::try_from(p.id()).ok().and_then(|i| by_partition.get_mut(i)) {
                        *slot = p.leader();
                    }
                }
                (Arc::from(t.name()), by_partition)
            })
            .collect();
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(leaders);
    }

    fn snapshot(&self) -> Arc<LeaderMap> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Splits deduplicated partitions into per-leader chunks of at most
/// [`MAX_PARTITIONS_PER_CALL`]; partitions with no known leader (or a
/// negative one) form a group of their own.
fn split_by_leader(partitions: Vec<(&TopicPartition, CString)>, leaders: &LeaderMap) -> Vec<Vec<(CString, i32)>> {
    let mut by_leader: BTreeMap<Option<i32>, Vec<(CString, i32)>> = BTreeMap::new();
    for (tp, topic) in partitions {
        let leader = leaders
            .get(&tp.topic)
            .and_then(|l| l.get(usize::try_from(tp.partition).ok()?))
            .copied()
            .filter(|&id| id >= 0);
        by_leader.entry(leader).or_default().push((topic, tp.partition));
    }
    let mut chunks = Vec::new();
    for (_, mut parts) in by_leader {
        while parts.len() > MAX_PARTITIONS_PER_CALL {
            let rest = parts.split_off(MAX_PARTITIONS_PER_CALL);
            chunks.push(std::mem::replace(&mut parts, rest));
        }
        chunks.push(parts);
    }
    chunks
}

impl RdkafkaClient {
    /// One ListOffsets call per spec and leader chunk, all in one blocking
    /// worker. Returns one map per spec, each with an entry for every
    /// requested partition.
    pub(crate) async fn fetch_offsets(
        &self,
        partitions: Vec<TopicPartition>,
        specs: &[OffsetSpec],
        deadline: Option<std::time::Instant>,
    ) -> Result<Vec<PartitionResults>, KafkaError> {
        let requested: BTreeSet<TopicPartition> = partitions.into_iter().collect();
        let mut invalid: BTreeSet<&TopicPartition> = BTreeSet::new();
        let mut named: Vec<(&TopicPartition, CString)> = Vec::with_capacity(requested.len());
        for tp in &requested {
            match CString::new(tp.topic.as_bytes()) {
                Ok(topic) => named.push((tp, topic)),
                Err(_) => {
                    invalid.insert(tp);
                }
            }
        }
        let chunks = split_by_leader(named, &self.inner.leaders.snapshot());
        let calls: Vec<RawCall> = specs
            .iter()
            .flat_map(|spec| chunks.iter().map(|parts| RawCall { spec: spec.raw(), partitions: parts.clone() }))
            .collect();
        let call_count = calls.len() as u64;
        let answers = if calls.is_empty() {
            Vec::new()
        } else {
            self.count(Api::ListOffsets, call_count, 0);
            let budget = self.capped(self.inner.request_timeout + WORKER_SLACK, deadline);
            let (timeout, isolation) = (self.inner.request_timeout, self.inner.isolation);
            let outcome = self
                .blocking(Api::ListOffsets, budget, None, move |admin, deadline| {
                    ffi::list_offsets(admin, &calls, isolation, timeout, deadline)
                })
                .await
                .and_then(|r| r.map_err(|error| self.request_error(Api::ListOffsets, error)));
            let answers = match outcome {
                Ok(answers) => answers,
                Err(e) => {
                    self.count(Api::ListOffsets, 0, call_count);
                    return Err(e);
                }
            };
            let failed = answers.iter().filter(|a| a.is_err()).count();
            self.count(Api::ListOffsets, 0, failed as u64);
            answers
        };
        // Answers come in call order: all chunks of the first spec, then all
        // of the next. A failed call (one leader down or slow) fails only the
        // partitions of its chunk.
        let mut answers = answers.into_iter();
        let mut maps = Vec::with_capacity(specs.len());
        for _ in specs {
            let mut entries = Vec::with_capacity(chunks.len());
            let mut failed_chunks = Vec::new();
            for (answer, chunk) in answers.by_ref().take(chunks.len()).zip(&chunks) {
                match answer {
                    Ok(found) => entries.push(found),
                    Err(error) => failed_chunks.push((chunk, error)),
                }
            }
            let mut map = self.spec_results(&requested, &invalid, entries);
            for (chunk, error) in failed_chunks {
                for (topic, partition) in chunk {
                    let tp = TopicPartition::new(topic.to_string_lossy().as_ref(), *partition);
                    if let Some(slot) = map.get_mut(&tp) {
                        *slot = Err(KafkaError::Partition {
                            cluster: self.inner.cluster.clone(),
                            api: Api::ListOffsets.name(),
                            partition: tp,
                            error: error.clone(),
                        });
                    }
                }
            }
            maps.push(map);
        }
        Ok(maps)
    }

    /// One spec's answer for every requested partition, from the entries of
    /// all its calls.
    fn spec_results(
        &self,
        requested: &BTreeSet<TopicPartition>,
        invalid: &BTreeSet<&TopicPartition>,
        entries: Vec<Vec<ffi::RawOffset>>,
    ) -> PartitionResults {
        let cluster = &self.inner.cluster;
        let mut by_key: HashMap<(&str, i32), Result<i64, crate::error::BrokerError>> = HashMap::new();
        for (topic, partition, r) in entries.iter().flatten() {
            by_key.insert((topic.as_str(), *partition), r.clone());
        }
        let mut map = PartitionResults::new();
        for tp in requested {
            let outcome = match by_key.remove(&(&*tp.topic, tp.partition)) {
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
        map
    }

    fn missing(&self, tp: &TopicPartition) -> KafkaError {
        KafkaError::MissingPartition {
            cluster: self.inner.cluster.clone(),
            api: Api::ListOffsets.name(),
            partition: tp.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_split_by_leader_then_chunked() {
        let big = MAX_PARTITIONS_PER_CALL + 2;
        let tps: Vec<TopicPartition> = (0..i32::try_from(big).unwrap())
            .map(|p| TopicPartition::new("big", p))
            .chain((0..3).map(|p| TopicPartition::new("small", p)))
            .chain([TopicPartition::new("unknown", 0)])
            .collect();
        // big: all on leader 1; small: 0, 2, and no leader.
        let leaders: LeaderMap =
            [(Arc::from("big"), vec![1; big]), (Arc::from("small"), vec![0, 2, -1])].into_iter().collect();
        let named = tps.iter().map(|tp| (tp, CString::new(tp.topic.as_bytes()).unwrap())).collect();
        let chunks = split_by_leader(named, &leaders);
        let shape: Vec<(usize, Vec<String>)> = chunks
            .iter()
            .map(|c| {
                let topics: BTreeSet<String> = c.iter().map(|(t, _)| t.to_string_lossy().into_owned()).collect();
                (c.len(), topics.into_iter().collect())
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                (2, vec!["small".to_owned(), "unknown".to_owned()]),
                (1, vec!["small".to_owned()]),
                (MAX_PARTITIONS_PER_CALL, vec!["big".to_owned()]),
                (2, vec!["big".to_owned()]),
                (1, vec!["small".to_owned()]),
            ]
        );
        let total: usize = chunks.iter().map(Vec::len).sum();
        assert_eq!(total, tps.len());
    }
}
