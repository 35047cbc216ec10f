//! The push sinks at run time: one non-blocking [`PushHandle`] the emit stage
//! hands every batch to, and one [`PushWorker`] task per sink.
//!
//! Each sink has its own gate, its own bounded queue and its own worker, so a
//! destination that is down only fills (and, at its bound, drops the oldest
//! records of) its own queue: the emit stage, remote write and the other
//! sinks never wait for it. The worker sends records in order, retrying a
//! failed send with capped exponential backoff; on shutdown it keeps sending
//! for at most the flush timeout and counts what is left as failed.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use lagring_core::series::SeriesBatch;
use prometheus::Registry;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::config::{PushSinkConfig, validate_sinks};
use super::gate::{Gate, GateTiming, Record};
use super::metrics::PushMetrics;
use super::naming::Naming;
use super::transport::{SendError, Transport};
use crate::SinkError;
use crate::remote_write::retry::Backoff;

/// At most one queue-full warning per sink per interval (the counter has
/// the exact total at all times).
const DROP_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Log a failing send on its first retry and then every this many.
const RETRY_LOG_EVERY: u32 = 10;

/// The queue of one sink, shared by its handle side and its worker.
#[derive(Debug)]
struct Queue {
    name: String,
    /// std mutex: held only for queue operations, never across an `.await`.
    records: Mutex<VecDeque<Record>>,
    max_records: usize,
    notify: Notify,
    metrics: PushMetrics,
    /// std mutex: short critical section, never across an `.await`.
    last_drop_log: Mutex<Option<Instant>>,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Record>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn count(&self, counter: &prometheus::IntCounterVec, n: usize) {
        counter.with_label_values(&[self.name.as_str()]).inc_by(u64::try_from(n).unwrap_or(u64::MAX));
    }

    fn set_gauge(&self, len: usize) {
        self.metrics.queued.with_label_values(&[self.name.as_str()]).set(i64::try_from(len).unwrap_or(i64::MAX));
    }

    /// Appends `records`, dropping (and counting) the oldest beyond the bound.
    fn push(&self, records: Vec<Record>) {
        let (dropped, len) = {
            let mut queue = self.lock();
            queue.extend(records);
            let dropped = queue.len().saturating_sub(self.max_records);
            queue.drain(..dropped);
            (dropped, queue.len())
        };
        self.set_gauge(len);
        if dropped > 0 {
            self.count(&self.metrics.dropped, dropped);
            let mut last = self.last_drop_log.lock().unwrap_or_else(PoisonError::into_inner);
            if last.is_none_or(|t| t.elapsed() >= DROP_LOG_INTERVAL) {
                *last = Some(Instant::now());
                tracing::warn!(sink = %self.name, dropped, "push sink queue full, dropped oldest records");
            }
        }
        self.notify.notify_one();
    }

    fn take(&self, max: usize) -> Vec<Record> {
        let (taken, len) = {
            let mut queue = self.lock();
            let n = max.min(queue.len());
            (queue.drain(..n).collect::<Vec<_>>(), queue.len())
        };
        self.set_gauge(len);
        taken
    }
}

/// The gate and queue of one sink, on the emit side.
#[derive(Debug)]
struct SinkInput {
    naming: Naming,
    /// std mutex: only the emit task locks it, never across an `.await`.
    gate: Mutex<Gate>,
    queue: Arc<Queue>,
}

/// Builds the push sinks.
#[derive(Debug)]
pub struct PushSinks;

impl PushSinks {
    /// Validates `configs`, connects nothing yet, and registers the
    /// `lagring_sink_*` series into `registry`.
    #[expect(clippy::new_ret_no_self, reason = "only a constructor for the handle and the workers")]
    pub fn new(configs: &[PushSinkConfig], registry: &Registry) -> Result<(PushHandle, Vec<PushWorker>), SinkError> {
        validate_sinks(configs)?;
        let metrics = PushMetrics::register(registry)?;
        let mut inputs = Vec::new();
        let mut workers = Vec::new();
        for cfg in configs {
            let queue = Arc::new(Queue {
                name: cfg.name.clone(),
                records: Mutex::default(),
                max_records: cfg.queue_max_records,
                notify: Notify::new(),
                metrics: metrics.clone(),
                last_drop_log: Mutex::default(),
            });
            let timing = GateTiming { changed_every: cfg.changed_every, unchanged_every: cfg.unchanged_every };
            let transport = Transport::new(cfg)?;
            inputs.push(SinkInput { naming: cfg.naming(), gate: Mutex::new(Gate::new(timing)), queue: queue.clone() });
            workers.push(PushWorker {
                queue,
                transport,
                backoff: Backoff { min: cfg.min_backoff, max: cfg.max_backoff },
                max_retries: cfg.max_retries,
                max_records_per_send: cfg.max_records_per_send,
            });
        }
        Ok((PushHandle { sinks: inputs.into_iter().map(Arc::new).collect() }, workers))
    }
}

/// Cheap, cloneable producer side of every push sink.
#[derive(Clone, Debug)]
pub struct PushHandle {
    sinks: Arc<[Arc<SinkInput>]>,
}

impl PushHandle {
    /// Gates `batch` for every sink and queues what is due, without waiting.
    pub fn enqueue(&self, batch: &SeriesBatch) {
        for sink in self.sinks.iter() {
            let gated = {
                let mut gate = sink.gate.lock().unwrap_or_else(PoisonError::into_inner);
                gate.observe(batch, |k| sink.naming.maps(k))
            };
            let queue = &sink.queue;
            queue.count(&queue.metrics.considered, gated.considered);
            queue.count(&queue.metrics.valid, gated.records.len());
            if !gated.records.is_empty() {
                queue.push(gated.records);
            }
        }
    }

    /// Records waiting in the named sink's queue.
    pub fn queued(&self, sink: &str) -> Option<usize> {
        self.sinks.iter().find(|s| s.queue.name == sink).map(|s| s.queue.lock().len())
    }
}

/// The task of one sink; run it with [`PushWorker::run`].
#[derive(Debug)]
pub struct PushWorker {
    queue: Arc<Queue>,
    transport: Transport,
    backoff: Backoff,
    max_retries: Option<u32>,
    max_records_per_send: usize,
}

impl PushWorker {
    /// The sink's configured name.
    pub fn name(&self) -> &str {
        &self.queue.name
    }

    /// Sends queued records in order until `shutdown` is cancelled, then keeps
    /// sending for at most `flush_timeout`; what is left is counted failed.
    pub async fn run(mut self, shutdown: CancellationToken, flush_timeout: Duration) {
        let stop = shutdown.clone();
        let hard_stop = async move {
            stop.cancelled().await;
            tokio::time::sleep(flush_timeout).await;
        };
        tokio::pin!(hard_stop);
        loop {
            let records = self.queue.take(self.max_records_per_send);
            if records.is_empty() {
                if shutdown.is_cancelled() {
                    return;
                }
                tokio::select! {
                    () = self.queue.notify.notified() => {}
                    () = shutdown.cancelled() => {}
                }
                continue;
            }
            let in_flight = records.len();
            let queue = self.queue.clone();
            tokio::select! {
                biased;
                () = self.deliver(records) => {}
                () = &mut hard_stop => {
                    let left = in_flight + queue.take(usize::MAX).len();
                    queue.count(&queue.metrics.failed, left);
                    tracing::warn!(sink = %queue.name, unsent = left, "push sink gave up at shutdown");
                    return;
                }
            }
        }
    }

    /// Sends one chunk, retrying as configured, until it is sent or given up.
    async fn deliver(&mut self, mut records: Vec<Record>) {
        let queue = &self.queue;
        let mut retry = 0u32;
        loop {
            let before = records.len();
            let result = self.transport.send(&mut records).await;
            if result.is_err() {
                // Delivered before the failure: taken out of `records`.
                queue.count(&queue.metrics.sent, before.saturating_sub(records.len()));
            }
            match result {
                Ok(()) => {
                    // `before`: a transport may have emptied `records` as it delivered them.
                    queue.count(&queue.metrics.sent, before);
                    if retry > 0 {
                        tracing::info!(sink = %queue.name, records = before, retries = retry, "push sink delivered after retries");
                    }
                    return;
                }
                Err(SendError::Reject(reason)) => {
                    queue.count(&queue.metrics.failed, records.len());
                    tracing::warn!(sink = %queue.name, records = records.len(), %reason, "push sink rejected records, not retrying");
                    return;
                }
                Err(SendError::Retry(reason)) => {
                    if self.max_retries.is_some_and(|max| retry >= max) {
                        queue.count(&queue.metrics.failed, records.len());
                        tracing::warn!(sink = %queue.name, records = records.len(), retries = retry, %reason, "push sink retries exhausted");
                        return;
                    }
                    let delay = self.backoff.delay(retry, rand::random::<f64>());
                    if retry.is_multiple_of(RETRY_LOG_EVERY) {
                        tracing::warn!(sink = %queue.name, retry, delay = ?delay, %reason, "push sink send failed, retrying");
                    }
                    queue.count(&queue.metrics.retries, 1);
                    retry = retry.saturating_add(1);
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}
