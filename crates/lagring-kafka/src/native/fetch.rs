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
//!   offset range: a committed offset inside a cached batch costs no request. A partition keeps
//!   its [`BATCHES_PER_PARTITION`] most recently used batches (groups at different offsets).
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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use futures_util::future::join_all;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use lagring_core::model::{Offset, TopicPartition};

use super::NativeClient;
use super::error::WireError;
use crate::config::Isolation;
use crate::error::KafkaError;
use crate::record_time::{RecordTime, RecordTimeOptions, RecordTimes};
use crate::stats::Api;

/// Batches kept per partition (most recently used first to stay).
pub(crate) const BATCHES_PER_PARTITION: usize = 16;
/// Largest `max_bytes` asked of a broker (its `fetch.max.bytes` default is 55 MiB).
const MAX_REQUEST_BYTES: i64 = 50 * 1024 * 1024;
/// Size of a v2 record batch header.
const HEADER_LEN: usize = 61;
const MAGIC_AT: usize = 16;
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const FIRST_TIMESTAMP_AT: usize = 27;
const MAX_TIMESTAMP_AT: usize = 35;
const RECORD_COUNT_AT: usize = 57;
const COMPRESSION_BITS: i16 = 0x07;
const LOG_APPEND_TIME: i16 = 0x08;
const CONTROL: i16 = 0x20;

/// What a batch tells about its records' times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Times {
    /// LogAppendTime: every record has the batch's max timestamp.
    LogAppend,
    /// A control batch (transaction marker).
    Control,
    /// CreateTime, decoded: (offset, timestamp) of each record, ascending.
    Records(Vec<(Offset, i64)>),
    /// CreateTime, compressed or cut: only first and max timestamp known.
    Span,
}

/// One record batch, as far as produce times go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Batch {
    pub(crate) base: Offset,
    pub(crate) last: Offset,
    pub(crate) first_ms: i64,
    pub(crate) max_ms: i64,
    pub(crate) times: Times,
}

impl Batch {
    fn contains(&self, offset: Offset) -> bool {
        (self.base..=self.last).contains(&offset)
    }

    /// Produce time of the record at `offset` (inside this batch).
    pub(crate) fn time_of(&self, offset: Offset) -> RecordTime {
        let exact = |produce_ms| RecordTime { produce_ms, exact: true, bound_ms: 0, lost_messages: 0 };
        let bounded = RecordTime {
            produce_ms: self.max_ms,
            exact: false,
            bound_ms: self.max_ms.saturating_sub(self.first_ms).max(0),
            lost_messages: 0,
        };
        match &self.times {
            Times::LogAppend | Times::Control => exact(self.max_ms),
            Times::Records(records) => match records.iter().find(|(o, _)| *o >= offset) {
                Some((_, ms)) => exact(*ms),
                None => bounded,
            },
            Times::Span => bounded,
        }
    }
}

/// The batches of a Fetch answer's `records`, in order; a trailing prefix shorter than a header
/// is dropped. An older message format (magic < 2) is an error: it has no batch header.
pub(crate) fn parse_batches(records: &[u8]) -> Result<Vec<Batch>, String> {
    let mut batches = Vec::new();
    let mut at = 0usize;
    while let Some(header) = records.get(at..at + HEADER_LEN) {
        let length = usize::try_from(be_i32(header, 8)).map_err(|_| "negative batch length".to_owned())?;
        let total = length.saturating_add(12);
        if header.get(MAGIC_AT).copied() != Some(2) {
            return Err(format!("record batch at byte {at} is not message format v2"));
        }
        let attributes = be_i16(header, ATTRIBUTES_AT);
        let base = be_i64(header, 0);
        let last = base.saturating_add(i64::from(be_i32(header, LAST_OFFSET_DELTA_AT)));
        let first_ms = be_i64(header, FIRST_TIMESTAMP_AT);
        let max_ms = be_i64(header, MAX_TIMESTAMP_AT);
        let whole = records.get(at..at.saturating_add(total));
        let times = if attributes & CONTROL != 0 {
            Times::Control
        } else if attributes & LOG_APPEND_TIME != 0 {
            Times::LogAppend
        } else {
            match whole {
                Some(batch) if attributes & COMPRESSION_BITS == 0 => {
                    let count = usize::try_from(be_i32(header, RECORD_COUNT_AT)).unwrap_or(0);
                    Times::Records(record_times(batch.get(HEADER_LEN..).unwrap_or_default(), count, base, first_ms)?)
                }
                _ => Times::Span,
            }
        };
        batches.push(Batch { base, last, first_ms, max_ms, times });
        if whole.is_none() {
            break;
        }
        at = at.saturating_add(total);
    }
    Ok(batches)
}

/// (offset, timestamp) of `count` uncompressed v2 records: each is `length (varint) |
/// attributes (i8) | timestamp delta (varlong) | offset delta (varint) | …`.
fn record_times(mut bytes: &[u8], count: usize, base: Offset, first_ms: i64) -> Result<Vec<(Offset, i64)>, String> {
    let mut out = Vec::with_capacity(count.min(bytes.len()));
    for i in 0..count {
        let malformed = || format!("record {i} of batch at offset {base} is malformed");
        let (length, used) = varint(bytes).ok_or_else(malformed)?;
        let length = usize::try_from(length).map_err(|_| malformed())?;
        let record = bytes.get(used..used.saturating_add(length)).ok_or_else(malformed)?;
        let rest = record.get(1..).ok_or_else(malformed)?;
        let (timestamp_delta, used_ts) = varint(rest).ok_or_else(malformed)?;
        let (offset_delta, _) = varint(rest.get(used_ts..).unwrap_or_default()).ok_or_else(malformed)?;
        out.push((base.saturating_add(offset_delta), first_ms.saturating_add(timestamp_delta)));
        bytes = bytes.get(used.saturating_add(length)..).unwrap_or_default();
    }
    Ok(out)
}

/// A zigzag varint / varlong and the bytes it took.
fn varint(bytes: &[u8]) -> Option<(i64, usize)> {
    let mut value: u64 = 0;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let decoded = ((value >> 1) as i64) ^ -((value & 1) as i64);
            return Some((decoded, i + 1));
        }
    }
    None
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    b.get(at..at + 8).and_then(|s| s.try_into().ok()).map_or(0, i64::from_be_bytes)
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    b.get(at..at + 4).and_then(|s| s.try_into().ok()).map_or(0, i32::from_be_bytes)
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    b.get(at..at + 2).and_then(|s| s.try_into().ok()).map_or(0, i16::from_be_bytes)
}

#[derive(Debug)]
struct Cached {
    batch: Batch,
    used: u64,
}

#[derive(Debug, Default)]
struct CacheInner {
    call: u64,
    by_partition: HashMap<TopicPartition, Vec<Cached>>,
}

/// Batches read so far, per partition, by offset range. Shared by the clones of a client. A
/// `std` mutex: held only to look up or insert, never across an `.await`.
#[derive(Debug, Default)]
pub(crate) struct BatchCache(Mutex<CacheInner>);

impl BatchCache {
    fn lock(&self) -> MutexGuard<'_, CacheInner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a call: batches used from now on count as recently used.
    fn begin(&self) {
        self.lock().call += 1;
    }

    fn lookup(&self, tp: &TopicPartition, offset: Offset) -> Option<RecordTime> {
        let mut inner = self.lock();
        let call = inner.call;
        let cached = inner.by_partition.get_mut(tp)?.iter_mut().find(|c| c.batch.contains(offset))?;
        cached.used = call;
        Some(cached.batch.time_of(offset))
    }

    /// Adds the batches of one answer. A partition keeps [`BATCHES_PER_PARTITION`]: those used
    /// last first, among them those holding an offset just `asked`, then the lowest offsets
    /// (right after the commits just asked, which the groups reach next).
    fn insert(&self, tp: &TopicPartition, batches: &[Batch], asked: &[Offset]) {
        if batches.is_empty() {
            return;
        }
        let mut inner = self.lock();
        let call = inner.call;
        let entries = inner.by_partition.entry(tp.clone()).or_default();
        for batch in batches {
            // A cut batch read again whole replaces its earlier, less exact entry.
            entries.retain(|c| !(c.batch.base == batch.base && c.batch.last == batch.last));
            entries.push(Cached { batch: batch.clone(), used: call });
        }
        let hot = |c: &Cached| asked.iter().any(|o| c.batch.contains(*o));
        entries.sort_by(|a, b| b.used.cmp(&a.used).then(hot(b).cmp(&hot(a))).then(a.batch.base.cmp(&b.batch.base)));
        entries.truncate(BATCHES_PER_PARTITION);
    }
}

/// One partition of a Fetch answer.
#[derive(Debug)]
struct Answer {
    error_code: i16,
    high_watermark: i64,
    last_stable: i64,
    log_start: i64,
    batches: Result<Vec<Batch>, String>,
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
        cache: &BatchCache,
        commits: Vec<(TopicPartition, Offset)>,
        options: RecordTimeOptions,
        deadline: Option<Instant>,
    ) -> Result<RecordTimes, KafkaError> {
        let wanted: BTreeSet<(TopicPartition, Offset)> = commits.into_iter().collect();
        let mut out = RecordTimes::new();
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
        let batches = match part.batches {
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
        let answers = answers(response);
        let bytes: u64 = answers.values().map(|(_, n)| *n).sum();
        self.counters.fetch_bytes(bytes);
        Ok(answers.into_iter().map(|(k, (a, _))| (k, a)).collect())
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

/// Answer and record bytes per (topic, partition).
fn answers(response: FetchResponse) -> HashMap<(String, i32), (Answer, u64)> {
    response
        .responses
        .into_iter()
        .flat_map(|t| {
            let name = t.topic.0.to_string();
            t.partitions.into_iter().map(move |p| {
                let records: Bytes = p.records.unwrap_or_default();
                let answer = Answer {
                    error_code: p.error_code,
                    high_watermark: p.high_watermark,
                    last_stable: p.last_stable_offset,
                    log_start: p.log_start_offset,
                    batches: if p.error_code == 0 { parse_batches(&records) } else { Ok(Vec::new()) },
                };
                ((name.clone(), p.partition_index), (answer, records.len() as u64))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_varints() {
        assert_eq!(varint(&[0x00]), Some((0, 1)));
        assert_eq!(varint(&[0x01]), Some((-1, 1)));
        assert_eq!(varint(&[0x02]), Some((1, 1)));
        assert_eq!(varint(&[0xac, 0x02]), Some((150, 2)));
        assert_eq!(varint(&[0x80]), None);
    }

    #[test]
    fn short_or_foreign_bytes_are_no_batches_or_an_error() {
        assert_eq!(parse_batches(&[0u8; 60]), Ok(vec![]));
        let mut header = [0u8; HEADER_LEN];
        header[MAGIC_AT] = 1;
        assert!(parse_batches(&header).is_err());
    }

    #[test]
    fn a_cut_batch_is_a_span() {
        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(&100i64.to_be_bytes());
        header[8..12].copy_from_slice(&500i32.to_be_bytes());
        header[MAGIC_AT] = 2;
        header[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4].copy_from_slice(&9i32.to_be_bytes());
        header[FIRST_TIMESTAMP_AT..FIRST_TIMESTAMP_AT + 8].copy_from_slice(&1_000i64.to_be_bytes());
        header[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&1_090i64.to_be_bytes());
        let batches = parse_batches(&header).unwrap();
        assert_eq!(batches, vec![Batch { base: 100, last: 109, first_ms: 1_000, max_ms: 1_090, times: Times::Span }]);
        assert_eq!(
            batches[0].time_of(105),
            RecordTime { produce_ms: 1_090, exact: false, bound_ms: 90, lost_messages: 0 }
        );
    }
}
