//! The Redis coordination store of a fleet.
//!
//! - [`config`]: the `redis:` config section and the client it builds.
//! - `connection`: the lazy, reconnecting, bounded connection both Redis
//!   stores use.
//! - `target`: what that connection connects to in each [`RedisMode`]
//!   (standalone, Sentinel, Cluster).
//! - `scripts`: key layout and the Lua scripts (one round trip per operation).
//! - `service`: [`RedisStore`], the connection and the calls.

pub mod config;
mod connection;
mod scripts;
mod service;
mod target;

pub use config::{RedisConfig, RedisMode, RedisTlsConfig, SentinelConfig};
pub(crate) use connection::LazyConnection;
pub use service::{LEASE_BATCH, RedisStore, ReplicaWrites};

/// Installs aws-lc-rs as the process-wide rustls `CryptoProvider` unless one
/// is installed already. The binary calls this once at startup: `rediss://`
/// builds its TLS config from the process default, and rustls can only pick
/// one by itself while exactly one provider feature is enabled in the whole
/// build. Idempotent; returns false when another provider was already there.
pub fn install_crypto_provider() -> bool {
    rustls::crypto::aws_lc_rs::default_provider().install_default().is_ok()
}
