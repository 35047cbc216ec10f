//! [`MemoryHistoryStore`]: the history store of single-node mode, applying
//! core's [`OffsetHistory::append`] to histories kept in this process.
//!
//! Expiry follows slot time rather than a clock: a history not appended to
//! for [`HistoryPolicy::expiry_ms`] before the slot being recorded is dropped
//! when its cluster records that slot, which is when Redis would have let the
//! key expire.
//!
//! The maps use FxHash: one lookup per partition and group-partition per
//! iteration (100,000 at 10,000 groups × 10 partitions) made SipHash a
//! visible share of time lag's CPU. Keys are topic and group names, set by
//! the cluster's operators, not by untrusted clients.

use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use lagring_core::history::{HistoryPolicy, OffsetHistory, OffsetPoint};
use lagring_core::model::TopicPartition;
use rustc_hash::FxHashMap as HashMap;

use super::{CommittedOffset, EndOffset, HistoryPolicies, HistoryStore, Points, Recorded, SlotPoints};
use crate::StoreFuture;

/// Offset histories in this process.
#[derive(Debug)]
pub struct MemoryHistoryStore {
    policies: HistoryPolicies,
    // Short critical sections only, never across an `.await`.
    clusters: Mutex<HashMap<String, ClusterHistories>>,
}

#[derive(Debug, Default)]
struct ClusterHistories {
    end: HashMap<TopicPartition, Entry>,
    /// By group, then partition: a store call lists each group's partitions
    /// together, so the group name is hashed once per group, not once per
    /// partition.
    committed: HashMap<Arc<str>, HashMap<TopicPartition, Entry>>,
}

#[derive(Debug, Default)]
struct Entry {
    /// Shared with the `Recorded` handed out for the last append; copied by
    /// the next append only while that is still held.
    history: Arc<OffsetHistory>,
    /// Slot of the last append, ignored or not (what refreshes a Redis key's expiry).
    last_seen_ms: i64,
}

impl MemoryHistoryStore {
    pub fn new(policies: HistoryPolicies) -> Self {
        Self { policies, clusters: Mutex::new(HashMap::default()) }
    }

    fn with_cluster<T>(&self, cluster: &str, f: impl FnOnce(&mut ClusterHistories) -> T) -> T {
        let mut clusters = self.clusters.lock().unwrap_or_else(PoisonError::into_inner);
        f(clusters.entry(cluster.to_owned()).or_default())
    }
}

/// Drops expired entries of `map`, then appends `(key, offset)` at `at_ms`.
fn record<K: Hash + Eq>(
    map: &mut HashMap<K, Entry>,
    policy: &HistoryPolicy,
    at_ms: i64,
    points: impl Iterator<Item = (K, i64)>,
) -> Vec<Recorded> {
    map.retain(|_, e| fresh(e, policy, at_ms));
    append_all(map, policy, at_ms, points).collect()
}

/// False once `entry` has not been appended to for the policy's expiry
/// before slot `at_ms` (when Redis would have let its key expire).
fn fresh(entry: &Entry, policy: &HistoryPolicy, at_ms: i64) -> bool {
    entry.last_seen_ms > at_ms.saturating_sub(policy.expiry_ms())
}

/// Appends `(key, offset)` at `at_ms` to the histories in `map`.
fn append_all<'m, K: Hash + Eq>(
    map: &'m mut HashMap<K, Entry>,
    policy: &'m HistoryPolicy,
    at_ms: i64,
    points: impl Iterator<Item = (K, i64)> + 'm,
) -> impl Iterator<Item = Recorded> + 'm {
    points.map(move |(key, offset)| {
        let entry = map.entry(key).or_default();
        entry.last_seen_ms = entry.last_seen_ms.max(at_ms);
        let outcome = Arc::make_mut(&mut entry.history).append(OffsetPoint::new(offset, at_ms), policy);
        Recorded { outcome, history: entry.history.clone() }
    })
}

impl HistoryStore for MemoryHistoryStore {
    fn append<'a>(&'a self, points: SlotPoints<'a>) -> StoreFuture<'a, Vec<Recorded>> {
        let SlotPoints { cluster, at_ms, offsets } = points;
        let recorded = match offsets {
            Points::End(offsets) => self.record_ends(cluster, at_ms, offsets),
            Points::Committed(offsets) => self.record_commits(cluster, at_ms, offsets),
        };
        Box::pin(async move { Ok(recorded) })
    }
}

impl MemoryHistoryStore {
    fn record_ends(&self, cluster: &str, at_ms: i64, offsets: &[EndOffset]) -> Vec<Recorded> {
        let policy = self.policies.end;
        let points = offsets.iter().map(|o| (o.tp.clone(), o.end));
        self.with_cluster(cluster, |c| record(&mut c.end, &policy, at_ms, points))
    }

    fn record_commits(&self, cluster: &str, at_ms: i64, offsets: &[CommittedOffset]) -> Vec<Recorded> {
        let policy = self.policies.committed;
        self.with_cluster(cluster, |c| {
            c.committed.retain(|_, partitions| {
                partitions.retain(|_, e| fresh(e, &policy, at_ms));
                !partitions.is_empty()
            });
            let mut recorded = Vec::with_capacity(offsets.len());
            for run in offsets.chunk_by(|a, b| a.group == b.group) {
                let Some(first) = run.first() else { continue };
                let partitions = c.committed.entry(first.group.clone()).or_default();
                let points = run.iter().map(|o| (o.tp.clone(), o.committed));
                recorded.extend(append_all(partitions, &policy, at_ms, points));
            }
            recorded
        })
    }
}

#[cfg(test)]
mod tests {
    use lagring_core::history::AppendOutcome;

    use super::*;
    use crate::history::count_resets;

    fn end(topic: &str, partition: i32, end: i64) -> EndOffset {
        EndOffset { tp: TopicPartition::new(topic, partition), end }
    }

    fn points(r: &Recorded) -> Vec<(i64, i64)> {
        r.history.points().iter().map(|p| (p.offset, p.at_ms)).collect()
    }

    #[tokio::test]
    async fn appends_per_slot_idempotently_and_counts_resets() {
        let store = MemoryHistoryStore::new(HistoryPolicies::default());
        let batch = [end("t", 0, 10), end("t", 1, 50)];
        store.record_end_offsets("c", 1_000, &batch).await.unwrap();
        // A second node records the same slot: nothing changes.
        let again = store.record_end_offsets("c", 1_000, &[end("t", 0, 11)]).await.unwrap();
        assert_eq!(again[0].outcome, AppendOutcome::Ignored);
        assert_eq!(points(&again[0]), [(10, 1_000)]);
        let next = store.record_end_offsets("c", 2_000, &[end("t", 0, 20), end("t", 1, 5)]).await.unwrap();
        assert_eq!(points(&next[0]), [(10, 1_000), (20, 2_000)]);
        assert_eq!(next[1].outcome, AppendOutcome::Reset);
        assert_eq!(count_resets(&next), 1);
        // Other clusters and committed histories are separate.
        let other = store.record_end_offsets("d", 2_000, &[end("t", 0, 99)]).await.unwrap();
        assert_eq!(points(&other[0]), [(99, 2_000)]);
        let commit = CommittedOffset { group: "g".into(), tp: TopicPartition::new("t", 0), committed: 7 };
        let got = store.record_committed("c", 2_000, std::slice::from_ref(&commit)).await.unwrap();
        assert_eq!(points(&got[0]), [(7, 2_000)]);
    }

    #[tokio::test]
    async fn histories_expire_when_no_longer_observed() {
        let policies = HistoryPolicies { end: HistoryPolicy::new(10, 1_000).unwrap(), ..Default::default() };
        let store = MemoryHistoryStore::new(policies);
        store.record_end_offsets("c", 0, &[end("t", 0, 1), end("t", 1, 1)]).await.unwrap();
        // Partition 1 keeps being observed; partition 0 is not, for 2 s (2 × max age).
        store.record_end_offsets("c", 1_500, &[end("t", 1, 2)]).await.unwrap();
        store.record_end_offsets("c", 2_000, &[end("t", 1, 3)]).await.unwrap();
        let got = store.record_end_offsets("c", 2_500, &[end("t", 0, 5), end("t", 1, 4)]).await.unwrap();
        assert_eq!(points(&got[0]), [(5, 2_500)]);
        assert_eq!(points(&got[1]), [(2, 1_500), (3, 2_000), (4, 2_500)]);
    }
}
