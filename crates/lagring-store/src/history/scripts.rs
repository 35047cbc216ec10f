//! Key layout of the histories and the Lua port of core's append rules.
//!
//! Keys share the coordination keys' hash tag `{<namespace>}`, so Redis
//! Cluster keeps them in one slot and one script may touch many:
//! - `{ns}:hist:end:<cluster>/<topic>/<partition>`
//! - `{ns}:hist:commit:<cluster>/<group>/<topic>/<partition>`
//!
//! Cluster and group names are escaped (`%` → `%25`, `/` → `%2F`) so that a
//! `/` in them cannot make two keys collide; topic names cannot hold either.
//! Values are laid out as described in `encoding`.

use redis::Script;

use lagring_core::model::TopicPartition;

/// Key names under one namespace.
#[derive(Debug, Clone)]
pub(crate) struct HistoryKeys {
    prefix: String,
}

impl HistoryKeys {
    pub(crate) fn new(namespace: &str) -> Self {
        Self { prefix: format!("{{{namespace}}}:hist:") }
    }

    pub(crate) fn end(&self, cluster: &str, tp: &TopicPartition) -> String {
        format!("{}end:{}/{}/{}", self.prefix, escape(cluster), tp.topic, tp.partition)
    }

    pub(crate) fn committed(&self, cluster: &str, group: &str, tp: &TopicPartition) -> String {
        format!("{}commit:{}/{}/{}/{}", self.prefix, escape(cluster), escape(group), tp.topic, tp.partition)
    }
}

fn escape(name: &str) -> String {
    name.replace('%', "%25").replace('/', "%2F")
}

/// Appends one point to each history in KEYS, by the rules of
/// `lagring_core::history` (same order: ignore, reset, extend a flat run or
/// append; then age and count bounds), and refreshes each key's expiry.
///
/// ARGV: slot time (8 bytes, big-endian), max points, max age ms, expiry ms,
/// new offsets (8 bytes big-endian per key, in KEYS order).
/// Returns `{outcome, value}` per key, outcome 0 ignored, 1 appended,
/// 2 extended, 3 reset; value is the stored history after the append.
///
/// Cost: Lua copies every string it makes, and a 2 KB copy costs about as
/// much as the GET and SET together, so the new value is built in one
/// concatenation of (header, kept points, new point) from positions in the
/// old value: `kept` is the byte range of the stored points that stay.
const APPEND_LUA: &str = r"
local at_bytes = ARGV[1]
local new_at = struct.unpack('>i8', at_bytes)
local max_points = tonumber(ARGV[2])
local cutoff = new_at - tonumber(ARGV[3])
local expiry = ARGV[4]
local offsets = ARGV[5]
local out = {}
for i, key in ipairs(KEYS) do
  local off_bytes = string.sub(offsets, i * 8 - 7, i * 8)
  local new_off = struct.unpack('>i8', off_bytes)
  local value = redis.call('GET', key)
  local hdr, n = 1, 0
  local header = '\1'
  if value then
    if string.byte(value, 1) == 2 then
      hdr = 17
    end
    n = (#value - hdr) / 16
    header = string.sub(value, 1, hdr)
  end
  local kept_from, kept_to = hdr + 1, hdr + n * 16
  local outcome = 1
  if n > 0 then
    local last = kept_to - 15
    local last_off, last_at = struct.unpack('>i8>i8', value, last)
    if new_at <= last_at then
      outcome = 0
    elseif new_off < last_off then
      outcome = 3
      header = '\2' .. string.sub(value, last, last + 7) .. at_bytes
      kept_to, n = kept_from - 1, 0
    elseif n >= 2 and new_off == last_off and struct.unpack('>i8', value, last - 16) == new_off then
      outcome = 2
      kept_to, n = last - 1, n - 1
    end
  end
  if outcome == 0 then
    redis.call('PEXPIRE', key, expiry)
  else
    local drop = 0
    while drop + 2 <= n and select(2, struct.unpack('>i8>i8', value, kept_from + (drop + 1) * 16)) <= cutoff do
      drop = drop + 1
    end
    if n + 1 - drop > max_points then
      drop = n + 1 - max_points
    end
    value = header .. string.sub(value or '', kept_from + drop * 16, kept_to) .. off_bytes .. at_bytes
    redis.call('SET', key, value, 'PX', expiry)
  end
  out[i] = {outcome, value}
end
return out
";

pub(crate) fn append_script() -> Script {
    Script::new(APPEND_LUA)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_the_hash_tag_and_escape_names() {
        let keys = HistoryKeys::new("lagring");
        let tp = TopicPartition::new("orders", 7);
        assert_eq!(keys.end("prod", &tp), "{lagring}:hist:end:prod/orders/7");
        assert_eq!(keys.committed("prod", "billing", &tp), "{lagring}:hist:commit:prod/billing/orders/7");
        assert_eq!(keys.committed("a/b", "c%/d", &tp), "{lagring}:hist:commit:a%2Fb/c%25%2Fd/orders/7");
    }
}
