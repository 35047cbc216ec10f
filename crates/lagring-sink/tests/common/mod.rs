//! Shared helpers for the remote write integration tests.

// Test-only code: lets clippy's allow-*-in-tests settings apply here too.
#![cfg(test)]
#![allow(dead_code)] // each test binary uses a different subset

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lagring_core::series::{Sample, SeriesBatch, SeriesKey};
use lagring_sink::remote_write::DeliveryHealth;
use lagring_sink::{RemoteWriteConfig, RemoteWriteHandle, RemoteWriter};
use prometheus::Registry;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub mod lines;

pub const WAIT: Duration = Duration::from_secs(30);

pub fn key(name: &str, labels: &[(&str, &str)]) -> SeriesKey {
    SeriesKey::new(name, labels.iter().map(|(k, v)| (Arc::from(*k), Arc::from(*v))).collect())
}

pub fn batch(ts: i64, samples: &[(SeriesKey, f64)], ended: &[SeriesKey]) -> SeriesBatch {
    SeriesBatch {
        cluster: Arc::from("c1"),
        timestamp_ms: ts,
        samples: samples.iter().map(|(k, v)| Sample { key: k.clone(), value: *v }).collect(),
        ended: ended.to_vec(),
        push_only: Default::default(),
    }
}

/// Whole seconds since the epoch, in milliseconds.
pub fn now_ms_floor() -> i64 {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    i64::try_from(secs).unwrap() * 1000
}

/// Sum of all series of a metric family in `registry` (counter or gauge),
/// optionally restricted to one label value.
pub fn metric(registry: &Registry, name: &str, label: Option<(&str, &str)>) -> f64 {
    registry
        .gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric().iter())
        .filter(|m| match label {
            Some((k, v)) => m.get_label().iter().any(|l| l.name() == k && l.value() == v),
            None => true,
        })
        .map(|m| m.get_counter().get_value() + m.get_gauge().get_value())
        .sum()
}

/// Polls until `metric(...)` reaches `want` exactly.
pub async fn wait_metric(registry: &Registry, name: &str, label: Option<(&str, &str)>, want: f64) {
    let what = format!("{name} == {want}");
    lagring_testkit::ports::wait_for(&what, WAIT, || async {
        Ok((metric(registry, name, label) == want).then_some(()))
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}; last value {}", metric(registry, name, label)));
}

/// Polls until `metric(...)` is at least `min`.
pub async fn wait_metric_at_least(registry: &Registry, name: &str, label: Option<(&str, &str)>, min: f64) {
    let what = format!("{name} >= {min}");
    lagring_testkit::ports::wait_for(&what, WAIT, || async {
        Ok((metric(registry, name, label) >= min).then_some(()))
    })
    .await
    .unwrap();
}

#[derive(Debug)]
pub struct Running {
    pub handle: RemoteWriteHandle,
    pub delivery: DeliveryHealth,
    pub registry: Registry,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<()>,
}

/// Builds a writer for `cfg` and spawns its worker.
pub fn start(cfg: &RemoteWriteConfig, extra_headers: &[(String, String)], flush: Duration) -> Running {
    let registry = Registry::new();
    let (handle, worker) = RemoteWriter::new(cfg, &registry, extra_headers).unwrap();
    let shutdown = CancellationToken::new();
    let delivery = worker.delivery_health();
    let task = tokio::spawn(worker.run(shutdown.clone(), flush));
    Running { handle, delivery, registry, shutdown, task }
}

/// A config with fast retries for tests.
pub fn fast_config(url: String) -> RemoteWriteConfig {
    let mut cfg = RemoteWriteConfig::for_url(url);
    cfg.min_backoff = Duration::from_millis(10);
    cfg.max_backoff = Duration::from_millis(100);
    cfg.timeout = Duration::from_secs(5);
    cfg
}
