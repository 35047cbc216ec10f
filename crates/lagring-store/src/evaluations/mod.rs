//! The latest evaluation of every group (and the end offsets of every
//! topic), published by the node that computed it, so that ANY node of the
//! fleet can answer a read API (Burrow's `/v3/kafka/...`) for any group: the
//! node asked is rarely the one that owns the group.
//!
//! - [`EvaluationStore`]: the contract: publish one cluster's records of one
//!   iteration in one round trip, each expiring after a TTL (a few
//!   intervals, so a group that is no longer evaluated disappears); read one
//!   record; list the live names of a cluster, bounded.
//! - [`memory`]: single-node mode and in-process tests: a map with expiry on
//!   the injectable [`Clock`](crate::Clock).
//! - `redis`: [`RedisEvaluationStore`]: one key per record (`SET ... PX`), a
//!   sorted set per cluster and kind indexing the names by expiry, written by
//!   one Lua call per [`PUBLISH_BATCH`] records (or [`PUBLISH_BATCH_BYTES`]),
//!   all pipelined.
//!
//! Values are opaque strings (JSON made by the publisher): the store only
//! keeps, expires and lists them. The publisher bounds their size.

use std::sync::Arc;
use std::time::Duration;

use crate::{RedisConfig, StoreError, StoreFuture};

pub mod memory;
mod redis;

pub use memory::MemoryEvaluationStore;
pub use redis::{PUBLISH_BATCH, PUBLISH_BATCH_BYTES, RedisEvaluationStore};

/// What a published record describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    /// One consumer group's evaluation (lag, status per partition).
    Group,
    /// One topic's end offsets per partition.
    Topic,
    /// A cluster's end-to-end probe state, which the probe's next owner resumes.
    Probe,
}

impl RecordKind {
    /// Name used in keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Group => "group",
            Self::Topic => "topic",
            Self::Probe => "probe",
        }
    }
}

/// One record to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub kind: RecordKind,
    /// Group or topic name.
    pub name: String,
    /// The value (JSON), returned as is by [`EvaluationStore::read`].
    pub value: String,
}

/// Latest evaluations shared by the fleet.
pub trait EvaluationStore: Send + Sync + std::fmt::Debug {
    /// Stores every record of `cluster` (replacing the previous value of
    /// its name), each live for `ttl` from now, in one round trip.
    fn publish<'a>(&'a self, cluster: &'a str, records: &'a [Published], ttl: Duration) -> StoreFuture<'a, ()>;

    /// The live value of `name`, or `None` (never published, or expired).
    fn read<'a>(&'a self, cluster: &'a str, kind: RecordKind, name: &'a str) -> StoreFuture<'a, Option<String>>;

    /// Live names of `cluster` of `kind`, sorted, at most `limit` of them,
    /// and whether more were left out.
    fn names<'a>(&'a self, cluster: &'a str, kind: RecordKind, limit: usize) -> StoreFuture<'a, Listed>;
}

/// A bounded list of names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listed {
    /// Sorted.
    pub names: Vec<String>,
    /// True when live names beyond the limit were left out.
    pub truncated: bool,
}

/// The evaluation store for a config: Redis when a `redis:` section is
/// present (connected lazily), else in memory.
pub fn open_evaluation_store(redis: Option<&RedisConfig>) -> Result<Arc<dyn EvaluationStore>, StoreError> {
    Ok(match redis {
        Some(config) => Arc::new(RedisEvaluationStore::new(config)?),
        None => Arc::new(MemoryEvaluationStore::new()),
    })
}
