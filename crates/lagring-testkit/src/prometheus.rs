//! A real Prometheus server (the Debian `prometheus` binary on PATH) with the
//! remote write receiver enabled, for end-to-end tests of what lagring writes.
//!
//! It scrapes nothing unless asked, keeps its TSDB in a temp dir and is killed
//! on drop. Query helpers return plain data (labels map + value) so tests can
//! assert exact values.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tempfile::TempDir;

use crate::ports::{free_port, wait_for};
use crate::process::ServerProcess;

/// How long Prometheus may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// One element of an instant vector: all labels (including `__name__`) and
/// the value.
#[derive(Clone, Debug, PartialEq)]
pub struct PromSample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// One series of a range query: labels and `(unix seconds, value)` points.
#[derive(Clone, Debug, PartialEq)]
pub struct PromSeries {
    pub labels: BTreeMap<String, String>,
    pub values: Vec<(f64, f64)>,
}

/// A running Prometheus; killed on drop.
#[derive(Debug)]
pub struct PrometheusServer {
    // Declared first so the process dies before its directory is removed.
    process: ServerProcess,
    _dir: TempDir,
    port: u16,
    client: reqwest::Client,
}

impl PrometheusServer {
    /// Starts Prometheus with no scrape jobs.
    pub async fn start() -> Result<Self> {
        Self::start_with_scrape_configs("").await
    }

    /// Starts Prometheus with `scrape_configs_yaml` appended under
    /// `scrape_configs:` (e.g. `"  - job_name: x\n    static_configs: ..."`).
    pub async fn start_with_scrape_configs(scrape_configs_yaml: &str) -> Result<Self> {
        let dir = tempfile::tempdir().context("create prometheus temp dir")?;
        let config = dir.path().join("prometheus.yml");
        let scrape = if scrape_configs_yaml.is_empty() {
            String::new()
        } else {
            format!("scrape_configs:\n{scrape_configs_yaml}\n")
        };
        std::fs::write(&config, format!("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n{scrape}"))
            .context("write prometheus config")?;
        let port = free_port()?;
        let mut cmd = Command::new("prometheus");
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .current_dir(dir.path());
        let mut process = ServerProcess::spawn("prometheus", cmd, dir.path())?;
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        let ready_url = format!("http://127.0.0.1:{port}/-/ready");
        let ready = wait_for("prometheus /-/ready", READY_TIMEOUT, || {
            let exited = !process.is_running();
            let request = client.get(&ready_url).send();
            async move {
                if exited {
                    bail!("prometheus exited during startup");
                }
                Ok(request.await.ok().filter(|r| r.status().is_success()).map(|_| ()))
            }
        })
        .await;
        if let Err(e) = ready {
            return Err(process.context_for(e));
        }
        Ok(Self { process, _dir: dir, port, client })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The remote write endpoint, `<base>/api/v1/write`.
    pub fn remote_write_url(&self) -> String {
        format!("{}/api/v1/write", self.base_url())
    }

    /// Instant query at the server's "now".
    pub async fn query(&self, promql: &str) -> Result<Vec<PromSample>> {
        self.instant(promql, None).await
    }

    /// Instant query evaluated at `time` (Unix seconds).
    pub async fn query_at(&self, promql: &str, time: f64) -> Result<Vec<PromSample>> {
        self.instant(promql, Some(time)).await
    }

    /// Range query between `start` and `end` (Unix seconds).
    pub async fn query_range(&self, promql: &str, start: f64, end: f64, step: Duration) -> Result<Vec<PromSeries>> {
        let params = [
            ("query", promql.to_owned()),
            ("start", start.to_string()),
            ("end", end.to_string()),
            ("step", step.as_secs_f64().to_string()),
        ];
        let data = self.api("/api/v1/query_range", &params).await?;
        let result = data.get("result").and_then(Value::as_array).context("range result is not an array")?;
        result
            .iter()
            .map(|series| {
                let values = series
                    .get("values")
                    .and_then(Value::as_array)
                    .context("range series without values")?
                    .iter()
                    .map(parse_point)
                    .collect::<Result<Vec<_>>>()?;
                Ok(PromSeries { labels: parse_labels(series)?, values })
            })
            .collect()
    }

    /// Polls `promql` (instant, at "now") until `predicate` accepts the
    /// result or `timeout` passes; returns the accepted result.
    pub async fn wait_for_query(
        &self,
        promql: &str,
        timeout: Duration,
        predicate: impl Fn(&[PromSample]) -> bool,
    ) -> Result<Vec<PromSample>> {
        let what = format!("query {promql:?} to match");
        wait_for(&what, timeout, || async {
            let result = self.query(promql).await?;
            Ok(predicate(&result).then_some(result))
        })
        .await
    }

    /// The server log tail, for failure messages.
    pub fn log_tail(&self) -> String {
        self.process.log_tail(4000)
    }

    async fn instant(&self, promql: &str, time: Option<f64>) -> Result<Vec<PromSample>> {
        let mut params = vec![("query", promql.to_owned())];
        if let Some(t) = time {
            params.push(("time", t.to_string()));
        }
        let data = self.api("/api/v1/query", &params).await?;
        match data.get("resultType").and_then(Value::as_str) {
            Some("vector") => {}
            other => bail!("expected an instant vector for {promql:?}, got {other:?}"),
        }
        let result = data.get("result").and_then(Value::as_array).context("result is not an array")?;
        result
            .iter()
            .map(|s| {
                let (_, value) = parse_point(s.get("value").context("sample without value")?)?;
                Ok(PromSample { labels: parse_labels(s)?, value })
            })
            .collect()
    }

    /// GETs an API path and returns its `data` on `status: success`.
    async fn api(&self, path: &str, params: &[(&str, String)]) -> Result<Value> {
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", self.base_url()), params)?;
        let response = self.client.get(url).send().await.with_context(|| format!("GET {path}"))?;
        let status = response.status();
        let body: Value = serde_json::from_slice(&response.bytes().await?)
            .with_context(|| format!("{path} answered {status} with invalid json"))?;
        if body.get("status").and_then(Value::as_str) != Some("success") {
            bail!("{path} failed ({status}): {body}");
        }
        body.get("data").cloned().with_context(|| format!("{path} answer has no data"))
    }
}

fn parse_labels(series: &Value) -> Result<BTreeMap<String, String>> {
    let metric = series.get("metric").and_then(Value::as_object).context("series without metric labels")?;
    metric.iter().map(|(k, v)| Ok((k.clone(), v.as_str().context("label value is not a string")?.to_owned()))).collect()
}

/// Parses `[<unix seconds>, "<value>"]`.
fn parse_point(point: &Value) -> Result<(f64, f64)> {
    let pair = point.as_array().context("point is not an array")?;
    let (Some(t), Some(v)) = (pair.first().and_then(Value::as_f64), pair.get(1).and_then(Value::as_str)) else {
        bail!("malformed point {point}");
    };
    let value = match v {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().with_context(|| format!("value {other:?} is not a number"))?,
    };
    Ok((t, value))
}
