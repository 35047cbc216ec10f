//! Offset histories shared by the fleet: the end offsets of every partition
//! and the committed offsets of every group on it, one point per iteration
//! slot, so that time lag, rates and status survive a group moving to
//! another node (the new owner reads the same history at once).
//!
//! - [`HistoryStore`]: the contract: append one slot's points for many
//!   partitions in one call and get each partition's history back.
//! - [`memory`]: single-node mode, applying core's
//!   [`OffsetHistory::append`] directly.
//! - `service`: [`RedisHistoryStore`], one Lua call per [`HISTORY_BATCH`]
//!   partitions.
//! - `scripts`: key layout and the Lua port of core's append rules.
//! - `encoding`: the byte layout of one history in Redis.
//!
//! Both stores apply the same rules (core's [`lagring_core::history`]):
//! idempotent per slot, flat runs compressed, reset when the offset goes
//! down, bounded by count and age; a history no longer appended to expires
//! after [`HistoryPolicy::expiry_ms`].

use std::sync::Arc;

use lagring_core::history::{AppendOutcome, HistoryPolicy, OffsetHistory};
use lagring_core::model::{Offset, TopicPartition};

use crate::{RedisConfig, StoreError, StoreFuture};

mod encoding;
pub mod memory;
mod scripts;
mod service;

pub use memory::MemoryHistoryStore;
pub use service::{HISTORY_BATCH, RedisHistoryStore};

/// Bounds of the two kinds of history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryPolicies {
    /// End-offset history of a partition (time lag, produce rate).
    pub end: HistoryPolicy,
    /// Committed-offset history of a group on a partition (consume rate, status).
    pub committed: HistoryPolicy,
}

impl Default for HistoryPolicies {
    fn default() -> Self {
        Self { end: HistoryPolicy::END_DEFAULT, committed: HistoryPolicy::COMMIT_DEFAULT }
    }
}

/// The end offset fetched for one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndOffset {
    pub tp: TopicPartition,
    pub end: Offset,
}

/// The committed offset of one group on one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedOffset {
    pub group: Arc<str>,
    pub tp: TopicPartition,
    pub committed: Offset,
}

/// One partition's append and its history afterwards.
///
/// The history is shared, not copied: the in-memory store hands out the
/// history it keeps and copies it on its next append only if the caller
/// still holds this one (copy on write), so an iteration that drops its
/// histories before the next one costs no copy per point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub outcome: AppendOutcome,
    pub history: Arc<OffsetHistory>,
}

/// How many of `recorded` reset their history (offset went down).
pub fn count_resets(recorded: &[Recorded]) -> usize {
    recorded.iter().filter(|r| r.outcome == AppendOutcome::Reset).count()
}

/// Offset histories of the fleet.
///
/// Each call appends the points of one iteration slot (`at_ms`, the slot
/// start, the same on every node) for many partitions of one cluster, and
/// returns every partition's history after the append, in request order.
/// Appending a slot that is already recorded changes nothing, so two nodes
/// that fetched the same partition in the same slot leave one point.
pub trait HistoryStore: Send + Sync + std::fmt::Debug {
    /// Appends one slot's points: the only method a store implements.
    fn append<'a>(&'a self, points: SlotPoints<'a>) -> StoreFuture<'a, Vec<Recorded>>;

    /// Appends end offsets of partitions of `cluster` at `at_ms`.
    fn record_end_offsets<'a>(
        &'a self,
        cluster: &'a str,
        at_ms: i64,
        offsets: &'a [EndOffset],
    ) -> StoreFuture<'a, Vec<Recorded>> {
        self.append(SlotPoints { cluster, at_ms, offsets: Points::End(offsets) })
    }

    /// Appends committed offsets of groups of `cluster` at `at_ms`.
    fn record_committed<'a>(
        &'a self,
        cluster: &'a str,
        at_ms: i64,
        offsets: &'a [CommittedOffset],
    ) -> StoreFuture<'a, Vec<Recorded>> {
        self.append(SlotPoints { cluster, at_ms, offsets: Points::Committed(offsets) })
    }
}

/// The points of one iteration slot of one cluster, of one kind.
#[derive(Clone, Copy, Debug)]
pub struct SlotPoints<'a> {
    pub cluster: &'a str,
    /// The slot's start (the same on every node).
    pub at_ms: i64,
    pub offsets: Points<'a>,
}

/// End offsets of partitions, or committed offsets of groups on partitions.
#[derive(Clone, Copy, Debug)]
pub enum Points<'a> {
    End(&'a [EndOffset]),
    Committed(&'a [CommittedOffset]),
}

/// The history store for a config: Redis when a `redis:` section is present
/// (connected lazily, like the coordination store), else in memory.
pub fn open_history_store(
    redis: Option<&RedisConfig>,
    policies: HistoryPolicies,
) -> Result<Arc<dyn HistoryStore>, StoreError> {
    Ok(match redis {
        Some(config) => Arc::new(RedisHistoryStore::new(config, policies)?),
        None => Arc::new(MemoryHistoryStore::new(policies)),
    })
}
