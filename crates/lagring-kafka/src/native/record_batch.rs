//! The record-batch parser of exact time lag: the v2 batch headers of a Fetch answer's `records`
//! bytes, and for an uncompressed CreateTime batch the (offset, timestamp) of each record. Keys,
//! values and headers are never decoded, and nothing is decompressed. Pure functions over bytes,
//! so every malformed input is an error or a shorter answer, never a panic (see the fuzz tests in
//! `native/fuzz_tests.rs`).
//!
//! Bounded by construction, whatever the broker sends: a batch shorter than its own header is an
//! error (so the walk always advances by at least [`HEADER_LEN`] bytes), at most
//! [`MAX_BATCHES_PER_ANSWER`] batches are read from one partition's bytes, and records of a batch
//! are read only as far as its bytes go, at most [`MAX_RECORDS_PER_BATCH`] of them (a larger
//! batch is answered like a compressed one: its max timestamp, not exact). One answer therefore
//! costs time and memory linear in its bytes, with constant caps on entries.

use lagring_core::model::Offset;

use crate::record_time::RecordTime;

/// Batches read from one partition's bytes of one Fetch answer; later ones are left unread. The
/// request asks for `partition_max_bytes` (16 KiB by default, a handful of batches) and the
/// cache keeps [`super::batch_cache::BATCHES_PER_PARTITION`], so an honest answer stays far below.
pub(crate) const MAX_BATCHES_PER_ANSWER: usize = 256;
/// Records whose times are kept for one uncompressed CreateTime batch (16 bytes each, so 2 MiB);
/// a batch announcing more gets only its span. A producer's batch holds far fewer (the Java
/// default `batch.size` of 16 KiB is at most a few thousand records).
pub(crate) const MAX_RECORDS_PER_BATCH: usize = 1 << 17;
/// Fewest bytes a record takes that `record_times` accepts: length, attributes, timestamp delta
/// and offset delta of one byte each. Bounds the pre-allocation by the bytes there are.
const MIN_RECORD_LEN: usize = 4;
/// Most record entries reserved up front; more grow as records are actually read.
const RECORDS_RESERVED: usize = 4096;
/// Size of a v2 record batch header.
pub(crate) const HEADER_LEN: usize = 61;
/// Bytes of the header that its `length` field does not count (base offset and length).
const LENGTH_EXCLUDES: usize = 12;
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
    pub(crate) fn contains(&self, offset: Offset) -> bool {
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

/// The batches of a Fetch answer's `records`, in order, at most [`MAX_BATCHES_PER_ANSWER`]; a
/// trailing prefix shorter than a header is dropped. An older message format (magic < 2) is an
/// error: it has no batch header. So is a batch whose length does not cover its own header.
pub(crate) fn parse_batches(records: &[u8]) -> Result<Vec<Batch>, String> {
    let mut batches = Vec::new();
    let mut at = 0usize;
    while let Some(header) = records.get(at..at.saturating_add(HEADER_LEN)) {
        if batches.len() == MAX_BATCHES_PER_ANSWER {
            break;
        }
        let length = usize::try_from(be_i32(header, 8)).map_err(|_| format!("negative batch length at byte {at}"))?;
        let total = length.saturating_add(LENGTH_EXCLUDES);
        if total < HEADER_LEN {
            return Err(format!("record batch at byte {at} is {total} bytes, shorter than its header"));
        }
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
                    if count > MAX_RECORDS_PER_BATCH {
                        Times::Span
                    } else {
                        let records = batch.get(HEADER_LEN..).unwrap_or_default();
                        Times::Records(record_times(records, count, base, first_ms)?)
                    }
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
    let mut out = Vec::with_capacity(count.min(bytes.len() / MIN_RECORD_LEN).min(RECORDS_RESERVED));
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
    b.get(at..at.saturating_add(8)).and_then(|s| s.try_into().ok()).map_or(0, i64::from_be_bytes)
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    b.get(at..at.saturating_add(4)).and_then(|s| s.try_into().ok()).map_or(0, i32::from_be_bytes)
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    b.get(at..at.saturating_add(2)).and_then(|s| s.try_into().ok()).map_or(0, i16::from_be_bytes)
}

#[cfg(test)]
/// Test data: a complete, uncompressed CreateTime batch of `records` records at `base`, each record the
/// smallest possible (null key and value, no headers), one ms apart.
pub(crate) fn encoded_batch(base: Offset, records: i32, first_ms: i64) -> Vec<u8> {
    let mut body = Vec::new();
    for i in 0..records {
        // attributes, timestamp delta, offset delta, key -1, value -1, 0 headers
        let record = [0u8, zigzag(i64::from(i)), zigzag(i64::from(i)), 1, 1, 0];
        body.push(u8::try_from(record.len() * 2).unwrap());
        body.extend_from_slice(&record);
    }
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(&base.to_be_bytes());
    let length = i32::try_from(HEADER_LEN - LENGTH_EXCLUDES + body.len()).unwrap();
    header[8..12].copy_from_slice(&length.to_be_bytes());
    header[MAGIC_AT] = 2;
    header[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4].copy_from_slice(&(records - 1).max(0).to_be_bytes());
    header[FIRST_TIMESTAMP_AT..FIRST_TIMESTAMP_AT + 8].copy_from_slice(&first_ms.to_be_bytes());
    let max_ms = first_ms + i64::from(records - 1).max(0);
    header[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&max_ms.to_be_bytes());
    header[RECORD_COUNT_AT..RECORD_COUNT_AT + 4].copy_from_slice(&records.to_be_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
fn zigzag(v: i64) -> u8 {
    u8::try_from((v << 1) ^ (v >> 63)).unwrap()
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
    fn whole_uncompressed_batches_give_each_records_time() {
        let mut bytes = encoded_batch(100, 3, 5_000);
        bytes.extend(encoded_batch(103, 2, 6_000));
        let batches = parse_batches(&bytes).unwrap();
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].times, Times::Records(vec![(100, 5_000), (101, 5_001), (102, 5_002)]));
        assert_eq!(batches[1].time_of(104).produce_ms, 6_001);
        assert!(batches[1].time_of(104).exact);
    }

    #[test]
    fn a_batch_shorter_than_its_header_is_an_error() {
        // Length 0: before, every 12 bytes made one more batch (millions per answer).
        let mut bytes = encoded_batch(0, 1, 0);
        bytes[8..12].copy_from_slice(&0i32.to_be_bytes());
        bytes.extend_from_slice(&[0u8; 4096]);
        assert_eq!(parse_batches(&bytes).unwrap_err(), "record batch at byte 0 is 12 bytes, shorter than its header");
    }

    #[test]
    fn a_batch_announcing_more_records_than_indexed_is_a_span() {
        let mut bytes = encoded_batch(0, 3, 1_000);
        let too_many = i32::try_from(MAX_RECORDS_PER_BATCH + 1).unwrap();
        bytes[RECORD_COUNT_AT..RECORD_COUNT_AT + 4].copy_from_slice(&too_many.to_be_bytes());
        assert_eq!(parse_batches(&bytes).unwrap()[0].times, Times::Span);
        // Announcing 2^31 - 1 within the bound of a real count is an error at the first missing
        // record, not a 32 GiB reservation.
        let mut bytes = encoded_batch(0, 3, 1_000);
        bytes[RECORD_COUNT_AT..RECORD_COUNT_AT + 4].copy_from_slice(&100_000i32.to_be_bytes());
        assert!(parse_batches(&bytes).unwrap_err().contains("record 3 of batch at offset 0 is malformed"));
    }

    #[test]
    fn batches_per_answer_are_capped() {
        let many: Vec<u8> = (0..1_000).flat_map(|i| encoded_batch(i, 1, 0)).collect();
        let batches = parse_batches(&many).unwrap();
        assert_eq!(batches.len(), MAX_BATCHES_PER_ANSWER);
        assert_eq!(batches.last().unwrap().base, 255);
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
