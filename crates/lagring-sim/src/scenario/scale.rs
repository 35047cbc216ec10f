//! The built-in `scale` scenario: G groups × T topics × P partitions, generated from a one-line
//! spec (`groups=10000,topics=100,partitions=10`). Only the configuration is generated; offsets
//! stay formulas, so 50,000 groups start in milliseconds and cost a few MB.

use std::collections::BTreeMap;

use super::{Behaviour, Codec, GroupConfig, GroupType, Produce, Rewind, Scenario, TimestampKind, TopicConfig};
use crate::error::SimError;
use crate::model::hash::unit;

/// Parameters of a generated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleSpec {
    pub groups: u32,
    pub topics: u32,
    pub partitions: u32,
    pub brokers: u32,
    /// Topics read by each group (consecutive topics, wrapping).
    pub topics_per_group: u32,
    /// Messages per second per partition (jittered ±50 % per partition).
    pub rate: f64,
    pub seed: u64,
}

impl Default for ScaleSpec {
    fn default() -> Self {
        ScaleSpec { groups: 1000, topics: 100, partitions: 10, brokers: 3, topics_per_group: 1, rate: 10.0, seed: 0 }
    }
}

impl ScaleSpec {
    /// Parse `key=value,...`; unspecified keys keep their defaults.
    pub fn parse(spec: &str) -> Result<Self, SimError> {
        let mut out = ScaleSpec::default();
        let bad = |reason: String| SimError::InvalidScale { spec: spec.to_string(), reason };
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').ok_or_else(|| bad(format!("expected key=value, got {pair:?}")))?;
            let int = || value.parse::<u32>().map_err(|e| bad(format!("{key}: {e}")));
            match key {
                "groups" => out.groups = int()?,
                "topics" => out.topics = int()?,
                "partitions" => out.partitions = int()?,
                "brokers" => out.brokers = int()?,
                "topics_per_group" => out.topics_per_group = int()?,
                "rate" => out.rate = value.parse().map_err(|e| bad(format!("rate: {e}")))?,
                "seed" => out.seed = value.parse().map_err(|e| bad(format!("seed: {e}")))?,
                other => return Err(bad(format!("unknown key {other}"))),
            }
        }
        if out.topics == 0 || out.partitions == 0 || out.brokers == 0 {
            return Err(bad("topics, partitions and brokers must be at least 1".into()));
        }
        if out.topics_per_group == 0 || out.topics_per_group > out.topics {
            return Err(bad("topics_per_group must be in 1..=topics".into()));
        }
        Ok(out)
    }

    /// Build the scenario. Group behaviours are spread deterministically by seed:
    /// 70 % lag by up to 1,000, 15 % keep up, 5 % stall, 5 % empty (no members), 5 % rewind.
    pub fn scenario(&self) -> Scenario {
        let topics = (0..self.topics)
            .map(|t| TopicConfig {
                name: format!("topic-{t:05}"),
                partitions: self.partitions,
                start_offset: 0,
                initial_messages: 100_000,
                retention_messages: None,
                produce: Produce::Constant(self.rate),
                rate_jitter: 0.5,
                transactional: None,
                recreate_at: Vec::new(),
                batch_size: 10,
                compression: Codec::None,
                timestamp_type: TimestampKind::Create,
            })
            .collect();
        let groups = (0..self.groups).map(|g| self.group(g)).collect();
        Scenario {
            seed: self.seed,
            brokers: self.brokers,
            ports: Vec::new(),
            epoch_ms: None,
            topics,
            groups,
            faults: Default::default(),
            security: Default::default(),
        }
    }

    fn group(&self, g: u32) -> GroupConfig {
        let topics = (0..self.topics_per_group).map(|k| format!("topic-{:05}", (g + k) % self.topics)).collect();
        let pick = unit(self.seed, &[u64::from(g), 1]);
        let lag = (unit(self.seed, &[u64::from(g), 2]) * 1000.0) as u64;
        let (behaviour, members) = match pick {
            p if p < 0.70 => (Behaviour::LagsBy(lag), 1),
            p if p < 0.85 => (Behaviour::KeepsUp, 2),
            p if p < 0.90 => (Behaviour::Stalls(std::time::Duration::ZERO), 1),
            p if p < 0.95 => (Behaviour::LagsBy(lag), 0),
            _ => (Behaviour::Rewinds(Rewind { at: std::time::Duration::from_secs(60), by: lag }), 1),
        };
        GroupConfig {
            name: format!("group-{g:06}"),
            topics,
            members,
            behaviour,
            never_committed: BTreeMap::new(),
            deleted_at: None,
            group_type: GroupType::Classic,
            state: None,
            acknowledged_ahead: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_generates() {
        let spec = ScaleSpec::parse("groups=50,topics=4,partitions=3,topics_per_group=2").unwrap();
        assert_eq!(spec.groups, 50);
        let scenario = spec.scenario();
        scenario.validate().unwrap();
        assert_eq!(scenario.groups.len(), 50);
        assert_eq!(scenario.groups[3].topics, vec!["topic-00003", "topic-00000"]);
    }

    #[test]
    fn rejects_bad_specs() {
        assert!(ScaleSpec::parse("groups=x").is_err());
        assert!(ScaleSpec::parse("nope=1").is_err());
        assert!(ScaleSpec::parse("topics=2,topics_per_group=3").is_err());
    }
}
