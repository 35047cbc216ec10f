//! ListOffsets: earliest (-2), latest (-1, or the last stable offset under read_committed),
//! max timestamp (-3) and by timestamp, for partitions this broker leads; NOT_LEADER_OR_FOLLOWER
//! for the others so clients refresh metadata like they would against Kafka.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::Ctx;
use crate::model::partition::TopicModel;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const READ_COMMITTED: i8 = 1;

pub fn handle(ctx: &Ctx, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let read_committed = req.isolation_level == READ_COMMITTED;
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = ctx.model.topic(t.name.0.as_str());
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| answer(ctx, topic, p.partition_index, p.timestamp, read_committed))
                .collect();
            ListOffsetsTopicResponse::default().with_name(t.name).with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

fn answer(
    ctx: &Ctx,
    topic: Option<&TopicModel>,
    partition: i32,
    timestamp: i64,
    read_committed: bool,
) -> ListOffsetsPartitionResponse {
    let base = ListOffsetsPartitionResponse::default().with_partition_index(partition);
    let error = |code: i16| base.clone().with_error_code(code).with_offset(-1).with_timestamp(-1);
    let Some(topic) = topic.filter(|t| (0..t.partitions()).contains(&partition)) else {
        return error(ResponseError::UnknownTopicOrPartition.code());
    };
    if let Some(code) = ctx.injected {
        return error(code);
    }
    if ctx.leader(topic, partition) != ctx.broker {
        return error(ResponseError::NotLeaderOrFollower.code());
    }
    let t_ms = ctx.t_ms;
    let offsets = topic.offsets(partition, t_ms);
    let wall = |o: i64| ctx.model.wall_ms(topic.produce_time_ms(partition, o.max(0) as u64, t_ms));
    let end = if read_committed { offsets.last_stable } else { offsets.high_watermark };
    let (offset, ts) = match timestamp {
        LATEST => (end, -1),
        EARLIEST => (offsets.log_start, -1),
        MAX_TIMESTAMP if end > offsets.log_start => (end - 1, wall(end - 1)),
        MAX_TIMESTAMP => (-1, -1),
        at => {
            let scenario_ms = at.saturating_sub(ctx.model.epoch_ms);
            match topic.offset_for_time(partition, scenario_ms, t_ms) {
                Some((o, _)) if o < end => (o, wall(o)),
                _ => (-1, -1),
            }
        }
    };
    let mut out = base.with_offset(offset).with_timestamp(ts);
    if ctx.version >= 4 {
        let (generation, _) = topic.generation(t_ms);
        out.leader_epoch = i32::try_from(generation).unwrap_or(i32::MAX);
    }
    out
}
