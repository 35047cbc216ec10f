//! Traffic statistics of the push sinks, one series per sink (label `sink`),
//! goRainbow's totalMessage / validMessage / metricsSent / exceptionCount
//! made exact: every record considered is either not due (gating), or valid;
//! every valid record ends up sent, failed, dropped or still queued.

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

use crate::SinkError;

/// Handles to the `lagring_sink_*` families.
#[derive(Clone, Debug)]
pub(crate) struct PushMetrics {
    pub considered: IntCounterVec,
    pub valid: IntCounterVec,
    pub sent: IntCounterVec,
    pub failed: IntCounterVec,
    pub dropped: IntCounterVec,
    pub retries: IntCounterVec,
    pub queued: IntGaugeVec,
}

impl PushMetrics {
    pub fn register(registry: &Registry) -> Result<Self, SinkError> {
        let queued = IntGaugeVec::new(Opts::new("lagring_sink_queue_records", "Records waiting to be sent"), &["sink"])
            .map_err(err("lagring_sink_queue_records"))?;
        registry.register(Box::new(queued.clone())).map_err(err("lagring_sink_queue_records"))?;
        Ok(Self {
            considered: counter(
                registry,
                "records_considered_total",
                "Series values and ended series of the batches that the sink's naming sends",
            )?,
            valid: counter(
                registry,
                "records_valid_total",
                "Records the gating chose to send, bracketing zeros included",
            )?,
            sent: counter(registry, "records_sent_total", "Records the destination accepted")?,
            failed: counter(
                registry,
                "records_failed_total",
                "Records given up on: rejected, retries exhausted, or unsent at shutdown",
            )?,
            dropped: counter(
                registry,
                "records_dropped_total",
                "Oldest queued records dropped because the sink's queue bound was reached",
            )?,
            retries: counter(registry, "retries_total", "Sends that were retries")?,
            queued,
        })
    }
}

fn counter(registry: &Registry, name: &str, help: &str) -> Result<IntCounterVec, SinkError> {
    let full = format!("lagring_sink_{name}");
    let vec = IntCounterVec::new(Opts::new(full.clone(), help), &["sink"]).map_err(err(&full))?;
    registry.register(Box::new(vec.clone())).map_err(err(&full))?;
    Ok(vec)
}

fn err(name: &str) -> impl FnOnce(prometheus::Error) -> SinkError {
    let name = name.to_owned();
    move |source| SinkError::RegisterMetric { name, source }
}
