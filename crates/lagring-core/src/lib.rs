//! lagring-core: the pure part of lagring. No IO, no async runtime.
//!
//! Data flows `model` → `lag` → `lag_series` → sinks:
//! - [`model`]: what the fetch stage observed of one cluster in one iteration.
//! - [`filter`]: allow/deny regexes for group and topic names.
//! - [`lag`]: offset lag per partition (clamped, retention-flagged) and the
//!   per-group and per-(group, topic) max/sum aggregates.
//! - [`lag_series`]: the emitted series for computed lag.
//! - [`metric_names`]: the emitted lag-series names (kafka-lag-go compatible).
//! - [`series`]: series identity, samples, staleness markers.

pub mod filter;
pub mod lag;
pub mod lag_series;
pub mod metric_names;
pub mod model;
pub mod ownership;
pub mod series;
