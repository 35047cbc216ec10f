//! Metadata: brokers (by node id) and, when asked for every topic, partition counts and leaders.
//! Sent to the first broker that answers; each attempt is bounded by what is left of the
//! caller's deadline.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use kafka_protocol::messages::{MetadataRequest, MetadataResponse};

use super::NativeClient;
use super::directory::LeaderMap;
use super::error::WireError;
use crate::error::KafkaError;
use crate::stats::Api;

/// First Metadata version with `allow_auto_topic_creation`.
const AUTO_CREATE_FIELD: i16 = 4;

impl NativeClient {
    /// One Metadata round trip. `all_topics` false asks for no topic (brokers only).
    pub(super) async fn metadata(
        &self,
        all_topics: bool,
        deadline: Option<Instant>,
    ) -> Result<MetadataResponse, WireError> {
        let mut last = WireError::NoBroker;
        for broker in self.directory.any() {
            let timeout = self.timeout(deadline)?;
            self.count(Api::Metadata, 1, 0);
            let request = |version: i16| {
                let mut r = MetadataRequest::default().with_topics(if all_topics { None } else { Some(Vec::new()) });
                if version >= AUTO_CREATE_FIELD {
                    r.allow_auto_topic_creation = false;
                }
                r
            };
            match broker.request::<MetadataRequest>(timeout, request).await {
                Ok((_, response)) => {
                    for b in &response.brokers {
                        self.directory.add(b.node_id.0, format!("{}:{}", b.host.as_str(), b.port));
                    }
                    return Ok(response);
                }
                Err(error) => {
                    self.count(Api::Metadata, 0, 1);
                    last = error;
                }
            }
        }
        Err(last)
    }

    /// Partition count of every topic without an error; remembers leaders.
    pub(crate) async fn topic_partition_counts_until(
        &self,
        deadline: Option<Instant>,
    ) -> Result<BTreeMap<Arc<str>, i32>, KafkaError> {
        let response = self.metadata(true, deadline).await.map_err(|e| self.request_error(Api::Metadata, e))?;
        let mut leaders = LeaderMap::new();
        let mut counts = BTreeMap::new();
        for topic in response.topics.iter().filter(|t| t.error_code == 0) {
            let Some(name) = topic.name.as_ref() else { continue };
            let name: Arc<str> = Arc::from(name.0.as_str());
            let mut by_partition = vec![-1; topic.partitions.len()];
            for p in &topic.partitions {
                if let Some(slot) = usize::try_from(p.partition_index).ok().and_then(|i| by_partition.get_mut(i)) {
                    *slot = p.leader_id.0;
                }
            }
            counts.insert(name.clone(), i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX));
            leaders.insert(name, by_partition);
        }
        self.directory.set_leaders(leaders);
        Ok(counts)
    }
}
