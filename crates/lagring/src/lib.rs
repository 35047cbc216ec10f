//! lagring as a library: the node's [`pipeline::run`] and everything it is
//! made of, so pipeline behaviour is tested in process (memory store,
//! simulator) as well as with real processes. `main.rs` only parses
//! arguments, sets up logging and maps errors to exit codes.
//!
//! - [`config`]: YAML loading, `${VAR}` substitution, validation (exit code 2).
//! - [`coordination`]: the node-wide fleet glue — heartbeats, the fence,
//!   leaving, restarting — over the ownership rules of `lagring_store::ownership`
//!   (its metrics in [`coordination_metrics`]).
//! - [`pipeline`]: per cluster a fetch loop (discover → claim → fetch) and a
//!   compute task, one emit task, all supervised.
//! - [`api`]: Burrow's v3 read API: owners publish each group's evaluation
//!   to the shared store, any node serves it.
//! - [`http`], [`health`], [`self_metrics`]: what operators look at.
//! - [`ring`]: `lagring ring`, the operator's view of the fleet.
//! - [`cli`]: `lagring check` (one iteration, printed) and `lagring migrate`.

pub mod api;
pub mod cli;
pub mod config;
pub mod coordination;
pub mod coordination_metrics;
pub mod health;
pub mod http;
pub mod pipeline;
pub mod ring;
pub mod self_metrics;
