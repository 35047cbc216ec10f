//! Deploy-aware moves: the groups of a node that restarts wait for it
//! instead of moving away and back.
//!
//! In a rolling restart every node leaves and a new process with the same id
//! joins seconds later. Handing its groups to peers and taking them back
//! moves each group twice per roll. Instead a node shutting down with a
//! restart grace publishes *restarting* (not *leaving*), keeps its groups
//! until peers have seen that, emits one last slot and hands every lease
//! over to no node in particular. Peers that saw the mark keep the node on
//! their rings for `grace` after it disappears — put back as last seen, or,
//! once a new process with its id is live, counted on the rings it was on
//! before even while the newcomer has not finished its first iteration — so
//! nobody else claims its groups, and the new process claims them from the
//! slot after the hand-over. A node that does not come back within `grace`
//! (scaled in, or too slow) drops off the rings and peers claim at once (the
//! leases name no successor): the cost is the grace, nothing after it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::store::{Membership, NodeInfo};

/// Nodes that left announcing a restart, kept on the rings for a grace.
#[derive(Debug, Clone)]
pub struct RestartHold {
    grace: Duration,
    /// The live set of the last observation, by id.
    last: BTreeMap<String, NodeInfo>,
    /// Held node id → (when it was first seen gone, what it last published).
    held: BTreeMap<String, (Instant, NodeInfo)>,
}

impl RestartHold {
    /// Holds restarting nodes for `grace` (zero: never).
    pub fn new(grace: Duration) -> Self {
        Self { grace, last: BTreeMap::new(), held: BTreeMap::new() }
    }

    /// Ids held now (operator view, tests).
    pub fn held(&self) -> impl Iterator<Item = &str> {
        self.held.keys().map(String::as_str)
    }

    /// Feeds one read of the live set, made at `now`.
    pub fn observe(&mut self, membership: &Membership, now: Instant) {
        if self.grace.is_zero() {
            return;
        }
        let grace = self.grace;
        self.held.retain(|_, (since, _)| now.saturating_duration_since(*since) < grace);
        for (id, before) in &self.last {
            let gone = membership.node(id).is_none_or(|n| n.incarnation != before.incarnation);
            if before.status.restarting && gone {
                self.held.entry(id.clone()).or_insert_with(|| (now, before.clone()));
            }
        }
        // A newcomer on every ring its predecessor was on is back: hold no longer.
        self.held.retain(|id, (_, before)| {
            membership.node(id).is_none_or(|n| {
                n.status.unhealthy_clusters.iter().any(|c| !before.status.unhealthy_clusters.contains(c))
            })
        });
        self.last = membership.nodes.iter().map(|n| (n.id.clone(), n.clone())).collect();
    }

    /// `membership` as the rings should see it at `now`: a held node that is
    /// gone is put back as it last published itself (no longer restarting);
    /// a new process of a held node counts as on every ring its predecessor
    /// was on.
    pub fn apply(&self, membership: &mut Membership, now: Instant) {
        for (since, before) in self.held.values() {
            if now.saturating_duration_since(*since) >= self.grace {
                continue;
            }
            match membership.nodes.iter_mut().find(|n| n.id == before.id) {
                Some(newcomer) => {
                    newcomer.status.unhealthy_clusters.retain(|c| before.status.unhealthy_clusters.contains(c));
                }
                None => {
                    let mut back = before.clone();
                    back.status.restarting = false;
                    membership.nodes.push(back);
                }
            }
        }
        membership.nodes.sort_by(|a, b| a.id.cmp(&b.id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NodeStatus;

    fn node(id: &str, incarnation: &str, restarting: bool, unhealthy: &[&str]) -> NodeInfo {
        let status = NodeStatus {
            restarting,
            unhealthy_clusters: unhealthy.iter().map(|c| (*c).to_owned()).collect(),
            ..NodeStatus::default()
        };
        NodeInfo { id: id.to_owned(), incarnation: incarnation.to_owned(), heartbeat_age: Duration::ZERO, status }
    }

    fn live(nodes: Vec<NodeInfo>) -> Membership {
        Membership { nodes, ..Membership::default() }
    }

    fn seen(hold: &RestartHold, m: &Membership, now: Instant) -> Vec<(String, String, Vec<String>)> {
        let mut m = m.clone();
        hold.apply(&mut m, now);
        m.nodes.into_iter().map(|n| (n.id, n.incarnation, n.status.unhealthy_clusters)).collect()
    }

    #[test]
    fn a_restarting_node_stays_on_the_rings_for_the_grace_and_its_newcomer_counts_as_joined() {
        let t0 = Instant::now();
        let secs = |s: u64| t0 + Duration::from_secs(s);
        let mut hold = RestartHold::new(Duration::from_secs(5));
        hold.observe(&live(vec![node("a", "1", false, &[]), node("b", "1", true, &["off"])]), t0);
        let a_only = live(vec![node("a", "1", false, &[])]);
        hold.observe(&a_only, secs(1));
        assert_eq!(hold.held().collect::<Vec<_>>(), ["b"]);
        let b_back = ("b".to_owned(), "1".to_owned(), vec!["off".to_owned()]);
        assert_eq!(seen(&hold, &a_only, secs(2))[1], b_back, "gone, put back as last seen");
        // The new process is live but has not finished an iteration of anything yet.
        let newcomer = live(vec![node("a", "1", false, &[]), node("b", "2", false, &["off", "west"])]);
        hold.observe(&newcomer, secs(3));
        let counted = ("b".to_owned(), "2".to_owned(), vec!["off".to_owned()]);
        assert_eq!(seen(&hold, &newcomer, secs(3))[1], counted, "on west as its predecessor was");
        // It joined west: back for real, nothing held.
        hold.observe(&live(vec![node("a", "1", false, &[]), node("b", "2", false, &["off"])]), secs(4));
        assert_eq!(hold.held().count(), 0);
    }

    #[test]
    fn a_node_that_does_not_return_in_time_or_left_without_the_mark_is_not_held() {
        let t0 = Instant::now();
        let mut hold = RestartHold::new(Duration::from_secs(5));
        hold.observe(
            &live(vec![node("a", "1", false, &[]), node("b", "1", true, &[]), node("c", "1", false, &[])]),
            t0,
        );
        let a_only = live(vec![node("a", "1", false, &[])]);
        hold.observe(&a_only, t0 + Duration::from_secs(1));
        assert_eq!(hold.held().collect::<Vec<_>>(), ["b"], "c left without announcing a restart");
        assert_eq!(seen(&hold, &a_only, t0 + Duration::from_secs(6)).len(), 1, "the grace is over");
        hold.observe(&a_only, t0 + Duration::from_secs(6));
        assert_eq!(hold.held().count(), 0);
        let mut off = RestartHold::new(Duration::ZERO);
        off.observe(&live(vec![node("b", "1", true, &[])]), t0);
        off.observe(&live(vec![]), t0 + Duration::from_secs(1));
        assert_eq!(off.held().count(), 0, "no grace, no hold");
    }
}
