//! ListGroups on every broker at once. A broker that fails or does not answer by the deadline
//! makes the listing partial (its groups are missing, which must not read as deleted), like the
//! librdkafka path. ListGroups v5 asks for `classic` and `consumer` groups only: share and
//! streams groups have no committed offsets to read through OffsetFetch.

use std::sync::Arc;
use std::time::Instant;

use futures_util::future::join_all;
use kafka_protocol::messages::{ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;
use tracing::debug;

use super::NativeClient;
use super::error::WireError;
use crate::client::{GroupList, GroupListing};
use crate::error::{BrokerError, KafkaError};
use crate::stats::Api;

/// First ListGroups version with the group state, and with the type filter.
const WITH_STATE: i16 = 4;
const WITH_TYPES: i16 = 5;

impl NativeClient {
    pub(crate) async fn list_groups_until(&self, deadline: Option<Instant>) -> Result<GroupList, KafkaError> {
        if self.directory.all().is_empty() {
            self.metadata(false, deadline).await.map_err(|e| self.request_error(Api::ListGroups, e))?;
        }
        let brokers = self.directory.all();
        let answers = join_all(brokers.iter().map(|(_, broker)| async move {
            let timeout = self.timeout(deadline)?;
            let (version, response) = broker.request::<ListGroupsRequest>(timeout, request).await?;
            match response.error_code {
                0 => Ok((version, response)),
                code => Err(WireError::broker(code)),
            }
        }))
        .await;
        let mut groups = Vec::new();
        let mut errors: Vec<BrokerError> = Vec::new();
        for ((id, _), answer) in brokers.iter().zip(answers) {
            match answer {
                Ok((version, response)) => groups.extend(listings(version, response)),
                Err(error) => {
                    let mut error = BrokerError::from(error);
                    error.message = format!("broker {id}: {}", error.message);
                    errors.push(error);
                }
            }
        }
        self.count(Api::ListGroups, brokers.len() as u64, errors.len() as u64);
        let failed = errors.len();
        debug!(cluster = %self.cluster, groups = groups.len(), failed_brokers = failed, "listed consumer groups");
        let partial = errors.into_iter().next().map(|first| KafkaError::PartialGroupListing {
            cluster: self.cluster.clone(),
            failed,
            first,
        });
        Ok(GroupList { groups, partial })
    }
}

fn request(version: i16) -> ListGroupsRequest {
    let mut request = ListGroupsRequest::default();
    if version >= WITH_TYPES {
        request.types_filter = vec![StrBytes::from_static_str("classic"), StrBytes::from_static_str("consumer")];
    }
    request
}

fn listings(version: i16, response: ListGroupsResponse) -> impl Iterator<Item = GroupListing> {
    response.groups.into_iter().map(move |g| GroupListing {
        group: Arc::from(g.group_id.0.as_str()),
        state: if version >= WITH_STATE && !g.group_state.is_empty() {
            g.group_state.as_str().to_owned()
        } else {
            "Unknown".to_owned()
        },
        is_simple: g.protocol_type.is_empty(),
    })
}
