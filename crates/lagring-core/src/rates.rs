//! Produce and consume rates, and how long a group needs to catch up.
//!
//! Both rates come from an [`OffsetHistory`] with one rule: records per second
//! over the last `window_ms` of the history, `(newest.offset − offset at
//! (newest.at − window)) / window`, where the offset at the window start is
//! interpolated (exact at a point and inside a flat run). A history shorter
//! than the window gives the rate over its whole span. The produce rate of a
//! partition reads its end-offset history, the consume rate of a group on a
//! partition reads the group's committed-offset history; since a history
//! restarts when its offset goes down, rates are never negative.
//!
//! Catch-up ETA = lag / (consume − produce): the time to reach the end offset
//! if both rates hold. It exists only while that is finite and positive: a
//! caught-up group, or one not consuming faster than the producer, has none
//! (rather than 0 or infinity, which would read as "done" or break sums).

use crate::history::OffsetHistory;

/// Default window of [`rate_per_second`]: five minutes, ten observations at
/// the default 30 s interval, long enough to smooth commit batching and short
/// enough to follow a change within minutes.
pub const DEFAULT_RATE_WINDOW_MS: i64 = 300_000;

/// Records per second over the last `window_ms` of `history`; `None` with
/// fewer than two points.
pub fn rate_per_second(history: &OffsetHistory, window_ms: i64) -> Option<f64> {
    let first = history.points().first()?;
    let last = history.last()?;
    let start_ms = last.at_ms.saturating_sub(window_ms.max(1)).max(first.at_ms);
    let span_ms = last.at_ms - start_ms;
    if span_ms <= 0 {
        return None;
    }
    let start_offset = history.offset_at(start_ms)?;
    let rate = (last.offset as f64 - start_offset) * 1000.0 / span_ms as f64;
    (rate.is_finite() && rate >= 0.0).then_some(rate)
}

/// Seconds until a partition `lag` records behind catches up at these rates
/// (records per second), while finite and positive.
pub fn catch_up_eta_seconds(lag: i64, consume_per_s: f64, produce_per_s: f64) -> Option<f64> {
    let gain = consume_per_s - produce_per_s;
    let eta = lag as f64 / gain;
    (lag > 0 && gain > 0.0 && eta.is_finite()).then_some(eta)
}

/// One partition of a group, for [`group_catch_up_eta_seconds`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PartitionProgress {
    /// Offset lag.
    pub lag: i64,
    /// Consume rate of the group on the partition, records per second.
    pub consume_per_s: Option<f64>,
    /// Produce rate of the partition, records per second.
    pub produce_per_s: Option<f64>,
}

/// Catch-up ETA of a whole group: `Σ lag / (Σ consume − Σ produce)` over its
/// partitions. `None` unless every partition with lag has both rates (a
/// partition without them could hold all the lag) and the result is finite
/// and positive. Partitions without lag but without rates are left out: they
/// add nothing to the lag and, caught up, consume as fast as they produce.
pub fn group_catch_up_eta_seconds(partitions: impl IntoIterator<Item = PartitionProgress>) -> Option<f64> {
    let (mut lag, mut consume, mut produce) = (0i64, 0.0f64, 0.0f64);
    for p in partitions {
        match (p.consume_per_s, p.produce_per_s) {
            (Some(c), Some(r)) => {
                lag = lag.saturating_add(p.lag.max(0));
                consume += c;
                produce += r;
            }
            _ if p.lag > 0 => return None,
            _ => {}
        }
    }
    catch_up_eta_seconds(lag, consume, produce)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{HistoryPolicy, OffsetPoint};

    fn history(points: &[(i64, i64)]) -> OffsetHistory {
        let mut h = OffsetHistory::new();
        for &(o, t) in points {
            h.append(OffsetPoint::new(o, t), &HistoryPolicy::END_DEFAULT);
        }
        h
    }

    #[test]
    fn rate_over_the_window_interpolates_its_start() {
        // 10 records/s for 60 s, then idle for 60 s.
        let h = history(&[(0, 0), (600, 60_000), (600, 90_000), (600, 120_000)]);
        assert_eq!(rate_per_second(&h, 120_000), Some(5.0));
        assert_eq!(rate_per_second(&h, 60_000), Some(0.0));
        // Window start inside the producing span: 300 records in 90 s.
        assert_eq!(rate_per_second(&h, 90_000), Some(300.0 / 90.0));
        // Window longer than the history: the whole span.
        assert_eq!(rate_per_second(&h, 10_000_000), Some(5.0));
    }

    #[test]
    fn rate_needs_two_points() {
        assert_eq!(rate_per_second(&OffsetHistory::new(), 60_000), None);
        assert_eq!(rate_per_second(&history(&[(5, 1_000)]), 60_000), None);
    }

    #[test]
    fn rate_after_a_reset_uses_only_the_new_history() {
        let h = history(&[(1_000, 0), (2_000, 10_000), (0, 20_000), (100, 30_000)]);
        assert_eq!(rate_per_second(&h, 60_000), Some(10.0));
    }

    #[test]
    fn eta_only_while_finite_and_positive() {
        assert_eq!(catch_up_eta_seconds(1_000, 30.0, 20.0), Some(100.0));
        assert_eq!(catch_up_eta_seconds(0, 30.0, 20.0), None);
        assert_eq!(catch_up_eta_seconds(1_000, 20.0, 20.0), None);
        assert_eq!(catch_up_eta_seconds(1_000, 10.0, 20.0), None);
        assert_eq!(catch_up_eta_seconds(1_000, f64::NAN, 20.0), None);
    }

    #[test]
    fn group_eta_sums_and_needs_rates_where_there_is_lag() {
        let p = |lag, c, r| PartitionProgress { lag, consume_per_s: c, produce_per_s: r };
        let parts = [p(600, Some(10.0), Some(5.0)), p(400, Some(10.0), Some(5.0)), p(0, None, None)];
        assert_eq!(group_catch_up_eta_seconds(parts), Some(100.0));
        let parts = [p(600, Some(10.0), Some(5.0)), p(1, None, Some(5.0))];
        assert_eq!(group_catch_up_eta_seconds(parts), None);
        assert_eq!(group_catch_up_eta_seconds([]), None);
    }
}
