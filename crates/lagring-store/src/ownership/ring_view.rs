//! The ring of one cluster: which nodes share its groups right now.
//!
//! Peers are taken from the live set as they last reported themselves; this
//! node is taken from its own current state (its published status may be one
//! heartbeat old). A node is on cluster C's ring while it is live, not
//! leaving, and able to complete C's iterations — so a node with a private
//! network problem to C hands C's groups to peers instead of leaving them dark.

use lagring_core::ownership::Ring;

use crate::store::Membership;

/// This node's own view of itself for one cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelfState {
    /// It can complete this cluster's iterations (see `ClusterHealthGate`).
    pub joined: bool,
    /// It is shutting down and peers have had time to see it.
    pub leaving: bool,
}

/// The ring of `cluster` as `self_id` sees it.
pub fn cluster_ring(membership: &Membership, cluster: &str, self_id: &str, me: SelfState, vnodes: u32) -> Ring {
    let members = membership.nodes.iter().filter(|n| {
        if n.id == self_id {
            return me.joined && !me.leaving;
        }
        !n.status.leaving && !n.status.unhealthy_clusters.iter().any(|c| c == cluster)
    });
    Ring::with_vnodes(members.map(|n| n.id.as_str()), vnodes)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::store::{NodeInfo, NodeStatus};

    fn node(id: &str, leaving: bool, unhealthy: &[&str]) -> NodeInfo {
        let status = NodeStatus {
            owned_groups: 0,
            leaving,
            unhealthy_clusters: unhealthy.iter().map(|c| (*c).to_owned()).collect(),
            ..NodeStatus::default()
        };
        NodeInfo { id: id.to_owned(), incarnation: "i".to_owned(), heartbeat_age: Duration::ZERO, status }
    }

    #[test]
    fn leaving_and_unhealthy_nodes_are_off_the_ring_of_that_cluster_only() {
        let membership = Membership {
            nodes: vec![
                node("a", false, &[]),
                node("b", false, &["east"]),
                node("c", true, &[]),
                node("d", false, &[]),
            ],
            ..Membership::default()
        };
        let healthy = SelfState { joined: true, leaving: false };
        let ids = |r: Ring| r.nodes().map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(ids(cluster_ring(&membership, "east", "a", healthy, 8)), ["a", "d"]);
        assert_eq!(ids(cluster_ring(&membership, "west", "a", healthy, 8)), ["a", "b", "d"]);
        let not_joined = SelfState { joined: false, leaving: false };
        assert_eq!(ids(cluster_ring(&membership, "west", "a", not_joined, 8)), ["b", "d"]);
        let leaving = SelfState { joined: true, leaving: true };
        assert_eq!(ids(cluster_ring(&membership, "west", "a", leaving, 8)), ["b", "d"]);
        // This node's own published status is ignored in favour of its current state.
        assert_eq!(ids(cluster_ring(&membership, "west", "c", healthy, 8)), ["a", "b", "c", "d"]);
        assert_eq!(ids(cluster_ring(&membership, "west", "zz", healthy, 8)), ["a", "b", "d"], "unregistered self");
    }
}
