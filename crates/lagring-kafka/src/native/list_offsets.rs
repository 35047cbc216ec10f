//! ListOffsets: earliest and latest of many partitions, one request per partition leader and
//! spec (Kafka rejects a partition twice in one request), all in flight at once. Leaders come
//! from the last full Metadata (fetched first if there is none). A leader that fails or does not
//! answer costs only its partitions. The isolation level comes from the connection, so "latest"
//! is the last stable offset under read_committed.
//!
//! A partition whose leader moved (NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, a fenced or
//! unknown leader epoch) is asked again within the same call: one Metadata refresh, then one
//! more round for those partitions only, at their new leaders and never past the deadline.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use futures_util::future::join_all;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, ListOffsetsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use lagring_core::model::{Offset, TopicPartition};

use tracing::debug;

use super::NativeClient;
use super::error::WireError;
use crate::answers::OffsetSpec;
use crate::config::Isolation;
use crate::error::{BrokerError, KafkaError};
use crate::stats::Api;

/// First ListOffsets version with a timeout field.
const WITH_TIMEOUT: i16 = 10;

type PartitionResults = BTreeMap<TopicPartition, Result<Offset, KafkaError>>;

impl NativeClient {
    /// One map per spec, each with an entry for every requested partition.
    pub(crate) async fn fetch_offsets(
        &self,
        partitions: Vec<TopicPartition>,
        specs: &[OffsetSpec],
        deadline: Option<Instant>,
    ) -> Result<Vec<PartitionResults>, KafkaError> {
        let mut maps = self.fetch_offsets_once(partitions, specs, deadline).await?;
        let moved: BTreeSet<TopicPartition> =
            maps.iter().flatten().filter(|(_, r)| leader_moved(r)).map(|(tp, _)| tp.clone()).collect();
        if moved.is_empty() {
            return Ok(maps);
        }
        debug!(cluster = %self.cluster, partitions = moved.len(), "partition leaders moved; refreshing metadata");
        if let Err(error) = self.topic_partition_counts_until(deadline).await {
            debug!(cluster = %self.cluster, %error, "metadata refresh failed; keeping the leader errors");
            return Ok(maps);
        }
        let again = self.fetch_offsets_once(moved.into_iter().collect(), specs, deadline).await?;
        for (map, retried) in maps.iter_mut().zip(again) {
            map.extend(retried);
        }
        Ok(maps)
    }

    async fn fetch_offsets_once(
        &self,
        partitions: Vec<TopicPartition>,
        specs: &[OffsetSpec],
        deadline: Option<Instant>,
    ) -> Result<Vec<PartitionResults>, KafkaError> {
        let requested: BTreeSet<TopicPartition> = partitions.into_iter().collect();
        if !requested.is_empty() && self.directory.leaders().is_empty() {
            self.topic_partition_counts_until(deadline).await?;
        }
        let leaders = self.directory.leaders();
        let mut by_leader: BTreeMap<i32, Vec<&TopicPartition>> = BTreeMap::new();
        let mut unroutable: Vec<(&TopicPartition, i16)> = Vec::new();
        for tp in &requested {
            let leader = leaders.get(&tp.topic).and_then(|l| l.get(usize::try_from(tp.partition).ok()?)).copied();
            match leader {
                Some(id) if id >= 0 => by_leader.entry(id).or_default().push(tp),
                Some(_) => unroutable.push((tp, ResponseError::LeaderNotAvailable.code())),
                None => unroutable.push((tp, ResponseError::UnknownTopicOrPartition.code())),
            }
        }
        let requests: Vec<(OffsetSpec, i32, &Vec<&TopicPartition>)> =
            specs.iter().flat_map(|spec| by_leader.iter().map(move |(id, tps)| (*spec, *id, tps))).collect();
        self.count(Api::ListOffsets, requests.len() as u64, 0);
        let answers = join_all(requests.iter().map(|(spec, id, tps)| self.list_one(*spec, *id, tps, deadline))).await;
        let failed = answers.iter().filter(|a| a.is_err()).count();
        self.count(Api::ListOffsets, 0, failed as u64);

        let mut maps = Vec::with_capacity(specs.len());
        let mut answers = answers.into_iter();
        for _ in specs {
            let mut map = PartitionResults::new();
            for ((_, _, tps), answer) in requests.iter().zip(answers.by_ref().take(by_leader.len())) {
                match answer {
                    Ok(found) => {
                        let mut found = found;
                        for tp in tps.iter() {
                            let outcome = match found.remove(&(tp.topic.to_string(), tp.partition)) {
                                None => Err(KafkaError::MissingPartition {
                                    cluster: self.cluster.clone(),
                                    api: Api::ListOffsets.name(),
                                    partition: (*tp).clone(),
                                }),
                                Some(Err(error)) => Err(self.partition_error(tp, error)),
                                Some(Ok(offset)) if offset < 0 => Err(KafkaError::InvalidOffset {
                                    cluster: self.cluster.clone(),
                                    api: Api::ListOffsets.name(),
                                    partition: (*tp).clone(),
                                    offset,
                                }),
                                Some(Ok(offset)) => Ok(offset),
                            };
                            map.insert((*tp).clone(), outcome);
                        }
                    }
                    Err(error) => {
                        for tp in tps.iter() {
                            map.insert((*tp).clone(), Err(self.partition_error(tp, error.clone().into())));
                        }
                    }
                }
            }
            for (tp, code) in &unroutable {
                map.insert((*tp).clone(), Err(self.partition_error(tp, WireError::broker(*code).into())));
            }
            maps.push(map);
        }
        Ok(maps)
    }

    /// One request to leader `id`: offset or error per (topic, partition) it answered.
    async fn list_one(
        &self,
        spec: OffsetSpec,
        id: i32,
        partitions: &[&TopicPartition],
        deadline: Option<Instant>,
    ) -> Result<HashMap<(String, i32), Result<Offset, BrokerError>>, WireError> {
        let timeout = self.timeout(deadline)?;
        let broker = self.directory.broker(id).ok_or(WireError::NoBroker)?;
        let isolation = self.isolation;
        let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        let build = |version: i16| request(version, spec, isolation, timeout_ms, partitions);
        let (_, response) = broker.request::<ListOffsetsRequest>(timeout, build).await?;
        Ok(offsets(response))
    }

    fn partition_error(&self, tp: &TopicPartition, error: BrokerError) -> KafkaError {
        KafkaError::Partition {
            cluster: self.cluster.clone(),
            api: Api::ListOffsets.name(),
            partition: tp.clone(),
            error,
        }
    }
}

/// Whether a partition's answer says its leader is elsewhere now.
fn leader_moved(result: &Result<Offset, KafkaError>) -> bool {
    let Err(KafkaError::Partition { error, .. }) = result else { return false };
    [
        ResponseError::NotLeaderOrFollower,
        ResponseError::LeaderNotAvailable,
        ResponseError::FencedLeaderEpoch,
        ResponseError::UnknownLeaderEpoch,
    ]
    .iter()
    .any(|e| i32::from(e.code()) == error.code)
}

fn request(
    version: i16,
    spec: OffsetSpec,
    isolation: Isolation,
    timeout_ms: i32,
    partitions: &[&TopicPartition],
) -> ListOffsetsRequest {
    let timestamp = match spec {
        OffsetSpec::Earliest => -2,
        OffsetSpec::Latest => -1,
    };
    let mut by_topic: BTreeMap<&Arc<str>, Vec<ListOffsetsPartition>> = BTreeMap::new();
    for tp in partitions {
        let partition = ListOffsetsPartition::default().with_partition_index(tp.partition).with_timestamp(timestamp);
        by_topic.entry(&tp.topic).or_default().push(partition);
    }
    let topics = by_topic
        .into_iter()
        .map(|(name, partitions)| {
            let name = TopicName(StrBytes::from_string(name.to_string()));
            ListOffsetsTopic::default().with_name(name).with_partitions(partitions)
        })
        .collect();
    let mut request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(match isolation {
            Isolation::ReadUncommitted => 0,
            Isolation::ReadCommitted => 1,
        })
        .with_topics(topics);
    if version >= WITH_TIMEOUT {
        request.timeout_ms = timeout_ms;
    }
    request
}

fn offsets(response: ListOffsetsResponse) -> HashMap<(String, i32), Result<Offset, BrokerError>> {
    response
        .topics
        .into_iter()
        .flat_map(|t| {
            let name = t.name.0.to_string();
            t.partitions.into_iter().map(move |p| {
                let outcome = match p.error_code {
                    0 => Ok(p.offset),
                    code => Err(BrokerError::from(WireError::broker(code))),
                };
                ((name.clone(), p.partition_index), outcome)
            })
        })
        .collect()
}
