//! Offset lag per partition and its aggregates (docs/metrics.md defines each number).
//!
//! Offset lag = max(0, end − committed). Committed offsets are fetched before
//! end offsets, so the only race left makes `end` newer than `committed`,
//! which over-estimates lag by at most one iteration's production; the clamp
//! removes the impossible negative values a compacted or truncated log can
//! still produce. A committed offset below the log-start offset keeps its full
//! lag and is flagged, because those messages were deleted unread.
//!
//! Aggregates cover the partitions whose log offsets were fetched. A committed
//! partition that exists but whose offsets are missing (its leader did not
//! answer) is counted as unavailable instead of blanking the group: one
//! silent broker must not take every group's max and sum with it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::model::{ClusterObservation, GroupCommits, Offset, PartitionOffsets, TopicPartition};

/// Lag of one group on one partition that has a commit and known log offsets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionLag {
    pub tp: TopicPartition,
    pub committed: Offset,
    pub offsets: PartitionOffsets,
    /// max(0, end − committed).
    pub lag: i64,
    /// committed < log-start: messages were deleted before being consumed.
    pub beyond_retention: bool,
}

/// Max and sum of partition lags of one group on one topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicLag {
    pub topic: Arc<str>,
    pub max_lag: i64,
    pub sum_lag: i64,
    /// Partitions of this topic with no commit from the group.
    pub partitions_without_commit: u32,
}

/// Everything computed for one group in one iteration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupLag {
    pub group: Arc<str>,
    /// Sorted by (topic, partition).
    pub partitions: Vec<PartitionLag>,
    /// Sorted by topic; only topics with at least one lag sample.
    pub topics: Vec<TopicLag>,
    pub max_lag: i64,
    pub sum_lag: i64,
    /// Partitions of the group's topics that have no commit from the group.
    pub partitions_without_commit: u32,
    /// Committed partitions whose log offsets the broker did not return
    /// (fetch error, or topic deleted while commits remain): no lag sample.
    pub partitions_without_offsets: u32,
    /// Of those, the partitions that exist (their topic's metadata lists
    /// them) but whose log offsets could not be fetched this iteration: the
    /// aggregates above cover the others only.
    pub partitions_unavailable: u32,
}

/// Lag of every observed group of one cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterLag {
    pub cluster: Arc<str>,
    pub observed_at_ms: i64,
    pub groups: Vec<GroupLag>,
}

/// Offset lag of one partition: `(max(0, end − committed), committed < start)`.
pub fn partition_lag(committed: Offset, offsets: PartitionOffsets) -> (i64, bool) {
    let lag = offsets.end.saturating_sub(committed).max(0);
    (lag, committed < offsets.start)
}

/// Computes lag and aggregates for every group of an observation.
pub fn compute(obs: &ClusterObservation) -> ClusterLag {
    let groups = obs.groups.iter().map(|g| group_lag(g, &obs.topic_partitions, &obs.offsets)).collect();
    ClusterLag { cluster: obs.cluster.clone(), observed_at_ms: obs.observed_at_ms, groups }
}

fn group_lag(
    commits: &GroupCommits,
    topic_partitions: &BTreeMap<Arc<str>, i32>,
    offsets: &BTreeMap<TopicPartition, PartitionOffsets>,
) -> GroupLag {
    let mut partitions = Vec::with_capacity(commits.committed.len());
    let mut partitions_without_offsets = 0u32;
    let mut partitions_unavailable = 0u32;
    for (tp, &committed) in &commits.committed {
        match offsets.get(tp) {
            Some(&po) => {
                let (lag, beyond_retention) = partition_lag(committed, po);
                partitions.push(PartitionLag { tp: tp.clone(), committed, offsets: po, lag, beyond_retention });
            }
            None => {
                partitions_without_offsets = partitions_without_offsets.saturating_add(1);
                if exists(topic_partitions, tp) {
                    partitions_unavailable = partitions_unavailable.saturating_add(1);
                }
            }
        }
    }

    let mut topics: Vec<TopicLag> = Vec::new();
    for p in &partitions {
        match topics.last_mut() {
            Some(t) if t.topic == p.tp.topic => {
                t.max_lag = t.max_lag.max(p.lag);
                t.sum_lag = t.sum_lag.saturating_add(p.lag);
            }
            _ => topics.push(TopicLag {
                topic: p.tp.topic.clone(),
                max_lag: p.lag,
                sum_lag: p.lag,
                partitions_without_commit: 0,
            }),
        }
    }

    let mut partitions_without_commit = 0u32;
    for t in &mut topics {
        let known = topic_partitions.get(&t.topic).copied().unwrap_or(0).max(0);
        let committed =
            commits.committed.keys().filter(|tp| tp.topic == t.topic && (0..known).contains(&tp.partition)).count();
        let missing = u32::try_from((known as usize).saturating_sub(committed)).unwrap_or(u32::MAX);
        t.partitions_without_commit = missing;
        partitions_without_commit = partitions_without_commit.saturating_add(missing);
    }

    let max_lag = partitions.iter().map(|p| p.lag).max().unwrap_or(0);
    let sum_lag = partitions.iter().fold(0i64, |acc, p| acc.saturating_add(p.lag));
    GroupLag {
        group: commits.group.clone(),
        partitions,
        topics,
        max_lag,
        sum_lag,
        partitions_without_commit,
        partitions_without_offsets,
        partitions_unavailable,
    }
}

/// Whether the metadata lists `tp`: a partition it lists was asked for, so
/// missing offsets mean the fetch failed; one it does not list is gone.
fn exists(topic_partitions: &BTreeMap<Arc<str>, i32>, tp: &TopicPartition) -> bool {
    topic_partitions.get(&tp.topic).is_some_and(|&n| (0..n).contains(&tp.partition))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn po(start: i64, end: i64) -> PartitionOffsets {
        PartitionOffsets { start, end }
    }

    fn obs() -> ClusterObservation {
        let tp = |t: &str, p| TopicPartition::new(t, p);
        let mut offsets = BTreeMap::new();
        offsets.insert(tp("orders", 0), po(0, 100));
        offsets.insert(tp("orders", 1), po(0, 50));
        offsets.insert(tp("orders", 2), po(40, 70));
        offsets.insert(tp("audit", 0), po(0, 10));
        let mut topic_partitions = BTreeMap::new();
        topic_partitions.insert(Arc::from("orders"), 3);
        topic_partitions.insert(Arc::from("audit"), 1);
        let billing = GroupCommits {
            group: "billing".into(),
            committed: [(tp("orders", 0), 90), (tp("orders", 2), 10), (tp("audit", 0), 12)].into_iter().collect(),
        };
        let gone = GroupCommits { group: "gone".into(), committed: [(tp("deleted", 0), 5)].into_iter().collect() };
        ClusterObservation {
            cluster: "c1".into(),
            observed_at_ms: 1_000,
            groups: vec![billing, gone],
            topic_partitions,
            offsets,
        }
    }

    #[test]
    fn exact_lag_clamp_retention_and_missing_commit() {
        let lag = compute(&obs());
        let billing = &lag.groups[0];
        let lags: Vec<(String, i64, bool)> =
            billing.partitions.iter().map(|p| (p.tp.to_string(), p.lag, p.beyond_retention)).collect();
        assert_eq!(
            lags,
            vec![
                ("audit/0".to_owned(), 0, false),   // committed 12 > end 10: clamped
                ("orders/0".to_owned(), 10, false), // 100 - 90
                ("orders/2".to_owned(), 60, true),  // 70 - 10, below log start 40
            ]
        );
        assert_eq!(billing.max_lag, 60);
        assert_eq!(billing.sum_lag, 70);
        assert_eq!(billing.partitions_without_commit, 1); // orders/1
        assert_eq!(billing.partitions_without_offsets, 0);
        assert_eq!(billing.partitions_unavailable, 0);
        let topics: Vec<(&str, i64, i64, u32)> =
            billing.topics.iter().map(|t| (&*t.topic, t.max_lag, t.sum_lag, t.partitions_without_commit)).collect();
        assert_eq!(topics, vec![("audit", 0, 0, 0), ("orders", 60, 70, 1)]);

        let gone = &lag.groups[1];
        assert!(gone.partitions.is_empty());
        assert_eq!(gone.partitions_without_offsets, 1);
        assert_eq!(gone.partitions_unavailable, 0, "a deleted topic is gone, not unavailable");
        assert_eq!((gone.max_lag, gone.sum_lag), (0, 0));
    }

    /// Three partitions, the leader of orders/1 did not answer: the
    /// aggregates cover orders/0 and orders/2, and say one is missing.
    #[test]
    fn aggregates_cover_the_partitions_that_answered() {
        let tp = |p| TopicPartition::new("orders", p);
        let mut o = ClusterObservation { cluster: "c1".into(), observed_at_ms: 1_000, ..Default::default() };
        o.topic_partitions.insert("orders".into(), 3);
        o.offsets.insert(tp(0), po(0, 100));
        o.offsets.insert(tp(2), po(0, 70));
        o.groups.push(GroupCommits {
            group: "billing".into(),
            committed: [(tp(0), 90), (tp(1), 5), (tp(2), 40)].into_iter().collect(),
        });
        let lag = compute(&o);
        let billing = &lag.groups[0];
        let lags: Vec<(i32, i64)> = billing.partitions.iter().map(|p| (p.tp.partition, p.lag)).collect();
        assert_eq!(lags, [(0, 10), (2, 30)]);
        assert_eq!((billing.max_lag, billing.sum_lag), (30, 40));
        assert_eq!((billing.partitions_unavailable, billing.partitions_without_offsets), (1, 1));
        assert_eq!(billing.partitions_without_commit, 0, "orders/1 has a commit, its offsets are what is missing");
        let topics: Vec<(&str, i64, i64)> = billing.topics.iter().map(|t| (&*t.topic, t.max_lag, t.sum_lag)).collect();
        assert_eq!(topics, [("orders", 30, 40)]);

        // No partition answered: no aggregate, three unavailable.
        o.offsets.clear();
        let lag = compute(&o);
        let billing = &lag.groups[0];
        assert!(billing.partitions.is_empty() && billing.topics.is_empty());
        assert_eq!(billing.partitions_unavailable, 3);
    }

    proptest! {
        #[test]
        fn lag_is_never_negative_and_exact_when_behind(
            start in -10i64..1_000_000, len in 0i64..1_000_000, committed in -10i64..3_000_000,
        ) {
            let end = start.max(0) + len;
            let (lag, beyond) = partition_lag(committed, po(start.max(0), end));
            prop_assert!(lag >= 0);
            if committed <= end { prop_assert_eq!(lag, end - committed); } else { prop_assert_eq!(lag, 0); }
            prop_assert_eq!(beyond, committed < start.max(0));
        }

        #[test]
        fn aggregates_bound_partition_lags(commits in proptest::collection::vec((0i32..8, 0i64..1000, 0i64..1000), 1..8)) {
            let mut o = ClusterObservation { cluster: "c".into(), ..Default::default() };
            o.topic_partitions.insert("t".into(), 8);
            let mut g = GroupCommits { group: "g".into(), ..Default::default() };
            for (p, c, extra) in commits {
                let tp = TopicPartition::new("t", p);
                o.offsets.insert(tp.clone(), po(0, c + extra));
                g.committed.insert(tp, c);
            }
            o.groups.push(g);
            let lag = compute(&o);
            let grp = &lag.groups[0];
            let sum: i64 = grp.partitions.iter().map(|p| p.lag).sum();
            prop_assert_eq!(grp.sum_lag, sum);
            prop_assert!(grp.partitions.iter().all(|p| p.lag <= grp.max_lag));
            prop_assert_eq!(grp.partitions_without_commit as usize, 8 - grp.partitions.len());
            prop_assert_eq!(grp.topics[0].sum_lag, sum);
        }
    }
}
