//! Rate limit for repeated warnings: a dead broker fails every iteration, and
//! the log should say so when it starts, when the error changes, and then at
//! most once per `every`, not thousands of times.

use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct WarnLimiter {
    every: Duration,
    last: Option<(String, Instant)>,
    suppressed: u64,
}

impl WarnLimiter {
    pub fn new(every: Duration) -> Self {
        Self { every, last: None, suppressed: 0 }
    }

    /// Returns `Some(suppressed_since_last_log)` when `message` should be
    /// logged now.
    pub fn check(&mut self, message: &str, now: Instant) -> Option<u64> {
        let due = match &self.last {
            Some((m, at)) => m != message || now.duration_since(*at) >= self.every,
            None => true,
        };
        if due {
            self.last = Some((message.to_owned(), now));
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }

    /// Forgets the last warning (the condition cleared); returns true when
    /// there was one, so the caller can log the recovery once.
    pub fn clear(&mut self) -> bool {
        self.suppressed = 0;
        self.last.take().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_first_changed_and_periodic_only() {
        let mut l = WarnLimiter::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(l.check("down", t0), Some(0));
        assert_eq!(l.check("down", t0 + Duration::from_secs(1)), None);
        assert_eq!(l.check("down", t0 + Duration::from_secs(2)), None);
        assert_eq!(l.check("down", t0 + Duration::from_secs(61)), Some(2));
        assert_eq!(l.check("other", t0 + Duration::from_secs(62)), Some(0));
        assert!(l.clear());
        assert!(!l.clear());
    }
}
