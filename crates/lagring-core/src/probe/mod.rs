//! The pure accounting of the end-to-end availability probe: a produce
//! service writes records carrying a per-partition sequence number and their
//! produce time to a monitor topic, a consume service reads them back, and
//! this module turns what both saw into lost, duplicated and delayed counts,
//! produce and consume availability over a rolling window and an end-to-end
//! latency histogram. No IO here, so every rule is unit- and proptested;
//! `lagring-probe` does the Kafka side.
//!
//! - [`payload`]: the record body (sequence, produce time, padding), bounded parse.
//! - [`sequence`]: per-partition sequence tracking: gaps become lost once they
//!   fall out of the reorder window, a sequence seen again is a duplicate.
//! - [`window`]: rolling counts over the availability window.
//! - [`latency`]: the latency histogram (cumulative buckets, sum, count).
//! - [`accounting`]: [`ProbeAccounting`], all of the above per partition,
//!   and [`ProbeState`], what a new owner resumes from so that a hand-over
//!   counts nothing lost or duplicated.
//! - [`series`]: the `kafka_probe_*` series of one cluster.

pub mod accounting;
pub mod latency;
pub mod payload;
pub mod sequence;
pub mod series;
pub mod window;

pub use accounting::{AccountingOptions, PartitionState, ProbeAccounting, ProbeState, Totals};
pub use latency::LatencyHistogram;
pub use payload::{ProbePayload, decode_payload, encode_payload};
pub use sequence::{Observed, SequenceTracker};
pub use window::{RollingWindow, WindowCounts};
