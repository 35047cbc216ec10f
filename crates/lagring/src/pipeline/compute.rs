//! The compute stage of one cluster: lag math, series, staleness.
//!
//! Series of a group whose OffsetFetch failed, or of a partition whose log
//! offsets are missing this iteration, are not "ended": their data was only
//! unavailable, so no staleness marker is sent for them — nor for the group-
//! and topic-level series of a group with any unavailable partition (their
//! aggregate may simply be missing this iteration). Only real disappearance
//! (group deleted, partition gone) ends a series.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use lagring_core::lag;
use lagring_core::lag_series::{self, IterationFacts, LabelOptions};
use lagring_core::model::TopicPartition;
use lagring_core::series::{SeriesBatch, SeriesKey, StalenessTracker};

use super::fetch::FetchOutcome;
use crate::self_metrics::SelfMetrics;

/// Per-cluster compute state kept across iterations.
#[derive(Debug)]
pub struct Compute {
    pub cluster: Arc<str>,
    pub labels: LabelOptions,
    pub metrics: SelfMetrics,
    tracker: StalenessTracker,
}

impl Compute {
    pub fn new(cluster: Arc<str>, labels: LabelOptions, metrics: SelfMetrics) -> Self {
        Self { cluster, labels, metrics, tracker: StalenessTracker::default() }
    }

    /// Series of groups (and the per-cluster series) that another node owns
    /// now are forgotten without a staleness marker: they moved, the new
    /// owner continues them with identical labels.
    fn forget_moved(&mut self, outcome: &FetchOutcome) {
        let owned: HashSet<&str> = outcome
            .observation
            .groups
            .iter()
            .map(|g| &*g.group)
            .chain(outcome.group_errors.iter().map(|(g, _)| &**g))
            .collect();
        let owns_cluster_series = outcome.owns_cluster_series;
        self.tracker.forget(|k| match k.label("group") {
            Some(group) => outcome.discovered.contains(group) && !owned.contains(group),
            None => !owns_cluster_series,
        });
    }

    /// Turns one fetch outcome into the batch of series to emit.
    pub fn run(&mut self, outcome: &FetchOutcome) -> SeriesBatch {
        let t = Instant::now();
        let computed = lag::compute(&outcome.observation);
        let mut samples = lag_series::group_samples(&computed, &self.labels);
        if outcome.owns_cluster_series {
            let facts = IterationFacts {
                groups_checked: outcome.groups_checked,
                iteration_seconds: outcome.started.elapsed().as_secs_f64(),
            };
            samples.extend(lag_series::iteration_samples(&self.cluster, facts, &self.labels));
        }
        self.forget_moved(outcome);

        let failed_groups: HashSet<&str> = outcome.group_errors.iter().map(|(g, _)| &**g).collect();
        let failed_partitions: HashSet<(&str, String)> =
            outcome.partition_errors.iter().map(|(tp, _)| (&*tp.topic, tp.partition.to_string())).collect();
        let failed_tps: HashSet<&TopicPartition> = outcome.partition_errors.iter().map(|(tp, _)| tp).collect();
        // (group, topic) pairs with an unavailable partition: their topic- and
        // group-level aggregates are incomplete, not ended.
        let incomplete: HashSet<(&str, &str)> = outcome
            .observation
            .groups
            .iter()
            .flat_map(|g| {
                g.committed.keys().filter(|tp| failed_tps.contains(tp)).map(move |tp| (&*g.group, &*tp.topic))
            })
            .collect();
        let unavailable = |k: &SeriesKey| {
            let group = k.label("group").unwrap_or_default();
            if failed_groups.contains(group) {
                return true;
            }
            match (k.label("topic"), k.label("partition")) {
                (Some(topic), Some(p)) => failed_partitions.contains(&(topic, p.to_owned())),
                (Some(topic), None) => incomplete.contains(&(group, topic)),
                (None, _) => incomplete.iter().any(|(g, _)| *g == group),
            }
        };
        let ended = self.tracker.observe_keeping(&samples, unavailable);

        let without_offsets: u32 = computed.groups.iter().map(|g| g.partitions_without_offsets).sum();
        let cluster = &*self.cluster;
        self.metrics.partitions_without_offsets.with_label_values(&[cluster]).set(i64::from(without_offsets));
        self.metrics.series.with_label_values(&[cluster]).set(i64::try_from(samples.len()).unwrap_or(i64::MAX));
        self.metrics.stale_markers.with_label_values(&[cluster]).inc_by(ended.len() as u64);
        self.metrics.stage(cluster, "compute", t.elapsed());
        SeriesBatch { cluster: self.cluster.clone(), timestamp_ms: outcome.observation.observed_at_ms, samples, ended }
    }
}
