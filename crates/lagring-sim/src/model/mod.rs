//! The compiled scenario: topics and groups indexed for lookups, leaders and coordinators
//! assigned, and every offset computed on demand from the clock (`partition` for log offsets,
//! `group` for committed offsets, `expected` for the whole-cluster snapshot tests compare with).

pub mod expected;
pub mod group;
pub mod hash;
pub mod partition;
pub mod records;

use std::collections::HashMap;

use crate::scenario::{FaultsConfig, Scenario};
use group::GroupModel;
use partition::TopicModel;

/// Default epoch for a manual clock: 2026-01-01T00:00:00Z.
pub const MANUAL_EPOCH_MS: i64 = 1_767_225_600_000;

/// The scenario, ready to answer "what is the value at time t".
#[derive(Debug)]
pub struct Model {
    pub seed: u64,
    pub brokers: u32,
    /// Unix ms of scenario t = 0.
    pub epoch_ms: i64,
    pub topics: Vec<TopicModel>,
    pub groups: Vec<GroupModel>,
    pub faults: FaultsConfig,
    topic_index: HashMap<String, usize>,
    group_index: HashMap<String, usize>,
}

impl Model {
    /// Compile a validated scenario.
    pub fn new(scenario: Scenario, epoch_ms: i64) -> Self {
        let Scenario { seed, brokers, topics, groups, faults, .. } = scenario;
        let topics: Vec<TopicModel> =
            topics.into_iter().enumerate().map(|(i, config)| TopicModel::new(config, i, seed)).collect();
        let topic_index = topics.iter().map(|t| (t.config.name.clone(), t.index)).collect::<HashMap<_, _>>();
        let groups: Vec<GroupModel> =
            groups.into_iter().map(|config| GroupModel::new(config, &topic_index, brokers)).collect();
        let group_index = groups.iter().enumerate().map(|(i, g)| (g.config.name.clone(), i)).collect();
        Model { seed, brokers, epoch_ms, topics, groups, faults, topic_index, group_index }
    }

    pub fn topic(&self, name: &str) -> Option<&TopicModel> {
        self.topic_index.get(name).and_then(|i| self.topics.get(*i))
    }

    pub fn group(&self, name: &str) -> Option<&GroupModel> {
        self.group_index.get(name).and_then(|i| self.groups.get(*i))
    }

    /// Leader of a partition: round-robin over brokers.
    pub fn leader(&self, topic: &TopicModel, partition: i32) -> i32 {
        let slot = (topic.index as u64 + partition.max(0) as u64) % u64::from(self.brokers.max(1));
        i32::try_from(slot).unwrap_or(0)
    }

    /// Coordinator for any key (group id or transactional id).
    pub fn coordinator_for_key(&self, key: &str) -> i32 {
        group::coordinator_for(key, self.brokers)
    }

    /// Unix ms of a scenario time in ms.
    pub fn wall_ms(&self, scenario_ms: i64) -> i64 {
        self.epoch_ms.saturating_add(scenario_ms)
    }
}
