//! A whole fleet in one test process: N nodes built with
//! [`lagring::pipeline::run_with`] over one shared [`MemoryStore`] and one
//! history store, reading the in-process simulator, writing to the testkit's
//! recording receiver (which notes the sending node of every sample) — one
//! shared receiver, or one per node ([`InProcessFleet::start_with_receiver_per_node`])
//! so a test can break one node's output; emissions are then read from the
//! union of the receivers. A node can get its own `node:` keys and
//! `clusters:` list ([`InProcessFleet::add_node_configured`]), e.g. labels
//! and several cluster names over the one simulator, each with a placement;
//! [`InProcessFleet::emissions_of`] then reads one cluster's. What a
//! fleet test asserts — one emitter per group and slot, no missed slot on a
//! planned move — is read from the receiver, exactly as in the process suites
//! under `tests/`, which stay for what only processes show (signals, real
//! Redis, iptables).

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic, dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use lagring::pipeline::{KafkaConnector, NodeParts, run_with};
use lagring_sim::{Clock, Scenario, Sim, SimHandle};
use lagring_store::{
    CoordinationStore, HistoryPolicies, HistoryStore, MemoryEvaluationStore, MemoryHistoryStore, MemoryStore,
    NodeIdentity,
};
use lagring_testkit::emissions::Emissions;
use lagring_testkit::ports::wait_for;
use lagring_testkit::receiver::RecordingReceiver;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The group-level series every owned group gets once per slot.
pub const MARKER: &str = "kafka_consumer_group_sum_lag_in_offsets";
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Node timing: the process suites' quick timing (lease ttl 3 s).
pub const INTERVAL_MS: i64 = 1_000;
const HEARTBEAT: &str = "250ms";
const NODE_TTL: &str = "2s";
/// Delivery timing: a 401 makes a node undeliverable at once, retryable
/// failures after `LEAVE_AFTER`; probes every `PROBE_INTERVAL`. With
/// `max_backoff: 500ms` the delivery settle delay is 1 s.
const LEAVE_AFTER: &str = "2s";
const PROBE_INTERVAL: &str = "250ms";

/// The simulator's scenario: 3 brokers, topics `orders` and `payments` of 4
/// partitions, groups `g-00`, `g-01`, … lagging by 10, 11, … records, reading
/// orders, payments or both in turn. `produce` keeps records coming (4/s on
/// orders, 2/s on payments); without it every lag is constant.
pub fn scenario(seed: u64, groups: usize, produce: bool) -> String {
    let (orders, payments) =
        if produce { (", produce: { constant: 4.0 }", ", produce: { constant: 2.0 }") } else { ("", "") };
    let mut yaml = format!(
        "seed: {seed}\nbrokers: 3\ntopics:\n\
         \x20 - {{ name: orders, partitions: 4, initial_messages: 400{orders} }}\n\
         \x20 - {{ name: payments, partitions: 4, initial_messages: 200{payments} }}\ngroups:\n"
    );
    for i in 0..groups {
        let topics = ["[orders]", "[payments]", "[orders, payments]"][i % 3];
        yaml.push_str(&format!("  - {{ name: g-{i:02}, topics: {topics}, behaviour: {{ lags_by: {} }} }}\n", 10 + i));
    }
    yaml
}

struct RunningNode {
    stop: CancellationToken,
    task: JoinHandle<Result<()>>,
    http: std::net::SocketAddr,
}

pub struct InProcessFleet {
    pub sim: SimHandle,
    /// The receiver every node writes to, unless `receivers` has its own.
    pub receiver: RecordingReceiver,
    /// node id → its own receiver (only with `start_with_receiver_per_node`).
    pub receivers: BTreeMap<String, RecordingReceiver>,
    receiver_per_node: bool,
    pub store: MemoryStore,
    pub history: Arc<dyn HistoryStore>,
    /// Latest evaluations every node publishes to and serves from.
    pub evaluations: MemoryEvaluationStore,
    pub groups: Vec<String>,
    nodes: BTreeMap<String, RunningNode>,
}

pub fn now_slot() -> i64 {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    ms / INTERVAL_MS
}

impl InProcessFleet {
    /// The simulator, the receiver and the shared stores; no node yet.
    pub async fn start() -> Result<Self> {
        Self::start_with(&scenario(11, 12, true)).await
    }

    /// Like [`InProcessFleet::start`] with another simulator scenario; `groups` are its groups.
    pub async fn start_with(scenario: &str) -> Result<Self> {
        let scenario = Scenario::from_yaml(scenario)?;
        let groups = scenario.groups.iter().map(|g| g.name.clone()).collect();
        let sim = Sim::start(scenario, Clock::real()).await?;
        let receiver = RecordingReceiver::start().await?;
        Ok(Self {
            sim,
            receiver,
            receivers: BTreeMap::new(),
            receiver_per_node: false,
            store: MemoryStore::new(),
            history: Arc::new(MemoryHistoryStore::new(HistoryPolicies::default())),
            evaluations: MemoryEvaluationStore::new(),
            groups,
            nodes: BTreeMap::new(),
        })
    }

    /// Like [`InProcessFleet::start`], but every node added gets its own
    /// receiver in [`InProcessFleet::receivers`].
    pub async fn start_with_receiver_per_node() -> Result<Self> {
        let mut fleet = Self::start().await?;
        fleet.receiver_per_node = true;
        Ok(fleet)
    }

    /// The receiver node `id` writes to.
    pub fn receiver_of(&self, id: &str) -> &RecordingReceiver {
        self.receivers.get(id).unwrap_or(&self.receiver)
    }

    /// The simulator's brokers as a YAML flow list, for a `clusters:` entry.
    pub fn brokers_yaml(&self) -> String {
        let brokers: Vec<String> = self.sim.broker_addrs().iter().map(|a| format!("'{a}'")).collect();
        format!("[{}]", brokers.join(", "))
    }

    /// One `clusters:` entry over the simulator named `name`, with `extra`
    /// keys (e.g. `placement: {...}`).
    pub fn cluster_yaml(&self, name: &str, extra: &str) -> String {
        let sep = if extra.is_empty() { "" } else { ", " };
        format!("{{ name: {name}, brokers: {}, request_timeout: 1s{sep}{extra} }}", self.brokers_yaml())
    }

    fn config(&self, id: &str, node_extra: &str, clusters: Option<&str>) -> String {
        let clusters = clusters.map_or_else(|| format!("[{}]", self.cluster_yaml("sim", "")), str::to_owned);
        let sep = if node_extra.is_empty() { "" } else { ", " };
        format!(
            "node: {{ id: {id}, interval: {INTERVAL_MS}ms, heartbeat_interval: {HEARTBEAT}, node_ttl: {NODE_TTL}, \
             shutdown_timeout: 15s{sep}{node_extra} }}\n\
             clusters: {clusters}\n\
             remote_write: {{ url: '{}', min_backoff: 50ms, max_backoff: 500ms, leave_after: {LEAVE_AFTER}, \
             probe_interval: {PROBE_INTERVAL} }}\n\
             http: {{ listen: '127.0.0.1:0' }}\n",
            self.receiver_of(id).url(),
        )
    }

    /// Starts node `id` in this process.
    pub async fn add_node(&mut self, id: &str) -> Result<()> {
        self.add_node_configured(id, "", None).await
    }

    /// Starts node `id` with `node_extra` added to its `node:` keys (e.g.
    /// `labels: { region: eu }`) and, if given, `clusters` as its whole
    /// `clusters:` value (see [`InProcessFleet::cluster_yaml`]).
    pub async fn add_node_configured(&mut self, id: &str, node_extra: &str, clusters: Option<&str>) -> Result<()> {
        if self.receiver_per_node && !self.receivers.contains_key(id) {
            self.receivers.insert(id.to_owned(), RecordingReceiver::start().await?);
        }
        let cfg = lagring::config::parse(&self.config(id, node_extra, clusters)).context("node config")?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let http = listener.local_addr()?;
        let store: Arc<dyn CoordinationStore> = Arc::new(self.store.clone());
        let parts = NodeParts {
            identity: NodeIdentity::new(id.to_owned()),
            store,
            history: self.history.clone(),
            evaluations: Arc::new(self.evaluations.clone()),
            kafka: KafkaConnector::from_config(),
            listener,
        };
        let stop = CancellationToken::new();
        let task = tokio::spawn(run_with(cfg, parts, stop.clone()));
        self.nodes.insert(id.to_owned(), RunningNode { stop, task, http });
        Ok(())
    }

    /// SIGTERM's path: hand over, drain, flush. Returns when the node stopped.
    pub async fn stop_node(&mut self, id: &str) -> Result<()> {
        let node = self.nodes.remove(id).context("no such node")?;
        node.stop.cancel();
        tokio::time::timeout(Duration::from_secs(30), node.task).await.context("node did not stop in 30 s")???;
        Ok(())
    }

    pub fn http(&self, id: &str) -> std::net::SocketAddr {
        self.nodes[id].http
    }

    /// Who emitted which group in which slot, from the accepted samples of
    /// every receiver together.
    pub fn emissions(&self) -> Emissions {
        let mut samples = self.receiver.samples();
        for receiver in self.receivers.values() {
            samples.extend(receiver.samples());
        }
        Emissions::collect(&samples, MARKER, INTERVAL_MS)
    }

    /// Like [`InProcessFleet::emissions`], for the series of cluster `cluster` only.
    pub fn emissions_of(&self, cluster: &str) -> Emissions {
        let mut samples = self.receiver.samples();
        for receiver in self.receivers.values() {
            samples.extend(receiver.samples());
        }
        samples.retain(|s| s.series.labels.get("clustername").is_some_and(|c| c == cluster));
        Emissions::collect(&samples, MARKER, INTERVAL_MS)
    }

    /// Ids of the nodes running now.
    pub fn node_ids(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    /// Waits for `slots` consecutive complete slots (every group once, the
    /// same owners throughout), all after `after`, emitted by `nodes` nodes
    /// together; returns the first of them.
    pub async fn wait_stable(&self, slots: i64, after: i64, nodes: usize) -> Result<i64> {
        wait_for("a stable fleet", TIMEOUT, || async {
            let em = self.emissions();
            let upto = now_slot() - 2;
            let from = upto - slots + 1;
            if from <= after {
                return Ok(None);
            }
            let owners = em.settled_owners(&self.groups, from, upto);
            let spread = |o: &BTreeMap<String, String>| o.values().collect::<BTreeSet<_>>().len() == nodes;
            Ok(owners.is_some_and(|o| spread(&o)).then_some(from))
        })
        .await
    }

    /// Stops every node still running.
    pub async fn shutdown(mut self) -> Result<()> {
        let ids: Vec<String> = self.nodes.keys().cloned().collect();
        for id in ids {
            self.stop_node(&id).await?;
        }
        Ok(())
    }
}
