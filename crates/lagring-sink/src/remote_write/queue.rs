//! The bounded FIFO of points waiting to be sent.
//!
//! It rides out a receiver outage: points keep arriving while the worker
//! retries. It is bounded in points (samples) and in estimated bytes; when a
//! push would exceed either bound the **oldest** points are dropped, because
//! fresh lag matters more than old lag, and the caller is told how many so the
//! loss is counted, never silent. Pure data structure: no locking, no IO.

use std::collections::VecDeque;

use super::request_builder::Point;

/// What a push had to drop to stay within bounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    pub samples: usize,
    pub bytes: usize,
}

/// A FIFO of points bounded by count and by estimated bytes.
#[derive(Debug)]
pub struct PendingQueue {
    points: VecDeque<(Point, usize)>,
    bytes: usize,
    max_samples: usize,
    max_bytes: usize,
}

impl PendingQueue {
    /// An empty queue holding at most `max_samples` points and `max_bytes`
    /// estimated bytes.
    pub fn new(max_samples: usize, max_bytes: usize) -> Self {
        Self { points: VecDeque::new(), bytes: 0, max_samples, max_bytes }
    }

    /// Appends points in order, then drops the oldest until both bounds hold.
    pub fn push(&mut self, points: impl IntoIterator<Item = Point>) -> Dropped {
        for point in points {
            let size = point.estimated_bytes();
            self.bytes += size;
            self.points.push_back((point, size));
        }
        let mut dropped = Dropped::default();
        while self.points.len() > self.max_samples || self.bytes > self.max_bytes {
            let Some((_, size)) = self.points.pop_front() else { break };
            self.bytes -= size;
            dropped.samples += 1;
            dropped.bytes += size;
        }
        dropped
    }

    /// Removes and returns up to `max` of the oldest points, in order.
    pub fn take(&mut self, max: usize) -> Vec<Point> {
        let n = max.min(self.points.len());
        let taken: Vec<Point> = self
            .points
            .drain(..n)
            .map(|(p, size)| {
                self.bytes -= size;
                p
            })
            .collect();
        taken
    }

    /// Removes everything, returning how many points and bytes were held.
    pub fn clear(&mut self) -> Dropped {
        let dropped = Dropped { samples: self.points.len(), bytes: self.bytes };
        self.points.clear();
        self.bytes = 0;
        dropped
    }

    /// Points waiting.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Estimated bytes waiting.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use lagring_core::series::SeriesKey;

    use super::*;

    fn point(ts: i64) -> Point {
        Point { key: SeriesKey::new("m", vec![(Arc::from("g"), Arc::from("x"))]), timestamp_ms: ts, value: 0.0 }
    }

    fn timestamps(points: &[Point]) -> Vec<i64> {
        points.iter().map(|p| p.timestamp_ms).collect()
    }

    #[test]
    fn fifo_order_and_partial_take() {
        let mut q = PendingQueue::new(10, usize::MAX);
        assert_eq!(q.push((0..4).map(point)), Dropped::default());
        assert_eq!(timestamps(&q.take(3)), vec![0, 1, 2]);
        assert_eq!(timestamps(&q.take(3)), vec![3]);
        assert!(q.is_empty());
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn sample_bound_drops_exactly_the_oldest_overflow() {
        let size = point(0).estimated_bytes();
        let mut q = PendingQueue::new(5, usize::MAX);
        assert_eq!(q.push((0..4).map(point)).samples, 0);
        let dropped = q.push((4..8).map(point));
        assert_eq!(dropped, Dropped { samples: 3, bytes: 3 * size });
        assert_eq!(q.len(), 5);
        assert_eq!(q.bytes(), 5 * size);
        assert_eq!(timestamps(&q.take(10)), vec![3, 4, 5, 6, 7]);
    }

    #[test]
    fn byte_bound_drops_the_oldest() {
        let size = point(0).estimated_bytes();
        let mut q = PendingQueue::new(usize::MAX, 3 * size + size / 2);
        let dropped = q.push((0..5).map(point));
        assert_eq!(dropped.samples, 2);
        assert_eq!(q.len(), 3);
        assert!(q.bytes() <= 3 * size + size / 2);
        assert_eq!(timestamps(&q.take(10)), vec![2, 3, 4]);
    }

    #[test]
    fn a_push_larger_than_the_bound_keeps_the_newest() {
        let mut q = PendingQueue::new(2, usize::MAX);
        assert_eq!(q.push((0..6).map(point)).samples, 4);
        assert_eq!(timestamps(&q.take(10)), vec![4, 5]);
    }

    #[test]
    fn clear_reports_what_was_held() {
        let size = point(0).estimated_bytes();
        let mut q = PendingQueue::new(10, usize::MAX);
        q.push((0..3).map(point));
        assert_eq!(q.clear(), Dropped { samples: 3, bytes: 3 * size });
        assert!(q.is_empty());
    }
}
