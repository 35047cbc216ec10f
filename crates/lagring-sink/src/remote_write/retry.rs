//! Retry timing: capped exponential backoff with jitter, and `Retry-After`.
//!
//! Pure functions over durations so the capping rules are unit-tested without
//! a clock. Jitter spreads the retries of many nodes after a shared receiver
//! outage instead of having them all hit it at the same instant.

use std::time::Duration;

use reqwest::header::HeaderValue;

/// Capped exponential backoff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub min: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The un-jittered delay before retry number `attempt` (0-based):
    /// `min * 2^attempt`, never more than `max`.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(31));
        self.min.saturating_mul(factor).min(self.max)
    }

    /// The delay before retry `attempt` with "equal jitter": half the base
    /// delay fixed, the other half scaled by `jitter` in `[0, 1]`.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let base = self.base_delay(attempt);
        let half = base / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }

    /// The delay to wait when the receiver asked for `retry_after`: honoured
    /// but capped at `max`, and never shorter than `min`.
    pub fn delay_for(&self, attempt: u32, jitter: f64, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            // Not `clamp`: it panics if a hand-built Backoff has min > max.
            Some(asked) => asked.max(self.min).min(self.max),
            None => self.delay(attempt, jitter),
        }
    }
}

/// Parses a `Retry-After` header given in delta-seconds. The HTTP-date form
/// is not supported and yields `None`, so normal backoff applies.
pub fn parse_retry_after(value: &HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    text.parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Backoff = Backoff { min: Duration::from_millis(100), max: Duration::from_secs(5) };

    #[test]
    fn base_delay_doubles_then_caps() {
        let delays: Vec<u128> = (0..9).map(|a| B.base_delay(a).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        assert_eq!(B.base_delay(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn jitter_stays_between_half_and_full_base() {
        assert_eq!(B.delay(3, 0.0), Duration::from_millis(400));
        assert_eq!(B.delay(3, 1.0), Duration::from_millis(800));
        assert_eq!(B.delay(3, 7.0), Duration::from_millis(800));
        assert_eq!(B.delay(20, 0.5), Duration::from_millis(3750));
    }

    #[test]
    fn retry_after_is_honoured_but_capped() {
        assert_eq!(B.delay_for(0, 0.0, Some(Duration::from_secs(2))), Duration::from_secs(2));
        assert_eq!(B.delay_for(0, 0.0, Some(Duration::from_secs(3600))), Duration::from_secs(5));
        assert_eq!(B.delay_for(0, 0.0, Some(Duration::ZERO)), Duration::from_millis(100));
        assert_eq!(B.delay_for(1, 1.0, None), Duration::from_millis(200));
    }

    #[test]
    fn retry_after_parsing() {
        assert_eq!(parse_retry_after(&HeaderValue::from_static("3")), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(&HeaderValue::from_static(" 0 ")), Some(Duration::ZERO));
        assert_eq!(parse_retry_after(&HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT")), None);
    }
}
