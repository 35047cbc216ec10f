//! The YAML configuration schema (docs/configuration.md documents every key).
//!
//! Every struct rejects unknown keys so a typo (`intervall: 10s`) is an error
//! instead of a silently ignored setting. Durations are human (`30s`, `2m`).
//!
//! `{:?}` of any of these types never shows a credential, so a config can be
//! logged or put in an error whole: passwords are [`Secret`]s, and librdkafka
//! `properties` (which may carry `sasl.password` and the like) print their
//! names only. The `redis` and `remote_write` sections redact their own.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use std::fmt;

pub use lagring_sink::remote_write::Secret;
use serde::Deserialize;

use super::time_lag::TimeLagConfig;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub node: NodeConfig,
    /// Absent: single-node mode (in-memory store, this node owns everything).
    #[serde(default)]
    pub redis: Option<lagring_store::RedisConfig>,
    pub clusters: Vec<ClusterConfig>,
    /// Absent: series are only served on the local `/metrics`.
    #[serde(default)]
    pub remote_write: Option<lagring_sink::remote_write::RemoteWriteConfig>,
    /// Push sinks (Wavefront, ...), any number; none by default.
    #[serde(default)]
    pub sinks: Vec<lagring_sink::push::PushSinkConfig>,
    #[serde(default)]
    pub prometheus: PrometheusConfig,
    /// Offset histories, rate and status windows of time lag.
    #[serde(default)]
    pub time_lag: TimeLagConfig,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub log: LogConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Stable node id; defaults to the hostname (the StatefulSet pod name).
    #[serde(default)]
    pub id: Option<String>,
    /// One fetch-compute-emit iteration per cluster every `interval`.
    #[serde(default = "defaults::interval", with = "humantime_serde")]
    pub interval: Duration,
    /// Upper bound for one iteration's Kafka work; defaults to `interval`.
    #[serde(default, with = "humantime_serde")]
    pub iteration_timeout: Option<Duration>,
    #[serde(default = "defaults::heartbeat_interval", with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    #[serde(default = "defaults::node_ttl", with = "humantime_serde")]
    pub node_ttl: Duration,
    /// How long a node may hold a group's lease without renewing it; must
    /// exceed `interval + heartbeat_interval` so held leases survive one
    /// iteration whose claim fails (Redis blip). Defaults to
    /// `interval + node_ttl`.
    #[serde(default, with = "humantime_serde")]
    pub lease_ttl: Option<Duration>,
    /// Consecutive failed iterations of a cluster after which this node
    /// leaves that cluster's ring, so peers take its groups over.
    #[serde(default = "defaults::leave_cluster_after_failures")]
    pub leave_cluster_after_failures: u32,
    /// A cluster's series leave `/metrics` when its last successful iteration
    /// is older than this. Defaults to `3 × interval`.
    #[serde(default, with = "humantime_serde")]
    pub series_max_age: Option<Duration>,
    /// Bound on the whole shutdown: hand-over of owned groups to peers
    /// (two thirds of it at most), then drain and the final remote-write flush.
    #[serde(default = "defaults::shutdown_timeout", with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// Virtual nodes per node on the consistent-hash ring.
    #[serde(default = "defaults::virtual_nodes")]
    pub virtual_nodes: u32,
    /// Labels (`region`, `zone`) matched by `clusters[].placement.affinity`;
    /// `LAGRING_NODE_LABELS` adds to them (see `placement.rs`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// On SIGTERM, expect a new process with this id within this long
    /// (rolling restart): peers keep its groups waiting for it instead of
    /// taking them and handing them back. Zero: hand them to peers.
    #[serde(default, with = "humantime_serde")]
    pub restart_grace: Duration,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            id: None,
            interval: defaults::interval(),
            iteration_timeout: None,
            heartbeat_interval: defaults::heartbeat_interval(),
            node_ttl: defaults::node_ttl(),
            lease_ttl: None,
            leave_cluster_after_failures: defaults::leave_cluster_after_failures(),
            series_max_age: None,
            shutdown_timeout: defaults::shutdown_timeout(),
            virtual_nodes: defaults::virtual_nodes(),
            labels: BTreeMap::new(),
            restart_grace: Duration::ZERO,
        }
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    pub name: String,
    /// Bootstrap brokers, `host:port`.
    pub brokers: Vec<String>,
    #[serde(default)]
    pub sasl: Option<SaslConfig>,
    /// Present (even empty) means TLS on; verification is on by default.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    #[serde(default)]
    pub isolation: IsolationConfig,
    #[serde(default)]
    pub groups: FilterConfig,
    #[serde(default)]
    pub topics: FilterConfig,
    #[serde(default = "defaults::request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Concurrent OffsetFetch requests (one group each) in flight
    /// (librdkafka client only; the native client batches groups instead).
    #[serde(default = "defaults::max_in_flight")]
    pub max_in_flight_offset_fetches: usize,
    /// Which Kafka client talks to this cluster (see docs/native-client.md);
    /// unset means native unless only librdkafka can serve the cluster
    /// (see [`ClusterConfig::client_choice`](crate::config::ClusterConfig::client_choice)).
    #[serde(default)]
    pub client: Option<ClientChoice>,
    /// Extra librdkafka properties, applied last (they override lagring's).
    #[serde(default)]
    pub properties: BTreeMap<String, serde_norway::Value>,
    /// Which nodes may own this cluster's groups; absent: every node.
    #[serde(default)]
    pub placement: Option<super::placement::PlacementConfig>,
    /// End-to-end availability probe of this cluster (off when absent).
    #[serde(default)]
    pub probe: Option<super::probe::ProbeConfig>,
}

impl fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured so a new field cannot be left out (or printed) unseen.
        let Self {
            name,
            brokers,
            sasl,
            tls,
            isolation,
            groups,
            topics,
            request_timeout,
            max_in_flight_offset_fetches,
            client,
            properties,
            placement,
            probe,
        } = self;
        f.debug_struct("ClusterConfig")
            .field("name", name)
            .field("brokers", brokers)
            .field("sasl", sasl)
            .field("tls", tls)
            .field("isolation", isolation)
            .field("groups", groups)
            .field("topics", topics)
            .field("request_timeout", request_timeout)
            .field("max_in_flight_offset_fetches", max_in_flight_offset_fetches)
            .field("client", client)
            .field("properties", &properties.keys().collect::<Vec<_>>())
            .field("placement", placement)
            .field("probe", probe)
            .finish()
    }
}

/// `username` and `password` for PLAIN and SCRAM; `oauthbearer` for OAUTHBEARER;
/// `aws_msk_iam` for AWS_MSK_IAM; `gssapi` for GSSAPI (Kerberos).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaslConfig {
    pub mechanism: SaslMechanismConfig,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: Option<Secret>,
    #[serde(default)]
    pub oauthbearer: Option<super::oauthbearer::OAuthBearerConfig>,
    #[serde(default)]
    pub aws_msk_iam: Option<super::msk_iam::MskIamConfig>,
    #[serde(default)]
    pub gssapi: Option<super::gssapi::GssapiConfig>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum SaslMechanismConfig {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
    #[serde(rename = "OAUTHBEARER")]
    OAuthBearer,
    #[serde(rename = "AWS_MSK_IAM")]
    AwsMskIam,
    #[serde(rename = "GSSAPI")]
    Gssapi,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    #[serde(default)]
    pub key_password: Option<Secret>,
    #[serde(default = "defaults::yes")]
    pub verify: bool,
}

/// `clusters[].client`: the native protocol client (batched group offsets,
/// the default) or librdkafka (for what only it covers: `properties`,
/// encrypted private keys).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ClientChoice {
    Librdkafka,
    Native,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IsolationConfig {
    #[default]
    ReadUncommitted,
    ReadCommitted,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub deny: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// `clustername` (kafka-lag-go drop-in, default) or `cluster`.
    #[serde(default = "defaults::cluster_label")]
    pub cluster_label: String,
    /// Constant labels added to every lag series.
    #[serde(default)]
    pub extra_labels: BTreeMap<String, String>,
    /// Emit `kafka_consumer_group_member_partitions`, one series per group
    /// member (off by default: its cardinality follows consumer instances).
    #[serde(default)]
    pub member_series: bool,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        Self { cluster_label: defaults::cluster_label(), extra_labels: BTreeMap::new(), member_series: false }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Serves `/metrics`, `/healthz` and `/readyz`.
    #[serde(default = "defaults::listen")]
    pub listen: SocketAddr,
    /// Serve Burrow's v3 read API (`/v3/kafka/...`) and publish every owned
    /// group's evaluation to the shared store for it.
    #[serde(default = "defaults::burrow_api")]
    pub burrow_api: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { listen: defaults::listen(), burrow_api: defaults::burrow_api() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter (`info`, `lagring=debug,info`); `RUST_LOG` overrides it.
    #[serde(default = "defaults::log_level")]
    pub level: String,
    #[serde(default)]
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: defaults::log_level(), format: LogFormat::default() }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

mod defaults {
    use std::net::SocketAddr;
    use std::time::Duration;

    pub fn interval() -> Duration {
        Duration::from_secs(30)
    }
    pub fn heartbeat_interval() -> Duration {
        Duration::from_secs(2)
    }
    pub fn node_ttl() -> Duration {
        Duration::from_secs(10)
    }
    pub fn shutdown_timeout() -> Duration {
        Duration::from_secs(60)
    }
    pub fn leave_cluster_after_failures() -> u32 {
        2
    }
    pub fn request_timeout() -> Duration {
        Duration::from_secs(10)
    }
    pub fn virtual_nodes() -> u32 {
        128
    }
    pub fn max_in_flight() -> usize {
        32
    }
    pub fn yes() -> bool {
        true
    }
    pub fn cluster_label() -> String {
        "clustername".to_owned()
    }
    pub fn listen() -> SocketAddr {
        SocketAddr::from(([0, 0, 0, 0], 9100))
    }
    pub fn burrow_api() -> bool {
        true
    }
    pub fn log_level() -> String {
        "info".to_owned()
    }
}
