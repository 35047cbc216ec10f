//! Push sinks in a two-node fleet in one process (memory store, simulator,
//! `run_with`), scaled timing (interval 1 s, `changed_every` 1 s,
//! `unchanged_every` 2 s: the default ratios to a 30 s interval):
//!
//! - every group's goRainbow lines reach the Wavefront receiver of the node
//!   that owns it, and only that one;
//! - node-a also has a sink whose receiver is down: remote write still gets
//!   every group in every slot, and the down sink's loss is counted on
//!   node-a's `/metrics` (`valid = dropped + queued + in flight`, exactly);
//! - node-b leaves: its groups move to node-a, and neither node brackets
//!   them with a 0 (the lag never was 0), while no series is sent twice for
//!   one slot or an unchanged one sooner than `unchanged_every`.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use lagring::pipeline::{KafkaConnector, NodeParts, run_with};
use lagring_sim::{Clock, Scenario, Sim};
use lagring_store::{HistoryPolicies, MemoryEvaluationStore, MemoryHistoryStore, MemoryStore, NodeIdentity};
use lagring_testkit::emissions::Emissions;
use lagring_testkit::metrics_text;
use lagring_testkit::ports::wait_for;
use lagring_testkit::receiver::RecordingReceiver;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const INTERVAL_MS: i64 = 1_000;
const TIMEOUT: Duration = Duration::from_secs(60);
const GROUPS: [&str; 4] = ["g-0", "g-1", "g-2", "g-3"];
const SCENARIO: &str = "seed: 5\nbrokers: 1\n\
topics:\n\
\x20 - { name: orders, partitions: 2, initial_messages: 400, produce: { constant: 4.0 } }\n\
groups:\n\
\x20 - { name: g-0, topics: [orders], behaviour: { lags_by: 10 } }\n\
\x20 - { name: g-1, topics: [orders], behaviour: { lags_by: 11 } }\n\
\x20 - { name: g-2, topics: [orders], behaviour: { lags_by: 12 } }\n\
\x20 - { name: g-3, topics: [orders], behaviour: { lags_by: 13 } }\n";

/// Every line a Wavefront receiver got.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    async fn start() -> (Self, String) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let lines = Self::default();
        let sink = lines.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sink = sink.clone();
                tokio::spawn(async move {
                    let mut reader = BufReader::new(stream).lines();
                    while let Ok(Some(line)) = reader.next_line().await {
                        sink.0.lock().unwrap().push(line);
                    }
                });
            }
        });
        (lines, address)
    }

    /// `totalLag` points per group: (seconds, value), in arrival order.
    fn total_lag(&self) -> BTreeMap<String, Vec<(i64, f64)>> {
        let mut out: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
        for line in self.0.lock().unwrap().iter() {
            let mut fields = line.split(' ');
            let (name, value, ts) = (fields.next().unwrap(), fields.next().unwrap(), fields.next().unwrap());
            if let Some(group) = name.strip_prefix("fjord.burrow.sim.").and_then(|n| n.strip_suffix(".totalLag")) {
                out.entry(group.to_owned()).or_default().push((ts.parse().unwrap(), value.parse().unwrap()));
            }
        }
        out
    }
}

fn now_slot() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64 / INTERVAL_MS
}

fn config(id: &str, brokers: &str, receiver: &str, wavefront: &str, down: Option<&str>) -> String {
    let down = down
        .map(|a| {
            format!(
                "  - {{ name: down, wavefront: {{ address: '{a}', naming: gorainbow }}, queue_max_records: 10, \
                 max_records_per_send: 5, \
                 changed_every: 1s, unchanged_every: 2s, min_backoff: 50ms, max_backoff: 200ms }}\n"
            )
        })
        .unwrap_or_default();
    format!(
        "node: {{ id: {id}, interval: {INTERVAL_MS}ms, heartbeat_interval: 250ms, node_ttl: 2s, shutdown_timeout: 15s }}\n\
         clusters: [{{ name: sim, brokers: ['{brokers}'], request_timeout: 1s }}]\n\
         remote_write: {{ url: '{receiver}', min_backoff: 50ms, max_backoff: 500ms }}\n\
         http: {{ listen: '127.0.0.1:0' }}\n\
         sinks:\n\
         \x20 - {{ name: wf, wavefront: {{ address: '{wavefront}', naming: gorainbow }}, changed_every: 1s, \
         unchanged_every: 2s }}\n{down}"
    )
}

struct Node {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Result<()>>,
    http: std::net::SocketAddr,
}

async fn start_node(cfg: &str, id: &str, store: &MemoryStore, history: &Arc<MemoryHistoryStore>) -> Result<Node> {
    let cfg = lagring::config::parse(cfg).context("node config")?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let http = listener.local_addr()?;
    let parts = NodeParts {
        identity: NodeIdentity::new(id.to_owned()),
        store: Arc::new(store.clone()),
        history: history.clone(),
        evaluations: Arc::new(MemoryEvaluationStore::new()),
        kafka: KafkaConnector::from_config(),
        listener,
    };
    let stop = CancellationToken::new();
    let task = tokio::spawn(run_with(cfg, parts, stop.clone()));
    Ok(Node { stop, task, http })
}

/// The named `lagring_sink_*` series of `sink`, from one scrape.
async fn scrape(http: std::net::SocketAddr, sink: &str, names: &[&str]) -> Vec<f64> {
    let text = reqwest::get(format!("http://{http}/metrics")).await.unwrap().text().await.unwrap();
    let samples = metrics_text::parse(&text).unwrap();
    names
        .iter()
        .map(|name| metrics_text::select(&samples, name, &[("sink", sink)]).iter().map(|s| s.value).sum())
        .collect()
}

/// Waits for `slots` consecutive slots after `after` in which remote write got
/// every group exactly once, from `nodes` distinct nodes; returns the first
/// of them and its owners.
async fn wait_stable(rx: &RecordingReceiver, slots: i64, after: i64, nodes: usize) -> (i64, BTreeMap<String, String>) {
    wait_for("a stable fleet", TIMEOUT, || async {
        let em = Emissions::collect(&rx.samples(), "kafka_consumer_group_sum_lag_in_offsets", INTERVAL_MS);
        let upto = now_slot() - 2;
        let from = upto - slots + 1;
        if from <= after {
            return Ok(None);
        }
        let complete = (from..=upto).all(|s| GROUPS.iter().all(|g| em.missing(g, s, s).is_empty()));
        let owners = em.owners_at(from);
        let settled = (from..=upto).all(|s| em.owners_at(s) == owners);
        let spread = owners.values().collect::<std::collections::BTreeSet<_>>().len() == nodes;
        Ok((complete && settled && spread && em.duplicates().is_empty()).then_some((from, owners)))
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_sinks_in_a_fleet_follow_ownership_and_a_down_sink_delays_nothing() -> Result<()> {
    let sim = Sim::start(Scenario::from_yaml(SCENARIO)?, Clock::real()).await?;
    let brokers = sim.broker_addrs()[0].to_string();
    let rx = RecordingReceiver::start().await?;
    let store = MemoryStore::new();
    let history = Arc::new(MemoryHistoryStore::new(HistoryPolicies::default()));
    let refused = TcpListener::bind("127.0.0.1:0").await?.local_addr()?.to_string();
    let (lines_a, wf_a) = Lines::start().await;
    let (lines_b, wf_b) = Lines::start().await;
    let a =
        start_node(&config("node-a", &brokers, &rx.url(), &wf_a, Some(&refused)), "node-a", &store, &history).await?;
    let b = start_node(&config("node-b", &brokers, &rx.url(), &wf_b, None), "node-b", &store, &history).await?;

    // Remote write complete in every slot while node-a's down sink fails.
    let (from, owners) = wait_stable(&rx, 5, 0, 2).await;
    let names = [
        "lagring_sink_records_valid_total",
        "lagring_sink_records_dropped_total",
        "lagring_sink_queue_records",
        "lagring_sink_records_sent_total",
    ];
    // One chunk (at most 5: its first take) in flight, retried; the queue
    // full (10); the rest dropped. Polled: a scrape can fall between a
    // batch's count and its enqueue.
    let counts = wait_for("the down sink's counters", TIMEOUT, || async {
        let c = scrape(a.http, "down", &names).await;
        let (valid, dropped, queued) = (c[0], c[1], c[2]);
        Ok((dropped > 0.0 && queued == 10.0 && (1.0..=5.0).contains(&(valid - dropped - queued))).then_some(c))
    })
    .await
    .unwrap();
    assert_eq!(counts[3], 0.0, "the down sink sent something");

    // While ownership is stable, each group's lines come from its owner only
    // (slots are seconds here).
    let since = |lines: &Lines| -> BTreeMap<String, Vec<(i64, f64)>> {
        lines
            .total_lag()
            .into_iter()
            .map(|(g, points)| (g, points.into_iter().filter(|(t, _)| *t >= from).collect::<Vec<_>>()))
            .filter(|(_, points)| !points.is_empty())
            .collect()
    };
    let (on_a, on_b) = (since(&lines_a), since(&lines_b));
    for (group, owner) in &owners {
        let (mine, other) = if owner == "node-a" { (&on_a, &on_b) } else { (&on_b, &on_a) };
        assert!(mine.contains_key(group), "{group} owned by {owner} has no lines there");
        assert!(!other.contains_key(group), "{group} owned by {owner} was sent by the other node too: {other:?}");
    }

    // node-b leaves: its groups move to node-a.
    b.stop.cancel();
    tokio::time::timeout(Duration::from_secs(30), b.task).await.context("node-b did not stop")???;
    let stopped = now_slot();
    let (_, after) = wait_stable(&rx, 3, stopped, 1).await;
    assert!(after.values().all(|n| n == "node-a"), "{after:?}");

    // A move is neither ended nor started with a 0, on either side.
    for (node, lines) in [("node-a", &lines_a), ("node-b", &lines_b)] {
        let totals = lines.total_lag();
        assert!(totals.values().flatten().all(|(_, v)| *v > 0.0), "{node} sent a 0 totalLag: {totals:?}");
    }
    // Gating: one point per series and slot at most; unchanged ones 2 s apart at least.
    for lines in [&lines_a, &lines_b] {
        for (group, points) in lines.total_lag() {
            for pair in points.windows(2) {
                let ((t0, v0), (t1, v1)) = (pair[0], pair[1]);
                assert!(t1 > t0, "{group}: {points:?}");
                assert!(v0 != v1 || t1 - t0 >= 2, "{group} unchanged and re-sent after {} s: {points:?}", t1 - t0);
            }
        }
    }
    let moved: Vec<&String> = owners.iter().filter(|(_, n)| *n == "node-b").map(|(g, _)| g).collect();
    let on_a = lines_a.total_lag();
    for group in moved {
        assert!(on_a.get(group).is_some_and(|p| p.last().unwrap().0 >= stopped), "{group} not continued by node-a");
    }

    a.stop.cancel();
    tokio::time::timeout(Duration::from_secs(30), a.task).await.context("node-a did not stop")???;
    Ok(())
}
