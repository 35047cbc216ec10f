//! The lagring binary: `lagring run`, `lagring validate`, `lagring ring`,
//! `lagring check`, `lagring migrate`.
//! Everything but argument parsing, logging set-up and exit codes lives in
//! the library (`lib.rs`), so the node is tested in process too.

use lagring::cli::{check, migrate};
use lagring::{config, pipeline, ring};

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

/// Kafka consumer lag for whole fleets of clusters, sharded across nodes.
#[derive(Debug, Parser)]
#[command(name = "lagring", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node.
    Run {
        /// Path to the YAML config.
        #[arg(long, short, env = "LAGRING_CONFIG")]
        config: PathBuf,
    },
    /// Check a config file and exit (0 valid, 2 invalid).
    Validate {
        #[arg(long, short, env = "LAGRING_CONFIG")]
        config: PathBuf,
    },
    /// Show the fleet: live nodes, heartbeat age, owned groups.
    Ring {
        #[arg(long, short, env = "LAGRING_CONFIG")]
        config: PathBuf,
    },
    /// One iteration per cluster, printed per group (0 all clusters answered,
    /// 1 a cluster failed, 2 invalid config).
    Check {
        #[arg(long, short, env = "LAGRING_CONFIG")]
        config: PathBuf,
        /// Only this cluster (by name).
        #[arg(long)]
        cluster: Option<String>,
        /// Only groups matching this regex (unanchored).
        #[arg(long)]
        group: Option<String>,
        #[arg(long, value_enum, default_value_t = check::Output::Table)]
        output: check::Output,
    },
    /// Convert another tool's config into a lagring config (stdout); keys
    /// with no equivalent are named on stderr.
    #[command(subcommand)]
    Migrate(MigrateFrom),
}

#[derive(Debug, Subcommand)]
enum MigrateFrom {
    /// A kafka-lag-go config file.
    #[command(name = "kafka-lag-go")]
    KafkaLagGo {
        /// Path to the kafka-lag-go YAML config.
        config: PathBuf,
    },
}

/// Exit code for any configuration error.
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { config } => match config::load(&config) {
            Ok(cfg) => {
                for warning in config::plaintext_secrets(&cfg) {
                    eprintln!("warning: {warning}");
                }
                println!("config ok: {} cluster(s), node {}", cfg.clusters.len(), cfg.node_id());
                ExitCode::SUCCESS
            }
            Err(e) => config_error(&config, &e),
        },
        Command::Ring { config } => {
            let cfg = match config::load(&config) {
                Ok(cfg) => cfg,
                Err(e) => return config_error(&config, &e),
            };
            match ring::print(&cfg) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Check { config, cluster, group, output } => {
            let cfg = match config::load(&config) {
                Ok(cfg) => cfg,
                Err(e) => return config_error(&config, &e),
            };
            run_check(&cfg, check::CheckOptions { cluster, group }, output)
        }
        Command::Migrate(MigrateFrom::KafkaLagGo { config }) => run_migrate(&config),
        Command::Run { config } => {
            let cfg = match config::load(&config) {
                Ok(cfg) => cfg,
                Err(e) => return config_error(&config, &e),
            };
            init_tracing(&cfg.log);
            for warning in config::plaintext_secrets(&cfg) {
                tracing::warn!(%warning, "secret sent in clear text");
            }
            match run(cfg) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "lagring failed");
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn config_error(path: &std::path::Path, e: &config::ConfigError) -> ExitCode {
    eprintln!("error: invalid config {}:", path.display());
    for line in e.to_string().lines() {
        eprintln!("  {line}");
    }
    ExitCode::from(EXIT_CONFIG)
}

fn run_check(cfg: &config::Config, opts: check::CheckOptions, output: check::Output) -> ExitCode {
    let reports = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt.block_on(check::check(cfg, &opts)),
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let reports = match reports {
        Ok(reports) => reports,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    for r in &reports {
        if let Some(e) = &r.error {
            eprintln!("error: cluster {}: {e}", r.cluster);
        }
        for w in &r.warnings {
            eprintln!("warning: cluster {}: {w}", r.cluster);
        }
    }
    match output {
        check::Output::Table => print!("{}", check::render_table(&reports)),
        check::Output::Json => match check::render_json(&reports) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("error: cannot encode json: {e}");
                return ExitCode::FAILURE;
            }
        },
    }
    if reports.iter().any(|r| r.error.is_some() || !r.warnings.is_empty()) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn run_migrate(path: &std::path::Path) -> ExitCode {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", path.display());
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match migrate::kafka_lag_go(&text) {
        Ok(m) => {
            print!("{}", m.yaml);
            for note in &m.notes {
                eprintln!("{note}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

fn init_tracing(log: &config::LogConfig) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match log.format {
        config::LogFormat::Json => builder.json().init(),
        config::LogFormat::Text => builder.init(),
    }
}

fn run(cfg: config::Config) -> anyhow::Result<()> {
    // redis (rediss://) and reqwest share rustls; pick its crypto provider once.
    lagring_store::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(signal_shutdown(shutdown.clone()));
        pipeline::run(cfg, shutdown).await
    })
}

/// Cancels `token` on SIGINT or SIGTERM.
async fn signal_shutdown(token: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut term, mut int) = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(t), Ok(i)) => (t, i),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "cannot install signal handlers; stop with SIGKILL");
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!(signal = "SIGTERM", "shutdown requested"),
        _ = int.recv() => tracing::info!(signal = "SIGINT", "shutdown requested"),
    }
    token.cancel();
}
