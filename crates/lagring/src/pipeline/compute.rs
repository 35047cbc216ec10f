//! The compute stage of one cluster: lag math, time lag (the [`time_lag`]
//! step, which goes through the offset-history store), series, staleness.
//!
//! A partition whose log offsets are missing this iteration (its leader did
//! not answer) costs only its own series: the group- and topic-level
//! aggregates are emitted over the partitions that answered, next to
//! `kafka_consumer_group_partitions_unavailable`, so one silent broker never
//! blanks every group.
//!
//! Series of a group whose OffsetFetch failed, or of a partition whose log
//! offsets are missing, are not "ended": their data was only unavailable, so
//! no staleness marker is sent for them — nor for an aggregate of a group or
//! topic with an unavailable partition that has no sample this iteration
//! (every partition of the topic unavailable). Only real disappearance (group
//! deleted, partition gone) ends a series; missing time-lag series follow
//! [`time_lag::Gaps`].

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use lagring_core::group_time::TimeLagPolicy;
use lagring_core::lag::ClusterLag;
use lagring_core::lag_series::{self, IterationFacts, LabelOptions};
use lagring_core::model::TopicPartition;
use lagring_core::series::{PushOnly, Sample, SeriesBatch, SeriesKey, StalenessTracker};
use lagring_core::{group_series, lag, metric_names, push_series};
use lagring_store::HistoryStore;

use super::fetch::FetchOutcome;
use super::time_lag::{self, TimeLagStage};
use crate::api::{Evaluated, Publisher};
use crate::self_metrics::SelfMetrics;

/// Per-cluster compute state kept across iterations.
#[derive(Debug)]
pub struct Compute {
    pub cluster: Arc<str>,
    pub labels: LabelOptions,
    pub metrics: SelfMetrics,
    tracker: StalenessTracker,
    /// Catch-up ETAs only: thousands of groups start or stop catching up
    /// every iteration, and in `tracker` each of them would re-diff all of
    /// its group's series.
    eta_tracker: StalenessTracker,
    time_lag: TimeLagStage,
    /// Groups fetched (or tried) and cluster-series ownership of the last
    /// iteration: while they stay the same nothing can have moved away, and
    /// the scan over every tracked series in `forget_moved` is skipped.
    last_ownership: Option<(HashSet<Arc<str>>, bool)>,
    /// Publishes each owned group's evaluation for the read API.
    publisher: Option<Publisher>,
    /// Emit `kafka_consumer_group_member_partitions` (`prometheus.member_series`).
    member_series: bool,
    /// Build the push-only offsets (a push sink's preset names them) and
    /// track them apart: they never reach a Prometheus path.
    push_offsets: Option<StalenessTracker>,
}

impl Compute {
    pub fn new(
        cluster: Arc<str>,
        labels: LabelOptions,
        metrics: SelfMetrics,
        history: Arc<dyn HistoryStore>,
        policy: TimeLagPolicy,
    ) -> Self {
        let time_lag = TimeLagStage::new(cluster.clone(), history, policy, labels.clone(), metrics.clone());
        Self {
            cluster,
            labels,
            metrics,
            tracker: StalenessTracker::default(),
            eta_tracker: StalenessTracker::default(),
            time_lag,
            last_ownership: None,
            publisher: None,
            member_series: false,
            push_offsets: None,
        }
    }

    /// Emits each member's partition count (opt-in: one series per member).
    pub fn emit_member_series(&mut self) {
        self.member_series = true;
    }

    /// Hands the push sinks each partition's committed and window-start
    /// offsets ([`SeriesBatch::push_only`]), for presets that name them.
    pub fn emit_push_offsets(&mut self) {
        self.time_lag.keep_evaluations();
        self.push_offsets = Some(StalenessTracker::default());
    }

    /// Publishes every iteration's evaluations through `publisher` (the
    /// Burrow read API), right after computing them.
    pub fn publish_to(&mut self, publisher: Publisher) {
        self.time_lag.keep_evaluations();
        self.publisher = Some(publisher);
    }

    /// Series of groups (and the per-cluster series) that another node owns
    /// now are forgotten without a staleness marker: they moved, the new
    /// owner continues them with identical labels.
    fn forget_moved(&mut self, outcome: &FetchOutcome) {
        let owned: HashSet<Arc<str>> = outcome
            .observation
            .groups
            .iter()
            .map(|g| g.group.clone())
            .chain(outcome.failures.groups.iter().map(|(g, _)| g.clone()))
            .chain(outcome.described.info.iter().map(|g| g.group.clone()))
            .chain(outcome.share_starts.iter().map(|(g, _)| g.clone()))
            .collect();
        let owns_cluster_series = outcome.owns_cluster_series;
        let ownership = (owned, owns_cluster_series);
        if self.last_ownership.as_ref() == Some(&ownership) {
            return;
        }
        let owned = &ownership.0;
        let moved = |group: Option<&str>| match group {
            Some(group) => outcome.groups.matched.contains(group) && !owned.contains(group),
            None => !owns_cluster_series,
        };
        self.tracker.forget_groups(moved);
        self.eta_tracker.forget_groups(moved);
        if let Some(push) = &mut self.push_offsets {
            push.forget_groups(moved);
        }
        self.last_ownership = Some(ownership);
    }

    /// Turns one fetch outcome into the batch of series to emit.
    pub async fn run(&mut self, outcome: &FetchOutcome) -> SeriesBatch {
        let t = Instant::now();
        let computed = lag::compute(&outcome.observation);
        let (mut samples, label_sets) = lag_series::group_samples_with_labels(&computed, &self.labels);
        let mut time_lag = self.time_lag.run(outcome, &computed, &label_sets).await;
        drop(label_sets);
        let mut publish_took = std::time::Duration::ZERO;
        let evaluated = std::mem::take(&mut time_lag.evaluated);
        if let Some(publisher) = &mut self.publisher {
            let produced = std::mem::take(&mut time_lag.produce_per_s);
            publish_took = publisher.publish(&computed, &evaluated, &produced, outcome, &self.metrics).await;
        }
        let push_samples = match self.push_offsets {
            Some(_) => push_offset_samples(&self.cluster, &computed, &evaluated, &self.labels),
            None => Vec::new(),
        };
        drop(evaluated);
        // One reallocation for everything appended below, instead of one per
        // `extend` (each copies and page-faults the whole batch).
        let coming = time_lag.group_samples.len()
            + time_lag.catch_up_eta.len()
            + time_lag.produced.len()
            + 2 * outcome.described.info.len()
            + outcome.share_starts.iter().map(|(_, starts)| starts.len()).sum::<usize>()
            + 2;
        samples.reserve(coming);
        samples.extend(time_lag.group_samples);
        samples.extend(group_series::info_samples(&self.cluster, &outcome.described.info, &self.labels));
        if self.member_series {
            for (group, members) in &outcome.described.members {
                samples.extend(group_series::member_samples(&self.cluster, group, members, &self.labels));
            }
        }
        for (group, starts) in &outcome.share_starts {
            let offsets = &outcome.observation.offsets;
            samples.extend(group_series::share_lag_samples(&self.cluster, group, starts, offsets, &self.labels));
        }
        if outcome.owns_cluster_series {
            let facts = IterationFacts {
                groups_checked: outcome.groups.matched.len(),
                iteration_seconds: outcome.started.elapsed().as_secs_f64(),
            };
            samples.extend(lag_series::iteration_samples(&self.cluster, facts, &self.labels));
        }
        self.forget_moved(outcome);

        let failed_groups: HashSet<&str> = outcome.failures.groups.iter().map(|(g, _)| &**g).collect();
        let failed_partitions: HashSet<(&str, String)> =
            outcome.failures.partitions.iter().map(|(tp, _)| (&*tp.topic, tp.partition.to_string())).collect();
        let failed_tps: HashSet<&TopicPartition> = outcome.failures.partitions.iter().map(|(tp, _)| tp).collect();
        // (group, topic) pairs with an unavailable partition: a topic- or
        // group-level series of theirs without a sample is incomplete, not ended.
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
            let describes = [metric_names::GROUP_MEMBERS, metric_names::MEMBER_PARTITIONS];
            if describes.contains(&k.name()) && outcome.described.failed.contains(group) {
                return true;
            }
            match (k.label("topic"), k.label("partition")) {
                (Some(topic), Some(p)) => failed_partitions.contains(&(topic, p.to_owned())),
                (Some(topic), None) => incomplete.contains(&(group, topic)),
                (None, _) => incomplete.iter().any(|(g, _)| *g == group),
            }
        };
        let gaps = time_lag::Gaps::new(time_lag.complete, &computed);
        let keep = |k: &SeriesKey| unavailable(k) || gaps.keeps(k);
        let mut ended = self.tracker.observe_keeping(&samples, keep);
        let eta_ended = self.eta_tracker.observe_keeping(&time_lag.catch_up_eta, keep);
        if !eta_ended.is_empty() {
            ended.extend(eta_ended);
            ended.sort();
        }
        samples.extend(time_lag.catch_up_eta);
        // Never tracked: end offsets and produce rates end without a marker (see time_lag).
        samples.extend(time_lag.produced);
        let push_only = match &mut self.push_offsets {
            Some(tracker) => {
                let ended = tracker.observe_keeping(&push_samples, keep);
                PushOnly { samples: push_samples, ended }
            }
            None => PushOnly::default(),
        };

        let without_offsets: u32 = computed.groups.iter().map(|g| g.partitions_without_offsets).sum();
        let cluster = &*self.cluster;
        self.metrics.partitions_without_offsets.with_label_values(&[cluster]).set(i64::from(without_offsets));
        self.metrics.series.with_label_values(&[cluster]).set(i64::try_from(samples.len()).unwrap_or(i64::MAX));
        self.metrics.stale_markers.with_label_values(&[cluster]).inc_by(ended.len() as u64);
        self.metrics.stage(cluster, "compute", t.elapsed().saturating_sub(time_lag.took + publish_took));
        SeriesBatch {
            cluster: self.cluster.clone(),
            timestamp_ms: outcome.observation.observed_at_ms,
            samples,
            ended,
            push_only,
        }
    }
}

/// The push-only offsets of every group of `lag`: the committed offset of
/// each partition, and its status-window start where `evaluated` (time lag)
/// has one.
fn push_offset_samples(
    cluster: &Arc<str>,
    lag: &ClusterLag,
    evaluated: &[Evaluated],
    labels: &LabelOptions,
) -> Vec<Sample> {
    let starts: std::collections::HashMap<&str, &Evaluated> = evaluated.iter().map(|e| (&*e.0.group, e)).collect();
    let mut out = Vec::new();
    for g in &lag.groups {
        let offsets: Vec<Option<i64>> = starts
            .get(&*g.group)
            .map(|(_, s)| s.iter().map(|o| o.as_ref().map(|o| o.offset)).collect())
            .unwrap_or_default();
        out.extend(push_series::offset_samples(cluster, g, &offsets, labels));
    }
    out
}
