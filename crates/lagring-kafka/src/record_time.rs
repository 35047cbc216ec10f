//! The produce time of the record at a committed offset, read from the log itself, for exact
//! time lag: `now − produce time of the first unconsumed record`. Interpolating over an offset
//! history only estimates it; reading the record's batch header answers it, at the cost of one
//! small broker read per lagging partition whose batch changed (the rest come from a cache).
//! Only the native client can do this (see docs/native-client.md, "Exact time lag").

use std::collections::BTreeMap;

use lagring_core::model::{Offset, TopicPartition};

use crate::error::KafkaError;

/// When the record at a committed offset was produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordTime {
    /// Unix ms. With `exact`, the record's own timestamp (CreateTime or LogAppendTime);
    /// otherwise the batch's max timestamp, an upper bound: the record was produced at most
    /// `bound_ms` earlier (`[produce_ms − bound_ms, produce_ms]`).
    pub produce_ms: i64,
    /// Whether `produce_ms` is the record's own timestamp.
    pub exact: bool,
    /// Width of the interval holding the true produce time; 0 when `exact`.
    pub bound_ms: i64,
    /// Records between the committed offset and the log start that retention deleted before the
    /// group read them; `produce_ms` is then the time of the earliest surviving record.
    pub lost_messages: u64,
}

/// Limits of one [`crate::KafkaClient::record_times`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordTimeOptions {
    /// `partition_max_bytes` of the per-leader Fetch. A broker returns the batch holding the
    /// offset whole for the first partition of a request, but nothing for a later partition
    /// whose batch is larger than this; those are read again by a Fetch of their own. Larger
    /// values waste bytes (the broker also sends the batches after it, up to the limit);
    /// smaller ones cost follow-up requests. Default 16 KiB: the Java producer's default
    /// `batch.size`.
    pub partition_max_bytes: i32,
    /// Follow-up Fetches (one partition each) per call, for partitions the per-leader request
    /// returned no batch for, commits below the log start, and a second batch of one partition.
    /// Partitions beyond it get an error (the caller falls back to estimating). Default 32.
    pub follow_ups_per_call: usize,
}

impl Default for RecordTimeOptions {
    fn default() -> Self {
        Self { partition_max_bytes: 16 * 1024, follow_ups_per_call: 32 }
    }
}

/// The answer for each distinct (partition, committed offset) asked.
pub type RecordTimes = BTreeMap<(TopicPartition, Offset), Result<RecordTime, KafkaError>>;
