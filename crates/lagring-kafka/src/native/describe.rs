//! State and member count of each listed group, through the describe API of its type: one
//! DescribeGroups for the classic groups of a coordinator (many groups per request), one
//! ConsumerGroupDescribe for its KIP-848 groups, one ShareGroupDescribe for its share groups and
//! one StreamsGroupDescribe (KIP-1071) for its streams groups (see `by_coordinator.rs`). The four
//! run concurrently. A broker without StreamsGroupDescribe (before Kafka 4.1) leaves its streams
//! groups with the listing's state and no member count, not an error. A group ListGroups gave no type (brokers below v5) is asked through
//! DescribeGroups, which reports a non-classic group as `Dead`: such a group keeps the listing's
//! state, with no member count.
//!
//! The answers also list each member (member id, client id, host) with its assigned
//! partitions (see `assignments.rs`): the opt-in member series, and for classic, KIP-848 and
//! streams groups each partition's member, which the Burrow read API shows as `owner` and
//! `client_id`.
//!
//! Describes only add state and member counts, so a broker that answers them by closing the
//! connection or with bytes the codec cannot read (tansu 0.6 does both for DescribeGroups) must
//! not keep costing reconnects: after such a transport failure, describes pause for
//! [`DESCRIBE_PAUSE`] (one warning), and every group gets an error meanwhile (the pipeline then
//! uses the listing's state).

use std::collections::BTreeSet;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, DescribeGroupsRequest, GroupId, ShareGroupDescribeRequest,
    StreamsGroupDescribeRequest,
};
use kafka_protocol::protocol::StrBytes;
use lagring_core::group_series::GroupMember;
use tracing::{debug, warn};

use super::NativeClient;
use super::assignments;
use super::by_coordinator::Answer;
use super::error::WireError;
use crate::answers::GroupListing;
use crate::error::{BrokerError, KafkaError};
use crate::group_types::{GroupDescription, GroupType};
use crate::stats::Api;

/// How long describes pause after a broker failed one at the transport level.
pub(crate) const DESCRIBE_PAUSE: Duration = Duration::from_secs(600);

/// (state, member count, members with their partitions) as a describe answers them.
type Described = (String, u32, Vec<GroupMember>);

fn ids(groups: &[Arc<str>]) -> Vec<GroupId> {
    groups.iter().map(|g| GroupId(StrBytes::from_string(g.to_string()))).collect()
}

/// A group-level answer: the state, member count and members, or the group's error code.
fn described(code: i16, state: &StrBytes, count: usize, members: Vec<GroupMember>) -> Result<Described, WireError> {
    match code {
        0 => Ok((state.as_str().to_owned(), u32::try_from(count).unwrap_or(u32::MAX), members)),
        code => Err(WireError::broker(code)),
    }
}

/// The answers of one describe request: per described group `fields` gives (id, error code,
/// state, member count) and `members` its members with their partitions; a failed request fails
/// every group of its `chunk`.
fn answers<G>(
    response: Result<Vec<G>, WireError>,
    chunk: &[Arc<str>],
    fields: impl Fn(&G) -> (&GroupId, i16, &StrBytes, usize),
    members: impl Fn(&G) -> Vec<GroupMember>,
) -> Vec<Answer<Described>> {
    match response {
        Ok(groups) => groups
            .iter()
            .map(|g| {
                let (id, code, state, count) = fields(g);
                let listed = if code == 0 { members(g) } else { Vec::new() };
                (Arc::from(id.0.as_str()), described(code, state, count, listed))
            })
            .collect(),
        Err(e) => chunk.iter().map(|g| (g.clone(), Err(e.clone()))).collect(),
    }
}

impl NativeClient {
    pub(crate) async fn describe_groups_until(
        &self,
        groups: Vec<GroupListing>,
        max_in_flight: usize,
        deadline: Option<Instant>,
    ) -> Vec<(Arc<str>, Result<GroupDescription, KafkaError>)> {
        let paused = *self.describe_paused_until.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(until) = paused.filter(|until| Instant::now() < *until) {
            let left = until.saturating_duration_since(Instant::now());
            let error = || KafkaError::Unsupported {
                cluster: self.cluster.clone(),
                what: format!("describes paused for {}s after a broker failed one", left.as_secs()),
            };
            return groups.into_iter().map(|g| (g.group, Err(error()))).collect();
        }
        let mut seen = BTreeSet::new();
        let groups: Vec<GroupListing> = groups.into_iter().filter(|g| seen.insert(g.group.clone())).collect();
        let of = |wanted: &[GroupType]| -> Vec<Arc<str>> {
            groups.iter().filter(|g| wanted.contains(&g.group_type)).map(|g| g.group.clone()).collect()
        };
        let (classic, consumer, share, streams) = (
            of(&[GroupType::Classic, GroupType::Unknown]),
            of(&[GroupType::Consumer]),
            of(&[GroupType::Share]),
            of(&[GroupType::Streams]),
        );
        let (classic, consumer, share, streams) = futures_util::join!(
            self.per_coordinator(
                Api::DescribeGroups,
                &classic,
                max_in_flight,
                deadline,
                |broker, chunk, timeout| async move {
                    let request = |_| DescribeGroupsRequest::default().with_groups(ids(&chunk));
                    let response = broker.request::<DescribeGroupsRequest>(timeout, request).await;
                    answers(
                        response.map(|(_, r)| r.groups),
                        &chunk,
                        |g| (&g.group_id, g.error_code, &g.group_state, g.members.len()),
                        |g| assignments::classic_members(&g.members),
                    )
                }
            ),
            self.per_coordinator(
                Api::DescribeGroups,
                &consumer,
                max_in_flight,
                deadline,
                |broker, chunk, timeout| async move {
                    let request = |_| ConsumerGroupDescribeRequest::default().with_group_ids(ids(&chunk));
                    let response = broker.request::<ConsumerGroupDescribeRequest>(timeout, request).await;
                    answers(
                        response.map(|(_, r)| r.groups),
                        &chunk,
                        |g| (&g.group_id, g.error_code, &g.group_state, g.members.len()),
                        |g| assignments::consumer_members(&g.members),
                    )
                }
            ),
            self.per_coordinator(
                Api::DescribeGroups,
                &share,
                max_in_flight,
                deadline,
                |broker, chunk, timeout| async move {
                    let request = |_| ShareGroupDescribeRequest::default().with_group_ids(ids(&chunk));
                    let response = broker.request::<ShareGroupDescribeRequest>(timeout, request).await;
                    answers(
                        response.map(|(_, r)| r.groups),
                        &chunk,
                        |g| (&g.group_id, g.error_code, &g.group_state, g.members.len()),
                        |g| assignments::share_members(&g.members),
                    )
                }
            ),
            self.per_coordinator(
                Api::DescribeGroups,
                &streams,
                max_in_flight,
                deadline,
                |broker, chunk, timeout| async move {
                    let request = |_| StreamsGroupDescribeRequest::default().with_group_ids(ids(&chunk));
                    let response = broker.request::<StreamsGroupDescribeRequest>(timeout, request).await;
                    answers(
                        response.map(|(_, r)| r.groups),
                        &chunk,
                        |g| (&g.group_id, g.error_code, &g.group_state, g.members.len()),
                        |g| assignments::streams_members(g.topology.as_ref(), &g.members),
                    )
                }
            ),
        );
        let mut by_group: std::collections::HashMap<Arc<str>, (&'static str, Result<Described, WireError>)> =
            std::collections::HashMap::new();
        for (api, batch) in [
            ("describe groups", classic),
            ("consumer group describe", consumer),
            ("share group describe", share),
            ("streams group describe", streams),
        ] {
            by_group.extend(batch.into_iter().map(|(g, a)| (g, (api, a))));
        }
        let broken = by_group.values().find_map(|(api, a)| match a {
            Err(e @ (WireError::Closed | WireError::Decode(_))) => Some((*api, e.clone())),
            _ => None,
        });
        if let Some((api, error)) = broken {
            *self.describe_paused_until.lock().unwrap_or_else(PoisonError::into_inner) =
                Some(Instant::now() + DESCRIBE_PAUSE);
            warn!(
                cluster = %self.cluster, api, %error,
                "a broker failed a group describe; group state and members come from ListGroups for the next {}s",
                DESCRIBE_PAUSE.as_secs()
            );
        }
        let results: Vec<(Arc<str>, Result<GroupDescription, KafkaError>)> = groups
            .into_iter()
            .map(|listing| {
                let result = match by_group.remove(&listing.group) {
                    // Type unknown (ListGroups below v5) and DescribeGroups says `Dead` of a
                    // listed live group: a KIP-848 group, which the classic API cannot see.
                    Some((_, Ok((state, _, _))))
                        if listing.group_type == GroupType::Unknown && state == "Dead" && listing.state != "Dead" =>
                    {
                        Ok(GroupDescription::from_listing(listing.group_type, listing.state))
                    }
                    Some((_, Ok((state, count, member_assignments)))) => {
                        // A share partition may have several members: no single owner.
                        let owners = match listing.group_type {
                            GroupType::Share => Vec::new(),
                            _ => assignments::owners(&member_assignments),
                        };
                        Ok(GroupDescription {
                            group_type: listing.group_type,
                            state,
                            members: Some(count),
                            owners,
                            member_assignments,
                        })
                    }
                    // A broker before StreamsGroupDescribe: the listing is all there is.
                    Some((_, Err(WireError::Unsupported { .. }))) if listing.group_type == GroupType::Streams => {
                        Ok(GroupDescription::from_listing(listing.group_type, listing.state))
                    }
                    Some((api, Err(error))) => Err(KafkaError::GroupRequest {
                        cluster: self.cluster.clone(),
                        api,
                        group: listing.group.clone(),
                        error: BrokerError::from(error),
                    }),
                    // Not asked (cannot happen: every type is asked): the listing.
                    None => Ok(GroupDescription::from_listing(listing.group_type, listing.state)),
                };
                (listing.group, result)
            })
            .collect();
        let failed = results.iter().filter(|(_, r)| r.is_err()).count();
        debug!(cluster = %self.cluster, groups = results.len(), failed, "described groups");
        results
    }
}
