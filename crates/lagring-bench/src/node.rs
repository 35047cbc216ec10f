//! One lagring node for the benchmark: the testkit's `LagringNode` started
//! at log level `warn` (debug logging would be measured too), with a scrape
//! that keeps only the self-metric lines: at 50,000 groups the page holds
//! ~700,000 lag series that the benchmark does not need to parse.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use lagring_testkit::lagring_node::LagringNode;
use lagring_testkit::metrics_text::{self, TextSample};

/// A scrape of a large node may take a while; never longer than this.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(60);

/// Metric name prefixes the benchmark reads.
const KEEP: &[&str] = &["lagring_", "kafka_iteration_time_seconds", "kafka_total_groups_checked"];

#[derive(Debug)]
pub struct BenchNode {
    pub id: String,
    node: LagringNode,
    client: reqwest::Client,
}

impl BenchNode {
    /// Starts `bin run` with `config_yaml`, in which `{HTTP_LISTEN}` becomes
    /// the node's `127.0.0.1:port`; returns once HTTP answers.
    pub fn start(bin: &Path, id: &str, config_yaml: &str) -> Result<Self> {
        let node = LagringNode::start_with_log(bin, id, config_yaml, "warn")?;
        let client = reqwest::Client::builder().timeout(SCRAPE_TIMEOUT).build()?;
        Ok(Self { id: id.to_owned(), node, client })
    }

    pub fn pid(&self) -> Result<u32> {
        self.node.pid().with_context(|| format!("{} is not running", self.id))
    }

    /// The self-metric samples of `/metrics` (lag series skipped unparsed).
    pub async fn scrape(&self) -> Result<Vec<TextSample>> {
        let url = format!("{}/metrics", self.node.base_url());
        let body = self.client.get(url).send().await?.error_for_status()?.text().await?;
        let kept: String =
            body.lines().filter(|l| KEEP.iter().any(|k| l.starts_with(k))).map(|l| format!("{l}\n")).collect();
        metrics_text::parse(&kept)
    }

    /// SIGKILL: a crash, no deregistration, no flush.
    pub fn kill(&mut self) {
        self.node.kill();
    }

    pub fn log_tail(&self) -> String {
        self.node.log_tail()
    }
}

/// Value of `name` with `labels`, 0 when absent.
pub fn value(samples: &[TextSample], name: &str, labels: &[(&str, &str)]) -> f64 {
    metrics_text::select(samples, name, labels).first().map_or(0.0, |s| s.value)
}
