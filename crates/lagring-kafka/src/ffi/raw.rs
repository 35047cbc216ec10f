//! Small helpers over raw librdkafka values: C strings, error codes and
//! C arrays, each tolerant of null pointers.

use std::ffi::{CStr, c_char, c_int};

use rdkafka::bindings as rd;

use crate::error::BrokerError;

// The same C symbols as in `rdkafka::bindings`, with error codes typed as
// `c_int`: librdkafka passes through broker error codes it does not know, and
// an undeclared discriminant in the bindings' `rd_kafka_resp_err_t` enum would
// be undefined behaviour.
unsafe extern "C" {
    #[link_name = "rd_kafka_event_error"]
    fn event_error_code(rkev: *mut rd::rd_kafka_event_t) -> c_int;
    #[link_name = "rd_kafka_error_code"]
    fn error_object_code(error: *const rd::rd_kafka_error_t) -> c_int;
    #[link_name = "rd_kafka_err2str"]
    fn err2str(err: c_int) -> *const c_char;
    #[link_name = "rd_kafka_ConsumerGroupListing_state"]
    fn listing_state(grplist: *const rd::rd_kafka_ConsumerGroupListing_t) -> c_int;
}

/// librdkafka's generic failure code, for failures without a code of their own.
pub(super) const FAIL: i32 = -196;
/// librdkafka's invalid-argument code.
pub(super) const INVALID_ARG: i32 = -186;

/// Copies a C string; `None` for a null pointer. Invalid UTF-8 is replaced.
///
/// # Safety
/// `p` is null or points to a nul-terminated string valid for this call.
pub(super) unsafe fn string(p: *const c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: non-null and nul-terminated per this function's contract.
    Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// librdkafka's description of an error code (also for unknown codes).
pub(super) fn describe(code: c_int) -> String {
    // SAFETY: rd_kafka_err2str accepts any int and returns a static or
    // thread-local string, copied before this thread calls it again.
    let text = unsafe { string(err2str(code)) };
    text.unwrap_or_else(|| format!("unknown error {code}"))
}

/// A failure of librdkafka itself (no code of its own).
pub(super) fn failure(message: impl Into<String>) -> BrokerError {
    BrokerError { code: FAIL, message: message.into() }
}

/// The request-level error of an admin result event, if any.
///
/// # Safety
/// `ev` is a valid event.
pub(super) unsafe fn event_error(ev: *mut rd::rd_kafka_event_t) -> Option<BrokerError> {
    // SAFETY: `ev` is valid per this function's contract.
    let code = unsafe { event_error_code(ev) };
    if code == 0 {
        return None;
    }
    // SAFETY: as above; the string lives as long as the event.
    let text = unsafe { string(rd::rd_kafka_event_error_string(ev)) };
    Some(BrokerError { code, message: text.unwrap_or_else(|| describe(code)) })
}

/// The error held by an `rd_kafka_error_t`, `None` for null or no error.
///
/// # Safety
/// `e` is null or a valid error object.
pub(super) unsafe fn error_object(e: *const rd::rd_kafka_error_t) -> Option<BrokerError> {
    if e.is_null() {
        return None;
    }
    // SAFETY: non-null and valid per this function's contract.
    let code = unsafe { error_object_code(e) };
    if code == 0 {
        return None;
    }
    // SAFETY: as above; the string lives as long as the error object.
    let text = unsafe { string(rd::rd_kafka_error_string(e)) };
    Some(BrokerError { code, message: text.unwrap_or_else(|| describe(code)) })
}

/// The per-partition error code of a topic-partition element (0 = none),
/// read as an integer.
///
/// # Safety
/// `tp` is a valid, non-null topic-partition element.
/// One partition of an admin result: topic, partition, and offset or error.
pub(crate) type RawPartition = (String, i32, Result<i64, BrokerError>);

/// Reads one partition entry of an admin result; `None` when it has no topic.
///
/// # Safety
/// `tp` must be a valid element owned by a live result.
pub(super) unsafe fn partition_entry(tp: &rd::rd_kafka_topic_partition_t) -> Option<RawPartition> {
    // SAFETY: `tp.topic` is null or a string owned by the result.
    let topic = unsafe { string(tp.topic) }?;
    // SAFETY: `tp` is a valid element per this function's contract.
    let outcome = match unsafe { partition_error(tp) } {
        Some(err) => Err(err),
        None => Ok(tp.offset),
    };
    Some((topic, tp.partition, outcome))
}

pub(super) unsafe fn partition_error(tp: *const rd::rd_kafka_topic_partition_t) -> Option<BrokerError> {
    // SAFETY: `tp` is valid; `err` is a `#[repr(i32)]` enum field, read as
    // its underlying i32 without materialising the enum.
    let code = unsafe { std::ptr::addr_of!((*tp).err).cast::<i32>().read() };
    (code != 0).then(|| BrokerError { code, message: describe(code) })
}

/// Views a librdkafka result array as a slice of (possibly null) pointers.
///
/// # Safety
/// `ptr` is null or points to `cnt` pointers that live for `'a`.
pub(super) unsafe fn array<'a, T>(ptr: *mut *const T, cnt: usize) -> &'a [*const T] {
    if ptr.is_null() || cnt == 0 {
        return &[];
    }
    // SAFETY: non-null and `cnt` elements long per this function's contract.
    unsafe { std::slice::from_raw_parts(ptr.cast_const(), cnt) }
}

/// The state name of a group listing, as librdkafka and Kafka spell it;
/// "Unknown" for a state this build does not know.
///
/// # Safety
/// `listing` is a valid, non-null group listing.
pub(super) unsafe fn group_state(listing: *const rd::rd_kafka_ConsumerGroupListing_t) -> &'static str {
    // SAFETY: valid listing per this function's contract.
    match unsafe { listing_state(listing) } {
        1 => "PreparingRebalance",
        2 => "CompletingRebalance",
        3 => "Stable",
        4 => "Dead",
        5 => "Empty",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_known_and_unknown_codes_without_panicking() {
        assert_eq!(describe(-185), "Local: Timed out");
        assert!(!describe(31_337).is_empty());
        assert!(!describe(-31_337).is_empty());
    }

    #[test]
    fn null_pointers_are_empty() {
        // SAFETY: null is allowed by both helpers' contracts.
        unsafe {
            assert_eq!(string(std::ptr::null()), None);
            assert!(array::<u8>(std::ptr::null_mut(), 3).is_empty());
        }
    }
}
