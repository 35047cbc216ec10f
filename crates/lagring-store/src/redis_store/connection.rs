//! [`LazyConnection`]: the reconnecting Redis connection both Redis stores
//! (coordination and offset history) use, each its own.
//!
//! The connection is made lazily on first use, so a node that starts while
//! Redis is down comes up degraded instead of crash-looping; after that the
//! manager reconnects in the background with exponential backoff. Every
//! round trip, including any reconnect it waits for, is bounded by the
//! config's connect + command timeouts.
//!
//! In Sentinel mode a failed round trip (connection lost, timeout, or a
//! `READONLY` reply from a demoted master) drops the connection, so the next
//! one asks the Sentinels for the current master instead of reconnecting to
//! the old address. Cluster mode follows redirects inside the cluster client.

use std::future::Future;
use std::time::Duration;

use redis::aio::ConnectionManagerConfig;
use redis::{RedisError, ServerErrorKind};

use super::RedisConfig;
use super::target::{RedisConnection, RedisTarget};
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
    target: RedisTarget,
    manager_config: ConnectionManagerConfig,
    /// The connection once made; `None` until then and after a Sentinel-mode
    /// failure. A tokio mutex: held across the (bounded) connect, so
    /// concurrent callers wait for one connect instead of racing.
    conn: tokio::sync::Mutex<Option<RedisConnection>>,
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
            target: RedisTarget::new(config)?,
            manager_config,
            conn: tokio::sync::Mutex::new(None),
            addr: config.display_url(),
            round_trip_timeout: config.connect_timeout + config.command_timeout,
        })
    }

    /// The connection (a cheap clone of the shared one), made if needed.
    pub(crate) async fn get(&self) -> Result<RedisConnection, StoreError> {
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let connect = self.target.connect(&self.manager_config);
        let conn = match tokio::time::timeout(self.round_trip_timeout, connect).await {
            Ok(conn) => conn.map_err(|source| StoreError::Connect { addr: self.addr.clone(), source })?,
            Err(_) => return Err(StoreError::Timeout { op: "connect", after: self.round_trip_timeout }),
        };
        Ok(slot.insert(conn).clone())
    }

    /// Runs one round trip `call` of operation `op` within the bound.
    pub(crate) async fn bounded<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        let outcome = match tokio::time::timeout(self.round_trip_timeout, call).await {
            Ok(reply) => reply.map_err(|source| (is_lost_master(&source), StoreError::redis(op)(source))),
            Err(_) => Err((true, StoreError::Timeout { op, after: self.round_trip_timeout })),
        };
        outcome.map_err(|(lost_master, error)| {
            if lost_master && self.target.rediscovers_on_failure() {
                self.forget_connection();
            }
            error
        })
    }

    /// Drops the connection so the next round trip asks the Sentinels again.
    fn forget_connection(&self) {
        // Contended only by a connect in progress, which makes a fresh one anyway.
        if let Ok(mut slot) = self.conn.try_lock()
            && slot.take().is_some()
        {
            tracing::warn!(addr = %self.addr, "lost the redis master; asking the sentinels again on the next call");
        }
    }
}

/// Errors after which the master may have moved: the connection failed, or
/// the server says it is now a read-only replica.
fn is_lost_master(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || error.kind() == redis::ErrorKind::Server(ServerErrorKind::ReadOnly)
}
