//! The fleet harness shared by the fleet suites: real lagring processes, a
//! real redis-server, a real tansu broker with 24 groups of known lag, and the
//! testkit's recording remote-write receiver, which notes the sending node
//! (`X-Lagring-Node`) of every sample. Lag series carry no node label.
//!
//! Slots are `timestamp / interval`: every node stamps samples with the
//! wall-clock slot start, so "one emitter per group per slot" is exact.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
// Harness types hold servers and processes; nothing prints them.
#![allow(missing_debug_implementations)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use lagring_testkit::emissions::Emissions;
use lagring_testkit::kafka_fixtures::{commit, create_topic, produce};
use lagring_testkit::lagring_node::LagringNode;
use lagring_testkit::ports::wait_for;
use lagring_testkit::receiver::RecordingReceiver;
use lagring_testkit::redis::RedisServer;
use lagring_testkit::tansu::TansuBroker;

pub const GROUPS: usize = 24;
pub const MARKER: &str = "kafka_consumer_group_sum_lag_in_offsets";
pub const TIMEOUT: Duration = Duration::from_secs(90);

/// Node timing of a fleet test.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub interval_ms: i64,
    pub heartbeat_ms: i64,
    pub node_ttl_ms: i64,
}

impl Timing {
    /// Short intervals for quick tests: lease ttl (interval + node_ttl) 3 s.
    pub const QUICK: Timing = Timing { interval_ms: 1_000, heartbeat_ms: 250, node_ttl_ms: 2_000 };
    /// The defaults (30 s, 2 s, 10 s) scaled down 20×, ratios kept.
    pub const DEFAULT_RATIOS: Timing = Timing { interval_ms: 1_500, heartbeat_ms: 100, node_ttl_ms: 500 };

    /// The derived default lease ttl.
    pub fn lease_ttl_ms(&self) -> i64 {
        self.interval_ms + self.node_ttl_ms
    }
}

pub struct Fleet {
    pub broker: TansuBroker,
    pub redis: RedisServer,
    pub receiver: RecordingReceiver,
    pub nodes: Vec<(String, LagringNode)>,
    pub groups: Vec<String>,
    pub timing: Timing,
    /// Extra top-level config sections every node gets (e.g. `time_lag:`).
    pub extra_config: String,
    /// The nodes' `redis:` section (flow YAML) instead of `{ url: <redis> }`,
    /// for Sentinel and Cluster runs.
    pub redis_section: Option<String>,
    /// `clusters[].client` of every node (`native` or `librdkafka`); `None`
    /// leaves the key out, so the nodes run the default (native).
    pub cluster_client: Option<&'static str>,
    /// Extra keys of every node's `remote_write:` map (flow YAML, starting with `, `).
    pub remote_write_extra: String,
    /// More entries of every node's `clusters:` list (flow YAML, starting with `, `).
    pub extra_clusters: String,
}

/// Worst gap, in slots, after Redis lost its data (restart, flush, failover):
/// the old leases lapse at most one interval after the last claim, claims
/// resume `lease_ttl + 2 heartbeats` after a node sees the new epoch
/// (≤ outage + 1 heartbeat), and the next slot starts within one interval:
/// 2 intervals + outage + 3 heartbeats, rounded up, plus one slot for the
/// outage itself.
pub fn data_loss_gap_bound(t: Timing, outage_ms: i64) -> i64 {
    2 + (outage_ms + 3 * t.heartbeat_ms + t.interval_ms - 1) / t.interval_ms + 1
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Fleet {
    pub async fn start(nodes: usize) -> Result<Self> {
        Self::start_with(nodes, Timing::QUICK).await
    }

    pub async fn start_with(nodes: usize, timing: Timing) -> Result<Self> {
        Self::start_with_config(nodes, timing, "").await
    }

    /// Like [`Fleet::start_with`], adding `extra_config` (whole top-level
    /// YAML sections) to every node's config.
    pub async fn start_with_config(nodes: usize, timing: Timing, extra_config: &str) -> Result<Self> {
        Self::start_full(nodes, timing, extra_config, None).await
    }

    /// Like [`Fleet::start_with`], the nodes coordinating through the Redis
    /// deployment `redis_section` describes (the standalone server still
    /// runs, unused).
    pub async fn start_with_redis(nodes: usize, timing: Timing, redis_section: String) -> Result<Self> {
        Self::start_full(nodes, timing, "", Some(redis_section)).await
    }

    /// Like [`Fleet::start`] (no node started yet), every node reading
    /// Kafka with `client` (`librdkafka` or `native`; `None`: the default).
    pub async fn start_empty_with_client(client: Option<&'static str>) -> Result<Self> {
        let mut fleet = Self::start_full(0, Timing::QUICK, "", None).await?;
        fleet.cluster_client = client;
        Ok(fleet)
    }

    async fn start_full(
        nodes: usize,
        timing: Timing,
        extra_config: &str,
        redis_section: Option<String>,
    ) -> Result<Self> {
        let broker = TansuBroker::start()?;
        let bs = broker.bootstrap();
        create_topic(&bs, "t", 2).await?;
        produce(&bs, "t", 0, 50).await?;
        produce(&bs, "t", 1, 50).await?;
        let groups: Vec<String> = (0..GROUPS).map(|i| format!("group-{i:02}")).collect();
        for (i, g) in groups.iter().enumerate() {
            commit(&bs, g, &[("t", 0, i as i64), ("t", 1, 50)]).await?;
        }
        let redis = RedisServer::start()?;
        let receiver = RecordingReceiver::start().await?;
        let extra_config = extra_config.to_owned();
        let mut fleet = Self {
            broker,
            redis,
            receiver,
            nodes: Vec::new(),
            groups,
            timing,
            extra_config,
            redis_section,
            cluster_client: None,
            remote_write_extra: String::new(),
            extra_clusters: String::new(),
        };
        for i in 0..nodes {
            fleet.add_node(&format!("node-{i}"))?;
        }
        Ok(fleet)
    }

    pub fn now_slot(&self) -> i64 {
        now_ms() / self.timing.interval_ms
    }

    pub fn config(&self, id: &str) -> String {
        let t = self.timing;
        format!(
            "node: {{ id: {id}, interval: {}ms, heartbeat_interval: {}ms, node_ttl: {}ms, shutdown_timeout: 30s }}\n\
             redis: {}\n\
             clusters: [{{ name: local,{} brokers: ['{}'], request_timeout: 1s }}{}]\n\
             remote_write: {{ url: '{}', min_backoff: 50ms, max_backoff: 500ms{} }}\n\
             http: {{ listen: '{{HTTP_LISTEN}}' }}\n{}",
            t.interval_ms,
            t.heartbeat_ms,
            t.node_ttl_ms,
            self.redis_section.clone().unwrap_or_else(|| format!("{{ url: '{}' }}", self.redis.url())),
            self.cluster_client.map(|c| format!(" client: {c},")).unwrap_or_default(),
            self.broker.bootstrap(),
            self.extra_clusters,
            self.receiver.url(),
            self.remote_write_extra,
            self.extra_config
        )
    }

    pub fn add_node(&mut self, id: &str) -> Result<()> {
        let node = LagringNode::start(&crate::lagring_binary()?, id, &self.config(id))?;
        self.nodes.push((id.to_owned(), node));
        Ok(())
    }

    /// Starts `id` with extra environment variables (libfaketime for a skewed clock).
    pub fn add_node_with_env(&mut self, id: &str, env: &[(&str, &str)]) -> Result<()> {
        let node = LagringNode::start_with_env(&crate::lagring_binary()?, id, &self.config(id), env)?;
        self.nodes.push((id.to_owned(), node));
        Ok(())
    }

    /// Starts `id` as the unprivileged user `uid` (for iptables owner rules).
    pub fn add_node_as_uid(&mut self, id: &str, uid: u32) -> Result<()> {
        let bin = &crate::lagring_binary()?;
        let node = LagringNode::start_as_uid(bin, id, &self.config(id), uid)?;
        self.nodes.push((id.to_owned(), node));
        Ok(())
    }

    pub fn node(&mut self, id: &str) -> &mut LagringNode {
        &mut self.nodes.iter_mut().find(|(n, _)| n == id).expect("node exists").1
    }

    /// Removes `id` from the fleet (after it stopped).
    pub fn forget(&mut self, id: &str) -> LagringNode {
        let at = self.nodes.iter().position(|(n, _)| n == id).expect("node exists");
        self.nodes.remove(at).1
    }

    pub fn emissions(&self) -> Emissions {
        Emissions::collect(&self.receiver.samples(), MARKER, self.timing.interval_ms)
    }

    /// Waits until `slots` consecutive complete, settled slots (every group
    /// emitted once, by the same node in each slot), all later than `after`,
    /// have been seen; returns the first.
    pub async fn wait_stable(&self, slots: i64, after: i64) -> Result<i64> {
        wait_for("a stable fleet", TIMEOUT, || async {
            let em = self.emissions();
            let upto = self.now_slot() - 2;
            let from = upto - slots + 1;
            if from <= after {
                return Ok(None);
            }
            // Settled: the same node emits each group in every slot of the window.
            Ok(em.settled_owners(&self.groups, from, upto).map(|_| from))
        })
        .await
        .map_err(|e| e.context(self.logs()))
    }

    /// Waits until slot `slot` is over (plus one slot for delivery).
    pub async fn wait_slot_done(&self, slot: i64) -> Result<()> {
        wait_for("the slot to pass", TIMEOUT, || async { Ok((self.now_slot() > slot + 1).then_some(())) }).await
    }

    pub fn logs(&self) -> String {
        self.nodes.iter().map(|(id, n)| format!("--- {id}\n{}", n.log_tail())).collect::<Vec<_>>().join("\n")
    }

    pub fn assert_no_duplicates(&self) {
        let dups = self.emissions().duplicates();
        assert!(dups.is_empty(), "groups emitted twice in one slot: {dups:?}\n{}", self.logs());
    }
}
