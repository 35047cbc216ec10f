//! Prometheus remote write v1, split by role like Vector's sink:
//!
//! - [`config`]: the `remote_write` config section and its validation.
//! - [`delivery`]: whether this node can deliver at all, shared with the
//!   node so a fleet moves the groups of a node whose output is broken.
//! - [`proto`]: the protobuf messages (hand-derived prost, no protoc).
//! - [`request_builder`]: pure encoding of queued points into snappy-compressed
//!   `WriteRequest`s (label order, time order, staleness markers, splitting).
//! - [`queue`]: the bounded FIFO that rides out outages and counts drops.
//! - [`retry`]: capped exponential backoff with jitter and `Retry-After`.
//! - `service`: the HTTP call and response classification.
//! - [`writer`]: [`RemoteWriter`] wiring it together: a non-blocking handle
//!   and one in-order worker.

pub mod config;
pub mod delivery;
mod metrics;
pub mod proto;
pub mod queue;
pub mod request_builder;
pub mod retry;
mod service;
pub mod writer;

pub use config::{BasicAuth, RemoteWriteConfig, Secret, TlsConfig};
pub use delivery::{DeliveryHealth, DeliveryState};
pub use writer::{RemoteWriteHandle, RemoteWriteWorker, RemoteWriter};
