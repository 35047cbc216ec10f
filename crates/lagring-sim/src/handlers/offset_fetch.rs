//! OffsetFetch: committed offsets of groups this broker coordinates. Serves the single-group form
//! (v1–7) and the multi-group `groups` form (v8+). Asking for all partitions returns only those
//! with a commit; asking for named partitions returns -1 for the never-committed ones, as Kafka.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};

use super::{Ctx, sb};

/// (topic, [(partition, committed offset or -1)]).
type TopicOffsets = (TopicName, Vec<(i32, i64)>);

pub fn handle(ctx: &Ctx, req: OffsetFetchRequest) -> OffsetFetchResponse {
    if ctx.version >= 8 {
        let groups = req
            .groups
            .into_iter()
            .map(|g| {
                let wanted =
                    g.topics.map(|ts| ts.into_iter().map(|t| (t.name, t.partition_indexes)).collect::<Vec<_>>());
                let (error, topics) = fetch(ctx, g.group_id.0.as_str(), wanted);
                let topics = topics
                    .into_iter()
                    .map(|(name, ps)| {
                        let partitions = ps
                            .into_iter()
                            .map(|(p, o)| {
                                OffsetFetchResponsePartitions::default()
                                    .with_partition_index(p)
                                    .with_committed_offset(o)
                                    .with_metadata(Some(sb("")))
                            })
                            .collect();
                        OffsetFetchResponseTopics::default().with_name(name).with_partitions(partitions)
                    })
                    .collect();
                OffsetFetchResponseGroup::default().with_group_id(g.group_id).with_error_code(error).with_topics(topics)
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let wanted = req.topics.map(|ts| ts.into_iter().map(|t| (t.name, t.partition_indexes)).collect::<Vec<_>>());
    let (error, topics) = fetch(ctx, req.group_id.0.as_str(), wanted);
    let topics = topics
        .into_iter()
        .map(|(name, ps)| {
            let partitions = ps
                .into_iter()
                .map(|(p, o)| {
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(p)
                        .with_committed_offset(o)
                        .with_metadata(Some(sb("")))
                })
                .collect();
            OffsetFetchResponseTopic::default().with_name(name).with_partitions(partitions)
        })
        .collect();
    let mut response = OffsetFetchResponse::default().with_topics(topics);
    if ctx.version >= 2 {
        response.error_code = error;
    }
    response
}

fn fetch(ctx: &Ctx, group_id: &str, wanted: Option<Vec<(TopicName, Vec<i32>)>>) -> (i16, Vec<TopicOffsets>) {
    if let Some(error) = ctx.injected {
        return (error, Vec::new());
    }
    if ctx.coordinator(group_id) != ctx.broker {
        return (ResponseError::NotCoordinator.code(), Vec::new());
    }
    let model = ctx.model;
    let group = model.group(group_id).filter(|g| g.exists(ctx.t_ms));
    let Some(wanted) = wanted else {
        let Some(group) = group else { return (0, Vec::new()) };
        let topics = group
            .topics
            .iter()
            .filter_map(|i| model.topics.get(*i))
            .map(|t| {
                let committed =
                    (0..t.partitions()).filter_map(|p| group.committed(t, p, ctx.t_ms).map(|o| (p, o))).collect();
                (TopicName(sb(t.config.name.clone())), committed)
            })
            .filter(|(_, ps): &TopicOffsets| !ps.is_empty())
            .collect();
        return (0, topics);
    };
    let topics = wanted
        .into_iter()
        .map(|(name, partitions)| {
            let topic = model.topic(name.0.as_str());
            let offsets = partitions
                .into_iter()
                .map(|p| {
                    let committed = group.zip(topic).and_then(|(g, t)| g.committed(t, p, ctx.t_ms));
                    (p, committed.unwrap_or(-1))
                })
                .collect();
            (name, offsets)
        })
        .collect();
    (0, topics)
}
