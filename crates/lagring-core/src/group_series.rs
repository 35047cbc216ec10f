//! Series about a group rather than about its lag: an info series carrying the group's type and
//! state, its member count, the partitions of each member (opt-in), and the lag of a share group
//! (KIP-932), which is not consumer lag. Names in [`crate::metric_names`], meanings in
//! docs/metrics.md.
//!
//! The member series is opt-in because its labels are the member's ids: one series per consumer
//! instance, and a classic consumer gets a new member id at every rejoin, so a restarting fleet
//! of consumers ends and starts series at each deploy.
//!
//! Type and state are labels of one info series (value 1), not labels of every lag series: a
//! state change then ends one series and starts one, instead of ending and restarting every
//! partition series of the group (label churn), and the lag series keep their identity across
//! rebalances. Join on `group` when a query needs the state.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::lag_series::LabelOptions;
use crate::metric_names as m;
use crate::model::{Offset, PartitionOffsets, TopicPartition};
use crate::series::{Sample, SeriesKey};

/// What the listing and describe said about one group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInfo {
    pub group: Arc<str>,
    /// `classic`, `consumer`, `share`, `streams` or `unknown`.
    pub group_type: Arc<str>,
    /// Kafka's state name (`Stable`, `PreparingRebalance`, `Assigning`, ...).
    pub state: Arc<str>,
    /// Members now, where a describe said (absent: no members series).
    pub members: Option<u32>,
}

/// One member of a group as its type's describe API names it, with the partitions assigned to it
/// (for a streams group: every partition its active tasks read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMember {
    pub member_id: Arc<str>,
    pub client_id: Arc<str>,
    /// The member's client host (`/10.1.2.3`).
    pub host: Arc<str>,
    /// Sorted, without duplicates.
    pub partitions: Vec<TopicPartition>,
}

/// A share group's position on one partition: its share-partition start offset (SPSO) and, when
/// the broker computed it (DescribeShareGroupOffsets v1, KIP-1226), the broker's own lag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharePosition {
    pub start: Offset,
    /// The broker's lag for the partition (≥ 0); `None` when it did not say (v0, or -1).
    pub broker_lag: Option<i64>,
}

impl SharePosition {
    /// A start offset without a broker lag (lag computed here).
    pub fn at(start: Offset) -> Self {
        SharePosition { start, broker_lag: None }
    }
}

fn key(opts: &LabelOptions, cluster: &Arc<str>, name: &str, labels: &[(&str, &Arc<str>)]) -> SeriesKey {
    let mut all: Vec<(Arc<str>, Arc<str>)> = opts.extra.clone();
    all.push((opts.cluster_label.clone(), cluster.clone()));
    all.extend(labels.iter().map(|(k, v)| (Arc::from(*k), Arc::clone(v))));
    SeriesKey::new(name, all)
}

/// `kafka_consumer_group_info{group, type, state} 1` per group, and
/// `kafka_consumer_group_members{group}` where the member count is known.
pub fn info_samples(cluster: &Arc<str>, groups: &[GroupInfo], opts: &LabelOptions) -> Vec<Sample> {
    let mut out = Vec::with_capacity(groups.len() * 2);
    for g in groups {
        let labels = [("group", &g.group), ("type", &g.group_type), ("state", &g.state)];
        out.push(Sample { key: key(opts, cluster, m::GROUP_INFO, &labels), value: 1.0 });
        if let Some(members) = g.members {
            let key = key(opts, cluster, m::GROUP_MEMBERS, &[("group", &g.group)]);
            out.push(Sample { key, value: f64::from(members) });
        }
    }
    out
}

/// `kafka_consumer_group_member_partitions{group, member_id, client_id, host}`: the number of
/// partitions assigned to each member of `group` (0 for a member without any).
pub fn member_samples(
    cluster: &Arc<str>,
    group: &Arc<str>,
    members: &[GroupMember],
    opts: &LabelOptions,
) -> Vec<Sample> {
    members
        .iter()
        .map(|m| {
            let labels =
                [("group", group), ("member_id", &m.member_id), ("client_id", &m.client_id), ("host", &m.host)];
            Sample { key: key(opts, cluster, m::MEMBER_PARTITIONS, &labels), value: m.partitions.len() as f64 }
        })
        .collect()
}

/// `kafka_share_group_lag{group, topic, partition}` for every partition with a share-partition
/// start offset: the broker's lag where it supplied one (KIP-1226: it knows which records at or
/// above the SPSO are already acknowledged, so its figure can be lower), else `max(0, end − start)`
/// with `start` the SPSO and `end` the same end offset consumer lag uses (then the partition also
/// needs log offsets). Records not yet acknowledged plus those not yet fetched; not a
/// consumer-group lag.
pub fn share_lag_samples(
    cluster: &Arc<str>,
    group: &Arc<str>,
    starts: &BTreeMap<TopicPartition, SharePosition>,
    offsets: &BTreeMap<TopicPartition, PartitionOffsets>,
    opts: &LabelOptions,
) -> Vec<Sample> {
    starts
        .iter()
        .filter_map(|(tp, position)| {
            let lag = match position.broker_lag {
                Some(lag) => lag,
                None => offsets.get(tp)?.end.saturating_sub(position.start).max(0),
            };
            let partition: Arc<str> = Arc::from(tp.partition.to_string());
            let labels = [("group", group), ("topic", &tp.topic), ("partition", &partition)];
            Some(Sample { key: key(opts, cluster, m::SHARE_GROUP_LAG, &labels), value: lag as f64 })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> LabelOptions {
        LabelOptions { cluster_label: Arc::from("cluster"), extra: vec![(Arc::from("env"), Arc::from("prod"))] }
    }

    fn rendered(samples: &[Sample]) -> Vec<(String, f64)> {
        samples
            .iter()
            .map(|s| {
                let labels: Vec<String> = s.key.labels().iter().map(|(k, v)| format!("{k}={v}")).collect();
                (format!("{}{{{}}}", s.key.name(), labels.join(",")), s.value)
            })
            .collect()
    }

    #[test]
    fn info_and_members() {
        let info = |g: &str, t: &str, s: &str, members| GroupInfo {
            group: Arc::from(g),
            group_type: Arc::from(t),
            state: Arc::from(s),
            members,
        };
        let samples = info_samples(
            &Arc::from("c1"),
            &[info("billing", "consumer", "Reconciling", Some(3)), info("etl", "streams", "Stable", None)],
            &opts(),
        );
        assert_eq!(
            rendered(&samples),
            vec![
                (
                    "kafka_consumer_group_info{cluster=c1,env=prod,group=billing,state=Reconciling,type=consumer}"
                        .into(),
                    1.0
                ),
                ("kafka_consumer_group_members{cluster=c1,env=prod,group=billing}".into(), 3.0),
                ("kafka_consumer_group_info{cluster=c1,env=prod,group=etl,state=Stable,type=streams}".into(), 1.0),
            ]
        );
    }

    #[test]
    fn member_partitions_count_each_members_assignment() {
        let tp = TopicPartition::new;
        let member = |id: &str, partitions: Vec<TopicPartition>| GroupMember {
            member_id: Arc::from(id),
            client_id: Arc::from(format!("{id}-client")),
            host: Arc::from("/10.0.0.1"),
            partitions,
        };
        let members = [member("m1", vec![tp("a", 0), tp("a", 2), tp("b", 0)]), member("m2", vec![])];
        assert_eq!(
            rendered(&member_samples(&Arc::from("c1"), &Arc::from("g"), &members, &opts())),
            vec![
                (
                    "kafka_consumer_group_member_partitions{client_id=m1-client,cluster=c1,env=prod,group=g,host=/10.0.0.1,member_id=m1}"
                        .into(),
                    3.0
                ),
                (
                    "kafka_consumer_group_member_partitions{client_id=m2-client,cluster=c1,env=prod,group=g,host=/10.0.0.1,member_id=m2}"
                        .into(),
                    0.0
                ),
            ]
        );
    }

    /// The share lag samples of group `s` on cluster `c1` at `starts`, with
    /// log end 100 on partitions 0 and 1 of topic `a` (none for topic `b`).
    fn share_lags(starts: &BTreeMap<TopicPartition, SharePosition>) -> Vec<(String, f64)> {
        let tp = TopicPartition::new;
        let offsets = BTreeMap::from([
            (tp("a", 0), PartitionOffsets { start: 0, end: 100 }),
            (tp("a", 1), PartitionOffsets { start: 0, end: 100 }),
        ]);
        rendered(&share_lag_samples(&Arc::from("c1"), &Arc::from("s"), starts, &offsets, &opts()))
    }

    #[test]
    fn share_lag_is_end_minus_start_never_negative() {
        let tp = TopicPartition::new;
        let at = SharePosition::at;
        let starts = BTreeMap::from([(tp("a", 0), at(70)), (tp("a", 1), at(120)), (tp("b", 0), at(5))]);
        assert_eq!(
            share_lags(&starts),
            vec![
                ("kafka_share_group_lag{cluster=c1,env=prod,group=s,partition=0,topic=a}".into(), 30.0),
                ("kafka_share_group_lag{cluster=c1,env=prod,group=s,partition=1,topic=a}".into(), 0.0),
            ]
        );
    }

    #[test]
    fn the_brokers_lag_wins_and_needs_no_log_offsets() {
        let tp = TopicPartition::new;
        let starts = BTreeMap::from([
            (tp("a", 0), SharePosition { start: 70, broker_lag: Some(12) }),
            (tp("a", 1), SharePosition::at(60)),
            (tp("b", 0), SharePosition { start: 5, broker_lag: Some(0) }),
        ]);
        assert_eq!(
            share_lags(&starts),
            vec![
                ("kafka_share_group_lag{cluster=c1,env=prod,group=s,partition=0,topic=a}".into(), 12.0),
                ("kafka_share_group_lag{cluster=c1,env=prod,group=s,partition=1,topic=a}".into(), 40.0),
                ("kafka_share_group_lag{cluster=c1,env=prod,group=s,partition=0,topic=b}".into(), 0.0),
            ]
        );
    }
}
