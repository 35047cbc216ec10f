//! When this node may claim leases at all.
//!
//! - **Epoch change.** When the store reports a new epoch (Redis restarted,
//!   failed over or flushed: leases may be gone), every lease of the old
//!   epoch was granted before the new epoch began and expires, in its
//!   holder's own view, at most `lease_ttl` later. So nobody claims until
//!   `lease_ttl + settle` after the new epoch began: old holders stop on
//!   their own clock, and by then every live node has heartbeated again
//!   (`settle` ≥ two heartbeats), so the ring is complete before anyone
//!   trusts it. A node that first sees an epoch (it just started) waits out
//!   what is left of that window by the epoch's age on the store clock.
//!   A claim the store refused because its epoch is not the one this node
//!   last saw (it lost data after that heartbeat) is the same news, learnt
//!   earlier: [`Fence::observe_refused_claim`] closes the fence just the same.
//! - **Duplicate node id.** While another live process heartbeats with this
//!   node's id, this process claims nothing and emits nothing.

use std::time::{Duration, Instant};

use crate::store::HeartbeatOutcome;

/// Node-wide claim permission.
#[derive(Debug, Clone)]
pub struct Fence {
    wait: Duration,
    epoch: Option<String>,
    blocked_until: Option<Instant>,
    duplicate_of: Option<String>,
}

/// What one heartbeat changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FenceEvent {
    /// A new epoch: claims wait until the given instant.
    NewEpoch { token: String, claims_from: Instant },
    /// Another live process uses this node id (its incarnation).
    Duplicate(String),
    /// The duplicate is gone.
    DuplicateCleared,
}

impl Fence {
    /// Claims wait `lease_ttl + settle` after an epoch begins.
    pub fn new(lease_ttl: Duration, settle: Duration) -> Self {
        Self { wait: lease_ttl + settle, epoch: None, blocked_until: None, duplicate_of: None }
    }

    /// Takes in one successful heartbeat observed at `now`.
    pub fn observe(&mut self, outcome: &HeartbeatOutcome, now: Instant) -> Vec<FenceEvent> {
        let epoch = &outcome.membership.epoch;
        let mut events: Vec<FenceEvent> = self.enter_epoch(&epoch.token, epoch.age, now).into_iter().collect();
        match (&self.duplicate_of, &outcome.duplicate_of) {
            (None, Some(other)) => events.push(FenceEvent::Duplicate(other.clone())),
            (Some(_), None) => events.push(FenceEvent::DuplicateCleared),
            _ => {}
        }
        self.duplicate_of.clone_from(&outcome.duplicate_of);
        events
    }

    /// Takes in a claim the store refused at `now` because its epoch is
    /// `token`, not the one this node sent: the store lost data since the
    /// last heartbeat. Waits the whole window, as for a change a heartbeat
    /// sees (nothing new when a heartbeat reported `token` already).
    pub fn observe_refused_claim(&mut self, token: &str, now: Instant) -> Option<FenceEvent> {
        // A refusal is a change even before any heartbeat: the whole window.
        self.epoch.get_or_insert_with(String::new);
        self.enter_epoch(token, Duration::ZERO, now)
    }

    /// Moves to epoch `token` (of age `age` on the store clock) unless it is
    /// the current one, closing the fence for what is left of its window.
    fn enter_epoch(&mut self, token: &str, age: Duration, now: Instant) -> Option<FenceEvent> {
        if self.epoch.as_deref() == Some(token) {
            return None;
        }
        let remaining = match self.epoch {
            // Seen change: everything held in the old epoch must expire.
            Some(_) => self.wait,
            // First sight: only what is left of the new epoch's window.
            None => self.wait.saturating_sub(age),
        };
        self.epoch = Some(token.to_owned());
        if remaining.is_zero() {
            return None;
        }
        let claims_from = now + remaining;
        self.blocked_until = Some(self.blocked_until.map_or(claims_from, |b| b.max(claims_from)));
        Some(FenceEvent::NewEpoch { token: token.to_owned(), claims_from })
    }

    /// True when this node may claim leases at `now`.
    pub fn claims_allowed(&self, now: Instant) -> bool {
        self.duplicate_of.is_none() && self.blocked_until.is_none_or(|until| now >= until)
    }

    /// The incarnation of the other live process with this node's id, if any.
    pub fn duplicate_of(&self) -> Option<&str> {
        self.duplicate_of.as_deref()
    }

    /// Until when claims wait for an epoch change, if they do at `now`.
    pub fn waiting_until(&self, now: Instant) -> Option<Instant> {
        self.blocked_until.filter(|until| *until > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Epoch, Membership};

    fn beat(token: &str, age_ms: u64, duplicate: Option<&str>) -> HeartbeatOutcome {
        let epoch = Epoch { token: token.to_owned(), age: Duration::from_millis(age_ms) };
        HeartbeatOutcome {
            membership: Membership { nodes: Vec::new(), epoch },
            duplicate_of: duplicate.map(str::to_owned),
        }
    }

    const TTL: Duration = Duration::from_secs(40);
    const SETTLE: Duration = Duration::from_secs(4);

    #[test]
    fn an_old_epoch_at_start_allows_claims_at_once() {
        let mut f = Fence::new(TTL, SETTLE);
        let now = Instant::now();
        assert!(f.observe(&beat("e1", 3_600_000, None), now).is_empty());
        assert!(f.claims_allowed(now));
    }

    #[test]
    fn a_young_epoch_at_start_waits_out_the_rest_of_its_window() {
        let mut f = Fence::new(TTL, SETTLE);
        let now = Instant::now();
        let events = f.observe(&beat("e1", 10_000, None), now);
        let claims_from = now + Duration::from_secs(34);
        assert_eq!(events, [FenceEvent::NewEpoch { token: "e1".into(), claims_from }]);
        assert!(!f.claims_allowed(claims_from - Duration::from_millis(1)));
        assert!(f.claims_allowed(claims_from));
    }

    #[test]
    fn an_epoch_change_waits_the_whole_window_whatever_its_age() {
        let mut f = Fence::new(TTL, SETTLE);
        let t0 = Instant::now();
        f.observe(&beat("e1", 3_600_000, None), t0);
        let t1 = t0 + Duration::from_secs(5);
        assert!(f.observe(&beat("e1", 3_605_000, None), t1).is_empty(), "same epoch: nothing happens");
        let t2 = t1 + Duration::from_secs(5);
        f.observe(&beat("e2", 2_000_000, None), t2);
        assert_eq!(f.waiting_until(t2), Some(t2 + TTL + SETTLE));
        assert!(!f.claims_allowed(t2 + TTL));
        assert!(f.claims_allowed(t2 + TTL + SETTLE));
    }

    #[test]
    fn a_claim_refused_for_a_new_epoch_closes_the_fence_once() {
        let mut f = Fence::new(TTL, SETTLE);
        let t0 = Instant::now();
        f.observe(&beat("e1", 3_600_000, None), t0);
        let t1 = t0 + Duration::from_secs(3);
        let event = f.observe_refused_claim("e2", t1);
        assert_eq!(event, Some(FenceEvent::NewEpoch { token: "e2".into(), claims_from: t1 + TTL + SETTLE }));
        assert!(!f.claims_allowed(t1 + TTL + SETTLE - Duration::from_millis(1)));
        let t2 = t1 + Duration::from_secs(2);
        assert!(f.observe(&beat("e2", 2_000, None), t2).is_empty(), "the next heartbeat brings no second wait");
        assert_eq!(f.observe_refused_claim("e2", t2), None);
        assert_eq!(f.waiting_until(t2), Some(t1 + TTL + SETTLE));
        assert!(f.claims_allowed(t1 + TTL + SETTLE));
    }

    #[test]
    fn a_duplicate_id_blocks_claims_until_it_is_gone() {
        let mut f = Fence::new(TTL, SETTLE);
        let now = Instant::now();
        f.observe(&beat("e1", 3_600_000, None), now);
        assert_eq!(f.observe(&beat("e1", 3_600_000, Some("abc")), now), [FenceEvent::Duplicate("abc".into())]);
        assert!(!f.claims_allowed(now));
        assert_eq!(f.duplicate_of(), Some("abc"));
        assert_eq!(f.observe(&beat("e1", 3_600_000, None), now), [FenceEvent::DuplicateCleared]);
        assert!(f.claims_allowed(now));
    }
}
