//! lagring-store: how the nodes of a fleet agree on who is alive and who may
//! emit which group.
//!
//! - [`store`]: the [`CoordinationStore`] contract (heartbeat + live set +
//!   epoch, deregister, batched lease claim/hand-over/release) the pipeline
//!   talks to.
//! - [`redis_store`]: the fleet implementation on Redis (Lua scripts on the server
//!   clock, reconnecting connection, namespaced hash-tagged keys).
//! - [`memory`]: the single-node implementation kept in this process.
//! - [`ownership`]: ownership in one place — placement keys, per-cluster
//!   rings, the fence (epochs, duplicate ids), the health gate and the
//!   per-cluster lease tracker, all over the abstract store.
//! - [`clock`]: the injectable monotonic clock used by the tracker and memory store.
//! - [`evaluations`]: the latest evaluation of every group and the end
//!   offsets of every topic, published by their owner so that any node can
//!   serve the read API (Burrow's `/v3/kafka`).
//! - [`history`]: the offset histories time lag, rates and status are computed
//!   from, shared by the fleet in Redis (in memory in single-node mode).
//!
//! `rediss://` needs a process-wide rustls `CryptoProvider`: the binary calls
//! [`install_crypto_provider`] once at startup.
//!
//! Flow per node: heartbeat → live set → ring → claim/release leases →
//! emittable keys → fetch/compute/emit.

pub mod clock;
mod error;
pub mod evaluations;
pub mod history;
pub mod memory;
pub mod ownership;
pub mod redis_store;
pub mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::StoreError;
pub use evaluations::{
    EvaluationStore, Listed, MemoryEvaluationStore, Published, RecordKind, RedisEvaluationStore, open_evaluation_store,
};
pub use history::{
    CommittedOffset, EndOffset, HistoryPolicies, HistoryStore, MemoryHistoryStore, Points, Recorded, RedisHistoryStore,
    SlotPoints, open_history_store,
};
pub use memory::MemoryStore;
pub use redis_store::{RedisConfig, RedisMode, RedisStore, ReplicaWrites, SentinelConfig, install_crypto_provider};
pub use store::{
    ClaimOutcome, CoordinationStore, Epoch, HandOver, Heartbeat, HeartbeatOutcome, LeaseClaim, LeaseHandOver,
    Membership, NodeIdentity, NodeInfo, NodeStatus, StoreFuture,
};

/// The store for a config: Redis when a `redis:` section is present (validated
/// now, connected lazily so a node starts degraded rather than crash-looping
/// while Redis is down), else the in-memory store of single-node mode.
pub fn open_store(redis: Option<&RedisConfig>) -> Result<std::sync::Arc<dyn CoordinationStore>, StoreError> {
    Ok(match redis {
        Some(config) => std::sync::Arc::new(RedisStore::new(config)?),
        None => std::sync::Arc::new(MemoryStore::new()),
    })
}
