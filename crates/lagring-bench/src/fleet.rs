//! Three lagring nodes sharing one simulated cluster through a real
//! redis-server, remote-writing to the testkit's recording receiver.
//!
//! Ownership balance is read from which node emitted each group in a settled
//! slot (and cross-checked with each node's `lagring_owned_groups`). Failover
//! is the time from `kill -9` of one node until a slot in which every group
//! it owned has been emitted again by the survivors. The receiver keeps every
//! request in memory, so the benchmark folds the marker series into its own
//! record and clears the receiver after each poll.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use lagring_sim::{Clock, ScaleSpec, Sim};
use lagring_testkit::emissions::Emissions;
use lagring_testkit::receiver::RecordingReceiver;
use lagring_testkit::redis::RedisServer;

use crate::node::{BenchNode, value};
use crate::redis_load::{RedisLoad, command_calls};
use crate::slots::{now_ms, slot_of};

/// One series per group, present whenever the group is emitted.
const MARKER: &str = "kafka_consumer_group_sum_lag_in_offsets";
const NODES: usize = 3;
const VICTIM: &str = "node-1";
const POLL: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct FleetRun {
    pub groups: u32,
    pub interval: Duration,
    pub heartbeat: Duration,
    pub node_ttl: Duration,
    /// `clusters[].client` of every node.
    pub client: String,
    /// `time_lag.enabled` of every node.
    pub time_lag: bool,
}

#[derive(Debug, Clone)]
pub struct FleetResult {
    pub run: FleetRun,
    /// Groups emitted per node in a settled slot.
    pub emitted_per_node: BTreeMap<String, usize>,
    /// `lagring_owned_groups` per node at the same time.
    pub owned_gauge: BTreeMap<String, f64>,
    pub victim_groups: usize,
    /// From SIGKILL until the receiver had every victim group of one slot.
    pub failover_observed: Duration,
    /// From SIGKILL until the start of the slot that covered every victim group.
    pub failover_slot_start: Duration,
    /// Groups emitted per survivor after the failover.
    pub emitted_after: BTreeMap<String, usize>,
    pub duplicates: usize,
    /// Redis commands per second over steady slots before the kill.
    pub redis_load: RedisLoad,
}

/// Steady intervals over which the Redis work is measured.
const LOAD_WINDOW_INTERVALS: u32 = 4;

/// Marker emissions folded across polls of a receiver that is cleared each time.
struct Record {
    interval_ms: i64,
    emissions: Emissions,
}

impl Record {
    fn poll(&mut self, receiver: &RecordingReceiver) {
        let fresh = Emissions::collect(&receiver.samples(), MARKER, self.interval_ms);
        receiver.clear();
        for (group, slots) in fresh.by_group {
            let mine = self.emissions.by_group.entry(group).or_default();
            for (slot, nodes) in slots {
                mine.entry(slot).or_default().extend(nodes);
            }
        }
    }

    /// A slot ≤ `upto` after `after` in which every group was emitted exactly once.
    fn settled_slot(&self, groups: &[String], after: i64, upto: i64) -> Option<i64> {
        (after + 1..=upto).rev().find(|s| groups.iter().all(|g| self.emissions.owner_at(g, *s).is_some()))
    }
}

pub async fn run(bin: &Path, run: FleetRun) -> Result<FleetResult> {
    let spec = ScaleSpec::parse(&format!("groups={},topics=100,partitions=10", run.groups))?;
    let scenario = spec.scenario();
    let groups: Vec<String> = scenario.groups.iter().map(|g| g.name.clone()).collect();
    let sim = Sim::start(scenario, Clock::real()).await.context("start simulator")?;
    let redis = RedisServer::start()?;
    let receiver = RecordingReceiver::start().await?;
    let ms = |d: Duration| d.as_millis();
    let mut nodes = Vec::new();
    for i in 0..NODES {
        let id = format!("node-{i}");
        let config = format!(
            "node: {{ id: {id}, interval: {}ms, heartbeat_interval: {}ms, node_ttl: {}ms }}\n\
             redis: {{ url: '{}' }}\n\
             clusters: [ {{ name: sim, client: {}, brokers: ['{}'] }} ]\n\
             remote_write: {{ url: '{}', min_backoff: 50ms, max_backoff: 500ms }}\n\
             http: {{ listen: '{{HTTP_LISTEN}}' }}\n\
             time_lag: {{ enabled: {} }}\n",
            ms(run.interval),
            ms(run.heartbeat),
            ms(run.node_ttl),
            redis.url(),
            run.client,
            sim.bootstrap(),
            receiver.url(),
            run.time_lag
        );
        nodes.push(BenchNode::start(bin, &id, &config)?);
    }
    let interval_ms = u64::try_from(run.interval.as_millis())?;
    let mut record = Record { interval_ms: i64::try_from(interval_ms)?, emissions: Emissions::default() };
    let logs =
        |nodes: &[BenchNode]| nodes.iter().map(|n| format!("--- {}\n{}", n.id, n.log_tail())).collect::<String>();

    // Settled: a complete slot after the nodes had time to form the ring.
    let start_slot = slot_of(now_ms(), interval_ms) + 2;
    let deadline = Instant::now() + run.interval * 20 + Duration::from_secs(60);
    let settled = loop {
        tokio::time::sleep(POLL).await;
        record.poll(&receiver);
        let upto = slot_of(now_ms(), interval_ms) - 1;
        if let Some(s) = record.settled_slot(&groups, start_slot, upto) {
            break s;
        }
        if Instant::now() >= deadline {
            bail!("fleet did not settle: no complete slot after {start_slot}\n{}", logs(&nodes));
        }
    };
    let owners = record.emissions.owners_at(settled);
    let emitted_per_node = count_per_node(&owners);
    let mut owned_gauge = BTreeMap::new();
    for n in &nodes {
        owned_gauge.insert(n.id.clone(), value(&n.scrape().await?, "lagring_owned_groups", &[("cluster", "sim")]));
    }

    // Redis work of the settled fleet: a fixed window is a measurement, not a sync.
    let calls_before = command_calls(&redis)?;
    let window_start = Instant::now();
    tokio::time::sleep(run.interval * LOAD_WINDOW_INTERVALS).await;
    let calls_after = command_calls(&redis)?;
    let redis_load = RedisLoad::between(&calls_before, &calls_after, window_start.elapsed());
    record.poll(&receiver);

    let victim_groups: Vec<String> = owners.iter().filter(|(_, n)| *n == VICTIM).map(|(g, _)| g.clone()).collect();
    let victim = nodes.iter_mut().find(|n| n.id == VICTIM).context("victim node")?;
    let killed_ms = now_ms();
    let killed = Instant::now();
    victim.kill();
    let kill_slot = slot_of(killed_ms, interval_ms);
    let deadline = killed + run.node_ttl * 3 + run.interval * 10 + Duration::from_secs(30);
    let back = loop {
        tokio::time::sleep(POLL).await;
        record.poll(&receiver);
        if let Some(s) = record.emissions.first_complete_slot(&victim_groups, kill_slot + 1) {
            break s;
        }
        if Instant::now() >= deadline {
            bail!("survivors did not take over {} groups in time\n{}", victim_groups.len(), logs(&nodes));
        }
    };
    let failover_observed = killed.elapsed();
    let back_start_ms = u64::try_from(back)? * interval_ms;
    let failover_slot_start = Duration::from_millis(back_start_ms.saturating_sub(killed_ms));

    // One more settled slot, among the survivors.
    let deadline = Instant::now() + run.interval * 10 + Duration::from_secs(30);
    let after = loop {
        tokio::time::sleep(POLL).await;
        record.poll(&receiver);
        if let Some(s) = record.settled_slot(&groups, back, slot_of(now_ms(), interval_ms) - 1) {
            break s;
        }
        if Instant::now() >= deadline {
            bail!("survivors did not settle after the failover\n{}", logs(&nodes));
        }
    };
    Ok(FleetResult {
        emitted_per_node,
        owned_gauge,
        victim_groups: victim_groups.len(),
        failover_observed,
        failover_slot_start,
        emitted_after: count_per_node(&record.emissions.owners_at(after)),
        duplicates: record.emissions.duplicates().len(),
        redis_load,
        run,
    })
}

fn count_per_node(owners: &BTreeMap<String, String>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for node in owners.values() {
        *out.entry(node.clone()).or_default() += 1;
    }
    out
}

/// max / mean of the per-node counts.
pub fn balance(counts: &BTreeMap<String, usize>) -> f64 {
    let max = counts.values().copied().max().unwrap_or(0) as f64;
    let mean = counts.values().sum::<usize>() as f64 / counts.len().max(1) as f64;
    if mean > 0.0 { max / mean } else { 0.0 }
}
