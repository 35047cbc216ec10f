//! RAII guards for raw librdkafka handles. Each guard owns one handle, frees
//! it in `Drop`, and borrows the [`Admin`] client for `'a` so the underlying
//! `rd_kafka_t` outlives every handle made from it.

use std::ffi::{CStr, CString, c_int, c_void};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::time::Duration;

use rdkafka::bindings as rd;

use super::Admin;
use super::raw;
use crate::error::BrokerError;

fn millis(d: Duration) -> c_int {
    c_int::try_from(d.as_millis()).unwrap_or(c_int::MAX).max(1)
}

/// `rd_kafka_AdminOptions_t` for one API.
pub(super) struct AdminOptions<'a> {
    ptr: NonNull<rd::rd_kafka_AdminOptions_t>,
    _client: PhantomData<&'a Admin>,
}

impl<'a> AdminOptions<'a> {
    /// Options for `op` with the given request timeout.
    pub(super) fn new(admin: &'a Admin, op: rd::rd_kafka_admin_op_t, timeout: Duration) -> Result<Self, BrokerError> {
        // SAFETY: the client handle is valid while `admin` is borrowed.
        let ptr = unsafe { rd::rd_kafka_AdminOptions_new(admin.inner().native_ptr(), op) };
        let ptr = NonNull::new(ptr).ok_or_else(|| raw::failure("admin options could not be created"))?;
        let options = Self { ptr, _client: PhantomData };
        let mut errstr = [0 as std::ffi::c_char; 256];
        // SAFETY: valid options; `errstr` is writable for its stated length.
        let code = unsafe {
            rd::rd_kafka_AdminOptions_set_request_timeout(
                ptr.as_ptr(),
                millis(timeout),
                errstr.as_mut_ptr(),
                errstr.len(),
            )
        };
        if code != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            // SAFETY: librdkafka nul-terminates `errstr` within its length.
            let text = unsafe { raw::string(errstr.as_ptr()) };
            return Err(raw::failure(text.unwrap_or_else(|| "invalid request timeout".to_owned())));
        }
        Ok(options)
    }

    /// Sets the isolation level (ListOffsets only).
    pub(super) fn set_isolation(&mut self, level: rd::rd_kafka_IsolationLevel_t) -> Result<(), BrokerError> {
        // SAFETY: valid options; the returned error object is owned by us.
        let err = unsafe { rd::rd_kafka_AdminOptions_set_isolation_level(self.ptr.as_ptr(), level) };
        if err.is_null() {
            return Ok(());
        }
        // SAFETY: non-null error object returned to us; read, then freed once.
        let failure = unsafe { raw::error_object(err) };
        // SAFETY: as above, we own `err` and free it exactly once.
        unsafe { rd::rd_kafka_error_destroy(err) };
        failure.map_or(Ok(()), Err)
    }

    /// Tags the next requests made with these options; the tag comes back
    /// on their result events. It is an integer, never dereferenced.
    pub(super) fn set_tag(&mut self, tag: usize) {
        // SAFETY: valid options; librdkafka stores the pointer value only.
        unsafe {
            rd::rd_kafka_AdminOptions_set_opaque(self.ptr.as_ptr(), std::ptr::without_provenance_mut::<c_void>(tag))
        };
    }

    pub(super) fn as_ptr(&self) -> *const rd::rd_kafka_AdminOptions_t {
        self.ptr.as_ptr()
    }
}

impl Drop for AdminOptions<'_> {
    fn drop(&mut self) {
        // SAFETY: owned, created by rd_kafka_AdminOptions_new, freed once.
        unsafe { rd::rd_kafka_AdminOptions_destroy(self.ptr.as_ptr()) }
    }
}

/// A private result queue, or a reference to the client's main queue.
pub(super) struct Queue<'a> {
    ptr: NonNull<rd::rd_kafka_queue_t>,
    /// Any client of the `rdkafka` crate (the main queue of the probe's admin client too).
    _client: PhantomData<&'a ()>,
}

impl<'a> Queue<'a> {
    pub(super) fn new(admin: &'a Admin) -> Result<Self, BrokerError> {
        // SAFETY: the client handle is valid while `admin` is borrowed.
        let ptr = unsafe { rd::rd_kafka_queue_new(admin.inner().native_ptr()) };
        let ptr = NonNull::new(ptr).ok_or_else(|| raw::failure("result queue could not be created"))?;
        Ok(Self { ptr, _client: PhantomData })
    }

    /// The client's main queue (its log lines and global errors), `None` if librdkafka has none.
    pub(super) fn main<C: rdkafka::client::ClientContext>(admin: &'a rdkafka::admin::AdminClient<C>) -> Option<Self> {
        // SAFETY: the client handle is valid while `admin` is borrowed; the returned reference
        // is ours and released in `Drop` (rd_kafka_queue_destroy).
        let ptr = unsafe { rd::rd_kafka_queue_get_main(admin.inner().native_ptr()) };
        NonNull::new(ptr).map(|ptr| Self { ptr, _client: PhantomData })
    }

    /// Waits up to `timeout` for the next event.
    pub(super) fn poll(&self, timeout: Duration) -> Option<Event<'a>> {
        // SAFETY: valid queue; a returned event is owned by the caller.
        let ev = unsafe { rd::rd_kafka_queue_poll(self.ptr.as_ptr(), millis(timeout)) };
        NonNull::new(ev).map(|ptr| Event { ptr, _client: PhantomData })
    }

    pub(super) fn as_ptr(&self) -> *mut rd::rd_kafka_queue_t {
        self.ptr.as_ptr()
    }
}

impl Drop for Queue<'_> {
    fn drop(&mut self) {
        // SAFETY: owned (created by rd_kafka_queue_new, or a reference from
        // rd_kafka_queue_get_main), released once. Requests still in flight
        // hold their own reference to the queue.
        unsafe { rd::rd_kafka_queue_destroy(self.ptr.as_ptr()) }
    }
}

/// One event polled from a [`Queue`].
pub(super) struct Event<'a> {
    ptr: NonNull<rd::rd_kafka_event_t>,
    _client: PhantomData<&'a ()>,
}

impl Event<'_> {
    pub(super) fn as_ptr(&self) -> *mut rd::rd_kafka_event_t {
        self.ptr.as_ptr()
    }

    pub(super) fn kind(&self) -> rd::rd_kafka_event_type_t {
        // SAFETY: valid event.
        unsafe { rd::rd_kafka_event_type(self.ptr.as_ptr()) }
    }

    /// The tag set with [`AdminOptions::set_tag`].
    pub(super) fn tag(&self) -> usize {
        // SAFETY: valid event; the opaque is only read as an integer.
        unsafe { rd::rd_kafka_event_opaque(self.ptr.as_ptr()) }.addr()
    }

    /// The request-level error, if the whole request failed.
    pub(super) fn error(&self) -> Option<BrokerError> {
        // SAFETY: valid event.
        unsafe { raw::event_error(self.ptr.as_ptr()) }
    }
}

impl Drop for Event<'_> {
    fn drop(&mut self) {
        // SAFETY: owned, returned by rd_kafka_queue_poll, freed once.
        unsafe { rd::rd_kafka_event_destroy(self.ptr.as_ptr()) }
    }
}

/// An `rd_kafka_topic_partition_list_t` built from `(topic, partition, offset)`.
pub(super) struct PartitionList {
    ptr: NonNull<rd::rd_kafka_topic_partition_list_t>,
}

impl PartitionList {
    pub(super) fn new(entries: &[(CString, i32, i64)]) -> Result<Self, BrokerError> {
        let size = c_int::try_from(entries.len()).map_err(|_| raw::failure("too many partitions for one request"))?;
        // SAFETY: plain allocation; the result is owned by the guard.
        let ptr = unsafe { rd::rd_kafka_topic_partition_list_new(size) };
        let ptr = NonNull::new(ptr).ok_or_else(|| raw::failure("partition list could not be created"))?;
        let list = Self { ptr };
        for (topic, partition, offset) in entries {
            // SAFETY: valid list; librdkafka copies the topic string.
            let elem = unsafe { rd::rd_kafka_topic_partition_list_add(ptr.as_ptr(), topic.as_ptr(), *partition) };
            // SAFETY: `elem` is null or the element just added to our list.
            let elem = unsafe { elem.as_mut() }.ok_or_else(|| raw::failure("partition list add failed"))?;
            elem.offset = *offset;
        }
        Ok(list)
    }

    pub(super) fn as_ptr(&self) -> *mut rd::rd_kafka_topic_partition_list_t {
        self.ptr.as_ptr()
    }
}

impl Drop for PartitionList {
    fn drop(&mut self) {
        // SAFETY: owned, created by rd_kafka_topic_partition_list_new, freed once.
        unsafe { rd::rd_kafka_topic_partition_list_destroy(self.ptr.as_ptr()) }
    }
}

/// One `rd_kafka_ListConsumerGroupOffsets_t` request object for all
/// partitions of one group. librdkafka copies it on submission.
pub(super) struct GroupOffsetsRequest {
    ptr: NonNull<rd::rd_kafka_ListConsumerGroupOffsets_t>,
}

impl GroupOffsetsRequest {
    pub(super) fn new(group: &CStr) -> Result<Self, BrokerError> {
        // SAFETY: `group` is nul-terminated; null partitions means "all";
        // librdkafka copies the group id.
        let ptr = unsafe { rd::rd_kafka_ListConsumerGroupOffsets_new(group.as_ptr(), std::ptr::null()) };
        let ptr = NonNull::new(ptr).ok_or_else(|| raw::failure("group offsets request could not be created"))?;
        Ok(Self { ptr })
    }

    pub(super) fn as_ptr(&self) -> *mut rd::rd_kafka_ListConsumerGroupOffsets_t {
        self.ptr.as_ptr()
    }
}

impl Drop for GroupOffsetsRequest {
    fn drop(&mut self) {
        // SAFETY: owned, created by rd_kafka_ListConsumerGroupOffsets_new, freed once.
        unsafe { rd::rd_kafka_ListConsumerGroupOffsets_destroy(self.ptr.as_ptr()) }
    }
}

/// The elements of a topic-partition list owned by a result object.
///
/// # Safety
/// `list` is null or a valid list that lives for `'a`.
pub(super) unsafe fn list_elems<'a>(
    list: *const rd::rd_kafka_topic_partition_list_t,
) -> &'a [rd::rd_kafka_topic_partition_t] {
    // SAFETY: `list` is null or valid per this function's contract.
    let Some(list) = (unsafe { list.as_ref() }) else { return &[] };
    let cnt = usize::try_from(list.cnt).unwrap_or(0);
    if list.elems.is_null() || cnt == 0 {
        return &[];
    }
    // SAFETY: librdkafka keeps `cnt` initialised elements at `elems`.
    unsafe { std::slice::from_raw_parts(list.elems, cnt) }
}

impl<'a> Queue<'a> {
    /// Waits for the next event until `deadline`; `None` once it passed.
    pub(super) fn poll_until(&self, deadline: std::time::Instant) -> Option<Event<'a>> {
        loop {
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            if left.is_zero() {
                return None;
            }
            if let Some(ev) = self.poll(left) {
                return Some(ev);
            }
        }
    }
}
