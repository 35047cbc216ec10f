//! Metadata: all brokers, and for each requested topic its partitions with the leader
//! (round-robin), leader epoch = topic generation and a topic id that changes on recreation.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};

use super::{Ctx, sb};
use crate::model::hash::{mix, str_word};
use crate::model::partition::TopicModel;

pub fn handle(ctx: &Ctx, req: MetadataRequest) -> MetadataResponse {
    let brokers = ctx
        .brokers
        .iter()
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.id))
                .with_host(sb(b.host.clone()))
                .with_port(b.port)
        })
        .collect();
    // v0 has no null array: an empty list means "all topics" there.
    let all = req.topics.as_ref().is_none_or(|t| t.is_empty() && ctx.version == 0);
    let topics = match req.topics {
        _ if all => ctx.model.topics.iter().map(|t| describe(ctx, t)).collect(),
        None => Vec::new(),
        Some(requested) => requested
            .into_iter()
            .map(|r| {
                let model = r.name.as_ref().and_then(|n| ctx.model.topic(n.0.as_str()));
                match (model, r.name) {
                    (Some(t), _) => describe(ctx, t),
                    (None, name) => MetadataResponseTopic::default()
                        .with_name(name)
                        .with_error_code(ResponseError::UnknownTopicOrPartition.code()),
                }
            })
            .collect(),
    };
    let mut response = MetadataResponse::default().with_brokers(brokers).with_topics(topics);
    if ctx.version >= 1 {
        response.controller_id = BrokerId(0);
    }
    if ctx.version >= 2 {
        response.cluster_id = Some(sb("lagring-sim"));
    }
    response
}

fn describe(ctx: &Ctx, topic: &TopicModel) -> MetadataResponseTopic {
    let (generation, _) = topic.generation(ctx.t_ms);
    let error = ctx.injected.unwrap_or(0);
    let partitions = (0..topic.partitions())
        .map(|p| {
            let leader = BrokerId(ctx.leader(topic, p));
            let mut partition = MetadataResponsePartition::default()
                .with_partition_index(p)
                .with_leader_id(leader)
                .with_replica_nodes(vec![leader])
                .with_isr_nodes(vec![leader]);
            if ctx.version >= 7 {
                partition.leader_epoch = i32::try_from(generation).unwrap_or(i32::MAX);
            }
            partition
        })
        .collect();
    let mut out = MetadataResponseTopic::default()
        .with_error_code(error)
        .with_name(Some(TopicName(sb(topic.config.name.clone()))))
        .with_partitions(partitions);
    if ctx.version >= 10 {
        out.topic_id = topic_id(ctx.model.seed, &topic.config.name, generation);
    }
    out
}

/// A stable topic id per (name, generation).
pub fn topic_id(seed: u64, name: &str, generation: u32) -> uuid::Uuid {
    let hi = mix(seed, &[str_word(name), u64::from(generation), 1]);
    let lo = mix(seed, &[str_word(name), u64::from(generation), 2]);
    uuid::Uuid::from_u64_pair(hi, lo)
}
