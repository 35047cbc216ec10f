//! When this node is on a cluster's ring: only while it can complete that
//! cluster's iterations.
//!
//! A node joins a cluster's ring after its first successful iteration of it
//! (so a newcomer that cannot reach the cluster never takes groups it cannot
//! emit — peers keep them until it is ready), and leaves after
//! `leave_after` consecutive failed iterations (so one slow iteration does not
//! move groups around). A failure streak that ends rejoins at once.

/// Per-cluster join/leave decision of this node.
#[derive(Debug, Clone)]
pub struct ClusterHealthGate {
    leave_after: u32,
    failures: u32,
    joined: bool,
}

/// A change of ring membership decided by one iteration's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateChange {
    Joined,
    Left,
}

impl ClusterHealthGate {
    /// Not joined yet; leaves after `leave_after` (at least 1) consecutive failures.
    pub fn new(leave_after: u32) -> Self {
        Self { leave_after: leave_after.max(1), failures: 0, joined: false }
    }

    /// True while this node is on the cluster's ring.
    pub fn joined(&self) -> bool {
        self.joined
    }

    /// Consecutive failed iterations.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records one iteration's outcome; returns the change it caused.
    pub fn record(&mut self, success: bool) -> Option<GateChange> {
        if success {
            self.failures = 0;
            let change = (!self.joined).then_some(GateChange::Joined);
            self.joined = true;
            return change;
        }
        self.failures = self.failures.saturating_add(1);
        if self.joined && self.failures >= self.leave_after {
            self.joined = false;
            return Some(GateChange::Left);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_on_first_success_leaves_after_the_streak_and_rejoins() {
        let mut gate = ClusterHealthGate::new(3);
        assert!(!gate.joined());
        assert_eq!(gate.record(false), None, "never joined: nothing to leave");
        assert_eq!(gate.record(true), Some(GateChange::Joined));
        assert_eq!(gate.record(false), None);
        assert_eq!(gate.record(false), None);
        assert_eq!(gate.record(true), None, "a streak of 2 < 3 does not leave");
        assert_eq!((gate.record(false), gate.record(false), gate.record(false)), (None, None, Some(GateChange::Left)));
        assert_eq!((gate.joined(), gate.failures()), (false, 3));
        assert_eq!(gate.record(false), None);
        assert_eq!(gate.record(true), Some(GateChange::Joined));
    }
}
