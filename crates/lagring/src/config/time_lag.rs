//! The `time_lag:` section: bounds of the offset histories and the windows
//! of the rate and status rules, resolved against `node.interval`.
//!
//! Every key is optional. Defaults come from `lagring-core`; the committed
//! history's defaults grow with the windows it must cover (age) and with a
//! short interval (points), so changing `status_window` or `node.interval`
//! alone never leaves the status rules without the observations they read.
//! Explicit values are checked instead, each error naming its key.

use std::time::Duration;

use lagring_core::group_time::TimeLagPolicy;
use lagring_core::history::HistoryPolicy;
use lagring_core::rates::DEFAULT_RATE_WINDOW_MS;
use lagring_core::status::{DEFAULT_STATUS_WINDOW_MS, StatusPolicy};
use lagring_store::HistoryPolicies;
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeLagConfig {
    /// `false` turns time lag off: no offset histories, no time-lag, rate,
    /// ETA or status series (offset lag only). Default `true`.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// End-offset history of each partition (time lag, produce rate).
    #[serde(default)]
    pub end_history: HistoryConfig,
    /// Committed-offset history of each group on each partition (consume
    /// rate, status).
    #[serde(default)]
    pub committed_history: HistoryConfig,
    /// Window of the produce and consume rates.
    #[serde(default, with = "humantime_serde")]
    pub rate_window: Option<Duration>,
    /// Window `W` of the status rules.
    #[serde(default, with = "humantime_serde")]
    pub status_window: Option<Duration>,
    /// How a lagging partition's time lag is found. Default `interpolation`.
    #[serde(default)]
    pub method: TimeLagMethod,
}

/// `time_lag.method`.
///
/// The default stays `interpolation`: it costs no broker read, while `exact`
/// reads one record-batch header per lagging partition whose committed offset
/// left its cached batch (Fetch; see docs/native-client.md) every iteration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeLagMethod {
    /// Estimate from the end-offset history (every client).
    #[default]
    Interpolation,
    /// `now − produce time` of the record at the committed offset, read from
    /// the log. Only for clusters with `client: native`; others, and
    /// partitions whose read fails, keep the estimate.
    Exact,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryConfig {
    /// Points kept per history (at least 2).
    #[serde(default)]
    pub max_points: Option<usize>,
    /// How far back from its newest point a history reaches.
    #[serde(default, with = "humantime_serde")]
    pub max_age: Option<Duration>,
}

/// The effective time-lag settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeLagSettings {
    pub histories: HistoryPolicies,
    pub policy: TimeLagPolicy,
}

impl TimeLagConfig {
    /// The settings with defaults resolved for `interval`, or every problem
    /// as `time_lag.key: message`.
    pub fn resolve(&self, interval: Duration) -> Result<TimeLagSettings, Vec<String>> {
        let mut errs = Vec::new();
        let interval_ms = ms(interval).max(1);
        let rate_ms = self.rate_window.map_or(DEFAULT_RATE_WINDOW_MS, ms);
        let status_ms = self.status_window.map_or(DEFAULT_STATUS_WINDOW_MS, ms);
        if rate_ms < interval_ms {
            errs.push(format!("time_lag.rate_window: must be at least node.interval ({interval:?})"));
        }
        if status_ms < 2 * interval_ms {
            errs.push(format!(
                "time_lag.status_window: must be at least 2 × node.interval ({:?}), the rules compare observations",
                interval * 2
            ));
        }

        let end_default = HistoryPolicy::END_DEFAULT;
        let end_age = self.end_history.max_age.map_or(end_default.max_age_ms().max(rate_ms), ms);
        let end_points = self.end_history.max_points.unwrap_or(end_default.max_points());
        if self.end_history.max_age.is_some() && end_age < rate_ms {
            errs.push("time_lag.end_history.max_age: must be at least time_lag.rate_window".to_owned());
        }

        // The committed history must hold the longer window at this interval.
        let covered_ms = status_ms.max(rate_ms);
        let commit_default = HistoryPolicy::COMMIT_DEFAULT;
        let commit_age = self.committed_history.max_age.map_or(commit_default.max_age_ms().max(covered_ms), ms);
        let slots = covered_ms / interval_ms + i64::from(covered_ms % interval_ms != 0);
        let needed_points = usize::try_from(slots.saturating_add(1)).unwrap_or(usize::MAX);
        let commit_points = self.committed_history.max_points.unwrap_or(commit_default.max_points().max(needed_points));
        if self.committed_history.max_age.is_some() && commit_age < covered_ms {
            errs.push(
                "time_lag.committed_history.max_age: must be at least time_lag.status_window and time_lag.rate_window"
                    .to_owned(),
            );
        }
        if self.committed_history.max_points.is_some_and(|p| p >= 2 && p < needed_points) {
            errs.push(format!(
                "time_lag.committed_history.max_points: {commit_points} points at node.interval {interval:?} do not \
                 cover the status and rate windows; at least {needed_points} are needed"
            ));
        }

        let end = HistoryPolicy::new(end_points, end_age)
            .map_err(|e| errs.push(format!("time_lag.end_history.{}", key_of(&e.to_string()))));
        let committed = HistoryPolicy::new(commit_points, commit_age)
            .map_err(|e| errs.push(format!("time_lag.committed_history.{}", key_of(&e.to_string()))));
        match (end, committed) {
            (Ok(end), Ok(committed)) if errs.is_empty() => Ok(TimeLagSettings {
                histories: HistoryPolicies { end, committed },
                policy: TimeLagPolicy {
                    enabled: self.enabled.unwrap_or(true),
                    rate_window_ms: rate_ms,
                    status: StatusPolicy { window_ms: status_ms },
                },
            }),
            _ => Err(errs),
        }
    }
}

/// Core's policy errors start with the field name (`max_points must …`);
/// turn that into a key path (`max_points: must …`).
fn key_of(msg: &str) -> String {
    match msg.split_once(' ') {
        Some((key, rest)) => format!("{key}: {rest}"),
        None => msg.to_owned(),
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(yaml: &str) -> TimeLagConfig {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn defaults_come_from_core() {
        let s = TimeLagConfig::default().resolve(Duration::from_secs(30)).unwrap();
        assert_eq!(s.histories, HistoryPolicies::default());
        assert_eq!(s.policy, TimeLagPolicy::default());
        assert!(s.policy.enabled);
        assert!(!cfg("enabled: false").resolve(Duration::from_secs(30)).unwrap().policy.enabled);
    }

    #[test]
    fn committed_defaults_grow_to_cover_the_windows() {
        // 10 min at 5 s needs 121 points; a 20 min status window needs 20 min of age.
        let s = TimeLagConfig::default().resolve(Duration::from_secs(5)).unwrap();
        assert_eq!(s.histories.committed, HistoryPolicy::new(121, 600_000).unwrap());
        let s = cfg("status_window: 20m").resolve(Duration::from_secs(30)).unwrap();
        assert_eq!(s.histories.committed, HistoryPolicy::new(64, 1_200_000).unwrap());
        assert_eq!(s.policy.status.window_ms, 1_200_000);
    }

    #[test]
    fn explicit_values_are_used_and_checked() {
        let c = cfg("end_history: { max_points: 30, max_age: 10m }\n\
             committed_history: { max_points: 30, max_age: 1m }\nrate_window: 20s\nstatus_window: 5s");
        let s = c.resolve(Duration::from_secs(1)).unwrap();
        assert_eq!(s.histories.end, HistoryPolicy::new(30, 600_000).unwrap());
        assert_eq!(s.histories.committed, HistoryPolicy::new(30, 60_000).unwrap());
        assert_eq!(s.policy.rate_window_ms, 20_000);
        let err = c.resolve(Duration::from_secs(5)).unwrap_err();
        assert_eq!(
            err,
            vec![
                "time_lag.status_window: must be at least 2 × node.interval (10s), the rules compare observations"
                    .to_owned()
            ]
        );
    }

    #[test]
    fn every_problem_names_its_key() {
        let c = cfg("end_history: { max_points: 1, max_age: 1s }\n\
             committed_history: { max_points: 3, max_age: 0s }\nrate_window: 30s");
        let err = c.resolve(Duration::from_secs(1)).unwrap_err();
        assert_eq!(
            err,
            vec![
                "time_lag.end_history.max_age: must be at least time_lag.rate_window",
                "time_lag.committed_history.max_age: must be at least time_lag.status_window and time_lag.rate_window",
                "time_lag.committed_history.max_points: 3 points at node.interval 1s do not cover the status and \
                 rate windows; at least 601 are needed",
                "time_lag.end_history.max_points: must be at least 2 (a flat run needs two points), got 1",
                "time_lag.committed_history.max_age: must be more than 0, got 0 ms",
            ]
        );
    }
}
