//! Fetch, used only to learn when the record at a committed offset was produced (exact time lag):
//! the 61-byte v2 record-batch header holds base offset, last offset delta, first and max
//! timestamp and the attributes (timestamp type, compression, transactional, control), which is
//! all that is needed except for a CreateTime record inside an uncompressed batch, whose
//! timestamp delta is read from the record itself. Keys and values are never decoded.
//!
//! Why these choices:
//! - One Fetch per partition leader for all its partitions, in flight at once. Brokers (Fetch
//!   v3+) read partitions in request order and return the batch holding the fetch offset whole
//!   for the first partition with data, but return nothing for a later partition whose first
//!   batch exceeds its `partition_max_bytes`. So the per-partition limit is set to cover a
//!   usual batch ([`RecordTimeOptions::partition_max_bytes`]) and partitions that come back
//!   empty although records exist are read again in a follow-up Fetch where each is alone (and
//!   so first), at most [`RecordTimeOptions::follow_ups_per_call`] per call. Requests per call:
//!   at most leaders + follow-ups, counted in [`crate::RequestStats::fetch`].
//! - Batches are immutable once written, so every batch read is cached per partition by its
//!   offset range (`batch_cache`, bounded in entries and bytes): a committed offset inside a
//!   cached batch costs no request. Headers and record times are read by `record_batch`.
//! - Produce time of offset `c`: LogAppendTime batch → its max timestamp (the broker's append
//!   time of every record in it, exact); CreateTime, complete and uncompressed → the timestamp
//!   of the first record at or after `c` (exact; compaction may have removed `c` itself);
//!   otherwise (compressed, or cut at the byte limit) → the batch's max timestamp, reported as
//!   not exact with the batch's span (max − first timestamp) as the error bound: the record was
//!   produced no later than that, so the time lag is never overstated. A control batch (a
//!   transaction marker at `c`) → its own timestamp, the time the marker entered the log: the
//!   marker is the first offset the group has not consumed, and reading past it would cost
//!   another request.
//! - A commit below the log start (OFFSET_OUT_OF_RANGE with the log start in the response, or a
//!   log start above it) → `log start − c` lost messages and the time of the earliest surviving
//!   record, read by a follow-up Fetch at the log start.
//! - `max_wait_ms` 0 and `min_bytes` 0: the answer is immediate, data or not. Full fetches only
//!   (session id 0, epoch −1): no fetch session is created on the broker.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::future::join_all;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use lagring_core::model::{Offset, TopicPartition};

use super::NativeClient;
use super::batch_cache::BatchCache;
use super::error::WireError;
use super::record_batch::{HEADER_LEN, parse_batches};
use crate::config::Isolation;
use crate::error::KafkaError;
use crate::record_time::{RecordTime, RecordTimeOptions, RecordTimes};
use crate::stats::Api;

/// Largest `max_bytes` asked of a broker (its `fetch.max.bytes` default is 55 MiB).
const MAX_REQUEST_BYTES: i64 = 50 * 1024 * 1024;

/// One partition of a Fetch answer.
#[derive(Debug)]
struct Answer {
    error_code: i16,
    high_watermark: i64,
    last_stable: i64,
    log_start: i64,
    /// The partition's record bytes (a slice of the response frame), parsed only when the
    /// partition was asked for.
    records: Bytes,
}

/// An offset still without a time after the per-leader round: read again at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct FollowUp {
    at: Offset,
    asked: Offset,
    lost: u64,
}

impl NativeClient {
    /// Produce time of the record at each (partition, committed offset); see the module docs.
    pub(crate) async fn record_times(
        &self,
        commits: Vec<(TopicPartition, Offset)>,
        options: RecordTimeOptions,
        deadline: Option<Instant>,
    ) -> Result<RecordTimes, KafkaError> {
        let wanted: BTreeSet<(TopicPartition, Offset)> = commits.into_iter().collect();
        let mut out = RecordTimes::new();
        let cache = &self.batches;
        cache.begin();
        let mut missing: BTreeMap<TopicPartition, BTreeSet<Offset>> = BTreeMap::new();
        for (tp, offset) in wanted {
            if offset < 0 {
                let error = self.no_time(&tp, offset, "not an offset".to_owned());
                out.insert((tp, offset), Err(error));
            } else if let Some(time) = cache.lookup(&tp, offset) {
                out.insert((tp, offset), Ok(time));
            } else {
                missing.entry(tp).or_default().insert(offset);
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        if self.directory.leaders().is_empty() {
            self.topic_partition_counts_until(deadline).await?;
        }
        let leaders = self.directory.leaders();
        let mut by_leader: BTreeMap<i32, Vec<(&TopicPartition, Offset)>> = BTreeMap::new();
        for (tp, offsets) in &missing {
            let leader = leaders.get(&tp.topic).and_then(|l| l.get(usize::try_from(tp.partition).ok()?)).copied();
            let first = offsets.first().copied().unwrap_or_default();
            match leader {
                Some(id) if id >= 0 => by_leader.entry(id).or_default().push((tp, first)),
                Some(_) => self.fail_all(&mut out, tp, offsets, ResponseError::LeaderNotAvailable.code()),
                None => self.fail_all(&mut out, tp, offsets, ResponseError::UnknownTopicOrPartition.code()),
            }
        }

        // Round 1: one request per leader, all its partitions.
        self.count(Api::Fetch, by_leader.len() as u64, 0);
        let answers = join_all(
            by_leader.iter().map(|(id, parts)| self.fetch_one(*id, parts, options.partition_max_bytes, deadline)),
        )
        .await;
        self.count(Api::Fetch, 0, answers.iter().filter(|a| a.is_err()).count() as u64);
        let mut follow_ups: Vec<(TopicPartition, i32, FollowUp)> = Vec::new();
        for ((id, parts), answer) in by_leader.iter().zip(answers) {
            let mut answer = match answer {
                Ok(answer) => answer,
                Err(error) => {
                    for (tp, _) in parts {
                        for offset in missing.get(*tp).into_iter().flatten() {
                            let error = self.fetch_error(tp, error.clone());
                            out.insert(((*tp).clone(), *offset), Err(error));
                        }
                    }
                    continue;
                }
            };
            for (tp, _) in parts {
                let offsets = missing.get(*tp).into_iter().flatten().copied();
                let Some(part) = answer.remove(&(tp.topic.to_string(), tp.partition)) else {
                    for offset in offsets {
                        let error = KafkaError::MissingPartition {
                            cluster: self.cluster.clone(),
                            api: Api::Fetch.name(),
                            partition: (*tp).clone(),
                        };
                        out.insert(((*tp).clone(), offset), Err(error));
                    }
                    continue;
                };
                let asked: Vec<Offset> = offsets.collect();
                self.settle(cache, tp, &asked, part, &mut out, |f| follow_ups.push(((*tp).clone(), *id, f)));
            }
        }

        // Round 2: at most one read per partition, alone in its request (so it is first and
        // gets its whole batch), at the lowest offset still needed, at most
        // `follow_ups_per_call` of them. Offsets of the partition its answer does not hold fail.
        let mut reads: BTreeMap<(TopicPartition, i32), Vec<FollowUp>> = BTreeMap::new();
        for (tp, id, f) in follow_ups {
            reads.entry((tp, id)).or_default().push(f);
        }
        let reads = reads.into_iter().map(|((tp, id), asks)| {
            let at = asks.iter().map(|f| f.at).min().unwrap_or_default();
            ((tp, id, at), asks)
        });
        let budget = options.follow_ups_per_call;
        let mut chosen = Vec::new();
        for (i, ((tp, id, at), asks)) in reads.into_iter().enumerate() {
            if i < budget {
                chosen.push((tp, id, at, asks));
            } else {
                for f in asks {
                    let reason = format!("follow-up fetch budget of {budget} per call spent");
                    out.insert((tp.clone(), f.asked), Err(self.no_time(&tp, f.asked, reason)));
                }
            }
        }
        self.count(Api::Fetch, chosen.len() as u64, 0);
        let singles: Vec<(i32, [(&TopicPartition, Offset); 1])> =
            chosen.iter().map(|(tp, id, at, _)| (*id, [(tp, *at)])).collect();
        let answers =
            join_all(singles.iter().map(|(id, part)| self.fetch_one(*id, part, options.partition_max_bytes, deadline)))
                .await;
        self.count(Api::Fetch, 0, answers.iter().filter(|a| a.is_err()).count() as u64);
        for ((tp, _, at, asks), answer) in chosen.into_iter().zip(answers) {
            let part = answer.and_then(|mut a| {
                a.remove(&(tp.topic.to_string(), tp.partition))
                    .ok_or(WireError::Decode(format!("fetch answer without partition {tp}")))
            });
            let part = match part {
                Ok(part) => part,
                Err(error) => {
                    for f in asks {
                        out.insert((tp.clone(), f.asked), Err(self.fetch_error(&tp, error.clone())));
                    }
                    continue;
                }
            };
            let mut settled = RecordTimes::new();
            let reads: Vec<Offset> = asks.iter().map(|f| f.at).collect::<BTreeSet<_>>().into_iter().collect();
            // No further follow-up: at most two reads per partition and call.
            self.settle(cache, &tp, &reads, part, &mut settled, |_| {});
            for f in asks {
                let outcome = match settled.get(&(tp.clone(), f.at)) {
                    Some(Ok(time)) => Ok(RecordTime { lost_messages: f.lost, ..*time }),
                    Some(Err(error)) => Err(self.no_time(&tp, f.asked, format!("reading offset {}: {error}", f.at))),
                    None => {
                        let reason = format!("no batch holding offset {} in the follow-up fetch at {at}", f.at);
                        Err(self.no_time(&tp, f.asked, reason))
                    }
                };
                out.insert((tp.clone(), f.asked), outcome);
            }
        }
        Ok(out)
    }

    /// Turns one partition's answer into times for `asked` (or follow-ups, or errors).
    fn settle(
        &self,
        cache: &BatchCache,
        tp: &TopicPartition,
        asked: &[Offset],
        part: Answer,
        out: &mut RecordTimes,
        mut follow_up: impl FnMut(FollowUp),
    ) {
        let batches = if part.error_code == 0 { parse_batches(&part.records) } else { Ok(Vec::new()) };
        let batches = match batches {
            Ok(batches) => batches,
            Err(reason) => {
                for offset in asked {
                    out.insert((tp.clone(), *offset), Err(self.no_time(tp, *offset, reason.clone())));
                }
                return;
            }
        };
        let found = |offset: Offset| match batches.iter().find(|b| b.contains(offset)) {
            Some(batch) => Some(batch.time_of(offset)),
            None => cache.lookup(tp, offset),
        };
        let end = match self.isolation {
            Isolation::ReadUncommitted => part.high_watermark,
            Isolation::ReadCommitted => part.last_stable,
        };
        for &offset in asked {
            if let Some(time) = found(offset) {
                out.insert((tp.clone(), offset), Ok(time));
                continue;
            }
            let below_start = part.log_start >= 0 && offset < part.log_start;
            let out_of_range = part.error_code == ResponseError::OffsetOutOfRange.code();
            if below_start && (out_of_range || part.error_code == 0) {
                let lost = u64::try_from(part.log_start - offset).unwrap_or(0);
                follow_up(FollowUp { at: part.log_start, asked: offset, lost });
            } else if out_of_range && part.log_start >= 0 && offset < end {
                // Another offset of the partition was below the log start: this one is not.
                follow_up(FollowUp { at: offset, asked: offset, lost: 0 });
            } else if part.error_code != 0 {
                let error = self.fetch_error(tp, WireError::broker(part.error_code));
                out.insert((tp.clone(), offset), Err(error));
            } else if offset >= end {
                let reason = format!("no record yet: the log ends at {end}");
                out.insert((tp.clone(), offset), Err(self.no_time(tp, offset, reason)));
            } else {
                follow_up(FollowUp { at: offset, asked: offset, lost: 0 });
            }
        }
        cache.insert(tp, &batches, asked);
    }

    /// One Fetch to leader `id` reading each (partition, offset): answer per (topic, partition).
    async fn fetch_one(
        &self,
        id: i32,
        parts: &[(&TopicPartition, Offset)],
        partition_max_bytes: i32,
        deadline: Option<Instant>,
    ) -> Result<HashMap<(String, i32), Answer>, WireError> {
        let timeout = self.timeout(deadline)?;
        let broker = self.directory.broker(id).ok_or(WireError::NoBroker)?;
        let isolation = self.isolation;
        let build = |_version: i16| request(isolation, partition_max_bytes, parts);
        let (_, response) = broker.request::<FetchRequest>(timeout, build).await?;
        if response.error_code != 0 {
            return Err(WireError::broker(response.error_code));
        }
        let answers = answers(response, parts);
        let bytes: u64 = answers.values().map(|a| a.records.len() as u64).sum();
        self.counters.fetch_bytes(bytes);
        Ok(answers)
    }

    fn fail_all(&self, out: &mut RecordTimes, tp: &TopicPartition, offsets: &BTreeSet<Offset>, code: i16) {
        for offset in offsets {
            out.insert((tp.clone(), *offset), Err(self.fetch_error(tp, WireError::broker(code))));
        }
    }

    fn fetch_error(&self, tp: &TopicPartition, error: WireError) -> KafkaError {
        KafkaError::Partition {
            cluster: self.cluster.clone(),
            api: Api::Fetch.name(),
            partition: tp.clone(),
            error: error.into(),
        }
    }

    fn no_time(&self, tp: &TopicPartition, offset: Offset, reason: String) -> KafkaError {
        KafkaError::RecordTime { cluster: self.cluster.clone(), partition: tp.clone(), offset, reason }
    }
}

fn request(isolation: Isolation, partition_max_bytes: i32, parts: &[(&TopicPartition, Offset)]) -> FetchRequest {
    let limit = partition_max_bytes.max(HEADER_LEN as i32);
    let mut by_topic: BTreeMap<&Arc<str>, Vec<FetchPartition>> = BTreeMap::new();
    for (tp, offset) in parts {
        let partition = FetchPartition::default()
            .with_partition(tp.partition)
            .with_fetch_offset(*offset)
            .with_partition_max_bytes(limit);
        by_topic.entry(&tp.topic).or_default().push(partition);
    }
    let topics = by_topic
        .into_iter()
        .map(|(name, partitions)| {
            FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(name.to_string())))
                .with_partitions(partitions)
        })
        .collect();
    let max_bytes = (i64::from(limit) * parts.len() as i64).min(MAX_REQUEST_BYTES);
    FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(i32::try_from(max_bytes).unwrap_or(i32::MAX))
        .with_isolation_level(match isolation {
            Isolation::ReadUncommitted => 0,
            Isolation::ReadCommitted => 1,
        })
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics)
}

/// The answer per (topic, partition) of the partitions in `asked`; partitions the broker added
/// unasked are left out before anything of them is kept or parsed.
fn answers(response: FetchResponse, asked: &[(&TopicPartition, Offset)]) -> HashMap<(String, i32), Answer> {
    let asked: HashSet<(&str, i32)> = asked.iter().map(|(tp, _)| (&*tp.topic, tp.partition)).collect();
    let mut out = HashMap::new();
    for topic in response.responses {
        let name = topic.topic.0.as_str();
        for p in topic.partitions {
            if !asked.contains(&(name, p.partition_index)) {
                continue;
            }
            let answer = Answer {
                error_code: p.error_code,
                high_watermark: p.high_watermark,
                last_stable: p.last_stable_offset,
                log_start: p.log_start_offset,
                records: p.records.unwrap_or_default(),
            };
            out.insert((name.to_owned(), p.partition_index), answer);
        }
    }
    out
}
