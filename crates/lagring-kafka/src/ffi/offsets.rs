//! ListOffsets (earliest / latest) for many partitions at once.
//!
//! The caller splits the partitions into calls (one per spec, leader and
//! chunk; see `client/offsets.rs`); librdkafka looks up the leaders of each
//! call and sends one wire request per leader. All calls share one private
//! queue, so they are in flight together on one blocking thread.

use std::ffi::CString;
use std::time::{Duration, Instant};

use rdkafka::bindings as rd;

use super::Admin;
use super::groups::next_result;
use super::guards::{AdminOptions, Event, PartitionList, Queue};
use super::raw;
use crate::config::Isolation;
use crate::error::{BrokerError, TIMED_OUT};

/// Which offset of the log to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RawSpec {
    Earliest,
    Latest,
}

impl RawSpec {
    fn offset(self) -> i64 {
        match self {
            RawSpec::Earliest => rd::rd_kafka_OffsetSpec_t::RD_KAFKA_OFFSET_SPEC_EARLIEST as i64,
            RawSpec::Latest => rd::rd_kafka_OffsetSpec_t::RD_KAFKA_OFFSET_SPEC_LATEST as i64,
        }
    }
}

/// One listed offset: topic, partition, and offset or error.
pub(crate) type RawOffset = raw::RawPartition;

/// One ListOffsets admin call: which end of the log, for which partitions
/// (topic, partition; no duplicates, not empty).
pub(crate) struct RawCall {
    pub(crate) spec: RawSpec,
    pub(crate) partitions: Vec<(CString, i32)>,
}

/// Makes every call in `calls` at once and returns one result per call, in
/// order. The outer result fails only if no request could be made; each call
/// then succeeds or fails as a whole, and within a success each partition may
/// carry its own error.
pub(crate) fn list_offsets(
    admin: &Admin,
    calls: &[RawCall],
    isolation: Isolation,
    timeout: Duration,
    deadline: Instant,
) -> Result<Vec<Result<Vec<RawOffset>, BrokerError>>, BrokerError> {
    let mut options = AdminOptions::new(admin, rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTOFFSETS, timeout)?;
    options.set_isolation(match isolation {
        Isolation::ReadUncommitted => rd::rd_kafka_IsolationLevel_t::RD_KAFKA_ISOLATION_LEVEL_READ_UNCOMMITTED,
        Isolation::ReadCommitted => rd::rd_kafka_IsolationLevel_t::RD_KAFKA_ISOLATION_LEVEL_READ_COMMITTED,
    })?;
    let queue = Queue::new(admin)?;
    let mut results: Vec<Option<Result<Vec<RawOffset>, BrokerError>>> = calls.iter().map(|_| None).collect();
    for (idx, call) in calls.iter().enumerate() {
        let offset = call.spec.offset();
        let entries: Vec<(CString, i32, i64)> =
            call.partitions.iter().map(|(topic, partition)| (topic.clone(), *partition, offset)).collect();
        let list = PartitionList::new(&entries)?;
        options.set_tag(idx);
        // SAFETY: client, list, options and queue are valid for the call;
        // librdkafka copies the list and the options.
        unsafe {
            rd::rd_kafka_ListOffsets(admin.inner().native_ptr(), list.as_ptr(), options.as_ptr(), queue.as_ptr())
        };
    }
    let mut answered = 0;
    while answered < calls.len() {
        let Ok(event) = next_result(&queue, rd::RD_KAFKA_EVENT_LISTOFFSETS_RESULT, deadline) else { break };
        if let Some(slot @ None) = results.get_mut(event.tag()) {
            *slot = Some(offsets_result(&event));
            answered += 1;
        }
    }
    let timed_out =
        || BrokerError { code: TIMED_OUT, message: "no list offsets result before the deadline".to_owned() };
    Ok(results.into_iter().map(|r| r.unwrap_or_else(|| Err(timed_out()))).collect())
}

fn offsets_result(event: &Event<'_>) -> Result<Vec<RawOffset>, BrokerError> {
    if let Some(err) = event.error() {
        return Err(err);
    }
    // SAFETY: valid event; null if it is not of this type.
    let result = unsafe { rd::rd_kafka_event_ListOffsets_result(event.as_ptr()) };
    if result.is_null() {
        return Err(raw::failure("list offsets event carries no result"));
    }
    let mut n = 0usize;
    // SAFETY: valid result; the array lives as long as `event`.
    let infos = unsafe { raw::array(rd::rd_kafka_ListOffsets_result_infos(result, &mut n), n) };
    let offsets = infos
        .iter()
        .filter(|info| !info.is_null())
        .filter_map(|&info| {
            // SAFETY: non-null info owned by `event`; the partition it
            // returns is null or owned by the info.
            let tp = unsafe { rd::rd_kafka_ListOffsetsResultInfo_topic_partition(info).as_ref() }?;
            // SAFETY: `tp` is a valid element owned by `event`.
            unsafe { raw::partition_entry(tp) }
        })
        .collect();
    Ok(offsets)
}
