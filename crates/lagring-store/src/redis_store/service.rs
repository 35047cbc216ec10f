//! [`RedisStore`]: every store operation as a `redis::Script` call (or a
//! plain `MGET`) over a [`LazyConnection`] (made on first use, reconnecting,
//! every round trip bounded). Lease
//! operations are chunked into [`LEASE_BATCH`] keys per script call, and every
//! script call is counted ([`RedisStore::lua_calls`]) so tests can prove the
//! batching.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::{FromRedisValue, Script};

use super::scripts::{Keys, Scripts};
use super::{LazyConnection, RedisConfig};
use crate::StoreError;
use crate::store::{
    ClaimOutcome, CoordinationStore, Epoch, HandOver, Heartbeat, HeartbeatOutcome, LeaseClaim, LeaseHandOver,
    Membership, NodeIdentity, NodeInfo, NodeStatus, StoreFuture,
};

/// Whether the Redis server the store writes to (in Sentinel mode the master
/// the Sentinels name) refuses writes while too few replicas are in sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicaWrites {
    /// `min-replicas-to-write` is this many (at least 1).
    Required(u64),
    /// `min-replicas-to-write` is 0: writes go through with no replica at all.
    NotRequired,
    /// The server refused `CONFIG GET` (an ACL without `config`, a renamed
    /// command): its answer.
    NotPermitted(String),
}

/// Keys per lease script call: large enough that 10,000 groups take 10 round
/// trips, small enough that one script does not block Redis for long.
pub const LEASE_BATCH: usize = 1_000;

/// Membership and leases in Redis.
#[derive(Debug)]
pub struct RedisStore {
    conn: LazyConnection,
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
        Ok(Self {
            conn: LazyConnection::new(config)?,
            keys: Keys::new(&config.namespace),
            scripts: Scripts::new(),
            lua_calls: AtomicU64::new(0),
        })
    }

    /// Like [`RedisStore::new`], then connects at once (fails if Redis is down).
    pub async fn connect(config: &RedisConfig) -> Result<Self, StoreError> {
        let store = Self::new(config)?;
        store.conn.get().await?;
        Ok(store)
    }

    /// Reads `min-replicas-to-write` from the server the store writes to.
    pub async fn replica_writes(&self) -> Result<ReplicaWrites, StoreError> {
        const OP: &str = "config_get";
        const PARAM: &str = "min-replicas-to-write";
        let mut conn = self.conn.get().await?;
        let get = redis::cmd("CONFIG").arg("GET").arg(PARAM).clone();
        let reply: Result<HashMap<String, String>, StoreError> =
            self.conn.bounded(OP, get.query_async(&mut conn)).await;
        let config = match reply {
            Ok(config) => config,
            Err(StoreError::Redis { source, .. }) if source.code().is_some() => {
                return Ok(ReplicaWrites::NotPermitted(source.to_string()));
            }
            Err(e) => return Err(e),
        };
        let value = config
            .get(PARAM)
            .ok_or_else(|| StoreError::Protocol { op: OP, detail: format!("no {PARAM} in {config:?}") })?;
        let required: u64 =
            value.parse().map_err(|e| StoreError::Protocol { op: OP, detail: format!("{PARAM} {value:?}: {e}") })?;
        Ok(if required == 0 { ReplicaWrites::NotRequired } else { ReplicaWrites::Required(required) })
    }

    /// Script calls made so far (each one a round trip).
    pub fn lua_calls(&self) -> u64 {
        self.lua_calls.load(Ordering::Relaxed)
    }

    async fn run<T: FromRedisValue>(
        &self,
        op: &'static str,
        script: &Script,
        keys: &[String],
        args: &[String],
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.get().await?;
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        for arg in args {
            invocation.arg(arg);
        }
        self.lua_calls.fetch_add(1, Ordering::Relaxed);
        self.conn.bounded(op, invocation.invoke_async(&mut conn)).await
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

    /// Claims chunk by chunk, each chunk checked against `epoch` in its own
    /// script call; stops at the first chunk the store refuses.
    async fn claim(
        &self,
        node: &NodeIdentity,
        keys: &[String],
        ttl: Duration,
        slot: u64,
        epoch: &str,
    ) -> Result<ClaimOutcome, StoreError> {
        const OP: &str = "claim_leases";
        let me = node.holder();
        let fresh_epoch = format!("{:016x}", rand::random::<u64>());
        let args = [me.clone(), node.id.clone(), ttl_ms(ttl), slot.to_string(), epoch.to_owned(), fresh_epoch];
        let mut outcome = ClaimOutcome::default();
        for chunk in keys.chunks(LEASE_BATCH) {
            let script_keys: Vec<String> =
                std::iter::once(self.keys.epoch()).chain(chunk.iter().map(|k| self.keys.lease(k))).collect();
            let (current, values): (String, Vec<String>) =
                self.run(OP, &self.scripts.claim, &script_keys, &args).await?;
            if current != epoch {
                tracing::debug!(node = %node, seen = %epoch, current = %current, "lease claim refused: the store's epoch changed since the last heartbeat");
                outcome.epoch_changed = Some(current);
                break;
            }
            if values.len() != chunk.len() {
                let detail = format!("{} holders for {} keys", values.len(), chunk.len());
                return Err(StoreError::Protocol { op: OP, detail });
            }
            for (key, value) in chunk.iter().zip(values) {
                if value == me {
                    outcome.held.push(key.clone());
                } else {
                    outcome.held_by_others.push((key.clone(), value));
                }
            }
        }
        tracing::debug!(node = %node, requested = keys.len(), held = outcome.held.len(), "claimed leases");
        Ok(outcome)
    }

    async fn hand_over(&self, node: &NodeIdentity, leases: &[HandOver], last_slot: u64) -> Result<u64, StoreError> {
        let mut marked = 0;
        for chunk in leases.chunks(LEASE_BATCH) {
            let lease_keys: Vec<String> = chunk.iter().map(|h| self.keys.lease(&h.key)).collect();
            let successors = chunk.iter().map(|h| h.successor.clone().unwrap_or_default());
            let args: Vec<String> = [node.holder(), last_slot.to_string()].into_iter().chain(successors).collect();
            let n: u64 = self.run("hand_over_leases", &self.scripts.hand_over, &lease_keys, &args).await?;
            marked += n;
        }
        Ok(marked)
    }

    /// Runs `script` over `keys` as lease keys in chunks of [`LEASE_BATCH`]
    /// and adds up the counts it returns.
    async fn count_per_chunk(
        &self,
        op: &'static str,
        script: &Script,
        keys: &[String],
        args: &[String],
    ) -> Result<u64, StoreError> {
        let mut total = 0;
        for chunk in keys.chunks(LEASE_BATCH) {
            let lease_keys: Vec<String> = chunk.iter().map(|k| self.keys.lease(k)).collect();
            let n: u64 = self.run(op, script, &lease_keys, args).await?;
            total += n;
        }
        Ok(total)
    }

    async fn holders(&self, keys: &[String]) -> Result<Vec<Option<String>>, StoreError> {
        let mut conn = self.conn.get().await?;
        let mut holders = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(LEASE_BATCH) {
            let lease_keys: Vec<String> = chunk.iter().map(|k| self.keys.lease(k)).collect();
            let mget = redis::cmd("MGET").arg(&lease_keys).clone();
            let part: Vec<Option<String>> = self.conn.bounded("lease_holders", mget.query_async(&mut conn)).await?;
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
    fn beat<'a>(&'a self, heartbeat: Heartbeat<'a>) -> StoreFuture<'a, HeartbeatOutcome> {
        let Heartbeat { node, ttl, status } = heartbeat;
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

    fn claim_for_slot<'a>(&'a self, claim: LeaseClaim<'a>) -> StoreFuture<'a, ClaimOutcome> {
        Box::pin(self.claim(claim.node, claim.keys, claim.ttl, claim.slot, claim.epoch))
    }

    fn mark_handed_over<'a>(&'a self, hand_over: LeaseHandOver<'a>) -> StoreFuture<'a, u64> {
        Box::pin(self.hand_over(hand_over.node, hand_over.leases, hand_over.last_slot))
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
