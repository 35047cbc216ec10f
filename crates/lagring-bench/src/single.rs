//! One lagring node against one simulated cluster of a given size.
//!
//! lagring starts every iteration at a wall-clock multiple of the interval,
//! so the benchmark takes a checkpoint at 60 % of each slot, when the
//! iteration of that slot is done and the next has not begun. Between two
//! checkpoints lies exactly one iteration: its wall time is the delta of the
//! `iteration` stage histogram, its CPU the delta of the node's utime+stime
//! (read just before and just after each scrape, so rendering `/metrics` is
//! not counted), its Kafka requests the delta of the simulator's counters.
//! A window that did not hold exactly one successful iteration is counted
//! and left out of the medians.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use lagring_sim::{Clock, RequestCounts, ScaleSpec, Sim, SimHandle};
use lagring_testkit::metrics_text::TextSample;

use crate::node::{BenchNode, value};
use crate::procfs::{Ticks, peak_rss_bytes};
use crate::slots::{now_ms, sleep_until_ms};

/// Pipeline stages reported per iteration (`iteration` is their whole).
pub const STAGES: &[&str] = &[
    "list_groups",
    "offset_fetch",
    "metadata",
    "list_offsets",
    "compute",
    "history",
    "time_lag",
    "publish",
    "emit",
    "iteration",
];

/// Where in a slot the checkpoint is taken.
const CHECKPOINT_AT: f64 = 0.6;

/// What to run.
#[derive(Debug, Clone)]
pub struct SingleRun {
    pub groups: u32,
    pub topics: u32,
    pub partitions: u32,
    pub interval: Duration,
    pub iterations: usize,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct SingleResult {
    pub run: SingleRun,
    /// The variant's name in a side-by-side run (empty otherwise).
    pub variant: String,
    /// Seconds, one per clean window.
    pub wall: Vec<f64>,
    pub cpu: Vec<f64>,
    /// Simulator (benchmark process) CPU seconds per clean window.
    pub sim_cpu: Vec<f64>,
    /// Mean seconds per iteration by stage over clean windows.
    pub stages: BTreeMap<String, f64>,
    /// Kafka requests per iteration by API over clean windows.
    pub requests: BTreeMap<String, f64>,
    /// VmHWM before the first `/metrics` scrape, and at the end.
    pub rss_before_scrape: u64,
    pub rss_peak: u64,
    pub windows: usize,
    pub series: f64,
}

struct Checkpoint {
    cpu_before: f64,
    cpu_after: f64,
    sim_cpu: f64,
    counts: RequestCounts,
    metrics: Vec<TextSample>,
}

/// One lagring node of a side-by-side run: a name and YAML lines added to its config.
#[derive(Debug, Clone, Default)]
pub struct Variant {
    pub name: String,
    /// Top-level YAML added to the node's config.
    pub extra_config: String,
    /// Keys added to the cluster's entry (`client: native`), without braces.
    pub cluster_extra: String,
}

pub async fn run(bin: &Path, run: SingleRun, ticks: Ticks) -> Result<SingleResult> {
    let mut results = run_side_by_side(bin, run, &[Variant::default()], ticks).await?;
    results.pop().context("no result")
}

/// Runs one node per variant at the same time, each against its own
/// simulator of the same size, with checkpoints taken at the same moments:
/// the variants share the machine's load, so the ratio of their figures
/// holds on a busy machine where figures of separate runs differ by ±20 %.
pub async fn run_side_by_side(
    bin: &Path,
    run: SingleRun,
    variants: &[Variant],
    ticks: Ticks,
) -> Result<Vec<SingleResult>> {
    let spec = ScaleSpec::parse(&format!("groups={},topics={},partitions={}", run.groups, run.topics, run.partitions))?;
    let interval_ms = u64::try_from(run.interval.as_millis())?;
    let mut members = Vec::with_capacity(variants.len());
    for (i, variant) in variants.iter().enumerate() {
        let sim = Sim::start(spec.scenario(), Clock::real()).await.context("start simulator")?;
        let config = format!(
            "node: {{ id: bench-{i}, interval: {interval_ms}ms, iteration_timeout: {}ms }}\n\
             clusters: [ {{ name: sim, brokers: ['{}']{} }} ]\n\
             http: {{ listen: '{{HTTP_LISTEN}}' }}\n{}\n",
            interval_ms * 4,
            sim.bootstrap(),
            if variant.cluster_extra.is_empty() { String::new() } else { format!(", {}", variant.cluster_extra) },
            variant.extra_config,
        );
        let node = BenchNode::start(bin, &format!("lagring-bench-node-{i}"), &config)?;
        let pid = node.pid()?;
        members.push((sim, node, pid));
    }
    for (sim, node, _) in &members {
        warm_up(sim, interval_ms, run.groups).await.map_err(|e| e.context(node.log_tail()))?;
    }
    let mut rss_before_scrape = Vec::with_capacity(members.len());
    for (_, _, pid) in &members {
        rss_before_scrape.push(peak_rss_bytes(*pid)?);
    }

    let me = std::process::id();
    let mut checkpoints: Vec<Vec<Checkpoint>> = members.iter().map(|_| Vec::new()).collect();
    for _ in 0..=run.iterations {
        sleep_until_ms(next_checkpoint_ms(interval_ms)).await;
        for ((sim, node, pid), taken) in members.iter().zip(&mut checkpoints) {
            let cpu_before = ticks.cpu_seconds(*pid)?;
            let sim_cpu = ticks.cpu_seconds(me)?;
            let counts = sim.request_counts();
            let metrics = node.scrape().await.map_err(|e| e.context(node.log_tail()))?;
            let cpu_after = ticks.cpu_seconds(*pid)?;
            taken.push(Checkpoint { cpu_before, cpu_after, sim_cpu, counts, metrics });
        }
    }
    let mut results = Vec::with_capacity(members.len());
    for ((((sim, _node, pid), taken), variant), rss_before) in
        members.into_iter().zip(&checkpoints).zip(variants).zip(rss_before_scrape)
    {
        let mut result = summarise(run.clone(), taken);
        result.variant = variant.name.clone();
        result.rss_before_scrape = rss_before;
        result.rss_peak = peak_rss_bytes(pid)?;
        sim.shutdown().await;
        results.push(result);
    }
    Ok(results)
}

/// Waits (from the simulator's counters, without scraping the node) until
/// lagring has started its third iteration: connections, metadata and
/// coordinators are warm, and the first iterations' allocations are made.
/// Every iteration lists every broker once and fetches the groups' offsets
/// at least twice before the third starts: one OffsetFetch per group with
/// librdkafka, one per coordinator batch with the native client.
async fn warm_up(sim: &SimHandle, interval_ms: u64, groups: u32) -> Result<()> {
    let brokers = sim.broker_addrs().len() as u64;
    let deadline = Instant::now() + Duration::from_millis(interval_ms * 10) + Duration::from_secs(60);
    let mut fetches_in_first_iteration = None;
    loop {
        let counts = sim.request_counts();
        if counts.api("ListGroups") >= 2 * brokers && fetches_in_first_iteration.is_none() {
            fetches_in_first_iteration = Some(counts.api("OffsetFetch").clamp(1, u64::from(groups)));
        }
        let fetched_twice = fetches_in_first_iteration.is_some_and(|n| counts.api("OffsetFetch") >= 2 * n);
        if counts.api("ListGroups") >= 3 * brokers && fetched_twice {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("lagring did not start a third iteration in time; simulator saw {:?}", counts.by_api());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn next_checkpoint_ms(interval_ms: u64) -> u64 {
    let now = now_ms();
    let offset = (interval_ms as f64 * CHECKPOINT_AT) as u64;
    let this_slot = now / interval_ms * interval_ms + offset;
    if this_slot > now + 50 { this_slot } else { this_slot + interval_ms }
}

fn summarise(run: SingleRun, checkpoints: &[Checkpoint]) -> SingleResult {
    let mut result = SingleResult {
        run,
        variant: String::new(),
        wall: Vec::new(),
        cpu: Vec::new(),
        sim_cpu: Vec::new(),
        stages: BTreeMap::new(),
        requests: BTreeMap::new(),
        rss_before_scrape: 0,
        rss_peak: 0,
        windows: checkpoints.len().saturating_sub(1),
        series: 0.0,
    };
    let cluster = [("cluster", "sim")];
    let ok = |m: &[TextSample]| value(m, "lagring_iterations_total", &[("cluster", "sim"), ("result", "ok")]);
    let stage = |m: &[TextSample], s: &str, suffix: &str| {
        value(m, &format!("lagring_stage_duration_seconds_{suffix}"), &[("cluster", "sim"), ("stage", s)])
    };
    for pair in checkpoints.windows(2) {
        let [a, b] = pair else { continue };
        let iterations = ok(&b.metrics) - ok(&a.metrics);
        let counted = stage(&b.metrics, "iteration", "count") - stage(&a.metrics, "iteration", "count");
        if iterations != 1.0 || counted != 1.0 {
            continue;
        }
        result.wall.push(stage(&b.metrics, "iteration", "sum") - stage(&a.metrics, "iteration", "sum"));
        result.cpu.push(b.cpu_before - a.cpu_after);
        result.sim_cpu.push(b.sim_cpu - a.sim_cpu);
        for s in STAGES {
            *result.stages.entry((*s).to_owned()).or_default() +=
                stage(&b.metrics, s, "sum") - stage(&a.metrics, s, "sum");
        }
        let before = a.counts.by_api();
        for (api, n) in b.counts.by_api() {
            let delta = n.saturating_sub(before.get(&api).copied().unwrap_or(0));
            *result.requests.entry(api).or_default() += delta as f64;
        }
        result.series = value(&b.metrics, "lagring_series", &cluster);
    }
    let clean = result.wall.len().max(1) as f64;
    result.stages.values_mut().for_each(|v| *v /= clean);
    result.requests.values_mut().for_each(|v| *v /= clean);
    result
}

/// The middle value (mean of the two middle ones for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    match v.len() {
        0 => None,
        n if n % 2 == 1 => v.get(mid).copied(),
        _ => Some((v.get(mid - 1)? + v.get(mid)?) / 2.0),
    }
}

/// Fails when a run produced no clean window at all.
pub fn ensure_measured(r: &SingleResult) -> Result<()> {
    ensure!(
        !r.wall.is_empty(),
        "{} groups: no window held exactly one successful iteration (interval {:?} too short?)",
        r.run.groups,
        r.run.interval
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
