//! Byte layout of one offset history in Redis, shared with the Lua script.
//!
//! ```text
//! 0x01 | points...                      no reset recorded
//! 0x02 | from_offset | at_ms | points... last reset
//! point = offset | at_ms                 each a big-endian i64, 16 bytes a point
//! ```
//!
//! Fixed-width points let the script read the newest two points and the
//! oldest ones by position, and hand the stored string back as is: the
//! script never builds a Lua table per point. Lua compares numbers as
//! doubles, exact up to 2^53 (offsets and Unix milliseconds stay far below);
//! the bytes themselves are written by Rust and copied, never re-encoded.

use lagring_core::history::{HistoryReset, OffsetHistory, OffsetPoint};

/// Tag of a history without a reset record.
const PLAIN: u8 = 1;
/// Tag of a history with a reset record.
const WITH_RESET: u8 = 2;
/// Bytes of one point.
pub(crate) const POINT_BYTES: usize = 16;

/// Why stored bytes are not a history.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("empty value")]
    Empty,
    #[error("unknown format tag {0}")]
    UnknownTag(u8),
    #[error("{0} bytes of points is not a whole number of points")]
    Truncated(usize),
    #[error("points out of order: {0}")]
    Invalid(#[from] lagring_core::history::InvalidHistory),
}

/// Big-endian bytes of `v`, the form the script compares and stores.
pub(crate) fn pack(v: i64) -> [u8; 8] {
    v.to_be_bytes()
}

/// Parses a stored history.
pub(crate) fn decode(bytes: &[u8]) -> Result<OffsetHistory, DecodeError> {
    let (&tag, rest) = bytes.split_first().ok_or(DecodeError::Empty)?;
    let (last_reset, points) = match tag {
        PLAIN => (None, rest),
        WITH_RESET => {
            let (reset, points) = rest.split_at_checked(POINT_BYTES).ok_or(DecodeError::Truncated(rest.len()))?;
            let (from_offset, at_ms) = read_pair(reset);
            (Some(HistoryReset { from_offset, at_ms }), points)
        }
        other => return Err(DecodeError::UnknownTag(other)),
    };
    let (chunks, tail) = points.as_chunks::<POINT_BYTES>();
    if !tail.is_empty() {
        return Err(DecodeError::Truncated(points.len()));
    }
    let points = chunks.iter().map(|c| read_pair(c)).map(|(offset, at_ms)| OffsetPoint { offset, at_ms }).collect();
    Ok(OffsetHistory::from_parts(points, last_reset)?)
}

/// Encodes a history as the script stores it.
#[cfg(test)]
pub(crate) fn encode(history: &OffsetHistory) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + POINT_BYTES * (history.len() + 1));
    match history.last_reset() {
        None => out.push(PLAIN),
        Some(r) => {
            out.push(WITH_RESET);
            out.extend(pack(r.from_offset));
            out.extend(pack(r.at_ms));
        }
    }
    for p in history.points() {
        out.extend(pack(p.offset));
        out.extend(pack(p.at_ms));
    }
    out
}

/// Two big-endian i64 from the first 16 bytes (zeros where bytes are missing).
fn read_pair(bytes: &[u8]) -> (i64, i64) {
    let word = |range: std::ops::Range<usize>| {
        let mut b = [0u8; 8];
        if let Some(src) = bytes.get(range) {
            b.copy_from_slice(src);
        }
        i64::from_be_bytes(b)
    };
    (word(0..8), word(8..16))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lagring_core::history::HistoryPolicy;

    #[test]
    fn round_trips_with_and_without_reset() {
        let policy = HistoryPolicy::END_DEFAULT;
        let mut h = OffsetHistory::new();
        h.append(OffsetPoint::new(-5, 1_700_000_000_000), &policy);
        h.append(OffsetPoint::new(i64::MAX >> 11, 1_700_000_030_000), &policy);
        let bytes = encode(&h);
        assert_eq!(bytes.len(), 1 + 2 * POINT_BYTES);
        assert_eq!(decode(&bytes), Ok(h.clone()));
        h.append(OffsetPoint::new(3, 1_700_000_060_000), &policy);
        let bytes = encode(&h);
        assert_eq!(bytes.first(), Some(&WITH_RESET));
        assert_eq!(decode(&bytes), Ok(h));
    }

    #[test]
    fn rejects_what_is_not_a_history() {
        assert_eq!(decode(&[]), Err(DecodeError::Empty));
        assert_eq!(decode(&[9]), Err(DecodeError::UnknownTag(9)));
        assert_eq!(decode(&[PLAIN, 0, 0]), Err(DecodeError::Truncated(2)));
        assert_eq!(decode(&[WITH_RESET, 0]), Err(DecodeError::Truncated(1)));
        let mut two = vec![PLAIN];
        for (o, t) in [(2, 10), (1, 20)] {
            two.extend(pack(o));
            two.extend(pack(t));
        }
        assert!(matches!(decode(&two), Err(DecodeError::Invalid(_))));
    }
}
