//! The body of a probe record: a magic prefix, the partition's sequence
//! number and the produce time, padded to the configured size. Binary and
//! fixed-layout so decoding a foreign or truncated record is a cheap,
//! bounded `None`, never a panic.

/// Identifies a probe record (and its layout version).
pub const MAGIC: &[u8; 6] = b"LGPRB1";

/// Bytes before the padding: magic, sequence (u64 BE), produce time (i64 BE, ms).
pub const HEADER_LEN: usize = MAGIC.len() + 8 + 8;

/// What one probe record carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbePayload {
    /// Sequence number within the record's partition.
    pub seq: u64,
    /// When the producer sent it, milliseconds since the Unix epoch.
    pub produced_ms: i64,
}

/// Encodes `payload`, padded with `.` to `size` bytes (never shorter than the header).
pub fn encode_payload(payload: ProbePayload, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size.max(HEADER_LEN));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&payload.seq.to_be_bytes());
    out.extend_from_slice(&payload.produced_ms.to_be_bytes());
    out.resize(size.max(HEADER_LEN), b'.');
    out
}

/// Decodes a record body; `None` when it is not a probe record.
pub fn decode_payload(bytes: &[u8]) -> Option<ProbePayload> {
    let rest = bytes.strip_prefix(MAGIC.as_slice())?;
    let seq = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
    let produced_ms = i64::from_be_bytes(rest.get(8..16)?.try_into().ok()?);
    Some(ProbePayload { seq, produced_ms })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn round_trips_and_pads_to_the_size() {
        let p = ProbePayload { seq: 42, produced_ms: 1_700_000_000_123 };
        let bytes = encode_payload(p, 300);
        assert_eq!(bytes.len(), 300);
        assert_eq!(decode_payload(&bytes), Some(p));
        assert_eq!(encode_payload(p, 0).len(), HEADER_LEN);
    }

    #[test]
    fn foreign_and_truncated_records_are_not_probe_records() {
        assert_eq!(decode_payload(b""), None);
        assert_eq!(decode_payload(b"hello world, not a probe record"), None);
        let bytes = encode_payload(ProbePayload { seq: 1, produced_ms: 2 }, 100);
        assert_eq!(decode_payload(&bytes[..HEADER_LEN - 1]), None);
    }

    proptest! {
        #[test]
        fn any_bytes_decode_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_payload(&bytes);
        }

        #[test]
        fn any_payload_round_trips(seq in any::<u64>(), ms in any::<i64>(), size in 0usize..512) {
            let p = ProbePayload { seq, produced_ms: ms };
            prop_assert_eq!(decode_payload(&encode_payload(p, size)), Some(p));
        }
    }
}
