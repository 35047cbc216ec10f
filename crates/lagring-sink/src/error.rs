//! The crate's error type.
//!
//! Every variant says which setting, file or metric it is about, so a message
//! in a log or on startup points at the thing to fix.

use std::path::PathBuf;

/// Errors from building or running a sink.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// A configuration value is invalid; `key` is the full key path.
    #[error("{key}: {message}")]
    Config { key: String, message: String },

    /// A file named in the configuration could not be read.
    #[error("read {key} file {path}: {source}")]
    ReadFile {
        key: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A certificate, key or the HTTP client itself could not be built.
    #[error("build http client ({what}): {source}")]
    HttpClient {
        what: String,
        #[source]
        source: reqwest::Error,
    },

    /// A self metric could not be created or registered.
    #[error("register metric {name}: {source}")]
    RegisterMetric {
        name: String,
        #[source]
        source: prometheus::Error,
    },

    /// The text exposition of a registry failed.
    #[error("render metrics: {0}")]
    Render(#[source] prometheus::Error),

    /// Snappy compression of a request body failed.
    #[error("compress remote write request: {0}")]
    Compress(#[source] snap::Error),
}

impl SinkError {
    /// A configuration error for `key`.
    pub(crate) fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Config { key: key.into(), message: message.into() }
    }
}
