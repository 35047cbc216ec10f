//! The whole cluster's numbers at one instant, as a test would assert them: log offsets of every
//! partition and committed offsets of every group. Computed from the same formulas the wire
//! handlers use, so a test compares the two exactly.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Model;
use super::partition::PartitionOffsets;
use crate::clock::duration_ms;
use crate::scenario::GroupType;

/// (topic, partition).
pub type TopicPartitionKey = (String, i32);

/// Expected values at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    pub at: Duration,
    pub partitions: BTreeMap<TopicPartitionKey, PartitionOffsets>,
    pub groups: BTreeMap<String, ExpectedGroup>,
}

/// One group's expected view.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedGroup {
    /// `classic`, `consumer`, `share` or `streams`.
    pub group_type: &'static str,
    /// The state Kafka reports (`Stable`, `Empty`, `Dead`, `Assigning`, ...).
    pub state: &'static str,
    /// Members a describe reports (0 for `Empty` and `Dead`, and once deleted).
    pub members: u32,
    /// Committed offset per partition the group reads; `None` = never committed (and every
    /// partition of a share group).
    pub committed: BTreeMap<TopicPartitionKey, Option<i64>>,
    /// Share-partition start offset per partition a share group reads; empty for other types.
    pub share_start: BTreeMap<TopicPartitionKey, Option<i64>>,
    /// The broker's lag (DescribeShareGroupOffsets v1) per partition a share group reads, where
    /// it has a start offset; empty for other types.
    pub share_lag: BTreeMap<TopicPartitionKey, i64>,
}

impl Expected {
    /// Offset lag as docs/metrics.md defines it (`end` = high watermark, or LSO for read_committed).
    pub fn lag(&self, group: &str, topic: &str, partition: i32, read_committed: bool) -> Option<i64> {
        let key = (topic.to_string(), partition);
        let committed = (*self.groups.get(group)?.committed.get(&key)?)?;
        let offsets = self.partitions.get(&key)?;
        let end = if read_committed { offsets.last_stable } else { offsets.high_watermark };
        Some((end - committed).max(0))
    }
}

impl Model {
    /// Everything at scenario time `at`.
    pub fn expected_at(&self, at: Duration) -> Expected {
        let t_ms = duration_ms(at);
        let mut partitions = BTreeMap::new();
        for topic in &self.topics {
            for p in 0..topic.partitions() {
                partitions.insert((topic.config.name.clone(), p), topic.offsets(p, t_ms));
            }
        }
        let groups = self
            .groups
            .iter()
            .map(|g| {
                let read = || {
                    g.topics
                        .iter()
                        .filter_map(|i| self.topics.get(*i))
                        .flat_map(|t| (0..t.partitions()).map(move |p| (t, p)))
                };
                let committed = read().map(|(t, p)| ((t.config.name.clone(), p), g.committed(t, p, t_ms))).collect();
                let share_start = if g.group_type() == GroupType::Share {
                    read().map(|(t, p)| ((t.config.name.clone(), p), g.share_start(t, p, t_ms))).collect()
                } else {
                    BTreeMap::new()
                };
                let share_lag =
                    read().filter_map(|(t, p)| Some(((t.config.name.clone(), p), g.share_lag(t, p, t_ms)?))).collect();
                let members = if g.exists(t_ms) { g.config.members } else { 0 };
                let expected = ExpectedGroup {
                    group_type: g.group_type().name(),
                    state: g.state(t_ms),
                    members,
                    committed,
                    share_start,
                    share_lag,
                };
                (g.config.name.clone(), expected)
            })
            .collect();
        Expected { at, partitions, groups }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn behaviours_give_exact_offsets() {
        let yaml = r#"
topics: [ { name: a, partitions: 2, initial_messages: 100, produce: { constant: 10.0 } } ]
groups:
  - { name: up, topics: [a] }
  - { name: lag, topics: [a], behaviour: { lags_by: 30 } }
  - { name: stall, topics: [a], behaviour: { stalls: 1s } }
  - { name: rew, topics: [a], behaviour: { rewinds: { at: 5s, by: 70 } } }
  - { name: empty, topics: [a], members: 0, never_committed: { a: [1] } }
  - { name: gone, topics: [a], deleted_at: 2s }
  - { name: slow, topics: [a], behaviour: { consumes_fraction: 0.25 } }
"#;
        let model = Model::new(Scenario::from_yaml(yaml).unwrap(), 0);
        let e = model.expected_at(Duration::from_secs(10));
        let a0 = ("a".to_string(), 0);
        assert_eq!(e.partitions[&a0].high_watermark, 200);
        assert_eq!(e.groups["up"].committed[&a0], Some(200));
        assert_eq!(e.groups["lag"].committed[&a0], Some(170));
        assert_eq!(e.groups["stall"].committed[&a0], Some(110));
        assert_eq!(e.groups["rew"].committed[&a0], Some(130));
        assert_eq!(e.groups["empty"].state, "Empty");
        assert_eq!(e.groups["empty"].committed[&("a".to_string(), 1)], None);
        assert_eq!(e.groups["gone"].state, "Dead");
        assert_eq!(e.lag("stall", "a", 0, false), Some(90));
        // 100 produced since t = 0, a quarter consumed.
        assert_eq!(e.groups["slow"].committed[&a0], Some(125));
        let before = model.expected_at(Duration::from_secs(4));
        assert_eq!(before.groups["rew"].committed[&a0], Some(140));
    }

    #[test]
    fn members_split_partitions_and_encode() {
        let yaml = "topics: [ { name: a, partitions: 3 } ]\ngroups: [ { name: g, topics: [a], members: 2 } ]";
        let model = Model::new(Scenario::from_yaml(yaml).unwrap(), 0);
        let members = model.groups[0].members(&model.topics);
        assert_eq!(members[0].partitions, vec![(0, 0), (0, 2)]);
        assert_eq!(members[1].partitions, vec![(0, 1)]);
        let bytes = super::super::group::encode_assignment(&members[0], &model.topics);
        assert_eq!(&bytes[..2], &[0, 0]);
    }
}
