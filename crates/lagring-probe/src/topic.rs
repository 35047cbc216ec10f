//! The monitor topic: created when missing with `max(brokers ×
//! partitions_per_broker, 1)` partitions and the configured replication
//! factor; partitions added when brokers were added, so every broker can
//! lead one; leadership skew (a partition not led by its preferred replica)
//! reported, and an election asked for only when configured. Whatever the
//! cluster refuses (no permission, an API the broker lacks) becomes a
//! reason in [`TopicStatus`]: the probe keeps what it has and runs on.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::error::ProbeError;
use crate::settings::ProbeSettings;

/// What one check found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicStatus {
    /// Partitions of the topic now (0: it does not exist and could not be created).
    pub partitions: i32,
    /// Why the topic is not as configured (no permission, unsupported API, skew).
    pub reasons: Vec<String>,
    /// This check created the topic (so every record in it is the probe's own).
    pub created: bool,
}

/// The topic's shape as metadata shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Shape {
    brokers: i32,
    /// `None`: the topic does not exist.
    partitions: Option<i32>,
    /// Partitions whose leader is not their first (preferred) replica.
    skewed: usize,
}

/// Manages one cluster's monitor topic.
#[derive(Clone)]
pub struct TopicManager {
    settings: Arc<ProbeSettings>,
    admin: Arc<AdminClient<DefaultClientContext>>,
}

impl std::fmt::Debug for TopicManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicManager").field("topic", &self.settings.topic).finish()
    }
}

/// The partitions the topic should have for `brokers`.
pub fn wanted_partitions(brokers: i32, partitions_per_broker: i32) -> i32 {
    brokers.saturating_mul(partitions_per_broker).max(1)
}

impl TopicManager {
    pub fn new(settings: Arc<ProbeSettings>) -> Result<Self, ProbeError> {
        let admin = settings.properties_for("admin").create().map_err(|source| ProbeError::Client {
            cluster: settings.cluster.clone(),
            role: "admin client",
            source,
        })?;
        Ok(Self { settings, admin: Arc::new(admin) })
    }

    /// Checks the topic and fixes what it may; never fails, the reasons say what is wrong.
    pub async fn ensure(&self) -> TopicStatus {
        let status = self.check().await;
        // The rdkafka admin client never reads its main queue: what librdkafka reported meanwhile
        // (an error per failed connect) would stay in memory for as long as a broker is down.
        lagring_kafka::serve_admin_main_queue(&self.admin);
        status
    }

    /// Events waiting in the admin client's main queue (tests).
    pub fn queued_events(&self) -> usize {
        lagring_kafka::admin_main_queue_length(&self.admin)
    }

    async fn check(&self) -> TopicStatus {
        let mut reasons = Vec::new();
        let shape = match self.shape().await {
            Ok(shape) => shape,
            Err(e) => {
                return TopicStatus {
                    partitions: 0,
                    reasons: vec![format!("cannot read metadata: {e}")],
                    created: false,
                };
            }
        };
        let wanted = wanted_partitions(shape.brokers, self.settings.partitions_per_broker);
        let created = shape.partitions.is_none();
        let partitions = match shape.partitions {
            None => match self.create(wanted).await {
                Ok(()) => wanted,
                Err(reason) => {
                    reasons.push(reason);
                    0
                }
            },
            Some(have) if have < wanted => match self.add_partitions(wanted).await {
                Ok(()) => wanted,
                Err(reason) => {
                    reasons.push(reason);
                    have
                }
            },
            Some(have) => have,
        };
        if shape.skewed > 0 {
            let skew = format!("{} partitions are not led by their preferred replica", shape.skewed);
            if self.settings.elect_preferred_leaders {
                // librdkafka 2.12 has no ElectLeaders call: say so rather than pretend.
                reasons.push(format!("{skew}; preferred leader election is not available through librdkafka 2.12"));
            } else {
                tracing::debug!(skewed = shape.skewed, "monitor topic leadership skewed; election not configured");
            }
        }
        TopicStatus { partitions, reasons, created: created && partitions > 0 }
    }

    async fn shape(&self) -> Result<Shape, KafkaError> {
        let admin = self.admin.clone();
        let topic = self.settings.topic.clone();
        let timeout = self.settings.produce_timeout;
        let md = tokio::task::spawn_blocking(move || admin.inner().fetch_metadata(Some(&topic), timeout))
            .await
            .map_err(|_| KafkaError::Canceled)??;
        let brokers = i32::try_from(md.brokers().len()).unwrap_or(i32::MAX);
        let topic = md.topics().iter().find(|t| t.name() == self.settings.topic);
        let partitions = topic.filter(|t| t.error().is_none() && !t.partitions().is_empty());
        let skewed = partitions
            .map(|t| t.partitions().iter().filter(|p| p.replicas().first().is_some_and(|r| *r != p.leader())).count())
            .unwrap_or(0);
        let partitions = partitions.map(|t| i32::try_from(t.partitions().len()).unwrap_or(i32::MAX));
        Ok(Shape { brokers, partitions, skewed })
    }

    fn options(&self) -> AdminOptions {
        AdminOptions::new().request_timeout(Some(self.settings.produce_timeout.max(Duration::from_secs(1))))
    }

    async fn create(&self, partitions: i32) -> Result<(), String> {
        let topic =
            NewTopic::new(&self.settings.topic, partitions, TopicReplication::Fixed(self.settings.replication_factor));
        let results = self.admin.create_topics([&topic], &self.options()).await.map_err(|e| e.to_string());
        match results.map(|r| r.into_iter().next()) {
            Ok(Some(Ok(_))) | Ok(Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists)))) => {
                tracing::info!(partitions, "created the monitor topic");
                Ok(())
            }
            Ok(Some(Err((_, code)))) => Err(refusal("create the monitor topic", code)),
            Ok(None) => Err("cannot create the monitor topic: no result".to_owned()),
            Err(e) => Err(format!("cannot create the monitor topic: {e}")),
        }
    }

    async fn add_partitions(&self, total: i32) -> Result<(), String> {
        let total_usize = usize::try_from(total).unwrap_or(1);
        let new = NewPartitions::new(&self.settings.topic, total_usize);
        let results = self.admin.create_partitions([&new], &self.options()).await.map_err(|e| e.to_string());
        match results.map(|r| r.into_iter().next()) {
            Ok(Some(Ok(_))) => {
                tracing::info!(partitions = total, "added partitions to the monitor topic for new brokers");
                Ok(())
            }
            Ok(Some(Err((_, code)))) => Err(refusal("add partitions to the monitor topic", code)),
            Ok(None) => Err("cannot add partitions to the monitor topic: no result".to_owned()),
            Err(e) => Err(format!("cannot add partitions to the monitor topic: {e}")),
        }
    }
}

/// A refusal as an operator reads it.
fn refusal(what: &str, code: RDKafkaErrorCode) -> String {
    match code {
        RDKafkaErrorCode::TopicAuthorizationFailed | RDKafkaErrorCode::ClusterAuthorizationFailed => {
            format!("cannot {what}: no permission ({code}); create it by hand or grant the ACL")
        }
        RDKafkaErrorCode::UnsupportedVersion | RDKafkaErrorCode::InvalidRequest => {
            format!("cannot {what}: the broker does not support it ({code})")
        }
        other => format!("cannot {what}: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_follow_brokers_and_never_drop_to_zero() {
        assert_eq!(wanted_partitions(3, 2), 6);
        assert_eq!(wanted_partitions(0, 2), 1);
        assert_eq!(wanted_partitions(1, 1), 1);
        assert_eq!(wanted_partitions(i32::MAX, 2), i32::MAX);
    }

    #[test]
    fn refusals_name_the_cause() {
        let r = refusal("create the monitor topic", RDKafkaErrorCode::TopicAuthorizationFailed);
        assert!(r.starts_with("cannot create the monitor topic: no permission"), "{r}");
    }
}
