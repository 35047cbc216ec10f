//! The simulator's notion of "time since scenario start". Every offset is a pure function of this
//! clock, so tests inject a manual clock and compute the exact expected values at any instant.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Source of elapsed scenario time.
#[derive(Debug, Clone)]
pub enum Clock {
    /// Wall time since the clock was created.
    Real(Instant),
    /// Time that only moves when a test says so.
    Manual(ManualClock),
}

impl Clock {
    /// A real clock starting now.
    pub fn real() -> Self {
        Clock::Real(Instant::now())
    }

    /// A manual clock at t = 0; keep a clone of the returned handle to move it.
    pub fn manual() -> (Self, ManualClock) {
        let manual = ManualClock::default();
        (Clock::Manual(manual.clone()), manual)
    }

    /// Elapsed scenario time.
    pub fn elapsed(&self) -> Duration {
        match self {
            Clock::Real(start) => start.elapsed(),
            Clock::Manual(manual) => manual.now(),
        }
    }

    /// Elapsed scenario time in whole milliseconds (the model's resolution).
    pub fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether this is a manual clock (the default epoch then is fixed, not wall time).
    pub fn is_manual(&self) -> bool {
        matches!(self, Clock::Manual(_))
    }
}

/// Shared handle to a manual clock (millisecond resolution).
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// Current manual time.
    pub fn now(&self) -> Duration {
        Duration::from_millis(self.0.load(Ordering::SeqCst))
    }

    /// Set the time since scenario start.
    pub fn set(&self, at: Duration) {
        self.0.store(duration_ms(at), Ordering::SeqCst);
    }

    /// Move time forward.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(duration_ms(by), Ordering::SeqCst);
    }
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let (clock, manual) = Clock::manual();
        assert_eq!(clock.elapsed_ms(), 0);
        manual.advance(Duration::from_millis(1500));
        assert_eq!(clock.elapsed_ms(), 1500);
        manual.set(Duration::from_secs(10));
        assert_eq!(clock.elapsed(), Duration::from_secs(10));
    }
}
