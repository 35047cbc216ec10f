//! Record batches as Fetch serves them, derived from the partition model so that tests know
//! every byte a client reads: batch `k` of a partition holds offsets `[k·n, (k+1)·n)` (`n` = the
//! topic's `batch_size`), clipped to what exists at the instant (log start .. high watermark, or
//! .. last stable offset for read_committed). The batch containing offset `c` is therefore
//! computable without state, and the tail batch grows as the high watermark moves, as a batch
//! being filled would (a client refetching it skips the offsets it already has, as it does for
//! compressed batches on a real broker).
//!
//! Each record has key `"<offset>"`, value `"<topic>/<partition>/<offset>"` and its produce
//! time ([`TopicModel::produce_time_ms`] mapped to wall time) as CreateTime. With LogAppendTime
//! the batch is flagged so and its max timestamp is the produce time of its last offset, which
//! clients then report for every record of the batch. Transactional topics get transactional
//! batches (a fixed producer id per topic). With `markers`, the last offset of every run of `n`
//! is a commit marker (a control record, alone in a control batch) and the run's other offsets
//! are one transaction: offsets keep their meaning, clients just do not deliver the markers.

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};

use super::partition::TopicModel;
use crate::scenario::{Codec, TimestampKind};

/// Size of a v2 record batch header (base offset through record count).
pub const BATCH_HEADER_LEN: usize = 61;
/// Byte position of the attributes field in a v2 batch.
const ATTRIBUTES_AT: usize = 21;
/// Byte position of the max timestamp field in a v2 batch.
const MAX_TIMESTAMP_AT: usize = 35;
/// Byte position of the CRC field; the CRC covers everything from the attributes on.
const CRC_AT: usize = 17;
/// Attribute bit of LogAppendTime.
const LOG_APPEND_TIME: u8 = 0x08;
/// Producer ids of transactional topics start here (plus the topic index).
const PRODUCER_ID_BASE: i64 = 1_000;
/// Control record key: version 0, type 1 (commit).
const COMMIT_KEY: &[u8] = &[0, 0, 0, 1];
/// Control record value: version 0, coordinator epoch 0.
const COMMIT_VALUE: &[u8] = &[0, 0, 0, 0, 0, 0];

/// `[first, end)` of the batch (before clipping) that contains `offset`.
pub fn batch_bounds(batch_size: u32, offset: u64) -> (u64, u64) {
    let n = u64::from(batch_size.max(1));
    let first = offset - offset % n;
    (first, first.saturating_add(n))
}

/// Key of the record at `offset`.
pub fn key(offset: u64) -> String {
    offset.to_string()
}

/// Value of the record at `offset` of `topic`/`partition`.
pub fn value(topic: &str, partition: i32, offset: u64) -> String {
    format!("{topic}/{partition}/{offset}")
}

/// Reads the batches of one partition at one instant.
#[derive(Debug, Clone, Copy)]
pub struct PartitionLog<'a> {
    pub topic: &'a TopicModel,
    pub partition: i32,
    /// Scenario time of the read.
    pub t_ms: u64,
    /// Unix ms of scenario t = 0.
    pub epoch_ms: i64,
    /// First offset that exists (log start).
    pub start: u64,
    /// First offset not served (high watermark, or last stable offset for read_committed).
    pub end: u64,
}

impl PartitionLog<'_> {
    /// Wall-clock produce time of `offset`.
    pub fn timestamp(&self, offset: u64) -> i64 {
        self.epoch_ms.saturating_add(self.topic.produce_time_ms(self.partition, offset, self.t_ms))
    }

    /// `[first, end)` of the served batch containing `offset`, clipped to `[start, end)`.
    pub fn batch_containing(&self, offset: u64) -> (u64, u64) {
        let (first, mut end) = batch_bounds(self.topic.config.batch_size, offset);
        if self.markers() {
            let marker = end - 1;
            if offset == marker {
                return (marker, end.min(self.end));
            }
            end = marker;
        }
        (first.max(self.start), end.min(self.end))
    }

    /// Whether the topic serves commit markers.
    fn markers(&self) -> bool {
        self.topic.config.transactional.as_ref().is_some_and(|t| t.markers)
    }

    /// Whether `offset` holds a commit marker.
    pub fn is_marker(&self, offset: u64) -> bool {
        self.markers() && batch_bounds(self.topic.config.batch_size, offset).1 - 1 == offset
    }

    /// Encode the batch holding offsets `[first, end)` (non-empty) as one v2 record batch.
    pub fn encode_batch(&self, first: u64, end: u64) -> anyhow::Result<BytesMut> {
        anyhow::ensure!(first < end, "empty batch {first}..{end}");
        let config = &self.topic.config;
        let (generation, _) = self.topic.generation(self.t_ms);
        let transactional = config.transactional.is_some();
        let (producer_id, producer_epoch, base_sequence) = if transactional {
            let id = PRODUCER_ID_BASE.saturating_add(i64::try_from(self.topic.index).unwrap_or(0));
            (id, 0, first as i32)
        } else {
            (-1, -1, -1)
        };
        let name = config.name.as_str();
        let control = self.is_marker(first);
        anyhow::ensure!(!control || end == first + 1, "a marker batch holds one offset");
        let records: Vec<Record> = (first..end)
            .map(|offset| Record {
                transactional,
                control,
                delete_horizon: false,
                partition_leader_epoch: i32::try_from(generation).unwrap_or(i32::MAX),
                producer_id,
                producer_epoch,
                timestamp_type: TimestampType::Creation,
                offset: i64::try_from(offset).unwrap_or(i64::MAX),
                // The encoder splits batches where offset − sequence changes.
                sequence: base_sequence.wrapping_add((offset - first) as i32),
                timestamp: self.timestamp(offset),
                key: Some(if control { Bytes::from_static(COMMIT_KEY) } else { Bytes::from(key(offset)) }),
                value: Some(if control {
                    Bytes::from_static(COMMIT_VALUE)
                } else {
                    Bytes::from(value(name, self.partition, offset))
                }),
                headers: IndexMap::new(),
            })
            .collect();
        let options = RecordEncodeOptions { version: 2, compression: compression(config.compression) };
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(&mut buf, &records, &options)?;
        if config.timestamp_type == TimestampKind::LogAppend {
            set_log_append_time(&mut buf, self.timestamp(end - 1))?;
        }
        Ok(buf)
    }

    /// The bytes Kafka's log would return for a read at `offset`: batches from the one
    /// containing `offset` up to [`Self::end`], cut at `limit` bytes (so the last batch may be a
    /// prefix). The first batch is never cut: when it alone exceeds `limit` it is returned whole
    /// if `min_one` (the first partition of a request with data) and nothing is returned
    /// otherwise, which is what brokers do for Fetch v3+.
    pub fn read(&self, offset: u64, limit: usize, min_one: bool) -> anyhow::Result<Bytes> {
        let mut out = BytesMut::new();
        let mut at = offset.max(self.start);
        while at < self.end {
            let (first, end) = self.batch_containing(at);
            let mut batch = self.encode_batch(first, end)?;
            if out.is_empty() && batch.len() > limit {
                return Ok(if min_one { batch.freeze() } else { Bytes::new() });
            }
            let room = limit.saturating_sub(out.len());
            if batch.len() >= room {
                batch.truncate(room);
                out.extend_from_slice(&batch);
                break;
            }
            out.extend_from_slice(&batch);
            at = end;
        }
        Ok(out.freeze())
    }
}

fn compression(codec: Codec) -> Compression {
    match codec {
        Codec::None => Compression::None,
        Codec::Gzip => Compression::Gzip,
        Codec::Snappy => Compression::Snappy,
        Codec::Lz4 => Compression::Lz4,
        Codec::Zstd => Compression::Zstd,
    }
}

/// Flag one encoded batch as LogAppendTime with `append_ms` as its max timestamp, and fix its
/// CRC (the encoder only writes CreateTime batches).
fn set_log_append_time(batch: &mut BytesMut, append_ms: i64) -> anyhow::Result<()> {
    let header =
        batch.get_mut(..BATCH_HEADER_LEN).ok_or_else(|| anyhow::anyhow!("record batch shorter than its header"))?;
    if let Some(low) = header.get_mut(ATTRIBUTES_AT + 1) {
        *low |= LOG_APPEND_TIME;
    }
    if let Some(max) = header.get_mut(MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8) {
        max.copy_from_slice(&append_ms.to_be_bytes());
    }
    let crc = crc32c(batch.get(ATTRIBUTES_AT..).unwrap_or_default());
    if let Some(field) = batch.get_mut(CRC_AT..CRC_AT + 4) {
        field.copy_from_slice(&crc.to_be_bytes());
    }
    Ok(())
}

/// CRC-32C (Castagnoli), the checksum of v2 record batches.
fn crc32c(data: &[u8]) -> u32 {
    const POLY: u32 = 0x82F6_3B78;
    let mut crc = !0u32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ POLY } else { crc >> 1 };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;
    use kafka_protocol::records::RecordBatchDecoder;

    const EPOCH: i64 = 1_767_225_600_000;

    fn topic(extra: &str) -> TopicModel {
        let yaml = format!(
            "topics: [{{name: t, partitions: 2, start_offset: 5, initial_messages: 95, \
             produce: {{constant: 10.0}}{extra}}}]"
        );
        let s = Scenario::from_yaml(&yaml).unwrap();
        TopicModel::new(s.topics[0].clone(), 0, s.seed)
    }

    fn log(topic: &TopicModel, t_ms: u64) -> PartitionLog<'_> {
        let o = topic.offsets(1, t_ms);
        PartitionLog {
            topic,
            partition: 1,
            t_ms,
            epoch_ms: EPOCH,
            start: o.log_start as u64,
            end: o.high_watermark as u64,
        }
    }

    struct Header {
        base_offset: i64,
        batch_length: i32,
        magic: i8,
        attributes: i16,
        last_offset_delta: i32,
        first_timestamp: i64,
        max_timestamp: i64,
        record_count: i32,
    }

    fn header(b: &[u8]) -> Header {
        assert!(b.len() >= BATCH_HEADER_LEN);
        let i64_at = |i: usize| i64::from_be_bytes(b[i..i + 8].try_into().unwrap());
        let i32_at = |i: usize| i32::from_be_bytes(b[i..i + 4].try_into().unwrap());
        Header {
            base_offset: i64_at(0),
            batch_length: i32_at(8),
            magic: b[16] as i8,
            attributes: i16::from_be_bytes([b[21], b[22]]),
            last_offset_delta: i32_at(23),
            first_timestamp: i64_at(27),
            max_timestamp: i64_at(35),
            record_count: i32_at(57),
        }
    }

    #[test]
    fn batch_containing_an_offset() {
        assert_eq!(batch_bounds(10, 0), (0, 10));
        assert_eq!(batch_bounds(10, 37), (30, 40));
        assert_eq!(batch_bounds(10, 40), (40, 50));
        assert_eq!(batch_bounds(1, 7), (7, 8));
        // Clipped to the log: start 5, hw 100 + 10/s.
        let t = topic("");
        let l = log(&t, 1_250);
        assert_eq!(l.end, 112);
        assert_eq!(l.batch_containing(7), (5, 10));
        assert_eq!(l.batch_containing(55), (50, 60));
        assert_eq!(l.batch_containing(111), (110, 112));
    }

    #[test]
    fn batch_decodes_with_model_timestamps_keys_and_values() {
        let t = topic("");
        let l = log(&t, 2_000);
        let bytes = l.encode_batch(100, 110).unwrap();
        let h = header(&bytes);
        assert_eq!((h.base_offset, h.magic, h.last_offset_delta, h.record_count), (100, 2, 9, 10));
        assert_eq!(h.batch_length as usize, bytes.len() - 12);
        // Offset 100 + k produced at (k + 1) · 100 ms.
        assert_eq!((h.first_timestamp, h.max_timestamp), (EPOCH + 100, EPOCH + 1_000));
        let set = RecordBatchDecoder::decode(&mut bytes.freeze()).unwrap();
        let r = &set.records[3];
        assert_eq!((r.offset, r.timestamp), (103, EPOCH + 400));
        assert_eq!(r.key.as_deref(), Some(&b"103"[..]));
        assert_eq!(r.value.as_deref(), Some(&b"t/1/103"[..]));
        assert!(!r.transactional);
    }

    #[test]
    fn log_append_time_and_compression_keep_a_valid_crc() {
        let t = topic(", compression: gzip, timestamp_type: log_append, transactional: {lso_gap: 0}");
        let l = log(&t, 2_000);
        let bytes = l.encode_batch(102, 108).unwrap();
        let h = header(&bytes);
        assert_eq!(h.attributes & 0x07, 1, "gzip");
        assert_eq!(h.attributes & 0x08, 0x08, "log append time");
        assert_eq!(h.attributes & 0x10, 0x10, "transactional");
        assert_eq!(h.max_timestamp, EPOCH + 800, "append time = produce time of offset 107");
        // The decoder verifies the CRC.
        let set = RecordBatchDecoder::decode(&mut bytes.freeze()).unwrap();
        assert_eq!(set.compression, Compression::Gzip);
        assert_eq!(set.records.len(), 6);
        assert_eq!(set.records[0].timestamp_type, TimestampType::LogAppend);
        assert_eq!(set.records[0].producer_id, 1_000);
    }

    #[test]
    fn read_cuts_at_the_limit_but_never_inside_the_first_batch() {
        let t = topic("");
        let l = log(&t, 5_000);
        let first = l.encode_batch(30, 40).unwrap();
        let second = l.encode_batch(40, 50).unwrap();
        // Unlimited: from the batch containing 33 up to the high watermark, whole batches.
        let all = l.read(33, usize::MAX, true).unwrap();
        assert_eq!(&all[..first.len()], &first[..]);
        assert_eq!(RecordBatchDecoder::decode_all(&mut all.clone()).unwrap().len(), 12);
        // A limit inside the second batch: the first whole, then a prefix of the second.
        for cut in [BATCH_HEADER_LEN, BATCH_HEADER_LEN + 7, second.len() - 1] {
            let got = l.read(33, first.len() + cut, false).unwrap();
            assert_eq!(got.len(), first.len() + cut);
            let prefix = &got[first.len()..];
            assert_eq!(prefix, &second[..cut]);
            let h = header(prefix);
            assert_eq!((h.base_offset, h.magic, h.last_offset_delta), (40, 2, 9));
            assert_eq!(h.batch_length as usize, second.len() - 12);
            assert_eq!(h.attributes, 0);
            assert_eq!((h.first_timestamp, h.max_timestamp), (l.timestamp(40), l.timestamp(49)));
        }
        // A limit below the first batch: whole first batch for the first partition, else none.
        assert_eq!(l.read(33, 10, true).unwrap(), first.clone().freeze());
        assert!(l.read(33, 10, false).unwrap().is_empty());
        assert_eq!(l.read(33, first.len(), false).unwrap(), first.freeze());
        // At the end of the log: nothing.
        assert!(l.read(l.end, usize::MAX, true).unwrap().is_empty());
    }

    #[test]
    fn commit_markers_end_every_run() {
        let t = topic(", batch_size: 5, transactional: {lso_gap: 0, markers: true}");
        let l = log(&t, 5_000);
        assert_eq!(l.end, 150);
        assert_eq!(l.batch_containing(101), (100, 104));
        assert_eq!(l.batch_containing(104), (104, 105));
        assert_eq!(l.batch_containing(6), (5, 9));
        assert!(l.is_marker(104) && l.is_marker(9) && !l.is_marker(100));
        let bytes = l.read(101, usize::MAX, true).unwrap();
        let sets = RecordBatchDecoder::decode_all(&mut bytes.clone()).unwrap();
        assert_eq!(sets.len(), 20, "a data and a marker batch per run of 5");
        let data = &sets[0].records;
        assert_eq!(data.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![100, 101, 102, 103]);
        assert!(data.iter().all(|r| r.transactional && !r.control));
        let marker = &sets[1].records;
        assert_eq!(marker.len(), 1);
        assert_eq!((marker[0].offset, marker[0].control, marker[0].transactional), (104, true, true));
        assert_eq!(marker[0].key.as_deref(), Some(COMMIT_KEY));
        // Runs cut by the end of the log: data up to the end, no marker yet.
        let l = PartitionLog { end: 147, ..l };
        assert_eq!(l.batch_containing(146), (145, 147));
    }

    #[test]
    fn crc32c_matches_the_reference_vector() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }
}
