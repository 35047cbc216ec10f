//! One-shot subcommands beside `run`: they share the config and the Kafka
//! fetch code of the node but need neither Redis nor remote write.
//!
//! - [`check`]: `lagring check`, one iteration per cluster printed like
//!   `kafka-consumer-groups --describe` (or as JSON).
//! - [`migrate`]: `lagring migrate kafka-lag-go`, a kafka-lag-go config
//!   rewritten as a lagring config, with a note per key that has no equivalent.

pub mod check;
pub mod migrate;
