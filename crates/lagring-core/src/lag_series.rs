//! Turns computed lag into the series lagring emits (names in
//! [`crate::metric_names`], meanings in docs/metrics.md).
//!
//! Series carry no node label: whichever node owns a group emits byte-identical
//! series for it, so ownership can move without creating new series.

use std::sync::Arc;

use crate::lag::{ClusterLag, GroupLag};
use crate::metric_names as m;
use crate::series::{Sample, SeriesKey};

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

struct Builder<'a> {
    opts: &'a LabelOptions,
    cluster: &'a Arc<str>,
    out: Vec<Sample>,
}

impl Builder<'_> {
    fn push(&mut self, name: &'static str, labels: &[(&'static str, Arc<str>)], value: f64) {
        let mut all: Vec<(Arc<str>, Arc<str>)> = Vec::with_capacity(labels.len() + 1 + self.opts.extra.len());
        all.extend(self.opts.extra.iter().cloned());
        all.push((self.opts.cluster_label.clone(), self.cluster.clone()));
        all.extend(labels.iter().map(|(k, v)| (Arc::from(*k), v.clone())));
        self.out.push(Sample { key: SeriesKey::new(name, all), value });
    }

    fn group(&mut self, g: &GroupLag) {
        let group = g.group.clone();
        for p in &g.partitions {
            let labels = [
                ("group", group.clone()),
                ("topic", p.tp.topic.clone()),
                ("partition", Arc::from(p.tp.partition.to_string())),
            ];
            self.push(m::PARTITION_LAG_OFFSETS, &labels, p.lag as f64);
            if p.beyond_retention {
                self.push(m::LAG_BEYOND_RETENTION, &labels, 1.0);
            }
        }
        for t in &g.topics {
            let labels = [("group", group.clone()), ("topic", t.topic.clone())];
            self.push(m::TOPIC_MAX_LAG_OFFSETS, &labels, t.max_lag as f64);
            self.push(m::TOPIC_SUM_LAG_OFFSETS, &labels, t.sum_lag as f64);
        }
        if !g.partitions.is_empty() {
            let labels = [("group", group.clone())];
            self.push(m::GROUP_MAX_LAG_OFFSETS, &labels, g.max_lag as f64);
            self.push(m::GROUP_SUM_LAG_OFFSETS, &labels, g.sum_lag as f64);
            self.push(m::PARTITIONS_WITHOUT_COMMIT, &labels, f64::from(g.partitions_without_commit));
        }
    }
}

/// Lag series of every group in `lag`.
pub fn group_samples(lag: &ClusterLag, opts: &LabelOptions) -> Vec<Sample> {
    let mut b = Builder { opts, cluster: &lag.cluster, out: Vec::new() };
    for g in &lag.groups {
        b.group(g);
    }
    b.out
}

/// The per-cluster iteration series (`kafka_total_groups_checked`,
/// `kafka_iteration_time_seconds`).
pub fn iteration_samples(cluster: &Arc<str>, facts: IterationFacts, opts: &LabelOptions) -> Vec<Sample> {
    let mut b = Builder { opts, cluster, out: Vec::new() };
    b.push(m::TOTAL_GROUPS_CHECKED, &[], facts.groups_checked as f64);
    b.push(m::ITERATION_TIME_SECONDS, &[], facts.iteration_seconds);
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
                partitions_without_offsets: 0,
            }],
        };
        let opts = LabelOptions { cluster_label: "cluster".into(), extra: vec![("env".into(), "test".into())] };
        let got: Vec<String> = group_samples(&lag, &opts).iter().map(render).collect();
        assert_eq!(
            got,
            vec![
                "kafka_consumer_group_lag_in_offsets{cluster=prod,env=test,group=billing,partition=2,topic=orders} 60",
                "kafka_consumer_group_lag_beyond_retention{cluster=prod,env=test,group=billing,partition=2,topic=orders} 1",
                "kafka_consumer_group_topic_max_lag_in_offsets{cluster=prod,env=test,group=billing,topic=orders} 60",
                "kafka_consumer_group_topic_sum_lag_in_offsets{cluster=prod,env=test,group=billing,topic=orders} 60",
                "kafka_consumer_group_max_lag_in_offsets{cluster=prod,env=test,group=billing} 60",
                "kafka_consumer_group_sum_lag_in_offsets{cluster=prod,env=test,group=billing} 60",
                "kafka_consumer_group_partitions_without_commit{cluster=prod,env=test,group=billing} 1",
            ]
        );
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
