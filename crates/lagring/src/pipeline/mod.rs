//! Wiring of one node: per-cluster fetch → compute tasks, one emit task, the
//! heartbeat, the remote-write worker and the HTTP server — every one of them
//! supervised: a critical task that dies before shutdown makes `/healthz` and
//! `/livez` answer 503 with the reason, and the process drains (bounded) and
//! exits non-zero instead of running on half-dead.
//!
//! Shutdown (SIGTERM) in a fleet: the node marks itself leaving; once peers
//! have seen that, each cluster emits one last slot and hands its groups over
//! after it, so peers continue at the very next slot; then the fetch loops
//! end, compute and emit drain, the node deregisters, the remote-write worker
//! and the push sink workers make a final flush and HTTP stops. The whole sequence is bounded by
//! `node.shutdown_timeout` (hand-over gets two thirds of it; what is not
//! handed over by then is released at once).

mod brokers;
mod cluster;
mod compute;
mod emit;
mod events;
pub mod fetch;
#[cfg(test)]
mod group_series_tests;
mod owner;
mod parts;
mod probe;
#[cfg(test)]
mod silent_broker_tests;
mod slots;
mod supervise;
mod time_lag;
pub(crate) mod warn_limiter;

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use lagring_core::filter::NameFilter;
use lagring_core::lag_series::LabelOptions;
use lagring_sink::LagCollector;
use lagring_sink::push::{PushHandle, PushSinks};
use lagring_sink::remote_write::{DeliveryHealth, RemoteWriter};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::api::{ApiState, Publisher};
use crate::config::Config;
use crate::coordination::{CoordinationMetrics, CoordinationTiming, Coordinator};
use crate::health::Health;
use crate::http::{self, HttpState};
use crate::self_metrics::SelfMetrics;
use cluster::{ClusterTask, FETCH_TO_COMPUTE_CAPACITY};
use compute::Compute;
use emit::COMPUTE_TO_EMIT_CAPACITY;
use fetch::ClusterFetcher;
use owner::ClusterOwner;
use supervise::Supervisor;

pub use parts::{KafkaConnector, NodeParts};

/// Header naming the sending node on every remote-write request, so an
/// operator (or a test) can tell which node emitted a series.
pub const NODE_HEADER: &str = "X-Lagring-Node";

/// Runs the node until `shutdown` is cancelled (then hands over, drains and
/// flushes), or until a critical task dies (then drains and returns the
/// reason as an error). Its parts come from the configuration
/// ([`NodeParts::from_config`]); tests hand in their own through [`run_with`].
pub async fn run(cfg: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let parts = NodeParts::from_config(&cfg).await?;
    run_with(cfg, parts, shutdown).await
}

/// [`run`] over parts the caller built: a shared memory store and an
/// in-process simulator make a whole fleet in one test process.
pub async fn run_with(cfg: Config, parts: NodeParts, shutdown: CancellationToken) -> anyhow::Result<()> {
    let span = tracing::info_span!("node", node = %parts.identity.id);
    async move {
        let running = start(cfg, parts).await?;
        let fatal = tokio::select! {
            _ = shutdown.cancelled() => None,
            reason = running.supervisor.first_death() => Some(reason),
        };
        running.drain(fatal).await
    }
    .instrument(span)
    .await
}

/// Starts every task of one node: HTTP, the remote-write worker, the
/// heartbeat, and per cluster a fetch loop and a compute task.
async fn start(cfg: Config, parts: NodeParts) -> anyhow::Result<RunningNode> {
    let NodeParts { identity: node, store, history, evaluations, kafka, listener } = parts;
    let metrics = SelfMetrics::new().context("register self metrics")?;
    let collector = LagCollector::with_max_age(cfg.series_max_age());
    let health = Health::new(cfg.clusters.iter().map(|c| c.name.clone()), cfg.node.interval);
    let labels = label_options(&cfg);
    let supervisor = Supervisor::new(health.clone());

    let listen = listener.local_addr().context("http listener address")?;
    let http_stop = CancellationToken::new();
    let burrow_api = cfg.http.burrow_api.then(|| ApiState {
        store: evaluations.clone(),
        clusters: Arc::new(cfg.clusters.iter().map(|c| (c.name.clone(), c.brokers.clone())).collect()),
        host: Arc::from(node.id.as_str()),
        refresh_s: cfg.node.interval.as_secs().max(1),
    });
    let http_state =
        HttpState { registry: metrics.registry.clone(), lag: collector.clone(), health: health.clone(), burrow_api };
    let http_task = supervisor.spawn("http server", {
        let stop = http_stop.clone();
        async move { http::serve(listener, http_state, stop).await.map_err(|e| format!("http server failed: {e}")) }
    });
    tracing::info!(incarnation = %node.incarnation, %listen, clusters = cfg.clusters.len(), "lagring node started");

    let writer_stop = CancellationToken::new();
    let flush_timeout = cfg.node.shutdown_timeout / 3;
    let (remote, writer_task, delivery) = match &cfg.remote_write {
        Some(rw) => {
            let headers = vec![(NODE_HEADER.to_owned(), node.id.clone())];
            let (handle, worker) = RemoteWriter::new(rw, &metrics.registry, &headers).context("remote_write")?;
            let delivery = worker.delivery_health();
            let stop = writer_stop.clone();
            let task = supervisor.spawn("remote-write worker", async move {
                worker.run(stop, flush_timeout).await;
                Ok(())
            });
            (Some(handle), Some(task), delivery)
        }
        None => (None, None, DeliveryHealth::always()),
    };
    let (push, push_tasks) = start_push_sinks(&cfg, &metrics, &supervisor, &writer_stop, flush_timeout)?;

    let time_lag = cfg.time_lag_settings().map_err(|problems| anyhow::anyhow!(problems.join("; ")))?;
    let timing = CoordinationTiming {
        node_ttl: cfg.node.node_ttl,
        heartbeat_interval: cfg.node.heartbeat_interval,
        lease_ttl: cfg.lease_ttl(),
        vnodes: cfg.node.virtual_nodes,
        restart_grace: cfg.node.restart_grace,
    };
    let coordination_metrics =
        CoordinationMetrics::register(&metrics.registry).context("register coordination metrics")?;
    let coordinator = Coordinator::new(
        node.clone(),
        store,
        timing,
        cfg.clusters.iter().map(|c| c.name.clone()),
        coordination_metrics,
        health.clone(),
        delivery,
    );
    coordinator.set_labels(cfg.node_labels().map_err(|e| anyhow::anyhow!(e))?);
    coordinator.heartbeat_once().await;
    let heartbeat_stop = CancellationToken::new();
    let heartbeat_task = supervisor.spawn("heartbeat", {
        let (c, stop) = (coordinator.clone(), heartbeat_stop.clone());
        async move {
            c.heartbeat_loop(stop).await;
            Ok(())
        }
    });

    let fetch_stop = CancellationToken::new();
    let fetch_tasks = TaskTracker::new();
    let compute_tasks = TaskTracker::new();
    let (emit_tx, emit_rx) = mpsc::channel(COMPUTE_TO_EMIT_CAPACITY);
    let probe_states: Arc<dyn lagring_probe::StateStore> = Arc::new(probe::SharedProbeStates(evaluations.clone()));
    for c in &cfg.clusters {
        let name: Arc<str> = Arc::from(c.name.as_str());
        let client = kafka.connect(c).with_context(|| format!("cluster {}: cannot create kafka client", c.name))?;
        let exact = cfg.time_lag.method == crate::config::TimeLagMethod::Exact;
        let native = matches!(c.client_kind(), lagring_kafka::ClientKind::Native(_));
        if exact && !native {
            tracing::warn!(cluster = %c.name, "time_lag.method: exact needs client: native; this cluster keeps interpolating");
        }
        let groups = NameFilter::new(&c.groups.allow, &c.groups.deny).context("groups filter")?;
        let topics = NameFilter::new(&c.topics.allow, &c.topics.deny).context("topics filter")?;
        let fetcher = ClusterFetcher::new(name.clone(), client)
            .with_filters(groups, topics)
            .with_max_in_flight(c.max_in_flight_offset_fetches)
            .with_exact_time_lag((exact && native).then(lagring_kafka::RecordTimeOptions::default));
        let task = ClusterTask {
            fetcher,
            interval: cfg.node.interval,
            iteration_timeout: cfg.iteration_timeout(),
            health: health.clone(),
            metrics: metrics.clone(),
            coordinator: coordinator.clone(),
        };
        let (tx, rx) = mpsc::channel(FETCH_TO_COMPUTE_CAPACITY);
        let span = tracing::info_span!("cluster", cluster = %name);
        let placement = c.placement.as_ref().map(crate::config::PlacementConfig::placement).unwrap_or_default();
        let owner = ClusterOwner::new(
            name.clone(),
            coordinator.clone(),
            cfg.node.leave_cluster_after_failures,
            metrics.clone(),
        )
        .with_placement(placement.clone());
        let fetch = task.fetch_loop(owner, tx, fetch_stop.clone()).instrument(span.clone());
        fetch_tasks.spawn(supervisor.watch("fetch loop", async move {
            fetch.await;
            Ok(())
        }));
        if let Some(settings) = &c.probe {
            let task = probe::ProbeTask {
                cluster: name.clone(),
                placement,
                settings: probe::probe_settings(c, settings),
                coordinator: coordinator.clone(),
                states: probe_states.clone(),
                labels: labels.clone(),
                interval: cfg.node.interval,
                health: health.clone(),
                emit: emit_tx.clone(),
            };
            let run = task.run(fetch_stop.clone()).instrument(tracing::info_span!("probe", cluster = %name));
            fetch_tasks.spawn(supervisor.watch("probe", async move {
                run.await;
                Ok(())
            }));
        }
        let mut compute = Compute::new(name, labels.clone(), metrics.clone(), history.clone(), time_lag.policy);
        if cfg.http.burrow_api {
            compute.publish_to(Publisher::new(evaluations.clone(), cfg.node.interval));
        }
        if cfg.prometheus.member_series {
            compute.emit_member_series();
        }
        if cfg.sinks.iter().any(|s| s.naming().sends_push_only()) {
            compute.emit_push_offsets();
        }
        let compute = cluster::compute_loop(compute, rx, emit_tx.clone()).instrument(span);
        compute_tasks.spawn(supervisor.watch("compute", async move {
            compute.await;
            Ok(())
        }));
    }
    drop(emit_tx);
    let emit_task = supervisor.spawn("emit", async move {
        emit::emit_loop(emit_rx, collector, remote, push, metrics.clone()).await;
        Ok(())
    });
    fetch_tasks.close();
    compute_tasks.close();

    Ok(RunningNode {
        supervisor,
        coordinator,
        shutdown_timeout: cfg.node.shutdown_timeout,
        fetch_tasks,
        fetch_stop,
        heartbeat_task,
        heartbeat_stop,
        compute_tasks,
        emit_task,
        writer_task,
        push_tasks,
        writer_stop,
        http_task,
        http_stop,
    })
}

/// Spawns one worker per push sink (stopped and flushed with remote write).
fn start_push_sinks(
    cfg: &Config,
    metrics: &SelfMetrics,
    supervisor: &Supervisor,
    stop: &CancellationToken,
    flush_timeout: std::time::Duration,
) -> anyhow::Result<(Option<PushHandle>, Vec<tokio::task::JoinHandle<()>>)> {
    if cfg.sinks.is_empty() {
        return Ok((None, Vec::new()));
    }
    let (handle, workers) = PushSinks::new(&cfg.sinks, &metrics.registry).context("sinks")?;
    let tasks = workers
        .into_iter()
        .map(|worker| {
            let stop = stop.clone();
            supervisor.spawn("push sink worker", async move {
                worker.run(stop, flush_timeout).await;
                Ok(())
            })
        })
        .collect();
    Ok((Some(handle), tasks))
}

impl RunningNode {
    /// Hands over (in a fleet, unless a task died), stops the fetch loops,
    /// deregisters, drains compute and emit, flushes remote write and stops
    /// HTTP, all within `shutdown_timeout`.
    async fn drain(self, fatal: Option<String>) -> anyhow::Result<()> {
        self.supervisor.stopping();
        let started = Instant::now();
        match &fatal {
            Some(reason) => tracing::error!(%reason, "a critical task died; draining and exiting"),
            None => tracing::info!("shutting down"),
        }
        if fatal.is_none() && self.coordinator.has_peers() {
            if self.coordinator.timing.restart_grace.is_zero() {
                self.coordinator.request_leave();
            } else {
                self.coordinator.request_restart();
            }
            let handover = self.shutdown_timeout.saturating_mul(2) / 3;
            tracing::info!(bound_ms = handover.as_millis() as u64, "handing groups over to peers");
            if tokio::time::timeout(handover, self.fetch_tasks.wait()).await.is_err() {
                tracing::warn!("hand-over not finished in time; releasing what is left");
            }
        }
        self.fetch_stop.cancel();
        let remaining = || self.shutdown_timeout.saturating_sub(started.elapsed());
        if tokio::time::timeout(remaining(), self.fetch_tasks.wait()).await.is_err() {
            tracing::warn!("fetch loops did not stop in time");
        }
        self.heartbeat_stop.cancel();
        self.supervisor.join("heartbeat", self.heartbeat_task).await;
        self.coordinator.deregister().await;
        if tokio::time::timeout(remaining(), self.compute_tasks.wait()).await.is_err() {
            tracing::warn!("compute tasks did not drain in time");
        }
        self.supervisor.join("emit", self.emit_task).await;
        self.writer_stop.cancel();
        if let Some(task) = self.writer_task {
            self.supervisor.join("remote-write worker", task).await;
        }
        for task in self.push_tasks {
            self.supervisor.join("push sink worker", task).await;
        }
        self.http_stop.cancel();
        self.supervisor.join("http server", self.http_task).await;
        tracing::info!(took_ms = started.elapsed().as_millis() as u64, "stopped");
        match fatal {
            Some(reason) => Err(anyhow::anyhow!("{reason}")),
            None => Ok(()),
        }
    }
}

/// The handles of a started node's tasks, in the order [`RunningNode::drain`]
/// stops them.
struct RunningNode {
    supervisor: Supervisor,
    coordinator: Arc<Coordinator>,
    shutdown_timeout: std::time::Duration,
    fetch_tasks: TaskTracker,
    fetch_stop: CancellationToken,
    heartbeat_task: tokio::task::JoinHandle<()>,
    heartbeat_stop: CancellationToken,
    compute_tasks: TaskTracker,
    emit_task: tokio::task::JoinHandle<()>,
    writer_task: Option<tokio::task::JoinHandle<()>>,
    push_tasks: Vec<tokio::task::JoinHandle<()>>,
    writer_stop: CancellationToken,
    http_task: tokio::task::JoinHandle<()>,
    http_stop: CancellationToken,
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
