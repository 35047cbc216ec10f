//! Turns time lag, rates, catch-up ETA and status into the series lagring
//! emits (names in [`crate::metric_names`]), with the same label choices
//! ([`LabelOptions`]) and sample model as the offset-lag series.
//!
//! Per group (labels: cluster, group; plus topic and partition where named):
//! - `kafka_consumer_group_lag_in_seconds` per partition with a time lag
//!   (caught up, interpolated or extrapolated; none without enough history),
//!   and its max and sum per topic and per group, emitted when the group has
//!   at least one such value.
//! - `kafka_consumer_group_partitions_time_lag_extrapolated` and
//!   `kafka_consumer_group_partitions_without_time_lag`: counts, emitted
//!   (even at 0) for every group with an offset-lag sample.
//! - `kafka_consumer_group_consume_records_per_second` per partition with a
//!   consume rate.
//! - `kafka_consumer_group_catch_up_eta_seconds` while the ETA exists. It
//!   comes back apart from the rest ([`TimeLagSamples::catch_up_eta`]): it
//!   starts and ends whenever a group starts or stops catching up, which in
//!   a busy cluster is thousands of groups every iteration, so callers track
//!   it on its own instead of re-diffing each such group's other series.
//! - `kafka_consumer_group_status`: one series per group whose value is the
//!   status code ([`Status::code`]). A numeric value keeps the series identity
//!   the same across status changes: no series starts or ends (and no
//!   staleness marker is sent) when a group goes from OK to WARN and back,
//!   alerts read `>= 2`, and `max_over_time` shows the worst status of a
//!   period. A `status` label would start a new series on every change and
//!   leave gaps in both.
//!
//! Per partition (labels: cluster, topic, partition):
//! - `kafka_partition_end_offset` and `kafka_partition_produce_records_per_second`
//!   (with enough history). They have no group label, so the caller decides
//!   which one node emits them for a partition.

use std::sync::{Arc, OnceLock};

use crate::group_time::GroupTimeLag;
use crate::lag_series::{Builder, GroupLabels, LabelOptions};
use crate::metric_names as m;
use crate::model::{Offset, TopicPartition};
use crate::series::{Sample, SeriesKey};

/// Metric and label names as shared strings, built once per process.
struct Names {
    partition_lag: Arc<str>,
    topic_max_lag: Arc<str>,
    topic_sum_lag: Arc<str>,
    group_max_lag: Arc<str>,
    group_sum_lag: Arc<str>,
    extrapolated: Arc<str>,
    without_time_lag: Arc<str>,
    consume_rate: Arc<str>,
    produce_rate: Arc<str>,
    end_offset: Arc<str>,
    eta: Arc<str>,
    status: Arc<str>,
    topic: Arc<str>,
    partition: Arc<str>,
}

fn names() -> &'static Names {
    static NAMES: OnceLock<Names> = OnceLock::new();
    NAMES.get_or_init(|| Names {
        partition_lag: Arc::from(m::PARTITION_LAG_SECONDS),
        topic_max_lag: Arc::from(m::TOPIC_MAX_LAG_SECONDS),
        topic_sum_lag: Arc::from(m::TOPIC_SUM_LAG_SECONDS),
        group_max_lag: Arc::from(m::GROUP_MAX_LAG_SECONDS),
        group_sum_lag: Arc::from(m::GROUP_SUM_LAG_SECONDS),
        extrapolated: Arc::from(m::PARTITIONS_TIME_LAG_EXTRAPOLATED),
        without_time_lag: Arc::from(m::PARTITIONS_WITHOUT_TIME_LAG),
        consume_rate: Arc::from(m::PARTITION_CONSUME_RATE),
        produce_rate: Arc::from(m::PARTITION_PRODUCE_RATE),
        end_offset: Arc::from(m::PARTITION_END_OFFSET),
        eta: Arc::from(m::CATCH_UP_ETA_SECONDS),
        status: Arc::from(m::GROUP_STATUS),
        topic: Arc::from("topic"),
        partition: Arc::from("partition"),
    })
}

/// The series of [`time_lag_samples`], the catch-up ETA apart (see the
/// module docs).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TimeLagSamples {
    /// Every series but the catch-up ETA, group by group; a group's series
    /// are the same from one iteration to the next while its history lasts.
    pub steady: Vec<Sample>,
    /// `kafka_consumer_group_catch_up_eta_seconds` of the groups that have one.
    pub catch_up_eta: Vec<Sample>,
}

/// Time-lag, consume-rate, ETA and status series of every group in `groups`.
///
/// `shared` is the label sets of the offset-lag series
/// ([`crate::lag_series::group_samples_with_labels`]), in the order of the
/// groups `groups` was computed from: each series takes its label set from
/// there instead of allocating an equal one. A group, topic or partition not
/// found there gets its own (equal) label set.
pub fn time_lag_samples(
    cluster: &Arc<str>,
    groups: &[GroupTimeLag],
    opts: &LabelOptions,
    shared: &[GroupLabels],
) -> TimeLagSamples {
    let n = names();
    let mut b = Builder::new(opts, cluster);
    // Per partition: time lag and consume rate; per topic: max and sum; per
    // group: max, sum, two counts and the status.
    b.reserve(groups.iter().map(|g| 2 * g.partitions.len() + 2 * g.topics.len() + 5).sum());
    let mut catch_up_eta = Vec::new();
    let mut rest = shared;
    for g in groups {
        let shared = match rest.iter().position(|l| l.group == g.group).and_then(|i| rest.get(i..)) {
            Some([found, tail @ ..]) => {
                rest = tail;
                Some(found)
            }
            _ => None,
        };
        let mut topics = shared.map_or(&[][..], |l| &l.topics[..]);
        for (i, p) in g.partitions.iter().enumerate() {
            let (seconds, consume) = (p.time_lag.seconds(), p.consume_per_s);
            if seconds.is_none() && consume.is_none() {
                continue;
            }
            let labels = match shared.and_then(|l| l.partitions.get(i)).filter(|(tp, _)| *tp == p.tp) {
                Some((_, labels)) => labels.clone(),
                None => b.partition_labels(&g.group, &p.tp),
            };
            if let Some(seconds) = seconds {
                b.push(&n.partition_lag, &labels, seconds);
            }
            if let Some(rate) = consume {
                b.push(&n.consume_rate, &labels, rate);
            }
        }
        for t in &g.topics {
            let labels = match topics.iter().position(|(topic, _)| *topic == t.topic).and_then(|i| topics.get(i..)) {
                Some([(_, labels), tail @ ..]) => {
                    topics = tail;
                    labels.clone()
                }
                _ => b.topic_labels(&g.group, &t.topic),
            };
            b.push(&n.topic_max_lag, &labels, t.max_seconds);
            b.push(&n.topic_sum_lag, &labels, t.sum_seconds);
        }
        if g.partitions.is_empty() {
            continue;
        }
        let labels = match shared.and_then(|l| l.whole.clone()) {
            Some(labels) => labels,
            None => b.group_labels(&g.group),
        };
        if let (Some(max), Some(sum)) = (g.max_seconds, g.sum_seconds) {
            b.push(&n.group_max_lag, &labels, max);
            b.push(&n.group_sum_lag, &labels, sum);
        }
        b.push(&n.extrapolated, &labels, f64::from(g.extrapolated));
        b.push(&n.without_time_lag, &labels, f64::from(g.without_time_lag));
        if let Some(eta) = g.catch_up_eta_seconds {
            catch_up_eta.push(Sample { key: SeriesKey::with_labels(n.eta.clone(), labels.clone()), value: eta });
        }
        if let Some(status) = g.status {
            b.push(&n.status, &labels, f64::from(status.code()));
        }
    }
    TimeLagSamples { steady: b.into_samples(), catch_up_eta }
}

/// One partition's producer side in one slot: its log-end offset and, with
/// at least two history points, its produce rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Produced {
    pub tp: TopicPartition,
    pub end: Offset,
    pub per_second: Option<f64>,
}

/// `kafka_partition_end_offset` and, where there is a rate,
/// `kafka_partition_produce_records_per_second` for each partition.
pub fn produced_samples(cluster: &Arc<str>, produced: &[Produced], opts: &LabelOptions) -> Vec<Sample> {
    let n = names();
    let mut b = Builder::new(opts, cluster);
    for p in produced {
        let partition = b.partition(p.tp.partition);
        let labels = b.labels(&[(&n.topic, &p.tp.topic), (&n.partition, &partition)]);
        b.push(&n.end_offset, &labels, p.end as f64);
        if let Some(rate) = p.per_second {
            b.push(&n.produce_rate, &labels, rate);
        }
    }
    b.into_samples()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group_time::{PartitionTimeLag, TopicTimeLag};
    use crate::lag::{ClusterLag, GroupLag, PartitionLag, TopicLag};
    use crate::lag_series;
    use crate::model::PartitionOffsets;
    use crate::status::Status;
    use crate::time_lag::TimeLag;

    fn render(s: &Sample) -> String {
        let labels: Vec<String> = s.key.labels().iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{}{{{}}} {}", s.key.name(), labels.join(","), s.value)
    }

    /// The offset lag `series_names_labels_and_values_are_exact` computed
    /// time lag from, with a group without partitions in between.
    fn offset_lag() -> ClusterLag {
        let partition = |topic: &str, p: i32| PartitionLag {
            tp: TopicPartition::new(topic, p),
            committed: 0,
            offsets: PartitionOffsets { start: 0, end: 10 },
            lag: 10,
            beyond_retention: false,
        };
        let group = |name: &str, partitions: Vec<PartitionLag>, topics: &[&str]| GroupLag {
            group: name.into(),
            topics: topics
                .iter()
                .map(|t| TopicLag { topic: (*t).into(), max_lag: 10, sum_lag: 10, partitions_without_commit: 0 })
                .collect(),
            partitions,
            max_lag: 10,
            sum_lag: 10,
            partitions_without_commit: 0,
            partitions_without_offsets: 0,
            partitions_unavailable: 0,
        };
        ClusterLag {
            cluster: "prod".into(),
            observed_at_ms: 0,
            groups: vec![
                group(
                    "billing",
                    vec![partition("orders", 0), partition("orders", 1), partition("orders", 2)],
                    &["orders"],
                ),
                group("empty", Vec::new(), &[]),
                group("idle", vec![partition("t", 0)], &["t"]),
            ],
        }
    }

    fn partition(topic: &str, p: i32, time_lag: TimeLag, consume: Option<f64>) -> PartitionTimeLag {
        PartitionTimeLag { tp: TopicPartition::new(topic, p), time_lag, consume_per_s: consume, status: None }
    }

    #[test]
    fn series_names_labels_and_values_are_exact() {
        let groups = [
            GroupTimeLag {
                group: "billing".into(),
                partitions: vec![
                    partition("orders", 0, TimeLag::Interpolated(12.5), Some(40.0)),
                    partition("orders", 1, TimeLag::Extrapolated(4000.0), None),
                    partition("orders", 2, TimeLag::NoData, None),
                ],
                topics: vec![TopicTimeLag { topic: "orders".into(), max_seconds: 4000.0, sum_seconds: 4012.5 }],
                max_seconds: Some(4000.0),
                sum_seconds: Some(4012.5),
                extrapolated: 1,
                without_time_lag: 1,
                catch_up_eta_seconds: Some(300.0),
                status: Some(Status::Stall),
            },
            GroupTimeLag {
                group: "idle".into(),
                partitions: vec![partition("t", 0, TimeLag::NoData, None)],
                topics: Vec::new(),
                max_seconds: None,
                sum_seconds: None,
                extrapolated: 0,
                without_time_lag: 1,
                catch_up_eta_seconds: None,
                status: None,
            },
        ];
        let opts = LabelOptions { cluster_label: "cluster".into(), extra: vec![("env".into(), "test".into())] };
        let alone = time_lag_samples(&"prod".into(), &groups, &opts, &[]);
        let got: Vec<String> = alone.steady.iter().map(render).collect();
        let g = "cluster=prod,env=test,group=billing";
        assert_eq!(
            got,
            vec![
                format!("kafka_consumer_group_lag_in_seconds{{{g},partition=0,topic=orders}} 12.5"),
                format!("kafka_consumer_group_consume_records_per_second{{{g},partition=0,topic=orders}} 40"),
                format!("kafka_consumer_group_lag_in_seconds{{{g},partition=1,topic=orders}} 4000"),
                format!("kafka_consumer_group_topic_max_lag_in_seconds{{{g},topic=orders}} 4000"),
                format!("kafka_consumer_group_topic_sum_lag_in_seconds{{{g},topic=orders}} 4012.5"),
                format!("kafka_consumer_group_max_lag_in_seconds{{{g}}} 4000"),
                format!("kafka_consumer_group_sum_lag_in_seconds{{{g}}} 4012.5"),
                format!("kafka_consumer_group_partitions_time_lag_extrapolated{{{g}}} 1"),
                format!("kafka_consumer_group_partitions_without_time_lag{{{g}}} 1"),
                format!("kafka_consumer_group_status{{{g}}} 3"),
                "kafka_consumer_group_partitions_time_lag_extrapolated{cluster=prod,env=test,group=idle} 0".to_owned(),
                "kafka_consumer_group_partitions_without_time_lag{cluster=prod,env=test,group=idle} 1".to_owned(),
            ]
        );
        let eta: Vec<String> = alone.catch_up_eta.iter().map(render).collect();
        assert_eq!(eta, [format!("kafka_consumer_group_catch_up_eta_seconds{{{g}}} 300")]);

        // Sharing the offset series' label sets changes nothing but the allocations.
        let (offsets, shared) = lag_series::group_samples_with_labels(&offset_lag(), &opts);
        let with_shared = time_lag_samples(&"prod".into(), &groups, &opts, &shared);
        assert_eq!(with_shared, alone);
        let same_allocation = |a: &Sample, b: &Sample| std::ptr::eq(a.key.labels().as_ptr(), b.key.labels().as_ptr());
        for s in with_shared.steady.iter().chain(&with_shared.catch_up_eta) {
            assert!(offsets.iter().any(|o| same_allocation(o, s)), "{} has its own label set", render(s));
        }

        let produced = [
            Produced { tp: TopicPartition::new("orders", 3), end: 1200, per_second: Some(7.5) },
            Produced { tp: TopicPartition::new("orders", 4), end: 9, per_second: None },
        ];
        let got: Vec<String> =
            produced_samples(&"prod".into(), &produced, &LabelOptions::default()).iter().map(render).collect();
        assert_eq!(
            got,
            [
                "kafka_partition_end_offset{clustername=prod,partition=3,topic=orders} 1200",
                "kafka_partition_produce_records_per_second{clustername=prod,partition=3,topic=orders} 7.5",
                "kafka_partition_end_offset{clustername=prod,partition=4,topic=orders} 9",
            ]
        );
    }
}
