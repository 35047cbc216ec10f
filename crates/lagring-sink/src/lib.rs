//! Emission of lagring's series. Data flows from the pipeline's emit stage as
//! [`SeriesBatch`](lagring_core::series::SeriesBatch)es (one per cluster per
//! iteration) into two independent sinks:
//!
//! - [`remote_write`]: pushes every batch to a Prometheus remote write
//!   receiver. A non-blocking handle queues the batch (bounded, oldest
//!   dropped and counted), one worker sends requests strictly in order with
//!   retries, and ended series get one staleness marker. The worker also
//!   tells the node whether it can deliver at all
//!   ([`remote_write::DeliveryHealth`]), so a fleet moves the groups of a node
//!   whose receiver refuses it.
//! - [`metrics_endpoint`]: keeps the latest batch per cluster for the local
//!   `/metrics` scrape, so deleted series vanish at the next iteration; plus
//!   [`render`](metrics_endpoint::render) for the text format, whose lag
//!   series are rendered once per change and shared by concurrent scrapes.
//! - [`push`]: push sinks (Wavefront, ...), any number at once, each with its
//!   own gate (change-gated sending, zero-bracketing), bounded queue, worker
//!   and `lagring_sink_*` counters; the emit stage only enqueues.
//! - [`error`]: [`SinkError`], the crate's error type.

pub mod error;
pub mod metrics_endpoint;
pub mod push;
pub mod remote_write;

pub use error::SinkError;
pub use metrics_endpoint::{LagCollector, render};
pub use remote_write::{RemoteWriteConfig, RemoteWriteHandle, RemoteWriteWorker, RemoteWriter};
