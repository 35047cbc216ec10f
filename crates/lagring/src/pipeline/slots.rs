//! Iteration slots aligned to wall-clock multiples of the interval.
//!
//! Every node starts its iteration of a cluster at `k × interval` since the
//! Unix epoch and stamps every sample with that slot start. So the same group
//! gets the same timestamps whichever node emits it, and "at most one node
//! emits a series per slot" is something a test can check exactly. A slot
//! that is missed because the previous iteration overran is skipped, not
//! caught up.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Slot arithmetic over a fixed interval.
#[derive(Debug, Clone, Copy)]
pub struct Slots {
    interval_ms: u64,
}

impl Slots {
    pub fn new(interval: Duration) -> Self {
        Self { interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX).max(1) }
    }

    /// The first slot start strictly after `now_ms`, and how long until it.
    pub fn next_after(&self, now_ms: u64) -> (u64, Duration) {
        let next = (now_ms / self.interval_ms + 1).saturating_mul(self.interval_ms);
        (next, Duration::from_millis(next - now_ms))
    }

    /// The slot number of a slot start (`slot_ms / interval`).
    pub fn index(&self, slot_ms: u64) -> u64 {
        slot_ms / self.interval_ms
    }

    /// Sleeps until the next slot start and returns it (ms since the epoch).
    pub async fn wait_next(&self) -> u64 {
        let (slot, wait) = self.next_after(now_ms());
        tokio::time::sleep(wait).await;
        slot
    }
}

/// Milliseconds since the Unix epoch (0 for a clock before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_slot_is_the_following_multiple() {
        let s = Slots::new(Duration::from_secs(5));
        assert_eq!(s.next_after(12_000), (15_000, Duration::from_millis(3_000)));
        assert_eq!(s.next_after(15_000), (20_000, Duration::from_millis(5_000)));
        assert_eq!(s.next_after(0), (5_000, Duration::from_millis(5_000)));
        let tiny = Slots::new(Duration::ZERO);
        assert_eq!(tiny.next_after(7), (8, Duration::from_millis(1)));
    }
}
