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
//! - [`group_series`]: group type and state, members, each member's
//!   partitions, share-group lag.
//! - [`push_series`]: values only push sinks get (Burrow's per-partition
//!   window start and committed offsets, for goRainbow's names).
//! - [`probe`]: the end-to-end availability probe's accounting (sequences,
//!   availability windows, latency histogram, the state a new owner resumes).
//!
//! Time lag flows `history` → `group_time` → `time_lag_series`:
//! - [`history`]: offset history points and the append rules (idempotent per
//!   slot, flat runs compressed, reset when the offset goes down, bounded)
//!   shared by the in-memory and Redis history stores.
//! - [`time_lag`]: produce time of the committed offset from the end-offset
//!   history: interpolated, extrapolated (counted) or no data.
//! - [`rates`]: produce and consume rates, catch-up ETA.
//! - [`status`]: Burrow-style partition and group status from the histories.
//! - [`group_time`]: all of the above for one group in one iteration.
//! - [`time_lag_series`]: the emitted series for them.

pub mod filter;
pub mod group_series;
pub mod group_time;
pub mod history;
pub mod lag;
pub mod lag_series;
pub mod metric_names;
pub mod model;
pub mod ownership;
pub mod probe;
pub mod push_series;
pub mod rates;
pub mod series;
pub mod status;
pub mod time_lag;
pub mod time_lag_series;
