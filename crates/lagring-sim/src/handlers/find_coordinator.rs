//! FindCoordinator: every key (group or transactional id) hashes to one broker. Serves both the
//! single `key` form (v0–3) and the batched `coordinator_keys` form (v4+).

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::{Ctx, sb};

pub fn handle(ctx: &Ctx, req: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let error = ctx.injected.unwrap_or(0);
    if ctx.version >= 4 {
        let coordinators = req
            .coordinator_keys
            .iter()
            .map(|key| {
                let (node, host, port) = locate(ctx, key.as_str(), error);
                Coordinator::default()
                    .with_key(key.clone())
                    .with_node_id(node)
                    .with_host(host)
                    .with_port(port)
                    .with_error_code(error)
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let (node, host, port) = locate(ctx, req.key.as_str(), error);
    FindCoordinatorResponse::default().with_error_code(error).with_node_id(node).with_host(host).with_port(port)
}

fn locate(ctx: &Ctx, key: &str, error: i16) -> (BrokerId, kafka_protocol::protocol::StrBytes, i32) {
    let id = ctx.coordinator(key);
    match ctx.brokers.iter().find(|b| b.id == id) {
        Some(b) if error == 0 => (BrokerId(b.id), sb(b.host.clone()), b.port),
        _ => (BrokerId(-1), sb(""), -1),
    }
}
