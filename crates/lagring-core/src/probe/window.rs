//! Rolling counts over the availability window (60 s by default): the
//! window is cut into a fixed number of buckets keyed by their wall-clock
//! start, so the sum over the window is exact to one bucket and the state is
//! small enough to persist for the next owner.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Buckets per window: the window's sum moves in steps of window / 12.
pub const BUCKETS_PER_WINDOW: u64 = 12;

/// What happened in one bucket (or a whole window) of one partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowCounts {
    pub produced: u64,
    pub produce_errors: u64,
    pub consumed: u64,
    pub lost: u64,
    pub delayed: u64,
}

impl WindowCounts {
    fn add(&mut self, other: &WindowCounts) {
        self.produced = self.produced.saturating_add(other.produced);
        self.produce_errors = self.produce_errors.saturating_add(other.produce_errors);
        self.consumed = self.consumed.saturating_add(other.consumed);
        self.lost = self.lost.saturating_add(other.lost);
        self.delayed = self.delayed.saturating_add(other.delayed);
    }

    /// produced / (produced + errors); `None` when nothing was attempted.
    pub fn produce_availability(&self) -> Option<f64> {
        let attempted = self.produced.saturating_add(self.produce_errors);
        (attempted > 0).then(|| self.produced as f64 / attempted as f64)
    }

    /// (consumed − delayed) / (consumed + lost); `None` when nothing was
    /// consumed or lost. Duplicates are consumed records too, so they count.
    pub fn consume_availability(&self) -> Option<f64> {
        let expected = self.consumed.saturating_add(self.lost);
        let on_time = self.consumed.saturating_sub(self.delayed);
        (expected > 0).then(|| on_time as f64 / expected as f64)
    }
}

/// Counts of the last `window_ms`, by bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollingWindow {
    window_ms: u64,
    /// `(bucket start ms, counts)`, oldest first, at most [`BUCKETS_PER_WINDOW`] + 1.
    buckets: VecDeque<(i64, WindowCounts)>,
}

impl RollingWindow {
    /// An empty window of `window_ms` (at least one bucket of 1 ms).
    pub fn new(window_ms: u64) -> Self {
        Self { window_ms: window_ms.max(BUCKETS_PER_WINDOW), buckets: VecDeque::new() }
    }

    fn bucket_ms(&self) -> i64 {
        i64::try_from(self.window_ms / BUCKETS_PER_WINDOW).unwrap_or(i64::MAX).max(1)
    }

    /// Adds `counts` at `now_ms`.
    pub fn add(&mut self, now_ms: i64, counts: &WindowCounts) {
        let bucket_ms = self.bucket_ms();
        let start = now_ms - now_ms.rem_euclid(bucket_ms);
        self.expire(now_ms);
        match self.buckets.iter_mut().rev().find(|(s, _)| *s == start) {
            Some((_, c)) => c.add(counts),
            None => {
                // A sample older than the newest bucket (clock step back) joins the newest.
                match self.buckets.back_mut() {
                    Some((s, c)) if *s > start => c.add(counts),
                    _ => self.buckets.push_back((start, *counts)),
                }
            }
        }
    }

    /// The sum over the buckets that started within the last window.
    pub fn sum(&self, now_ms: i64) -> WindowCounts {
        let oldest = self.oldest_kept(now_ms);
        let mut total = WindowCounts::default();
        for (_, c) in self.buckets.iter().filter(|(s, _)| *s > oldest) {
            total.add(c);
        }
        total
    }

    fn oldest_kept(&self, now_ms: i64) -> i64 {
        now_ms.saturating_sub(i64::try_from(self.window_ms).unwrap_or(i64::MAX))
    }

    fn expire(&mut self, now_ms: i64) {
        let oldest = self.oldest_kept(now_ms);
        while self.buckets.front().is_some_and(|(s, _)| *s <= oldest) {
            self.buckets.pop_front();
        }
        let max = usize::try_from(BUCKETS_PER_WINDOW + 1).unwrap_or(usize::MAX);
        while self.buckets.len() > max {
            self.buckets.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn produced(n: u64) -> WindowCounts {
        WindowCounts { produced: n, ..WindowCounts::default() }
    }

    #[test]
    fn sums_the_last_window_only() {
        let mut w = RollingWindow::new(60_000);
        w.add(0, &produced(1));
        w.add(30_000, &produced(2));
        assert_eq!(w.sum(30_000).produced, 3);
        assert_eq!(w.sum(59_999).produced, 3);
        // The bucket starting at 0 leaves the window once 60 s have passed.
        assert_eq!(w.sum(60_000).produced, 2);
        w.add(95_000, &produced(4));
        assert_eq!(w.sum(95_000).produced, 4);
    }

    #[test]
    fn availability_by_the_issue_s_formulas() {
        let c = WindowCounts { produced: 9, produce_errors: 1, consumed: 8, lost: 2, delayed: 1 };
        assert_eq!(c.produce_availability(), Some(0.9));
        assert_eq!(c.consume_availability(), Some(0.7));
        assert_eq!(WindowCounts::default().produce_availability(), None);
        assert_eq!(WindowCounts::default().consume_availability(), None);
    }

    proptest! {
        #[test]
        fn the_window_holds_a_bounded_number_of_buckets(times in proptest::collection::vec(0i64..10_000_000, 1..200)) {
            let mut w = RollingWindow::new(60_000);
            let mut sorted = times.clone();
            sorted.sort_unstable();
            for t in &sorted {
                w.add(*t, &produced(1));
                prop_assert!(w.buckets.len() as u64 <= BUCKETS_PER_WINDOW + 1);
            }
            let last = *sorted.last().unwrap();
            let expected = sorted.iter().filter(|t| **t - **t % 5_000 > last - 60_000).count() as u64;
            prop_assert_eq!(w.sum(last).produced, expected);
        }
    }
}
