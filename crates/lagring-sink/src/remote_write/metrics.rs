//! Self metrics of the remote write sink, all prefixed
//! `lagring_remote_write_`, registered into the registry the caller serves
//! on `/metrics`.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use crate::SinkError;

/// Buckets of `send_duration_seconds`: from a local receiver (ms) up to the
/// default 10 s request timeout.
const SEND_DURATION_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Handles to the sink's self metrics.
#[derive(Clone, Debug)]
pub(crate) struct SinkMetrics {
    pub samples_sent: IntCounter,
    pub samples_failed: IntCounter,
    pub samples_dropped: IntCounter,
    pub requests: IntCounterVec,
    pub retries: IntCounter,
    pub queue_samples: IntGauge,
    pub queue_bytes: IntGauge,
    pub send_duration: Histogram,
    pub deliverable: IntGauge,
}

impl SinkMetrics {
    /// Creates the metrics and registers them into `registry`.
    pub fn register(registry: &Registry) -> Result<Self, SinkError> {
        let m = Self {
            samples_sent: IntCounter::new(
                "lagring_remote_write_samples_sent_total",
                "Samples accepted by the remote write receiver",
            )
            .map_err(err("samples_sent_total"))?,
            samples_failed: IntCounter::new(
                "lagring_remote_write_samples_failed_total",
                "Samples given up on: rejected by the receiver (4xx), retries exhausted or unsent at shutdown",
            )
            .map_err(err("samples_failed_total"))?,
            samples_dropped: IntCounter::new(
                "lagring_remote_write_samples_dropped_total",
                "Oldest queued samples dropped because the queue bound was reached",
            )
            .map_err(err("samples_dropped_total"))?,
            requests: IntCounterVec::new(
                Opts::new(
                    "lagring_remote_write_requests_total",
                    "Remote write attempts by HTTP status (error: no response)",
                ),
                &["status"],
            )
            .map_err(err("requests_total"))?,
            retries: IntCounter::new("lagring_remote_write_retries_total", "Remote write attempts that were retries")
                .map_err(err("retries_total"))?,
            queue_samples: IntGauge::new("lagring_remote_write_queue_samples", "Samples waiting to be sent")
                .map_err(err("queue_samples"))?,
            queue_bytes: IntGauge::new("lagring_remote_write_queue_bytes", "Estimated bytes waiting to be sent")
                .map_err(err("queue_bytes"))?,
            send_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "lagring_remote_write_send_duration_seconds",
                    "Duration of one remote write attempt",
                )
                .buckets(SEND_DURATION_BUCKETS.to_vec()),
            )
            .map_err(err("send_duration_seconds"))?,
            deliverable: IntGauge::new(
                "lagring_remote_write_deliverable",
                "1 while the receiver takes this node's requests; 0 once it refuses the node or has failed for leave_after",
            )
            .map_err(err("deliverable"))?,
        };
        let collectors: Vec<(&str, Box<dyn prometheus::core::Collector>)> = vec![
            ("samples_sent_total", Box::new(m.samples_sent.clone())),
            ("samples_failed_total", Box::new(m.samples_failed.clone())),
            ("samples_dropped_total", Box::new(m.samples_dropped.clone())),
            ("requests_total", Box::new(m.requests.clone())),
            ("retries_total", Box::new(m.retries.clone())),
            ("queue_samples", Box::new(m.queue_samples.clone())),
            ("queue_bytes", Box::new(m.queue_bytes.clone())),
            ("send_duration_seconds", Box::new(m.send_duration.clone())),
            ("deliverable", Box::new(m.deliverable.clone())),
        ];
        for (name, collector) in collectors {
            registry.register(collector).map_err(err(name))?;
        }
        Ok(m)
    }
}

fn err(name: &str) -> impl FnOnce(prometheus::Error) -> SinkError {
    let name = format!("lagring_remote_write_{name}");
    move |source| SinkError::RegisterMetric { name, source }
}

/// Converts a count to a gauge value, saturating.
pub(crate) fn as_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Converts a count to a counter increment, saturating.
pub(crate) fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
