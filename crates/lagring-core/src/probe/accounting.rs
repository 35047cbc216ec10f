//! [`ProbeAccounting`]: every partition's producer sequence, consumer
//! sequence tracker, running totals and availability window, fed by the
//! produce and consume services. [`ProbeState`] is the whole of it as plain
//! data: the owner saves it (with the offset to read next) and a new owner
//! resumes from it, re-reading the records after that offset, so a hand-over
//! or a crash of the owner counts nothing lost or duplicated and records a
//! dead owner produced are consumed, not lost.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::latency::LatencyHistogram;
use super::payload::ProbePayload;
use super::sequence::{Arrival, Observed, SequenceTracker};
use super::window::{RollingWindow, WindowCounts};

/// The accounting rules a probe is configured with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountingOptions {
    /// Length of the availability window.
    pub window_ms: u64,
    /// How far behind the highest sequence a missing one may arrive without counting lost.
    pub reorder_window: u64,
    /// End-to-end latency above this counts the record delayed.
    pub sla_ms: u64,
    /// A window with nothing attempted reports availability 0 (else 1).
    pub zero_throughput_unavailable: bool,
}

impl Default for AccountingOptions {
    fn default() -> Self {
        Self { window_ms: 60_000, reorder_window: 0, sla_ms: 20_000, zero_throughput_unavailable: true }
    }
}

/// Running totals of one partition since the probe's state began.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub produced: u64,
    pub produce_errors: u64,
    pub consumed: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub delayed: u64,
    pub latency: LatencyHistogram,
}

/// Everything known about one partition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartitionState {
    /// The sequence the producer sends next.
    pub produce_next: u64,
    pub sequence: SequenceTracker,
    /// The offset the consumer reads next (`None`: from the log end).
    pub consume_offset: Option<i64>,
    pub totals: Totals,
    pub window: RollingWindow,
}

impl PartitionState {
    fn new(window_ms: u64) -> Self {
        Self {
            produce_next: 0,
            sequence: SequenceTracker::default(),
            consume_offset: None,
            totals: Totals::default(),
            window: RollingWindow::new(window_ms),
        }
    }
}

/// The probe's whole state: what an owner saves and its successor resumes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeState {
    pub partitions: BTreeMap<i32, PartitionState>,
}

/// The accounting of one cluster's probe.
#[derive(Clone, Debug)]
pub struct ProbeAccounting {
    options: AccountingOptions,
    state: ProbeState,
}

impl ProbeAccounting {
    /// Fresh accounting with no partitions.
    pub fn new(options: AccountingOptions) -> Self {
        Self { options, state: ProbeState::default() }
    }

    /// Accounting that continues `state` (saved by the previous owner).
    pub fn resume(options: AccountingOptions, state: ProbeState) -> Self {
        Self { options, state }
    }

    pub fn options(&self) -> AccountingOptions {
        self.options
    }

    /// A copy of the state to save.
    pub fn state(&self) -> &ProbeState {
        &self.state
    }

    /// Makes sure partitions `0..count` are tracked (partitions only grow).
    pub fn ensure_partitions(&mut self, count: i32) {
        for p in 0..count {
            self.partition_mut(p);
        }
    }

    /// Partitions without a saved offset are read from their first record
    /// (the probe created the topic, so every record in it is its own).
    pub fn read_from_start(&mut self) {
        for p in self.state.partitions.values_mut() {
            p.consume_offset.get_or_insert(0);
        }
    }

    /// The partitions tracked, ascending.
    pub fn partitions(&self) -> impl Iterator<Item = (i32, &PartitionState)> {
        self.state.partitions.iter().map(|(p, s)| (*p, s))
    }

    fn partition_mut(&mut self, partition: i32) -> &mut PartitionState {
        let window_ms = self.options.window_ms;
        self.state.partitions.entry(partition).or_insert_with(|| PartitionState::new(window_ms))
    }

    /// The sequence to send next to `partition`.
    pub fn next_seq(&mut self, partition: i32) -> u64 {
        self.partition_mut(partition).produce_next
    }

    /// `seq` was acknowledged by `partition`'s leader at `now_ms`.
    pub fn produced(&mut self, partition: i32, seq: u64, now_ms: i64) {
        let p = self.partition_mut(partition);
        p.produce_next = p.produce_next.max(seq.saturating_add(1));
        p.totals.produced = p.totals.produced.saturating_add(1);
        p.window.add(now_ms, &WindowCounts { produced: 1, ..WindowCounts::default() });
    }

    /// A send to `partition` failed at `now_ms` (its sequence is sent again).
    pub fn produce_failed(&mut self, partition: i32, now_ms: i64) {
        let p = self.partition_mut(partition);
        p.totals.produce_errors = p.totals.produce_errors.saturating_add(1);
        p.window.add(now_ms, &WindowCounts { produce_errors: 1, ..WindowCounts::default() });
    }

    /// The consumer read `payload` at `offset` of `partition` at `received_ms`.
    pub fn consumed(&mut self, partition: i32, offset: i64, payload: ProbePayload, received_ms: i64) -> Observed {
        let AccountingOptions { reorder_window, sla_ms, .. } = self.options;
        let p = self.partition_mut(partition);
        let observed = p.sequence.observe(payload.seq, reorder_window);
        // What a previous owner produced and this one reads must not be sent again.
        p.produce_next = p.produce_next.max(payload.seq.saturating_add(1));
        p.consume_offset = Some(offset.saturating_add(1));
        let latency_ms = received_ms.saturating_sub(payload.produced_ms);
        let delayed = u64::try_from(latency_ms).is_ok_and(|ms| ms > sla_ms);
        let t = &mut p.totals;
        t.consumed = t.consumed.saturating_add(1);
        t.lost = t.lost.saturating_add(observed.newly_lost);
        t.delayed = t.delayed.saturating_add(u64::from(delayed));
        if observed.arrival == Arrival::Duplicate {
            t.duplicated = t.duplicated.saturating_add(1);
        }
        t.latency.observe(latency_ms as f64 / 1000.0);
        let counts = WindowCounts {
            consumed: 1,
            lost: observed.newly_lost,
            delayed: u64::from(delayed),
            ..WindowCounts::default()
        };
        p.window.add(received_ms, &counts);
        observed
    }

    /// A record at `offset` of `partition` that is no probe record: skipped.
    pub fn skipped(&mut self, partition: i32, offset: i64) {
        self.partition_mut(partition).consume_offset = Some(offset.saturating_add(1));
    }

    /// The window's counts of `partition` at `now_ms`.
    pub fn window(&self, partition: i32, now_ms: i64) -> WindowCounts {
        self.state.partitions.get(&partition).map(|p| p.window.sum(now_ms)).unwrap_or_default()
    }

    /// Produce availability of `partition` over the window ending at `now_ms`.
    pub fn produce_availability(&self, partition: i32, now_ms: i64) -> f64 {
        self.or_zero_rule(self.window(partition, now_ms).produce_availability())
    }

    /// Consume availability of `partition` over the window ending at `now_ms`.
    pub fn consume_availability(&self, partition: i32, now_ms: i64) -> f64 {
        self.or_zero_rule(self.window(partition, now_ms).consume_availability())
    }

    fn or_zero_rule(&self, value: Option<f64>) -> f64 {
        value.unwrap_or(if self.options.zero_throughput_unavailable { 0.0 } else { 1.0 })
    }

    /// Every partition's latency observations together.
    pub fn cluster_latency(&self) -> LatencyHistogram {
        let mut all = LatencyHistogram::default();
        for p in self.state.partitions.values() {
            all.merge(&p.totals.latency);
        }
        all
    }
}

#[cfg(test)]
#[path = "accounting_tests.rs"]
mod tests;
