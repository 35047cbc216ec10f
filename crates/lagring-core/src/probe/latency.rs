//! The end-to-end latency histogram (receive − produce time), in the
//! Prometheus layout: fixed upper bounds in seconds, cumulative when emitted.

use serde::{Deserialize, Serialize};

/// Upper bounds (seconds) of the latency buckets; `+Inf` follows.
pub const LATENCY_BOUNDS_SECONDS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// Latency observations since the probe's state began.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyHistogram {
    /// Per bucket (not cumulative), the last one `+Inf`.
    counts: Vec<u64>,
    sum_seconds: f64,
    count: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self { counts: vec![0; LATENCY_BOUNDS_SECONDS.len() + 1], sum_seconds: 0.0, count: 0 }
    }
}

impl LatencyHistogram {
    /// Records one latency; negative ones (producer clock ahead) count as 0.
    pub fn observe(&mut self, seconds: f64) {
        let seconds = if seconds.is_finite() { seconds.max(0.0) } else { 0.0 };
        let index = LATENCY_BOUNDS_SECONDS.iter().position(|b| seconds <= *b).unwrap_or(LATENCY_BOUNDS_SECONDS.len());
        if self.counts.len() != LATENCY_BOUNDS_SECONDS.len() + 1 {
            // A state written with other bounds: start over rather than mislabel.
            *self = Self::default();
        }
        if let Some(c) = self.counts.get_mut(index) {
            *c = c.saturating_add(1);
        }
        self.sum_seconds += seconds;
        self.count = self.count.saturating_add(1);
    }

    /// `(upper bound, cumulative count)` per bucket, `+Inf` last.
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut running = 0u64;
        LATENCY_BOUNDS_SECONDS
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(self.counts.iter().copied().chain(std::iter::repeat(0)))
            .map(|(bound, c)| {
                running = running.saturating_add(c);
                (bound, running)
            })
            .collect()
    }

    pub fn sum_seconds(&self) -> f64 {
        self.sum_seconds
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Adds another histogram's observations (per-partition ones into a cluster's).
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine = mine.saturating_add(*theirs);
        }
        self.sum_seconds += other.sum_seconds;
        self.count = self.count.saturating_add(other.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_with_inf_last() {
        let mut h = LatencyHistogram::default();
        for s in [0.001, 0.02, 0.02, 3.0, 120.0, -1.0] {
            h.observe(s);
        }
        let c = h.cumulative();
        assert_eq!(c.first(), Some(&(0.005, 2)));
        assert_eq!(c.get(2), Some(&(0.025, 4)));
        assert_eq!(c.get(9), Some(&(5.0, 5)));
        assert_eq!(c.last(), Some(&(f64::INFINITY, 6)));
        assert_eq!(h.count(), 6);
        assert!((h.sum_seconds() - 123.041).abs() < 1e-9);
    }

    #[test]
    fn merge_adds_every_bucket() {
        let mut a = LatencyHistogram::default();
        a.observe(0.001);
        let mut b = LatencyHistogram::default();
        b.observe(0.2);
        b.observe(0.001);
        a.merge(&b);
        assert_eq!(a.cumulative().first(), Some(&(0.005, 2)));
        assert_eq!(a.cumulative().last(), Some(&(f64::INFINITY, 3)));
        assert_eq!(a.count(), 3);
    }
}
