//! One cluster's probe settings as the service uses them (the YAML shape
//! and its validation live in the binary's config).

use std::collections::BTreeMap;
use std::time::Duration;

use lagring_core::probe::AccountingOptions;

/// Everything one probe needs.
#[derive(Clone, Debug)]
pub struct ProbeSettings {
    pub cluster: String,
    /// librdkafka properties of the cluster (bootstrap, TLS, SASL).
    pub client_properties: BTreeMap<String, String>,
    pub topic: String,
    pub replication_factor: i32,
    pub partitions_per_broker: i32,
    /// Time between two records of one partition.
    pub produce_interval: Duration,
    /// Bound of one send (librdkafka `message.timeout.ms`); a send that
    /// takes longer counts as an error.
    pub produce_timeout: Duration,
    pub payload_bytes: usize,
    /// The probe's own consumer group (its offsets are committed there).
    pub consumer_group: String,
    /// How often the topic is checked (brokers added, leadership).
    pub topic_check_interval: Duration,
    /// Request a preferred-leader election when leadership is skewed.
    pub elect_preferred_leaders: bool,
    /// How long a new owner reads towards the log end before producing.
    pub catch_up_timeout: Duration,
    pub accounting: AccountingOptions,
}

impl ProbeSettings {
    /// Properties for a role (`producer`, `consumer`, `admin`): the
    /// cluster's, without the consumer-only isolation level outside the
    /// consumer, with the probe's client id.
    pub fn properties_for(&self, role: &str) -> rdkafka::ClientConfig {
        let mut config = rdkafka::ClientConfig::new();
        for (k, v) in &self.client_properties {
            if k == "isolation.level" && role != "consumer" {
                continue;
            }
            config.set(k, v);
        }
        config.set("client.id", format!("lagring-probe-{role}"));
        config.set("log_level", "3");
        config
    }
}
