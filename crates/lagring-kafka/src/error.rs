//! Errors of the Kafka adapter. Every variant names the cluster, and the
//! group, partition or API where one applies, so a log line or a metric label
//! says what failed without extra context.

use std::sync::Arc;
use std::time::Duration;

use lagring_core::model::TopicPartition;

/// A failure reported by librdkafka or a broker: its error code (negative
/// codes are librdkafka-local, positive ones come from the broker) and text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerError {
    pub code: i32,
    pub message: String,
}

impl std::fmt::Display for BrokerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

/// librdkafka's code for a request that ran out of time.
pub(crate) const TIMED_OUT: i32 = -185;
/// librdkafka's code for a broker connection failure (also used by the native
/// client).
pub(crate) const TRANSPORT: i32 = -195;
/// librdkafka's code for a malformed response.
pub(crate) const BAD_MSG: i32 = -199;
/// librdkafka's code for a failed SASL authentication.
pub(crate) const AUTHENTICATION: i32 = -169;
/// librdkafka's code for a feature the broker does not support.
pub(crate) const UNSUPPORTED_FEATURE: i32 = -165;

#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("cluster {cluster}: invalid client configuration: {source}")]
    Config {
        cluster: Arc<str>,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("cluster {cluster}: invalid client configuration: {what}")]
    Unsupported { cluster: Arc<str>, what: String },
    #[error("cluster {cluster}: {api} request failed: {error}")]
    Request { cluster: Arc<str>, api: &'static str, error: BrokerError },
    #[error("cluster {cluster}: {api} request timed out after {after:?}")]
    Timeout { cluster: Arc<str>, api: &'static str, after: Duration },
    #[error("cluster {cluster}: list groups answered partially: {failed} broker(s) failed, first: {first}")]
    PartialGroupListing { cluster: Arc<str>, failed: usize, first: BrokerError },
    #[error("cluster {cluster}: offset fetch for group {group} failed: {error}")]
    Group { cluster: Arc<str>, group: Arc<str>, error: BrokerError },
    /// A describe of one group (DescribeGroups, ConsumerGroupDescribe, ShareGroupDescribe,
    /// DescribeShareGroupOffsets) failed; other groups of the call are unaffected.
    #[error("cluster {cluster}: {api} for group {group} failed: {error}")]
    GroupRequest { cluster: Arc<str>, api: &'static str, group: Arc<str>, error: BrokerError },
    #[error("cluster {cluster}: offset fetch for group {group} timed out after {after:?}")]
    GroupTimeout { cluster: Arc<str>, group: Arc<str>, after: Duration },
    #[error("cluster {cluster}: {api} for partition {partition} failed: {error}")]
    Partition { cluster: Arc<str>, api: &'static str, partition: TopicPartition, error: BrokerError },
    #[error("cluster {cluster}: {api} returned no answer for partition {partition}")]
    MissingPartition { cluster: Arc<str>, api: &'static str, partition: TopicPartition },
    #[error("cluster {cluster}: {api} returned invalid offset {offset} for partition {partition}")]
    InvalidOffset { cluster: Arc<str>, api: &'static str, partition: TopicPartition, offset: i64 },
    #[error("cluster {cluster}: metadata request failed: {source}")]
    Metadata {
        cluster: Arc<str>,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("cluster {cluster}: {what} contains a nul byte: {name:?}")]
    InvalidName { cluster: Arc<str>, what: &'static str, name: String },
    #[error("cluster {cluster}: no produce time for partition {partition} at offset {offset}: {reason}")]
    RecordTime { cluster: Arc<str>, partition: TopicPartition, offset: i64, reason: String },
    #[error("cluster {cluster}: {what} needs the native client (client: native)")]
    NeedsNative { cluster: Arc<str>, what: &'static str },
    #[error("cluster {cluster}: {api} worker failed: {message}")]
    Internal { cluster: Arc<str>, api: &'static str, message: String },
}

impl KafkaError {
    /// True when the error is a timeout (of librdkafka or of the outer bound).
    pub fn is_timeout(&self) -> bool {
        match self {
            KafkaError::Timeout { .. } | KafkaError::GroupTimeout { .. } => true,
            KafkaError::Request { error, .. }
            | KafkaError::Group { error, .. }
            | KafkaError::GroupRequest { error, .. }
            | KafkaError::Partition { error, .. } => error.code == TIMED_OUT,
            KafkaError::Metadata { source, .. } => {
                source.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::OperationTimedOut)
            }
            _ => false,
        }
    }
}
