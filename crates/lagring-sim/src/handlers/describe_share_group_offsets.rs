//! DescribeShareGroupOffsets (KIP-932): the share-partition start offset (SPSO) of each
//! partition a share group reads, answered by the group's coordinator, many groups per request.
//! The SPSO is the share group's analogue of a committed offset: every record below it is
//! acknowledged or archived. Asking for all topics (null) lists the initialised partitions only;
//! asking for named partitions gives -1 for the uninitialised ones (`never_committed`), as
//! Kafka. Other group types and unknown ids get GROUP_ID_NOT_FOUND. v1 (KIP-1226) adds the
//! partition's lag as the broker computes it (see `GroupModel::share_lag`; it excludes records
//! acknowledged ahead of the start offset, so it can differ from `end − start`), -1 where there
//! is no share state.

use kafka_protocol::messages::describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup;
use kafka_protocol::messages::describe_share_group_offsets_response::{
    DescribeShareGroupOffsetsResponseGroup, DescribeShareGroupOffsetsResponsePartition,
    DescribeShareGroupOffsetsResponseTopic,
};
use kafka_protocol::messages::{DescribeShareGroupOffsetsRequest, DescribeShareGroupOffsetsResponse, TopicName};

use super::lookup::{topic_id, typed_group};
use super::{Ctx, sb};
use crate::model::partition::TopicModel;
use crate::scenario::GroupType;

/// Start offset of a partition the group has no share state for.
const UNINITIALISED: i64 = -1;

pub fn handle(ctx: &Ctx, req: DescribeShareGroupOffsetsRequest) -> DescribeShareGroupOffsetsResponse {
    let groups = req.groups.into_iter().map(|g| describe(ctx, g)).collect();
    DescribeShareGroupOffsetsResponse::default().with_groups(groups)
}

fn describe(ctx: &Ctx, req: DescribeShareGroupOffsetsRequestGroup) -> DescribeShareGroupOffsetsResponseGroup {
    let name = req.group_id.0.as_str().to_string();
    let base = DescribeShareGroupOffsetsResponseGroup::default().with_group_id(req.group_id);
    let group = match typed_group(ctx, &name, GroupType::Share) {
        Ok(group) => group,
        Err((code, message)) => return base.with_error_code(code).with_error_message(message.map(sb)),
    };
    let partition = |t: &TopicModel, p: i32| {
        let start = group.share_start(t, p, ctx.t_ms).unwrap_or(UNINITIALISED);
        let lag = match ctx.version {
            0 => UNINITIALISED,
            _ => group.share_lag(t, p, ctx.t_ms).unwrap_or(UNINITIALISED),
        };
        DescribeShareGroupOffsetsResponsePartition::default()
            .with_partition_index(p)
            .with_start_offset(start)
            .with_leader_epoch(-1)
            .with_lag(lag)
    };
    let topic = |t: &TopicModel, partitions| {
        DescribeShareGroupOffsetsResponseTopic::default()
            .with_topic_name(TopicName(sb(t.config.name.clone())))
            .with_topic_id(topic_id(ctx, t))
            .with_partitions(partitions)
    };
    let topics = match req.topics {
        None => group
            .topics
            .iter()
            .filter_map(|i| ctx.model.topics.get(*i))
            .filter_map(|t| {
                let partitions: Vec<_> = (0..t.partitions())
                    .filter(|p| group.share_start(t, *p, ctx.t_ms).is_some())
                    .map(|p| partition(t, p))
                    .collect();
                (!partitions.is_empty()).then(|| topic(t, partitions))
            })
            .collect(),
        Some(wanted) => wanted
            .into_iter()
            .filter_map(|w| {
                let t = ctx.model.topic(w.topic_name.0.as_str())?;
                let partitions = w.partitions.into_iter().map(|p| partition(t, p)).collect();
                Some(topic(t, partitions))
            })
            .collect(),
    };
    base.with_topics(topics)
}
