//! Kafka adapter for lagring: which consumer groups exist, what they
//! committed, and where each partition's log starts and ends.
//!
//! The adapter is deliberately thin: it turns librdkafka admin results into
//! `lagring-core` model types and errors with context, and nothing else (no
//! lag math, no filtering, no caching).
//!
//! - [`config`]: connection settings and their pure mapping to librdkafka
//!   properties ([`client_properties`]).
//! - [`client`]: [`KafkaClient`], the async API. Every blocking librdkafka call
//!   runs in `spawn_blocking` under an outer `tokio::time::timeout`, on top of
//!   librdkafka's own per-request timeout.
//! - [`ffi`]: the admin APIs the safe `rdkafka` API lacks (ListConsumerGroups,
//!   ListConsumerGroupOffsets, ListOffsets). The only module with `unsafe`;
//!   every raw handle is owned by an RAII guard.
//! - [`error`]: [`KafkaError`], each variant naming the cluster and, where it
//!   applies, the group, partition and API.
//! - [`stats`]: [`RequestStats`], request and error counters for self metrics.

pub mod client;
pub mod config;
pub mod error;
mod ffi;
pub mod stats;

pub use client::{GroupList, GroupListing, KafkaClient, OffsetSpec};
pub use config::{Isolation, KafkaConnection, Sasl, SaslMechanism, Tls, client_properties};
pub use error::KafkaError;
pub use stats::{ApiCounts, RequestStats};
