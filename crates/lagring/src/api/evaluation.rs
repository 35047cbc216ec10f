//! What a group's owner publishes after computing it: the group's Burrow
//! [`GroupStatus`] (every partition) and, per topic it fetched, the end
//! offsets. Pure: built from the compute stage's lag, statuses and offset
//! histories, so it is unit-tested without a store.
//!
//! Per partition, `start` and `end` are the status window's ends as lagring
//! saw them: `end` the committed offset of this slot, `start` the committed
//! offset at the window start (the committed-history point in force then, or
//! the oldest point when the history is younger than the window), each with
//! its observation time and the lag then (from the end-offset history).
//! Burrow reads the same two objects off its ring of commits.
//!
//! lagring's extensions: per partition the records consumed per minute (the
//! consume rate, `kafka_consumer_group_consume_records_per_second`, × 60),
//! per topic partition the records produced per minute (the produce rate ×
//! 60) next to the end offsets.

use lagring_core::group_time::GroupTimeLag;
use lagring_core::history::OffsetHistory;
use lagring_core::lag::GroupLag;
use lagring_core::model::{ClusterObservation, TopicPartition};
use lagring_core::status::Status;
use lagring_kafka::PartitionOwner;

use super::model::{
    BurrowStatus, ConsumerOffset, ConsumerPartition, ConsumerTopics, GroupStatus, PartitionStatus, TopicRecord,
};

/// A rate per second as records per minute.
fn per_minute(per_second: f64) -> f64 {
    per_second * 60.0
}

/// Partitions listed per published group: bounds a value at about 350 KB. A
/// larger group lists its first partitions (by topic, partition); its
/// `partition_count`, `totallag`, `maxlag`, `complete` and status still
/// cover all of them.
pub const MAX_PUBLISHED_PARTITIONS: usize = 1_000;

/// Burrow's name for a partition status.
pub fn partition_status(status: Status) -> BurrowStatus {
    match status {
        Status::Ok => BurrowStatus::Ok,
        Status::Warn => BurrowStatus::Warn,
        Status::Rewind => BurrowStatus::Rewind,
        Status::Stall => BurrowStatus::Stall,
        Status::Stop => BurrowStatus::Stop,
    }
}

/// Burrow's group status for the worst partition status: a partition that
/// is REWIND, STALL or STOP makes the group ERR.
pub fn group_status(worst: Option<Status>) -> BurrowStatus {
    match worst {
        None | Some(Status::Ok) => BurrowStatus::Ok,
        Some(Status::Warn) => BurrowStatus::Warn,
        Some(Status::Rewind | Status::Stall | Status::Stop) => BurrowStatus::Err,
    }
}

/// The committed offset in force at the start of the window ending at
/// `now_ms` (see the module docs), with the lag then; `None` for an empty
/// history.
pub fn window_start(
    committed: &OffsetHistory,
    end: Option<&OffsetHistory>,
    now_ms: i64,
    window_ms: i64,
) -> Option<ConsumerOffset> {
    let from = now_ms.saturating_sub(window_ms);
    let points = committed.points();
    let in_force = points.partition_point(|p| p.at_ms <= from);
    let point = points.get(in_force.saturating_sub(1))?;
    let at_ms = point.at_ms.max(from);
    let lag = end.and_then(|h| h.offset_at(at_ms)).map(|e| lag_between(e.round() as i64, point.offset));
    Some(ConsumerOffset { offset: point.offset, timestamp: at_ms, observed_at: at_ms, lag })
}

fn lag_between(end: i64, committed: i64) -> u64 {
    u64::try_from(end.saturating_sub(committed)).unwrap_or(0)
}

/// The evaluation of one group at `now_ms`: `time` is its time-lag result
/// (statuses; `None` when time lag is off or the history store failed),
/// `starts[i]` the window start of `lag.partitions[i]`, and `owners` the
/// members its describe named per partition (sorted by partition; empty
/// when unknown, then `owner` and `client_id` are empty as in Burrow).
pub fn evaluate_group(
    cluster: &str,
    lag: &GroupLag,
    time: Option<&GroupTimeLag>,
    starts: &[Option<ConsumerOffset>],
    owners: &[PartitionOwner],
    now_ms: i64,
) -> GroupStatus {
    let statuses = time.map(|t| t.partitions.as_slice()).unwrap_or_default();
    let mut partitions: Vec<PartitionStatus> = Vec::with_capacity(lag.partitions.len());
    let mut maxlag: Option<PartitionStatus> = None;
    let mut complete = 0usize;
    for (i, p) in lag.partitions.iter().enumerate() {
        let time = statuses.get(i).filter(|s| s.tp == p.tp);
        let status = time.and_then(|s| s.status);
        let current_lag = u64::try_from(p.lag).unwrap_or(0);
        let end =
            ConsumerOffset { offset: p.committed, timestamp: now_ms, observed_at: now_ms, lag: Some(current_lag) };
        let owner = owners.binary_search_by(|o| o.tp.cmp(&p.tp)).ok().and_then(|i| owners.get(i));
        let partition = PartitionStatus {
            topic: p.tp.topic.to_string(),
            partition: p.tp.partition,
            owner: owner.map(|o| o.host.to_string()).unwrap_or_default(),
            client_id: owner.map(|o| o.client_id.to_string()).unwrap_or_default(),
            status: status.map_or(BurrowStatus::Ok, partition_status),
            start: starts.get(i).cloned().flatten(),
            end: Some(end),
            current_lag,
            complete: if status.is_some() { 1.0 } else { 0.0 },
            records_consumed_per_minute: time.and_then(|t| t.consume_per_s).map(per_minute),
        };
        if status.is_some() {
            complete += 1;
        }
        if maxlag.as_ref().is_none_or(|m| partition.current_lag > m.current_lag) {
            maxlag = Some(partition.clone());
        }
        if partitions.len() < MAX_PUBLISHED_PARTITIONS {
            partitions.push(partition);
        }
    }
    let counted = lag.partitions.len() + lag.partitions_unavailable as usize;
    GroupStatus {
        cluster: cluster.to_owned(),
        group: lag.group.to_string(),
        status: group_status(time.and_then(|t| t.status)),
        complete: if counted == 0 { 0.0 } else { complete as f32 / counted as f32 },
        partitions,
        partition_count: lag.partitions.len(),
        maxlag,
        totallag: u64::try_from(lag.sum_lag).unwrap_or(0),
    }
}

/// `/consumer/{group}` from a published evaluation: per topic, the
/// partitions by number, each with its window start and end.
pub fn consumer_topics(status: &GroupStatus) -> ConsumerTopics {
    let mut topics = ConsumerTopics::new();
    for p in &status.partitions {
        let Ok(index) = usize::try_from(p.partition) else { continue };
        let slots = topics.entry(p.topic.clone()).or_default();
        if slots.len() <= index {
            slots.resize(index + 1, None);
        }
        if let Some(slot) = slots.get_mut(index) {
            *slot = Some(ConsumerPartition {
                offsets: vec![p.start.clone(), p.end.clone()],
                owner: p.owner.clone(),
                client_id: p.client_id.clone(),
                current_lag: p.current_lag,
                records_consumed_per_minute: p.records_consumed_per_minute,
            });
        }
    }
    topics
}

/// Per topic fetched in `obs`, its end offsets by partition number with the
/// produce rate per minute of each where `produce_per_s` has one; topics
/// some partition of which is missing this iteration are left out (their
/// last complete record stays until it expires).
pub fn topic_offsets(
    obs: &ClusterObservation,
    produce_per_s: &[(TopicPartition, Option<f64>)],
) -> Vec<(String, TopicRecord)> {
    let rate = |tp: &TopicPartition| {
        let i = produce_per_s.binary_search_by(|(p, _)| p.cmp(tp)).ok()?;
        produce_per_s.get(i).and_then(|(_, r)| *r).map(per_minute)
    };
    obs.topic_partitions
        .iter()
        .filter_map(|(topic, &count)| {
            let mut record = TopicRecord::default();
            for p in 0..count.max(0) {
                let tp = TopicPartition::new(topic.clone(), p);
                record.offsets.push(obs.offsets.get(&tp)?.end);
                record.per_minute.push(rate(&tp));
            }
            (!record.offsets.is_empty()).then(|| (topic.to_string(), record))
        })
        .collect()
}
