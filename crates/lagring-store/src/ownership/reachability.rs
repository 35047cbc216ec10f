//! Placement that follows reachability below the cluster level: a node that
//! alone cannot reach one broker hands the groups that need it to a peer
//! that can, instead of leaving them partly dark.
//!
//! Per cluster, a node counts for each broker the consecutive iterations in
//! which a request to it failed at the transport level, and for each group
//! it owns the consecutive iterations in which that group could not be
//! fetched whole (its offset fetch failed, or a partition it reads had no
//! offsets). After `after` iterations in a row (the cluster gate's
//! `leave_cluster_after_failures`) a broker is *unreachable from this node*
//! and published with the heartbeat. A group failing for as long is
//! *blocked here* — and published — only while some peer on the cluster's
//! ring reaches every broker this node cannot: then every node places it as
//! if this node were off the ring ([`super::key_placement`]), and the usual
//! planned hand-over moves it with no slot missed or doubled. When no peer
//! can do better (the broker is down for everyone), nothing is blocked and
//! nothing churns. Once every broker is reachable again for one iteration,
//! the blocks are lifted and the groups move back the same way.
//!
//! Bound: a group moves after `after` failed iterations, one heartbeat for
//! peers to see the block, and the hand-over slot.

use std::collections::{BTreeSet, HashMap};

/// At most this many groups are blocked per cluster, so the heartbeat stays
/// small; a node that would block more keeps the rest (a node that fails a
/// cluster as a whole leaves its ring through the cluster gate instead).
pub const MAX_BLOCKED_GROUPS: usize = 5_000;

/// One iteration of one cluster as the fetch stage saw it.
#[derive(Debug, Clone, Copy)]
pub struct IterationReach<'a> {
    /// Brokers a request failed to at the transport level this iteration.
    pub unreachable_brokers: &'a BTreeSet<i32>,
    /// Groups this node fetched (owned) this iteration.
    pub owned: &'a [&'a str],
    /// Of `owned`, those that could not be fetched whole.
    pub failing: &'a BTreeSet<&'a str>,
}

/// Per-cluster reachability state of one node across iterations.
#[derive(Debug, Clone)]
pub struct ReachabilityGate {
    after: u32,
    broker_misses: HashMap<i32, u32>,
    group_misses: HashMap<String, u32>,
    blocked: BTreeSet<String>,
}

impl ReachabilityGate {
    /// Brokers and groups count after `after` (at least 1) iterations in a row.
    pub fn new(after: u32) -> Self {
        Self {
            after: after.max(1),
            broker_misses: HashMap::new(),
            group_misses: HashMap::new(),
            blocked: BTreeSet::new(),
        }
    }

    /// Brokers unreachable from this node for `after` iterations in a row.
    pub fn unreachable(&self) -> BTreeSet<i32> {
        self.broker_misses.iter().filter(|(_, n)| **n >= self.after).map(|(b, _)| *b).collect()
    }

    /// Groups this node gives up while a peer reaches what it cannot.
    pub fn blocked(&self) -> &BTreeSet<String> {
        &self.blocked
    }

    /// Records one iteration; `peers_unreachable` holds, for every peer on
    /// the cluster's ring, the brokers it published as unreachable. Returns
    /// true when what this node publishes (unreachable brokers or blocked
    /// groups) changed.
    pub fn record<'p>(
        &mut self,
        iteration: IterationReach<'_>,
        peers_unreachable: impl IntoIterator<Item = &'p BTreeSet<i32>>,
    ) -> bool {
        let before = (self.unreachable(), self.blocked.clone());
        self.broker_misses.retain(|b, _| iteration.unreachable_brokers.contains(b));
        for b in iteration.unreachable_brokers {
            let n = self.broker_misses.entry(*b).or_default();
            *n = n.saturating_add(1);
        }
        let owned: BTreeSet<&str> = iteration.owned.iter().copied().collect();
        self.group_misses.retain(|g, _| owned.contains(g.as_str()) && iteration.failing.contains(g.as_str()));
        for g in iteration.failing.iter().filter(|g| owned.contains(**g)) {
            let n = self.group_misses.entry((*g).to_owned()).or_default();
            *n = n.saturating_add(1);
        }
        let unreachable = self.unreachable();
        let a_peer_does_better =
            !unreachable.is_empty() && peers_unreachable.into_iter().any(|theirs| theirs.is_disjoint(&unreachable));
        if iteration.unreachable_brokers.is_empty() || !a_peer_does_better {
            self.blocked.clear();
        } else {
            let newly = self.group_misses.iter().filter(|(_, n)| **n >= self.after).map(|(g, _)| g.clone());
            for g in newly {
                if self.blocked.len() >= MAX_BLOCKED_GROUPS {
                    break;
                }
                self.blocked.insert(g);
            }
        }
        before != (unreachable, self.blocked.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[i32]) -> BTreeSet<i32> {
        ids.iter().copied().collect()
    }

    fn step(
        gate: &mut ReachabilityGate,
        down: &[i32],
        owned: &[&str],
        failing: &[&str],
        peers: &[BTreeSet<i32>],
    ) -> bool {
        let down = set(down);
        let failing: BTreeSet<&str> = failing.iter().copied().collect();
        gate.record(IterationReach { unreachable_brokers: &down, owned, failing: &failing }, peers)
    }

    #[test]
    fn failing_groups_are_blocked_after_the_streak_while_a_peer_reaches_the_broker() {
        let mut gate = ReachabilityGate::new(2);
        let peer_ok = [set(&[])];
        assert!(!step(&mut gate, &[1], &["a", "b", "c"], &["a", "b"], &peer_ok), "one failure is not a streak");
        assert!(gate.blocked().is_empty() && gate.unreachable().is_empty());
        assert!(step(&mut gate, &[1], &["a", "b", "c"], &["a"], &peer_ok));
        assert_eq!(gate.unreachable(), set(&[1]));
        assert_eq!(
            gate.blocked().iter().map(String::as_str).collect::<Vec<_>>(),
            vec!["a"],
            "b recovered, c never failed"
        );
        // Moved away: no longer owned, still blocked while the broker stays unreachable.
        assert!(!step(&mut gate, &[1], &["b", "c"], &[], &peer_ok));
        assert_eq!(gate.blocked().len(), 1);
        // The broker answers again: every block is lifted at once.
        assert!(step(&mut gate, &[], &["b", "c"], &[], &peer_ok));
        assert!(gate.blocked().is_empty() && gate.unreachable().is_empty());
    }

    #[test]
    fn nothing_is_blocked_when_no_peer_reaches_what_this_node_cannot() {
        let mut gate = ReachabilityGate::new(1);
        let peers_also_cut = [set(&[1]), set(&[1, 2])];
        assert!(step(&mut gate, &[1], &["a"], &["a"], &peers_also_cut), "the unreachable broker is published");
        assert_eq!(gate.unreachable(), set(&[1]));
        assert!(gate.blocked().is_empty(), "the broker is down for everyone: nothing churns");
        assert!(!step(&mut gate, &[1], &["a"], &["a"], &[]), "no peer at all: nothing churns");
        // A peer that reaches broker 1 appears: the group is blocked.
        assert!(step(&mut gate, &[1], &["a"], &["a"], &[set(&[2])]));
        assert_eq!(gate.blocked().len(), 1);
        // That peer is gone again: the block is lifted, the group comes back.
        assert!(step(&mut gate, &[1], &[], &[], &[]));
        assert!(gate.blocked().is_empty());
    }
}
