//! Offset history of one partition: the points `(offset, time)` that time lag,
//! rates and status are computed from.
//!
//! The same rules serve the end-offset history of a partition and the
//! committed-offset history of a group on a partition. They live here, as one
//! pure function ([`OffsetHistory::append`]), because two stores must apply
//! them identically: the in-memory store of single-node mode calls it, and the
//! Redis store runs a Lua port of it that a test compares against this code.
//!
//! Rules, in order, for a new point `n` (times are iteration slot starts):
//! 1. **Idempotent per slot**: `n.at_ms` not after the newest point → ignored.
//!    Two nodes that fetched the same partition in the same slot leave one
//!    point (the first one written wins); a late point never goes in out of order.
//! 2. **Reset** when `n.offset` is below the newest offset (topic deleted and
//!    recreated, log truncated, a consumer rewound): the history restarts as
//!    `[n]` and remembers the reset (offset it went down from, time), so
//!    callers can count resets and the status rules can see a rewind.
//! 3. **Flat runs** keep only their first and last point: when the two newest
//!    points and `n` have the same offset, `n` replaces the newest point. An
//!    idle period costs two points and stays exact (the offset was constant
//!    between them).
//! 4. **Age bound**: the oldest point is dropped while the next one is also at
//!    least `max_age_ms` older than `n`, so at most one point precedes the
//!    window and the history still covers the whole `max_age_ms`.
//! 5. **Count bound**: the oldest points are dropped beyond `max_points`.
//!
//! Invariants (checked by proptests): times strictly increase, offsets never
//! decrease, no run of three equal offsets.

use crate::model::Offset;

/// Offset of a partition at an iteration slot: an end offset (the next
/// offset to be written) or a group's committed offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OffsetPoint {
    pub offset: Offset,
    /// Slot start, milliseconds since the Unix epoch.
    pub at_ms: i64,
}

impl OffsetPoint {
    pub fn new(offset: Offset, at_ms: i64) -> Self {
        Self { offset, at_ms }
    }
}

/// The last time the offset went down and the history restarted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HistoryReset {
    /// Newest offset before the reset.
    pub from_offset: Offset,
    /// Time of the point that caused it (the first point after the reset).
    pub at_ms: i64,
}

/// What one [`OffsetHistory::append`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AppendOutcome {
    /// The point was added.
    Appended,
    /// The point extended a flat run: it replaced the run's newest point.
    Extended,
    /// The slot was already recorded (or is older than the newest point).
    Ignored,
    /// The offset went down: the history restarted with this point.
    Reset,
}

/// Bounds of a history. Construct with [`HistoryPolicy::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HistoryPolicy {
    max_points: usize,
    max_age_ms: i64,
}

/// A [`HistoryPolicy`] that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HistoryPolicyError {
    #[error("max_points must be at least 2 (a flat run needs two points), got {0}")]
    TooFewPoints(usize),
    #[error("max_age must be more than 0, got {0} ms")]
    NonPositiveAge(i64),
}

impl HistoryPolicy {
    /// End-offset history default: 120 points, one hour. At the default 30 s
    /// interval a partition with steady production fills exactly one hour
    /// (about 2 KB in Redis); idle stretches cost two points, so quiet
    /// partitions reach back further. An hour covers the consumers that
    /// matter for time lag at an interval's resolution; beyond that the
    /// estimate is extrapolated and counted.
    pub const END_DEFAULT: Self = Self { max_points: 120, max_age_ms: 3_600_000 };

    /// Committed-offset history default: 64 points, ten minutes. Ten minutes
    /// is the default status window ([`crate::status::StatusPolicy`]) and
    /// covers the default rate window; 64 points hold it at intervals down to
    /// 10 s.
    pub const COMMIT_DEFAULT: Self = Self { max_points: 64, max_age_ms: 600_000 };

    /// A policy keeping at most `max_points` (≥ 2) points reaching back
    /// `max_age_ms` (> 0) from the newest point.
    pub fn new(max_points: usize, max_age_ms: i64) -> Result<Self, HistoryPolicyError> {
        if max_points < 2 {
            return Err(HistoryPolicyError::TooFewPoints(max_points));
        }
        if max_age_ms <= 0 {
            return Err(HistoryPolicyError::NonPositiveAge(max_age_ms));
        }
        Ok(Self { max_points, max_age_ms })
    }

    pub fn max_points(&self) -> usize {
        self.max_points
    }

    pub fn max_age_ms(&self) -> i64 {
        self.max_age_ms
    }

    /// How long a stored history outlives its last append: twice the age
    /// bound, so a partition or group that is no longer observed is dropped,
    /// while one skipped for a few iterations (a failed fetch, a handoff)
    /// keeps its history.
    pub fn expiry_ms(&self) -> i64 {
        self.max_age_ms.saturating_mul(2)
    }
}

/// Why [`OffsetHistory::from_parts`] refused its input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidHistory {
    #[error("point {index} is not later than the one before it")]
    TimeNotIncreasing { index: usize },
    #[error("point {index} has a lower offset than the one before it")]
    OffsetDecreasing { index: usize },
}

/// Points of one partition, oldest first: times strictly increasing, offsets
/// never decreasing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OffsetHistory {
    points: Vec<OffsetPoint>,
    last_reset: Option<HistoryReset>,
}

impl OffsetHistory {
    pub fn new() -> Self {
        Self::default()
    }

    /// A history from stored parts (e.g. decoded from Redis), checking its
    /// ordering invariants.
    pub fn from_parts(points: Vec<OffsetPoint>, last_reset: Option<HistoryReset>) -> Result<Self, InvalidHistory> {
        for (index, pair) in points.windows(2).enumerate() {
            if let [a, b] = pair {
                if b.at_ms <= a.at_ms {
                    return Err(InvalidHistory::TimeNotIncreasing { index: index + 1 });
                }
                if b.offset < a.offset {
                    return Err(InvalidHistory::OffsetDecreasing { index: index + 1 });
                }
            }
        }
        Ok(Self { points, last_reset })
    }

    /// The points, oldest first.
    pub fn points(&self) -> &[OffsetPoint] {
        &self.points
    }

    /// The newest point.
    pub fn last(&self) -> Option<OffsetPoint> {
        self.points.last().copied()
    }

    /// The last reset, if the offset ever went down since the history began.
    pub fn last_reset(&self) -> Option<HistoryReset> {
        self.last_reset
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Applies the module's rules for `point`; see the module docs.
    pub fn append(&mut self, point: OffsetPoint, policy: &HistoryPolicy) -> AppendOutcome {
        let outcome = match self.points.as_slice() {
            [.., last] if point.at_ms <= last.at_ms => return AppendOutcome::Ignored,
            [.., last] if point.offset < last.offset => {
                self.last_reset = Some(HistoryReset { from_offset: last.offset, at_ms: point.at_ms });
                self.points.clear();
                self.points.push(point);
                AppendOutcome::Reset
            }
            [.., before, last] if before.offset == point.offset && last.offset == point.offset => {
                self.points.pop();
                self.points.push(point);
                AppendOutcome::Extended
            }
            _ => {
                self.points.push(point);
                AppendOutcome::Appended
            }
        };
        self.trim(point.at_ms, policy);
        outcome
    }

    fn trim(&mut self, newest_ms: i64, policy: &HistoryPolicy) {
        let cutoff = newest_ms.saturating_sub(policy.max_age_ms);
        let too_old = self.points.iter().skip(1).take_while(|p| p.at_ms <= cutoff).count();
        let too_many = self.points.len().saturating_sub(policy.max_points);
        let drop = too_old.max(too_many);
        if drop > 0 {
            self.points.drain(..drop);
        }
    }

    /// The offset at `at_ms`, linearly interpolated between the points around
    /// it: exact at a point and inside a flat run. The newest offset after the
    /// newest point; `None` before the oldest point.
    pub fn offset_at(&self, at_ms: i64) -> Option<f64> {
        let after = self.points.partition_point(|p| p.at_ms <= at_ms);
        let prev = self.points.get(after.checked_sub(1)?)?;
        let Some(next) = self.points.get(after) else { return Some(prev.offset as f64) };
        let span = (next.at_ms - prev.at_ms) as f64;
        let into = (at_ms - prev.at_ms) as f64;
        Some(prev.offset as f64 + (next.offset - prev.offset) as f64 * into / span)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(offset: i64, at_ms: i64) -> OffsetPoint {
        OffsetPoint::new(offset, at_ms)
    }

    fn build(points: &[(i64, i64)], policy: &HistoryPolicy) -> (OffsetHistory, Vec<AppendOutcome>) {
        let mut h = OffsetHistory::new();
        let outcomes = points.iter().map(|&(o, t)| h.append(p(o, t), policy)).collect();
        (h, outcomes)
    }

    fn offsets_and_times(h: &OffsetHistory) -> Vec<(i64, i64)> {
        h.points().iter().map(|p| (p.offset, p.at_ms)).collect()
    }

    const WIDE: HistoryPolicy = HistoryPolicy { max_points: 100, max_age_ms: 1_000_000 };

    #[test]
    fn same_slot_twice_is_one_point_and_older_slots_are_ignored() {
        use AppendOutcome::*;
        let (h, outcomes) = build(&[(10, 1_000), (12, 1_000), (20, 2_000), (15, 1_500), (18, 2_000)], &WIDE);
        assert_eq!(outcomes, [Appended, Ignored, Appended, Ignored, Ignored]);
        assert_eq!(offsets_and_times(&h), [(10, 1_000), (20, 2_000)]);
    }

    #[test]
    fn flat_runs_keep_their_first_and_last_point() {
        use AppendOutcome::*;
        let (h, outcomes) = build(&[(5, 0), (10, 1), (10, 2), (10, 3), (10, 4), (11, 5), (11, 6)], &WIDE);
        assert_eq!(outcomes, [Appended, Appended, Appended, Extended, Extended, Appended, Appended]);
        assert_eq!(offsets_and_times(&h), [(5, 0), (10, 1), (10, 4), (11, 5), (11, 6)]);
        // Inside the run the offset is exact.
        assert_eq!(h.offset_at(3), Some(10.0));
        assert_eq!(h.offset_at(0), Some(5.0));
        assert_eq!(h.offset_at(-1), None);
        assert_eq!(h.offset_at(100), Some(11.0));
    }

    #[test]
    fn offset_going_down_resets_and_is_remembered() {
        use AppendOutcome::*;
        let (h, outcomes) = build(&[(100, 1), (200, 2), (7, 3), (9, 4)], &WIDE);
        assert_eq!(outcomes, [Appended, Appended, Reset, Appended]);
        assert_eq!(offsets_and_times(&h), [(7, 3), (9, 4)]);
        assert_eq!(h.last_reset(), Some(HistoryReset { from_offset: 200, at_ms: 3 }));
    }

    #[test]
    fn age_bound_keeps_one_point_before_the_window() {
        let policy = HistoryPolicy::new(100, 10).unwrap();
        let (h, _) = build(&[(1, 0), (2, 5), (3, 9), (4, 15), (5, 19)], &policy);
        // Cutoff 19 - 10 = 9: the point at 9 anchors the window, 0 and 5 go.
        assert_eq!(offsets_and_times(&h), [(3, 9), (4, 15), (5, 19)]);
        // A long idle run keeps its first point however old it is.
        let (h, _) = build(&[(1, 0), (7, 3), (7, 50), (7, 100)], &policy);
        assert_eq!(offsets_and_times(&h), [(7, 3), (7, 100)]);
    }

    #[test]
    fn count_bound_drops_the_oldest() {
        let policy = HistoryPolicy::new(3, 1_000).unwrap();
        let (h, _) = build(&[(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)], &policy);
        assert_eq!(offsets_and_times(&h), [(3, 3), (4, 4), (5, 5)]);
    }

    #[test]
    fn policies_are_validated_and_defaults_hold() {
        assert_eq!(HistoryPolicy::new(1, 10), Err(HistoryPolicyError::TooFewPoints(1)));
        assert_eq!(HistoryPolicy::new(2, 0), Err(HistoryPolicyError::NonPositiveAge(0)));
        assert_eq!(HistoryPolicy::new(120, 3_600_000), Ok(HistoryPolicy::END_DEFAULT));
        assert_eq!(HistoryPolicy::new(64, 600_000), Ok(HistoryPolicy::COMMIT_DEFAULT));
        assert_eq!(HistoryPolicy::END_DEFAULT.expiry_ms(), 7_200_000);
    }

    #[test]
    fn from_parts_checks_order() {
        assert_eq!(
            OffsetHistory::from_parts(vec![p(1, 1), p(1, 1)], None),
            Err(InvalidHistory::TimeNotIncreasing { index: 1 })
        );
        assert_eq!(
            OffsetHistory::from_parts(vec![p(2, 1), p(1, 2)], None),
            Err(InvalidHistory::OffsetDecreasing { index: 1 })
        );
        let h = OffsetHistory::from_parts(vec![p(1, 1), p(3, 2)], None).unwrap();
        assert_eq!(h.offset_at(1), Some(1.0));
    }

    proptest! {
        #[test]
        fn appends_keep_the_invariants(
            steps in proptest::collection::vec((-3i64..4, -2i64..5), 1..200),
            max_points in 2usize..12,
            max_age in 1i64..40,
        ) {
            let policy = HistoryPolicy::new(max_points, max_age).unwrap();
            let mut h = OffsetHistory::new();
            let (mut offset, mut at) = (1_000i64, 0i64);
            for (d_offset, d_at) in steps {
                offset += d_offset;
                at += d_at;
                let before = h.clone();
                let outcome = h.append(p(offset, at), &policy);
                let pts = h.points();
                prop_assert!(pts.windows(2).all(|w| w[0].at_ms < w[1].at_ms), "{pts:?}");
                prop_assert!(pts.windows(2).all(|w| w[0].offset <= w[1].offset), "{pts:?}");
                prop_assert!(pts.windows(3).all(|w| !(w[0].offset == w[1].offset && w[1].offset == w[2].offset)));
                prop_assert!(pts.len() <= max_points);
                prop_assert!(pts.iter().skip(1).all(|q| q.at_ms > h.last().unwrap().at_ms - max_age));
                match outcome {
                    AppendOutcome::Ignored => prop_assert_eq!(&h, &before),
                    _ => prop_assert_eq!(h.last(), Some(p(offset, at))),
                }
                // Appending the same point again changes nothing.
                let again = h.clone();
                prop_assert_eq!(h.append(p(offset, at), &policy), AppendOutcome::Ignored);
                prop_assert_eq!(&h, &again);
            }
        }
    }
}
