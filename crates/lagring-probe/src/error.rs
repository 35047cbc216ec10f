//! Errors of the probe; each names the cluster or the call that failed.

/// What can stop a probe from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cluster {cluster}: cannot create the probe's {role}: {source}")]
    Client { cluster: String, role: &'static str, source: rdkafka::error::KafkaError },
    #[error("cluster {cluster}: {call} failed: {source}")]
    Kafka { cluster: String, call: &'static str, source: rdkafka::error::KafkaError },
    #[error("cluster {cluster}: monitor topic {topic}: {reason}")]
    Topic { cluster: String, topic: String, reason: String },
    #[error("cluster {cluster}: probe state: {reason}")]
    State { cluster: String, reason: String },
}
