//! The `lagring-sim` binary: start a simulated cluster from a scenario file or a scale spec,
//! print `bootstrap=HOST:PORT,...` as the first stdout line (and `stats=HOST:PORT` when asked),
//! run until SIGINT/SIGTERM, then print the request counters as JSON.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use lagring_sim::{Clock, ScaleSpec, Scenario, Sim};
use tokio_util::sync::CancellationToken;

/// Synthetic Kafka cluster over the real wire protocol.
#[derive(Debug, Parser)]
#[command(name = "lagring-sim", version)]
struct Args {
    /// Scenario YAML file.
    #[arg(long, conflicts_with = "scale", required_unless_present = "scale")]
    scenario: Option<PathBuf>,
    /// Generated scenario, e.g. `groups=10000,topics=100,partitions=10[,brokers=3,topics_per_group=1,rate=10,seed=0]`.
    #[arg(long)]
    scale: Option<String>,
    /// Serve request counters as JSON on this address (e.g. 127.0.0.1:0).
    #[arg(long)]
    stats: Option<SocketAddr>,
    /// Override the number of brokers.
    #[arg(long)]
    brokers: Option<u32>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = Args::parse();
    let mut scenario = match (&args.scenario, &args.scale) {
        (Some(path), _) => Scenario::from_file(path)?,
        (None, Some(spec)) => ScaleSpec::parse(spec)?.scenario(),
        (None, None) => anyhow::bail!("one of --scenario or --scale is required"),
    };
    if let Some(brokers) = args.brokers {
        scenario.brokers = brokers;
        scenario.ports.clear();
    }
    let sim = Sim::start(scenario, Clock::real()).await.context("starting simulator")?;
    println!("bootstrap={}", sim.bootstrap());
    let cancel = CancellationToken::new();
    let sim = Arc::new(sim);
    if let Some(addr) = args.stats {
        let handle = sim.clone();
        let local = lagring_sim::stats::serve_stats(addr, Arc::new(move || handle.request_counts()), cancel.clone())
            .await
            .context("binding stats endpoint")?;
        println!("stats={local}");
    }
    wait_for_signal().await?;
    cancel.cancel();
    println!("{}", serde_json::to_string(&sim.request_counts())?);
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = term.recv() => {}
    }
    Ok(())
}
