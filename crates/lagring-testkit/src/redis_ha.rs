//! Highly available Redis deployments made of real `redis-server` processes
//! on loopback: a Sentinel set (master, replica, three Sentinels) whose master
//! can be killed to force a failover, and a three-master Redis Cluster made
//! with `redis-cli --cluster create`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use crate::ports::free_port;
use crate::process::ServerProcess;
use crate::redis::{RedisServer, redis_cli};

/// How long the set-up of a deployment (replication, gossip) may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Polls `check` every 50 ms until it is `Ok(Some(_))` or `timeout` passes.
fn poll<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => None,
            Err(e) => Some(e),
        };
        if Instant::now() >= deadline {
            match last {
                Some(e) => bail!("timed out after {timeout:?} waiting for {what}: {e:#}"),
                None => bail!("timed out after {timeout:?} waiting for {what}"),
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One `redis-server --sentinel` process.
#[derive(Debug)]
struct SentinelProcess {
    port: u16,
    _dir: TempDir,
    process: ServerProcess,
}

impl SentinelProcess {
    fn start(master_name: &str, master_port: u16, quorum: usize) -> Result<Self> {
        let dir = tempfile::tempdir().context("create sentinel temp dir")?;
        let port = free_port()?;
        let conf = format!(
            "port {port}\nbind 127.0.0.1\ndaemonize no\n\
             sentinel monitor {master_name} 127.0.0.1 {master_port} {quorum}\n\
             sentinel down-after-milliseconds {master_name} 1000\n\
             sentinel failover-timeout {master_name} 4000\n\
             sentinel parallel-syncs {master_name} 1\n"
        );
        let conf_path = dir.path().join("sentinel.conf");
        std::fs::write(&conf_path, conf).context("write sentinel.conf")?;
        let mut cmd = Command::new("redis-server");
        cmd.arg(&conf_path).arg("--sentinel").current_dir(dir.path());
        let process = ServerProcess::spawn("redis-sentinel", cmd, dir.path())?;
        Ok(Self { port, _dir: dir, process })
    }
}

/// A master, one replica and three Sentinels (quorum 2) watching them.
#[derive(Debug)]
pub struct RedisSentinelSet {
    /// The first master (killed by [`RedisSentinelSet::kill_master`]).
    pub master: RedisServer,
    /// Its replica, promoted by the failover.
    pub replica: RedisServer,
    sentinels: Vec<SentinelProcess>,
}

impl RedisSentinelSet {
    /// The name the Sentinels monitor the master under.
    pub const MASTER_NAME: &'static str = "lagring-master";

    /// Starts everything and waits until the replica is in sync and every
    /// Sentinel knows the replica and the other two Sentinels (so a failover
    /// can be agreed on).
    pub fn start() -> Result<Self> {
        let master = RedisServer::start()?;
        let master_port = master.port().to_string();
        let replica = RedisServer::start_with_args(&["--replicaof", "127.0.0.1", &master_port])?;
        poll("the replica to sync", SETUP_TIMEOUT, || {
            Ok(replica.cli(&["INFO", "replication"])?.contains("master_link_status:up").then_some(()))
        })?;
        let sentinels =
            (0..3).map(|_| SentinelProcess::start(Self::MASTER_NAME, master.port(), 2)).collect::<Result<Vec<_>>>()?;
        let set = Self { master, replica, sentinels };
        for sentinel in &set.sentinels {
            poll("the sentinels to find each other and the replica", SETUP_TIMEOUT, || {
                let peers = redis_cli(sentinel.port, &["SENTINEL", "SENTINELS", Self::MASTER_NAME])?;
                let replicas = redis_cli(sentinel.port, &["SENTINEL", "REPLICAS", Self::MASTER_NAME])?;
                let peer_count = peers.lines().filter(|l| *l == "name").count();
                let knows_replica = replicas.contains(&set.replica.port().to_string());
                Ok((peer_count == 2 && knows_replica).then_some(()))
            })
            .map_err(|e| sentinel.process.context_for(e))?;
        }
        Ok(set)
    }

    /// `redis://127.0.0.1:<port>` of each Sentinel.
    pub fn sentinel_urls(&self) -> Vec<String> {
        self.sentinels.iter().map(|s| format!("redis://127.0.0.1:{}", s.port)).collect()
    }

    /// The port the first Sentinel names as the master now.
    pub fn current_master_port(&self) -> Result<u16> {
        let sentinel = self.sentinels.first().context("no sentinel")?;
        let out = redis_cli(sentinel.port, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", Self::MASTER_NAME])?;
        let port = out.lines().nth(1).context("no master address")?;
        port.trim().parse().with_context(|| format!("master port {port:?}"))
    }

    /// Kills the master (SIGKILL), as a crashed host would.
    pub fn kill_master(&mut self) {
        self.master.stop();
    }

    /// Waits until the Sentinels name the replica as master and it has
    /// taken the role; returns how long that took from the call.
    pub fn wait_failover(&self, timeout: Duration) -> Result<Duration> {
        let start = Instant::now();
        let replica_port = self.replica.port();
        poll("the sentinels to promote the replica", timeout, || {
            let promoted = self.current_master_port()? == replica_port
                && self.replica.cli(&["ROLE"])?.lines().next() == Some("master");
            Ok(promoted.then_some(()))
        })?;
        Ok(start.elapsed())
    }
}

/// Three masters (no replicas) of a Redis Cluster covering all 16384 slots.
#[derive(Debug)]
pub struct RedisClusterSet {
    /// The cluster's nodes, in port order of creation.
    pub nodes: Vec<RedisServer>,
}

impl RedisClusterSet {
    /// Starts three cluster-enabled servers, joins them with
    /// `redis-cli --cluster create` and waits for `cluster_state:ok` on all.
    pub fn start() -> Result<Self> {
        let nodes = (0..3)
            .map(|_| {
                RedisServer::start_with_args(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                ])
            })
            .collect::<Result<Vec<_>>>()?;
        let addrs: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())).collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .context("run redis-cli --cluster create")?;
        anyhow::ensure!(out.status.success(), "redis-cli --cluster create failed: {out:?}");
        let set = Self { nodes };
        set.wait_ok(SETUP_TIMEOUT)?;
        Ok(set)
    }

    /// Waits until every running node reports `cluster_state:ok`.
    pub fn wait_ok(&self, timeout: Duration) -> Result<()> {
        poll("cluster_state:ok on every node", timeout, || {
            for node in &self.nodes {
                if !node.cli(&["CLUSTER", "INFO"])?.contains("cluster_state:ok") {
                    return Ok(None);
                }
            }
            Ok(Some(()))
        })
    }

    /// `redis://127.0.0.1:<port>` of every node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// Index in [`RedisClusterSet::nodes`] of the master serving `key`'s slot.
    pub fn node_for_key(&self, key: &str) -> Result<usize> {
        let first = self.nodes.first().context("no nodes")?;
        let slot: u16 = first.cli(&["CLUSTER", "KEYSLOT", key])?.trim().parse().context("parse CLUSTER KEYSLOT")?;
        for (i, node) in self.nodes.iter().enumerate() {
            let nodes = node.cli(&["CLUSTER", "NODES"])?;
            let Some(myself) = nodes.lines().find(|l| l.contains("myself")) else { continue };
            if serves_slot(myself, slot) {
                return Ok(i);
            }
        }
        bail!("no node serves slot {slot} of {key:?}")
    }

    /// Keys stored on each node (`DBSIZE`), in node order.
    pub fn key_counts(&self) -> Result<Vec<u64>> {
        self.nodes.iter().map(|n| n.cli(&["DBSIZE"])?.trim().parse::<u64>().context("parse DBSIZE")).collect()
    }

    /// Directory of node `i` (its `nodes.conf` and log).
    pub fn node_dir(&self, i: usize) -> Option<&Path> {
        self.nodes.get(i).map(RedisServer::dir)
    }
}

/// True when a `CLUSTER NODES` line lists a range holding `slot`.
fn serves_slot(line: &str, slot: u16) -> bool {
    line.split_whitespace().skip(8).any(|range| {
        let (lo, hi) = range.split_once('-').unwrap_or((range, range));
        matches!((lo.parse::<u16>(), hi.parse::<u16>()), (Ok(lo), Ok(hi)) if lo <= slot && slot <= hi)
    })
}

#[cfg(test)]
mod tests {
    use super::serves_slot;

    #[test]
    fn slot_ranges_of_a_cluster_nodes_line() {
        let line = "abc 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 7000";
        assert!(serves_slot(line, 0));
        assert!(serves_slot(line, 5460));
        assert!(!serves_slot(line, 5461));
        assert!(serves_slot(line, 7000));
        assert!(!serves_slot("abc 127.0.0.1:7000@17000 myself,master - 0 0 1 connected", 0));
    }
}
