//! ListGroups on every broker at once. A broker that fails or does not answer by the deadline
//! makes the listing partial (its groups are missing, which must not read as deleted), like the
//! librdkafka path. ListGroups asks without a type filter, so every type is listed (Kafka 4
//! lists classic, consumer, share and streams groups); v5+ names each group's type, and below v5
//! the protocol type still tells `share` and `streams` apart from the two consumer kinds. Callers
//! decide per type what to fetch (no OffsetFetch for share groups).

use std::sync::Arc;
use std::time::Instant;

use futures_util::future::join_all;
use kafka_protocol::messages::{ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;
use tracing::debug;

use super::NativeClient;
use super::error::WireError;
use crate::answers::{GroupList, GroupListing};
use crate::error::{BrokerError, KafkaError};
use crate::group_types::GroupType;
use crate::stats::Api;

/// First ListGroups version with the group state, and with the group type.
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

/// No state or type filter: every group of every type.
fn request(_version: i16) -> ListGroupsRequest {
    ListGroupsRequest::default()
}

/// The type ListGroups names (v5+), else what the protocol type allows: `share` and `streams`
/// are their own; an empty protocol type is a simple (classic) group; `consumer` is classic or
/// KIP-848, which only v5 tells apart.
fn group_type(version: i16, group_type: &StrBytes, protocol_type: &StrBytes) -> GroupType {
    if version >= WITH_TYPES && !group_type.is_empty() {
        return GroupType::parse(group_type.as_str());
    }
    match protocol_type.as_str() {
        "" => GroupType::Classic,
        "share" => GroupType::Share,
        "streams" => GroupType::Streams,
        _ => GroupType::Unknown,
    }
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
        group_type: group_type(version, &g.group_type, &g.protocol_type),
    })
}
