//! One cluster's end-to-end probe on this node: each slot it syncs the
//! probe's lease (key `"{cluster}/~probe"`, placed on the cluster's ring
//! like a group, through `lagring_store::ownership`), starts the probe when
//! it gains the lease, emits the probe's series and saves its state while
//! it holds it, and on a planned move stops the probe, saves the final
//! state and hands the lease over after the slot, so the next owner resumes
//! the sequence accounting where this one ended. A lease lost without a
//! hand-over (fenced, expired) stops the probe without saving: the new
//! owner resumes from the last state saved, re-reading what came after.
//! The producer and consumer connect only while this node owns the probe.

use std::sync::Arc;
use std::time::Duration;

use lagring_core::lag_series::LabelOptions;
use lagring_core::probe::ProbeState;
use lagring_core::series::SeriesBatch;
use lagring_probe::state::{StateFuture, StateStore};
use lagring_probe::{Probe, ProbeSettings};
use lagring_store::Membership;
use lagring_store::SystemClock;
use lagring_store::evaluations::{EvaluationStore, Published, RecordKind};
use lagring_store::ownership::{ClusterOwnership, NodeView, Placement, SelfState, placed_ring};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::slots::Slots;
use crate::config::{ClusterConfig, ProbeConfig};
use crate::coordination::Coordinator;
use crate::health::Health;

/// A saved state outlives a hand-over or a crash by far; after an hour
/// without any owner the probe starts afresh.
const STATE_TTL: Duration = Duration::from_secs(3_600);

/// The lease key of `cluster`'s probe (`~` keeps it apart from the cluster-series key `"{cluster}/"`).
pub fn probe_key(cluster: &str) -> String {
    format!("{cluster}/~probe")
}

/// The probe's settings for `cluster`.
pub fn probe_settings(cluster: &ClusterConfig, probe: &ProbeConfig) -> ProbeSettings {
    ProbeSettings {
        cluster: cluster.name.clone(),
        client_properties: lagring_kafka::config::client_properties(&cluster.kafka_connection()),
        topic: probe.topic.clone(),
        replication_factor: probe.replication_factor,
        partitions_per_broker: probe.partitions_per_broker,
        produce_interval: probe.produce_interval,
        produce_timeout: probe.produce_timeout,
        payload_bytes: probe.payload_bytes,
        consumer_group: probe.consumer_group.clone(),
        topic_check_interval: probe.topic_check_interval,
        elect_preferred_leaders: probe.elect_preferred_leaders,
        catch_up_timeout: probe.produce_timeout,
        accounting: probe.accounting(),
    }
}

/// Probe states in the fleet's shared evaluation store (Redis in a fleet).
#[derive(Debug, Clone)]
pub struct SharedProbeStates(pub Arc<dyn EvaluationStore>);

impl StateStore for SharedProbeStates {
    fn load<'a>(&'a self, cluster: &'a str) -> StateFuture<'a, Option<String>> {
        Box::pin(async move { self.0.read(cluster, RecordKind::Probe, "state").await.map_err(|e| e.to_string()) })
    }

    fn save<'a>(&'a self, cluster: &'a str, state: String) -> StateFuture<'a, ()> {
        Box::pin(async move {
            let record = Published { kind: RecordKind::Probe, name: "state".to_owned(), value: state };
            self.0.publish(cluster, &[record], STATE_TTL).await.map_err(|e| e.to_string())
        })
    }
}

/// This node's state for the probe's ring: as for the cluster's groups,
/// except that when no node is on the cluster's ring (the whole cluster is
/// unreachable) this node counts itself on it, so the probe keeps running
/// somewhere and reports the outage instead of going silent; the lease
/// still lets only one node run it.
fn stay_when_nobody_reaches(
    membership: Option<&Membership>,
    cluster: &str,
    me_id: &str,
    me: SelfState,
    vnodes: u32,
    placement: &Placement,
) -> SelfState {
    let Some(m) = membership else { return me };
    if me.leaving || !placed_ring(m, cluster, me_id, me, vnodes, placement).0.is_empty() {
        return me;
    }
    SelfState { joined: true, ..me }
}

/// The probe of one cluster on this node.
#[derive(Debug)]
pub struct ProbeTask {
    pub cluster: Arc<str>,
    /// Which nodes may run it: the cluster's placement, as for its groups.
    pub placement: Placement,
    pub settings: ProbeSettings,
    pub coordinator: Arc<Coordinator>,
    pub states: Arc<dyn StateStore>,
    pub labels: LabelOptions,
    pub interval: Duration,
    pub health: Health,
    pub emit: mpsc::Sender<SeriesBatch>,
}

impl ProbeTask {
    /// Runs until `stop`, or until this node is leaving and has handed the probe over.
    pub async fn run(self, stop: CancellationToken) {
        let key = probe_key(&self.cluster);
        let timing = self.coordinator.timing;
        let mut tracker = ClusterOwnership::new(
            self.coordinator.node.clone(),
            &*self.cluster,
            timing.lease_ttl,
            Arc::new(SystemClock),
        )
        .with_vnodes(timing.vnodes)
        .with_placement(self.placement.clone());
        let slots = Slots::new(self.interval);
        let mut running: Option<Probe> = None;
        loop {
            let slot_ms = tokio::select! {
                _ = stop.cancelled() => break,
                slot = slots.wait_next() => slot,
            };
            let slot = slots.index(slot_ms);
            let (membership, me, claims_allowed) = self.coordinator.view(&self.cluster);
            let me = stay_when_nobody_reaches(
                membership.as_ref(),
                &self.cluster,
                &self.coordinator.node.id,
                me,
                timing.vnodes,
                &self.placement,
            );
            let view = NodeView { membership: membership.as_ref(), me, claims_allowed };
            let store = self.coordinator.store.clone();
            let report = tracker.sync(store.as_ref(), view, std::slice::from_ref(&key), slot).await;
            let owns = report.emit.contains(&key);
            if !owns && let Some(probe) = running.take() {
                tracing::info!("probe lease lost; stopping the probe without saving");
                drop(probe);
                self.health.set_degraded(&self.health_key(), None);
            }
            if owns && running.is_none() {
                running = self.start().await;
            }
            if let Some(probe) = &running {
                self.emit_and_save(probe, slot_ms).await;
            }
            if owns
                && report.moving > 0
                && let Some(probe) = running.take()
            {
                let state = probe.stop(self.interval / 2).await;
                self.save(&state).await;
                self.health.set_degraded(&self.health_key(), None);
                tracing::info!("probe handed over with its final state");
            }
            tracker.finish_slot(store.as_ref(), slot).await;
            if self.coordinator.leaving_effective() && tracker.held_leases() == 0 {
                break;
            }
        }
        if let Some(probe) = running.take() {
            let state = probe.stop(self.interval / 2).await;
            self.save(&state).await;
        }
        tracker.release_all(self.coordinator.store.as_ref()).await;
        tracing::debug!("probe task stopped");
    }

    fn health_key(&self) -> String {
        format!("{}/probe", self.cluster)
    }

    /// Starts the probe from the saved state (if any and readable).
    async fn start(&self) -> Option<Probe> {
        let resumed = match self.states.load(&self.cluster).await {
            Ok(Some(json)) => match serde_json::from_str::<ProbeState>(&json) {
                Ok(state) => Some(state),
                Err(error) => {
                    tracing::warn!(%error, "saved probe state unreadable; starting afresh");
                    None
                }
            },
            Ok(None) => None,
            Err(error) => {
                // Without the state a fresh start would count the hand-over; wait for the store.
                tracing::warn!(%error, "cannot load the probe state; retrying next slot");
                self.health.set_degraded(&self.health_key(), Some(format!("cannot load the probe state: {error}")));
                return None;
            }
        };
        tracing::info!(resumed = resumed.is_some(), "starting the probe");
        match Probe::start(self.settings.clone(), resumed) {
            Ok(probe) => Some(probe),
            Err(error) => {
                self.health.set_degraded(&self.health_key(), Some(error.to_string()));
                None
            }
        }
    }

    async fn emit_and_save(&self, probe: &Probe, slot_ms: u64) {
        let now_ms = i64::try_from(slot_ms).unwrap_or(i64::MAX);
        let samples = probe.samples(&self.labels, i64::try_from(super::slots::now_ms()).unwrap_or(now_ms));
        let batch = SeriesBatch {
            cluster: Arc::from(probe_key(&self.cluster)),
            timestamp_ms: now_ms,
            samples,
            ended: Vec::new(),
            push_only: Default::default(),
        };
        if self.emit.send(batch).await.is_err() {
            return;
        }
        let reasons = probe.health().reasons;
        self.health.set_degraded(&self.health_key(), (!reasons.is_empty()).then(|| reasons.join("; ")));
        self.save(&probe.state()).await;
    }

    async fn save(&self, state: &ProbeState) {
        let json = match serde_json::to_string(state) {
            Ok(json) => json,
            Err(error) => {
                tracing::warn!(%error, "cannot encode the probe state");
                return;
            }
        };
        if let Err(error) = self.states.save(&self.cluster, json).await {
            tracing::warn!(%error, "cannot save the probe state; a new owner would resume from an older one");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use lagring_store::{NodeInfo, NodeStatus};

    use super::*;

    fn node(id: &str, unhealthy: bool) -> NodeInfo {
        let status = NodeStatus {
            unhealthy_clusters: if unhealthy { vec!["c".to_owned()] } else { Vec::new() },
            ..NodeStatus::default()
        };
        NodeInfo { id: id.to_owned(), incarnation: "i".to_owned(), heartbeat_age: Duration::ZERO, status }
    }

    const OFF: SelfState = SelfState { joined: false, leaving: false, undeliverable: false };

    #[test]
    fn a_node_off_the_ring_stays_for_the_probe_only_when_nobody_reaches_the_cluster() {
        let all_down = Membership { nodes: vec![node("a", true), node("b", true)], ..Membership::default() };
        assert!(stay_when_nobody_reaches(Some(&all_down), "c", "a", OFF, 64, &Placement::default()).joined);
        let peer_up = Membership { nodes: vec![node("a", true), node("b", false)], ..Membership::default() };
        assert!(!stay_when_nobody_reaches(Some(&peer_up), "c", "a", OFF, 64, &Placement::default()).joined);
        let leaving = SelfState { leaving: true, ..OFF };
        assert!(!stay_when_nobody_reaches(Some(&all_down), "c", "a", leaving, 64, &Placement::default()).joined);
        assert_eq!(probe_key("prod"), "prod/~probe");
    }
}
