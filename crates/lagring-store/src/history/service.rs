//! [`RedisHistoryStore`]: the history store of a fleet, one Lua call per
//! [`HISTORY_BATCH`] partitions, all calls of one append pipelined into one
//! round trip, over its own reconnecting connection.
//!
//! The connection is a [`LazyConnection`] like the coordination store's (its
//! own, with the same timeouts), so a node that starts while Redis is down
//! keeps computing offset lag and only misses time lag until Redis is back.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lagring_core::history::{AppendOutcome, HistoryPolicy};

use super::encoding::{decode, pack};
use super::scripts::{HistoryKeys, append_script};
use super::{HistoryPolicies, HistoryStore, Points, Recorded, SlotPoints};
use crate::redis_store::LazyConnection;
use crate::{RedisConfig, StoreError, StoreFuture};

/// Partitions per script call: 100,000 partitions take 100 calls (pipelined
/// into one round trip), and one call keeps Redis busy for about 13 ms when
/// every history is full (1,000 × 2 KB read, rewritten and returned; measured
/// on redis 7.0), short enough not to delay heartbeats and leases noticeably.
pub const HISTORY_BATCH: usize = 1_000;

/// Offset histories in Redis.
#[derive(Debug)]
pub struct RedisHistoryStore {
    conn: LazyConnection,
    keys: HistoryKeys,
    append: redis::Script,
    policies: HistoryPolicies,
    lua_calls: AtomicU64,
    round_trips: AtomicU64,
}

impl RedisHistoryStore {
    /// Validates the config and prepares the client; connects on first use.
    pub fn new(config: &RedisConfig, policies: HistoryPolicies) -> Result<Self, StoreError> {
        Ok(Self {
            conn: LazyConnection::new(config)?,
            keys: HistoryKeys::new(&config.namespace),
            append: append_script(),
            policies,
            lua_calls: AtomicU64::new(0),
            round_trips: AtomicU64::new(0),
        })
    }

    /// Script calls made so far (each one a round trip).
    pub fn lua_calls(&self) -> u64 {
        self.lua_calls.load(Ordering::Relaxed)
    }

    /// Network round trips made so far (a call's script batches share one).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// Appends `offsets[i]` to the history at `keys[i]`: one script call per
    /// [`HISTORY_BATCH`] keys, all of them sent in one pipeline, so a call
    /// costs one round trip (two the first time Redis meets the script).
    async fn record(
        &self,
        op: &'static str,
        policy: &HistoryPolicy,
        at_ms: i64,
        keys: Vec<String>,
        offsets: Vec<i64>,
    ) -> Result<Vec<Recorded>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.get().await?;
        let invocations: Vec<redis::ScriptInvocation<'_>> = keys
            .chunks(HISTORY_BATCH)
            .zip(offsets.chunks(HISTORY_BATCH))
            .map(|(keys, offsets)| {
                let mut invocation = self.append.prepare_invoke();
                for key in keys {
                    invocation.key(key);
                }
                let packed: Vec<u8> = offsets.iter().flat_map(|&o| pack(o)).collect();
                invocation
                    .arg(&pack(at_ms)[..])
                    .arg(policy.max_points())
                    .arg(policy.max_age_ms())
                    .arg(policy.expiry_ms())
                    .arg(packed);
                invocation
            })
            .collect();
        let mut pipe = redis::pipe();
        for invocation in &invocations {
            pipe.invoke_script(invocation);
        }
        self.lua_calls.fetch_add(invocations.len() as u64, Ordering::Relaxed);
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        let replies: Vec<Vec<(i64, Vec<u8>)>> = match self.conn.bounded(op, pipe.query_async(&mut conn)).await {
            Err(StoreError::Redis { ref source, .. })
                if source.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
            {
                // Redis restarted or flushed its scripts: load it, send again.
                self.round_trips.fetch_add(2, Ordering::Relaxed);
                self.conn.bounded(op, self.append.load_async(&mut conn)).await?;
                self.conn.bounded(op, pipe.query_async(&mut conn)).await?
            }
            other => other?,
        };
        if replies.len() != invocations.len() {
            let detail = format!("{} script replies for {} calls", replies.len(), invocations.len());
            return Err(StoreError::Protocol { op, detail });
        }
        let mut recorded = Vec::with_capacity(keys.len());
        for (reply, keys) in replies.into_iter().zip(keys.chunks(HISTORY_BATCH)) {
            if reply.len() != keys.len() {
                let detail = format!("{} histories for {} keys", reply.len(), keys.len());
                return Err(StoreError::Protocol { op, detail });
            }
            for ((code, value), key) in reply.into_iter().zip(keys) {
                let outcome =
                    outcome(code).ok_or_else(|| StoreError::Protocol { op, detail: format!("outcome {code}") })?;
                let history = decode(&value)
                    .map_err(|e| StoreError::Protocol { op, detail: format!("history at {key}: {e}") })?;
                recorded.push(Recorded { outcome, history: Arc::new(history) });
            }
        }
        Ok(recorded)
    }
}

/// The script's outcome code.
fn outcome(code: i64) -> Option<AppendOutcome> {
    Some(match code {
        0 => AppendOutcome::Ignored,
        1 => AppendOutcome::Appended,
        2 => AppendOutcome::Extended,
        3 => AppendOutcome::Reset,
        _ => return None,
    })
}

impl HistoryStore for RedisHistoryStore {
    fn append<'a>(&'a self, points: SlotPoints<'a>) -> StoreFuture<'a, Vec<Recorded>> {
        let SlotPoints { cluster, at_ms, offsets } = points;
        Box::pin(async move {
            match offsets {
                Points::End(offsets) => {
                    let keys = offsets.iter().map(|o| self.keys.end(cluster, &o.tp)).collect();
                    let values = offsets.iter().map(|o| o.end).collect();
                    self.record("record_end_offsets", &self.policies.end, at_ms, keys, values).await
                }
                Points::Committed(offsets) => {
                    let keys = offsets.iter().map(|o| self.keys.committed(cluster, &o.group, &o.tp)).collect();
                    let values = offsets.iter().map(|o| o.committed).collect();
                    self.record("record_committed", &self.policies.committed, at_ms, keys, values).await
                }
            }
        })
    }
}
