//! ListConsumerGroups and ListConsumerGroupOffsets.
//!
//! librdkafka 2.12 accepts exactly one group per ListConsumerGroupOffsets
//! call, so [`committed_offsets`] keeps a sliding window of up to
//! `max_in_flight` single-group requests on one private queue: it submits
//! without blocking, and each result that arrives frees a slot for the next
//! group. One blocking thread serves a whole batch.

use std::collections::HashMap;
use std::ffi::CString;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::bindings as rd;

use super::Admin;
use super::guards::{AdminOptions, Event, GroupOffsetsRequest, Queue, list_elems};
use super::raw;
use crate::error::{BrokerError, TIMED_OUT};

/// One group as ListConsumerGroups reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawGroup {
    pub(crate) name: String,
    pub(crate) state: &'static str,
    pub(crate) is_simple: bool,
}

/// One committed offset entry: topic, partition, and offset or error.
pub(crate) type RawCommit = raw::RawPartition;

/// Lists all groups on all brokers. Returns the groups and the errors of
/// brokers that did not answer (a partial listing).
pub(crate) fn list_groups(
    admin: &Admin,
    timeout: Duration,
    deadline: Instant,
) -> Result<(Vec<RawGroup>, Vec<BrokerError>), BrokerError> {
    let options = AdminOptions::new(admin, rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS, timeout)?;
    let queue = Queue::new(admin)?;
    // SAFETY: client, options and queue are valid for the call; librdkafka
    // copies the options and keeps its own reference to the queue.
    unsafe { rd::rd_kafka_ListConsumerGroups(admin.inner().native_ptr(), options.as_ptr(), queue.as_ptr()) };
    let event = next_result(&queue, rd::RD_KAFKA_EVENT_LISTCONSUMERGROUPS_RESULT, deadline)?;
    if let Some(err) = event.error() {
        return Err(err);
    }
    // SAFETY: valid event of the matching type; null if it is not one.
    let result = unsafe { rd::rd_kafka_event_ListConsumerGroups_result(event.as_ptr()) };
    if result.is_null() {
        return Err(raw::failure("list groups event carries no result"));
    }
    let (mut n_valid, mut n_errors) = (0usize, 0usize);
    // SAFETY: valid result; the arrays live as long as `event`.
    let valid = unsafe { raw::array(rd::rd_kafka_ListConsumerGroups_result_valid(result, &mut n_valid), n_valid) };
    // SAFETY: as above.
    let errors = unsafe { raw::array(rd::rd_kafka_ListConsumerGroups_result_errors(result, &mut n_errors), n_errors) };
    // SAFETY: each non-null element is a listing owned by `result`.
    let groups = valid.iter().filter(|g| !g.is_null()).filter_map(|&g| unsafe { listing(g) }).collect();
    // SAFETY: each element is null or an error object owned by `result`.
    let errors = errors.iter().filter_map(|&e| unsafe { raw::error_object(e) }).collect();
    Ok((groups, errors))
}

/// # Safety
/// `g` is a valid, non-null listing.
unsafe fn listing(g: *const rd::rd_kafka_ConsumerGroupListing_t) -> Option<RawGroup> {
    // SAFETY: valid listing per this function's contract.
    let name = unsafe { raw::string(rd::rd_kafka_ConsumerGroupListing_group_id(g)) }?;
    // SAFETY: as above.
    let is_simple = unsafe { rd::rd_kafka_ConsumerGroupListing_is_simple_consumer_group(g) } != 0;
    // SAFETY: as above.
    let state = unsafe { raw::group_state(g) };
    Some(RawGroup { name, state, is_simple })
}

/// Committed offsets of each group in `groups` (which must hold no
/// duplicates), in the same order. A group without an answer by `deadline`
/// gets a timeout error.
pub(crate) fn committed_offsets(
    admin: &Admin,
    groups: &[Arc<str>],
    max_in_flight: usize,
    timeout: Duration,
    deadline: Instant,
) -> Result<Vec<Result<Vec<RawCommit>, BrokerError>>, BrokerError> {
    let mut options =
        AdminOptions::new(admin, rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, timeout)?;
    let queue = Queue::new(admin)?;
    let mut results: Vec<Option<Result<Vec<RawCommit>, BrokerError>>> = groups.iter().map(|_| None).collect();
    let mut in_flight: HashMap<&str, usize> = HashMap::new();
    let mut pending = groups.iter().enumerate();
    loop {
        while in_flight.len() < max_in_flight.max(1) {
            let Some((idx, group)) = pending.next() else { break };
            options.set_tag(idx);
            match submit(admin, &options, &queue, group) {
                Ok(()) => {
                    in_flight.insert(group, idx);
                }
                Err(err) => {
                    if let Some(slot) = results.get_mut(idx) {
                        *slot = Some(Err(err));
                    }
                }
            }
        }
        if in_flight.is_empty() {
            break;
        }
        let Some(event) = queue.poll_until(deadline) else { break };
        if event.kind() != rd::RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT {
            continue;
        }
        let (name, outcome) = group_result(&event);
        // Match by group id; a request-level failure carries no group, so
        // fall back to the tag set at submission.
        let idx = match name.as_deref().and_then(|n| in_flight.get(n)) {
            Some(&idx) => idx,
            None => event.tag(),
        };
        in_flight.retain(|_, i| *i != idx);
        if let Some(slot @ None) = results.get_mut(idx) {
            *slot = Some(outcome);
        }
    }
    let timed_out =
        || BrokerError { code: TIMED_OUT, message: "no offset fetch result before the deadline".to_owned() };
    Ok(results.into_iter().map(|r| r.unwrap_or_else(|| Err(timed_out()))).collect())
}

fn submit(admin: &Admin, options: &AdminOptions<'_>, queue: &Queue<'_>, group: &str) -> Result<(), BrokerError> {
    let name = CString::new(group)
        .map_err(|_| BrokerError { code: raw::INVALID_ARG, message: "group id contains a nul byte".to_owned() })?;
    let request = GroupOffsetsRequest::new(&name)?;
    let mut requests = [request.as_ptr()];
    // SAFETY: client, options, queue and the one-element request array are
    // valid for the call; librdkafka copies the request and the options.
    unsafe {
        rd::rd_kafka_ListConsumerGroupOffsets(
            admin.inner().native_ptr(),
            requests.as_mut_ptr(),
            requests.len(),
            options.as_ptr(),
            queue.as_ptr(),
        );
    }
    Ok(())
}

/// The group name (if the result names one) and the outcome of one
/// ListConsumerGroupOffsets result event.
fn group_result(event: &Event<'_>) -> (Option<String>, Result<Vec<RawCommit>, BrokerError>) {
    if let Some(err) = event.error() {
        return (None, Err(err));
    }
    // SAFETY: valid event; null if it is not of this type.
    let result = unsafe { rd::rd_kafka_event_ListConsumerGroupOffsets_result(event.as_ptr()) };
    if result.is_null() {
        return (None, Err(raw::failure("offset fetch event carries no result")));
    }
    let mut n = 0usize;
    // SAFETY: valid result; the array lives as long as `event`.
    let groups = unsafe { raw::array(rd::rd_kafka_ListConsumerGroupOffsets_result_groups(result, &mut n), n) };
    let Some(&group) = groups.iter().find(|g| !g.is_null()) else {
        return (None, Err(raw::failure("offset fetch result holds no group")));
    };
    // SAFETY: non-null group result owned by `event`.
    let name = unsafe { raw::string(rd::rd_kafka_group_result_name(group)) };
    // SAFETY: as above; the error object (if any) is owned by the result.
    if let Some(err) = unsafe { raw::error_object(rd::rd_kafka_group_result_error(group)) } {
        return (name, Err(err));
    }
    // SAFETY: as above; the list is owned by the result.
    let elems = unsafe { list_elems(rd::rd_kafka_group_result_partitions(group)) };
    let commits = elems
        .iter()
        // SAFETY: every element is valid and owned by the group result.
        .filter_map(|tp| unsafe { raw::partition_entry(tp) })
        .collect();
    (name, Ok(commits))
}

/// Polls `queue` for the first event of type `kind` until `deadline`.
pub(super) fn next_result<'a>(
    queue: &Queue<'a>,
    kind: rd::rd_kafka_event_type_t,
    deadline: Instant,
) -> Result<Event<'a>, BrokerError> {
    loop {
        let Some(event) = queue.poll_until(deadline) else {
            return Err(BrokerError { code: TIMED_OUT, message: "no result before the deadline".to_owned() });
        };
        if event.kind() == kind {
            return Ok(event);
        }
    }
}
