//! The checks every modern describe API (ConsumerGroupDescribe, ShareGroupDescribe,
//! DescribeShareGroupOffsets) makes before it answers, in Kafka's order: an injected error, then
//! NOT_COORDINATOR on the wrong broker, then GROUP_ID_NOT_FOUND for an unknown or deleted group
//! and for a group of another type, with Kafka's messages. Kept in one place so the three agree.

use kafka_protocol::ResponseError;

use super::Ctx;
use crate::model::group::GroupModel;
use crate::scenario::GroupType;

/// Why a group gets no answer: (error code, message Kafka sends with it).
pub type Refusal = (i16, Option<String>);

/// The group `name` if it may be described as a `wanted` group here and now.
pub fn typed_group<'a>(ctx: &Ctx<'a>, name: &str, wanted: GroupType) -> Result<&'a GroupModel, Refusal> {
    if let Some(error) = ctx.injected {
        return Err((error, None));
    }
    if ctx.coordinator(name) != ctx.broker {
        return Err((ResponseError::NotCoordinator.code(), None));
    }
    let not_found = ResponseError::GroupIdNotFound.code();
    match ctx.model.group(name) {
        Some(group) if group.exists(ctx.t_ms) && group.group_type() == wanted => Ok(group),
        Some(group) if group.exists(ctx.t_ms) => {
            Err((not_found, Some(format!("Group {name} is not a {} group.", wanted.name()))))
        }
        _ => Err((not_found, Some(format!("Group {name} not found.")))),
    }
}

/// Topic id of a topic now, as Metadata reports it.
pub fn topic_id(ctx: &Ctx, topic: &crate::model::partition::TopicModel) -> uuid::Uuid {
    let (generation, _) = topic.generation(ctx.t_ms);
    super::metadata::topic_id(ctx.model.seed, &topic.config.name, generation)
}

/// A member's partitions grouped by topic, in the model's (topic, partition) order: (topic id,
/// name, partitions), for the assignment fields of the describe responses.
pub fn partitions_by_topic<'a>(
    ctx: &Ctx<'a>,
    member: &crate::model::group::Member,
) -> Vec<(uuid::Uuid, &'a str, Vec<i32>)> {
    let mut out: Vec<(uuid::Uuid, &'a str, Vec<i32>)> = Vec::new();
    for (t, p) in &member.partitions {
        let Some(topic) = ctx.model.topics.get(*t) else { continue };
        match out.last_mut() {
            Some((_, name, partitions)) if *name == topic.config.name => partitions.push(*p),
            _ => out.push((topic_id(ctx, topic), topic.config.name.as_str(), vec![*p])),
        }
    }
    out
}
