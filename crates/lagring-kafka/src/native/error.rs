//! What can go wrong on the wire, before a broker's own error code: the native client's
//! transport errors, mapped to the adapter's [`BrokerError`] with librdkafka's local codes so a
//! timeout is a timeout (`KafkaError::is_timeout`) whichever client produced it.

use std::time::Duration;

use crate::error::{AUTHENTICATION, BAD_MSG, BrokerError, TIMED_OUT, TRANSPORT, UNSUPPORTED_FEATURE};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WireError {
    #[error("connect to {addr} failed: {message}")]
    Connect { addr: String, message: String },
    #[error("connection closed")]
    Closed,
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    #[error("broker {addr} unavailable ({cause}), reconnecting in {retry_in:?}")]
    Backoff { addr: String, retry_in: Duration, cause: String },
    #[error("sasl {mechanism} authentication as {user:?} failed: {message}")]
    Auth { mechanism: &'static str, user: String, message: String },
    #[error("cannot encode request: {0}")]
    Encode(String),
    #[error("malformed response: {0}")]
    Decode(String),
    #[error("response frame of {size} bytes from broker {addr} exceeds the limit of {max} bytes")]
    FrameTooLarge { addr: String, size: usize, max: usize },
    #[error("broker {addr}: {message}")]
    Frame { addr: String, message: String },
    #[error("broker supports no version of {api} this client speaks")]
    Unsupported { api: &'static str },
    #[error("no broker known")]
    NoBroker,
    #[error("{message}")]
    Broker { code: i16, message: String },
}

impl WireError {
    /// A broker's error code as an error.
    pub(crate) fn broker(code: i16) -> Self {
        let message = match kafka_protocol::ResponseError::try_from_code(code) {
            Some(e) => format!("broker: {e}"),
            None => "broker: no error".to_owned(),
        };
        WireError::Broker { code, message }
    }

    /// Whether the connection the request went over is gone or must not be trusted further.
    pub(crate) fn ends_connection(&self) -> bool {
        matches!(
            self,
            WireError::Timeout(_) | WireError::Closed | WireError::FrameTooLarge { .. } | WireError::Frame { .. }
        )
    }

    /// The error with the broker that sent a malformed answer named in it.
    pub(crate) fn at_broker(self, addr: &str) -> Self {
        match self {
            WireError::Decode(message) => WireError::Decode(format!("from broker {addr}: {message}")),
            other => other,
        }
    }
}

impl From<WireError> for BrokerError {
    fn from(e: WireError) -> Self {
        let code = match &e {
            WireError::Timeout(_) => TIMED_OUT,
            WireError::Connect { .. } | WireError::Closed | WireError::Backoff { .. } | WireError::NoBroker => {
                TRANSPORT
            }
            WireError::Encode(_) | WireError::Decode(_) | WireError::FrameTooLarge { .. } | WireError::Frame { .. } => {
                BAD_MSG
            }
            WireError::Unsupported { .. } => UNSUPPORTED_FEATURE,
            WireError::Auth { .. } => AUTHENTICATION,
            WireError::Broker { code, .. } => i32::from(*code),
        };
        BrokerError { code, message: e.to_string() }
    }
}
