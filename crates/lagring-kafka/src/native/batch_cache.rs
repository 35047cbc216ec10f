//! The record-batch cache of exact time lag. Batches are immutable once written, so every batch
//! read is kept per partition by its offset range: a committed offset inside a cached batch
//! costs no Fetch. Shared by the clones of a client and kept for its lifetime, so it is bounded
//! whatever brokers send and however many partitions come and go:
//!
//! - per partition, the [`BATCHES_PER_PARTITION`] most recently used batches (groups at
//!   different offsets of one partition);
//! - in all, [`CacheLimits::max_entries`] batches and [`CacheLimits::max_bytes`] bytes (a
//!   batch's size counts its per-record times). Past either, the partitions seen longest ago are
//!   dropped whole until the cache is back under 7/8 of the bound, so the sort this takes is
//!   paid once per many inserts;
//! - a partition not looked up or filled for [`CacheLimits::forget_after_calls`] calls is
//!   dropped (deleted topics, groups that moved on).
//!
//! Inserting one answer costs O(batches × log batches) however many it holds; there is no
//! per-batch scan of the existing entries.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use lagring_core::model::{Offset, TopicPartition};

use super::record_batch::{Batch, Times};
use crate::record_time::RecordTime;

/// Batches kept per partition (most recently used first to stay).
pub(crate) const BATCHES_PER_PARTITION: usize = 16;

/// Bounds of the whole cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CacheLimits {
    /// Batches in all partitions. Default 200,000: 16 batches for each of 12,500 partitions, or
    /// one for each of 200,000 lagging partitions.
    pub(crate) max_entries: usize,
    /// Bytes of all cached batches, per-record times included. Default 64 MiB.
    pub(crate) max_bytes: usize,
    /// Calls of `record_times` after which an unseen partition is dropped. Default 100 (a few
    /// minutes at lagring's usual iteration interval).
    pub(crate) forget_after_calls: u64,
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits { max_entries: 200_000, max_bytes: 64 * 1024 * 1024, forget_after_calls: 100 }
    }
}

#[derive(Debug)]
struct Cached {
    batch: Batch,
    used: u64,
}

impl Cached {
    /// Bytes this entry holds: the entry itself and its per-record times.
    fn bytes(&self) -> usize {
        let records = match &self.batch.times {
            Times::Records(records) => records.capacity() * size_of::<(Offset, i64)>(),
            _ => 0,
        };
        size_of::<Cached>() + records
    }
}

#[derive(Debug, Default)]
struct Partition {
    batches: Vec<Cached>,
    /// The call that last looked this partition up or filled it.
    seen: u64,
    bytes: usize,
}

#[derive(Debug, Default)]
struct CacheInner {
    call: u64,
    by_partition: HashMap<TopicPartition, Partition>,
    entries: usize,
    bytes: usize,
}

impl CacheInner {
    fn remove(&mut self, tp: &TopicPartition) {
        if let Some(gone) = self.by_partition.remove(tp) {
            self.entries -= gone.batches.len();
            self.bytes -= gone.bytes;
        }
    }

    /// Drops the partitions seen longest ago until both totals are under 7/8 of `limits`.
    fn shrink(&mut self, limits: &CacheLimits) {
        let (entries_goal, bytes_goal) = (limits.max_entries / 8 * 7, limits.max_bytes / 8 * 7);
        let mut by_age: Vec<(u64, TopicPartition)> =
            self.by_partition.iter().map(|(tp, p)| (p.seen, tp.clone())).collect();
        by_age.sort_unstable_by_key(|(seen, _)| *seen);
        for (_, tp) in by_age {
            if self.entries <= entries_goal && self.bytes <= bytes_goal {
                break;
            }
            self.remove(&tp);
        }
    }
}

/// Batches read so far, per partition, by offset range. A `std` mutex: held only to look up or
/// insert, never across an `.await`.
#[derive(Debug, Default)]
pub(crate) struct BatchCache {
    inner: Mutex<CacheInner>,
    limits: CacheLimits,
}

impl BatchCache {
    #[cfg(test)]
    fn with_limits(limits: CacheLimits) -> Self {
        BatchCache { inner: Mutex::default(), limits }
    }

    fn lock(&self) -> MutexGuard<'_, CacheInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a call: batches used from now on count as recently used, and partitions unseen for
    /// `forget_after_calls` calls are dropped.
    pub(crate) fn begin(&self) {
        let mut inner = self.lock();
        inner.call += 1;
        let Some(oldest_kept) = inner.call.checked_sub(self.limits.forget_after_calls) else { return };
        let stale: Vec<TopicPartition> =
            inner.by_partition.iter().filter(|(_, p)| p.seen < oldest_kept).map(|(tp, _)| tp.clone()).collect();
        for tp in &stale {
            inner.remove(tp);
        }
    }

    pub(crate) fn lookup(&self, tp: &TopicPartition, offset: Offset) -> Option<RecordTime> {
        let mut inner = self.lock();
        let call = inner.call;
        let partition = inner.by_partition.get_mut(tp)?;
        partition.seen = call;
        let cached = partition.batches.iter_mut().find(|c| c.batch.contains(offset))?;
        cached.used = call;
        Some(cached.batch.time_of(offset))
    }

    /// Adds the batches of one answer. A partition keeps [`BATCHES_PER_PARTITION`]: those used
    /// last first, among them those holding an offset just `asked`, then the lowest offsets
    /// (right after the commits just asked, which the groups reach next).
    pub(crate) fn insert(&self, tp: &TopicPartition, batches: &[Batch], asked: &[Offset]) {
        if batches.is_empty() {
            return;
        }
        let mut asked = asked.to_vec();
        asked.sort_unstable();
        let hot = |b: &Batch| {
            let first_at_or_after = asked.partition_point(|o| *o < b.base);
            asked.get(first_at_or_after).is_some_and(|o| *o <= b.last)
        };
        // The answer's own best: every batch of it is "used" now, so only hot-then-lowest decides.
        let mut fresh: Vec<(bool, &Batch)> = batches.iter().map(|b| (hot(b), b)).collect();
        fresh.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.base.cmp(&b.1.base)));
        fresh.truncate(BATCHES_PER_PARTITION);

        let mut inner = self.lock();
        let call = inner.call;
        let old = inner.by_partition.remove(tp).unwrap_or_default();
        inner.entries -= old.batches.len();
        inner.bytes -= old.bytes;
        // A cut batch read again whole replaces its earlier, less exact entry.
        let replaced = |c: &Cached| fresh.iter().any(|(_, b)| b.base == c.batch.base && b.last == c.batch.last);
        let mut entries: Vec<(bool, Cached)> =
            old.batches.into_iter().filter(|c| !replaced(c)).map(|c| (hot(&c.batch), c)).collect();
        entries.extend(fresh.into_iter().map(|(h, b)| (h, Cached { batch: b.clone(), used: call })));
        entries.sort_by(|(hot_a, a), (hot_b, b)| {
            b.used.cmp(&a.used).then(hot_b.cmp(hot_a)).then(a.batch.base.cmp(&b.batch.base))
        });
        entries.truncate(BATCHES_PER_PARTITION);
        let batches: Vec<Cached> = entries.into_iter().map(|(_, c)| c).collect();
        let bytes = batches.iter().map(Cached::bytes).sum();
        inner.entries += batches.len();
        inner.bytes += bytes;
        inner.by_partition.insert(tp.clone(), Partition { batches, seen: call, bytes });
        if inner.entries > self.limits.max_entries || inner.bytes > self.limits.max_bytes {
            inner.shrink(&self.limits);
        }
    }

    #[cfg(test)]
    fn totals(&self) -> (usize, usize, usize) {
        let inner = self.lock();
        (inner.by_partition.len(), inner.entries, inner.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(base: Offset, len: i64) -> Batch {
        Batch { base, last: base + len - 1, first_ms: base, max_ms: base + len, times: Times::Span }
    }

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    #[test]
    fn a_partition_keeps_its_hot_and_lowest_batches() {
        let cache = BatchCache::default();
        cache.begin();
        let batches: Vec<Batch> = (0..100).map(|i| span(i * 10, 10)).collect();
        cache.insert(&tp(0), &batches, &[905]);
        assert!(cache.lookup(&tp(0), 905).is_some(), "the batch asked for stays");
        assert!(cache.lookup(&tp(0), 0).is_some() && cache.lookup(&tp(0), 149).is_some(), "lowest next");
        assert!(cache.lookup(&tp(0), 150).is_none());
        assert_eq!(cache.totals().1, BATCHES_PER_PARTITION);
    }

    #[test]
    fn a_batch_read_again_replaces_its_entry() {
        let cache = BatchCache::default();
        cache.begin();
        cache.insert(&tp(0), &[span(0, 10)], &[0]);
        let whole = Batch { times: Times::Records(vec![(0, 7)]), ..span(0, 10) };
        cache.insert(&tp(0), std::slice::from_ref(&whole), &[0]);
        assert_eq!(cache.totals().1, 1);
        assert!(cache.lookup(&tp(0), 0).unwrap().exact);
    }

    #[test]
    fn entries_and_bytes_stay_bounded_over_many_partitions() {
        let limits = CacheLimits { max_entries: 1_000, max_bytes: 1 << 20, forget_after_calls: 1_000 };
        let cache = BatchCache::with_limits(limits);
        for call in 0..50 {
            cache.begin();
            for p in 0..200 {
                let batches: Vec<Batch> = (0..4).map(|i| span(i64::from(call * 1_000 + i * 10), 10)).collect();
                cache.insert(&tp(call * 200 + p), &batches, &[]);
                let (_, entries, bytes) = cache.totals();
                assert!(entries <= limits.max_entries && bytes <= limits.max_bytes, "{entries} {bytes}");
            }
        }
        // The partitions of the last call survive; the oldest went first.
        assert!(cache.lookup(&tp(49 * 200 + 199), 49_000).is_some());
        assert!(cache.lookup(&tp(0), 0).is_none());

        let big = Batch { times: Times::Records((0..10_000).map(|o| (o, o)).collect()), ..span(0, 10_000) };
        for p in 0..20 {
            cache.insert(&tp(100_000 + p), std::slice::from_ref(&big), &[]);
            assert!(cache.totals().2 <= limits.max_bytes);
        }
    }

    #[test]
    fn partitions_unseen_for_a_while_are_forgotten() {
        let limits = CacheLimits { forget_after_calls: 3, ..CacheLimits::default() };
        let cache = BatchCache::with_limits(limits);
        cache.begin();
        cache.insert(&tp(0), &[span(0, 10)], &[]);
        cache.insert(&tp(1), &[span(0, 10)], &[]);
        for _ in 0..5 {
            cache.begin();
            assert!(cache.lookup(&tp(1), 5).is_some());
        }
        assert_eq!(cache.totals().0, 1, "partition 0 was not seen for 5 calls");
        assert!(cache.lookup(&tp(0), 5).is_none());
    }

    #[test]
    fn one_huge_answer_inserts_in_linear_time() {
        let cache = BatchCache::default();
        cache.begin();
        let batches: Vec<Batch> = (0..200_000).map(|i| span(i * 2, 2)).collect();
        let asked: Vec<Offset> = (0..10_000).map(|i| i * 40).collect();
        let started = std::time::Instant::now();
        cache.insert(&tp(0), &batches, &asked);
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
        assert_eq!(cache.totals().1, BATCHES_PER_PARTITION);
    }
}
