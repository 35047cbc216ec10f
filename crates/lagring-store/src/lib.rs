//! lagring-store: how the nodes of a fleet agree on who is alive and who may
//! emit which group.
//!
//! - [`store`]: the [`CoordinationStore`] contract (heartbeat + live set,
//!   deregister, batched lease claim/renew/release) the pipeline talks to.
//! - [`redis_store`]: the fleet implementation on Redis (Lua scripts on the server
//!   clock, reconnecting connection, namespaced hash-tagged keys).
//! - [`memory`]: the single-node implementation kept in this process.
//! - [`tracker`]: [`OwnershipTracker`], which turns the live set (core's
//!   `Ring`) and the lease outcomes into "keys I may emit", and rides out a
//!   Redis outage on leases still valid by the node's own monotonic clock.
//! - [`clock`]: the injectable monotonic clock used by the tracker and memory store.
//!
//! `rediss://` needs a process-wide rustls `CryptoProvider`: the binary calls
//! [`install_crypto_provider`] once at startup.
//!
//! Flow per node: heartbeat → live set → ring → claim/release leases →
//! emittable keys → fetch/compute/emit.

pub mod clock;
mod error;
pub mod memory;
pub mod redis_store;
pub mod store;
pub mod tracker;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::StoreError;
pub use memory::MemoryStore;
pub use redis_store::{RedisConfig, RedisStore, install_crypto_provider};
pub use store::{ClaimOutcome, CoordinationStore, Membership, NodeInfo, StoreFuture};
pub use tracker::{OwnershipTracker, SyncReport};

/// The store for a config: Redis when a `redis:` section is present (validated
/// now, connected lazily so a node starts degraded rather than crash-looping
/// while Redis is down), else the in-memory store of single-node mode.
pub fn open_store(redis: Option<&RedisConfig>) -> Result<std::sync::Arc<dyn CoordinationStore>, StoreError> {
    Ok(match redis {
        Some(config) => std::sync::Arc::new(RedisStore::new(config)?),
        None => std::sync::Arc::new(MemoryStore::new()),
    })
}
