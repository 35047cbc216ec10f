//! `lagring-bench`: lagring against the Kafka simulator at scale (issue 3's
//! figures and issue 4's fleet figures), printed as markdown tables.
//!
//! Module map:
//! - [`single`]: one release-built node vs one simulated cluster per size;
//!   per-iteration wall time, CPU, RSS, stage times and Kafka requests.
//! - [`fleet`]: three nodes, a real redis-server and a recording remote-write
//!   receiver; ownership balance and failover after `kill -9`.
//! - [`node`]: the lagring child process (pid, self-metric scrapes).
//! - [`procfs`]: CPU seconds and peak RSS from `/proc`.
//! - [`slots`]: wall-clock slot arithmetic shared with lagring's scheduler.
//! - [`table`]: markdown output.
//!
//! The simulator runs inside this process, on its own runtime threads, so its
//! request counters are read directly; its CPU is reported separately.
//! Single-node runs have no remote write: the node's cost is fetch, compute
//! and the local `/metrics` collector, and the benchmark's scrapes are kept
//! out of the CPU windows.

mod fleet;
mod node;
mod procfs;
mod redis_load;
mod single;
mod slots;
mod table;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;

/// Benchmarks lagring against the Kafka simulator.
#[derive(Debug, Parser)]
#[command(name = "lagring-bench")]
struct Args {
    /// The lagring binary (default: `lagring` next to this binary).
    #[arg(long)]
    lagring: Option<PathBuf>,
    /// Single-node runs as `GROUPSxTOPICS`, comma separated (`""` for none); every topic has
    /// `--partitions` partitions and each group reads one topic.
    #[arg(long, default_value = "1000x100,10000x100,10000x1000,50000x100", value_delimiter = ',')]
    single: Vec<String>,
    #[arg(long, default_value_t = 10)]
    partitions: u32,
    /// Measured iterations per single-node run.
    #[arg(long, default_value_t = 5)]
    iterations: usize,
    /// Interval of single-node runs; default max(2 s, 0.4 ms per group).
    #[arg(long)]
    interval_ms: Option<u64>,
    /// Time lag's cost as `GROUPSxTOPICS` (`""` for none): two nodes side by side, time lag off
    /// and on, each against its own simulator of that size, measured in the same windows.
    #[arg(long, default_value = "10000x100")]
    time_lag_overhead: String,
    /// Kafka client of the time-lag overhead pair (`clusters[].client`).
    #[arg(long, default_value = "librdkafka")]
    overhead_client: String,
    /// Groups of the 3-node run (0 skips it).
    #[arg(long, default_value_t = 10_000)]
    fleet_groups: u32,
    #[arg(long, default_value_t = 5_000)]
    fleet_interval_ms: u64,
    /// Kafka client of the 3-node run's nodes (`clusters[].client`): librdkafka or native.
    #[arg(long, default_value = "librdkafka")]
    fleet_client: String,
    /// Time lag in the 3-node run (`time_lag.enabled`); off measures the
    /// coordination alone.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    fleet_time_lag: bool,
    #[arg(long, default_value_t = 2_000)]
    heartbeat_ms: u64,
    #[arg(long, default_value_t = 10_000)]
    node_ttl_ms: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let bin = match &args.lagring {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("lagring"),
    };
    if !bin.is_file() {
        bail!("lagring binary not found at {} (build it with cargo build --release -p lagring)", bin.display());
    }
    let ticks = procfs::Ticks::detect();
    let mut failures = Vec::new();
    let mut results = Vec::new();
    for spec in args.single.iter().filter(|s| !s.trim().is_empty()) {
        let (groups, topics) = parse_size(spec)?;
        let interval = Duration::from_millis(args.interval_ms.unwrap_or_else(|| default_interval_ms(groups)));
        let run =
            single::SingleRun { groups, topics, partitions: args.partitions, interval, iterations: args.iterations };
        eprintln!(
            "single node: {groups} groups × {topics} topics × {} partitions, interval {interval:?}",
            args.partitions
        );
        match single::run(&bin, run, ticks).await.and_then(|r| single::ensure_measured(&r).map(|()| r)) {
            Ok(r) => results.push(r),
            Err(e) => {
                eprintln!("  failed: {e:#}");
                failures.push(format!("single {spec}: {e:#}"));
            }
        }
    }
    if !results.is_empty() {
        println!("## One node\n\n{}", table::single(&results));
        println!("### Kafka requests per iteration, by API (simulator counters)\n\n{}", table::requests(&results));
        println!("### Mean seconds per iteration, by stage\n\n{}", table::stages(&results));
    }
    if !args.time_lag_overhead.trim().is_empty() {
        match time_lag_overhead(&bin, &args, ticks).await {
            Ok(table) => println!("## Time lag's cost, side by side\n\n{table}"),
            Err(e) => {
                eprintln!("  failed: {e:#}");
                failures.push(format!("time-lag overhead: {e:#}"));
            }
        }
    }
    if args.fleet_groups > 0 {
        let run = fleet::FleetRun {
            groups: args.fleet_groups,
            interval: Duration::from_millis(args.fleet_interval_ms),
            heartbeat: Duration::from_millis(args.heartbeat_ms),
            node_ttl: Duration::from_millis(args.node_ttl_ms),
            client: args.fleet_client.clone(),
            time_lag: args.fleet_time_lag,
        };
        eprintln!("fleet: 3 nodes, {} groups", run.groups);
        match fleet::run(&bin, run).await {
            Ok(r) => println!("## Three nodes\n\n{}", table::fleet(&r)),
            Err(e) => {
                eprintln!("  failed: {e:#}");
                failures.push(format!("fleet: {e:#}"));
            }
        }
    }
    if !failures.is_empty() {
        bail!("{} run(s) failed:\n{}", failures.len(), failures.join("\n"));
    }
    Ok(())
}

/// Two nodes at once, time lag off and on, against simulators of the same size.
async fn time_lag_overhead(bin: &std::path::Path, args: &Args, ticks: procfs::Ticks) -> Result<String> {
    let (groups, topics) = parse_size(&args.time_lag_overhead)?;
    let interval = Duration::from_millis(args.interval_ms.unwrap_or_else(|| default_interval_ms(groups)));
    let run = single::SingleRun { groups, topics, partitions: args.partitions, interval, iterations: args.iterations };
    eprintln!(
        "time lag off and on side by side: {groups} groups × {topics} topics × {} partitions, interval {interval:?}, client {}",
        args.partitions, args.overhead_client
    );
    let client = &args.overhead_client;
    let variant = |name: &str, enabled: bool| single::Variant {
        name: name.to_owned(),
        extra_config: format!("time_lag: {{ enabled: {enabled} }}"),
        cluster_extra: format!("client: {client}"),
    };
    let results =
        single::run_side_by_side(bin, run, &[variant("time lag off", false), variant("time lag on", true)], ticks)
            .await?;
    for r in &results {
        single::ensure_measured(r)?;
    }
    Ok(table::time_lag_overhead(&results))
}

/// `GROUPSxTOPICS`.
fn parse_size(spec: &str) -> Result<(u32, u32)> {
    let (g, t) = spec.split_once('x').with_context(|| format!("size {spec:?}: expected GROUPSxTOPICS"))?;
    Ok((g.trim().parse().context("groups")?, t.trim().parse().context("topics")?))
}

fn default_interval_ms(groups: u32) -> u64 {
    (u64::from(groups) * 2 / 5).div_ceil(1000).max(2) * 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_intervals() {
        assert_eq!(parse_size("10000x100").unwrap(), (10_000, 100));
        assert!(parse_size("10000").is_err());
        assert_eq!(default_interval_ms(1_000), 2_000);
        assert_eq!(default_interval_ms(10_000), 4_000);
        assert_eq!(default_interval_ms(50_000), 20_000);
    }
}
