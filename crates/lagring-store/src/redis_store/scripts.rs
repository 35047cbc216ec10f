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
//!   `id#incarnation@slot>successor` once handed over after `slot` to node id
//!   `successor` (`id#incarnation@slot` when no successor is named); expires
//!   by `PX`. The claim script applies `crate::store::may_claim` to it.

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

    /// The epoch hash (the claim script's first key).
    pub(crate) fn epoch(&self) -> String {
        format!("{}epoch", self.prefix)
    }

    pub(crate) fn lease(&self, key: &str) -> String {
        format!("{}lease:{key}", self.prefix)
    }
}

/// Shared Lua: server time in ms, and the current epoch token of the epoch
/// hash `key` — started afresh (token `fresh`) when the hash is missing (a
/// restart without persistence, a flush, an eviction) or was written by
/// another server (`run_id`: a restart, a failover to a replica that may
/// have lost writes).
const CLOCK_EPOCH_LUA: &str = r"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function current_epoch(key, now, fresh)
  local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)') or ''
  local known = redis.call('HMGET', key, 'token', 'run_id')
  if (not known[1]) or known[2] ~= run_id then
    redis.call('HSET', key, 'token', fresh, 'created', now, 'run_id', run_id)
    return fresh
  end
  return known[1]
end
";

/// Shared Lua: the epoch and the live set as
/// `{id, last_ms, incarnation, status_json}` rows.
const LIVE_SET_LUA: &str = r"
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
current_epoch(KEYS[5], now, ARGV[5])
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

/// Shared Lua: splits a lease value into holder, hand-over slot and successor.
const LEASE_VALUE_LUA: &str = r"
local function split(v)
  local at = string.find(v, '@', 1, true)
  if not at then
    return v, nil, nil
  end
  local holder, rest = string.sub(v, 1, at - 1), string.sub(v, at + 1)
  local gt = string.find(rest, '>', 1, true)
  if not gt then
    return holder, tonumber(rest), nil
  end
  return holder, tonumber(string.sub(rest, 1, gt - 1)), string.sub(rest, gt + 1)
end
";

/// KEYS: the epoch hash, then lease keys. ARGV: holder, node id, ttl ms,
/// slot, the epoch token the node last saw, a fresh epoch token. When the
/// store's epoch is another one (it lost data since that heartbeat; the
/// epoch is started here if missing) claims nothing and returns
/// `{current_token, {}}`. Else claims what `may_claim` allows (free keys,
/// own ones, keys handed over after an earlier slot to this node id or to
/// nobody in particular) and returns `{token, values}`: the value of every
/// lease key after the call, in KEYS order.
const CLAIM_BODY: &str = r"
local current = current_epoch(KEYS[1], now_ms(), ARGV[6])
if current ~= ARGV[5] then
  return {current, {}}
end
local slot = tonumber(ARGV[4])
local values = {}
for i = 2, #KEYS do
  local key = KEYS[i]
  local v = redis.call('GET', key)
  local take = not v
  if v then
    local holder, last, successor = split(v)
    local handed_to_me = last ~= nil and last < slot and (successor == nil or successor == ARGV[2])
    take = holder == ARGV[1] or handed_to_me
  end
  if take then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[3])
    v = ARGV[1]
  end
  values[i - 1] = v
end
return {current, values}
";

/// KEYS: lease keys. ARGV: holder, last slot, then one successor node id per
/// key ('' for none). Marks own leases as handed over after that slot to
/// their successor (keeping their expiry); returns how many.
const HAND_OVER_BODY: &str = r"
local marked = 0
for i, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  if v and split(v) == ARGV[1] then
    local value = ARGV[1] .. '@' .. ARGV[2]
    if ARGV[2 + i] ~= '' then
      value = value .. '>' .. ARGV[2 + i]
    end
    redis.call('SET', key, value, 'KEEPTTL')
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
            heartbeat: Script::new(&format!("{CLOCK_EPOCH_LUA}{LIVE_SET_LUA}{HEARTBEAT_BODY}")),
            membership: Script::new(&format!("{CLOCK_EPOCH_LUA}{LIVE_SET_LUA}{MEMBERSHIP_BODY}")),
            deregister: Script::new(DEREGISTER_LUA),
            claim: Script::new(&format!("{CLOCK_EPOCH_LUA}{LEASE_VALUE_LUA}{CLAIM_BODY}")),
            hand_over: Script::new(&format!("{LEASE_VALUE_LUA}{HAND_OVER_BODY}")),
            release: Script::new(&format!("{LEASE_VALUE_LUA}{RELEASE_BODY}")),
        }
    }
}
