//! Turns computed lag into the series lagring emits (names in
//! [`crate::metric_names`], meanings in docs/metrics.md).
//!
//! Series carry no node label: whichever node owns a group emits byte-identical
//! series for it, so ownership can move without creating new series.

use std::sync::{Arc, OnceLock};

use crate::lag::{ClusterLag, GroupLag};
use crate::metric_names as m;
use crate::model::TopicPartition;
use crate::series::{Sample, SeriesKey, SortedLabels};

/// Label choices that apply to every emitted lag series.
#[derive(Clone, Debug)]
pub struct LabelOptions {
    /// Name of the cluster label: `clustername` (kafka-lag-go drop-in) or `cluster`.
    pub cluster_label: Arc<str>,
    /// Extra constant labels (e.g. `env`), added to every series.
    pub extra: Vec<(Arc<str>, Arc<str>)>,
}

impl Default for LabelOptions {
    fn default() -> Self {
        Self { cluster_label: Arc::from("clustername"), extra: Vec::new() }
    }
}

/// Per-cluster series describing the iteration itself.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IterationFacts {
    pub groups_checked: usize,
    pub iteration_seconds: f64,
}

/// Metric and label names as shared strings, built once per process: every
/// series points at these instead of allocating its own copies.
struct Names {
    partition_lag: Arc<str>,
    beyond_retention: Arc<str>,
    lost_messages: Arc<str>,
    topic_max_lag: Arc<str>,
    topic_sum_lag: Arc<str>,
    group_max_lag: Arc<str>,
    group_sum_lag: Arc<str>,
    without_commit: Arc<str>,
    unavailable: Arc<str>,
    groups_checked: Arc<str>,
    iteration_time: Arc<str>,
    group: Arc<str>,
    topic: Arc<str>,
    partition: Arc<str>,
}

fn names() -> &'static Names {
    static NAMES: OnceLock<Names> = OnceLock::new();
    NAMES.get_or_init(|| Names {
        partition_lag: Arc::from(m::PARTITION_LAG_OFFSETS),
        beyond_retention: Arc::from(m::LAG_BEYOND_RETENTION),
        lost_messages: Arc::from(m::LOST_MESSAGES),
        topic_max_lag: Arc::from(m::TOPIC_MAX_LAG_OFFSETS),
        topic_sum_lag: Arc::from(m::TOPIC_SUM_LAG_OFFSETS),
        group_max_lag: Arc::from(m::GROUP_MAX_LAG_OFFSETS),
        group_sum_lag: Arc::from(m::GROUP_SUM_LAG_OFFSETS),
        without_commit: Arc::from(m::PARTITIONS_WITHOUT_COMMIT),
        unavailable: Arc::from(m::PARTITIONS_UNAVAILABLE),
        groups_checked: Arc::from(m::TOTAL_GROUPS_CHECKED),
        iteration_time: Arc::from(m::ITERATION_TIME_SECONDS),
        group: Arc::from("group"),
        topic: Arc::from("topic"),
        partition: Arc::from("partition"),
    })
}

/// Builds the samples of one call. Series with the same labels (a partition's
/// lag and beyond-retention flag; a topic's max and sum; a group's three)
/// share one label allocation, and each partition number is formatted once.
/// Also used by [`crate::time_lag_series`].
pub(crate) struct Builder<'a> {
    names: &'static Names,
    opts: &'a LabelOptions,
    cluster: &'a Arc<str>,
    /// `partitions[p]` is partition number `p` as a label value.
    partitions: Vec<Arc<str>>,
    /// Reused buffer for assembling one label set.
    scratch: Vec<(Arc<str>, Arc<str>)>,
    out: Vec<Sample>,
}

impl<'a> Builder<'a> {
    pub(crate) fn new(opts: &'a LabelOptions, cluster: &'a Arc<str>) -> Self {
        Self { names: names(), opts, cluster, partitions: Vec::new(), scratch: Vec::new(), out: Vec::new() }
    }

    /// The constant labels, the cluster label and `labels`, sorted.
    pub(crate) fn labels(&mut self, labels: &[(&Arc<str>, &Arc<str>)]) -> SortedLabels {
        self.scratch.clear();
        self.scratch.extend(self.opts.extra.iter().cloned());
        self.scratch.push((self.opts.cluster_label.clone(), self.cluster.clone()));
        self.scratch.extend(labels.iter().map(|(k, v)| (Arc::clone(k), Arc::clone(v))));
        SortedLabels::new(&mut self.scratch)
    }

    pub(crate) fn push(&mut self, name: &Arc<str>, labels: &SortedLabels, value: f64) {
        self.out.push(Sample { key: SeriesKey::with_labels(name.clone(), labels.clone()), value });
    }

    /// Partition number `partition` as a shared string.
    pub(crate) fn partition(&mut self, partition: i32) -> Arc<str> {
        let Ok(idx) = usize::try_from(partition) else { return Arc::from(partition.to_string()) };
        while self.partitions.len() <= idx {
            self.partitions.push(Arc::from(self.partitions.len().to_string()));
        }
        self.partitions.get(idx).cloned().unwrap_or_else(|| Arc::from(partition.to_string()))
    }

    /// Room for `additional` more samples in one allocation: a batch holds
    /// hundreds of thousands, and growing by doubling copies (and page-faults)
    /// each of them several times.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.out.reserve(additional);
    }

    /// The samples built so far.
    pub(crate) fn into_samples(self) -> Vec<Sample> {
        self.out
    }

    /// The label set of a group's partition.
    pub(crate) fn partition_labels(&mut self, group: &Arc<str>, tp: &TopicPartition) -> SortedLabels {
        let n = self.names;
        let partition = self.partition(tp.partition);
        self.labels(&[(&n.group, group), (&n.topic, &tp.topic), (&n.partition, &partition)])
    }

    /// The label set of a group's topic.
    pub(crate) fn topic_labels(&mut self, group: &Arc<str>, topic: &Arc<str>) -> SortedLabels {
        let n = self.names;
        self.labels(&[(&n.group, group), (&n.topic, topic)])
    }

    /// The label set of a group.
    pub(crate) fn group_labels(&mut self, group: &Arc<str>) -> SortedLabels {
        let n = self.names;
        self.labels(&[(&n.group, group)])
    }

    fn group(&mut self, g: &GroupLag) -> GroupLabels {
        let n = self.names;
        let mut labels = GroupLabels {
            group: g.group.clone(),
            partitions: Vec::with_capacity(g.partitions.len()),
            topics: Vec::with_capacity(g.topics.len()),
            whole: None,
        };
        for p in &g.partitions {
            let set = self.partition_labels(&g.group, &p.tp);
            self.push(&n.partition_lag, &set, p.lag as f64);
            if p.beyond_retention {
                self.push(&n.beyond_retention, &set, 1.0);
                let lost = p.offsets.start.saturating_sub(p.committed).max(0);
                self.push(&n.lost_messages, &set, lost as f64);
            }
            labels.partitions.push((p.tp.clone(), set));
        }
        for t in &g.topics {
            let set = self.topic_labels(&g.group, &t.topic);
            self.push(&n.topic_max_lag, &set, t.max_lag as f64);
            self.push(&n.topic_sum_lag, &set, t.sum_lag as f64);
            labels.topics.push((t.topic.clone(), set));
        }
        // Aggregates over the partitions that answered, next to the count of
        // those that did not: a group whose every partition is unavailable
        // has that count only.
        if !g.partitions.is_empty() {
            let set = self.group_labels(&g.group);
            self.push(&n.group_max_lag, &set, g.max_lag as f64);
            self.push(&n.group_sum_lag, &set, g.sum_lag as f64);
            self.push(&n.without_commit, &set, f64::from(g.partitions_without_commit));
            self.push(&n.unavailable, &set, f64::from(g.partitions_unavailable));
            labels.whole = Some(set);
        } else if g.partitions_unavailable > 0 {
            let set = self.group_labels(&g.group);
            self.push(&n.unavailable, &set, f64::from(g.partitions_unavailable));
        }
        labels
    }
}

/// The label sets of one group's offset-lag series, for the time-lag series
/// of the group to share ([`crate::time_lag_series::time_lag_samples`]): the
/// same labels, one allocation, and a series identity that compares by
/// pointer.
#[derive(Clone, Debug)]
pub struct GroupLabels {
    pub(crate) group: Arc<str>,
    /// In the order of [`GroupLag::partitions`].
    pub(crate) partitions: Vec<(TopicPartition, SortedLabels)>,
    /// In the order of [`GroupLag::topics`].
    pub(crate) topics: Vec<(Arc<str>, SortedLabels)>,
    /// Present when the group has a partition.
    pub(crate) whole: Option<SortedLabels>,
}

/// Lag series of every group in `lag`.
pub fn group_samples(lag: &ClusterLag, opts: &LabelOptions) -> Vec<Sample> {
    group_samples_with_labels(lag, opts).0
}

/// Lag series of every group in `lag`, and the label sets of each group in
/// the order of `lag.groups`.
pub fn group_samples_with_labels(lag: &ClusterLag, opts: &LabelOptions) -> (Vec<Sample>, Vec<GroupLabels>) {
    let mut b = Builder::new(opts, &lag.cluster);
    // Per partition: lag (and the rare beyond-retention and lost-messages
    // series); per topic and group: max, sum and a count or three.
    b.reserve(lag.groups.iter().map(|g| g.partitions.len() + 3 * g.topics.len() + 5).sum());
    let labels = lag.groups.iter().map(|g| b.group(g)).collect();
    (b.out, labels)
}

/// The per-cluster iteration series (`kafka_total_groups_checked`,
/// `kafka_iteration_time_seconds`).
pub fn iteration_samples(cluster: &Arc<str>, facts: IterationFacts, opts: &LabelOptions) -> Vec<Sample> {
    let mut b = Builder::new(opts, cluster);
    let labels = b.labels(&[]);
    b.push(&b.names.groups_checked, &labels, facts.groups_checked as f64);
    b.push(&b.names.iteration_time, &labels, facts.iteration_seconds);
    b.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lag::{PartitionLag, TopicLag};
    use crate::model::{PartitionOffsets, TopicPartition};

    fn render(s: &Sample) -> String {
        let labels: Vec<String> = s.key.labels().iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{}{{{}}} {}", s.key.name(), labels.join(","), s.value)
    }

    #[test]
    fn series_names_labels_and_values_are_exact() {
        let lag = ClusterLag {
            cluster: "prod".into(),
            observed_at_ms: 0,
            groups: vec![GroupLag {
                group: "billing".into(),
                partitions: vec![PartitionLag {
                    tp: TopicPartition::new("orders", 2),
                    committed: 10,
                    offsets: PartitionOffsets { start: 40, end: 70 },
                    lag: 60,
                    beyond_retention: true,
                }],
                topics: vec![TopicLag {
                    topic: "orders".into(),
                    max_lag: 60,
                    sum_lag: 60,
                    partitions_without_commit: 1,
                }],
                max_lag: 60,
                sum_lag: 60,
                partitions_without_commit: 1,
                partitions_without_offsets: 2,
                partitions_unavailable: 1,
            }],
        };
        let opts = LabelOptions { cluster_label: "cluster".into(), extra: vec![("env".into(), "test".into())] };
        let got: Vec<String> = group_samples(&lag, &opts).iter().map(render).collect();
        assert_eq!(
            got,
            vec![
                "kafka_consumer_group_lag_in_offsets{cluster=prod,env=test,group=billing,partition=2,topic=orders} 60",
                "kafka_consumer_group_lag_beyond_retention{cluster=prod,env=test,group=billing,partition=2,topic=orders} 1",
                "kafka_consumer_group_lost_messages{cluster=prod,env=test,group=billing,partition=2,topic=orders} 30",
                "kafka_consumer_group_topic_max_lag_in_offsets{cluster=prod,env=test,group=billing,topic=orders} 60",
                "kafka_consumer_group_topic_sum_lag_in_offsets{cluster=prod,env=test,group=billing,topic=orders} 60",
                "kafka_consumer_group_max_lag_in_offsets{cluster=prod,env=test,group=billing} 60",
                "kafka_consumer_group_sum_lag_in_offsets{cluster=prod,env=test,group=billing} 60",
                "kafka_consumer_group_partitions_without_commit{cluster=prod,env=test,group=billing} 1",
                "kafka_consumer_group_partitions_unavailable{cluster=prod,env=test,group=billing} 1",
            ]
        );
        // A group none of whose partitions answered: the count alone, no
        // aggregate over nothing.
        let dark = ClusterLag {
            cluster: "prod".into(),
            observed_at_ms: 0,
            groups: vec![GroupLag {
                group: "dark".into(),
                partitions: Vec::new(),
                topics: Vec::new(),
                max_lag: 0,
                sum_lag: 0,
                partitions_without_commit: 0,
                partitions_without_offsets: 3,
                partitions_unavailable: 3,
            }],
        };
        let got: Vec<String> = group_samples(&dark, &LabelOptions::default()).iter().map(render).collect();
        assert_eq!(got, ["kafka_consumer_group_partitions_unavailable{clustername=prod,group=dark} 3"]);

        let it = iteration_samples(
            &"prod".into(),
            IterationFacts { groups_checked: 3, iteration_seconds: 0.5 },
            &LabelOptions::default(),
        );
        let got: Vec<String> = it.iter().map(render).collect();
        assert_eq!(
            got,
            vec![
                "kafka_total_groups_checked{clustername=prod} 3",
                "kafka_iteration_time_seconds{clustername=prod} 0.5"
            ]
        );
    }
}
