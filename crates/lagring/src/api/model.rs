//! Burrow v3's JSON, field for field: the envelope every answer shares
//! (`error`, `message`, the body, `request` with `url` and `host`) and the
//! bodies of the consumer and topic endpoints. Field names, their order and
//! their types follow Burrow's (`core/protocol` and `core/internal/httpserver`),
//! so a client written against Burrow decodes them unchanged; the fixtures
//! beside this file are Burrow's documented examples and the tests compare
//! with them key by key.
//!
//! lagring adds [`EXTENSIONS`], fields Burrow does not have (Burrow's
//! clients decode JSON into structs and ignore unknown fields); every
//! Burrow field stays as Burrow documents it.
//!
//! [`GroupStatus`] is also what a group's owner publishes to the shared
//! store (with every partition, Burrow's `/lag` form): any node reads it back
//! and answers `/status` (bad partitions only), `/lag` and `/consumer/{group}`
//! from it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The fields lagring adds to Burrow's answers: per partition of `/status`,
/// `/lag` and `/consumer/{group}` the records the group consumed per minute,
/// per partition of `/topic/{topic}` the records produced per minute.
pub const EXTENSIONS: &[&str] = &["records_consumed_per_minute", "records_produced_per_minute"];

/// Burrow's status names (its `StatusConstant`), best to worst as Burrow
/// numbers them; a group is `Err` when a partition is `Stop`, `Stall` or `Rewind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum BurrowStatus {
    NotFound,
    Ok,
    Warn,
    Err,
    Stop,
    Stall,
    Rewind,
}

/// One observed committed offset (Burrow's `ConsumerOffset`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConsumerOffset {
    pub offset: i64,
    /// Unix ms. Burrow: the commit's time; lagring: the slot it was observed at.
    pub timestamp: i64,
    #[serde(rename = "observedAt")]
    pub observed_at: i64,
    /// Lag at that time; `null` when the end offset then is unknown.
    pub lag: Option<u64>,
}

/// Status of one partition (Burrow's `PartitionStatus`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartitionStatus {
    pub topic: String,
    pub partition: i32,
    pub owner: String,
    pub client_id: String,
    pub status: BurrowStatus,
    pub start: Option<ConsumerOffset>,
    pub end: Option<ConsumerOffset>,
    pub current_lag: u64,
    pub complete: f32,
    /// lagring's extension: the consume rate × 60 (over `time_lag.rate_window`);
    /// `null` without a rate (time lag off, a history too short).
    #[serde(default)]
    pub records_consumed_per_minute: Option<f64>,
}

/// Evaluation of one group (Burrow's `ConsumerGroupStatus`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupStatus {
    pub cluster: String,
    pub group: String,
    pub status: BurrowStatus,
    pub complete: f32,
    pub partitions: Vec<PartitionStatus>,
    pub partition_count: usize,
    pub maxlag: Option<PartitionStatus>,
    pub totallag: u64,
}

impl GroupStatus {
    /// Burrow's answer for a cluster or group it does not know.
    pub fn not_found(cluster: &str, group: &str) -> Self {
        Self {
            cluster: cluster.to_owned(),
            group: group.to_owned(),
            status: BurrowStatus::NotFound,
            complete: 1.0,
            partitions: Vec::new(),
            partition_count: 0,
            maxlag: None,
            totallag: 0,
        }
    }

    /// The `/status` form: only the partitions that are not OK.
    pub fn only_bad_partitions(mut self) -> Self {
        self.partitions.retain(|p| p.status != BurrowStatus::Ok);
        self
    }
}

/// One partition of `/consumer/{group}` (Burrow's `ConsumerPartition`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConsumerPartition {
    /// Burrow: the last commits; lagring: the status window's start and end.
    pub offsets: Vec<Option<ConsumerOffset>>,
    pub owner: String,
    pub client_id: String,
    #[serde(rename = "current-lag")]
    pub current_lag: u64,
    /// lagring's extension, as in [`PartitionStatus`].
    pub records_consumed_per_minute: Option<f64>,
}

/// `/consumer/{group}`: per topic, its partitions by partition number
/// (`null` for a partition the group has no data for).
pub type ConsumerTopics = BTreeMap<String, Vec<Option<ConsumerPartition>>>;

/// The `request` object of every answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestInfo {
    pub url: String,
    pub host: String,
}

/// Every answer: `error`, `message`, the body's fields, `request`.
#[derive(Clone, Debug, Serialize)]
pub struct Envelope<T> {
    pub error: bool,
    pub message: String,
    #[serde(flatten)]
    pub body: T,
    pub request: RequestInfo,
}

/// The body of an error answer: nothing.
#[derive(Clone, Debug, Serialize)]
pub struct NoBody {}

#[derive(Clone, Debug, Serialize)]
pub struct ClusterList {
    pub clusters: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ModuleDetail {
    pub module: ClusterModule,
}

/// `/v3/kafka/{cluster}`: Burrow's cluster module config.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterModule {
    #[serde(rename = "class-name")]
    pub class_name: &'static str,
    pub servers: Vec<String>,
    #[serde(rename = "client-profile")]
    pub client_profile: ClientProfile,
    /// Seconds; lagring refreshes metadata and offsets every `node.interval`.
    #[serde(rename = "topic-refresh")]
    pub topic_refresh: u64,
    #[serde(rename = "offset-refresh")]
    pub offset_refresh: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClientProfile {
    pub name: String,
    #[serde(rename = "client-id")]
    pub client_id: String,
    #[serde(rename = "kafka-version")]
    pub kafka_version: String,
    /// Burrow's TLS and SASL profiles: lagring does not expose its own here.
    pub tls: Option<NoBody>,
    pub sasl: Option<NoBody>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ConsumerList {
    pub consumers: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TopicList {
    pub topics: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TopicDetail {
    pub offsets: Vec<i64>,
    /// lagring's extension: per partition, the produce rate × 60 (over
    /// `time_lag.rate_window`); `null` without a rate.
    pub records_produced_per_minute: Vec<Option<f64>>,
}

/// What an owner publishes per topic: the end offsets and produce rates
/// per minute by partition number.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TopicRecord {
    pub offsets: Vec<i64>,
    #[serde(default)]
    pub per_minute: Vec<Option<f64>>,
}

/// A published topic record: this version's, or the bare offsets array an
/// older node publishes (during a rolling upgrade), read as one without rates.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PublishedTopic {
    Record(TopicRecord),
    Offsets(Vec<i64>),
}

impl PublishedTopic {
    /// The `/topic/{topic}` body: one rate (or `null`) per offset.
    pub fn detail(self) -> TopicDetail {
        let TopicRecord { offsets, mut per_minute } = match self {
            PublishedTopic::Record(record) => record,
            PublishedTopic::Offsets(offsets) => TopicRecord { offsets, per_minute: Vec::new() },
        };
        per_minute.resize(offsets.len(), None);
        TopicDetail { offsets, records_produced_per_minute: per_minute }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ConsumerDetail {
    pub topics: ConsumerTopics,
}

#[derive(Clone, Debug, Serialize)]
pub struct StatusBody {
    pub status: GroupStatus,
}
