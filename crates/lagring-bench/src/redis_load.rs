//! The Redis work of a running fleet, from `INFO commandstats` read before
//! and after a steady window: commands per second by name, split into the
//! part that grows with groups and partitions (lease and history keys:
//! strings) and the part that grows with nodes (membership: hashes and the
//! sorted set), and extrapolated to a larger fleet.
//!
//! Commands that Lua scripts run are counted by Redis under their own names,
//! so `evalsha` + `eval` + `mget` are the client round trips and the rest are
//! key operations.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use lagring_testkit::redis::RedisServer;

/// Calls per command name since the server started.
pub fn command_calls(redis: &RedisServer) -> Result<BTreeMap<String, u64>> {
    parse_commandstats(&redis.cli(&["INFO", "commandstats"])?)
}

fn parse_commandstats(info: &str) -> Result<BTreeMap<String, u64>> {
    let mut calls = BTreeMap::new();
    for line in info.lines() {
        let Some((name, rest)) = line.trim().strip_prefix("cmdstat_").and_then(|l| l.split_once(':')) else {
            continue;
        };
        let count = rest
            .split(',')
            .find_map(|kv| kv.strip_prefix("calls="))
            .with_context(|| format!("no calls= in {line:?}"))?;
        calls.insert(name.to_owned(), count.parse().with_context(|| format!("calls of {name}"))?);
    }
    Ok(calls)
}

/// Commands per second over a window.
#[derive(Debug, Clone)]
pub struct RedisLoad {
    pub window: Duration,
    pub per_sec: BTreeMap<String, f64>,
}

/// Client round trips (scripts and plain multi-key reads).
const ROUND_TRIPS: [&str; 3] = ["evalsha", "eval", "mget"];
/// Bookkeeping that touches no key.
const NO_KEY: [&str; 9] =
    ["time", "info", "ping", "client|setinfo", "client|setname", "hello", "select", "script|load", "command"];
/// Key operations on the membership (per node and heartbeat).
const MEMBERSHIP: [&str; 8] = ["zadd", "zrem", "zrangebyscore", "hset", "hget", "hmget", "hdel", "hgetall"];

impl RedisLoad {
    /// The rates between two [`command_calls`] snapshots `window` apart.
    pub fn between(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>, window: Duration) -> Self {
        let secs = window.as_secs_f64().max(f64::EPSILON);
        let per_sec = after
            .iter()
            .map(|(name, &calls)| {
                (name.clone(), calls.saturating_sub(before.get(name).copied().unwrap_or(0)) as f64 / secs)
            })
            .filter(|(_, rate)| *rate > 0.0)
            .collect();
        Self { window, per_sec }
    }

    fn sum(&self, pick: impl Fn(&str) -> bool) -> f64 {
        self.per_sec.iter().filter(|(name, _)| pick(name)).map(|(_, r)| r).sum()
    }

    /// Script calls and `MGET`s per second.
    pub fn round_trips(&self) -> f64 {
        self.sum(|n| ROUND_TRIPS.contains(&n))
    }

    /// Key operations per second on membership keys (grow with nodes).
    pub fn membership_ops(&self) -> f64 {
        self.sum(|n| MEMBERSHIP.contains(&n))
    }

    /// Key operations per second on lease and history keys (grow with groups
    /// and partitions).
    pub fn per_group_ops(&self) -> f64 {
        self.sum(|n| !ROUND_TRIPS.contains(&n) && !NO_KEY.contains(&n) && !MEMBERSHIP.contains(&n))
    }

    /// Key operations per second of a fleet `node_factor` times as many nodes
    /// and `group_factor` times as many groups, with the same timing.
    pub fn extrapolated_ops(&self, node_factor: f64, group_factor: f64) -> f64 {
        self.membership_ops() * node_factor + self.per_group_ops() * group_factor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_split_from_two_snapshots() {
        let before =
            parse_commandstats("# Commandstats\r\ncmdstat_get:calls=100,usec=5,usec_per_call=0.05\r\n").unwrap();
        let after = parse_commandstats(
            "cmdstat_get:calls=300,usec=9\r\ncmdstat_evalsha:calls=20,usec=1\r\ncmdstat_zadd:calls=10,usec=1\r\n\
             cmdstat_time:calls=30,usec=1\r\n",
        )
        .unwrap();
        let load = RedisLoad::between(&before, &after, Duration::from_secs(10));
        assert_eq!(load.per_sec.get("get"), Some(&20.0));
        assert_eq!(load.round_trips(), 2.0);
        assert_eq!(load.membership_ops(), 1.0);
        assert_eq!(load.per_group_ops(), 20.0);
        assert_eq!(load.extrapolated_ops(10.0, 100.0), 2_010.0);
    }
}
