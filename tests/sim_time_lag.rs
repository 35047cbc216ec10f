//! Time lag, rates and status end to end: a real lagring process against the
//! in-process Kafka simulator on a real clock, remote-writing to the
//! testkit's recording receiver (which keeps every sample's slot timestamp).
//!
//! The simulator knows when every record was produced, so each emitted
//! `kafka_consumer_group_lag_in_seconds` sample is compared with the truth
//! `slot − produce time of the record at the committed offset` (0 when the
//! group is caught up). lagring fetches a little after the slot starts, so the
//! truth is taken for the offsets the simulator served at some instant of
//! `[slot, slot + FETCH_WINDOW]`, and the error is the smallest over them.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use lagring_core::metric_names as m;
use lagring_core::series::is_stale_marker;
use lagring_sim::{Clock, ManualClock, Scenario, Sim, SimHandle};
use lagring_testkit::lagring_node::LagringNode;
use lagring_testkit::metrics_text::select;
use lagring_testkit::ports::wait_for;
use lagring_testkit::receiver::RecordingReceiver;

const INTERVAL_MS: i64 = 1_000;
/// lagring's fetch of a slot happens within this much of the slot start.
const FETCH_WINDOW_MS: i64 = 500;
const TIMEOUT: Duration = Duration::from_secs(90);

/// Every series whose values must be finite and never negative.
fn in_time_lag_family(name: &str) -> bool {
    let per_partition = [m::PARTITION_LAG_SECONDS, m::PARTITION_PRODUCE_RATE, m::PARTITION_CONSUME_RATE];
    per_partition.contains(&name)
        || [m::CATCH_UP_ETA_SECONDS, m::GROUP_STATUS].contains(&name)
        || m::TIME_LAG_AGGREGATES.contains(&name)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// How a simulated cluster's scenario time runs.
#[derive(Clone, Copy)]
enum Start {
    /// On the real clock, as if it had been running for this long already.
    Running(Duration),
    /// Frozen at t = 0 until lagring has observed the cluster, then in real
    /// time: what happens after t = 0 is all inside lagring's history,
    /// however long the node takes to start.
    WhenObserved,
}

/// One simulated cluster.
struct SimCluster {
    name: String,
    sim: SimHandle,
    /// Unix ms of scenario t = 0 (set when a frozen clock starts).
    epoch_ms: i64,
    frozen: Option<ManualClock>,
}

/// Simulated clusters and one lagring node remote-writing to a receiver.
struct Bed {
    clusters: Vec<SimCluster>,
    node: LagringNode,
    receiver: RecordingReceiver,
    drivers: Vec<tokio::task::JoinHandle<()>>,
}

/// `(cluster, group, topic, partition)`.
type Partition = (String, String, String, i32);

impl Bed {
    /// Starts a simulator per `(cluster name, scenario, start)` and a node
    /// watching them with `time_lag` as its `time_lag:` section; returns once
    /// every cluster's scenario clock runs.
    async fn start(clusters: &[(&str, &str, Start)], time_lag: &str) -> Result<Self> {
        let receiver = RecordingReceiver::start().await?;
        let mut sims = Vec::new();
        let mut entries = String::new();
        for (name, body, start) in clusters {
            let (clock, epoch_ms, frozen) = match start {
                Start::Running(lead) => {
                    let started = Instant::now().checked_sub(*lead).context("lead longer than the uptime")?;
                    (Clock::Real(started), now_ms() - lead.as_millis() as i64, None)
                }
                Start::WhenObserved => {
                    let (clock, manual) = Clock::manual();
                    (clock, 0, Some(manual))
                }
            };
            let sim = Sim::start(Scenario::from_yaml(body)?, clock).await?;
            entries.push_str(&format!("  - {{ name: {name}, brokers: ['{}'] }}\n", sim.bootstrap()));
            sims.push(SimCluster { name: (*name).to_owned(), sim, epoch_ms, frozen });
        }
        let config = format!(
            "node: {{ id: sim-time-lag, interval: {INTERVAL_MS}ms, heartbeat_interval: 500ms, node_ttl: 2s }}\n\
             clusters:\n{entries}\
             remote_write: {{ url: '{}', min_backoff: 50ms, max_backoff: 500ms }}\n\
             time_lag: {time_lag}\n\
             http: {{ listen: '{{HTTP_LISTEN}}' }}\n",
            receiver.url()
        );
        let node = LagringNode::start(&lagring_e2e::lagring_binary()?, "lagring", &config)?;
        let mut bed = Self { clusters: sims, node, receiver, drivers: Vec::new() };
        bed.start_frozen_clocks().await?;
        Ok(bed)
    }

    /// Starts each frozen clock once the node has emitted that cluster's lag.
    async fn start_frozen_clocks(&mut self) -> Result<()> {
        for i in 0..self.clusters.len() {
            let Some(manual) = self.clusters[i].frozen.clone() else { continue };
            let name = self.clusters[i].name.clone();
            wait_for(&format!("lagring observing cluster {name}"), TIMEOUT, || async {
                let seen = self.receiver.samples().iter().any(|s| {
                    s.series.name == m::PARTITION_LAG_OFFSETS && s.series.labels.get("clustername") == Some(&name)
                });
                Ok(seen.then_some(()))
            })
            .await
            .map_err(|e| e.context(self.node.log_tail()))?;
            let (t0, epoch_ms) = (Instant::now(), now_ms());
            self.clusters[i].epoch_ms = epoch_ms;
            self.drivers.push(tokio::spawn(async move {
                // Scenario time follows wall time to the millisecond, for as
                // long as any test may run.
                let end = t0 + Duration::from_secs(600);
                while Instant::now() < end {
                    manual.set(t0.elapsed());
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }));
        }
        Ok(())
    }

    fn cluster(&self, name: &str) -> &SimCluster {
        self.clusters.iter().find(|c| c.name == name).expect("cluster exists")
    }

    /// Waits until the node has remote-written the slot at scenario time `at` of `cluster`.
    async fn wait_for_scenario_time(&self, cluster: &str, at: Duration) -> Result<()> {
        let slot = self.cluster(cluster).epoch_ms + at.as_millis() as i64;
        wait_for(&format!("samples of {cluster} at scenario time {at:?}"), TIMEOUT, || async {
            let seen = self.receiver.samples().iter().any(|s| {
                s.series.name == m::GROUP_STATUS
                    && s.series.labels.get("clustername").map(String::as_str) == Some(cluster)
                    && s.timestamp_ms >= slot
            });
            Ok(seen.then_some(()))
        })
        .await
        .map_err(|e| e.context(self.node.log_tail()))
    }

    /// Scenario ms of a slot timestamp of `cluster`.
    fn scenario_ms(&self, cluster: &str, slot_ms: i64) -> i64 {
        slot_ms - self.cluster(cluster).epoch_ms
    }

    /// Truth of the time lag at `slot_ms` for each instant lagring may have
    /// fetched the slot at.
    fn truths(&self, (cluster, group, topic, partition): &Partition, slot_ms: i64) -> Vec<f64> {
        let c = self.cluster(cluster);
        let model = c.sim.model();
        let (g, t) = (model.group(group).unwrap(), model.topic(topic).unwrap());
        (0..=FETCH_WINDOW_MS)
            .step_by(10)
            .filter_map(|dt| {
                // Before a frozen clock starts, the cluster is at t = 0.
                let at = u64::try_from((slot_ms - c.epoch_ms + dt).max(0)).ok()?;
                let committed = g.committed(t, *partition, at)?;
                if committed >= t.high_watermark(*partition, at) as i64 {
                    return Some(0.0);
                }
                let produced = c.epoch_ms + t.produce_time_ms(*partition, committed as u64, at);
                Some(((slot_ms - produced) as f64 / 1000.0).max(0.0))
            })
            .collect()
    }

    /// Every `(slot, value)` of `name` per label set, by slot.
    fn series(&self, name: &str) -> BTreeMap<BTreeMap<String, String>, Vec<(i64, f64)>> {
        let mut out: BTreeMap<_, Vec<(i64, f64)>> = BTreeMap::new();
        for (id, samples) in self.receiver.series() {
            if id.name == name {
                out.entry(id.labels).or_default().extend(samples);
            }
        }
        out.values_mut().for_each(|v| v.sort_by_key(|(t, _)| *t));
        out
    }

    /// `(slot, value)` of `name` with exactly these labels.
    fn of(&self, name: &str, labels: &[(&str, &str)]) -> Vec<(i64, f64)> {
        let want: BTreeMap<String, String> = labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        self.series(name).remove(&want).unwrap_or_default()
    }

    /// Every time-lag-family sample is finite and not negative, and no
    /// staleness marker was sent except for the catch-up ETA.
    fn assert_sane(&self) {
        for s in self.receiver.samples().iter().filter(|s| in_time_lag_family(&s.series.name)) {
            if is_stale_marker(s.value) {
                assert_eq!(s.series.name, m::CATCH_UP_ETA_SECONDS, "unexpected end of {:?}", s.series);
                continue;
            }
            assert!(s.value.is_finite() && s.value >= 0.0, "{:?} = {}", s.series, s.value);
        }
    }

    async fn stop(self) {
        self.drivers.iter().for_each(|d| d.abort());
        for c in self.clusters {
            c.sim.shutdown().await;
        }
    }
}

fn median_and_p95(errors: &mut [f64]) -> (f64, f64) {
    errors.sort_by(f64::total_cmp);
    let at = |q: f64| errors[((errors.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95))
}

/// steady: 10 msg/s since t = 0 after 1,000 initial records; running for 5 s
/// when lagring starts, so `old-commit` (stuck on the first record written
/// after t = 0) is older than the whole history from the first observation.
const STEADY: &str = "seed: 11\nbrokers: 2\n\
topics: [ { name: steady, partitions: 2, initial_messages: 1000, produce: { constant: 10.0 } } ]\n\
groups:\n\
  - { name: steady-up, topics: [steady] }\n\
  - { name: steady-lag, topics: [steady], behaviour: { lags_by: 40 } }\n\
  - { name: old-commit, topics: [steady], behaviour: { stops_committing: 0s } }\n";

/// bursty: 100 records in [0 s, 2 s), idle 13 s, 100 in [15 s, 17 s), deleted
/// and recreated at 20 s, 100 records in [20 s, 22 s), idle. Frozen at t = 0
/// until lagring observes it.
const BURSTY: &str = "seed: 12\nbrokers: 2\n\
topics: [ { name: bursty, partitions: 1, recreate_at: [20s], produce: { bursts: { rate: 50.0, every: 15s, length: 2s } } } ]\n\
groups:\n\
  - { name: bursty-up, topics: [bursty] }\n\
  - { name: bursty-lag, topics: [bursty], behaviour: { lags_by: 60 } }\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_lag_matches_the_produce_times_the_simulator_knows() -> Result<()> {
    let clusters =
        [("steady", STEADY, Start::Running(Duration::from_secs(5))), ("bursty", BURSTY, Start::WhenObserved)];
    let bed = Bed::start(&clusters, "{}").await?;
    bed.wait_for_scenario_time("bursty", Duration::from_secs(27)).await?;
    bed.assert_sane();

    let lags = bed.series(m::PARTITION_LAG_SECONDS);
    let mut errors = Vec::new();
    for (labels, samples) in &lags {
        let p: Partition = (
            labels["clustername"].clone(),
            labels["group"].clone(),
            labels["topic"].clone(),
            labels["partition"].parse()?,
        );
        for &(slot, value) in samples {
            let truths = bed.truths(&p, slot);
            let error = truths.iter().map(|t| (value - t).abs()).fold(f64::INFINITY, f64::min);
            let at = bed.scenario_ms(&p.0, slot);
            assert!(error <= INTERVAL_MS as f64 / 1000.0, "{p:?} at scenario {at} ms: {value} s, truth {truths:?}");
            errors.push(error);
        }
    }
    let (median, p95) = median_and_p95(&mut errors);
    println!("simulator time lag: {} samples, |error| median {median:.3} s, p95 {p95:.3} s", errors.len());
    assert!(errors.len() > 100, "too few samples: {}", errors.len());

    let values = |cluster: &str, group: &str| -> Vec<f64> {
        let of = |l: &BTreeMap<String, String>| l["clustername"] == cluster && l["group"] == group;
        lags.iter().filter(|(l, _)| of(l)).flat_map(|(_, v)| v.iter().map(|s| s.1)).collect()
    };
    // Caught up, idle producer or not: exactly 0, every slot.
    for (cluster, group) in [("steady", "steady-up"), ("bursty", "bursty-up")] {
        let v = values(cluster, group);
        assert!(!v.is_empty() && v.iter().all(|v| *v == 0.0), "{group}: {v:?}");
    }
    // A commit older than the whole history: extrapolated (and counted),
    // exact above since production was steady across the history's start.
    let extrapolated =
        bed.of(m::PARTITIONS_TIME_LAG_EXTRAPOLATED, &[("clustername", "steady"), ("group", "old-commit")]);
    assert!(extrapolated.len() > 10 && extrapolated.iter().skip(1).all(|(_, v)| *v == 2.0), "{extrapolated:?}");

    // Idle producer, consumer behind: the age grows one second per second;
    // the burst after 13 s of idling brings it down to the burst's age.
    let bursty = bed.of(
        m::PARTITION_LAG_SECONDS,
        &[("clustername", "bursty"), ("group", "bursty-lag"), ("partition", "0"), ("topic", "bursty")],
    );
    let at = |slot: i64| bed.scenario_ms("bursty", slot);
    let idle: Vec<(i64, f64)> = bursty.iter().copied().filter(|(t, _)| (3_000..14_000).contains(&at(*t))).collect();
    assert!(idle.len() >= 9, "{idle:?}");
    for pair in idle.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        assert!((b.1 - a.1 - (b.0 - a.0) as f64 / 1000.0).abs() < 1e-6, "idle: grows with wall time: {a:?} -> {b:?}");
    }
    assert!(idle.last().unwrap().1 > 10.0, "{idle:?}");
    let after_burst = bursty.iter().find(|(t, _)| at(*t) >= 17_000).unwrap();
    assert!(after_burst.1 < 2.5, "after the burst: {after_burst:?}");

    // Rates: 10 msg/s produced on steady, and consumed by the group lagging by 40.
    let history_start = bed.of(m::GROUP_STATUS, &[("clustername", "steady"), ("group", "steady-up")])[0].0;
    for p in ["0", "1"] {
        let produce =
            bed.of(m::PARTITION_PRODUCE_RATE, &[("clustername", "steady"), ("partition", p), ("topic", "steady")]);
        let consume = bed.of(
            m::PARTITION_CONSUME_RATE,
            &[("clustername", "steady"), ("group", "steady-lag"), ("partition", p), ("topic", "steady")],
        );
        assert!(produce.len() > 10 && consume.len() > 10);
        for (slot, rate) in produce.iter().chain(&consume).filter(|(t, _)| *t >= history_start + 5_000) {
            assert!((rate - 10.0).abs() <= 0.5, "steady/{p} at {slot}: {rate}");
        }
    }
    // The recreation reset bursty's end history once, and the committed
    // histories of both groups on it once each; nothing else reset.
    let metrics = bed.node.metrics().await?;
    let resets = |cluster: &str, history: &str| {
        select(&metrics, "lagring_history_resets_total", &[("cluster", cluster), ("history", history)])
            .first()
            .map(|s| s.value)
    };
    assert_eq!((resets("bursty", "end"), resets("bursty", "committed")), (Some(1.0), Some(2.0)));
    assert_eq!((resets("steady", "end"), resets("steady", "committed")), (None, None));
    assert!(select(&metrics, "lagring_history_errors_total", &[]).iter().all(|s| s.value == 0.0));
    bed.stop().await;
    Ok(())
}

/// orders: 10 msg/s. quiet: one message every 5 s, longer than the 4 s window.
const STATUS_SCENARIO: &str = "seed: 13\nbrokers: 2\n\
topics:\n\
  - { name: orders, partitions: 2, initial_messages: 1000, produce: { constant: 10.0 } }\n\
  - { name: quiet, partitions: 1, initial_messages: 10, produce: { constant: 0.2 } }\n\
groups:\n\
  - { name: ok, topics: [orders], behaviour: { lags_by: 20 } }\n\
  - { name: up, topics: [orders] }\n\
  - { name: stall, topics: [orders], behaviour: { stalls: 6s } }\n\
  - { name: stop, topics: [orders], members: 0, behaviour: { stops_committing: 6s } }\n\
  - { name: rewind, topics: [orders], behaviour: { rewinds: { at: 10s, by: 40 } } }\n\
  - { name: slow, topics: [orders], behaviour: { consumes_fraction: 0.5 } }\n\
  - { name: quiet-reader, topics: [quiet] }\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_follows_burrows_rules_on_simulated_consumers() -> Result<()> {
    let window_ms = 4_000;
    let bed =
        Bed::start(&[("sim", STATUS_SCENARIO, Start::WhenObserved)], "{ status_window: 4s, rate_window: 4s }").await?;
    bed.wait_for_scenario_time("sim", Duration::from_secs(22)).await?;
    bed.assert_sane();
    // (scenario ms, status) from the first slot after scenario time `from`.
    let status = |group: &str, from: i64| -> Vec<(i64, u8)> {
        bed.of(m::GROUP_STATUS, &[("clustername", "sim"), ("group", group)])
            .into_iter()
            .map(|(t, v)| (bed.scenario_ms("sim", t), v as u8))
            .filter(|(t, _)| *t >= from)
            .collect()
    };
    let codes = |s: &[(i64, u8)]| s.iter().map(|(_, c)| *c).collect::<Vec<u8>>();
    // While the scenario was frozen nothing moved; from the first move on:
    for group in ["ok", "up", "quiet-reader"] {
        let s = status(group, 1_500);
        assert!(s.len() >= 18 && s.iter().all(|(_, c)| *c == 0), "{group} must be OK throughout: {s:?}");
    }
    // Stalled with members: STALL once the offset stood still with work
    // waiting for a whole window, and from then on; without members: STOP.
    for (group, code) in [("stall", 3u8), ("stop", 4u8)] {
        let s = status(group, i64::MIN);
        let first = s.iter().position(|(_, c)| *c == code).unwrap_or_else(|| panic!("{group} never {code}: {s:?}"));
        assert!(codes(&s[..first]).iter().all(|c| *c == 0), "{group}: {s:?}");
        assert!(codes(&s[first..]).iter().all(|c| *c == code), "{group}: {s:?}");
        let since_stall = s[first].0 - 6_000;
        let expected = window_ms - FETCH_WINDOW_MS..=window_ms + 2 * INTERVAL_MS;
        assert!(expected.contains(&since_stall), "{group} after {since_stall} ms: {s:?}");
    }
    // Rewound at 10 s by 40 records: REWIND until it is back where it came from.
    let s = status("rewind", 1_500);
    let rewound_at = 10_000 - FETCH_WINDOW_MS;
    assert!(s.iter().filter(|(t, _)| *t < rewound_at).all(|(_, c)| *c == 0), "{s:?}");
    let rewinding: Vec<i64> = s.iter().filter(|(_, c)| *c == 2).map(|(t, _)| *t).collect();
    assert!(rewinding.len() >= 2 && rewinding.iter().all(|t| (rewound_at..15_000).contains(t)), "{s:?}");
    assert!(codes(&s[s.len() - 3..]).iter().all(|c| *c == 0), "{s:?}");
    // Moving but falling behind: WARN once the committed history covers a window of it.
    let s = status("slow", 0);
    let first = s.iter().position(|(_, c)| *c == 1).unwrap_or_else(|| panic!("slow never WARN: {s:?}"));
    assert!(s[first].0 <= window_ms + 2 * INTERVAL_MS, "{s:?}");
    assert!(codes(&s[first..]).iter().all(|c| *c == 1), "{s:?}");
    bed.stop().await;
    Ok(())
}
