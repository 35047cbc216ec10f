//! Wiring of one node: per-cluster fetch → compute tasks, one emit task, the
//! remote-write worker and the HTTP server, all under one shutdown token.
//!
//! Shutdown order: cancel fetch loops → compute and emit drain what is in
//! their channels and end → the remote-write worker makes a final flush
//! bounded by `node.shutdown_timeout` → HTTP stops.

mod cluster;
mod compute;
mod emit;
pub mod fetch;
mod slots;
mod warn_limiter;

use std::sync::Arc;

use anyhow::Context;
use lagring_core::filter::NameFilter;
use lagring_core::lag_series::LabelOptions;
use lagring_kafka::KafkaClient;
use lagring_sink::LagCollector;
use lagring_sink::remote_write::RemoteWriter;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::coordination::{ClusterOwnership, CoordinationMetrics, Coordinator};
use crate::health::Health;
use crate::http::{self, HttpState};
use crate::self_metrics::SelfMetrics;
use cluster::{ClusterTask, FETCH_TO_COMPUTE_CAPACITY};
use compute::Compute;
use emit::COMPUTE_TO_EMIT_CAPACITY;
use lagring_store::{CoordinationStore, MemoryStore, RedisStore};

/// Header naming the sending node on every remote-write request, so an
/// operator (or a test) can tell which node emitted a series.
pub const NODE_HEADER: &str = "X-Lagring-Node";

/// Runs the node until `shutdown` is cancelled, then drains and flushes.
pub async fn run(cfg: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let node_id = cfg.node_id();
    let metrics = SelfMetrics::new().context("register self metrics")?;
    let collector = LagCollector::new();
    let health = Health::new(cfg.clusters.iter().map(|c| c.name.clone()), cfg.node.interval);
    let labels = label_options(&cfg);

    let listener = TcpListener::bind(cfg.http.listen)
        .await
        .with_context(|| format!("http.listen: cannot bind {}", cfg.http.listen))?;
    let http_stop = CancellationToken::new();
    let http_state = HttpState { registry: metrics.registry.clone(), lag: collector.clone(), health: health.clone() };
    let http_task = tokio::spawn(http::serve(listener, http_state, http_stop.clone()));
    tracing::info!(node = %node_id, listen = %cfg.http.listen, clusters = cfg.clusters.len(), "lagring node started");

    let writer_stop = CancellationToken::new();
    let (remote, writer_task) = match &cfg.remote_write {
        Some(rw) => {
            let headers = vec![(NODE_HEADER.to_owned(), node_id.clone())];
            let (handle, worker) = RemoteWriter::new(rw, &metrics.registry, &headers).context("remote_write")?;
            let task = tokio::spawn(worker.run(writer_stop.clone(), cfg.node.shutdown_timeout));
            (Some(handle), Some(task))
        }
        None => (None, None),
    };

    let store = open_store(&cfg).await?;
    let coordination_metrics =
        CoordinationMetrics::register(&metrics.registry).context("register coordination metrics")?;
    let coordinator = Coordinator::new(
        node_id.clone(),
        store,
        cfg.node.node_ttl,
        cfg.node.heartbeat_interval,
        cfg.node.virtual_nodes,
        coordination_metrics,
        health.clone(),
    );
    coordinator.heartbeat_once().await;
    let heartbeat_stop = CancellationToken::new();
    let heartbeat_task = tokio::spawn(coordinator.clone().heartbeat_loop(heartbeat_stop.clone()));

    let tasks = TaskTracker::new();
    let (emit_tx, emit_rx) = mpsc::channel(COMPUTE_TO_EMIT_CAPACITY);
    for c in &cfg.clusters {
        let name: Arc<str> = Arc::from(c.name.as_str());
        let client = KafkaClient::connect(&c.name, &c.kafka_connection())
            .with_context(|| format!("cluster {}: cannot create kafka client", c.name))?;
        let fetcher = ClusterFetcher {
            cluster: name.clone(),
            client,
            groups: NameFilter::new(&c.groups.allow, &c.groups.deny).context("groups filter")?,
            topics: NameFilter::new(&c.topics.allow, &c.topics.deny).context("topics filter")?,
            max_in_flight: c.max_in_flight_offset_fetches,
        };
        let task = ClusterTask {
            fetcher,
            interval: cfg.node.interval,
            iteration_timeout: cfg.iteration_timeout(),
            health: health.clone(),
            metrics: metrics.clone(),
        };
        let (tx, rx) = mpsc::channel(FETCH_TO_COMPUTE_CAPACITY);
        let ownership = ClusterOwnership::new(name.clone(), coordinator.clone());
        tasks.spawn(task.fetch_loop(ownership, tx, shutdown.clone()));
        let compute = Compute::new(name, labels.clone(), metrics.clone());
        tasks.spawn(cluster::compute_loop(compute, rx, emit_tx.clone()));
    }
    drop(emit_tx);
    let emit_task = tokio::spawn(emit::emit_loop(emit_rx, collector, remote, metrics.clone()));
    tasks.close();

    shutdown.cancelled().await;
    tracing::info!(node = %node_id, "shutting down");
    heartbeat_stop.cancel();
    if let Err(e) = heartbeat_task.await {
        tracing::error!(error = %e, "heartbeat task failed");
    }
    tasks.wait().await;
    coordinator.deregister().await;
    if let Err(e) = emit_task.await {
        tracing::error!(error = %e, "emit task failed");
    }
    writer_stop.cancel();
    if let Some(task) = writer_task {
        match task.await {
            Ok(()) => {}
            Err(e) => tracing::error!(error = %e, "remote-write worker failed"),
        }
    }
    http_stop.cancel();
    match http_task.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "http server failed"),
        Err(e) => tracing::error!(error = %e, "http task failed"),
    }
    tracing::info!(node = %node_id, "stopped");
    Ok(())
}

use fetch::ClusterFetcher;

/// Redis when configured (fleet mode), else the in-memory store (this node
/// owns everything).
async fn open_store(cfg: &Config) -> anyhow::Result<Arc<dyn CoordinationStore>> {
    match &cfg.redis {
        Some(redis) => {
            let store = RedisStore::new(redis).context("redis")?;
            tracing::info!(url = %redis.display_url(), "fleet mode: coordinating through redis");
            Ok(Arc::new(store))
        }
        None => {
            tracing::info!("single-node mode: no redis configured, this node owns every group");
            Ok(Arc::new(MemoryStore::new()))
        }
    }
}

fn label_options(cfg: &Config) -> LabelOptions {
    LabelOptions {
        cluster_label: Arc::from(cfg.prometheus.cluster_label.as_str()),
        extra: cfg
            .prometheus
            .extra_labels
            .iter()
            .map(|(k, v)| (Arc::from(k.as_str()), Arc::from(v.as_str())))
            .collect(),
    }
}
