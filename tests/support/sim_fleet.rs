//! A fleet of real lagring processes on the simulator running in the test
//! process, with a real redis-server and the recording remote-write
//! receiver, judged per slot from what the receiver got. A broker can be made
//! silent or refusing with iptables ([`Silence`]).
//!
//! A slot is `timestamp / interval`: every node stamps its samples with the
//! wall-clock slot start.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
// Harness types hold servers and processes; nothing prints them.
#![allow(missing_debug_implementations)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use lagring_sim::SimHandle;
use lagring_testkit::lagring_node::LagringNode;
use lagring_testkit::netfilter::{PortBlock, PortFault};
use lagring_testkit::receiver::RecordingReceiver;
use lagring_testkit::redis::RedisServer;

pub const INTERVAL_MS: i64 = 1_000;
pub const TIMEOUT: Duration = Duration::from_secs(90);
/// Differences shown when a slot does not match.
const SHOWN: usize = 6;

/// A series as the receiver names it: metric name, group, topic, partition
/// (empty where the series has no such label).
pub type Key = (String, String, String, String);
/// Expected value of every series one slot must hold.
pub type Want = BTreeMap<Key, f64>;
/// Real samples by series (name, labels) and slot.
pub type Record = BTreeMap<(String, BTreeMap<String, String>), BTreeMap<i64, Vec<f64>>>;

pub fn now_slot() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
    now.as_millis() as i64 / INTERVAL_MS
}

pub struct SimFleet {
    pub redis: RedisServer,
    pub receiver: RecordingReceiver,
    pub nodes: Vec<(String, LagringNode)>,
    bin: PathBuf,
    /// `clusters[].client`; `None` leaves the key out (the default).
    client: Option<&'static str>,
    brokers: String,
}

impl SimFleet {
    pub async fn start(sim: &SimHandle, ids: &[&str], client: Option<&'static str>) -> Result<Self> {
        let brokers: Vec<String> = sim.broker_addrs().iter().map(|a| format!("'{a}'")).collect();
        let mut fleet = Self {
            redis: RedisServer::start()?,
            receiver: RecordingReceiver::start().await?,
            nodes: Vec::new(),
            bin: crate::lagring_binary()?,
            client,
            brokers: brokers.join(", "),
        };
        for id in ids {
            fleet.add_node(id)?;
        }
        Ok(fleet)
    }

    /// `request_timeout` 300 ms: the default ratio to the interval (10 s of
    /// 30 s). At 1 s = the interval, requests to a silent broker run to the
    /// iteration's Kafka deadline (0.9 × interval) and a loaded machine made
    /// one node miss a slot (1 of 10 runs; one more run at 1 s was 6 slots
    /// late, its cause not captured).
    fn config(&self, id: &str) -> String {
        let client = self.client.map(|c| format!(", client: {c}")).unwrap_or_default();
        format!(
            "node: {{ id: {id}, interval: {INTERVAL_MS}ms, heartbeat_interval: 250ms, node_ttl: 2s, shutdown_timeout: 30s }}\n\
             redis: {{ url: '{}' }}\n\
             clusters: [ {{ name: sim, brokers: [{}], request_timeout: 300ms{client} }} ]\n\
             remote_write: {{ url: '{}', min_backoff: 50ms, max_backoff: 500ms }}\n\
             http: {{ listen: '{{HTTP_LISTEN}}' }}\n",
            self.redis.url(),
            self.brokers,
            self.receiver.url()
        )
    }

    fn add_node(&mut self, id: &str) -> Result<()> {
        let node = LagringNode::start(&self.bin, id, &self.config(id))?;
        self.nodes.push((id.to_owned(), node));
        Ok(())
    }

    pub fn logs(&self) -> String {
        self.nodes.iter().map(|(id, n)| format!("--- {id}\n{}", n.log_tail())).collect::<Vec<_>>().join("\n")
    }

    /// Fails when a node exited: no node may, with either client.
    pub fn check_running(&mut self) -> Result<()> {
        for (id, node) in &mut self.nodes {
            if !node.is_running() {
                bail!("{id} exited\n{}", node.log_tail());
            }
        }
        Ok(())
    }

    /// Every real sample the receiver accepted (staleness markers left out).
    pub fn record(&self) -> Record {
        let mut out = Record::new();
        for s in self.receiver.samples().into_iter().filter(|s| !s.value.is_nan()) {
            let slots = out.entry((s.series.name, s.series.labels)).or_default();
            slots.entry(s.timestamp_ms / INTERVAL_MS).or_default().push(s.value);
        }
        out
    }

    /// The first slot after `after` from which every slot up to the last one
    /// delivered matches `want` (see [`slot_errors`]), once `window` such
    /// slots have passed. Checks the nodes are running on every poll.
    pub async fn settled(&mut self, after: i64, window: i64, want: &Want, absent: &BTreeSet<String>) -> Result<i64> {
        let deadline = Instant::now() + TIMEOUT;
        let mut checked = i64::MIN;
        loop {
            self.check_running()?;
            let last = now_slot() - 2;
            if last != checked {
                checked = last;
                let record = self.record();
                let exact = |s: &i64| slot_errors(&record, *s, want, absent).is_empty();
                match (after + 1..=last).rev().take_while(exact).last() {
                    Some(first) if last - first + 1 >= window => return Ok(first),
                    _ if Instant::now() >= deadline => {
                        let errors = slot_errors(&record, last, want, absent);
                        let shown = &errors[..errors.len().min(SHOWN)];
                        bail!(
                            "no {window} exact slots after {after}; slot {last}: {} wrong, {shown:?}\n{}",
                            errors.len(),
                            self.logs()
                        );
                    }
                    _ => {}
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl SimFleet {
    /// The first differences from `want` of each slot in `from..=to`, and
    /// the nodes' logs: the failure report of a bound that was not met.
    pub fn explain(&self, from: i64, to: i64, want: &Want, absent: &BTreeSet<String>) -> String {
        let record = self.record();
        let mut out = String::new();
        for slot in from..=to {
            let errors = slot_errors(&record, slot, want, absent);
            let shown = &errors[..errors.len().min(SHOWN)];
            out.push_str(&format!("slot {slot}: {} wrong {shown:?}\n", errors.len()));
        }
        out + &self.logs()
    }
}

/// How `slot` differs from `want` (empty when it matches exactly: one sample
/// of each wanted series with the wanted value); a partition lag series of a
/// partition named in `absent` ("group topic/partition") that was sent counts
/// as a difference.
pub fn slot_errors(record: &Record, slot: i64, want: &Want, absent: &BTreeSet<String>) -> Vec<String> {
    let mut got: BTreeMap<&Key, &Vec<f64>> = BTreeMap::new();
    let mut errors = Vec::new();
    for ((name, labels), slots) in record {
        let Some(values) = slots.get(&slot) else { continue };
        let label = |k: &str| labels.get(k).cloned().unwrap_or_default();
        let (group, topic, partition) = (label("group"), label("topic"), label("partition"));
        if name == "kafka_consumer_group_lag_in_offsets" && absent.contains(&format!("{group} {topic}/{partition}")) {
            errors.push(format!("slot {slot}: {group} {topic}/{partition} has lag {values:?}, its leader is silent"));
        }
        if let Some((key, _)) = want.get_key_value(&(name.clone(), group, topic, partition)) {
            got.insert(key, values);
        }
    }
    for (key, value) in want {
        match got.get(key).map(|v| v.as_slice()) {
            Some([v]) if v == value => {}
            other => errors.push(format!("slot {slot}: {key:?} want {value}, got {other:?}")),
        }
    }
    errors
}

/// (series, slot) pairs with more than one real sample.
pub fn duplicates(record: &Record) -> Vec<String> {
    let mut out = Vec::new();
    for ((name, labels), slots) in record {
        out.extend(slots.iter().filter(|(_, v)| v.len() > 1).map(|(s, v)| format!("{name}{labels:?} slot {s}: {v:?}")));
    }
    out
}

/// One broker made silent or refusing by iptables, or — silent only — by the
/// simulator where iptables is not available; back on `heal` or drop.
pub enum Silence<'a> {
    Iptables(PortBlock),
    Simulator(&'a SimHandle, i32),
}

impl<'a> Silence<'a> {
    pub fn start(sim: &'a SimHandle, broker: i32, fault: PortFault) -> Self {
        let port = sim.broker_addrs()[broker as usize].port();
        match PortBlock::install(port, fault) {
            Ok(block) => {
                println!("broker {broker} (port {port}): {fault:?} by iptables");
                Silence::Iptables(block)
            }
            Err(e) => {
                assert_eq!(fault, PortFault::Silent, "a refusing broker needs iptables: {e:#}");
                println!("iptables not usable ({e:#}); broker {broker} silenced by the simulator");
                sim.set_silenced(broker, true);
                Silence::Simulator(sim, broker)
            }
        }
    }

    pub fn heal(&mut self) -> Result<()> {
        match self {
            Silence::Iptables(block) => block.remove(),
            Silence::Simulator(sim, broker) => {
                sim.set_silenced(*broker, false);
                Ok(())
            }
        }
    }
}

impl Drop for Silence<'_> {
    fn drop(&mut self) {
        let _ = self.heal();
    }
}
