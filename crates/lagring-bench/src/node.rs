//! One lagring node as a child process for the benchmark. Unlike the
//! testkit's `LagringNode` this one exposes its pid (for `/proc` CPU and RSS
//! figures), logs at `warn` (debug logging would be measured too), and
//! scrapes `/metrics` keeping only the self-metric lines: at 50,000 groups the
//! page holds ~700,000 lag series that the benchmark does not need to parse.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use lagring_testkit::metrics_text::{self, TextSample};
use lagring_testkit::ports::{free_port, wait_for_tcp};
use lagring_testkit::process::ServerProcess;
use tempfile::TempDir;

/// A scrape of a large node may take a while; never longer than this.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(60);

/// Metric name prefixes the benchmark reads.
const KEEP: &[&str] = &["lagring_", "kafka_iteration_time_seconds", "kafka_total_groups_checked"];

#[derive(Debug)]
pub struct BenchNode {
    pub id: String,
    process: ServerProcess,
    _dir: TempDir,
    port: u16,
    client: reqwest::Client,
}

impl BenchNode {
    /// Starts `bin run` with `config_yaml`, in which `{HTTP_LISTEN}` becomes
    /// the node's `127.0.0.1:port`; returns once HTTP answers.
    pub fn start(bin: &Path, id: &str, config_yaml: &str) -> Result<Self> {
        let dir = tempfile::tempdir().context("create node temp dir")?;
        let port = free_port()?;
        let config = dir.path().join("lagring.yaml");
        std::fs::write(&config, config_yaml.replace("{HTTP_LISTEN}", &format!("127.0.0.1:{port}")))?;
        let mut cmd = Command::new(bin);
        cmd.arg("run").arg("--config").arg(&config).env("RUST_LOG", "warn");
        let mut process = ServerProcess::spawn(id, cmd, dir.path())?;
        if let Err(e) = wait_for_tcp(port, Duration::from_secs(30)) {
            process.kill();
            return Err(process.context_for(e));
        }
        let client = reqwest::Client::builder().timeout(SCRAPE_TIMEOUT).build()?;
        Ok(Self { id: id.to_owned(), process, _dir: dir, port, client })
    }

    pub fn pid(&self) -> Result<u32> {
        self.process.pid().with_context(|| format!("{} is not running", self.id))
    }

    /// The self-metric samples of `/metrics` (lag series skipped unparsed).
    pub async fn scrape(&self) -> Result<Vec<TextSample>> {
        let url = format!("http://127.0.0.1:{}/metrics", self.port);
        let body = self.client.get(url).send().await?.error_for_status()?.text().await?;
        let kept: String =
            body.lines().filter(|l| KEEP.iter().any(|k| l.starts_with(k))).map(|l| format!("{l}\n")).collect();
        metrics_text::parse(&kept)
    }

    /// SIGKILL: a crash, no deregistration, no flush.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    pub fn log_tail(&self) -> String {
        self.process.log_tail(4000)
    }
}

/// Value of `name` with `labels`, 0 when absent.
pub fn value(samples: &[TextSample], name: &str, labels: &[(&str, &str)]) -> f64 {
    metrics_text::select(samples, name, labels).first().map_or(0.0, |s| s.value)
}
