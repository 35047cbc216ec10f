//! [`RedisTarget`]: what a [`super::LazyConnection`] connects to, one variant
//! per [`RedisMode`], and [`RedisConnection`], the connection it hands out.
//!
//! The stores only need `redis::aio::ConnectionLike`, so the three kinds of
//! connection hide behind one enum: a reconnecting manager for a standalone
//! server, the same for the master the Sentinels name (re-asked after a
//! failover, see `LazyConnection`), and the redirect-following cluster
//! connection for Redis Cluster.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{Client, Cmd, IntoConnectionInfo, Pipeline, RedisFuture, Value};

use super::config::{RedisConfig, RedisMode};
use crate::StoreError;

/// Retries of one cluster request across redirects and reconnects; each is
/// bounded by the round-trip timeout of the caller anyway.
const CLUSTER_RETRIES: u32 = 3;

/// Where to connect.
pub(crate) enum RedisTarget {
    Standalone(Client),
    /// Behind a tokio mutex: asking the Sentinels needs `&mut`.
    Sentinel(tokio::sync::Mutex<SentinelClient>),
    Cluster(ClusterClient),
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Standalone(_) => "Standalone",
            Self::Sentinel(_) => "Sentinel",
            Self::Cluster(_) => "Cluster",
        })
    }
}

impl RedisTarget {
    /// Validates `config` and prepares the client of its mode; no connection yet.
    pub(crate) fn new(config: &RedisConfig) -> Result<Self, StoreError> {
        config.validate()?;
        match config.mode {
            RedisMode::Standalone => Ok(Self::Standalone(config.client()?)),
            RedisMode::Sentinel => Ok(Self::Sentinel(tokio::sync::Mutex::new(sentinel_client(config)?))),
            RedisMode::Cluster => Ok(Self::Cluster(cluster_client(config)?)),
        }
    }

    /// True when a failed round trip should drop the connection so the next
    /// one finds the (possibly new) master again.
    pub(crate) fn rediscovers_on_failure(&self) -> bool {
        matches!(self, Self::Sentinel(_))
    }

    /// Connects (asking the Sentinels first in Sentinel mode).
    pub(crate) async fn connect(&self, manager: &ConnectionManagerConfig) -> redis::RedisResult<RedisConnection> {
        match self {
            Self::Standalone(client) => {
                Ok(RedisConnection::Manager(client.get_connection_manager_with_config(manager.clone()).await?))
            }
            Self::Sentinel(sentinel) => {
                let master = sentinel.lock().await.async_get_client().await?;
                tracing::info!(master = ?master.get_connection_info().addr(), "sentinels named the redis master");
                Ok(RedisConnection::Manager(master.get_connection_manager_with_config(manager.clone()).await?))
            }
            Self::Cluster(client) => Ok(RedisConnection::Cluster(client.get_async_connection().await?)),
        }
    }
}

fn sentinel_client(config: &RedisConfig) -> Result<SentinelClient, StoreError> {
    let invalid = |e: redis::RedisError| StoreError::config("redis.nodes", e.to_string());
    let mut sentinels = Vec::with_capacity(config.nodes.len());
    for node in &config.nodes {
        sentinels.push(node.as_str().into_connection_info().map_err(invalid)?.addr().clone());
    }
    let mut builder = SentinelClientBuilder::new(sentinels, &config.sentinel.master_name, SentinelServerType::Master)
        .map_err(invalid)?;
    if let Some(db) = config.db {
        builder = builder.set_client_to_redis_db(db);
    }
    if let Some(username) = &config.username {
        builder = builder.set_client_to_redis_username(username);
    }
    if let Some(password) = &config.password {
        builder = builder.set_client_to_redis_password(password);
    }
    if let Some(username) = &config.sentinel.username {
        builder = builder.set_client_to_sentinel_username(username);
    }
    if let Some(password) = &config.sentinel.password {
        builder = builder.set_client_to_sentinel_password(password);
    }
    builder.build().map_err(invalid)
}

fn cluster_client(config: &RedisConfig) -> Result<ClusterClient, StoreError> {
    let mut builder = ClusterClientBuilder::new(config.nodes.iter().map(String::as_str))
        .connection_timeout(config.connect_timeout)
        .response_timeout(config.command_timeout)
        .retries(CLUSTER_RETRIES)
        .max_retry_wait(u64::try_from(Duration::from_millis(500).as_millis()).unwrap_or(500));
    if let Some(username) = &config.username {
        builder = builder.username(username);
    }
    if let Some(password) = &config.password {
        builder = builder.password(password);
    }
    builder.build().map_err(|e| StoreError::config("redis.nodes", e.to_string()))
}

/// A connection of any mode; cheap to clone.
#[derive(Clone)]
pub(crate) enum RedisConnection {
    Manager(ConnectionManager),
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Manager(_) => "RedisConnection::Manager",
            Self::Cluster(_) => "RedisConnection::Cluster",
        })
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Manager(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Manager(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Manager(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}
