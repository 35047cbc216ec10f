//! [`OwnershipTracker`]: from live set and candidate groups to "keys this node
//! may emit now".
//!
//! A key is emitted only when the ring (core's `Ring` over the live set)
//! assigns it to this node AND this node holds its lease. Keys the ring moved
//! away are dropped locally first (so they stop being emitted at once) and
//! then released, so the new owner can claim them on its next round.
//!
//! Redis outage (DESIGN §2): a failed heartbeat keeps the last ring; a failed
//! claim keeps the leases already granted. Each lease is remembered with the
//! instant the claim was *sent* plus the ttl, by this node's own monotonic
//! clock; the server set its expiry no earlier, so this node stops emitting
//! no later than Redis frees the key. The tracker reports degraded until both
//! calls succeed again. Lease ttl must exceed the interval between syncs.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lagring_core::ownership::{DEFAULT_VNODES, Ring};

use crate::clock::Clock;
use crate::store::{CoordinationStore, Membership};

/// What one lease sync decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Keys this node may fetch and emit now, in candidate order.
    pub emit: Vec<String>,
    /// Keys emittable now that were not after the previous sync.
    pub gained: usize,
    /// Keys emittable after the previous sync that are not now.
    pub lost: usize,
    /// Keys the ring assigns here whose lease another node still holds.
    pub waiting: usize,
    /// True when the last heartbeat or lease call failed.
    pub degraded: bool,
}

/// Per-node ownership state across iterations.
#[derive(Debug)]
pub struct OwnershipTracker {
    node_id: String,
    vnodes: u32,
    lease_ttl: Duration,
    clock: Arc<dyn Clock>,
    ring: Option<Ring>,
    /// Lease valid-until by this node's clock, per held key.
    leases: HashMap<String, Instant>,
    emitting: HashSet<String>,
    membership_failed: bool,
    leases_failed: bool,
}

impl OwnershipTracker {
    /// A tracker for `node_id` whose leases last `lease_ttl`.
    pub fn new(node_id: impl Into<String>, lease_ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            node_id: node_id.into(),
            vnodes: DEFAULT_VNODES,
            lease_ttl,
            clock,
            ring: None,
            leases: HashMap::new(),
            emitting: HashSet::new(),
            membership_failed: false,
            leases_failed: false,
        }
    }

    /// Overrides the virtual nodes per node (default 128).
    pub fn with_vnodes(mut self, vnodes: u32) -> Self {
        self.vnodes = vnodes;
        self
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// The last ring built from a successful heartbeat.
    pub fn ring(&self) -> Option<&Ring> {
        self.ring.as_ref()
    }

    /// True while the last heartbeat or lease call failed.
    pub fn degraded(&self) -> bool {
        self.membership_failed || self.leases_failed
    }

    /// Leases still valid by this node's clock (the owned-group count).
    pub fn held_leases(&self) -> usize {
        let now = self.clock.now();
        self.leases.values().filter(|until| **until > now).count()
    }

    /// Heartbeats (reporting the owned count) and rebuilds the ring from the
    /// live set; on error keeps the last ring and turns degraded.
    pub async fn heartbeat(&mut self, store: &dyn CoordinationStore, node_ttl: Duration) -> Option<Membership> {
        let owned = u64::try_from(self.held_leases()).unwrap_or(u64::MAX);
        match store.heartbeat(&self.node_id, node_ttl, owned).await {
            Ok(membership) => {
                self.observe_membership(&membership);
                Some(membership)
            }
            Err(error) => {
                if !self.membership_failed {
                    tracing::warn!(node = %self.node_id, %error, "heartbeat failed, keeping the last ring");
                }
                self.membership_failed = true;
                None
            }
        }
    }

    /// Rebuilds the ring from a live set obtained elsewhere.
    pub fn observe_membership(&mut self, membership: &Membership) {
        if self.membership_failed {
            tracing::info!(node = %self.node_id, nodes = membership.nodes.len(), "heartbeat recovered");
        }
        self.membership_failed = false;
        self.ring = Some(Ring::with_vnodes(membership.ids(), self.vnodes));
    }

    /// Candidates the current ring assigns to this node, in candidate order.
    pub fn assigned(&self, candidates: &[String]) -> Vec<String> {
        let Some(ring) = &self.ring else { return Vec::new() };
        candidates.iter().filter(|k| ring.owner_of_key(k) == Some(self.node_id.as_str())).cloned().collect()
    }

    /// Releases leases the ring moved away, claims/renews the assigned keys
    /// (one batched call each) and returns the keys to emit this iteration.
    pub async fn sync_leases(&mut self, store: &dyn CoordinationStore, candidates: &[String]) -> SyncReport {
        let assigned = self.assigned(candidates);
        let assigned_set: HashSet<&str> = assigned.iter().map(String::as_str).collect();
        let moved_away: Vec<String> =
            self.leases.keys().filter(|k| !assigned_set.contains(k.as_str())).cloned().collect();
        for key in &moved_away {
            self.leases.remove(key);
        }
        let mut ok = true;
        if !moved_away.is_empty()
            && let Err(error) = store.release_leases(&self.node_id, &moved_away).await
        {
            tracing::warn!(node = %self.node_id, keys = moved_away.len(), %error, "lease release failed, they expire by ttl");
            ok = false;
        }
        let sent_at = self.clock.now();
        let mut waiting = 0;
        match store.claim_leases(&self.node_id, &assigned, self.lease_ttl).await {
            Ok(outcome) => {
                for key in outcome.held {
                    self.leases.insert(key, sent_at + self.lease_ttl);
                }
                waiting = outcome.held_by_others.len();
                for (key, _) in &outcome.held_by_others {
                    self.leases.remove(key);
                }
            }
            Err(error) => {
                if !self.leases_failed {
                    tracing::warn!(node = %self.node_id, %error, "lease claim failed, emitting unexpired leases only");
                }
                ok = false;
            }
        }
        if ok && self.leases_failed {
            tracing::info!(node = %self.node_id, "lease calls recovered");
        }
        self.leases_failed = !ok;
        self.report(&assigned, waiting)
    }

    fn report(&mut self, assigned: &[String], waiting: usize) -> SyncReport {
        let now = self.clock.now();
        self.leases.retain(|_, until| *until > now);
        let emit: Vec<String> = assigned.iter().filter(|k| self.leases.contains_key(*k)).cloned().collect();
        let now_emitting: HashSet<String> = emit.iter().cloned().collect();
        let gained = now_emitting.difference(&self.emitting).count();
        let lost = self.emitting.difference(&now_emitting).count();
        if gained > 0 || lost > 0 {
            tracing::info!(node = %self.node_id, gained, lost, owned = emit.len(), "ownership changed");
        }
        self.emitting = now_emitting;
        SyncReport { emit, gained, lost, waiting, degraded: self.degraded() }
    }

    /// Graceful shutdown: releases every lease and leaves the live set, so
    /// peers take over at once instead of after the ttl.
    pub async fn shutdown(&mut self, store: &dyn CoordinationStore) {
        let held: BTreeSet<String> = self.leases.drain().map(|(k, _)| k).collect();
        let held: Vec<String> = held.into_iter().collect();
        self.emitting.clear();
        if let Err(error) = store.release_leases(&self.node_id, &held).await {
            tracing::warn!(node = %self.node_id, %error, "lease release on shutdown failed");
        }
        if let Err(error) = store.deregister(&self.node_id).await {
            tracing::warn!(node = %self.node_id, %error, "deregister on shutdown failed");
        }
    }
}

#[cfg(test)]
#[path = "tracker_tests.rs"]
mod tests;
