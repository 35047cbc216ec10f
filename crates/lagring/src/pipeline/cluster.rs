//! The per-cluster tasks: a fetch loop on its own timer feeding a compute
//! task through a bounded channel. Each cluster has its own pair, so a slow
//! or dead cluster never delays another.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lagring_core::series::SeriesBatch;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::brokers::BrokerWatch;
use super::compute::Compute;
use super::fetch::{ClusterFetcher, FetchError, FetchOutcome};
use super::owner::ClusterOwner;
use super::slots::Slots;
use super::warn_limiter::WarnLimiter;
use crate::coordination::Coordinator;
use crate::health::Health;
use crate::self_metrics::SelfMetrics;

/// One observation may wait for compute; a newer fetch then waits too, so a
/// stalled compute holds at most two iterations of a cluster in memory.
pub const FETCH_TO_COMPUTE_CAPACITY: usize = 1;

/// Repeated failures of one cluster are logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

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
        let mut warn = WarnLimiter::new(WARN_EVERY);
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
            let started = Instant::now();
            // Kafka work ends a tenth early, so compute and emit still fit in
            // the iteration and the next slot is not missed.
            let deadline = started + self.iteration_timeout.mul_f64(0.9);
            let iteration = self.iterate(&mut owner, slot, slot_ms, started, deadline);
            let result = tokio::select! {
                _ = stop.cancelled() => break,
                r = tokio::time::timeout(self.iteration_timeout, iteration) => r,
            };
            let result = result.unwrap_or(Err(FetchError::Timeout(self.iteration_timeout)));
            owner.finish_slot(slot).await;
            let restarting = self.coordinator.restart_effective();
            if restarting {
                // This slot was the last: the next process with this id
                // claims every group from the next one.
                owner.hand_over_all(slot).await;
            }
            owner.record(result.as_ref().is_ok_and(FetchOutcome::reached_cluster));
            if !restarting && let Err(FetchError::Metadata(_) | FetchError::Timeout(_)) = &result {
                // The cluster could not be listed: keep what is held (renewed
                // for this slot) while still on the ring, release it once off.
                owner.select(&owner.last_groups(), slot).await;
            }
            self.record_requests();
            let seen = self.fetcher.client.brokers_seen();
            brokers.record(&seen, &self.metrics, &self.health);
            owner.record_reach(&seen, result.as_ref().ok());
            match result {
                Ok(outcome) => {
                    self.record_success(&outcome, &mut warn);
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        sent = tx.send(outcome) => if sent.is_err() { break },
                    }
                }
                Err(e) => self.record_failure(&e, started.elapsed(), &mut warn),
            }
            if restarting {
                tracing::info!("every group handed over for the restart");
                break;
            }
            if self.coordinator.leaving_effective() && owner.holds_nothing() {
                tracing::info!("every group handed over");
                break;
            }
        }
        owner.release_all().await;
        tracing::debug!("fetch loop stopped");
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
        let selection = owner.select(&discovery.groups, slot).await;
        let slot_ms = i64::try_from(slot_ms).unwrap_or(i64::MAX);
        self.fetcher.fetch_owned(discovery, selection, slot_ms, started, deadline).await
    }

    fn record_success(&self, o: &FetchOutcome, warn: &mut WarnLimiter) {
        let c = &*self.fetcher.cluster;
        if let Some(partial) = &o.partial_listing {
            self.metrics.kafka_errors.with_label_values(&[c, "list_groups"]).inc();
            if let Some(suppressed) = warn.check(&partial.to_string(), Instant::now()) {
                tracing::warn!(error = %partial, suppressed, "some brokers did not list their groups; keeping the groups last listed");
            }
        }
        let m = &self.metrics;
        m.stage(c, "list_groups", o.timings.list_groups);
        m.stage(c, "offset_fetch", o.timings.offset_fetch);
        m.stage(c, "metadata", o.timings.metadata);
        m.stage(c, "list_offsets", o.timings.list_offsets);
        if self.fetcher.exact_time_lag.is_some() {
            m.stage(c, "record_times", o.timings.record_times);
        }
        m.iterations.with_label_values(&[c, "ok"]).inc();
        m.groups_discovered.with_label_values(&[c]).set(o.groups_discovered as i64);
        let owned = o.observation.groups.len() + o.share_starts.len() + o.group_errors.len();
        m.owned_groups.with_label_values(&[c]).set(owned as i64);
        if !o.group_errors.is_empty() {
            m.kafka_errors.with_label_values(&[c, "offset_fetch"]).inc_by(o.group_errors.len() as u64);
        }
        if !o.partition_errors.is_empty() {
            m.kafka_errors.with_label_values(&[c, "list_offsets"]).inc_by(o.partition_errors.len() as u64);
        }
        if let Some((group, e)) = o.group_errors.first() {
            let msg = format!("offset fetch failed for {} groups", o.group_errors.len());
            if let Some(suppressed) = warn.check(&msg, Instant::now()) {
                tracing::warn!(first_group = %group, error = %e, failed = o.group_errors.len(), suppressed, "offset fetch failed for some groups");
            }
        } else if o.partial_listing.is_none() && o.partition_errors.is_empty() && warn.clear() {
            tracing::info!("cluster recovered");
        }
        match &o.partial_listing {
            Some(partial) if !o.reached_cluster() => {
                self.health.failure(c, format!("no broker answered ListGroups: {partial}"));
            }
            _ => self.health.success(c),
        }
    }

    fn record_failure(&self, e: &FetchError, took: Duration, warn: &mut WarnLimiter) {
        let c = &*self.fetcher.cluster;
        let (result, api) = match e {
            FetchError::Timeout(_) => ("timeout", None),
            FetchError::Metadata(_) => ("error", Some("metadata")),
            FetchError::ListOffsets(_) => ("error", Some("list_offsets")),
            FetchError::AllGroupsFailed(..) => ("error", Some("offset_fetch")),
        };
        self.metrics.iterations.with_label_values(&[c, result]).inc();
        if let Some(api) = api {
            self.metrics.kafka_errors.with_label_values(&[c, api]).inc();
        }
        let msg = e.to_string();
        if let Some(suppressed) = warn.check(&msg, Instant::now()) {
            tracing::warn!(error = %msg, took_ms = took.as_millis() as u64, suppressed, "iteration failed");
        }
        self.health.failure(c, msg);
    }

    fn record_requests(&self) {
        let c = &*self.fetcher.cluster;
        self.metrics.blocking_workers.with_label_values(&[c]).set(self.fetcher.client.blocking_in_flight());
        let s = self.fetcher.client.stats();
        let apis = [
            ("list_groups", s.list_groups),
            ("offset_fetch", s.offset_fetch),
            ("metadata", s.metadata),
            ("list_offsets", s.list_offsets),
            ("fetch", s.fetch),
            ("describe_groups", s.describe_groups),
            ("share_group_offsets", s.share_group_offsets),
        ];
        for (api, counts) in apis {
            let total = counts.requests;
            let counter = self.metrics.kafka_requests.with_label_values(&[c, api]);
            let seen = counter.get();
            if total > seen {
                counter.inc_by(total - seen);
            }
        }
    }
}

/// Computes every outcome from `rx` and sends the batch to `tx`; ends when
/// the fetch loop ends (its sender dropped).
pub async fn compute_loop(mut compute: Compute, mut rx: mpsc::Receiver<FetchOutcome>, tx: mpsc::Sender<SeriesBatch>) {
    let cluster: Arc<str> = compute.cluster.clone();
    while let Some(outcome) = rx.recv().await {
        let batch = compute.run(&outcome).await;
        let took = outcome.started.elapsed();
        compute.metrics.stage(&cluster, "iteration", took);
        tracing::debug!(
            groups = outcome.observation.groups.len(),
            series = batch.samples.len(),
            took_ms = took.as_millis() as u64,
            "iteration computed"
        );
        if tx.send(batch).await.is_err() {
            break;
        }
    }
}
