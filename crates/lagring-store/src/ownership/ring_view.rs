//! The ring of one cluster: which nodes share its groups right now.
//!
//! Peers are taken from the live set as they last reported themselves; this
//! node is taken from its own current state (its published status may be one
//! heartbeat old). A node is on cluster C's ring while it is live, not
//! leaving, and able to complete C's iterations — so a node with a private
//! network problem to C hands C's groups to peers instead of leaving them dark.
//!
//! The same holds at the output: a node whose remote write cannot deliver is
//! off every ring — but only while at least one other candidate of that ring
//! (live, not leaving, on the cluster) delivers. When every candidate is
//! undeliverable nobody is left out, so a receiver down for the whole fleet
//! moves nothing (moving would only churn leases and lose nothing less).
//!
//! A cluster's placement (`eligibility`) narrows the candidates before the
//! delivery rule: only eligible nodes are on the ring while one of them is a
//! candidate; otherwise its fallback decides.

use lagring_core::ownership::Ring;

use super::eligibility::{Placement, RingChoice};
use crate::store::{Membership, NodeInfo};

/// This node's own view of itself for one cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelfState {
    /// It can complete this cluster's iterations (see `ClusterHealthGate`).
    pub joined: bool,
    /// It is shutting down and peers have had time to see it.
    pub leaving: bool,
    /// Its remote write cannot deliver and peers have had time to see it.
    pub undeliverable: bool,
}

/// The ring of `cluster` as `self_id` sees it, every node eligible.
pub fn cluster_ring(membership: &Membership, cluster: &str, self_id: &str, me: SelfState, vnodes: u32) -> Ring {
    placed_ring(membership, cluster, self_id, me, vnodes, &Placement::default()).0
}

/// The ring of `cluster` as `self_id` sees it under `placement`: the
/// eligible candidates first (see `eligibility`), then the delivery rule
/// among them; and how the ring was chosen.
pub fn placed_ring(
    membership: &Membership,
    cluster: &str,
    self_id: &str,
    me: SelfState,
    vnodes: u32,
    placement: &Placement,
) -> (Ring, RingChoice) {
    // (node, undeliverable) of every node that could be on the ring.
    let candidates: Vec<(&NodeInfo, bool)> = membership
        .nodes
        .iter()
        .filter_map(|n| {
            let (eligible, undeliverable) = if n.id == self_id {
                (me.joined && !me.leaving, me.undeliverable)
            } else {
                let eligible = !n.status.leaving && !n.status.unhealthy_clusters.iter().any(|c| c == cluster);
                (eligible, n.status.undeliverable)
            };
            eligible.then_some((n, undeliverable))
        })
        .collect();
    let (candidates, choice) = placement.choose(candidates, |(n, _)| (n.id.as_str(), &n.status.labels));
    let someone_delivers = candidates.iter().any(|(_, undeliverable)| !undeliverable);
    let members = candidates.iter().filter(|(_, undeliverable)| !(someone_delivers && *undeliverable));
    (Ring::with_vnodes(members.map(|(n, _)| n.id.as_str()), vnodes), choice)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::ownership::eligibility::Fallback;
    use crate::store::NodeStatus;

    fn node(id: &str, leaving: bool, unhealthy: &[&str]) -> NodeInfo {
        let status = NodeStatus {
            owned_groups: 0,
            leaving,
            unhealthy_clusters: unhealthy.iter().map(|c| (*c).to_owned()).collect(),
            undeliverable: false,
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
        let healthy = SelfState { joined: true, leaving: false, undeliverable: false };
        let ids = |r: Ring| r.nodes().map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(ids(cluster_ring(&membership, "east", "a", healthy, 8)), ["a", "d"]);
        assert_eq!(ids(cluster_ring(&membership, "west", "a", healthy, 8)), ["a", "b", "d"]);
        let not_joined = SelfState { joined: false, leaving: false, undeliverable: false };
        assert_eq!(ids(cluster_ring(&membership, "west", "a", not_joined, 8)), ["b", "d"]);
        let leaving = SelfState { joined: true, leaving: true, undeliverable: false };
        assert_eq!(ids(cluster_ring(&membership, "west", "a", leaving, 8)), ["b", "d"]);
        // This node's own published status is ignored in favour of its current state.
        assert_eq!(ids(cluster_ring(&membership, "west", "c", healthy, 8)), ["a", "b", "c", "d"]);
        assert_eq!(ids(cluster_ring(&membership, "west", "zz", healthy, 8)), ["a", "b", "d"], "unregistered self");
    }

    fn undeliverable(mut n: NodeInfo) -> NodeInfo {
        n.status.undeliverable = true;
        n
    }

    fn ids(r: Ring) -> Vec<String> {
        r.nodes().map(str::to_owned).collect()
    }

    #[test]
    fn an_undeliverable_node_is_off_every_ring_while_an_eligible_peer_delivers() {
        let membership = Membership {
            nodes: vec![node("a", false, &[]), undeliverable(node("b", false, &[])), node("c", false, &["east"])],
            ..Membership::default()
        };
        let me = |undeliverable| SelfState { joined: true, leaving: false, undeliverable };
        // Every cluster: b is out while a (or c) delivers.
        assert_eq!(ids(cluster_ring(&membership, "west", "a", me(false), 8)), ["a", "c"]);
        assert_eq!(ids(cluster_ring(&membership, "east", "a", me(false), 8)), ["a"]);
        // b's own view comes from its live state, not from what it published.
        assert_eq!(ids(cluster_ring(&membership, "west", "b", me(false), 8)), ["a", "b", "c"], "b delivers again");
        assert_eq!(ids(cluster_ring(&membership, "west", "b", me(true), 8)), ["a", "c"]);
        // a undeliverable too: on west c still delivers, on east nobody does, so nobody is left out.
        assert_eq!(ids(cluster_ring(&membership, "west", "a", me(true), 8)), ["c"]);
        assert_eq!(ids(cluster_ring(&membership, "east", "a", me(true), 8)), ["a", "b"]);
    }

    #[test]
    fn when_every_candidate_is_undeliverable_nobody_is_excluded() {
        let membership = Membership {
            nodes: vec![
                undeliverable(node("a", false, &[])),
                undeliverable(node("b", false, &[])),
                // Deliverable, but not a candidate: leaving, or off the cluster.
                node("c", true, &[]),
                node("d", false, &["west"]),
            ],
            ..Membership::default()
        };
        let me = SelfState { joined: true, leaving: false, undeliverable: true };
        assert_eq!(ids(cluster_ring(&membership, "west", "a", me, 8)), ["a", "b"], "nothing churns");
        assert_eq!(ids(cluster_ring(&membership, "east", "a", me, 8)), ["d"], "d delivers east");
        let not_joined = SelfState { joined: false, ..me };
        assert_eq!(ids(cluster_ring(&membership, "west", "a", not_joined, 8)), ["b"]);
    }

    #[test]
    fn placement_narrows_the_candidates_first_and_falls_back_without_one() {
        let region = |mut n: NodeInfo, r: &str| {
            n.status.labels.insert("region".to_owned(), r.to_owned());
            n
        };
        let membership = Membership {
            nodes: vec![
                region(node("eu-0", false, &[]), "eu"),
                region(undeliverable(node("eu-1", false, &[])), "eu"),
                region(node("us-0", false, &[]), "us"),
                region(node("us-1", false, &["east"]), "us"),
            ],
            ..Membership::default()
        };
        let me = SelfState { joined: true, leaving: false, undeliverable: false };
        let eu = Placement { affinity: [("region".to_owned(), "eu".to_owned())].into(), ..Placement::default() };
        let placed = |m: &Membership, c: &str, p: &Placement| {
            let (ring, choice) = placed_ring(m, c, "us-0", me, 8, p);
            (ids(ring), choice)
        };
        assert_eq!(
            placed(&membership, "west", &eu),
            (vec!["eu-0".to_owned()], RingChoice::Eligible),
            "eu-1 delivers not"
        );
        let us_only = Membership { nodes: membership.nodes[2..].to_vec(), ..Membership::default() };
        assert_eq!(placed(&us_only, "west", &eu), (vec!["us-0".to_owned(), "us-1".to_owned()], RingChoice::Fallback));
        assert_eq!(placed(&us_only, "east", &eu), (vec!["us-0".to_owned()], RingChoice::Fallback), "us-1 is off east");
        let strict = Placement { fallback: Fallback::None, ..eu.clone() };
        assert_eq!(placed(&us_only, "west", &strict), (vec![], RingChoice::Unplaced));
        let listed = Placement { nodes: Some(["us-1".to_owned(), "eu-0".to_owned()].into()), ..Placement::default() };
        assert_eq!(
            placed(&membership, "west", &listed),
            (vec!["eu-0".to_owned(), "us-1".to_owned()], RingChoice::Eligible)
        );
        assert_eq!(placed(&membership, "east", &listed), (vec!["eu-0".to_owned()], RingChoice::Eligible));
    }
}
