//! Who should own each key of one cluster: the cluster's ring, except for
//! the groups some ring members published as blocked (see
//! [`super::reachability`]). Such a group is placed on the ring of the
//! members that did not block it — consistent hashing over fewer nodes, the
//! same answer on every node that saw the same heartbeats — and on the whole
//! ring when every member blocked it.

use std::collections::{BTreeSet, HashMap};

use lagring_core::ownership::Ring;

use super::eligibility::{Placement, RingChoice};
use super::placement::group_key;
use super::ring_view::{SelfState, placed_ring};
use crate::store::Membership;

/// The placement of one cluster's keys for one sync.
#[derive(Debug)]
pub struct KeyPlacement {
    ring: Ring,
    /// Rings without the nodes that blocked a key, one per distinct set.
    narrowed: Vec<Ring>,
    /// Key → index in `narrowed`.
    key_ring: HashMap<String, usize>,
    /// How the cluster's placement chose the ring.
    choice: RingChoice,
}

impl KeyPlacement {
    /// The placement of `cluster` as `self_id` sees it, every node eligible.
    pub fn new(membership: &Membership, cluster: &str, self_id: &str, me: SelfState, vnodes: u32) -> Self {
        Self::placed(membership, cluster, self_id, me, vnodes, &Placement::default())
    }

    /// The placement of `cluster` as `self_id` sees it, only nodes eligible
    /// under `placement` on its ring (see `eligibility`).
    pub fn placed(
        membership: &Membership,
        cluster: &str,
        self_id: &str,
        me: SelfState,
        vnodes: u32,
        placement: &Placement,
    ) -> Self {
        let (ring, choice) = placed_ring(membership, cluster, self_id, me, vnodes, placement);
        let mut blockers: HashMap<String, BTreeSet<&str>> = HashMap::new();
        for node in membership.nodes.iter().filter(|n| ring.contains(&n.id)) {
            for group in node.status.blocked_groups.get(cluster).into_iter().flatten() {
                blockers.entry(group_key(cluster, group)).or_default().insert(node.id.as_str());
            }
        }
        let mut rings_by_blockers: HashMap<BTreeSet<&str>, usize> = HashMap::new();
        let mut narrowed = Vec::new();
        let mut key_ring = HashMap::with_capacity(blockers.len());
        for (key, nodes) in blockers {
            let index = match rings_by_blockers.get(&nodes) {
                Some(i) => *i,
                None => {
                    let rest = Ring::with_vnodes(ring.nodes().filter(|n| !nodes.contains(n)), vnodes);
                    if rest.is_empty() {
                        continue;
                    }
                    narrowed.push(rest);
                    rings_by_blockers.insert(nodes, narrowed.len() - 1);
                    narrowed.len() - 1
                }
            };
            key_ring.insert(key, index);
        }
        Self { ring, narrowed, key_ring, choice }
    }

    /// How the cluster's placement chose the ring (eligible nodes, the
    /// fallback, or nobody).
    pub fn choice(&self) -> RingChoice {
        self.choice
    }

    /// The node that should own `key`.
    pub fn owner_of_key(&self, key: &str) -> Option<&str> {
        match self.key_ring.get(key).and_then(|i| self.narrowed.get(*i)) {
            Some(narrowed) => narrowed.owner_of_key(key),
            None => self.ring.owner_of_key(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::store::{NodeInfo, NodeStatus};

    fn node(id: &str, blocked: &[&str]) -> NodeInfo {
        let mut status = NodeStatus::default();
        if !blocked.is_empty() {
            status.blocked_groups =
                BTreeMap::from([("c".to_owned(), blocked.iter().map(|g| (*g).to_owned()).collect())]);
        }
        NodeInfo { id: id.to_owned(), incarnation: "i".to_owned(), heartbeat_age: Duration::ZERO, status }
    }

    const ME: SelfState = SelfState { joined: true, leaving: false, undeliverable: false };

    #[test]
    fn a_blocked_group_goes_to_a_node_that_did_not_block_it_and_nothing_else_moves() {
        let plain = Membership { nodes: vec![node("a", &[]), node("b", &[]), node("c", &[])], ..Membership::default() };
        let before = KeyPlacement::new(&plain, "c", "a", ME, 64);
        let groups: Vec<String> = (0..300).map(|i| format!("g{i}")).collect();
        let of_b: Vec<&String> =
            groups.iter().filter(|g| before.owner_of_key(&group_key("c", g)) == Some("b")).collect();
        assert!(of_b.len() > 20, "b owns a share: {}", of_b.len());
        let blocked: Vec<&str> = of_b.iter().take(10).map(|g| g.as_str()).collect();
        let with_blocks =
            Membership { nodes: vec![node("a", &[]), node("b", &blocked), node("c", &[])], ..Membership::default() };
        let after = KeyPlacement::new(&with_blocks, "c", "a", ME, 64);
        for g in &groups {
            let key = group_key("c", g);
            if blocked.contains(&g.as_str()) {
                let owner = after.owner_of_key(&key);
                assert!(matches!(owner, Some("a" | "c")), "{g} moved to {owner:?}");
            } else {
                assert_eq!(after.owner_of_key(&key), before.owner_of_key(&key), "{g} must not move");
            }
        }
    }

    #[test]
    fn a_group_every_node_blocked_stays_on_the_whole_ring() {
        let all = Membership { nodes: vec![node("a", &["g1"]), node("b", &["g1"])], ..Membership::default() };
        let placement = KeyPlacement::new(&all, "c", "a", ME, 64);
        let plain = Membership { nodes: vec![node("a", &[]), node("b", &[])], ..Membership::default() };
        let expected = KeyPlacement::new(&plain, "c", "a", ME, 64);
        assert_eq!(placement.owner_of_key(&group_key("c", "g1")), expected.owner_of_key(&group_key("c", "g1")));
        assert!(placement.owner_of_key(&group_key("c", "g1")).is_some());
    }
}
