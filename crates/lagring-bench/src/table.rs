//! Markdown tables of the results, ready to paste into docs/performance.md.

use std::fmt::Write;

use crate::fleet::{FleetResult, balance};
use crate::single::{STAGES, SingleResult, median};

/// Kafka APIs shown as columns, in pipeline order.
const APIS: &[&str] = &["ListGroups", "FindCoordinator", "OffsetFetch", "Metadata", "ListOffsets"];

const MB: f64 = 1024.0 * 1024.0;

pub fn single(results: &[SingleResult]) -> String {
    let mut out = String::new();
    out.push_str(
        "| groups | partitions (cluster) | partitions read | interval | wall s/iter (median, min–max) | CPU s/iter (median) | \
         sim CPU s/iter | peak RSS MB (before scrape / incl. scrape) | series | clean windows |\n",
    );
    out.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in results {
        let (lo, hi) = min_max(&r.wall);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:?} | {:.3} ({:.3}–{:.3}) | {:.3} | {:.3} | {:.0} / {:.0} | {:.0} | {}/{} |",
            r.run.groups,
            r.run.topics * r.run.partitions,
            u64::from(r.run.groups) * u64::from(r.run.partitions),
            r.run.interval,
            median(&r.wall).unwrap_or(f64::NAN),
            lo,
            hi,
            median(&r.cpu).unwrap_or(f64::NAN),
            median(&r.sim_cpu).unwrap_or(f64::NAN),
            r.rss_before_scrape as f64 / MB,
            r.rss_peak as f64 / MB,
            r.series,
            r.wall.len(),
            r.windows,
        );
    }
    out
}

pub fn requests(results: &[SingleResult]) -> String {
    let mut out = String::from("| groups | partitions (cluster) |");
    for api in APIS {
        let _ = write!(out, " {api} |");
    }
    out.push_str(" other | total |\n|---:|---:|");
    out.push_str(&"---:|".repeat(APIS.len() + 2));
    out.push('\n');
    for r in results {
        let _ = write!(out, "| {} | {} |", r.run.groups, r.run.topics * r.run.partitions);
        for api in APIS {
            let _ = write!(out, " {:.1} |", r.requests.get(*api).copied().unwrap_or(0.0));
        }
        let other: f64 = r.requests.iter().filter(|(k, _)| !APIS.contains(&k.as_str())).map(|(_, v)| v).sum();
        let total: f64 = r.requests.values().sum();
        let _ = writeln!(out, " {other:.1} | {total:.1} |");
    }
    out
}

pub fn stages(results: &[SingleResult]) -> String {
    let mut out = String::from("| groups |");
    for s in STAGES {
        let _ = write!(out, " {s} |");
    }
    out.push_str("\n|---:|");
    out.push_str(&"---:|".repeat(STAGES.len()));
    out.push('\n');
    for r in results {
        let _ = write!(out, "| {} |", r.run.groups);
        for s in STAGES {
            let _ = write!(out, " {:.3} |", r.stages.get(*s).copied().unwrap_or(0.0));
        }
        out.push('\n');
    }
    out
}

/// Side-by-side variants (first = baseline): CPU and stages per iteration,
/// and the ratios to the baseline.
pub fn time_lag_overhead(results: &[SingleResult]) -> String {
    let Some(base) = results.first() else { return String::new() };
    let base_cpu = median(&base.cpu).unwrap_or(f64::NAN);
    let base_wall = median(&base.wall).unwrap_or(f64::NAN);
    let mut out = String::from(
        "| variant | CPU s/iter (median) | CPU / baseline | wall s/iter (median) | wall / baseline | compute | history | \
         time_lag | emit | series | peak RSS MB | clean windows |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in results {
        let cpu = median(&r.cpu).unwrap_or(f64::NAN);
        let wall = median(&r.wall).unwrap_or(f64::NAN);
        let stage = |s: &str| r.stages.get(s).copied().unwrap_or(0.0);
        let _ = writeln!(
            out,
            "| {} | {cpu:.3} | {:.3} | {wall:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.0} | {:.0} | {}/{} |",
            r.variant,
            cpu / base_cpu,
            wall / base_wall,
            stage("compute"),
            stage("history"),
            stage("time_lag"),
            stage("emit"),
            r.series,
            r.rss_peak as f64 / MB,
            r.wall.len(),
            r.windows,
        );
    }
    out
}

pub fn fleet(r: &FleetResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "3 nodes, {} groups, interval {:?}, heartbeat {:?}, node_ttl {:?}, client {}, time lag {}\n",
        r.run.groups, r.run.interval, r.run.heartbeat, r.run.node_ttl, r.run.client, r.run.time_lag
    );
    out.push_str("| figure | value |\n|---|---|\n");
    let _ = writeln!(out, "| groups emitted per node (settled slot) | {:?} |", r.emitted_per_node);
    let _ = writeln!(out, "| `lagring_owned_groups` per node | {:?} |", r.owned_gauge);
    let _ = writeln!(out, "| balance max/mean (3 nodes) | {:.3} |", balance(&r.emitted_per_node));
    let _ = writeln!(out, "| groups of the killed node | {} |", r.victim_groups);
    let _ = writeln!(
        out,
        "| failover: kill -9 → slot start covering all its groups | {:.1} s |",
        r.failover_slot_start.as_secs_f64()
    );
    let _ =
        writeln!(out, "| failover: kill -9 → all its groups received | {:.1} s |", r.failover_observed.as_secs_f64());
    let _ = writeln!(out, "| groups emitted per survivor after failover | {:?} |", r.emitted_after);
    let _ = writeln!(out, "| balance max/mean (2 survivors) | {:.3} |", balance(&r.emitted_after));
    let _ = writeln!(out, "| (group, slot) emitted by two nodes | {} |", r.duplicates);
    out.push_str(&redis_load(r));
    out
}

/// The fleet's Redis work and its extrapolation to 30 nodes × 1,000,000 groups.
fn redis_load(r: &FleetResult) -> String {
    let load = &r.redis_load;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nRedis work of the settled fleet (`INFO commandstats` over {:.1} s; script-internal commands counted by name):\n",
        load.window.as_secs_f64()
    );
    out.push_str("| command | calls/s |\n|---|---:|\n");
    for (name, rate) in &load.per_sec {
        let _ = writeln!(out, "| `{name}` | {rate:.1} |");
    }
    let group_factor = 1_000_000.0 / f64::from(r.run.groups.max(1));
    let node_factor = 30.0 / 3.0;
    out.push_str("\n| figure | 3 nodes, measured | 30 nodes × 1,000,000 groups, extrapolated |\n|---|---:|---:|\n");
    let _ = writeln!(
        out,
        "| client round trips/s (scripts + `MGET`; extrapolated as an upper bound) | {:.1} | ≤ {:.0} |",
        load.round_trips(),
        load.round_trips() * group_factor.max(node_factor)
    );
    let _ = writeln!(
        out,
        "| membership key ops/s (grow with nodes) | {:.1} | {:.0} |",
        load.membership_ops(),
        load.membership_ops() * node_factor
    );
    let _ = writeln!(
        out,
        "| lease + history key ops/s (grow with groups) | {:.1} | {:.0} |",
        load.per_group_ops(),
        load.per_group_ops() * group_factor
    );
    let _ = writeln!(
        out,
        "| all key ops/s | {:.1} | {:.0} |",
        load.membership_ops() + load.per_group_ops(),
        load.extrapolated_ops(node_factor, group_factor)
    );
    out
}

fn min_max(v: &[f64]) -> (f64, f64) {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}
