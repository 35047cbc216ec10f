//! ShareGroupDescribe (KIP-932, v1): state, epochs and members with their assignment for share
//! groups this broker coordinates. Share-group members of one topic may share partitions; the
//! model deals them out round-robin like any other group. Other group types and unknown ids get
//! GROUP_ID_NOT_FOUND, as Kafka.

use kafka_protocol::messages::share_group_describe_response::{Assignment, DescribedGroup, Member, TopicPartitions};
use kafka_protocol::messages::{GroupId, ShareGroupDescribeRequest, ShareGroupDescribeResponse, TopicName};

use super::lookup::{partitions_by_topic, typed_group};
use super::{Ctx, sb};
use crate::scenario::GroupType;

/// The broker's share-group assignor.
const ASSIGNOR: &str = "simple";

pub fn handle(ctx: &Ctx, req: ShareGroupDescribeRequest) -> ShareGroupDescribeResponse {
    let groups = req.group_ids.into_iter().map(|id| describe(ctx, id)).collect();
    ShareGroupDescribeResponse::default().with_groups(groups)
}

fn describe(ctx: &Ctx, id: GroupId) -> DescribedGroup {
    let name = id.0.as_str().to_string();
    let base = DescribedGroup::default().with_group_id(id);
    let group = match typed_group(ctx, &name, GroupType::Share) {
        Ok(group) => group,
        Err((code, message)) => return base.with_error_code(code).with_error_message(message.map(sb)),
    };
    let (group_epoch, assignment_epoch) = group.epochs();
    let subscribed: Vec<TopicName> = group.config.topics.iter().map(|t| TopicName(sb(t.clone()))).collect();
    let members = group
        .members(&ctx.model.topics)
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let by_topic = partitions_by_topic(ctx, m)
                .into_iter()
                .map(|(id, name, partitions)| {
                    TopicPartitions::default()
                        .with_topic_id(id)
                        .with_topic_name(TopicName(sb(name.to_owned())))
                        .with_partitions(partitions)
                })
                .collect();
            Member::default()
                .with_member_id(sb(m.member_id.clone()))
                .with_member_epoch(group.member_epoch(i))
                .with_client_id(sb(m.client_id.clone()))
                .with_client_host(sb(m.client_host.clone()))
                .with_subscribed_topic_names(subscribed.clone())
                .with_assignment(Assignment::default().with_topic_partitions(by_topic))
        })
        .collect();
    base.with_group_state(sb(group.state(ctx.t_ms)))
        .with_group_epoch(group_epoch)
        .with_assignment_epoch(assignment_epoch)
        .with_assignor_name(sb(ASSIGNOR))
        .with_members(members)
}
