//! Key layout and the Lua scripts that make each store operation one atomic
//! round trip on the Redis server's clock.
//!
//! Keys (all share the hash tag `{<namespace>}`, so Redis Cluster puts them in
//! one slot and multi-key scripts are legal):
//! - `{ns}:nodes`: sorted set, member = node id, score = expiry in server ms.
//! - `{ns}:heartbeats`: hash, node id → last heartbeat in server ms.
//! - `{ns}:status`: hash, node id → the node's JSON status (owned groups,
//!   leaving, unhealthy clusters).
//! - `{ns}:incarnations`: hash, node id → incarnation of the live process.
//! - `{ns}:epoch`: hash `token`, `created` (server ms), `run_id` (of the Redis
//!   server that created it). A missing key (restart without persistence,
//!   flush, eviction) or a different `run_id` (restart, failover to a replica
//!   that may have lost writes) starts a new epoch.
//! - `{ns}:lease:<cluster>/<group>`: the holder `id#incarnation`, or
//!   `id#incarnation@slot` once handed over after `slot`; expires by `PX`.

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

    /// The keys every membership script takes, in this order.
    pub(crate) fn membership(&self) -> [String; 5] {
        ["nodes", "heartbeats", "status", "incarnations", "epoch"].map(|k| format!("{}{k}", self.prefix))
    }

    pub(crate) fn lease(&self, key: &str) -> String {
        format!("{}lease:{key}", self.prefix)
    }
}

/// Shared Lua: server time in ms, the epoch, and the live set as
/// `{id, last_ms, incarnation, status_json}` rows.
const LIVE_SET_LUA: &str = r"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function live_set(now)
  local rows = {}
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do
    local last = tonumber(redis.call('HGET', KEYS[2], id) or now)
    local inc = redis.call('HGET', KEYS[4], id) or ''
    local status = redis.call('HGET', KEYS[3], id) or '{}'
    rows[#rows + 1] = {id, last, inc, status}
  end
  return rows
end
local function epoch(now)
  local e = redis.call('HMGET', KEYS[5], 'token', 'created')
  return {e[1] or '', tonumber(e[2] or now)}
end
";

/// KEYS: membership keys. ARGV: node id, incarnation, ttl ms, status json,
/// fresh epoch token. Returns `{now_ms, {token, created_ms}, duplicate_of, rows}`;
/// `duplicate_of` is '' unless another live incarnation holds the id (then
/// nothing is written for this node).
const HEARTBEAT_BODY: &str = r"
local now = now_ms()
local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)') or ''
local known = redis.call('HMGET', KEYS[5], 'token', 'run_id')
if (not known[1]) or known[2] ~= run_id then
  redis.call('HSET', KEYS[5], 'token', ARGV[5], 'created', now, 'run_id', run_id)
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
end
local live_inc = redis.call('HGET', KEYS[4], ARGV[1])
local duplicate_of = ''
if live_inc and live_inc ~= ARGV[2] then
  duplicate_of = live_inc
else
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[1], now)
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[4])
  redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
end
return {now, epoch(now), duplicate_of, live_set(now)}
";

/// KEYS: membership keys. Read only. Returns `{now_ms, {token, created_ms}, '', rows}`.
const MEMBERSHIP_BODY: &str = r"
local now = now_ms()
return {now, epoch(now), '', live_set(now)}
";

/// KEYS: membership keys. ARGV: node id, incarnation. Removes the node only
/// when that incarnation is the live one.
const DEREGISTER_LUA: &str = r"
if redis.call('HGET', KEYS[4], ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
return 1
";

/// Shared Lua: splits a lease value into holder and hand-over slot.
const LEASE_VALUE_LUA: &str = r"
local function split(v)
  local at = string.find(v, '@', 1, true)
  if not at then
    return v, nil
  end
  return string.sub(v, 1, at - 1), tonumber(string.sub(v, at + 1))
end
";

/// KEYS: lease keys. ARGV: holder, ttl ms, slot. Claims free keys and keys
/// handed over after an earlier slot, renews own ones, and returns the value
/// of every key after the call, in KEYS order.
const CLAIM_BODY: &str = r"
local slot = tonumber(ARGV[3])
local values = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  local take = not v
  if v then
    local holder, last = split(v)
    take = holder == ARGV[1] or (last ~= nil and last < slot)
  end
  if take then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    v = ARGV[1]
  end
  values[i] = v
end
return values
";

/// KEYS: lease keys. ARGV: holder, last slot. Marks own leases as handed
/// over after that slot (keeping their expiry); returns how many.
const HAND_OVER_BODY: &str = r"
local marked = 0
for _, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  if v and split(v) == ARGV[1] then
    redis.call('SET', key, ARGV[1] .. '@' .. ARGV[2], 'KEEPTTL')
    marked = marked + 1
  end
end
return marked
";

/// KEYS: lease keys. ARGV: holder. Deletes only leases that holder has.
const RELEASE_BODY: &str = r"
local released = 0
for _, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  if v and split(v) == ARGV[1] then
    redis.call('DEL', key)
    released = released + 1
  end
end
return released
";

/// The loaded-on-demand scripts (`invoke_async` retries after NOSCRIPT).
#[derive(Debug)]
pub(crate) struct Scripts {
    pub(crate) heartbeat: Script,
    pub(crate) membership: Script,
    pub(crate) deregister: Script,
    pub(crate) claim: Script,
    pub(crate) hand_over: Script,
    pub(crate) release: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        Self {
            heartbeat: Script::new(&format!("{LIVE_SET_LUA}{HEARTBEAT_BODY}")),
            membership: Script::new(&format!("{LIVE_SET_LUA}{MEMBERSHIP_BODY}")),
            deregister: Script::new(DEREGISTER_LUA),
            claim: Script::new(&format!("{LEASE_VALUE_LUA}{CLAIM_BODY}")),
            hand_over: Script::new(&format!("{LEASE_VALUE_LUA}{HAND_OVER_BODY}")),
            release: Script::new(&format!("{LEASE_VALUE_LUA}{RELEASE_BODY}")),
        }
    }
}
