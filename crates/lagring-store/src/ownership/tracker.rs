//! [`ClusterOwnership`]: the lease bookkeeping of one cluster on one node.
//!
//! Each iteration (slot `s`), [`ClusterOwnership::sync`]:
//! 1. builds the cluster's ring (see `ring_view`) and the keys it assigns here;
//! 2. releases at once the keys it holds that it can no longer emit (the
//!    group is gone, or this node is off the ring because it cannot reach the
//!    cluster);
//! 3. claims — for slot `s`, in the store epoch of the last heartbeat — the
//!    assigned keys plus the keys that are moving to another node (it still
//!    holds those and emits them one last time); a claim the store refuses
//!    because its epoch changed claims nothing and is reported
//!    ([`SyncReport::epoch_changed`]) for the node to close its fence;
//! 4. returns the keys to fetch and emit: held and valid by this node's own
//!    monotonic clock (claim sent + lease ttl, never later than the store's
//!    own expiry).
//!
//! The ring holds only the nodes the cluster's placement admits (see
//! `eligibility`); without one, its fallback decides.
//!
//! After the slot's fetch, [`ClusterOwnership::finish_slot`] hands the moving
//! keys over *after* `s` to the node this node's ring names for each, so
//! that node (and only it) claims them for `s + 1`: a
//! planned move (join, leave, rolling restart) neither misses nor doubles a
//! slot. A store outage keeps the last ring and the leases still valid; lease
//! ttl must exceed the interval so they survive one failed claim.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lagring_core::ownership::DEFAULT_VNODES;

use super::eligibility::{Placement, RingChoice};
use super::key_placement::KeyPlacement;
use super::ring_view::SelfState;
use crate::StoreError;
use crate::clock::Clock;
use crate::store::{CoordinationStore, HandOver, Membership, NodeIdentity};

/// What the node as a whole contributes to one cluster's sync.
#[derive(Debug, Clone, Copy)]
pub struct NodeView<'a> {
    /// The last live set (kept through store outages); `None` before the
    /// first successful heartbeat.
    pub membership: Option<&'a Membership>,
    /// This node's own state for this cluster.
    pub me: SelfState,
    /// False while the fence forbids claims (epoch change, duplicate id).
    pub claims_allowed: bool,
}

/// What one sync decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Keys to fetch and emit this slot, in candidate order.
    pub emit: Vec<String>,
    /// Of `emit`, the keys emitted here for the last time (moving away).
    pub moving: usize,
    /// Keys emittable now that were not after the previous sync.
    pub gained: usize,
    /// Keys emittable after the previous sync that are not now.
    pub lost: usize,
    /// Keys the ring assigns here whose lease another node still holds.
    pub waiting: usize,
    /// True when the last lease call failed.
    pub degraded: bool,
    /// `Some(the store's epoch)` when the store refused the claim because its
    /// epoch is not the one of the last heartbeat: nothing was claimed or
    /// renewed, and the node must wait out the old leases (close its fence).
    pub epoch_changed: Option<String>,
    /// How the cluster's placement chose the ring this sync (`Unplaced`:
    /// no eligible node and `fallback: none`, so nobody owns the cluster).
    pub ring: RingChoice,
}

/// Per-cluster ownership state of one node across iterations.
#[derive(Debug)]
pub struct ClusterOwnership {
    node: NodeIdentity,
    cluster: String,
    vnodes: u32,
    placement: Placement,
    lease_ttl: Duration,
    clock: Arc<dyn Clock>,
    /// Held leases, valid until this instant by this node's clock.
    leases: HashMap<String, Instant>,
    /// Emitted this slot for the last time; handed over by `finish_slot`.
    moving: Vec<HandOver>,
    emitting: HashSet<String>,
    failed: bool,
}

impl ClusterOwnership {
    /// Ownership of `cluster` for `node`, whose leases last `lease_ttl`.
    pub fn new(node: NodeIdentity, cluster: impl Into<String>, lease_ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            node,
            cluster: cluster.into(),
            vnodes: DEFAULT_VNODES,
            placement: Placement::default(),
            lease_ttl,
            clock,
            leases: HashMap::new(),
            moving: Vec::new(),
            emitting: HashSet::new(),
            failed: false,
        }
    }

    /// Overrides the virtual nodes per node (default 128).
    pub fn with_vnodes(mut self, vnodes: u32) -> Self {
        self.vnodes = vnodes;
        self
    }

    /// Restricts the cluster's ring to the nodes `placement` admits.
    pub fn with_placement(mut self, placement: Placement) -> Self {
        self.placement = placement;
        self
    }

    /// The placement of this cluster's keys as `view` shows it (`None`
    /// before the first heartbeat).
    pub fn key_placement(&self, view: NodeView<'_>) -> Option<KeyPlacement> {
        let membership = view.membership?;
        Some(KeyPlacement::placed(membership, &self.cluster, &self.node.id, view.me, self.vnodes, &self.placement))
    }

    /// The node that should own `key` of this cluster as `view` shows it.
    pub fn owner_of_key(&self, view: NodeView<'_>, key: &str) -> Option<String> {
        self.key_placement(view)?.owner_of_key(key).map(str::to_owned)
    }

    /// The cluster this tracks.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// Leases still valid by this node's clock.
    pub fn held_leases(&self) -> usize {
        let now = self.clock.now();
        self.leases.values().filter(|until| **until > now).count()
    }

    /// Claims, releases and decides what to emit for `slot` (see module docs).
    pub async fn sync(
        &mut self,
        store: &dyn CoordinationStore,
        view: NodeView<'_>,
        candidates: &[String],
        slot: u64,
    ) -> SyncReport {
        self.expire();
        let placement = self.key_placement(view);
        let ring = placement.as_ref().map(KeyPlacement::choice).unwrap_or_default();
        let owner_of = |key: &str| placement.as_ref().and_then(|p| p.owner_of_key(key));
        let me = self.node.id.as_str();
        let assigned: HashSet<&str> =
            candidates.iter().map(String::as_str).filter(|k| owner_of(k) == Some(me)).collect();
        let candidate_set: HashSet<&str> = candidates.iter().map(String::as_str).collect();
        let (moving, gone): (Vec<String>, Vec<String>) = self
            .leases
            .keys()
            .filter(|k| !assigned.contains(k.as_str()))
            .cloned()
            .partition(|k| view.me.joined && candidate_set.contains(k.as_str()));
        let moving: Vec<HandOver> =
            moving.into_iter().map(|key| HandOver { successor: owner_of(&key).map(str::to_owned), key }).collect();
        let mut ok = self.release(store, gone).await;

        let moving_set: HashSet<&str> = moving.iter().map(|h| h.key.as_str()).collect();
        let wanted: Vec<String> = candidates
            .iter()
            .filter(|k| assigned.contains(k.as_str()) || moving_set.contains(k.as_str()))
            .cloned()
            .collect();
        let (mut waiting, mut epoch_changed) = (0, None);
        // The epoch of the last heartbeat; none yet means no ring, so nothing is wanted.
        let epoch = view.membership.map(|m| m.epoch.token.as_str());
        if let Some(epoch) = epoch.filter(|_| view.claims_allowed && !wanted.is_empty()) {
            match self.claim(store, &wanted, &assigned, slot, epoch).await {
                Ok(claimed) => (waiting, epoch_changed) = claimed,
                Err(error) => {
                    if !self.failed {
                        tracing::warn!(cluster = %self.cluster, %error, "lease claim failed, emitting unexpired leases only");
                    }
                    ok = false;
                }
            }
        }
        if ok && self.failed {
            tracing::info!(cluster = %self.cluster, "lease calls recovered");
        }
        self.failed = !ok;
        self.expire();
        self.moving = moving.into_iter().filter(|h| self.leases.contains_key(&h.key)).collect();
        let emit: Vec<String> = wanted.into_iter().filter(|k| self.leases.contains_key(k)).collect();
        let mut report = self.report(emit, waiting);
        report.epoch_changed = epoch_changed;
        report.ring = ring;
        report
    }

    /// Claims `wanted` for `slot` in store epoch `epoch` and records what is
    /// held now. Returns how many `assigned` keys another node still holds, and
    /// the store's epoch when it refused the claim for being another one.
    async fn claim(
        &mut self,
        store: &dyn CoordinationStore,
        wanted: &[String],
        assigned: &HashSet<&str>,
        slot: u64,
        epoch: &str,
    ) -> Result<(usize, Option<String>), StoreError> {
        let sent_at = self.clock.now();
        let outcome = store.claim_leases(&self.node, wanted, self.lease_ttl, slot, epoch).await?;
        for key in outcome.held {
            self.leases.insert(key, sent_at + self.lease_ttl);
        }
        let mut waiting = 0;
        for (key, _) in &outcome.held_by_others {
            self.leases.remove(key);
            waiting += usize::from(assigned.contains(key.as_str()));
        }
        if let Some(current) = &outcome.epoch_changed {
            tracing::info!(cluster = %self.cluster, seen = %epoch, %current, "lease claim refused: the store lost data since the last heartbeat, emitting unexpired leases only");
        }
        Ok((waiting, outcome.epoch_changed))
    }

    /// Hands the keys emitted for the last time in `slot` over to their new
    /// owners (as this node's ring names them), who may claim them from
    /// `slot + 1`. Call after the slot's fetch.
    pub async fn finish_slot(&mut self, store: &dyn CoordinationStore, slot: u64) {
        let moving = std::mem::take(&mut self.moving);
        if moving.is_empty() {
            return;
        }
        for HandOver { key, .. } in &moving {
            self.leases.remove(key);
            self.emitting.remove(key);
        }
        match store.hand_over_leases(&self.node, &moving, slot).await {
            Ok(marked) => {
                tracing::debug!(cluster = %self.cluster, keys = moving.len(), marked, slot, "handed leases over")
            }
            Err(error) => {
                tracing::warn!(cluster = %self.cluster, keys = moving.len(), %error, "lease hand-over failed, they expire by ttl");
            }
        }
    }

    /// Hands every lease held over after `slot` to no node in particular: a
    /// restart (see `restart_hold`), where the next process with this id —
    /// or, once its grace is over, whoever the rings name — claims them from
    /// `slot + 1`. Call after the slot's fetch and `finish_slot`.
    pub async fn hand_over_all(&mut self, store: &dyn CoordinationStore, slot: u64) {
        self.expire();
        self.moving.clear();
        self.emitting.clear();
        let all: Vec<HandOver> = self.leases.drain().map(|(key, _)| HandOver { key, successor: None }).collect();
        if all.is_empty() {
            return;
        }
        match store.hand_over_leases(&self.node, &all, slot).await {
            Ok(marked) => {
                tracing::info!(cluster = %self.cluster, keys = all.len(), marked, slot, "handed every lease over for a restart")
            }
            Err(error) => {
                tracing::warn!(cluster = %self.cluster, keys = all.len(), %error, "lease hand-over failed, they expire by ttl");
            }
        }
    }

    /// Releases every lease of this cluster (shutdown without hand-over, or
    /// after it).
    pub async fn release_all(&mut self, store: &dyn CoordinationStore) {
        self.moving.clear();
        self.emitting.clear();
        let held: Vec<String> = self.leases.drain().map(|(k, _)| k).collect();
        self.release(store, held).await;
    }

    /// Releases `keys` (dropping them locally first); false if the call failed.
    async fn release(&mut self, store: &dyn CoordinationStore, keys: Vec<String>) -> bool {
        if keys.is_empty() {
            return true;
        }
        for key in &keys {
            self.leases.remove(key);
        }
        match store.release_leases(&self.node, &keys).await {
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(cluster = %self.cluster, keys = keys.len(), %error, "lease release failed, they expire by ttl");
                false
            }
        }
    }

    fn expire(&mut self) {
        let now = self.clock.now();
        self.leases.retain(|_, until| *until > now);
    }

    fn report(&mut self, emit: Vec<String>, waiting: usize) -> SyncReport {
        let now_emitting: HashSet<String> = emit.iter().cloned().collect();
        let gained = now_emitting.difference(&self.emitting).count();
        let lost = self.emitting.difference(&now_emitting).count();
        if gained > 0 || lost > 0 {
            tracing::info!(cluster = %self.cluster, gained, lost, owned = emit.len(), moving = self.moving.len(), "ownership changed");
        }
        self.emitting = now_emitting;
        SyncReport {
            emit,
            moving: self.moving.len(),
            gained,
            lost,
            waiting,
            degraded: self.failed,
            epoch_changed: None,
            ring: RingChoice::default(),
        }
    }
}

#[cfg(test)]
#[path = "tracker_tests.rs"]
mod tests;
