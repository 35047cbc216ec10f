//! The events of one cluster's iterations. Each event writes its log line,
//! its counters and the cluster's health together, in one place, so a
//! warning without its counter (or the reverse) cannot happen and repeated
//! warnings are rate-limited the same way everywhere (Vector's internal
//! events are the model). Log lines carry no `cluster` field: they run inside
//! the cluster's span, and each iteration inside an `iteration{slot}` span.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lagring_kafka::KafkaClient;

use super::fetch::{FetchError, FetchOutcome};
use super::warn_limiter::WarnLimiter;
use crate::health::Health;
use crate::self_metrics::SelfMetrics;

/// Repeated failures of one cluster are logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Emits the iteration events of one cluster.
#[derive(Debug)]
pub struct ClusterEvents {
    cluster: Arc<str>,
    metrics: SelfMetrics,
    health: Health,
    warn: WarnLimiter,
}

impl ClusterEvents {
    pub fn new(cluster: Arc<str>, metrics: SelfMetrics, health: Health) -> Self {
        Self { cluster, metrics, health, warn: WarnLimiter::new(WARN_EVERY) }
    }

    /// An iteration fetched what it could: stage timings, counts, the
    /// partial failures in it, and the cluster's health.
    pub fn iteration_succeeded(&mut self, o: &FetchOutcome, exact_time_lag: bool) {
        let (cluster, m) = (self.cluster.clone(), self.metrics.clone());
        let c = &*cluster;
        m.stage(c, "list_groups", o.timings.list_groups);
        m.stage(c, "offset_fetch", o.timings.offset_fetch);
        m.stage(c, "metadata", o.timings.metadata);
        m.stage(c, "list_offsets", o.timings.list_offsets);
        if exact_time_lag {
            m.stage(c, "record_times", o.timings.record_times);
        }
        m.iterations.with_label_values(&[c, "ok"]).inc();
        m.groups_discovered.with_label_values(&[c]).set(o.groups.listed as i64);
        m.owned_groups.with_label_values(&[c]).set(o.owned_count() as i64);
        drop(m);
        if let Some(partial) = &o.groups.partial {
            self.partial_listing(partial);
        }
        self.partitions_unanswered(o);
        if !o.failures.groups.is_empty() {
            self.offset_fetch_failed(o);
        } else if o.groups.partial.is_none() && o.failures.partitions.is_empty() && self.warn.clear() {
            tracing::info!("cluster recovered");
        }
        match &o.groups.partial {
            Some(partial) if !o.reached_cluster() => {
                self.health.failure(c, format!("no broker answered ListGroups: {partial}"));
            }
            _ => self.health.success(c),
        }
    }

    /// Some brokers did not list their groups: the groups last listed are kept.
    fn partial_listing(&mut self, error: &lagring_kafka::KafkaError) {
        self.metrics.kafka_errors.with_label_values(&[&self.cluster, "list_groups"]).inc();
        if let Some(suppressed) = self.warn.check(&error.to_string(), Instant::now()) {
            tracing::warn!(%error, suppressed, "some brokers did not list their groups; keeping the groups last listed");
        }
    }

    /// Partitions whose log offsets were not returned (their leader is silent).
    fn partitions_unanswered(&mut self, o: &FetchOutcome) {
        let failed = o.failures.partitions.len() as u64;
        if failed > 0 {
            self.metrics.kafka_errors.with_label_values(&[&self.cluster, "list_offsets"]).inc_by(failed);
        }
    }

    /// The committed offsets of some owned groups could not be fetched.
    fn offset_fetch_failed(&mut self, o: &FetchOutcome) {
        let failed = o.failures.groups.len();
        self.metrics.kafka_errors.with_label_values(&[&self.cluster, "offset_fetch"]).inc_by(failed as u64);
        let Some((first_group, error)) = o.failures.groups.first() else { return };
        let msg = format!("offset fetch failed for {failed} groups");
        if let Some(suppressed) = self.warn.check(&msg, Instant::now()) {
            tracing::warn!(%first_group, %error, failed, suppressed, "offset fetch failed for some groups");
        }
    }

    /// A whole iteration failed: counted by result and API, logged (rate
    /// limited), and the cluster unhealthy with the reason.
    pub fn iteration_failed(&mut self, e: &FetchError, took: Duration) {
        let c = &*self.cluster;
        let (result, api) = match e {
            FetchError::Timeout(_) => ("timeout", None),
            FetchError::Metadata(_) => ("error", Some("metadata")),
            FetchError::ListOffsets(_) => ("error", Some("list_offsets")),
            FetchError::AllGroupsFailed(..) => ("error", Some("offset_fetch")),
        };
        self.metrics.iterations.with_label_values(&[c, result]).inc();
        if let Some(api) = api {
            self.metrics.kafka_errors.with_label_values(&[c, api]).inc();
        }
        let msg = e.to_string();
        if let Some(suppressed) = self.warn.check(&msg, Instant::now()) {
            tracing::warn!(error = %msg, took_ms = took.as_millis() as u64, suppressed, "iteration failed");
        }
        self.health.failure(c, msg);
    }

    /// The client's own request counters, carried into `lagring_kafka_requests_total`.
    pub fn requests_sent(&self, client: &KafkaClient) {
        let c = &*self.cluster;
        self.metrics.blocking_workers.with_label_values(&[c]).set(client.blocking_in_flight());
        let s = client.stats();
        let apis = [
            ("list_groups", s.list_groups),
            ("offset_fetch", s.offset_fetch),
            ("metadata", s.metadata),
            ("list_offsets", s.list_offsets),
            ("fetch", s.fetch),
            ("describe_groups", s.describe_groups),
            ("share_group_offsets", s.share_group_offsets),
        ];
        for (api, counts) in apis {
            let counter = self.metrics.kafka_requests.with_label_values(&[c, api]);
            let seen = counter.get();
            if counts.requests > seen {
                counter.inc_by(counts.requests - seen);
            }
        }
    }
}

/// An iteration's series were computed: its wall time (fetch start to
/// series ready) as the `iteration` stage, and a debug line.
pub fn iteration_computed(metrics: &SelfMetrics, cluster: &str, groups: usize, series: usize, took: Duration) {
    metrics.stage(cluster, "iteration", took);
    tracing::debug!(groups, series, took_ms = took.as_millis() as u64, "iteration computed");
}
