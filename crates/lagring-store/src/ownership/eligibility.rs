//! Which nodes may own a cluster's groups at all: the cluster's placement
//! (`clusters[].placement` in the config).
//!
//! Consistent hashing alone spreads every cluster over every node. A fleet
//! that spans regions or networks needs more: measure a cluster from nodes
//! near it (affinity on node labels such as `region`), or from an explicit
//! list of node ids (static assignment). Eligibility narrows the ring's
//! candidates *first*; the usual rules (joined, not leaving, delivering,
//! reachability per group) then apply within the eligible nodes. When no
//! eligible node is a candidate, [`Fallback`] decides: the rest of the fleet
//! takes the groups until an eligible node is back (`any`), or they stay
//! unmeasured and every node says so (`none`).

use std::collections::{BTreeMap, BTreeSet};

/// What happens when no eligible node can own a cluster's groups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Fallback {
    /// Every other candidate node takes them until an eligible node returns.
    #[default]
    Any,
    /// Nobody does: the cluster is unmeasured (and reported) meanwhile.
    None,
}

/// The placement of one cluster: which nodes are eligible for its ring.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// Label selector: an eligible node has every one of these labels with
    /// exactly this value. Empty: no label constraint.
    pub affinity: BTreeMap<String, String>,
    /// `Some(ids)`: only these node ids are eligible.
    pub nodes: Option<BTreeSet<String>>,
    /// Without an eligible candidate.
    pub fallback: Fallback,
}

/// How a cluster's ring was chosen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RingChoice {
    /// The eligible candidates (every candidate without a placement).
    #[default]
    Eligible,
    /// No eligible candidate: the rest of the fleet (`fallback: any`).
    Fallback,
    /// No eligible candidate and `fallback: none`: nobody owns the cluster.
    Unplaced,
}

impl Placement {
    /// True when every node is eligible (no affinity, no static list).
    pub fn is_everyone(&self) -> bool {
        self.affinity.is_empty() && self.nodes.is_none()
    }

    /// True when node `id` with `labels` is eligible.
    pub fn admits(&self, id: &str, labels: &BTreeMap<String, String>) -> bool {
        let listed = self.nodes.as_ref().is_none_or(|ids| ids.contains(id));
        listed && self.affinity.iter().all(|(k, v)| labels.get(k) == Some(v))
    }

    /// Narrows `candidates` (with their labels) to the ring's members, and
    /// says how. Keeps the candidates' order.
    pub fn choose<T>(
        &self,
        candidates: Vec<T>,
        id_labels: impl Fn(&T) -> (&str, &BTreeMap<String, String>),
    ) -> (Vec<T>, RingChoice) {
        if self.is_everyone() {
            return (candidates, RingChoice::Eligible);
        }
        let any_eligible = candidates.iter().any(|c| {
            let (id, labels) = id_labels(c);
            self.admits(id, labels)
        });
        if any_eligible {
            let eligible = candidates
                .into_iter()
                .filter(|c| {
                    let (id, labels) = id_labels(c);
                    self.admits(id, labels)
                })
                .collect();
            return (eligible, RingChoice::Eligible);
        }
        match self.fallback {
            Fallback::Any => (candidates, RingChoice::Fallback),
            Fallback::None => (Vec::new(), RingChoice::Unplaced),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn affinity_needs_every_selector_label_and_static_needs_the_id() {
        let eu = Placement { affinity: labels(&[("region", "eu")]), ..Placement::default() };
        assert!(eu.admits("a", &labels(&[("region", "eu"), ("zone", "eu-1a")])));
        assert!(!eu.admits("a", &labels(&[("region", "us")])));
        assert!(!eu.admits("a", &labels(&[])));
        let both = Placement {
            affinity: labels(&[("region", "eu")]),
            nodes: Some(["a".to_owned()].into()),
            fallback: Fallback::None,
        };
        assert!(both.admits("a", &labels(&[("region", "eu")])));
        assert!(!both.admits("b", &labels(&[("region", "eu")])), "not listed");
        assert!(!both.admits("a", &labels(&[("region", "us")])), "listed but the wrong region");
        assert!(Placement::default().admits("any", &labels(&[])));
    }

    /// A candidate node: id and labels.
    type Candidate = (String, BTreeMap<String, String>);

    fn id_labels(c: &Candidate) -> (&str, &BTreeMap<String, String>) {
        (c.0.as_str(), &c.1)
    }

    #[test]
    fn without_an_eligible_candidate_the_fallback_decides() {
        let node = |id: &str, region: &str| (id.to_owned(), labels(&[("region", region)]));
        let ids = |(members, choice): (Vec<Candidate>, RingChoice)| {
            (members.into_iter().map(|m| m.0).collect::<Vec<_>>(), choice)
        };
        let any = Placement { affinity: labels(&[("region", "eu")]), ..Placement::default() };
        let mixed = vec![node("a", "eu"), node("b", "us"), node("c", "eu")];
        assert_eq!(ids(any.choose(mixed, id_labels)), (vec!["a".to_owned(), "c".to_owned()], RingChoice::Eligible));
        let us_only = || vec![node("b", "us"), node("d", "us")];
        assert_eq!(ids(any.choose(us_only(), id_labels)), (vec!["b".to_owned(), "d".to_owned()], RingChoice::Fallback));
        let none = Placement { fallback: Fallback::None, ..any.clone() };
        assert_eq!(ids(none.choose(us_only(), id_labels)), (vec![], RingChoice::Unplaced));
        let everyone = Placement::default().choose(us_only(), id_labels);
        assert_eq!(ids(everyone).1, RingChoice::Eligible, "no placement: everyone");
    }
}
