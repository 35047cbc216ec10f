//! [`RedisStore`]: every store operation as a `redis::Script` call (or a
//! plain `MGET`) over a reconnecting `ConnectionManager`.
//!
//! The connection is made lazily on first use, so a node that starts while
//! Redis is down comes up degraded instead of crash-looping; after that the
//! manager reconnects in the background with exponential backoff. Lease
//! operations are chunked into [`LEASE_BATCH`] keys per script call, and every
//! script call is counted ([`RedisStore::lua_calls`]) so tests can prove the
//! batching.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, FromRedisValue, Script};
use tokio::sync::OnceCell;

use super::RedisConfig;
use super::scripts::{Keys, Scripts};
use crate::StoreError;
use crate::store::{
    ClaimOutcome, CoordinationStore, Epoch, HeartbeatOutcome, Membership, NodeIdentity, NodeInfo, NodeStatus,
    StoreFuture,
};

/// Keys per lease script call: large enough that 10,000 groups take 10 round
/// trips, small enough that one script does not block Redis for long.
pub const LEASE_BATCH: usize = 1_000;

/// Cap on the reconnect backoff, so a restarted Redis is found within seconds.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);

/// Connection attempts per reconnect. Callers wait for the whole sequence,
/// so it stays short: during an outage calls must fail fast (the tracker then
/// rides on its leases) and the next call starts a fresh reconnect anyway.
const RECONNECT_ATTEMPTS: usize = 2;

/// Membership and leases in Redis.
#[derive(Debug)]
pub struct RedisStore {
    client: Client,
    manager_config: ConnectionManagerConfig,
    conn: OnceCell<ConnectionManager>,
    addr: String,
    /// Bound on one round trip including any reconnect it waits for.
    round_trip_timeout: Duration,
    keys: Keys,
    scripts: Scripts,
    lua_calls: AtomicU64,
}

/// One live-set row as the scripts return it: id, last heartbeat ms,
/// incarnation, status json.
type LiveRow = (String, i64, String, String);

/// What every membership script returns: server now, `(epoch token, epoch
/// created ms)`, duplicate incarnation (`""` for none), live rows.
type LiveReply = (i64, (String, i64), String, Vec<LiveRow>);

impl RedisStore {
    /// Validates the config and prepares the client; connects on first use.
    pub fn new(config: &RedisConfig) -> Result<Self, StoreError> {
        let client = config.client()?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.command_timeout))
            .set_max_delay(MAX_RECONNECT_DELAY)
            .set_number_of_retries(RECONNECT_ATTEMPTS);
        Ok(Self {
            client,
            manager_config,
            conn: OnceCell::new(),
            addr: config.display_url(),
            round_trip_timeout: config.connect_timeout + config.command_timeout,
            keys: Keys::new(&config.namespace),
            scripts: Scripts::new(),
            lua_calls: AtomicU64::new(0),
        })
    }

    /// Like [`RedisStore::new`], then connects at once (fails if Redis is down).
    pub async fn connect(config: &RedisConfig) -> Result<Self, StoreError> {
        let store = Self::new(config)?;
        store.conn().await?;
        Ok(store)
    }

    /// Script calls made so far (each one a round trip).
    pub fn lua_calls(&self) -> u64 {
        self.lua_calls.load(Ordering::Relaxed)
    }

    async fn conn(&self) -> Result<ConnectionManager, StoreError> {
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

    async fn run<T: FromRedisValue>(
        &self,
        op: &'static str,
        script: &Script,
        keys: &[String],
        args: &[String],
    ) -> Result<T, StoreError> {
        let mut conn = self.conn().await?;
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        for arg in args {
            invocation.arg(arg);
        }
        self.lua_calls.fetch_add(1, Ordering::Relaxed);
        self.bounded(op, invocation.invoke_async(&mut conn)).await
    }

    async fn bounded<T>(
        &self,
        op: &'static str,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.round_trip_timeout, call).await {
            Ok(reply) => reply.map_err(StoreError::redis(op)),
            Err(_) => Err(StoreError::Timeout { op, after: self.round_trip_timeout }),
        }
    }

    async fn live_set(
        &self,
        op: &'static str,
        script: &Script,
        args: &[String],
    ) -> Result<HeartbeatOutcome, StoreError> {
        let (now_ms, (token, created_ms), duplicate, rows): LiveReply =
            self.run(op, script, &self.keys.membership(), args).await?;
        let age = |then_ms: i64| Duration::from_millis(u64::try_from(now_ms.saturating_sub(then_ms)).unwrap_or(0));
        let mut nodes = Vec::with_capacity(rows.len());
        for (id, last_ms, incarnation, status) in rows {
            let status: NodeStatus = serde_json::from_str(&status)
                .map_err(|e| StoreError::Protocol { op, detail: format!("status of node {id}: {e}") })?;
            nodes.push(NodeInfo { id, incarnation, heartbeat_age: age(last_ms), status });
        }
        // The script lists by expiry; the contract is sorted by id.
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        let epoch = Epoch { token, age: age(created_ms) };
        let duplicate_of = (!duplicate.is_empty()).then_some(duplicate);
        Ok(HeartbeatOutcome { membership: Membership { nodes, epoch }, duplicate_of })
    }

    /// Runs `script` over `keys` as lease keys in chunks of [`LEASE_BATCH`],
    /// handing each chunk's reply to `each`.
    async fn per_chunk<T: FromRedisValue>(
        &self,
        op: &'static str,
        script: &Script,
        keys: &[String],
        args: &[String],
        mut each: impl FnMut(&[String], T) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for chunk in keys.chunks(LEASE_BATCH) {
            let lease_keys: Vec<String> = chunk.iter().map(|k| self.keys.lease(k)).collect();
            let reply: T = self.run(op, script, &lease_keys, args).await?;
            each(chunk, reply)?;
        }
        Ok(())
    }

    async fn claim(
        &self,
        node: &NodeIdentity,
        keys: &[String],
        ttl: Duration,
        slot: u64,
    ) -> Result<ClaimOutcome, StoreError> {
        let me = node.holder();
        let args = [me.clone(), ttl_ms(ttl), slot.to_string()];
        let mut outcome = ClaimOutcome::default();
        self.per_chunk("claim_leases", &self.scripts.claim, keys, &args, |chunk, values: Vec<String>| {
            if values.len() != chunk.len() {
                let detail = format!("{} holders for {} keys", values.len(), chunk.len());
                return Err(StoreError::Protocol { op: "claim_leases", detail });
            }
            for (key, value) in chunk.iter().zip(values) {
                if value == me {
                    outcome.held.push(key.clone());
                } else {
                    outcome.held_by_others.push((key.clone(), value));
                }
            }
            Ok(())
        })
        .await?;
        tracing::debug!(node = %node, requested = keys.len(), held = outcome.held.len(), "claimed leases");
        Ok(outcome)
    }

    async fn count_per_chunk(
        &self,
        op: &'static str,
        script: &Script,
        keys: &[String],
        args: &[String],
    ) -> Result<u64, StoreError> {
        let mut total = 0;
        self.per_chunk(op, script, keys, args, |_, n: u64| {
            total += n;
            Ok(())
        })
        .await?;
        Ok(total)
    }

    async fn holders(&self, keys: &[String]) -> Result<Vec<Option<String>>, StoreError> {
        let mut conn = self.conn().await?;
        let mut holders = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(LEASE_BATCH) {
            let lease_keys: Vec<String> = chunk.iter().map(|k| self.keys.lease(k)).collect();
            let mget = redis::cmd("MGET").arg(&lease_keys).clone();
            let part: Vec<Option<String>> = self.bounded("lease_holders", mget.query_async(&mut conn)).await?;
            holders.extend(part);
        }
        Ok(holders)
    }
}

/// A ttl as whole milliseconds, at least 1 (`PX 0` is an error in Redis).
fn ttl_ms(ttl: Duration) -> String {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1).to_string()
}

impl CoordinationStore for RedisStore {
    fn heartbeat<'a>(
        &'a self,
        node: &'a NodeIdentity,
        ttl: Duration,
        status: &'a NodeStatus,
    ) -> StoreFuture<'a, HeartbeatOutcome> {
        Box::pin(async move {
            let status = serde_json::to_string(status)
                .map_err(|e| StoreError::Protocol { op: "heartbeat", detail: format!("encode status: {e}") })?;
            let fresh_epoch = format!("{:016x}", rand::random::<u64>());
            let args = [node.id.clone(), node.incarnation.clone(), ttl_ms(ttl), status, fresh_epoch];
            self.live_set("heartbeat", &self.scripts.heartbeat, &args).await
        })
    }

    fn membership(&self) -> StoreFuture<'_, Membership> {
        Box::pin(async move { Ok(self.live_set("membership", &self.scripts.membership, &[]).await?.membership) })
    }

    fn deregister<'a>(&'a self, node: &'a NodeIdentity) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let args = [node.id.clone(), node.incarnation.clone()];
            let removed: i64 = self.run("deregister", &self.scripts.deregister, &self.keys.membership(), &args).await?;
            tracing::info!(node = %node, removed = removed == 1, "deregistered from redis");
            Ok(())
        })
    }

    fn claim_leases<'a>(
        &'a self,
        node: &'a NodeIdentity,
        keys: &'a [String],
        ttl: Duration,
        slot: u64,
    ) -> StoreFuture<'a, ClaimOutcome> {
        Box::pin(self.claim(node, keys, ttl, slot))
    }

    fn hand_over_leases<'a>(
        &'a self,
        node: &'a NodeIdentity,
        keys: &'a [String],
        last_slot: u64,
    ) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let args = [node.holder(), last_slot.to_string()];
            self.count_per_chunk("hand_over_leases", &self.scripts.hand_over, keys, &args).await
        })
    }

    fn release_leases<'a>(&'a self, node: &'a NodeIdentity, keys: &'a [String]) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let args = [node.holder()];
            self.count_per_chunk("release_leases", &self.scripts.release, keys, &args).await
        })
    }

    fn lease_holders<'a>(&'a self, keys: &'a [String]) -> StoreFuture<'a, Vec<Option<String>>> {
        Box::pin(self.holders(keys))
    }
}
