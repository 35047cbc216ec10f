//! The time-lag step of a cluster's compute stage: append this slot's
//! offsets to the shared offset histories, then compute time lag, rates,
//! catch-up ETA and status from them (`lagring_core::group_time`) and turn
//! them into series.
//!
//! Per iteration, at the slot timestamp (`observed_at_ms`, the same on every
//! node): the end offsets of every partition fetched go into the end-offset
//! histories in one store call, then the committed offsets of the owned
//! groups in calls of [`COMMITTED_PER_CALL`] partitions; each call returns the
//! histories after the append, and the groups of a call are computed before
//! the next one. The Redis store turns a call into one script call per
//! `HISTORY_BATCH` partitions, all sent in one pipelined round trip.
//!
//! A history-store failure never fails the iteration: the offset series are
//! emitted as usual, the time-lag series are skipped (counted in
//! `lagring_history_errors_total`, warned about at most once a minute) and
//! their previous series are kept without a staleness marker ([`Gaps`]).
//!
//! **Who emits `kafka_partition_produce_records_per_second` and
//! `kafka_partition_end_offset`.** They have no group label, yet several
//! nodes may fetch the same partition (their groups read it). Exactly one of
//! them appended the slot's end offset: the store ignores every later append
//! of the same slot. That node emits both, the others do not, so each
//! partition has one sample per slot whichever nodes fetched it, and the rate
//! is computed from the shared history after that first append, identical
//! whichever node wins. The winner may change from slot to slot; the series
//! identity does not. Because no node can tell whether another node still
//! fetches a partition, these series are never ended with a staleness
//! marker: they stop.

mod gaps;
#[cfg(test)]
mod tests;

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lagring_core::group_time::{GroupTimeLag, Histories, TimeLagPolicy, group_time_lag_with};
use lagring_core::history::{AppendOutcome, OffsetHistory};
use lagring_core::lag::{ClusterLag, GroupLag};
use lagring_core::lag_series::{GroupLabels, LabelOptions};
use lagring_core::model::TopicPartition;
use lagring_core::rates::rate_per_second;
use lagring_core::series::Sample;
use lagring_core::status::Members;
use lagring_core::time_lag_series::{Produced, produced_samples, time_lag_samples};
use lagring_store::history::HISTORY_BATCH;
use lagring_store::{CommittedOffset, EndOffset, HistoryStore, Recorded, StoreError};

pub use gaps::Gaps;

use super::fetch::FetchOutcome;
use super::warn_limiter::WarnLimiter;
use crate::api::Evaluated;
use crate::api::evaluation::window_start;
use crate::api::model::ConsumerOffset;
use crate::self_metrics::SelfMetrics;

/// Committed offsets per store call: a hundred of the Redis store's script
/// batches, pipelined into one round trip. A node owning up to 100,000
/// group-partitions of a cluster (10,000 groups × 10 partitions) therefore
/// makes two history round trips per iteration (end offsets, committed
/// offsets) whatever the count; beyond that one more per 100,000. The bound
/// caps the histories held at once: the in-memory store shares its own
/// (no copy), the Redis store decodes them, about 16 bytes per point
/// (≈ 40 MB per call at the default 30 s interval, 21 points each).
pub const COMMITTED_PER_CALL: usize = 100 * HISTORY_BATCH;

/// A failing history store is logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Per-cluster time-lag state kept across iterations.
#[derive(Debug)]
pub struct TimeLagStage {
    cluster: Arc<str>,
    store: Arc<dyn HistoryStore>,
    policy: TimeLagPolicy,
    labels: LabelOptions,
    metrics: SelfMetrics,
    warn: WarnLimiter,
    /// Keep each group's result for the read API's publish.
    keep_evaluations: bool,
}

/// The time-lag series of one iteration.
#[derive(Debug, Default)]
pub struct TimeLagSeries {
    /// Per-group series (time lag, consume rate, status): tracked for
    /// staleness with the offset series.
    pub group_samples: Vec<Sample>,
    /// Catch-up ETAs: they start and end with every group that starts or
    /// stops catching up, so the compute stage tracks them on their own.
    pub catch_up_eta: Vec<Sample>,
    /// End offsets and produce rates of the partitions whose slot this node
    /// recorded first.
    pub produced: Vec<Sample>,
    /// The produce rate of every partition fetched, whoever recorded it
    /// first (the same value: the shared history), for the read API's topic
    /// records (empty unless [`TimeLagStage::keep_evaluations`]).
    pub produce_per_s: Vec<(TopicPartition, Option<f64>)>,
    /// False when the history store failed and nothing was computed.
    pub complete: bool,
    /// Wall time of the whole step, store round trips included.
    pub took: Duration,
    /// Each group's result and status-window starts, for the read API
    /// (empty unless [`TimeLagStage::keep_evaluations`]).
    pub evaluated: Vec<Evaluated>,
}

impl TimeLagStage {
    pub fn new(
        cluster: Arc<str>,
        store: Arc<dyn HistoryStore>,
        policy: TimeLagPolicy,
        labels: LabelOptions,
        metrics: SelfMetrics,
    ) -> Self {
        Self { cluster, store, policy, labels, metrics, warn: WarnLimiter::new(WARN_EVERY), keep_evaluations: false }
    }

    /// Hands each group's result and status-window starts out with the
    /// series ([`TimeLagSeries::evaluated`]), and every partition's produce
    /// rate, for the read API and the push-only offsets.
    pub fn keep_evaluations(&mut self) {
        self.keep_evaluations = true;
    }

    /// Records `outcome`'s offsets and computes the time-lag series of the
    /// groups in `lag` (computed from the same outcome). `shared` is the
    /// label sets of `lag`'s offset series, which the time-lag series reuse.
    pub async fn run(&mut self, outcome: &FetchOutcome, lag: &ClusterLag, shared: &[GroupLabels]) -> TimeLagSeries {
        if !self.policy.enabled {
            return TimeLagSeries { complete: true, ..TimeLagSeries::default() };
        }
        let started = Instant::now();
        let mut history_time = Duration::ZERO;
        let result = self.record_and_compute(outcome, lag, shared, &mut history_time).await;
        let cluster = &*self.cluster;
        let mut series = match result {
            Ok(series) => {
                if self.warn.clear() {
                    tracing::info!("offset-history store recovered");
                }
                series
            }
            Err(error) => {
                self.metrics.history_errors.with_label_values(&[cluster]).inc();
                if let Some(suppressed) = self.warn.check(&error.to_string(), Instant::now()) {
                    tracing::warn!(%error, suppressed, "offset-history store failed; time-lag series skipped this iteration");
                }
                TimeLagSeries::default()
            }
        };
        series.took = started.elapsed();
        self.metrics.stage(cluster, "history", history_time);
        self.metrics.stage(cluster, "time_lag", series.took.saturating_sub(history_time));
        series
    }

    async fn record_and_compute(
        &self,
        outcome: &FetchOutcome,
        lag: &ClusterLag,
        shared: &[GroupLabels],
        history_time: &mut Duration,
    ) -> Result<TimeLagSeries, StoreError> {
        let cluster = &*self.cluster;
        let at_ms = outcome.observation.observed_at_ms;
        let ends: Vec<EndOffset> =
            outcome.observation.offsets.iter().map(|(tp, o)| EndOffset { tp: tp.clone(), end: o.end }).collect();
        let t = Instant::now();
        let end_recorded = self.store.record_end_offsets(cluster, at_ms, &ends).await?;
        *history_time += t.elapsed();
        same_length("record_end_offsets", ends.len(), end_recorded.len())?;
        self.count_resets("end", &end_recorded);
        let end = EndHistories::new(&ends, &end_recorded, self.policy.rate_window_ms);

        // Record times exist only with exact time lag; without them no
        // lookup (and no partition clone for its key) is made.
        let exact = !outcome.record_times.read.is_empty();
        let mut groups: Vec<GroupTimeLag> = Vec::with_capacity(lag.groups.len());
        let mut window_starts: Vec<Vec<Option<ConsumerOffset>>> = Vec::new();
        let window_ms = self.policy.status.window_ms;
        for chunk in chunks(&lag.groups, COMMITTED_PER_CALL) {
            let commits: Vec<CommittedOffset> = chunk
                .iter()
                .flat_map(|g| {
                    g.partitions.iter().map(|p| CommittedOffset {
                        group: g.group.clone(),
                        tp: p.tp.clone(),
                        committed: p.committed,
                    })
                })
                .collect();
            let t = Instant::now();
            let recorded = self.store.record_committed(cluster, at_ms, &commits).await?;
            *history_time += t.elapsed();
            same_length("record_committed", commits.len(), recorded.len())?;
            self.count_resets("committed", &recorded);
            let mut rest = recorded.as_slice();
            for g in chunk.iter().filter(|g| !g.partitions.is_empty()) {
                let Some((committed, tail)) = rest.split_at_checked(g.partitions.len()) else { break };
                rest = tail;
                let members = outcome.groups.members.get(&g.group).copied().unwrap_or(Members::Unknown);
                let histories = GroupHistories::new(&end, g, committed);
                let produce_ms = |tp: &TopicPartition, committed: i64| {
                    exact
                        .then(|| outcome.record_times.read.get(&(tp.clone(), committed)).map(|t| t.produce_ms))
                        .flatten()
                };
                groups.push(group_time_lag_with(g, at_ms, members, &histories, &self.policy, produce_ms));
                if self.keep_evaluations {
                    let starts = g
                        .partitions
                        .iter()
                        .zip(committed)
                        .map(|(p, c)| window_start(&c.history, histories.end(&p.tp), at_ms, window_ms));
                    window_starts.push(starts.collect());
                }
            }
        }

        // Exact time lag only: commits whose record time could not be read.
        let failures = &outcome.record_times.failed;
        let fallbacks = if failures.is_empty() {
            0
        } else {
            let partitions = lag.groups.iter().flat_map(|g| g.partitions.iter());
            partitions.filter(|p| failures.contains(&(p.tp.clone(), p.committed))).count()
        };
        if fallbacks > 0 {
            self.metrics.exact_time_lag_fallbacks.with_label_values(&[cluster]).inc_by(fallbacks as u64);
        }
        let produced = self.produced(&end);
        let produce_per_s = if self.keep_evaluations {
            end.ends.iter().zip(&end.produce_per_s).map(|(e, rate)| (e.tp.clone(), *rate)).collect()
        } else {
            Vec::new()
        };
        // Label sets built for another cluster name would not be equal.
        let shared = if lag.cluster == self.cluster { shared } else { &[] };
        let samples = time_lag_samples(&self.cluster, &groups, &self.labels, shared);
        let evaluated =
            if self.keep_evaluations { groups.into_iter().zip(window_starts).collect() } else { Vec::new() };
        Ok(TimeLagSeries {
            evaluated,
            group_samples: samples.steady,
            catch_up_eta: samples.catch_up_eta,
            produced: produced_samples(&self.cluster, &produced, &self.labels),
            produce_per_s,
            complete: true,
            took: Duration::ZERO,
        })
    }

    /// End offsets and produce rates of the partitions whose slot this node
    /// appended (see the module docs for why only those).
    fn produced(&self, end: &EndHistories<'_>) -> Vec<Produced> {
        end.ends
            .iter()
            .zip(end.recorded)
            .zip(&end.produce_per_s)
            .filter(|((_, r), _)| r.outcome != AppendOutcome::Ignored)
            .map(|((e, _), rate)| Produced { tp: e.tp.clone(), end: e.end, per_second: *rate })
            .collect()
    }

    fn count_resets(&self, history: &str, recorded: &[Recorded]) {
        let resets = lagring_store::history::count_resets(recorded);
        if resets > 0 {
            self.metrics.history_resets.with_label_values(&[&self.cluster, history]).inc_by(resets as u64);
        }
    }
}

/// Consecutive groups with about `max_partitions` partitions in all (a
/// bigger group is a run of its own).
fn chunks(groups: &[GroupLag], max_partitions: usize) -> impl Iterator<Item = &[GroupLag]> {
    let mut rest = groups;
    std::iter::from_fn(move || {
        let (mut taken, mut partitions) = (0usize, 0usize);
        for g in rest {
            if taken > 0 && partitions + g.partitions.len() > max_partitions {
                break;
            }
            taken += 1;
            partitions += g.partitions.len();
        }
        let (chunk, tail) = rest.split_at_checked(taken)?;
        rest = tail;
        (!chunk.is_empty()).then_some(chunk)
    })
}

fn same_length(op: &'static str, sent: usize, got: usize) -> Result<(), StoreError> {
    if sent == got {
        return Ok(());
    }
    Err(StoreError::Protocol { op, detail: format!("{got} histories for {sent} offsets") })
}

/// The end-offset histories of this iteration, sorted by partition (in the
/// order of the observation's offsets map), with each partition's produce
/// rate computed once for all the groups that read it.
struct EndHistories<'a> {
    ends: &'a [EndOffset],
    recorded: &'a [Recorded],
    produce_per_s: Vec<Option<f64>>,
    rate_window_ms: i64,
}

impl<'a> EndHistories<'a> {
    fn new(ends: &'a [EndOffset], recorded: &'a [Recorded], rate_window_ms: i64) -> Self {
        let produce_per_s = recorded.iter().map(|r| rate_per_second(&r.history, rate_window_ms)).collect();
        Self { ends, recorded, produce_per_s, rate_window_ms }
    }

    /// Index of `tp` in `ends` (a group's partitions are neighbours there).
    fn index(&self, tp: &TopicPartition, hint: &Cell<usize>) -> Option<usize> {
        index_near(self.ends, tp, hint, |e| &e.tp)
    }
}

/// Index of `tp` in `items`, sorted by `tp_of`. Partitions are asked for in
/// order, so the item at or just after `hint` (the last one found) is tried
/// before a binary search; `hint` is moved to the result.
fn index_near<T>(
    items: &[T],
    tp: &TopicPartition,
    hint: &Cell<usize>,
    tp_of: impl Fn(&T) -> &TopicPartition,
) -> Option<usize> {
    let near = (hint.get()..hint.get() + 2).find(|&i| items.get(i).is_some_and(|item| tp_of(item) == tp));
    let i = match near {
        Some(i) => i,
        None => items.binary_search_by(|item| tp_of(item).cmp(tp)).ok()?,
    };
    hint.set(i);
    Some(i)
}

/// The histories one group's computation reads: `committed[i]` belongs to
/// `group.partitions[i]` (sorted by partition). The computation asks for the
/// group's partitions in order, so each lookup starts where the last one
/// ended.
struct GroupHistories<'a> {
    end: &'a EndHistories<'a>,
    group: &'a GroupLag,
    committed: &'a [Recorded],
    end_hint: Cell<usize>,
    committed_hint: Cell<usize>,
}

impl<'a> GroupHistories<'a> {
    fn new(end: &'a EndHistories<'a>, group: &'a GroupLag, committed: &'a [Recorded]) -> Self {
        Self { end, group, committed, end_hint: Cell::new(0), committed_hint: Cell::new(0) }
    }
}

impl Histories for GroupHistories<'_> {
    fn end(&self, tp: &TopicPartition) -> Option<&OffsetHistory> {
        let i = self.end.index(tp, &self.end_hint)?;
        self.end.recorded.get(i).map(|r| &*r.history)
    }

    fn committed(&self, group: &str, tp: &TopicPartition) -> Option<&OffsetHistory> {
        if group != &*self.group.group {
            return None;
        }
        let i = index_near(&self.group.partitions, tp, &self.committed_hint, |p| &p.tp)?;
        self.committed.get(i).map(|r| &*r.history)
    }

    fn produce_per_s(&self, tp: &TopicPartition, window_ms: i64) -> Option<f64> {
        let i = self.end.index(tp, &self.end_hint)?;
        if window_ms != self.end.rate_window_ms {
            return rate_per_second(&self.end.recorded.get(i)?.history, window_ms);
        }
        self.end.produce_per_s.get(i).copied().flatten()
    }
}
