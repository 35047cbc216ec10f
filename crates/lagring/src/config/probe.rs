//! The `clusters[].probe:` section: an end-to-end availability probe of the
//! cluster (see docs/operations.md, End-to-end probe). Present (even empty)
//! turns the probe on with these defaults; every key is optional.

use std::time::Duration;

use lagring_core::probe::AccountingOptions;
use serde::Deserialize;

/// Largest record the probe sends: a probe is a heartbeat, not a load test.
const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// The monitor topic.
    #[serde(default = "defaults::topic")]
    pub topic: String,
    /// Replication factor when the probe creates the topic.
    #[serde(default = "defaults::replication_factor")]
    pub replication_factor: i32,
    /// The topic gets `max(brokers × partitions_per_broker, 1)` partitions.
    #[serde(default = "defaults::one")]
    pub partitions_per_broker: i32,
    /// One record per partition every `produce_interval`.
    #[serde(default = "defaults::produce_interval", with = "humantime_serde")]
    pub produce_interval: Duration,
    /// A send not acknowledged within this counts as an error.
    #[serde(default = "defaults::produce_timeout", with = "humantime_serde")]
    pub produce_timeout: Duration,
    /// Bytes per record (sequence and timestamp included).
    #[serde(default = "defaults::payload_bytes")]
    pub payload_bytes: usize,
    /// Window of the availability series.
    #[serde(default = "defaults::window", with = "humantime_serde")]
    pub window: Duration,
    /// A record whose end-to-end latency exceeds this counts as delayed.
    #[serde(default = "defaults::latency_sla", with = "humantime_serde")]
    pub latency_sla: Duration,
    /// Records a missing one may trail by and still count as reordered, not lost.
    #[serde(default)]
    pub reorder_window: u64,
    /// A window with no traffic counts as unavailable (else available).
    #[serde(default = "defaults::yes")]
    pub zero_throughput_unavailable: bool,
    /// Ask for a preferred-leader election when the topic's leadership is skewed.
    #[serde(default)]
    pub elect_preferred_leaders: bool,
    /// The probe's own consumer group.
    #[serde(default = "defaults::consumer_group")]
    pub consumer_group: String,
    /// How often the topic is checked for new brokers and skew.
    #[serde(default = "defaults::topic_check_interval", with = "humantime_serde")]
    pub topic_check_interval: Duration,
}

mod defaults {
    use std::time::Duration;

    pub fn topic() -> String {
        "__lagring_probe".to_owned()
    }
    pub fn replication_factor() -> i32 {
        3
    }
    pub fn one() -> i32 {
        1
    }
    pub fn produce_interval() -> Duration {
        Duration::from_secs(1)
    }
    pub fn produce_timeout() -> Duration {
        Duration::from_secs(10)
    }
    pub fn payload_bytes() -> usize {
        200
    }
    pub fn window() -> Duration {
        Duration::from_secs(60)
    }
    pub fn latency_sla() -> Duration {
        Duration::from_secs(20)
    }
    pub fn yes() -> bool {
        true
    }
    pub fn consumer_group() -> String {
        "lagring-probe".to_owned()
    }
    pub fn topic_check_interval() -> Duration {
        Duration::from_secs(60)
    }
}

impl ProbeConfig {
    /// Every problem of this section, each naming its key under `path`.
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut errs = Vec::new();
        let mut check = |ok: bool, key: &str, msg: &str| {
            if !ok {
                errs.push(format!("{path}.{key}: {msg}"));
            }
        };
        check(!self.topic.trim().is_empty(), "topic", "must not be empty");
        check(!self.consumer_group.trim().is_empty(), "consumer_group", "must not be empty");
        check(self.replication_factor >= 1, "replication_factor", "must be at least 1");
        check(self.partitions_per_broker >= 1, "partitions_per_broker", "must be at least 1");
        check(!self.produce_interval.is_zero(), "produce_interval", "must be above 0");
        check(!self.produce_timeout.is_zero(), "produce_timeout", "must be above 0");
        check(!self.topic_check_interval.is_zero(), "topic_check_interval", "must be above 0");
        check(self.payload_bytes <= MAX_PAYLOAD_BYTES, "payload_bytes", "must be at most 65536");
        check(self.window >= self.produce_interval, "window", "must be at least produce_interval");
        check(self.reorder_window <= 1_000, "reorder_window", "must be at most 1000");
        errs
    }

    /// The accounting rules these settings make.
    pub fn accounting(&self) -> AccountingOptions {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        AccountingOptions {
            window_ms: ms(self.window),
            reorder_window: self.reorder_window,
            sla_ms: ms(self.latency_sla),
            zero_throughput_unavailable: self.zero_throughput_unavailable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_section_takes_the_defaults() {
        let p: ProbeConfig = serde_norway::from_str("{}").unwrap();
        assert_eq!(p.topic, "__lagring_probe");
        assert_eq!((p.replication_factor, p.partitions_per_broker, p.payload_bytes), (3, 1, 200));
        assert_eq!(p.produce_interval, Duration::from_secs(1));
        assert_eq!(p.accounting(), AccountingOptions::default());
        assert!(p.validate("clusters[0].probe").is_empty());
    }

    #[test]
    fn problems_name_their_keys() {
        let p: ProbeConfig =
            serde_norway::from_str("{replication_factor: 0, produce_interval: 5s, window: 1s, topic: ''}").unwrap();
        assert_eq!(
            p.validate("clusters[0].probe"),
            [
                "clusters[0].probe.topic: must not be empty",
                "clusters[0].probe.replication_factor: must be at least 1",
                "clusters[0].probe.window: must be at least produce_interval",
            ]
        );
    }
}
