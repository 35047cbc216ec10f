//! Values push sinks get that are not Prometheus series
//! ([`crate::series::PushOnly`], names in [`crate::metric_names::PUSH_ONLY`]).
//!
//! Burrow's `/lag` shows, per partition, the committed offset at the start of
//! the status window and now; goRainbow pushes both as `<partition>.startOffset`
//! and `.endOffset`, and dashboards built on it read them. lagring already
//! emits the lag these two offsets imply, so in Prometheus they would only
//! double the partition series; push sinks whose preset names them get them
//! here instead, with the labels of the partition's lag series.

use std::sync::Arc;

use crate::lag::GroupLag;
use crate::lag_series::LabelOptions;
use crate::metric_names as m;
use crate::model::Offset;
use crate::series::{Sample, SeriesKey};

/// Per partition of `group` (labels: cluster, group, topic, partition):
/// `kafka_consumer_group_committed_offset`, the committed offset this
/// iteration, and `kafka_consumer_group_window_start_offset`, the committed
/// offset at the status window's start where `starts[i]` (for
/// `group.partitions[i]`) has one — none when `starts` is empty (time lag
/// off, or the history store failed).
pub fn offset_samples(
    cluster: &Arc<str>,
    group: &GroupLag,
    starts: &[Option<Offset>],
    opts: &LabelOptions,
) -> Vec<Sample> {
    let mut out = Vec::with_capacity(group.partitions.len() * 2);
    for (i, p) in group.partitions.iter().enumerate() {
        let mut labels: Vec<(Arc<str>, Arc<str>)> = opts.extra.clone();
        labels.push((opts.cluster_label.clone(), cluster.clone()));
        labels.push((Arc::from("group"), group.group.clone()));
        labels.push((Arc::from("topic"), p.tp.topic.clone()));
        labels.push((Arc::from("partition"), Arc::from(p.tp.partition.to_string())));
        if let Some(start) = starts.get(i).copied().flatten() {
            out.push(Sample { key: SeriesKey::new(m::PUSH_WINDOW_START_OFFSET, labels.clone()), value: start as f64 });
        }
        out.push(Sample { key: SeriesKey::new(m::PUSH_COMMITTED_OFFSET, labels), value: p.committed as f64 });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lag;
    use crate::model::{ClusterObservation, GroupCommits, PartitionOffsets, TopicPartition};

    #[test]
    fn committed_and_window_start_per_partition() {
        let tp = TopicPartition::new;
        let obs = ClusterObservation {
            cluster: Arc::from("c1"),
            observed_at_ms: 0,
            groups: vec![GroupCommits {
                group: Arc::from("g"),
                committed: [(tp("t", 0), 90), (tp("t", 1), 40)].into_iter().collect(),
            }],
            topic_partitions: [(Arc::from("t"), 2)].into_iter().collect(),
            offsets: [
                (tp("t", 0), PartitionOffsets { start: 0, end: 100 }),
                (tp("t", 1), PartitionOffsets { start: 0, end: 50 }),
            ]
            .into_iter()
            .collect(),
        };
        let computed = lag::compute(&obs);
        let group = &computed.groups[0];
        let rendered = |samples: Vec<Sample>| -> Vec<(String, f64)> {
            samples
                .iter()
                .map(|s| {
                    let labels: Vec<String> = s.key.labels().iter().map(|(k, v)| format!("{k}={v}")).collect();
                    (format!("{}{{{}}}", s.key.name(), labels.join(",")), s.value)
                })
                .collect()
        };
        let opts = LabelOptions::default();
        assert_eq!(
            rendered(offset_samples(&Arc::from("c1"), group, &[Some(70), None], &opts)),
            vec![
                ("kafka_consumer_group_window_start_offset{clustername=c1,group=g,partition=0,topic=t}".into(), 70.0),
                ("kafka_consumer_group_committed_offset{clustername=c1,group=g,partition=0,topic=t}".into(), 90.0),
                ("kafka_consumer_group_committed_offset{clustername=c1,group=g,partition=1,topic=t}".into(), 40.0),
            ]
        );
        assert_eq!(offset_samples(&Arc::from("c1"), group, &[], &opts).len(), 2, "no starts: committed only");
    }
}
