//! Time lag: how old the oldest message a group has not consumed is,
//! estimated from the partition's end-offset history.
//!
//! Time lag = `now − t(c)`, where `t(c)` is the produce time of the record at
//! the committed offset `c` (the next record the group will read). A history
//! point `(offset, at)` says that at `at` the end offset (the next offset to be
//! written) was `offset`, so record `c` was written in `(prev.at, next.at]`,
//! where `next` is the first point with `offset > c` (the earliest time the
//! end was seen beyond `c`) and `prev` the point before it. Inside that span
//! production is taken as linear: `t(c)` is when the end reached `c + 1`:
//!
//! ```text
//! t(c) = prev.at + (c + 1 − prev.offset) / (next.offset − prev.offset) · (next.at − prev.at)
//! ```
//!
//! This is exact when production is linear between points, it is 0 when the
//! group is caught up, it never decreases as `c` falls behind, and with an
//! idle producer it grows with wall time: the unread records were written
//! before the idle stretch began, so their age keeps growing.
//!
//! The current observation `(end, now)` counts as the newest point when it is
//! newer than the history (its append was ignored because another node wrote
//! the slot first, or the caller estimates before appending).
//!
//! When `c` is older than the oldest point, `t(c)` is **extrapolated** back
//! from the oldest point at the rate of the oldest span that saw production
//! (oldest point to the first point with a higher offset, including any idle
//! stretch between them), and never put later than the oldest point itself:
//! the value is at least `now − oldest.at`. With no production in the whole
//! history that lower bound is the value. Extrapolated values are reported
//! as such so callers count them. A history with a single point cannot
//! place `c` at all: [`TimeLag::NoData`].
//!
//! Results are never NaN, ±Inf or negative.

use crate::history::{OffsetHistory, OffsetPoint};
use crate::model::Offset;

/// Time lag of one group on one partition.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TimeLag {
    /// Committed offset at or past the end offset: 0 seconds.
    CaughtUp,
    /// Seconds, placed inside the history.
    Interpolated(f64),
    /// Seconds, extrapolated past the oldest point (see module docs).
    Extrapolated(f64),
    /// Too little history to place the committed offset: no sample.
    NoData,
    /// Seconds, from the produce time of the record at the committed offset
    /// (read from the log, `time_lag.method: exact`).
    Exact(f64),
}

impl TimeLag {
    /// The value to emit, if any: finite and non-negative.
    pub fn seconds(&self) -> Option<f64> {
        match *self {
            Self::CaughtUp => Some(0.0),
            Self::Interpolated(s) | Self::Extrapolated(s) | Self::Exact(s) => Some(s),
            Self::NoData => None,
        }
    }

    pub fn is_extrapolated(&self) -> bool {
        matches!(self, Self::Extrapolated(_))
    }
}

/// Exact time lag at `now_ms` of a committed offset whose record was
/// produced at `produce_ms` (Unix ms): never negative (a producer clock ahead
/// of ours gives 0), never NaN.
pub fn from_produce_time(now_ms: i64, produce_ms: i64) -> TimeLag {
    TimeLag::Exact(now_ms.saturating_sub(produce_ms).max(0) as f64 / 1000.0)
}

/// Time lag of committed offset `committed` at `now_ms`, when the end offset
/// fetched for `now_ms` is `end` and `history` is the partition's end-offset
/// history (normally already holding `(end, now_ms)`).
pub fn estimate(committed: Offset, end: Offset, now_ms: i64, history: &OffsetHistory) -> TimeLag {
    if committed >= end {
        return TimeLag::CaughtUp;
    }
    let points = history.points();
    let current = OffsetPoint::new(end, now_ms);
    let current_is_newer = points.last().is_none_or(|last| end > last.offset && now_ms >= last.at_ms);
    let extra = current_is_newer.then_some(current);
    let point = |i: usize| points.get(i).copied().or(if i == points.len() { extra } else { None });

    let next_idx = points.partition_point(|p| p.offset <= committed);
    let Some(next) = point(next_idx) else { return TimeLag::NoData };
    match next_idx.checked_sub(1).and_then(point) {
        Some(prev) => {
            let produced_ms = interpolate(committed, prev, next);
            seconds(now_ms as f64 - produced_ms, 0.0).map_or(TimeLag::NoData, TimeLag::Interpolated)
        }
        None => extrapolate(committed, now_ms, next, point),
    }
}

/// `t(c)` inside `(prev.at, next.at]`, for `prev.offset ≤ c < next.offset`.
fn interpolate(committed: Offset, prev: OffsetPoint, next: OffsetPoint) -> f64 {
    let written = (committed - prev.offset + 1) as f64;
    let span_records = (next.offset - prev.offset) as f64;
    let span_ms = (next.at_ms - prev.at_ms) as f64;
    prev.at_ms as f64 + span_ms * written / span_records
}

/// `t(c)` for `c` below the oldest point `oldest`; `point(i)` reads the
/// history including the current observation.
fn extrapolate(
    committed: Offset,
    now_ms: i64,
    oldest: OffsetPoint,
    point: impl Fn(usize) -> Option<OffsetPoint>,
) -> TimeLag {
    let at_least_ms = (now_ms - oldest.at_ms) as f64;
    let Some(second) = point(1) else { return TimeLag::NoData };
    let rising = (1..).map_while(&point).find(|p| p.offset > oldest.offset).unwrap_or(second);
    let records = (rising.offset - oldest.offset) as f64;
    let span_ms = (rising.at_ms - oldest.at_ms) as f64;
    let produced_ms = if records > 0.0 && span_ms > 0.0 {
        let before = (oldest.offset - committed - 1) as f64;
        oldest.at_ms as f64 - before * span_ms / records
    } else {
        oldest.at_ms as f64
    };
    seconds(now_ms as f64 - produced_ms, at_least_ms).map_or(TimeLag::NoData, TimeLag::Extrapolated)
}

/// Milliseconds of lag as seconds, at least `floor_ms` and 0; `None` unless finite.
fn seconds(lag_ms: f64, floor_ms: f64) -> Option<f64> {
    let s = lag_ms.max(floor_ms).max(0.0) / 1000.0;
    s.is_finite().then_some(s)
}

#[cfg(test)]
mod tests;
