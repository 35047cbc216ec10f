//! What a node is built from, apart from its configuration: identity,
//! coordination and history stores, how it reaches Kafka, and its HTTP
//! listener. [`NodeParts::from_config`] picks them the way the binary does
//! (Redis when configured, else memory; the configured Kafka client; the
//! configured listen address); a test builds its own — one shared
//! [`MemoryStore`] and history store for three nodes, a connector to the
//! in-process simulator, listeners on port 0 — and runs a whole fleet in one
//! process through [`super::run_with`].

use std::fmt;
use std::sync::Arc;

use anyhow::Context;
use lagring_kafka::KafkaClient;
use lagring_store::{
    CoordinationStore, EvaluationStore, HistoryStore, MemoryStore, NodeIdentity, RedisStore, open_evaluation_store,
    open_history_store,
};
use tokio::net::TcpListener;

use crate::config::{ClusterConfig, Config};

type MakeClient = dyn Fn(&ClusterConfig) -> anyhow::Result<KafkaClient> + Send + Sync;

/// Creates the Kafka client of one configured cluster.
#[derive(Clone)]
pub struct KafkaConnector(Arc<MakeClient>);

impl KafkaConnector {
    /// The client each cluster's configuration asks for (`clusters[].client`).
    pub fn from_config() -> Self {
        Self::new(|c| Ok(KafkaClient::new(&c.name, &c.kafka_connection(), c.client_kind())?))
    }

    /// Any other way of making a cluster's client (a test's simulator, a
    /// client with a different kind than configured).
    pub fn new(make: impl Fn(&ClusterConfig) -> anyhow::Result<KafkaClient> + Send + Sync + 'static) -> Self {
        Self(Arc::new(make))
    }

    pub(super) fn connect(&self, cluster: &ClusterConfig) -> anyhow::Result<KafkaClient> {
        (self.0)(cluster)
    }
}

impl fmt::Debug for KafkaConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KafkaConnector")
    }
}

/// The parts of one node.
#[derive(Debug)]
pub struct NodeParts {
    /// Node id and this process's incarnation.
    pub identity: NodeIdentity,
    /// Membership, leases and the epoch (Redis in a fleet).
    pub store: Arc<dyn CoordinationStore>,
    /// End and committed offset histories (shared by the fleet).
    pub history: Arc<dyn HistoryStore>,
    /// Latest group evaluations, which any node serves (Burrow's read API).
    pub evaluations: Arc<dyn EvaluationStore>,
    pub kafka: KafkaConnector,
    /// `/metrics`, `/healthz` and the other endpoints.
    pub listener: TcpListener,
}

impl NodeParts {
    /// The parts the configuration names: Redis when `redis:` is set (fleet
    /// mode), else the in-memory stores (this node owns everything).
    pub async fn from_config(cfg: &Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(cfg.http.listen)
            .await
            .with_context(|| format!("http.listen: cannot bind {}", cfg.http.listen))?;
        let time_lag = cfg.time_lag_settings().map_err(|problems| anyhow::anyhow!(problems.join("; ")))?;
        let store: Arc<dyn CoordinationStore> = match &cfg.redis {
            Some(redis) => {
                let store = RedisStore::new(redis).context("redis")?;
                tracing::info!(url = %redis.display_url(), "fleet mode: coordinating through redis");
                Arc::new(store)
            }
            None => {
                tracing::info!("single-node mode: no redis configured, this node owns every group");
                Arc::new(MemoryStore::new())
            }
        };
        let history = open_history_store(cfg.redis.as_ref(), time_lag.histories).context("redis")?;
        let evaluations = open_evaluation_store(cfg.redis.as_ref()).context("redis")?;
        Ok(Self {
            identity: NodeIdentity::new(cfg.node_id()),
            store,
            history,
            evaluations,
            kafka: KafkaConnector::from_config(),
            listener,
        })
    }
}
