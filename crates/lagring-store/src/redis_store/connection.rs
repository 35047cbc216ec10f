//! [`LazyConnection`]: the reconnecting Redis connection both Redis stores
//! (coordination and offset history) use, each its own.
//!
//! The connection is made lazily on first use, so a node that starts while
//! Redis is down comes up degraded instead of crash-looping; after that the
//! manager reconnects in the background with exponential backoff. Every
//! round trip, including any reconnect it waits for, is bounded by the
//! config's connect + command timeouts.

use std::future::Future;
use std::time::Duration;

use redis::Client;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use super::RedisConfig;
use crate::StoreError;

/// Cap on the reconnect backoff, so a restarted Redis is found within seconds.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);

/// Connection attempts per reconnect. Callers wait for the whole sequence,
/// so it stays short: during an outage calls must fail fast (the tracker then
/// rides on its leases) and the next call starts a fresh reconnect anyway.
const RECONNECT_ATTEMPTS: usize = 2;

/// A Redis connection made on first use and kept reconnecting.
#[derive(Debug)]
pub(crate) struct LazyConnection {
    client: Client,
    manager_config: ConnectionManagerConfig,
    conn: OnceCell<ConnectionManager>,
    addr: String,
    /// Bound on one round trip including any reconnect it waits for.
    round_trip_timeout: Duration,
}

impl LazyConnection {
    /// Validates the config and prepares the client; connects on first use.
    pub(crate) fn new(config: &RedisConfig) -> Result<Self, StoreError> {
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.command_timeout))
            .set_max_delay(MAX_RECONNECT_DELAY)
            .set_number_of_retries(RECONNECT_ATTEMPTS);
        Ok(Self {
            client: config.client()?,
            manager_config,
            conn: OnceCell::new(),
            addr: config.display_url(),
            round_trip_timeout: config.connect_timeout + config.command_timeout,
        })
    }

    /// The connection (a cheap clone of the shared manager).
    pub(crate) async fn get(&self) -> Result<ConnectionManager, StoreError> {
        let manager = self
            .conn
            .get_or_try_init(|| async {
                let connect = self.client.get_connection_manager_with_config(self.manager_config.clone());
                match tokio::time::timeout(self.round_trip_timeout, connect).await {
                    Ok(manager) => manager.map_err(|source| StoreError::Connect { addr: self.addr.clone(), source }),
                    Err(_) => Err(StoreError::Timeout { op: "connect", after: self.round_trip_timeout }),
                }
            })
            .await?;
        Ok(manager.clone())
    }

    /// Runs one round trip `call` of operation `op` within the bound.
    pub(crate) async fn bounded<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.round_trip_timeout, call).await {
            Ok(reply) => reply.map_err(StoreError::redis(op)),
            Err(_) => Err(StoreError::Timeout { op, after: self.round_trip_timeout }),
        }
    }
}
