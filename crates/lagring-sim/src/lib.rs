//! `lagring-sim`: a synthetic Kafka cluster spoken over the real wire protocol, so lagring can be
//! tested and benchmarked at a scale (tens of thousands of groups) no installable broker reaches.
//!
//! Module map (data flows top to bottom):
//! - [`scenario`]: the YAML schema (brokers, topics, produce rates, groups and behaviours,
//!   faults) and the built-in `scale` generator.
//! - [`model`]: the compiled scenario. Every offset is a pure function of (seed, scenario time):
//!   log start / high watermark / last stable offset per partition, committed offset per group.
//!   [`model::expected::Expected`] is the same numbers as a snapshot for tests.
//! - [`clock`]: real or manual scenario time.
//! - `handlers`: one file per Kafka API; decode with `kafka-protocol`, answer from the model.
//! - [`server`]: listeners per broker, connection loops, fault application; [`SimHandle`].
//! - [`faults`], [`counters`], [`stats`]: latency/error/outage injection, request counters per
//!   broker and API, and a JSON stats endpoint for benchmarks.
//! - [`controls`]: faults a test switches while clients are connected (a silent broker, a moved
//!   coordinator, API versions capped like an older broker), through [`SimHandle`].

pub mod clock;
pub mod controls;
pub mod counters;
pub mod error;
pub mod faults;
mod handlers;
pub mod model;
pub mod scenario;
pub mod server;
pub mod stats;

pub use clock::{Clock, ManualClock};
pub use counters::RequestCounts;
pub use error::SimError;
pub use handlers::SUPPORTED;
/// The API keys [`SimHandle::cap_version`] takes, for crates that do not depend on the codec.
pub use kafka_protocol::messages::ApiKey;
pub use model::expected::{Expected, ExpectedGroup};
pub use model::partition::PartitionOffsets;
pub use scenario::Scenario;
pub use scenario::scale::ScaleSpec;
pub use server::{Sim, SimHandle};
