//! Who emitted which group in which slot, from a [`RecordingReceiver`]'s
//! record: the facts the fleet tests assert on (exclusive emission, gaps,
//! ownership moves).
//!
//! A slot is `timestamp_ms / interval_ms`: lagring stamps every sample with
//! the start of the wall-clock slot it was computed in, so one group has at
//! most one sample per slot per emitting node.
//!
//! [`RecordingReceiver`]: crate::receiver::RecordingReceiver

use std::collections::{BTreeMap, BTreeSet};

use crate::receiver::RecordedSample;

/// group → slot → nodes that emitted the group's marker series in that slot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Emissions {
    pub by_group: BTreeMap<String, BTreeMap<i64, Vec<String>>>,
}

impl Emissions {
    /// Collects samples of `metric` (one series per group) that are real
    /// values (staleness markers are skipped).
    pub fn collect(samples: &[RecordedSample], metric: &str, interval_ms: i64) -> Self {
        let mut by_group: BTreeMap<String, BTreeMap<i64, Vec<String>>> = BTreeMap::new();
        for s in samples {
            if s.series.name != metric || s.value.is_nan() {
                continue;
            }
            let Some(group) = s.series.labels.get("group") else { continue };
            let node = s.node.clone().unwrap_or_else(|| "?".to_owned());
            by_group.entry(group.clone()).or_default().entry(s.timestamp_ms / interval_ms).or_default().push(node);
        }
        Self { by_group }
    }

    /// (group, slot, nodes) where more than one sample arrived for one slot.
    pub fn duplicates(&self) -> Vec<(String, i64, Vec<String>)> {
        let mut out = Vec::new();
        for (g, slots) in &self.by_group {
            for (slot, nodes) in slots {
                if nodes.len() > 1 {
                    out.push((g.clone(), *slot, nodes.clone()));
                }
            }
        }
        out
    }

    /// Slots in `from..=to` in which `group` was not emitted.
    pub fn missing(&self, group: &str, from: i64, to: i64) -> Vec<i64> {
        let slots = self.by_group.get(group);
        (from..=to).filter(|s| slots.is_none_or(|m| !m.contains_key(s))).collect()
    }

    /// The longest run of consecutive missing slots of any group in `from..=to`.
    pub fn longest_gap(&self, groups: &[String], from: i64, to: i64) -> (usize, Option<String>) {
        let mut worst = (0, None);
        for g in groups {
            let missing = self.missing(g, from, to);
            let mut run = 0usize;
            let mut prev = None;
            for s in missing {
                run = if prev == Some(s - 1) { run + 1 } else { 1 };
                prev = Some(s);
                if run > worst.0 {
                    worst = (run, Some(g.clone()));
                }
            }
        }
        worst
    }

    /// The node that emitted `group` in `slot`, when exactly one did.
    pub fn owner_at(&self, group: &str, slot: i64) -> Option<&str> {
        match self.by_group.get(group)?.get(&slot)?.as_slice() {
            [one] => Some(one.as_str()),
            _ => None,
        }
    }

    /// group → owner in `slot` for every group with exactly one emitter.
    pub fn owners_at(&self, slot: i64) -> BTreeMap<String, String> {
        self.by_group.keys().filter_map(|g| self.owner_at(g, slot).map(|n| (g.clone(), n.to_owned()))).collect()
    }

    /// The first slot ≥ `from` in which every group of `groups` was emitted.
    pub fn first_complete_slot(&self, groups: &[String], from: i64) -> Option<i64> {
        let last = self.by_group.values().filter_map(|m| m.keys().next_back()).max().copied()?;
        (from..=last).find(|s| groups.iter().all(|g| self.by_group.get(g).is_some_and(|m| m.contains_key(s))))
    }

    /// The owners of a settled window: every group of `groups` emitted in
    /// each slot of `from..=upto`, by the same node throughout, and no
    /// (group, slot) emitted twice in the whole record. `None` otherwise.
    pub fn settled_owners(&self, groups: &[String], from: i64, upto: i64) -> Option<BTreeMap<String, String>> {
        let complete = (from..=upto).all(|s| groups.iter().all(|g| self.missing(g, s, s).is_empty()));
        let owners = self.owners_at(from);
        let settled = (from..=upto).all(|s| self.owners_at(s) == owners);
        (complete && settled && self.duplicates().is_empty()).then_some(owners)
    }

    /// Nodes seen emitting anything.
    pub fn nodes(&self) -> BTreeSet<String> {
        self.by_group.values().flat_map(|m| m.values().flatten().cloned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(rows: &[(&str, i64, &str)]) -> Emissions {
        let mut by_group: BTreeMap<String, BTreeMap<i64, Vec<String>>> = BTreeMap::new();
        for (g, slot, n) in rows {
            by_group.entry((*g).into()).or_default().entry(*slot).or_default().push((*n).into());
        }
        Emissions { by_group }
    }

    #[test]
    fn finds_duplicates_gaps_and_owners() {
        let em = e(&[("a", 1, "n1"), ("a", 2, "n1"), ("a", 5, "n2"), ("b", 1, "n2"), ("b", 2, "n2"), ("b", 2, "n3")]);
        assert_eq!(em.duplicates(), vec![("b".to_owned(), 2, vec!["n2".to_owned(), "n3".to_owned()])]);
        assert_eq!(em.missing("a", 1, 5), vec![3, 4]);
        assert_eq!(em.longest_gap(&["a".into(), "b".into()], 1, 2), (0, None));
        assert_eq!(em.longest_gap(&["a".into()], 1, 5), (2, Some("a".into())));
        assert_eq!(em.owner_at("a", 5), Some("n2"));
        assert_eq!(em.owner_at("b", 2), None);
        assert_eq!(em.first_complete_slot(&["a".into(), "b".into()], 0), Some(1));
        assert_eq!(em.nodes().len(), 3);
    }
}
