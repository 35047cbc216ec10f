//! The per-cluster tasks: a fetch loop on its own timer feeding a compute
//! task through a bounded channel. Each cluster has its own pair, so a slow
//! or dead cluster never delays another.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lagring_core::series::SeriesBatch;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use tracing::Instrument;

use super::brokers::BrokerWatch;
use super::compute::Compute;
use super::events::{self, ClusterEvents};
use super::fetch::{ClusterFetcher, FetchError, FetchOutcome};
use super::owner::ClusterOwner;
use super::slots::Slots;
use crate::coordination::Coordinator;
use crate::health::Health;
use crate::self_metrics::SelfMetrics;

/// One observation may wait for compute; a newer fetch then waits too, so a
/// stalled compute holds at most two iterations of a cluster in memory.
pub const FETCH_TO_COMPUTE_CAPACITY: usize = 1;

/// What the fetch loop does after a slot.
enum AfterSlot {
    Next,
    Stop,
    /// This node restarts: the slot was its last, every lease is handed over.
    HandedOverForRestart,
}

/// The slot an iteration runs in, and where its outcome goes.
struct Iteration<'a> {
    slot: u64,
    slot_ms: u64,
    tx: &'a mpsc::Sender<FetchOutcome>,
    stop: &'a CancellationToken,
}

#[derive(Debug)]
pub struct ClusterTask {
    pub fetcher: ClusterFetcher,
    pub interval: Duration,
    pub iteration_timeout: Duration,
    pub health: Health,
    pub metrics: SelfMetrics,
    pub coordinator: Arc<Coordinator>,
}

impl ClusterTask {
    /// Runs one iteration per slot and sends each outcome to `tx`, until
    /// `stop`, or until this node is leaving and has handed every group of
    /// the cluster over. Releases what is still held on the way out.
    pub async fn fetch_loop(self, mut owner: ClusterOwner, tx: mpsc::Sender<FetchOutcome>, stop: CancellationToken) {
        let slots = Slots::new(self.interval);
        let mut events = ClusterEvents::new(self.fetcher.cluster.clone(), self.metrics.clone(), self.health.clone());
        let mut brokers = BrokerWatch::new(self.fetcher.cluster.clone());
        if !self.coordinator.timing.restart_grace.is_zero() {
            tokio::select! {
                _ = stop.cancelled() => {}
                () = self.join_early(&mut owner) => {}
            }
        }
        loop {
            let slot_ms = tokio::select! {
                _ = stop.cancelled() => break,
                slot = slots.wait_next() => slot,
            };
            let slot = slots.index(slot_ms);
            let iteration = Iteration { slot, slot_ms, tx: &tx, stop: &stop };
            let span = tracing::info_span!("iteration", slot);
            match self.run_slot(&mut owner, &mut events, &mut brokers, iteration).instrument(span).await {
                AfterSlot::Next => {}
                AfterSlot::Stop => break,
                AfterSlot::HandedOverForRestart => {
                    tracing::info!("every group handed over for the restart");
                    break;
                }
            }
            if self.coordinator.leaving_effective() && owner.holds_nothing() {
                tracing::info!("every group handed over");
                break;
            }
        }
        owner.release_all().await;
        tracing::debug!("fetch loop stopped");
    }

    /// One slot: fetch what this node owns, settle ownership, record the
    /// events and hand the outcome to compute; whether the loop goes on.
    async fn run_slot(
        &self,
        owner: &mut ClusterOwner,
        events: &mut ClusterEvents,
        brokers: &mut BrokerWatch,
        it: Iteration<'_>,
    ) -> AfterSlot {
        let started = Instant::now();
        // Kafka work ends a tenth early, so compute and emit still fit in
        // the iteration and the next slot is not missed.
        let deadline = started + self.iteration_timeout.mul_f64(0.9);
        let iteration = self.iterate(owner, it.slot, it.slot_ms, started, deadline);
        let result = tokio::select! {
            _ = it.stop.cancelled() => return AfterSlot::Stop,
            r = tokio::time::timeout(self.iteration_timeout, iteration) => r,
        };
        let result = result.unwrap_or(Err(FetchError::Timeout(self.iteration_timeout)));
        owner.finish_slot(it.slot).await;
        let restarting = self.coordinator.restart_effective();
        if restarting {
            // This slot was the last: the next process with this id
            // claims every group from the next one.
            owner.hand_over_all(it.slot).await;
        }
        owner.record(result.as_ref().is_ok_and(FetchOutcome::reached_cluster));
        if !restarting && let Err(FetchError::Metadata(_) | FetchError::Timeout(_)) = &result {
            // The cluster could not be listed: keep what is held (renewed
            // for this slot) while still on the ring, release it once off.
            owner.select(&owner.last_groups(), it.slot).await;
        }
        events.requests_sent(&self.fetcher.client);
        let seen = self.fetcher.client.brokers_seen();
        brokers.record(&seen, &self.metrics, &self.health);
        owner.record_reach(&seen, result.as_ref().ok());
        match result {
            Ok(outcome) => {
                events.iteration_succeeded(&outcome, self.fetcher.exact_time_lag.is_some());
                let sent = tokio::select! {
                    _ = it.stop.cancelled() => false,
                    sent = it.tx.send(outcome) => sent.is_ok(),
                };
                if !sent {
                    return AfterSlot::Stop;
                }
            }
            Err(e) => events.iteration_failed(&e, started.elapsed()),
        }
        if restarting { AfterSlot::HandedOverForRestart } else { AfterSlot::Next }
    }

    /// One listing before the first slot, so a node that reaches the
    /// cluster is on its ring by then: the next process of a restarting
    /// node takes its groups back at the slot after the hand-over, before
    /// its peers' hold on them ends (see `restart_hold`).
    async fn join_early(&self, owner: &mut ClusterOwner) {
        let deadline = Instant::now() + self.iteration_timeout.mul_f64(0.9);
        let listing = tokio::time::timeout(self.iteration_timeout, self.fetcher.discover(deadline)).await;
        if let Ok(Ok(mut discovery)) = listing
            && (discovery.partial.is_none() || discovery.listed > 0)
        {
            owner.merge_partial(&mut discovery);
            owner.reached();
        }
    }

    async fn iterate(
        &self,
        owner: &mut ClusterOwner,
        slot: u64,
        slot_ms: u64,
        started: Instant,
        deadline: Instant,
    ) -> Result<FetchOutcome, FetchError> {
        let mut discovery = self.fetcher.discover(deadline).await?;
        let reached = discovery.partial.is_none() || discovery.listed > 0;
        owner.merge_partial(&mut discovery);
        if reached {
            owner.reached();
        }
        let selection = owner.select(&discovery.matched, slot).await;
        let slot_ms = i64::try_from(slot_ms).unwrap_or(i64::MAX);
        self.fetcher.fetch_owned(discovery, selection, slot_ms, started, deadline).await
    }
}

/// Computes every outcome from `rx` and sends the batch to `tx`; ends when
/// the fetch loop ends (its sender dropped).
pub async fn compute_loop(mut compute: Compute, mut rx: mpsc::Receiver<FetchOutcome>, tx: mpsc::Sender<SeriesBatch>) {
    let cluster: Arc<str> = compute.cluster.clone();
    while let Some(outcome) = rx.recv().await {
        let batch = compute.run(&outcome).await;
        let took = outcome.started.elapsed();
        events::iteration_computed(
            &compute.metrics,
            &cluster,
            outcome.observation.groups.len(),
            batch.samples.len(),
            took,
        );
        if tx.send(batch).await.is_err() {
            break;
        }
    }
}
