//! DescribeGroups: state, protocol and members (client id, host, consumer-protocol assignment)
//! for classic groups this broker coordinates; NOT_COORDINATOR otherwise, `Dead` for unknown or
//! deleted groups as Kafka reports them. Kafka below DescribeGroups v6 also answers `Dead`, with
//! no error and no members, for a consumer, share or streams group: those are described by their
//! own APIs. Outside `Stable` a classic group has no agreed protocol, so members carry no
//! assignment.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse, GroupId};

use super::{Ctx, sb};
use crate::model::group::{GroupModel, encode_assignment};
use crate::scenario::GroupType;

pub fn handle(ctx: &Ctx, req: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let groups = req.groups.into_iter().map(|id| describe(ctx, id)).collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

fn describe(ctx: &Ctx, id: GroupId) -> DescribedGroup {
    let name = id.0.as_str().to_string();
    let base = DescribedGroup::default().with_group_id(id);
    if let Some(error) = ctx.injected {
        return base.with_error_code(error);
    }
    if ctx.coordinator(&name) != ctx.broker {
        return base.with_error_code(ResponseError::NotCoordinator.code());
    }
    match ctx.model.group(&name) {
        Some(group) if group.exists(ctx.t_ms) && group.group_type() == GroupType::Classic => {
            let stable = group.state(ctx.t_ms) == "Stable";
            base.with_group_state(sb(group.state(ctx.t_ms)))
                .with_protocol_type(sb("consumer"))
                .with_protocol_data(sb(if stable { "range" } else { "" }))
                .with_members(members(ctx, group, stable))
        }
        _ => base.with_group_state(sb("Dead")),
    }
}

fn members(ctx: &Ctx, group: &GroupModel, stable: bool) -> Vec<DescribedGroupMember> {
    group
        .members(&ctx.model.topics)
        .iter()
        .map(|m| {
            DescribedGroupMember::default()
                .with_member_id(sb(m.member_id.clone()))
                .with_client_id(sb(m.client_id.clone()))
                .with_client_host(sb(m.client_host.clone()))
                .with_member_assignment(if stable {
                    encode_assignment(m, &ctx.model.topics)
                } else {
                    Default::default()
                })
        })
        .collect()
}
