//! Whether this node can deliver at all: the remote-write worker's view of
//! its receiver, shared with the rest of the node.
//!
//! A fleet moves a node's groups to peers when that node's output is broken
//! (rotated credentials, a wrong url, a receiver down for long), the same way
//! it does when the node cannot reach a Kafka cluster. The worker is the only
//! one that knows, so it keeps a [`DeliveryTracker`] and publishes through a
//! cheap, cloneable [`DeliveryHealth`] handle that the heartbeat reads.
//!
//! Rules:
//! - the receiver refusing the node itself (a 4xx other than 429 and other
//!   than the statuses that judge one batch's content, see
//!   [`rejects_the_sender`]) makes the node undeliverable at once;
//! - retryable failures (5xx, 429, connection errors) make it undeliverable
//!   once they have lasted `leave_after` without one success in between;
//! - the first accepted request — a probe or real data — makes it
//!   deliverable again.
//!
//! A receiver that fails or comes back for the whole fleet reaches the nodes
//! at slightly different times (retry backoff, probe timing). So that such a
//! fleet-wide event moves nothing, both edges are seen by the fleet with a
//! `settle` delay longer than that spread: peers see a node deliverable again
//! only `settle` after it is ([`DeliveryHealth::undeliverable_for_peers`]),
//! and the node leaves its rings only `settle` after its peers could see it
//! undeliverable (the coordinator's rule) — by then a fleet-wide failure has
//! made every node undeliverable, and nobody is left out.

use std::time::{Duration, Instant};

use tokio::sync::watch;

/// Statuses that reject one request's content (a malformed or out-of-order
/// batch, a batch too large), not the sender: the batch is dropped and
/// counted, and delivery stays healthy — the next batch may well be accepted,
/// and moving groups would not help.
const CONTENT_REJECTIONS: &[u16] = &[400, 409, 413, 422];

/// True when a non-retryable `status` means this node cannot deliver at all
/// (401, 403, 404, ...), rather than that one batch was bad.
pub fn rejects_the_sender(status: u16) -> bool {
    (400..500).contains(&status) && status != 429 && !CONTENT_REJECTIONS.contains(&status)
}

/// One snapshot of the delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryState {
    /// False while the receiver refuses this node or has failed for `leave_after`.
    pub deliverable: bool,
    /// When the state last changed (process start for the initial state).
    pub since: Instant,
    /// Why it is undeliverable; `None` while deliverable.
    pub reason: Option<String>,
    /// When it last became deliverable again (`None`: never undeliverable).
    pub restored_at: Option<Instant>,
}

/// Read side of the delivery state; clone it freely (a watch receiver).
#[derive(Debug, Clone)]
pub struct DeliveryHealth {
    rx: watch::Receiver<DeliveryState>,
    settle: Duration,
}

impl DeliveryHealth {
    /// The current state.
    pub fn state(&self) -> DeliveryState {
        self.rx.borrow().clone()
    }

    /// True while the node can deliver (cheap: one read lock).
    pub fn is_deliverable(&self) -> bool {
        self.rx.borrow().deliverable
    }

    /// What the node publishes to its peers: undeliverable, or deliverable
    /// again for less than [`DeliveryHealth::settle`].
    pub fn undeliverable_for_peers(&self) -> bool {
        let state = self.rx.borrow();
        !state.deliverable || state.restored_at.is_some_and(|at| at.elapsed() < self.settle)
    }

    /// The delay by which the fleet sees either edge (see module docs).
    pub fn settle(&self) -> Duration {
        self.settle
    }

    /// Waits for the next change; returns at once when the worker is gone
    /// (then the state stays as it was), so callers must not loop on it alone.
    pub async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// A handle that is always deliverable (no remote write configured, tests).
    pub fn always() -> Self {
        Self { rx: watch::channel(DeliveryState::initial()).1, settle: Duration::ZERO }
    }
}

impl DeliveryState {
    fn initial() -> Self {
        Self { deliverable: true, since: Instant::now(), reason: None, restored_at: None }
    }
}

/// Write side, owned by the worker: turns request outcomes into the state.
#[derive(Debug)]
pub struct DeliveryTracker {
    tx: watch::Sender<DeliveryState>,
    leave_after: Duration,
    settle: Duration,
    /// Start of the current streak of retryable failures.
    failing_since: Option<Instant>,
}

/// A change of state caused by one outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryChange {
    Lost,
    Restored,
}

impl DeliveryTracker {
    /// Deliverable at first; retryable failures count after `leave_after`;
    /// the fleet sees changes `settle` late (see module docs).
    pub fn new(leave_after: Duration, settle: Duration) -> (Self, DeliveryHealth) {
        let (tx, rx) = watch::channel(DeliveryState::initial());
        (Self { tx, leave_after, settle, failing_since: None }, DeliveryHealth { rx, settle })
    }

    /// A read handle.
    pub fn health(&self) -> DeliveryHealth {
        DeliveryHealth { rx: self.tx.subscribe(), settle: self.settle }
    }

    /// True while deliverable.
    pub fn is_deliverable(&self) -> bool {
        self.tx.borrow().deliverable
    }

    /// A request was accepted.
    pub fn succeeded(&mut self, now: Instant) -> Option<DeliveryChange> {
        self.failing_since = None;
        self.set(None, now)
    }

    /// A retryable failure; undeliverable once the streak lasted `leave_after`.
    pub fn failed(&mut self, reason: &str, now: Instant) -> Option<DeliveryChange> {
        let since = *self.failing_since.get_or_insert(now);
        if now.duration_since(since) < self.leave_after {
            return None;
        }
        let bound = self.leave_after;
        self.set(Some(format!("remote write failing for longer than leave_after ({bound:?}): {reason}")), now)
    }

    /// The receiver refused this node (see [`rejects_the_sender`]).
    pub fn refused(&mut self, status: u16, now: Instant) -> Option<DeliveryChange> {
        self.failing_since.get_or_insert(now);
        self.set(Some(format!("remote write receiver refuses this node: it answered {status}")), now)
    }

    fn set(&mut self, reason: Option<String>, now: Instant) -> Option<DeliveryChange> {
        let deliverable = reason.is_none();
        let was = self.is_deliverable();
        if was == deliverable {
            // Keep `since`; a new reason wakes the watchers, the same one does not.
            self.tx.send_if_modified(|s| {
                let modified = s.reason != reason;
                s.reason = reason;
                modified
            });
            return None;
        }
        let restored_at = if deliverable { Some(now) } else { self.tx.borrow().restored_at };
        self.tx.send_replace(DeliveryState { deliverable, since: now, reason, restored_at });
        Some(if deliverable { DeliveryChange::Restored } else { DeliveryChange::Lost })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_rejections_do_not_count_against_the_sender() {
        assert!([401, 403, 404, 405, 407].iter().all(|s| rejects_the_sender(*s)));
        assert!(![400, 409, 413, 422, 429, 500, 503, 204].iter().any(|s| rejects_the_sender(*s)));
    }

    #[test]
    fn retry_streak_leaves_after_the_bound_refusal_at_once_success_restores() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let (mut tracker, health) = DeliveryTracker::new(Duration::from_secs(2), Duration::from_secs(3600));
        assert!(!health.undeliverable_for_peers(), "deliverable from the start");
        assert_eq!(tracker.failed("503", at(0)), None);
        assert_eq!(tracker.failed("503", at(1_999)), None, "within leave_after");
        assert!(health.is_deliverable());
        assert_eq!(tracker.succeeded(at(2_100)), None, "a success ends the streak");
        assert_eq!(tracker.failed("503", at(3_000)), None, "a new streak starts");
        assert_eq!(tracker.failed("503", at(5_000)), Some(DeliveryChange::Lost));
        let state = health.state();
        assert_eq!((state.deliverable, state.since), (false, at(5_000)));
        assert_eq!(state.reason.as_deref(), Some("remote write failing for longer than leave_after (2s): 503"));
        assert_eq!(tracker.failed("503", at(6_000)), None);
        assert_eq!(health.state().since, at(5_000), "since stays at the change");
        assert!(health.undeliverable_for_peers());
        assert_eq!(tracker.succeeded(at(7_000)), Some(DeliveryChange::Restored));
        assert!(health.is_deliverable());
        assert!(health.undeliverable_for_peers(), "peers see it only after settle");
        assert_eq!(health.state().reason, None);

        assert_eq!(tracker.refused(401, at(8_000)), Some(DeliveryChange::Lost));
        assert_eq!(health.state().reason.as_deref(), Some("remote write receiver refuses this node: it answered 401"));
        assert_eq!(tracker.succeeded(at(9_000)), Some(DeliveryChange::Restored));
    }
}
