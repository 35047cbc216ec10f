//! [`RedisEvaluationStore`]: latest evaluations in Redis, over its own
//! [`LazyConnection`] (like the history store), so a Redis outage costs the
//! read API its answers and nothing else.
//!
//! Keys share the coordination keys' hash tag `{<namespace>}` (one Redis
//! Cluster slot, so one script may write many):
//! - `{ns}:eval:<kind>:<cluster>/<name>`: the value, `SET ... PX ttl`;
//! - `{ns}:eval:<kind>-index:<cluster>`: sorted set of the names, scored by
//!   their expiry (server clock, ms), so listing a cluster's names never
//!   scans the keyspace; expired names are pruned at every publish.
//!
//! Cluster and record names are escaped (`%` → `%25`, `/` → `%2F`) so that
//! a `/` in a name cannot make two keys collide.

use std::time::Duration;

use redis::Script;

use super::{EvaluationStore, Listed, Published, RecordKind};
use crate::redis_store::LazyConnection;
use crate::{RedisConfig, StoreError, StoreFuture};

/// Records per script call: 10,000 groups take 10 calls, all pipelined into
/// one round trip.
pub const PUBLISH_BATCH: usize = 1_000;

/// Value bytes per script call, whatever the count: a call of a few MB
/// keeps Redis busy for milliseconds, so heartbeats and leases never wait
/// long behind a publish. A single larger value gets a call of its own.
pub const PUBLISH_BATCH_BYTES: usize = 4 << 20;

/// Writes KEYS[2..] (values ARGV[n+2..]) with expiry ARGV[1] ms, indexes
/// their names (ARGV[2..n+1]) in the sorted set KEYS[1] by expiry on the
/// server clock, prunes expired names and keeps the index alive as long as
/// its newest record. Returns the number written.
const PUBLISH_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local n = #KEYS - 1
for i = 1, n do
  redis.call('SET', KEYS[i + 1], ARGV[n + 1 + i], 'PX', ttl)
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[i + 1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return n
";

/// Up to ARGV[1] names of the index KEYS[1] not yet expired (server clock).
const NAMES_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'LIMIT', 0, tonumber(ARGV[1]))
";

/// Latest evaluations in Redis.
#[derive(Debug)]
pub struct RedisEvaluationStore {
    conn: LazyConnection,
    prefix: String,
    publish: Script,
    names: Script,
}

impl RedisEvaluationStore {
    /// Validates the config and prepares the client; connects on first use.
    pub fn new(config: &RedisConfig) -> Result<Self, StoreError> {
        Ok(Self {
            conn: LazyConnection::new(config)?,
            prefix: format!("{{{}}}:eval:", config.namespace),
            publish: Script::new(PUBLISH_LUA),
            names: Script::new(NAMES_LUA),
        })
    }

    fn key(&self, cluster: &str, kind: RecordKind, name: &str) -> String {
        format!("{}{}:{}/{}", self.prefix, kind.as_str(), escape(cluster), escape(name))
    }

    fn index(&self, cluster: &str, kind: RecordKind) -> String {
        format!("{}{}-index:{}", self.prefix, kind.as_str(), escape(cluster))
    }

    async fn publish_all(&self, cluster: &str, records: &[Published], ttl: Duration) -> Result<(), StoreError> {
        const OP: &str = "publish_evaluations";
        if records.is_empty() {
            return Ok(());
        }
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut invocations = Vec::new();
        for kind in [RecordKind::Group, RecordKind::Topic, RecordKind::Probe] {
            let of_kind: Vec<&Published> = records.iter().filter(|r| r.kind == kind).collect();
            for batch in batches(&of_kind) {
                let mut invocation = self.publish.prepare_invoke();
                invocation.key(self.index(cluster, kind));
                for r in batch {
                    invocation.key(self.key(cluster, kind, &r.name));
                }
                invocation.arg(ttl_ms);
                for r in batch {
                    invocation.arg(r.name.as_str());
                }
                for r in batch {
                    invocation.arg(r.value.as_str());
                }
                invocations.push(invocation);
            }
        }
        let mut pipe = redis::pipe();
        for invocation in &invocations {
            pipe.invoke_script(invocation);
        }
        let mut conn = self.conn.get().await?;
        let written: Vec<i64> = match self.conn.bounded(OP, pipe.query_async(&mut conn)).await {
            Err(StoreError::Redis { ref source, .. })
                if source.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
            {
                // Redis restarted or flushed its scripts: load it, send again.
                self.conn.bounded(OP, self.publish.load_async(&mut conn)).await?;
                self.conn.bounded(OP, pipe.query_async(&mut conn)).await?
            }
            other => other?,
        };
        let total: i64 = written.iter().sum();
        if usize::try_from(total).ok() != Some(records.len()) {
            let detail = format!("{total} records written of {}", records.len());
            return Err(StoreError::Protocol { op: OP, detail });
        }
        Ok(())
    }
}

/// Consecutive runs of `records` of at most [`PUBLISH_BATCH`] records and
/// [`PUBLISH_BATCH_BYTES`] value bytes (a larger record alone).
fn batches<'r, 'a>(records: &'r [&'a Published]) -> impl Iterator<Item = &'r [&'a Published]> {
    let mut rest = records;
    std::iter::from_fn(move || {
        let (mut taken, mut bytes) = (0usize, 0usize);
        for r in rest.iter().take(PUBLISH_BATCH) {
            if taken > 0 && bytes + r.value.len() > PUBLISH_BATCH_BYTES {
                break;
            }
            taken += 1;
            bytes += r.value.len();
        }
        let (batch, tail) = rest.split_at_checked(taken)?;
        rest = tail;
        (!batch.is_empty()).then_some(batch)
    })
}

fn escape(name: &str) -> String {
    name.replace('%', "%25").replace('/', "%2F")
}

impl EvaluationStore for RedisEvaluationStore {
    fn publish<'a>(&'a self, cluster: &'a str, records: &'a [Published], ttl: Duration) -> StoreFuture<'a, ()> {
        Box::pin(self.publish_all(cluster, records, ttl))
    }

    fn read<'a>(&'a self, cluster: &'a str, kind: RecordKind, name: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move {
            let mut conn = self.conn.get().await?;
            let get = redis::cmd("GET").arg(self.key(cluster, kind, name)).clone();
            self.conn.bounded("read_evaluation", get.query_async(&mut conn)).await
        })
    }

    fn names<'a>(&'a self, cluster: &'a str, kind: RecordKind, limit: usize) -> StoreFuture<'a, Listed> {
        Box::pin(async move {
            let mut conn = self.conn.get().await?;
            let mut invocation = self.names.prepare_invoke();
            invocation.key(self.index(cluster, kind)).arg(limit.saturating_add(1));
            let mut names: Vec<String> =
                self.conn.bounded("list_evaluations", invocation.invoke_async(&mut conn)).await?;
            let truncated = names.len() > limit;
            names.truncate(limit);
            names.sort_unstable();
            Ok(Listed { names, truncated })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_bounded_by_count_and_bytes() {
        let record = |len: usize| Published { kind: RecordKind::Group, name: String::new(), value: "x".repeat(len) };
        let small: Vec<Published> = (0..2_500).map(|_| record(10)).collect();
        let refs: Vec<&Published> = small.iter().collect();
        assert_eq!(batches(&refs).map(<[_]>::len).collect::<Vec<_>>(), vec![1_000, 1_000, 500]);
        let big = [record(3 << 20), record(3 << 20), record(1), record(5 << 20), record(1)];
        let refs: Vec<&Published> = big.iter().collect();
        assert_eq!(batches(&refs).map(<[_]>::len).collect::<Vec<_>>(), vec![1, 2, 1, 1]);
        assert_eq!(batches(&[]).count(), 0);
    }
}
