//! Change-gated sending and zero-bracketing, per series, for one push sink.
//!
//! Push receivers without staleness markers (Wavefront, a Kafka topic) store
//! every point they get and draw a line between any two of them, so what is
//! sent decides what a reader sees. The rules (goRainbow's, which its users'
//! dashboards are built on):
//!
//! - a series whose value changed since it was last sent is sent at most every
//!   `changed_every`; an unchanged one every `unchanged_every`;
//! - a series with a `partition` label is sent only while its group has lag
//!   (`kafka_consumer_group_sum_lag_in_offsets` above 0);
//! - a series starts with a 0 sample and ends with one: when its group's lag is
//!   gone (partition series) or the series ended (group deleted, partition
//!   gone: the batch's `ended`), a 0 is sent at the batch's instant;
//! - a series whose group is absent from the batch moved to another node: it
//!   is forgotten without a 0, and the new owner continues it without one.
//!
//! The start 0 is placed at the previous batch's instant, when the series was
//! not there yet. It is sent only when the series' group was already in this
//! node's previous batch: a group that appears here (created, or moved in from
//! a peer) starts at its current value, since the two cannot be told apart.
//!
//! The batch's push-only values (`SeriesBatch::push_only`) follow the same
//! rules as its series.
//!
//! The clock is the batch timestamp (the slot start), so the rules are pure
//! and tested with hand-made timestamps.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use lagring_core::metric_names::GROUP_SUM_LAG_OFFSETS;
use lagring_core::series::{SeriesBatch, SeriesKey};

/// How often a series is re-sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GateTiming {
    /// A changed series is sent at most this often.
    pub changed_every: Duration,
    /// An unchanged series is sent this often.
    pub unchanged_every: Duration,
}

/// One point to send: a series value at an instant.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub cluster: Arc<str>,
    pub key: SeriesKey,
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

/// What one batch yields for one sink.
#[derive(Debug, Default, PartialEq)]
pub struct Gated {
    /// Series of the batch the sink maps (samples and ended series).
    pub considered: usize,
    /// Points to send, in order.
    pub records: Vec<Record>,
}

/// The last point sent for one series.
#[derive(Clone, Copy, Debug)]
struct Sent {
    timestamp_ms: i64,
    value: f64,
}

/// What the gate remembers of one cluster.
#[derive(Debug, Default)]
struct ClusterState {
    previous_ms: Option<i64>,
    /// Groups with at least one series in the previous batch.
    groups: HashSet<Arc<str>>,
    sent: HashMap<SeriesKey, Sent>,
}

/// The gate of one sink: feed it every batch with [`Gate::observe`].
#[derive(Debug)]
pub struct Gate {
    changed_ms: i64,
    unchanged_ms: i64,
    clusters: HashMap<Arc<str>, ClusterState>,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Gate {
    pub fn new(timing: GateTiming) -> Self {
        Self {
            changed_ms: millis(timing.changed_every),
            unchanged_ms: millis(timing.unchanged_every),
            clusters: HashMap::new(),
        }
    }

    /// Series this sink remembers (sent and not ended or moved).
    pub fn tracked(&self) -> usize {
        self.clusters.values().map(|c| c.sent.len()).sum()
    }

    /// Decides what of `batch` to send; `maps` says which series the sink
    /// sends at all (its naming preset).
    pub fn observe(&mut self, batch: &SeriesBatch, maps: impl Fn(&SeriesKey) -> bool) -> Gated {
        let (changed_ms, unchanged_ms) = (self.changed_ms, self.unchanged_ms);
        let now = batch.timestamp_ms;
        let state = self.clusters.entry(Arc::clone(&batch.cluster)).or_default();
        let lagging: HashMap<&str, bool> = batch
            .samples
            .iter()
            .filter(|s| s.key.name() == GROUP_SUM_LAG_OFFSETS)
            .filter_map(|s| Some((s.key.label("group")?, s.value > 0.0)))
            .collect();
        let mut present: HashSet<Arc<str>> = HashSet::new();
        let mut ungrouped: HashSet<&SeriesKey> = HashSet::new();
        let mut out = Gated::default();
        let record = |key: &SeriesKey, value: f64, timestamp_ms: i64| Record {
            cluster: Arc::clone(&batch.cluster),
            key: key.clone(),
            value,
            timestamp_ms,
        };
        for sample in batch.samples.iter().chain(&batch.push_only.samples) {
            let key = &sample.key;
            let group = group_of(key);
            match group {
                Some(g) if !present.contains(g) => {
                    present.insert(Arc::clone(g));
                }
                Some(_) => {}
                None => {
                    ungrouped.insert(key);
                }
            }
            if !maps(key) || !sample.value.is_finite() {
                continue;
            }
            out.considered += 1;
            let group_name = group.map(|g| &**g);
            let lag_gone = key.label("partition").is_some()
                && group_name.and_then(|g| lagging.get(g)).is_some_and(|has_lag| !has_lag);
            if lag_gone {
                if let Some(last) = state.sent.remove(key)
                    && last.value != 0.0
                {
                    out.records.push(record(key, 0.0, now));
                }
                continue;
            }
            match state.sent.get_mut(key) {
                Some(last) => {
                    let since = now.saturating_sub(last.timestamp_ms);
                    let due = if sample.value == last.value { since >= unchanged_ms } else { since >= changed_ms };
                    if due {
                        *last = Sent { timestamp_ms: now, value: sample.value };
                        out.records.push(record(key, sample.value, now));
                    }
                }
                None => {
                    let seen_before = group_name.is_some_and(|g| state.groups.contains(g));
                    if let Some(previous) = state.previous_ms.filter(|p| seen_before && *p < now && sample.value != 0.0)
                    {
                        out.records.push(record(key, 0.0, previous));
                    }
                    state.sent.insert(key.clone(), Sent { timestamp_ms: now, value: sample.value });
                    out.records.push(record(key, sample.value, now));
                }
            }
        }
        for key in batch.ended.iter().chain(&batch.push_only.ended) {
            if let Some(last) = state.sent.remove(key) {
                out.considered += 1;
                if last.value != 0.0 {
                    out.records.push(record(key, 0.0, now));
                }
            }
        }
        state.sent.retain(|key, _| match group_of(key) {
            Some(g) => present.contains(g),
            None => ungrouped.contains(key),
        });
        state.groups = present;
        state.previous_ms = Some(now);
        out
    }
}

fn group_of(key: &SeriesKey) -> Option<&Arc<str>> {
    key.labels().iter().find(|(k, _)| &**k == "group").map(|(_, v)| v)
}

#[cfg(test)]
#[path = "gate_tests.rs"]
mod tests;
