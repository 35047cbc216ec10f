//! One group's time lag, consume rates, catch-up ETA and status for one
//! iteration, from its offset lag ([`crate::lag`]) and the offset histories.
//!
//! This is the step between the histories a store returns and the series
//! [`crate::time_lag_series`] emits. Histories are looked up through
//! [`Histories`], so the caller keeps them in whatever map its store gives.
//! The histories are expected to already hold this iteration's points
//! (append first, then compute), which is what makes a new owner of a group
//! continue exactly where the old one stopped.

use std::sync::Arc;

use crate::history::OffsetHistory;
use crate::lag::GroupLag;
use crate::model::TopicPartition;
use crate::rates::{self, PartitionProgress};
use crate::status::{self, Members, Status, StatusInput, StatusPolicy};
use crate::time_lag::{self, TimeLag};

/// Whether time lag is computed, and the windows of the rate and status rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeLagPolicy {
    /// False: no offset history is recorded and no time-lag, rate, ETA or
    /// status series is emitted (offset lag only).
    pub enabled: bool,
    /// Window of produce and consume rates, in milliseconds.
    pub rate_window_ms: i64,
    pub status: StatusPolicy,
}

impl Default for TimeLagPolicy {
    fn default() -> Self {
        Self { enabled: true, rate_window_ms: rates::DEFAULT_RATE_WINDOW_MS, status: StatusPolicy::default() }
    }
}

/// Where the offset histories of one cluster are.
pub trait Histories {
    /// End-offset history of a partition.
    fn end(&self, tp: &TopicPartition) -> Option<&OffsetHistory>;
    /// Committed-offset history of a group on a partition.
    fn committed(&self, group: &str, tp: &TopicPartition) -> Option<&OffsetHistory>;
    /// Produce rate of a partition over `window_ms` (records per second)
    /// from its end-offset history. Every group reading a partition asks
    /// for the same value; an implementation that serves many groups can
    /// compute it once per partition.
    fn produce_per_s(&self, tp: &TopicPartition, window_ms: i64) -> Option<f64> {
        rates::rate_per_second(self.end(tp)?, window_ms)
    }
}

/// Time lag and what goes with it for one group on one partition.
#[derive(Clone, Debug, PartialEq)]
pub struct PartitionTimeLag {
    pub tp: TopicPartition,
    pub time_lag: TimeLag,
    /// Records per second the committed offset advanced over the rate window.
    pub consume_per_s: Option<f64>,
    /// `None` without a committed-offset history.
    pub status: Option<Status>,
}

/// Max and sum of the time lags of one group on one topic.
#[derive(Clone, Debug, PartialEq)]
pub struct TopicTimeLag {
    pub topic: Arc<str>,
    pub max_seconds: f64,
    pub sum_seconds: f64,
}

/// Everything time-related computed for one group in one iteration.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupTimeLag {
    pub group: Arc<str>,
    /// In the order of [`GroupLag::partitions`] (sorted by topic, partition).
    pub partitions: Vec<PartitionTimeLag>,
    /// Sorted by topic; only topics with at least one time-lag value.
    pub topics: Vec<TopicTimeLag>,
    /// Largest and summed time lag; `None` when no partition has one.
    pub max_seconds: Option<f64>,
    pub sum_seconds: Option<f64>,
    /// Partitions whose time lag is [`TimeLag::Extrapolated`].
    pub extrapolated: u32,
    /// Partitions with an offset lag but [`TimeLag::NoData`].
    pub without_time_lag: u32,
    pub catch_up_eta_seconds: Option<f64>,
    /// Worst partition status; `None` when no partition has one.
    pub status: Option<Status>,
}

/// Computes [`GroupTimeLag`] for `lag`, observed at `now_ms`.
pub fn group_time_lag(
    lag: &GroupLag,
    now_ms: i64,
    members: Members,
    histories: &impl Histories,
    policy: &TimeLagPolicy,
) -> GroupTimeLag {
    group_time_lag_with(lag, now_ms, members, histories, policy, |_, _| None)
}

/// Like [`group_time_lag`], with the produce time (Unix ms) of the record at
/// a lagging partition's committed offset where `produce_ms(tp, committed)`
/// knows it: that partition's time lag is then [`TimeLag::Exact`] instead of
/// an estimate from the end-offset history.
pub fn group_time_lag_with(
    lag: &GroupLag,
    now_ms: i64,
    members: Members,
    histories: &impl Histories,
    policy: &TimeLagPolicy,
    produce_ms: impl Fn(&TopicPartition, i64) -> Option<i64>,
) -> GroupTimeLag {
    let empty = OffsetHistory::new();
    let mut partitions = Vec::with_capacity(lag.partitions.len());
    let mut progress = Vec::with_capacity(lag.partitions.len());
    for p in &lag.partitions {
        let end_history = histories.end(&p.tp).unwrap_or(&empty);
        let committed_history = histories.committed(&lag.group, &p.tp);
        let time_lag = match produce_ms(&p.tp, p.committed) {
            Some(produced) if p.committed < p.offsets.end => time_lag::from_produce_time(now_ms, produced),
            _ => time_lag::estimate(p.committed, p.offsets.end, now_ms, end_history),
        };
        let consume_per_s = committed_history.and_then(|h| rates::rate_per_second(h, policy.rate_window_ms));
        let status = committed_history.map(|committed_history| {
            let input = StatusInput {
                committed: p.committed,
                end: p.offsets.end,
                now_ms,
                committed_history,
                end_history,
                members,
            };
            status::partition_status(&input, policy.status)
        });
        progress.push(PartitionProgress {
            lag: p.lag,
            consume_per_s,
            produce_per_s: histories.produce_per_s(&p.tp, policy.rate_window_ms),
        });
        partitions.push(PartitionTimeLag { tp: p.tp.clone(), time_lag, consume_per_s, status });
    }

    let mut topics: Vec<TopicTimeLag> = Vec::new();
    for (p, seconds) in partitions.iter().filter_map(|p| Some((p, p.time_lag.seconds()?))) {
        match topics.last_mut() {
            Some(t) if t.topic == p.tp.topic => {
                t.max_seconds = t.max_seconds.max(seconds);
                t.sum_seconds += seconds;
            }
            _ => topics.push(TopicTimeLag { topic: p.tp.topic.clone(), max_seconds: seconds, sum_seconds: seconds }),
        }
    }
    let values = || partitions.iter().filter_map(|p| p.time_lag.seconds());
    let count = |pred: fn(&TimeLag) -> bool| {
        u32::try_from(partitions.iter().filter(|p| pred(&p.time_lag)).count()).unwrap_or(u32::MAX)
    };
    GroupTimeLag {
        group: lag.group.clone(),
        max_seconds: values().reduce(f64::max),
        sum_seconds: values().reduce(|a, b| a + b),
        extrapolated: count(TimeLag::is_extrapolated),
        without_time_lag: count(|t| *t == TimeLag::NoData),
        catch_up_eta_seconds: rates::group_catch_up_eta_seconds(progress),
        status: status::group_status(partitions.iter().filter_map(|p| p.status)),
        topics,
        partitions,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::history::{HistoryPolicy, OffsetPoint};
    use crate::lag::PartitionLag;
    use crate::model::PartitionOffsets;

    #[derive(Default)]
    struct Maps {
        end: HashMap<TopicPartition, OffsetHistory>,
        committed: HashMap<(String, TopicPartition), OffsetHistory>,
    }

    impl Histories for Maps {
        fn end(&self, tp: &TopicPartition) -> Option<&OffsetHistory> {
            self.end.get(tp)
        }
        fn committed(&self, group: &str, tp: &TopicPartition) -> Option<&OffsetHistory> {
            self.committed.get(&(group.to_owned(), tp.clone()))
        }
    }

    fn history(points: &[(i64, i64)], policy: &HistoryPolicy) -> OffsetHistory {
        let mut h = OffsetHistory::new();
        for &(o, t) in points {
            h.append(OffsetPoint::new(o, t), policy);
        }
        h
    }

    fn partition(topic: &str, p: i32, committed: i64, end: i64) -> PartitionLag {
        PartitionLag {
            tp: TopicPartition::new(topic, p),
            committed,
            offsets: PartitionOffsets { start: 0, end },
            lag: end - committed,
            beyond_retention: false,
        }
    }

    #[test]
    fn assembles_time_lag_rates_eta_and_status() {
        let now = 600_000;
        let mut maps = Maps::default();
        let end_points: Vec<(i64, i64)> = (0..=20).map(|i| (i * 300, i * 30_000)).collect();
        let commit_points: Vec<(i64, i64)> = (0..=20).map(|i| (i * 400 - 2_000, i * 30_000)).collect();
        for (topic, p) in [("a", 0), ("a", 1), ("b", 0)] {
            let tp = TopicPartition::new(topic, p);
            maps.end.insert(tp.clone(), history(&end_points, &HistoryPolicy::END_DEFAULT));
            let commits = history(&commit_points[..=20], &HistoryPolicy::COMMIT_DEFAULT);
            maps.committed.insert(("g".to_owned(), tp), commits);
        }
        // a/0: 10 s behind; a/1: caught up; b/0: older than the history;
        // c/0: no end history at all.
        let lag = GroupLag {
            group: "g".into(),
            partitions: vec![
                partition("a", 0, 5_900, 6_000),
                partition("a", 1, 6_000, 6_000),
                partition("b", 0, -100, 6_000),
                partition("c", 0, 10, 20),
            ],
            topics: Vec::new(),
            max_lag: 0,
            sum_lag: 0,
            partitions_without_commit: 0,
            partitions_without_offsets: 0,
            partitions_unavailable: 0,
        };
        let got = group_time_lag(&lag, now, Members::Active, &maps, &TimeLagPolicy::default());
        let lags: Vec<TimeLag> = got.partitions.iter().map(|p| p.time_lag).collect();
        assert_eq!(lags[0], TimeLag::Interpolated(9.9));
        assert_eq!(lags[1], TimeLag::CaughtUp);
        assert!(lags[2].is_extrapolated(), "{lags:?}");
        assert_eq!(lags[3], TimeLag::NoData);
        let b0 = lags[2].seconds().unwrap();
        assert_eq!(got.max_seconds, Some(b0));
        assert_eq!(got.sum_seconds, Some(9.9 + b0));
        assert_eq!((got.extrapolated, got.without_time_lag), (1, 1));
        let topics: Vec<(&str, f64, f64)> =
            got.topics.iter().map(|t| (&*t.topic, t.max_seconds, t.sum_seconds)).collect();
        assert_eq!(topics, [("a", 9.9, 9.9), ("b", b0, b0)]);
        // 400/30 s consumed against 300/30 s produced; c/0 has lag but no rates.
        assert_eq!(got.partitions[0].consume_per_s, Some(400.0 / 30.0));
        assert_eq!(got.catch_up_eta_seconds, None);
        // Consuming faster than producing with lag falling: OK everywhere.
        assert_eq!(got.status, Some(Status::Ok));

        // Exact produce times replace the estimates where known: c/0 had no history, a/1 is
        // caught up (stays 0), b/0's record comes from a clock ahead of ours (0, not negative).
        let produced = |tp: &TopicPartition, committed: i64| match (&*tp.topic, tp.partition, committed) {
            ("a", 0, 5_900) => Some(now - 12_345),
            ("a", 1, _) => Some(now - 1),
            ("b", 0, -100) => Some(now + 5_000),
            ("c", 0, 10) => Some(now - 2_000),
            _ => None,
        };
        let got = group_time_lag_with(&lag, now, Members::Active, &maps, &TimeLagPolicy::default(), produced);
        let lags: Vec<TimeLag> = got.partitions.iter().map(|p| p.time_lag).collect();
        assert_eq!(lags, [TimeLag::Exact(12.345), TimeLag::CaughtUp, TimeLag::Exact(0.0), TimeLag::Exact(2.0)]);
        assert_eq!((got.max_seconds, got.sum_seconds), (Some(12.345), Some(14.345)));
        assert_eq!((got.extrapolated, got.without_time_lag), (0, 0));
        assert_eq!(got.partitions[3].status, None);

        let without_c = GroupLag { partitions: lag.partitions[..3].to_vec(), ..lag };
        let got = group_time_lag(&without_c, now, Members::Active, &maps, &TimeLagPolicy::default());
        // (100 + 6,100) records at 3 × (40/3 − 10) records/s.
        let eta = got.catch_up_eta_seconds.unwrap();
        assert!((eta - 6_200.0 / 10.0).abs() < 1e-9, "{eta}");
    }

    /// The leader of orders/1 did not answer: time lag is aggregated over
    /// orders/0 and orders/2, the partitions that did.
    #[test]
    fn time_lag_aggregates_cover_the_partitions_that_answered() {
        use crate::model::{ClusterObservation, GroupCommits};
        let now = 600_000;
        let tp = |p| TopicPartition::new("orders", p);
        let mut o = ClusterObservation { cluster: "c".into(), observed_at_ms: now, ..Default::default() };
        o.topic_partitions.insert("orders".into(), 3);
        o.offsets.insert(tp(0), PartitionOffsets { start: 0, end: 100 });
        o.offsets.insert(tp(2), PartitionOffsets { start: 0, end: 70 });
        o.groups.push(GroupCommits {
            group: "billing".into(),
            committed: [(tp(0), 90), (tp(1), 5), (tp(2), 40)].into_iter().collect(),
        });
        let lag = crate::lag::compute(&o).groups.remove(0);
        let produced = |tp: &TopicPartition, _: i64| match tp.partition {
            0 => Some(now - 5_000),
            1 => Some(now - 99_000),
            _ => Some(now - 12_000),
        };
        let got =
            group_time_lag_with(&lag, now, Members::Active, &Maps::default(), &TimeLagPolicy::default(), produced);
        let seconds: Vec<(i32, Option<f64>)> =
            got.partitions.iter().map(|p| (p.tp.partition, p.time_lag.seconds())).collect();
        assert_eq!(seconds, [(0, Some(5.0)), (2, Some(12.0))]);
        assert_eq!((got.max_seconds, got.sum_seconds), (Some(12.0), Some(17.0)));
        let topics: Vec<(&str, f64, f64)> =
            got.topics.iter().map(|t| (&*t.topic, t.max_seconds, t.sum_seconds)).collect();
        assert_eq!(topics, [("orders", 12.0, 17.0)]);
        assert_eq!(got.without_time_lag, 0, "an unavailable partition is not one without time lag");
    }
}
