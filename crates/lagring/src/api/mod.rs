//! A Burrow v3 compatible read API (`/v3/kafka/...`), so Burrow's users and
//! the tools built on its HTTP API (dashboards, goRainbow) read lagring's
//! lag and status unchanged — from ANY node of a fleet, for any group.
//!
//! Data flow: the node that owns a group computes it (compute stage) and
//! [`publish`] writes its evaluation — Burrow's status object with every
//! partition — to the shared evaluation store (Redis in a fleet, memory in
//! single-node mode) with a TTL of a few intervals; [`routes`] read it back
//! on whichever node is asked. [`model`] is Burrow's JSON; [`evaluation`]
//! builds it from lagring's numbers (pure).

pub mod evaluation;
#[cfg(test)]
mod evaluation_tests;
pub mod model;
pub mod publish;
pub mod routes;
#[cfg(test)]
mod tests;

pub use publish::{Evaluated, Publisher, TTL_INTERVALS};
pub use routes::{ApiState, MAX_LISTED, router};
