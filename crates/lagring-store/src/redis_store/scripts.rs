//! Key layout and the Lua scripts that make each store operation one atomic
//! round trip on the Redis server's clock.
//!
//! Keys (all share the hash tag `{<namespace>}`, so Redis Cluster puts them in
//! one slot and multi-key scripts are legal):
//! - `{ns}:nodes`: sorted set, member = node id, score = expiry in server ms.
//! - `{ns}:heartbeats`: hash, node id → last heartbeat in server ms.
//! - `{ns}:owned`: hash, node id → owned group count from its last heartbeat.
//! - `{ns}:lease:<cluster>/<group>`: string holding the holder's node id,
//!   expiring by `PX` (so the server clock frees it).

use redis::Script;

/// Key names under one namespace.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(namespace: &str) -> Self {
        Self { prefix: format!("{{{namespace}}}:") }
    }

    pub(crate) fn nodes(&self) -> String {
        format!("{}nodes", self.prefix)
    }

    pub(crate) fn heartbeats(&self) -> String {
        format!("{}heartbeats", self.prefix)
    }

    pub(crate) fn owned(&self) -> String {
        format!("{}owned", self.prefix)
    }

    pub(crate) fn lease(&self, key: &str) -> String {
        format!("{}lease:{key}", self.prefix)
    }
}

/// Shared Lua: server time in ms, and the live set as `{id, last_ms, owned}` rows.
const LIVE_SET_LUA: &str = r"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function live_set(now)
  local rows = {}
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do
    local last = tonumber(redis.call('HGET', KEYS[2], id) or now)
    local owned = tonumber(redis.call('HGET', KEYS[3], id) or 0)
    rows[#rows + 1] = {id, last, owned}
  end
  return rows
end
";

/// KEYS: nodes, heartbeats, owned. ARGV: node id, ttl ms, owned count.
/// Returns `{now_ms, rows}`.
const HEARTBEAT_BODY: &str = r"
local now = now_ms()
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], now)
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, id in ipairs(dead) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
end
return {now, live_set(now)}
";

/// KEYS: nodes, heartbeats, owned. Read only. Returns `{now_ms, rows}`.
const MEMBERSHIP_BODY: &str = r"
local now = now_ms()
return {now, live_set(now)}
";

/// KEYS: nodes, heartbeats, owned. ARGV: node id.
const DEREGISTER_LUA: &str = r"
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
";

/// KEYS: lease keys. ARGV: node id, ttl ms. Claims free keys, renews own
/// ones, and returns the holder of every key after the call, in KEYS order.
const CLAIM_LUA: &str = r"
local holders = {}
for i, key in ipairs(KEYS) do
  local holder = redis.call('GET', key)
  if not holder then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    holder = ARGV[1]
  elseif holder == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
  end
  holders[i] = holder
end
return holders
";

/// KEYS: lease keys. ARGV: node id. Deletes only leases held by that node.
const RELEASE_LUA: &str = r"
local released = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
    released = released + 1
  end
end
return released
";

/// KEYS: lease keys. ARGV: node id, ttl ms. Extends only leases that node
/// holds; never claims a free key (a key released a moment ago stays free for
/// its new owner). Returns how many were renewed.
const RENEW_LUA: &str = r"
local renewed = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    renewed = renewed + 1
  end
end
return renewed
";

/// The loaded-on-demand scripts (`invoke_async` retries after NOSCRIPT).
#[derive(Debug)]
pub(crate) struct Scripts {
    pub(crate) heartbeat: Script,
    pub(crate) membership: Script,
    pub(crate) deregister: Script,
    pub(crate) claim: Script,
    pub(crate) release: Script,
    pub(crate) renew: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        Self {
            heartbeat: Script::new(&format!("{LIVE_SET_LUA}{HEARTBEAT_BODY}")),
            membership: Script::new(&format!("{LIVE_SET_LUA}{MEMBERSHIP_BODY}")),
            deregister: Script::new(DEREGISTER_LUA),
            claim: Script::new(CLAIM_LUA),
            release: Script::new(RELEASE_LUA),
            renew: Script::new(RENEW_LUA),
        }
    }
}
