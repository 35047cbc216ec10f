//! Faults a test switches at run time, while clients are connected: a broker that stops
//! answering (requests are held, not refused, until it is switched back), a group whose
//! coordinator moves to another broker (the old one then answers NOT_COORDINATOR for it, as
//! Kafka does after a coordinator change), a partition whose leadership moves to another
//! broker (the old leader then answers NOT_LEADER_OR_FOLLOWER, Metadata names the new one), and
//! API versions capped below what the simulator
//! implements (to act as an older broker). Scenario faults are fixed by scenario time; these are
//! not, so a test can say "from now on" without moving the clock that drives the offsets.
//!
//! Locks are `std` ones held only to read or write a small map, never across an `.await`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};

use kafka_protocol::messages::ApiKey;

/// Run-time switches shared by every connection task.
#[derive(Debug, Default)]
pub struct Controls {
    silenced: Vec<AtomicBool>,
    moved: RwLock<HashMap<String, i32>>,
    /// Set once any coordinator moved, so the common path skips the map.
    any_moved: AtomicBool,
    version_caps: RwLock<HashMap<i16, i16>>,
    /// (topic, partition) → new leader.
    leaders: RwLock<HashMap<(String, i32), i32>>,
    any_leader_moved: AtomicBool,
}

impl Controls {
    pub fn new(brokers: u32) -> Self {
        Controls { silenced: (0..brokers).map(|_| AtomicBool::new(false)).collect(), ..Default::default() }
    }

    /// Whether `broker` holds every request unanswered.
    pub fn is_silenced(&self, broker: i32) -> bool {
        usize::try_from(broker).ok().and_then(|b| self.silenced.get(b)).is_some_and(|s| s.load(Ordering::SeqCst))
    }

    pub fn set_silenced(&self, broker: i32, silenced: bool) {
        if let Some(s) = usize::try_from(broker).ok().and_then(|b| self.silenced.get(b)) {
            s.store(silenced, Ordering::SeqCst);
        }
    }

    /// The broker a coordinator key was moved to, if it was.
    pub fn moved_coordinator(&self, key: &str) -> Option<i32> {
        if !self.any_moved.load(Ordering::SeqCst) {
            return None;
        }
        self.moved.read().unwrap_or_else(PoisonError::into_inner).get(key).copied()
    }

    pub fn move_coordinator(&self, key: &str, broker: i32) {
        self.moved.write().unwrap_or_else(PoisonError::into_inner).insert(key.to_string(), broker);
        self.any_moved.store(true, Ordering::SeqCst);
    }

    /// The broker a partition's leadership was moved to, if it was.
    pub fn moved_leader(&self, topic: &str, partition: i32) -> Option<i32> {
        if !self.any_leader_moved.load(Ordering::SeqCst) {
            return None;
        }
        self.leaders.read().unwrap_or_else(PoisonError::into_inner).get(&(topic.to_owned(), partition)).copied()
    }

    pub fn move_leader(&self, topic: &str, partition: i32, broker: i32) {
        self.leaders.write().unwrap_or_else(PoisonError::into_inner).insert((topic.to_owned(), partition), broker);
        self.any_leader_moved.store(true, Ordering::SeqCst);
    }

    /// Highest version served of `api`: the implemented maximum, or lower if capped.
    pub fn max_version(&self, api: ApiKey, implemented: i16) -> i16 {
        let caps = self.version_caps.read().unwrap_or_else(PoisonError::into_inner);
        caps.get(&(api as i16)).map_or(implemented, |cap| implemented.min(*cap))
    }

    pub fn cap_version(&self, api: ApiKey, max: i16) {
        self.version_caps.write().unwrap_or_else(PoisonError::into_inner).insert(api as i16, max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_apply_until_switched_back() {
        let c = Controls::new(2);
        assert!(!c.is_silenced(1));
        c.set_silenced(1, true);
        assert!(c.is_silenced(1) && !c.is_silenced(0) && !c.is_silenced(7));
        c.set_silenced(1, false);
        assert!(!c.is_silenced(1));
        assert_eq!(c.moved_coordinator("g"), None);
        c.move_coordinator("g", 1);
        assert_eq!(c.moved_coordinator("g"), Some(1));
        assert_eq!(c.max_version(ApiKey::OffsetFetch, 9), 9);
        c.cap_version(ApiKey::OffsetFetch, 7);
        assert_eq!(c.max_version(ApiKey::OffsetFetch, 9), 7);
        assert_eq!(c.max_version(ApiKey::ListGroups, 5), 5);
        assert_eq!(c.moved_leader("t", 0), None);
        c.move_leader("t", 0, 2);
        assert_eq!((c.moved_leader("t", 0), c.moved_leader("t", 1)), (Some(2), None));
    }
}
