//! ListGroups: the groups this broker coordinates that exist now, with state (v4+) and type
//! (v5+), honouring the state and type filters. As Kafka 4.x, every version lists every group
//! type; the protocol type is `consumer` for classic and KIP-848 groups, `share` or `streams`
//! for the others, so a client below v5 can still tell those two apart.

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::{Ctx, sb};
use crate::model::group::GroupModel;

pub fn handle(ctx: &Ctx, req: ListGroupsRequest) -> ListGroupsResponse {
    if let Some(error) = ctx.injected {
        return ListGroupsResponse::default().with_error_code(error);
    }
    let wants_state = |state: &str| {
        req.states_filter.is_empty() || req.states_filter.iter().any(|s| s.as_str().eq_ignore_ascii_case(state))
    };
    let wants_type = |group: &GroupModel| {
        let name = group.group_type().name();
        req.types_filter.is_empty() || req.types_filter.iter().any(|t| t.as_str().eq_ignore_ascii_case(name))
    };
    let groups = ctx
        .model
        .groups
        .iter()
        .filter(|g| coordinator(ctx, g) == ctx.broker && g.exists(ctx.t_ms) && wants_type(g))
        .filter(|g| wants_state(g.state(ctx.t_ms)))
        .map(|g| {
            let mut listed = ListedGroup::default()
                .with_group_id(GroupId(sb(g.config.name.clone())))
                .with_protocol_type(sb(g.group_type().protocol_type()));
            if ctx.version >= 4 {
                listed.group_state = sb(g.state(ctx.t_ms));
            }
            if ctx.version >= 5 {
                listed.group_type = sb(g.group_type().name());
            }
            listed
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}

/// The group's coordinator now; the hash is precomputed unless a test moved it.
fn coordinator(ctx: &Ctx, group: &GroupModel) -> i32 {
    ctx.controls.moved_coordinator(&group.config.name).unwrap_or(group.coordinator)
}
