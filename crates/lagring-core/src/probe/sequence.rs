//! Per-partition sequence tracking. The producer numbers each partition's
//! records 0, 1, 2, … and a partition's log keeps them in order, so the
//! consumer expects each sequence once and in order:
//! - the expected one: in order;
//! - a later one: the skipped ones are missing. A missing sequence is
//!   *lost* once it falls more than the reorder window behind the highest
//!   sequence seen (window 0: at once); arriving before that, it is
//!   *reordered*, not lost;
//! - an earlier one that is not missing: seen again, a *duplicate*.
//!
//! The pending set holds at most `reorder_window` sequences, whatever
//! sequence a foreign record claims. The tracker is plain data (serde), so a
//! new owner resumes it exactly.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// How one sequence was classified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// The first sequence this tracker saw (it sets the baseline).
    First,
    InOrder,
    /// Later than expected: the skipped ones are missing (lost, or pending).
    Ahead,
    /// A missing sequence that arrived within the reorder window.
    Reordered,
    /// Seen before (or older than anything still pending).
    Duplicate,
}

/// The outcome of observing one sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observed {
    pub arrival: Arrival,
    /// Sequences declared lost by this observation.
    pub newly_lost: u64,
}

/// Sequence state of one partition.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceTracker {
    /// The next sequence expected; `None` before the first record.
    next: Option<u64>,
    /// Skipped sequences still within the reorder window.
    pending: BTreeSet<u64>,
}

impl SequenceTracker {
    /// A tracker that expects `next` first (a resumed producer's next sequence).
    pub fn expecting(next: u64) -> Self {
        Self { next: Some(next), pending: BTreeSet::new() }
    }

    /// The next sequence expected, if any was seen.
    pub fn next_expected(&self) -> Option<u64> {
        self.next
    }

    /// Skipped sequences not yet declared lost.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Classifies `seq`; `reorder_window` is how far behind the highest
    /// sequence seen a missing one may still arrive without counting lost.
    pub fn observe(&mut self, seq: u64, reorder_window: u64) -> Observed {
        let Some(next) = self.next else {
            self.next = Some(seq.saturating_add(1));
            return Observed { arrival: Arrival::First, newly_lost: 0 };
        };
        let (arrival, mut newly_lost) = if seq == next {
            self.next = Some(next.saturating_add(1));
            (Arrival::InOrder, 0)
        } else if seq > next {
            // Only the last `reorder_window` skipped sequences can still arrive in time.
            let first_pending = next.max(seq.saturating_sub(reorder_window));
            self.pending.extend(first_pending..seq);
            self.next = Some(seq.saturating_add(1));
            (Arrival::Ahead, first_pending - next)
        } else if self.pending.remove(&seq) {
            (Arrival::Reordered, 0)
        } else {
            (Arrival::Duplicate, 0)
        };
        newly_lost += self.expire(reorder_window);
        Observed { arrival, newly_lost }
    }

    /// Declares lost the pending sequences more than `reorder_window` behind
    /// the highest seen; returns how many.
    fn expire(&mut self, reorder_window: u64) -> u64 {
        let Some(highest) = self.next.map(|n| n.saturating_sub(1)) else { return 0 };
        let keep_from = highest.saturating_sub(reorder_window);
        let kept = self.pending.split_off(&keep_from);
        let lost = self.pending.len() as u64;
        self.pending = kept;
        lost
    }
}

#[cfg(test)]
#[path = "sequence_tests.rs"]
mod tests;
