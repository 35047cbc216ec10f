//! StreamsGroupDescribe (KIP-1071, v0): state, epochs, topology and members with their active
//! tasks for the streams groups this broker coordinates. The model's streams group is one
//! subtopology (`0`) reading the group's topics; a member's active tasks are the partitions the
//! model deals it (a task is one partition of every source topic). Other group types and unknown
//! ids get GROUP_ID_NOT_FOUND, as Kafka.

use std::collections::BTreeSet;

use kafka_protocol::messages::streams_group_describe_response::{
    Assignment, DescribedGroup, Member, Subtopology, TaskIds, Topology,
};
use kafka_protocol::messages::{GroupId, StreamsGroupDescribeRequest, StreamsGroupDescribeResponse};

use super::lookup::typed_group;
use super::{Ctx, sb};
use crate::scenario::GroupType;

/// The one subtopology of a simulated streams application.
const SUBTOPOLOGY: &str = "0";

pub fn handle(ctx: &Ctx, req: StreamsGroupDescribeRequest) -> StreamsGroupDescribeResponse {
    let groups = req.group_ids.into_iter().map(|id| describe(ctx, id)).collect();
    StreamsGroupDescribeResponse::default().with_groups(groups)
}

fn describe(ctx: &Ctx, id: GroupId) -> DescribedGroup {
    let name = id.0.as_str().to_string();
    let base = DescribedGroup::default().with_group_id(id);
    let group = match typed_group(ctx, &name, GroupType::Streams) {
        Ok(group) => group,
        Err((code, message)) => return base.with_error_code(code).with_error_message(message.map(sb)),
    };
    let (group_epoch, assignment_epoch) = group.epochs();
    let subtopology = Subtopology::default()
        .with_subtopology_id(sb(SUBTOPOLOGY))
        .with_source_topics(group.config.topics.iter().map(|t| sb(t.clone())).collect());
    let topology = Topology::default().with_epoch(0).with_subtopologies(Some(vec![subtopology]));
    let members = group
        .members(&ctx.model.topics)
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let tasks: BTreeSet<i32> = m.partitions.iter().map(|(_, p)| *p).collect();
            let active =
                TaskIds::default().with_subtopology_id(sb(SUBTOPOLOGY)).with_partitions(tasks.into_iter().collect());
            let assignment = Assignment::default().with_active_tasks(vec![active]);
            Member::default()
                .with_member_id(sb(m.member_id.clone()))
                .with_member_epoch(group.member_epoch(i))
                .with_client_id(sb(m.client_id.clone()))
                .with_client_host(sb(m.client_host.clone()))
                .with_process_id(sb(format!("{}-process-{i}", group.config.name)))
                .with_assignment(assignment.clone())
                .with_target_assignment(assignment)
        })
        .collect();
    base.with_group_state(sb(group.state(ctx.t_ms)))
        .with_group_epoch(group_epoch)
        .with_assignment_epoch(assignment_epoch)
        .with_topology(Some(topology))
        .with_members(members)
}
