//! Error type of the simulator library: one enum so tests and the binary can tell a bad scenario
//! from a socket problem.

use std::io;
use std::net::SocketAddr;

/// Everything that can go wrong while loading a scenario or starting the simulated cluster.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario file could not be read.
    #[error("cannot read scenario {path}: {source}")]
    ReadScenario { path: String, source: io::Error },
    /// The scenario YAML does not match the schema.
    #[error("invalid scenario yaml: {0}")]
    ParseScenario(#[from] serde_norway::Error),
    /// The scenario parsed but is inconsistent (the message names the key path).
    #[error("invalid scenario: {0}")]
    InvalidScenario(String),
    /// The `--scale` specification is malformed.
    #[error("invalid scale spec {spec:?}: {reason}")]
    InvalidScale { spec: String, reason: String },
    /// A broker listener could not be bound.
    #[error("cannot bind broker {broker} on {addr}: {source}")]
    Bind { broker: i32, addr: SocketAddr, source: io::Error },
    /// Any other socket error.
    #[error("io error: {0}")]
    Io(#[from] io::Error),
}
