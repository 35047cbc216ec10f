//! `lagring-bench-clients`: the Kafka calls of one lagring iteration (list groups, metadata,
//! committed offsets of every group, log offsets of every partition) made by the librdkafka and
//! the native client side by side, against the in-process simulator. Prints, per client and
//! size, the wire requests per API (the simulator's counters), wall time and CPU time per
//! iteration as a markdown table.
//!
//! The simulator runs on its own runtime whose threads are named [`SIM_THREAD`]; client CPU is
//! the process's CPU minus those threads' (librdkafka's own threads and the blocking pool count
//! for the client).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use lagring_core::model::TopicPartition;
use lagring_kafka::{ClientKind, KafkaClient, KafkaConnection, NativeOptions, RecordTimeOptions};
use lagring_sim::{Clock, RequestCounts, ScaleSpec, Sim};

/// Name of the simulator's runtime threads (at most 15 bytes: Linux truncates `comm`).
const SIM_THREAD: &str = "sim-runtime";
/// Clock ticks per second in `/proc/*/stat` (USER_HZ, 100 on every Linux ABI lagring runs on).
const USER_HZ: f64 = 100.0;

/// Compares the librdkafka and native clients on one iteration's Kafka calls.
#[derive(Debug, Parser)]
struct Args {
    /// Group counts to run, comma separated; each group reads one topic.
    #[arg(long, default_value = "10000", value_delimiter = ',')]
    groups: Vec<u32>,
    #[arg(long, default_value_t = 100)]
    topics: u32,
    #[arg(long, default_value_t = 10)]
    partitions: u32,
    /// Measured iterations per client (after one warm-up iteration).
    #[arg(long, default_value_t = 3)]
    iterations: u32,
    /// `max_in_flight_offset_fetches` (lagring's default).
    #[arg(long, default_value_t = 64)]
    max_in_flight: usize,
    /// Scenario time between iterations (an iteration interval), in seconds.
    #[arg(long, default_value_t = 10)]
    advance: u64,
}

/// What the exact-time-lag reads of one iteration cost.
#[derive(Default)]
struct Exact {
    asked: u64,
    fallbacks: u64,
}

struct Row {
    client: &'static str,
    groups: u32,
    requests: BTreeMap<String, u64>,
    wall: Duration,
    cpu: f64,
    /// `native + exact` only: record bytes fetched, commits asked and fallbacks, per iteration.
    exact: Option<(u64, Exact)>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let sim_rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name(SIM_THREAD).enable_all().build()?;
    let client_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let mut rows = Vec::new();
    for &groups in &args.groups {
        let spec =
            ScaleSpec { groups, topics: args.topics, partitions: args.partitions, brokers: 3, ..Default::default() };
        let (clock, manual) = Clock::manual();
        manual.set(Duration::from_secs(60));
        let sim = sim_rt.block_on(Sim::start(spec.scenario(), clock)).context("start simulator")?;
        let native = || ClientKind::Native(NativeOptions::default());
        for (name, kind, exact) in [
            ("librdkafka", ClientKind::Librdkafka, false),
            ("native", native(), false),
            ("native + exact", native(), true),
        ] {
            let mut conn = KafkaConnection::plaintext(sim.bootstrap());
            conn.request_timeout = Duration::from_secs(30);
            let client = KafkaClient::new("bench", &conn, kind)?;
            client_rt.block_on(iteration(&client, args.max_in_flight, exact)).context("warm-up")?;
            let before = sim.request_counts();
            let bytes_before = client.stats().fetch_bytes;
            let cpu_before = client_cpu()?;
            let mut measured = Duration::ZERO;
            let mut reads = Exact::default();
            for _ in 0..args.iterations {
                manual.advance(Duration::from_secs(args.advance));
                let started = Instant::now();
                let one = client_rt.block_on(iteration(&client, args.max_in_flight, exact))?;
                measured += started.elapsed();
                reads.asked += one.asked;
                reads.fallbacks += one.fallbacks;
            }
            let n = args.iterations;
            let wall = measured / n;
            let cpu = (client_cpu()? - cpu_before) / f64::from(n);
            let requests = per_iteration(&before, &sim.request_counts(), n);
            let exact = exact.then(|| {
                let bytes = (client.stats().fetch_bytes - bytes_before) / u64::from(n);
                (bytes, Exact { asked: reads.asked / u64::from(n), fallbacks: reads.fallbacks / u64::from(n) })
            });
            rows.push(Row { client: name, groups, requests, wall, cpu, exact });
        }
        sim_rt.block_on(sim.shutdown());
    }
    print(&rows, &args);
    Ok(())
}

/// One iteration's Kafka calls, in the pipeline's order; fails unless every answer is complete.
/// With `exact`, then the produce times of the records at every lagging committed offset.
async fn iteration(client: &KafkaClient, max_in_flight: usize, exact: bool) -> Result<Exact> {
    let listing = client.list_groups().await?;
    let groups: Vec<Arc<str>> = listing.into_iter().map(|g| g.group).collect();
    let committed = client.committed_offsets(groups, max_in_flight).await;
    if let Some((group, Err(e))) = committed.iter().find(|(_, r)| r.is_err()) {
        anyhow::bail!("group {group}: {e}");
    }
    let counts = client.topic_partition_counts().await?;
    let partitions: Vec<TopicPartition> =
        counts.iter().flat_map(|(t, n)| (0..*n).map(move |p| TopicPartition::new(t.clone(), p))).collect();
    let (offsets, errors) = client.log_offsets(partitions).await?;
    if let Some((tp, e)) = errors.first() {
        anyhow::bail!("partition {tp}: {e}");
    }
    if !exact {
        return Ok(Exact::default());
    }
    let lagging: Vec<(TopicPartition, i64)> = committed
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .flatten()
        .filter(|(tp, c)| offsets.get(*tp).is_some_and(|o| **c < o.end))
        .map(|(tp, c)| (tp.clone(), *c))
        .collect();
    let asked = lagging.len() as u64;
    let times = client.record_times(lagging, RecordTimeOptions::default(), None).await?;
    Ok(Exact { asked, fallbacks: times.values().filter(|r| r.is_err()).count() as u64 })
}

fn per_iteration(before: &RequestCounts, after: &RequestCounts, iterations: u32) -> BTreeMap<String, u64> {
    let before = before.by_api();
    after
        .by_api()
        .into_iter()
        .map(|(api, n)| {
            let delta = n - before.get(&api).copied().unwrap_or(0);
            (api, delta / u64::from(iterations))
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// CPU seconds of this process outside the simulator's threads.
fn client_cpu() -> Result<f64> {
    let mut total = 0.0;
    for task in std::fs::read_dir("/proc/self/task")? {
        let stat = std::fs::read_to_string(task?.path().join("stat"))?;
        let (comm, rest) =
            stat.split_once(" (").and_then(|(_, r)| r.rsplit_once(") ")).context("unexpected /proc stat format")?;
        if comm.starts_with(SIM_THREAD) {
            continue;
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        // utime and stime are fields 14 and 15 of stat, 11 and 12 after the state field.
        total += ticks(11) + ticks(12);
    }
    Ok(total / USER_HZ)
}

fn print(rows: &[Row], args: &Args) {
    println!(
        "## librdkafka vs native client: one iteration's Kafka calls ({} topics × {} partitions, 3 brokers, {} iterations)\n",
        args.topics, args.partitions, args.iterations
    );
    println!(
        "| groups | client | requests | by API | wall / iteration | client CPU / iteration | exact: commits asked, fallbacks, Fetch bytes |"
    );
    println!("|---:|---|---:|---|---:|---:|---|");
    for r in rows {
        let total: u64 = r.requests.values().sum();
        let by_api = r.requests.iter().map(|(api, n)| format!("{api} {n}")).collect::<Vec<_>>().join(", ");
        let exact = r.exact.as_ref().map_or("–".to_owned(), |(bytes, e)| {
            format!("{} asked, {} fallbacks, {:.1} MB", e.asked, e.fallbacks, *bytes as f64 / 1e6)
        });
        println!(
            "| {} | {} | {total} | {by_api} | {:.3} s | {:.3} s | {exact} |",
            r.groups,
            r.client,
            r.wall.as_secs_f64(),
            r.cpu
        );
    }
}
