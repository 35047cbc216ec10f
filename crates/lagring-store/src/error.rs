//! Errors of the coordination store, with the context an operator needs
//! (which key path, which node, which operation).

/// Everything a store call or its configuration can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A configuration value is invalid; `path` is the key path (`redis.url`).
    #[error("{path}: {message}")]
    Config {
        /// Key path of the offending value.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// The CA file named in the config could not be read.
    #[error("redis.tls.ca_file: cannot read {file}: {source}")]
    CaFile {
        /// The file as configured.
        file: String,
        /// Underlying IO error.
        #[source]
        source: std::io::Error,
    },
    /// Connecting to Redis failed.
    #[error("connect to redis at {addr}: {source}")]
    Connect {
        /// Address without credentials.
        addr: String,
        /// Underlying client error.
        #[source]
        source: redis::RedisError,
    },
    /// A command or script failed (network, timeout, server error).
    #[error("redis {op} failed: {source}")]
    Redis {
        /// The store operation (`heartbeat`, `claim_leases`, ...).
        op: &'static str,
        /// Underlying client error.
        #[source]
        source: redis::RedisError,
    },
    /// A round trip (or the reconnect it waited for) took too long.
    #[error("redis {op} timed out after {after:?}")]
    Timeout {
        /// The store operation.
        op: &'static str,
        /// The bound that passed.
        after: std::time::Duration,
    },
    /// Redis answered something this client did not expect.
    #[error("redis {op} returned an unexpected reply: {detail}")]
    Protocol {
        /// The store operation.
        op: &'static str,
        /// What did not fit.
        detail: String,
    },
}

impl StoreError {
    pub(crate) fn config(path: &str, message: impl Into<String>) -> Self {
        Self::Config { path: path.to_owned(), message: message.into() }
    }

    pub(crate) fn redis(op: &'static str) -> impl FnOnce(redis::RedisError) -> Self {
        move |source| Self::Redis { op, source }
    }
}
