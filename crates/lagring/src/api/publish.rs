//! The owner's side of the read API: after computing a cluster's iteration,
//! the compute stage hands the groups it owns (and the topics it fetched) to
//! [`Publisher`], which writes them to the shared [`EvaluationStore`] in one
//! call (one Redis round trip), each live for [`TTL_INTERVALS`] intervals.
//!
//! Only the owner of a group computes it, so only the owner publishes it; a
//! group that moves is published by its new owner from its first iteration,
//! and a group nobody evaluates any more (deleted, filtered out, its cluster
//! down) expires from the API after the TTL instead of showing frozen lag.
//! A failing store never fails the iteration: it is counted
//! (`lagring_evaluation_publish_errors_total`) and warned about at most once
//! a minute.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lagring_core::group_time::GroupTimeLag;
use lagring_core::lag::ClusterLag;
use lagring_core::model::TopicPartition;
use lagring_store::{EvaluationStore, Published, RecordKind};

use super::evaluation::{evaluate_group, topic_offsets};
use super::model::ConsumerOffset;
use crate::pipeline::fetch::FetchOutcome;
use crate::pipeline::warn_limiter::WarnLimiter;
use crate::self_metrics::SelfMetrics;

/// A published record lives this many intervals: one missed iteration (a
/// slow broker, a hand-over) does not make a group vanish from the API, a
/// group nobody evaluates any more is gone within three.
pub const TTL_INTERVALS: u32 = 3;

/// A failing store is warned about at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// One group's time-lag result and the window start of each of its
/// partitions (in the order of its `GroupLag::partitions`).
pub type Evaluated = (GroupTimeLag, Vec<Option<ConsumerOffset>>);

/// Publishes one cluster's evaluations every iteration.
#[derive(Debug)]
pub struct Publisher {
    store: Arc<dyn EvaluationStore>,
    ttl: Duration,
    warn: WarnLimiter,
}

impl Publisher {
    pub fn new(store: Arc<dyn EvaluationStore>, interval: Duration) -> Self {
        Self { store, ttl: interval.saturating_mul(TTL_INTERVALS), warn: WarnLimiter::new(WARN_EVERY) }
    }

    /// Publishes every group of `lag` (computed from `outcome`; statuses
    /// and consume rates from `evaluated`, when time lag ran; owners from its
    /// describes) and the end offsets of every topic `outcome` fetched, with
    /// their produce rates (`produce_per_s`, sorted by partition, when time
    /// lag ran); returns the time it took.
    pub async fn publish(
        &mut self,
        lag: &ClusterLag,
        evaluated: &[Evaluated],
        produce_per_s: &[(TopicPartition, Option<f64>)],
        outcome: &FetchOutcome,
        metrics: &SelfMetrics,
    ) -> Duration {
        let started = Instant::now();
        let cluster = &*lag.cluster;
        let by_group: HashMap<&str, &Evaluated> = evaluated.iter().map(|e| (&*e.0.group, e)).collect();
        let mut records = Vec::with_capacity(lag.groups.len());
        for g in &lag.groups {
            let (time, starts) = match by_group.get(&*g.group) {
                Some((time, starts)) => (Some(time), starts.as_slice()),
                None => (None, &[][..]),
            };
            let owners = outcome.described.owners.get(&g.group).map(Vec::as_slice).unwrap_or_default();
            let status = evaluate_group(cluster, g, time, starts, owners, lag.observed_at_ms);
            match serde_json::to_string(&status) {
                Ok(value) => records.push(Published { kind: RecordKind::Group, name: g.group.to_string(), value }),
                Err(error) => tracing::debug!(group = %g.group, %error, "cannot encode the group evaluation"),
            }
        }
        for (topic, record) in topic_offsets(&outcome.observation, produce_per_s) {
            if let Ok(value) = serde_json::to_string(&record) {
                records.push(Published { kind: RecordKind::Topic, name: topic, value });
            }
        }
        match self.store.publish(cluster, &records, self.ttl).await {
            Ok(()) => {
                if self.warn.clear() {
                    tracing::info!("evaluation store recovered");
                }
            }
            Err(error) => {
                metrics.publish_errors.with_label_values(&[cluster]).inc();
                if let Some(suppressed) = self.warn.check(&error.to_string(), Instant::now()) {
                    tracing::warn!(%error, suppressed, "cannot publish evaluations; the read API serves older ones");
                }
            }
        }
        let took = started.elapsed();
        metrics.stage(cluster, "publish", took);
        took
    }
}
