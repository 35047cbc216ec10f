//! lagring's own metrics (`lagring_*`), served on `/metrics` next to the lag
//! series. Lag series carry no node label; these do not either, because a
//! Prometheus scrape already adds `instance`.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

/// Handles to every self metric; cloning is cheap (Arc inside each vec).
#[derive(Clone, Debug)]
pub struct SelfMetrics {
    pub registry: Registry,
    /// Wall time per pipeline stage (`list_groups`, `offset_fetch`,
    /// `metadata`, `list_offsets`, `compute`, `emit`, `iteration`).
    pub stage_seconds: HistogramVec,
    /// Iterations by result (`ok`, `error`, `timeout`).
    pub iterations: IntCounterVec,
    pub groups_discovered: IntGaugeVec,
    pub owned_groups: IntGaugeVec,
    /// Kafka errors by API (`list_groups`, `offset_fetch`, `metadata`, `list_offsets`).
    pub kafka_errors: IntCounterVec,
    /// Kafka admin requests by API, from the client's own counters.
    pub kafka_requests: IntCounterVec,
    pub partitions_without_offsets: IntGaugeVec,
    pub series: IntGaugeVec,
    pub stale_markers: IntCounterVec,
    /// 1 while this node is on the cluster's ring (it can complete iterations).
    pub ring_member: IntGaugeVec,
    /// Blocking librdkafka workers still running after the iteration.
    pub blocking_workers: IntGaugeVec,
    /// Groups listed by only some brokers (partial listing) in the last iteration.
    pub partial_listings: IntCounterVec,
    /// Offset histories restarted because the offset went down, by
    /// `history` (`end`: topic recreated or truncated; `committed`: a group
    /// rewound). Counted by the node whose append caused it, so the sum over
    /// a fleet counts each reset once.
    pub history_resets: IntCounterVec,
    /// Iterations whose history-store call failed (time-lag series skipped).
    pub history_errors: IntCounterVec,
    /// Iterations whose publish of evaluations (the read API's data) failed.
    pub publish_errors: IntCounterVec,
    /// Lagging partitions (per group) whose exact time lag could not be read
    /// (`time_lag.method: exact`) and was estimated instead.
    pub exact_time_lag_fallbacks: IntCounterVec,
    /// Per broker (Kafka node id): 1 when every request of the last iteration
    /// to it was answered, 0 when one failed at the transport level.
    pub broker_up: IntGaugeVec,
    /// Groups this node gives to peers because a broker they need is
    /// unreachable from it (and reachable from a peer).
    pub groups_given_to_peers: IntGaugeVec,
}

/// Stage latencies span 1 ms (compute) to a minute (a slow cluster).
const STAGE_BUCKETS: &[f64] = &[0.001, 0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

impl SelfMetrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let stage_seconds = HistogramVec::new(
            HistogramOpts::new("lagring_stage_duration_seconds", "Wall time of one pipeline stage of one iteration")
                .buckets(STAGE_BUCKETS.to_vec()),
            &["cluster", "stage"],
        )?;
        let iterations =
            counter("lagring_iterations_total", "Iterations per cluster by result", &["cluster", "result"])?;
        let groups_discovered = gauge(
            "lagring_groups_discovered",
            "Consumer groups listed by the cluster in the last iteration",
            &["cluster"],
        )?;
        let owned_groups =
            gauge("lagring_owned_groups", "Consumer groups this node fetched in the last iteration", &["cluster"])?;
        let kafka_errors = counter("lagring_kafka_errors_total", "Kafka request errors by API", &["cluster", "api"])?;
        let kafka_requests =
            counter("lagring_kafka_requests_total", "Kafka admin requests sent, by API", &["cluster", "api"])?;
        let partitions_without_offsets = gauge(
            "lagring_partitions_without_offsets",
            "Committed partitions whose log offsets could not be fetched in the last iteration",
            &["cluster"],
        )?;
        let series = gauge("lagring_series", "Lag series emitted for a cluster in the last iteration", &["cluster"])?;
        let stale_markers =
            counter("lagring_stale_markers_total", "Staleness markers sent for series that ended", &["cluster"])?;
        let ring_member = gauge(
            "lagring_cluster_ring_member",
            "1 while this node is on the cluster's ring; 0 after it failed too many iterations in a row",
            &["cluster"],
        )?;
        let blocking_workers = gauge(
            "lagring_kafka_blocking_workers",
            "Blocking librdkafka workers still running when the last iteration ended",
            &["cluster"],
        )?;
        let partial_listings = counter(
            "lagring_partial_group_listings_total",
            "Iterations in which some brokers did not answer ListGroups",
            &["cluster"],
        )?;
        let history_resets = counter(
            "lagring_history_resets_total",
            "Offset histories restarted because the offset went down (end: topic recreated; committed: group rewound)",
            &["cluster", "history"],
        )?;
        let history_errors = counter(
            "lagring_history_errors_total",
            "Iterations whose offset-history store call failed; their time-lag series were skipped",
            &["cluster"],
        )?;
        let publish_errors = counter(
            "lagring_evaluation_publish_errors_total",
            "Iterations whose publish of group evaluations to the shared store failed; the read API served older ones",
            &["cluster"],
        )?;
        let exact_time_lag_fallbacks = counter(
            "lagring_exact_time_lag_fallbacks_total",
            "Lagging group partitions whose exact time lag could not be read and was estimated instead",
            &["cluster"],
        )?;
        let broker_up = gauge(
            "lagring_broker_up",
            "1 when the broker (Kafka node id) answered every request of the last iteration, 0 when it did not",
            &["cluster", "broker"],
        )?;
        let groups_given_to_peers = gauge(
            "lagring_groups_given_to_peers",
            "Groups this node gives to peers because a broker they need is unreachable from it but not from them",
            &["cluster"],
        )?;
        registry.register(Box::new(stage_seconds.clone()))?;
        for c in [
            &iterations,
            &kafka_errors,
            &kafka_requests,
            &stale_markers,
            &partial_listings,
            &history_resets,
            &history_errors,
            &publish_errors,
            &exact_time_lag_fallbacks,
        ] {
            registry.register(Box::new(c.clone()))?;
        }
        for g in [
            &groups_discovered,
            &owned_groups,
            &partitions_without_offsets,
            &series,
            &ring_member,
            &blocking_workers,
            &broker_up,
            &groups_given_to_peers,
        ] {
            registry.register(Box::new(g.clone()))?;
        }
        Ok(Self {
            registry,
            stage_seconds,
            iterations,
            groups_discovered,
            owned_groups,
            kafka_errors,
            kafka_requests,
            partitions_without_offsets,
            series,
            stale_markers,
            ring_member,
            blocking_workers,
            partial_listings,
            history_resets,
            history_errors,
            publish_errors,
            exact_time_lag_fallbacks,
            broker_up,
            groups_given_to_peers,
        })
    }

    /// Records one stage duration.
    pub fn stage(&self, cluster: &str, stage: &str, d: std::time::Duration) {
        self.stage_seconds.with_label_values(&[cluster, stage]).observe(d.as_secs_f64());
    }
}

fn counter(name: &str, help: &str, labels: &[&str]) -> Result<IntCounterVec, prometheus::Error> {
    IntCounterVec::new(Opts::new(name, help), labels)
}

fn gauge(name: &str, help: &str, labels: &[&str]) -> Result<IntGaugeVec, prometheus::Error> {
    IntGaugeVec::new(Opts::new(name, help), labels)
}
