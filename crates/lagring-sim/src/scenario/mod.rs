//! Scenario schema: the YAML a test or benchmark writes to describe a cluster (brokers, topics,
//! produce rates, groups and their consume behaviour, faults). Parsing is strict
//! (`deny_unknown_fields`) so a typo fails loudly instead of silently changing the numbers.
//! `validate` checks cross references; `scale` generates large scenarios without a file.

pub mod scale;
pub mod security;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use humantime_serde::Serde;
use serde::{Deserialize, Serialize};

use crate::error::SimError;

/// A whole simulated cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Seed for every pseudo-random choice (rate jitter, injected errors).
    #[serde(default)]
    pub seed: u64,
    /// Number of brokers (one listener each).
    #[serde(default = "default_brokers")]
    pub brokers: u32,
    /// Fixed ports per broker; absent or 0 means a free port.
    #[serde(default)]
    pub ports: Vec<u16>,
    /// Wall time (unix ms) of scenario t = 0; default: now for a real clock, 2026-01-01 for a
    /// manual one.
    #[serde(default)]
    pub epoch_ms: Option<i64>,
    /// Topics and how they grow.
    #[serde(default)]
    pub topics: Vec<TopicConfig>,
    /// Consumer groups and how they consume.
    #[serde(default)]
    pub groups: Vec<GroupConfig>,
    /// Injected latency, errors and outages.
    #[serde(default)]
    pub faults: FaultsConfig,
    /// TLS and SASL of the listeners (plaintext when absent).
    #[serde(default)]
    pub security: security::SecurityConfig,
}

fn default_brokers() -> u32 {
    3
}

/// One topic; every partition follows the same formula (plus optional per-partition jitter).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicConfig {
    pub name: String,
    pub partitions: u32,
    /// Log start offset at t = 0.
    #[serde(default)]
    pub start_offset: u64,
    /// Messages already in each partition at t = 0 (high watermark = start_offset + this).
    #[serde(default)]
    pub initial_messages: u64,
    /// If set, the log keeps only this many messages (log start follows the high watermark).
    #[serde(default)]
    pub retention_messages: Option<u64>,
    /// Produce rate per partition.
    #[serde(default, with = "serde_norway::with::singleton_map")]
    pub produce: Produce,
    /// Per-partition rate spread in [0, 1): rate × (1 ± jitter), chosen from the seed.
    #[serde(default)]
    pub rate_jitter: f64,
    /// Transactional producers: the last stable offset trails the high watermark.
    #[serde(default)]
    pub transactional: Option<Transactional>,
    /// Times at which the topic is deleted and recreated empty (new topic id, offsets from 0).
    #[serde(default)]
    pub recreate_at: Vec<Serde<Duration>>,
    /// Offsets per record batch served by Fetch: batch k holds offsets [k·n, (k+1)·n).
    #[serde(default = "default_batch_size")]
    pub batch_size: u32,
    /// Compression codec of the record batches served by Fetch.
    #[serde(default)]
    pub compression: Codec,
    /// Timestamp type of the record batches served by Fetch.
    #[serde(default)]
    pub timestamp_type: TimestampKind,
}

/// Largest `batch_size`: a batch is encoded whole even above the fetch limits.
const MAX_BATCH_SIZE: u32 = 100_000;

fn default_batch_size() -> u32 {
    10
}

/// Compression codec of served record batches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Codec {
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

/// What a served record's timestamp means.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestampKind {
    /// CreateTime: every record carries its own produce time.
    #[default]
    Create,
    /// LogAppendTime: the batch's max timestamp is the append time (the produce time of its
    /// last offset) and clients use it for every record of the batch.
    LogAppend,
}

/// Transactional topic settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transactional {
    /// High watermark − last stable offset (clamped at the log start).
    pub lso_gap: u64,
    /// Fetch serves commit markers: the last offset of every `batch_size` run is a control
    /// record (a transaction commit) in a batch of its own, the others one transactional batch.
    #[serde(default)]
    pub markers: bool,
}

/// Produce rate of one partition, in messages per second.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Produce {
    /// No new messages.
    #[default]
    Idle,
    /// A steady rate.
    Constant(f64),
    /// A base rate plus `rate` during the first `length` of every `every`.
    Bursts(Bursts),
}

/// Periodic bursts on top of a base rate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bursts {
    #[serde(default)]
    pub base: f64,
    pub rate: f64,
    #[serde(with = "humantime_serde")]
    pub every: Duration,
    #[serde(with = "humantime_serde")]
    pub length: Duration,
}

/// One consumer group.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    pub name: String,
    /// Topics the group reads (all their partitions).
    pub topics: Vec<String>,
    /// Members (0 = an Empty group that still has committed offsets).
    #[serde(default = "default_members")]
    pub members: u32,
    /// How committed offsets move.
    #[serde(default, with = "serde_norway::with::singleton_map")]
    pub behaviour: Behaviour,
    /// Partitions per topic that the group never committed.
    #[serde(default)]
    pub never_committed: BTreeMap<String, Vec<i32>>,
    /// The group is deleted at this time (no longer listed, no offsets).
    #[serde(default, with = "humantime_serde::option")]
    pub deleted_at: Option<Duration>,
    /// Group protocol: `classic` (the default, so older scenarios keep their meaning),
    /// `consumer` (KIP-848), `share` (KIP-932) or `streams` (KIP-1071).
    #[serde(default, rename = "type")]
    pub group_type: GroupType,
    /// A state held for the whole run (one the type has, see [`GroupState::valid_for`]); absent:
    /// `Empty` without members, `Stable` with. `empty` and `dead` need `members: 0`.
    #[serde(default)]
    pub state: Option<GroupState>,
    /// Share groups: records above the share-partition start offset that are already
    /// acknowledged (out of order) on each partition, up to the end offset. The broker's lag
    /// (DescribeShareGroupOffsets v1, KIP-1226) leaves them out; `end − start` does not.
    #[serde(default)]
    pub acknowledged_ahead: u64,
}

/// The group protocols of Kafka 4.x; `ListGroups` v5 reports them by [`GroupType::name`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupType {
    /// JoinGroup/SyncGroup groups (and simple groups that only commit).
    #[default]
    Classic,
    /// KIP-848 consumer groups: the broker assigns, described by ConsumerGroupDescribe.
    Consumer,
    /// KIP-932 share groups: no committed offsets, a share-partition start offset instead.
    Share,
    /// KIP-1071 Kafka Streams groups: commit offsets like consumer groups.
    Streams,
}

impl GroupType {
    /// The name Kafka uses on the wire (ListGroups `GroupType`).
    pub fn name(self) -> &'static str {
        match self {
            GroupType::Classic => "classic",
            GroupType::Consumer => "consumer",
            GroupType::Share => "share",
            GroupType::Streams => "streams",
        }
    }

    /// ListGroups `ProtocolType`: `consumer` for classic and KIP-848 consumers alike.
    pub fn protocol_type(self) -> &'static str {
        match self {
            GroupType::Classic | GroupType::Consumer => "consumer",
            GroupType::Share => "share",
            GroupType::Streams => "streams",
        }
    }
}

/// Group states over all types; which type has which is [`GroupState::valid_for`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupState {
    Empty,
    Stable,
    PreparingRebalance,
    CompletingRebalance,
    Assigning,
    Reconciling,
    NotReady,
    Dead,
}

impl GroupState {
    /// The name Kafka reports (ListGroups, DescribeGroups, *GroupDescribe).
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::Stable => "Stable",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Assigning => "Assigning",
            GroupState::Reconciling => "Reconciling",
            GroupState::NotReady => "NotReady",
            GroupState::Dead => "Dead",
        }
    }

    /// Whether a group of `group_type` can be in this state in Kafka 4.x.
    pub fn valid_for(self, group_type: GroupType) -> bool {
        use GroupState::*;
        match group_type {
            GroupType::Classic => matches!(self, Empty | Stable | PreparingRebalance | CompletingRebalance | Dead),
            GroupType::Consumer => matches!(self, Empty | Assigning | Reconciling | Stable | Dead),
            GroupType::Share => matches!(self, Empty | Stable | Dead),
            GroupType::Streams => matches!(self, Empty | NotReady | Assigning | Reconciling | Stable | Dead),
        }
    }

    /// Whether the state has no members.
    pub fn memberless(self) -> bool {
        matches!(self, GroupState::Empty | GroupState::Dead)
    }
}

fn default_members() -> u32 {
    1
}

/// How a group's committed offset relates to the high watermark `hw(t)`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Behaviour {
    /// committed = hw(t).
    #[default]
    KeepsUp,
    /// committed = hw(t) − N (at least 0).
    LagsBy(u64),
    /// Commits keep happening but the offset stays hw(at) from `at` on.
    Stalls(#[serde(with = "humantime_serde")] Duration),
    /// No commits after `at`: committed = hw(at) from then on.
    StopsCommitting(#[serde(with = "humantime_serde")] Duration),
    /// Keeps up until `at`, then committed = hw(t) − by.
    Rewinds(Rewind),
    /// Consumes this fraction (0 to 1) of what is produced after t = 0:
    /// committed = hw(0) + ⌊fraction × (hw(t) − hw(0))⌋, so it keeps moving
    /// while its lag grows with production (a slow consumer).
    ConsumesFraction(f64),
}

/// A rewind at a point in time.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rewind {
    #[serde(with = "humantime_serde")]
    pub at: Duration,
    pub by: u64,
}

/// Fault injection.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultsConfig {
    /// Added latency per API name (`ListOffsets`, `OffsetFetch`, ...).
    #[serde(default)]
    pub latency: BTreeMap<String, Serde<Duration>>,
    /// Error codes returned on a deterministic fraction of requests.
    #[serde(default)]
    pub errors: Vec<ErrorFault>,
    /// Brokers that stop answering for a period.
    #[serde(default)]
    pub broker_down: Vec<BrokerDown>,
}

/// Answer `fraction` of the requests of one API with `code`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorFault {
    pub api: String,
    pub code: i16,
    pub fraction: f64,
}

/// A broker that holds every request unanswered between `from` and `until`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerDown {
    pub broker: i32,
    #[serde(with = "humantime_serde")]
    pub from: Duration,
    #[serde(with = "humantime_serde")]
    pub until: Duration,
}

impl Scenario {
    /// Read and validate a scenario file.
    pub fn from_file(path: &Path) -> Result<Self, SimError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| SimError::ReadScenario { path: path.display().to_string(), source })?;
        Self::from_yaml(&text)
    }

    /// Parse and validate scenario YAML.
    pub fn from_yaml(text: &str) -> Result<Self, SimError> {
        let scenario: Scenario = serde_norway::from_str(text)?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// Check cross references and ranges.
    pub fn validate(&self) -> Result<(), SimError> {
        let invalid = |msg: String| Err(SimError::InvalidScenario(msg));
        if self.brokers == 0 {
            return invalid("brokers: must be at least 1".into());
        }
        if !self.ports.is_empty() && self.ports.len() != self.brokers as usize {
            return invalid("ports: one port per broker expected".into());
        }
        if let Some(problem) = self.security.problems().into_iter().next() {
            return invalid(problem);
        }
        let mut names = std::collections::HashSet::new();
        for (i, topic) in self.topics.iter().enumerate() {
            if !names.insert(topic.name.as_str()) {
                return invalid(format!("topics[{i}].name: duplicate topic {}", topic.name));
            }
            if topic.partitions == 0 || topic.partitions > i32::MAX as u32 {
                return invalid(format!("topics[{i}].partitions: must be in 1..=i32::MAX"));
            }
            if !(0.0..1.0).contains(&topic.rate_jitter) {
                return invalid(format!("topics[{i}].rate_jitter: must be in [0, 1)"));
            }
            if !(1..=MAX_BATCH_SIZE).contains(&topic.batch_size) {
                return invalid(format!("topics[{i}].batch_size: must be in 1..={MAX_BATCH_SIZE}"));
            }
            if topic.transactional.as_ref().is_some_and(|t| t.markers) && topic.batch_size < 2 {
                return invalid(format!("topics[{i}].batch_size: must be at least 2 with transactional markers"));
            }
            if let Produce::Bursts(b) = &topic.produce
                && (b.every.is_zero() || b.length > b.every)
            {
                return invalid(format!("topics[{i}].produce.bursts: need 0 < length <= every"));
            }
        }
        let mut group_names = std::collections::HashSet::new();
        for (i, group) in self.groups.iter().enumerate() {
            if !group_names.insert(group.name.as_str()) {
                return invalid(format!("groups[{i}].name: duplicate group {}", group.name));
            }
            if let Behaviour::ConsumesFraction(f) = group.behaviour
                && !(0.0..=1.0).contains(&f)
            {
                return invalid(format!("groups[{i}].behaviour.consumes_fraction: must be in [0, 1]"));
            }
            if let Some(state) = group.state {
                if !state.valid_for(group.group_type) {
                    let (s, t) = (state.name(), group.group_type.name());
                    return invalid(format!("groups[{i}].state: a {t} group has no state {s}"));
                }
                if state.memberless() != (group.members == 0) {
                    let need = if state.memberless() { "members: 0" } else { "at least one member" };
                    return invalid(format!("groups[{i}].state: {} needs {need}", state.name()));
                }
            }
            for topic in group.topics.iter().chain(group.never_committed.keys()) {
                if !names.contains(topic.as_str()) {
                    return invalid(format!("groups[{i}].topics: unknown topic {topic}"));
                }
            }
        }
        for (i, fault) in self.faults.errors.iter().enumerate() {
            if !(0.0..=1.0).contains(&fault.fraction) {
                return invalid(format!("faults.errors[{i}].fraction: must be in [0, 1]"));
            }
            if crate::handlers::api_key_by_name(&fault.api).is_none() {
                return invalid(format!("faults.errors[{i}].api: unknown api {}", fault.api));
            }
        }
        for api in self.faults.latency.keys() {
            if crate::handlers::api_key_by_name(api).is_none() {
                return invalid(format!("faults.latency.{api}: unknown api"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
