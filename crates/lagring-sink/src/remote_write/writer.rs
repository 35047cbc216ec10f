//! The remote write pipeline: a non-blocking handle feeding a bounded queue,
//! and one worker task draining it strictly in order.
//!
//! The iteration loop must never wait for the network, so
//! [`RemoteWriteHandle::enqueue`] only takes a short lock on the queue. The
//! single [`RemoteWriteWorker`] sends one request at a time and retries it
//! until it is delivered, rejected or out of retries before taking the next,
//! so a later sample never overtakes an earlier one (receivers reject
//! out-of-order samples). On shutdown it keeps draining, bounded by a flush
//! timeout, and counts whatever is left as failed.
//!
//! The worker also keeps this node's delivery state (see [`super::delivery`]).
//! When the receiver refuses the node itself (401, 403, 404, ...), the
//! refused request is held, not dropped, and nothing more is sent but an
//! empty probe every `probe_interval`; the first accepted probe sends the
//! held request and the queue on. So rotated credentials lose nothing within
//! the queue bound, and the fleet can move the node's groups meanwhile.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lagring_core::series::SeriesBatch;
use prometheus::Registry;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::config::RemoteWriteConfig;
use super::delivery::{DeliveryChange, DeliveryHealth, DeliveryTracker, rejects_the_sender};
use super::metrics::{SinkMetrics, as_i64, as_u64};
use super::queue::PendingQueue;
use super::request_builder::{Point, build_write_request, encode, points_of};
use super::retry::Backoff;
use super::service::{Outcome, RemoteWriteService};
use crate::SinkError;

/// Log a failing request on its first retry and then every this many.
const RETRY_LOG_EVERY: u32 = 10;
/// At most one queue-full warning per interval; drops in between are summed
/// into the next one (the counter has the exact total at all times).
const DROP_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Rate limiter state of the queue-full warning.
#[derive(Debug, Default)]
struct DropLog {
    last: Option<Instant>,
    unreported: usize,
}

/// State shared by the handle and the worker.
#[derive(Debug)]
struct Shared {
    /// std mutex: held only for queue operations, never across an `.await`.
    queue: Mutex<PendingQueue>,
    notify: Notify,
    metrics: SinkMetrics,
    /// std mutex: short critical section, never across an `.await`.
    drop_log: Mutex<DropLog>,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, PendingQueue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `samples` to the unreported drops; returns the sum to log when
    /// the last warning is long enough ago.
    fn note_drop(&self, samples: usize) -> Option<usize> {
        let mut log = self.drop_log.lock().unwrap_or_else(PoisonError::into_inner);
        log.unreported += samples;
        if log.last.is_some_and(|t| t.elapsed() < DROP_LOG_INTERVAL) {
            return None;
        }
        log.last = Some(Instant::now());
        Some(std::mem::take(&mut log.unreported))
    }

    fn update_gauges(&self, queue: &PendingQueue) {
        self.metrics.queue_samples.set(as_i64(queue.len()));
        self.metrics.queue_bytes.set(as_i64(queue.bytes()));
    }
}

/// Builds the remote write pipeline.
#[derive(Debug)]
pub struct RemoteWriter;

impl RemoteWriter {
    /// Validates `cfg`, builds the HTTP client and registers the self metrics
    /// into `registry`. `extra_headers` are added to every request (e.g. the
    /// sending node's id).
    #[expect(clippy::new_ret_no_self, reason = "the writer is only a constructor for its two halves")]
    pub fn new(
        cfg: &RemoteWriteConfig,
        registry: &Registry,
        extra_headers: &[(String, String)],
    ) -> Result<(RemoteWriteHandle, RemoteWriteWorker), SinkError> {
        cfg.validate()?;
        let service = RemoteWriteService::new(cfg, extra_headers)?;
        let metrics = SinkMetrics::register(registry)?;
        metrics.deliverable.set(1);
        // Nodes notice a fleet-wide edge at most a retry backoff or a probe
        // apart; twice that lets the fleet see both edges in agreement.
        let settle = cfg.probe_interval.max(cfg.max_backoff).saturating_mul(2);
        let (delivery, _) = DeliveryTracker::new(cfg.leave_after, settle);
        let shared = Arc::new(Shared {
            queue: Mutex::new(PendingQueue::new(cfg.queue_max_samples, cfg.queue_max_bytes)),
            notify: Notify::new(),
            metrics,
            drop_log: Mutex::default(),
        });
        let worker = RemoteWriteWorker {
            shared: Arc::clone(&shared),
            service,
            backoff: Backoff { min: cfg.min_backoff, max: cfg.max_backoff },
            max_retries: cfg.max_retries,
            max_samples_per_request: cfg.max_samples_per_request,
            delivery: std::sync::Mutex::new(delivery),
            probe_interval: cfg.probe_interval,
        };
        Ok((RemoteWriteHandle { shared }, worker))
    }
}

/// Cheap, cloneable producer side of the pipeline.
#[derive(Clone, Debug)]
pub struct RemoteWriteHandle {
    shared: Arc<Shared>,
}

impl RemoteWriteHandle {
    /// Queues a batch (its samples and a staleness marker per ended series)
    /// without waiting; if the queue bound is reached the oldest queued
    /// samples are dropped and counted in `samples_dropped_total`.
    pub fn enqueue(&self, batch: SeriesBatch) {
        let cluster = Arc::clone(&batch.cluster);
        let points = points_of(batch);
        let dropped = {
            let mut queue = self.shared.queue();
            let dropped = queue.push(points);
            self.shared.update_gauges(&queue);
            dropped
        };
        if dropped.samples > 0 {
            self.shared.metrics.samples_dropped.inc_by(as_u64(dropped.samples));
            if let Some(since_last_warning) = self.shared.note_drop(dropped.samples) {
                tracing::warn!(
                    cluster = %cluster,
                    dropped_samples = since_last_warning,
                    "remote write queue full, dropped oldest samples"
                );
            }
        }
        self.shared.notify.notify_one();
    }

    /// Samples waiting to be sent (not counting the request in flight).
    pub fn queued_samples(&self) -> usize {
        self.shared.queue().len()
    }
}

/// How one request's delivery ended.
enum Delivery {
    /// Sent, or given up on and counted.
    Done,
    /// The receiver refused this node: keep the points for after a probe.
    Held(Vec<Point>),
}

/// The task that sends queued samples; run it with [`RemoteWriteWorker::run`].
#[derive(Debug)]
pub struct RemoteWriteWorker {
    shared: Arc<Shared>,
    service: RemoteWriteService,
    backoff: Backoff,
    max_retries: Option<u32>,
    max_samples_per_request: usize,
    /// std mutex: only this worker locks it, never across an `.await`
    /// (a mutex only so `deliver` can take `&self` inside `select!`).
    delivery: std::sync::Mutex<DeliveryTracker>,
    probe_interval: Duration,
}

impl RemoteWriteWorker {
    /// This node's delivery state, for the heartbeat and `/healthz`.
    pub fn delivery_health(&self) -> DeliveryHealth {
        self.tracker().health()
    }

    fn tracker(&self) -> MutexGuard<'_, DeliveryTracker> {
        self.delivery.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_deliverable(&self) -> bool {
        self.tracker().is_deliverable()
    }

    /// Applies one outcome to the delivery state; logs and sets the gauge on a change.
    fn note(&self, update: impl FnOnce(&mut DeliveryTracker, Instant) -> Option<DeliveryChange>) {
        let change = update(&mut self.tracker(), Instant::now());
        match change {
            Some(DeliveryChange::Lost) => {
                let reason = self.tracker().health().state().reason.unwrap_or_default();
                tracing::warn!(%reason, "remote write undeliverable: a fleet moves this node's groups to peers");
            }
            Some(DeliveryChange::Restored) => tracing::info!("remote write deliverable again"),
            None => return,
        }
        self.shared.metrics.deliverable.set(i64::from(change == Some(DeliveryChange::Restored)));
    }

    /// Sends one empty request; its answer updates the delivery state. A
    /// content rejection of the empty body still proves the receiver takes
    /// this node, so it restores delivery too.
    async fn probe(&self) {
        let body = match encode(&build_write_request(&[])) {
            Ok(body) => Bytes::from(body),
            Err(e) => {
                tracing::error!(error = %e, "remote write probe not encodable");
                return;
            }
        };
        let attempt = self.service.send(body).await;
        self.shared.metrics.requests.with_label_values(&[attempt.status_label.as_str()]).inc();
        match attempt.outcome {
            Outcome::Rejected { status, .. } if rejects_the_sender(status) => {
                self.note(|t, now| t.refused(status, now));
            }
            Outcome::Sent | Outcome::Rejected { .. } => self.note(DeliveryTracker::succeeded),
            Outcome::Retry { reason, .. } => self.note(|t, now| t.failed(&reason, now)),
        }
    }

    /// Waits `probe_interval` (or less: shutdown, or new points when
    /// `wake_on_enqueue`), then probes.
    async fn wait_then_probe(&self, shutdown: &CancellationToken, wake_on_enqueue: bool) {
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = self.shared.notify.notified(), if wake_on_enqueue => {}
            () = tokio::time::sleep(self.probe_interval) => {
                tokio::select! {
                    () = self.probe() => {}
                    () = shutdown.cancelled() => {}
                }
            }
        }
    }

    /// Sends queued samples in order until `shutdown` is cancelled, then keeps
    /// draining for at most `flush_timeout`; anything still unsent after that
    /// is counted in `samples_failed_total`.
    pub async fn run(self, shutdown: CancellationToken, flush_timeout: Duration) {
        let stop = shutdown.clone();
        let hard_stop = async move {
            stop.cancelled().await;
            tokio::time::sleep(flush_timeout).await;
        };
        tokio::pin!(hard_stop);
        let mut held: Option<Vec<Point>> = None;
        loop {
            let points = match held.take() {
                Some(points) if self.is_deliverable() => points,
                Some(points) => {
                    if shutdown.is_cancelled() {
                        self.give_up_at_shutdown(points.len(), "the receiver refuses this node");
                        return;
                    }
                    held = Some(points);
                    self.wait_then_probe(&shutdown, false).await;
                    continue;
                }
                None => self.take(),
            };
            if points.is_empty() {
                if shutdown.is_cancelled() {
                    tracing::debug!("remote write queue drained at shutdown");
                    return;
                }
                if self.is_deliverable() {
                    tokio::select! {
                        () = self.shared.notify.notified() => {}
                        () = shutdown.cancelled() => {}
                    }
                } else {
                    self.wait_then_probe(&shutdown, true).await;
                }
                continue;
            }
            let in_flight = points.len();
            tokio::select! {
                // A request that completes as the deadline passes counts as sent.
                biased;
                delivery = self.deliver(points) => {
                    if let Delivery::Held(points) = delivery {
                        held = Some(points);
                    }
                }
                () = &mut hard_stop => {
                    self.give_up_at_shutdown(in_flight, &format!("flush timed out after {flush_timeout:?}"));
                    return;
                }
            }
        }
    }

    fn take(&self) -> Vec<Point> {
        let mut queue = self.shared.queue();
        let points = queue.take(self.max_samples_per_request);
        self.shared.update_gauges(&queue);
        points
    }

    /// Counts what is in flight (or held) and queued as failed, saying `why`.
    fn give_up_at_shutdown(&self, in_flight: usize, why: &str) {
        let left = {
            let mut queue = self.shared.queue();
            let left = queue.clear();
            self.shared.update_gauges(&queue);
            left
        };
        let unsent = in_flight + left.samples;
        self.shared.metrics.samples_failed.inc_by(as_u64(unsent));
        tracing::warn!(unsent_samples = unsent, reason = %why, "remote write gave up at shutdown");
    }

    /// Sends one request, retrying as configured, until it is delivered,
    /// given up on (counted) or refused for this node (held).
    async fn deliver(&self, points: Vec<Point>) -> Delivery {
        let metrics = &self.shared.metrics;
        let samples = points.len();
        let body = match encode(&build_write_request(&points)) {
            Ok(body) => Bytes::from(body),
            Err(e) => {
                metrics.samples_failed.inc_by(as_u64(samples));
                tracing::error!(error = %e, samples, "remote write request not encodable");
                return Delivery::Done;
            }
        };
        let mut retry = 0u32;
        loop {
            let timer = metrics.send_duration.start_timer();
            let attempt = self.service.send(body.clone()).await;
            timer.observe_duration();
            metrics.requests.with_label_values(&[attempt.status_label.as_str()]).inc();
            match attempt.outcome {
                Outcome::Sent => {
                    self.note(DeliveryTracker::succeeded);
                    metrics.samples_sent.inc_by(as_u64(samples));
                    if retry > 0 {
                        tracing::info!(samples, retries = retry, "remote write delivered after retries");
                    }
                    return Delivery::Done;
                }
                Outcome::Rejected { status, body } if rejects_the_sender(status) => {
                    tracing::warn!(status, samples, response = %body, "remote write refused this node, holding the request");
                    self.note(|t, now| t.refused(status, now));
                    return Delivery::Held(points);
                }
                Outcome::Rejected { status, body } => {
                    metrics.samples_failed.inc_by(as_u64(samples));
                    tracing::warn!(status, samples, response = %body, "remote write rejected, not retrying");
                    return Delivery::Done;
                }
                Outcome::Retry { reason, retry_after } => {
                    self.note(|t, now| t.failed(&reason, now));
                    if self.max_retries.is_some_and(|max| retry >= max) {
                        metrics.samples_failed.inc_by(as_u64(samples));
                        tracing::warn!(samples, retries = retry, reason = %reason, "remote write retries exhausted");
                        return Delivery::Done;
                    }
                    let delay = self.backoff.delay_for(retry, rand::random::<f64>(), retry_after);
                    if retry.is_multiple_of(RETRY_LOG_EVERY) {
                        tracing::warn!(samples, retry, delay = ?delay, reason = %reason, "remote write failed, retrying");
                    }
                    metrics.retries.inc();
                    retry = retry.saturating_add(1);
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}
