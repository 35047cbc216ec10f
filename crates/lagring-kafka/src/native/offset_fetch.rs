//! Committed offsets of many groups: coordinators resolved in batches, then per coordinator one
//! OffsetFetch v8+ per `NativeOptions::groups_per_offset_fetch` groups (KIP-709), or one per group
//! where the coordinator is older. Requests run concurrently, at most `max_in_flight` at once.
//!
//! A group-level error fails that group only. When a coordinator answers NOT_COORDINATOR,
//! COORDINATOR_NOT_AVAILABLE or COORDINATOR_LOAD_IN_PROGRESS, the group's coordinator is looked
//! up again and its fetch retried on the new one within the same call, for at most
//! [`ROUNDS`] rounds and never past the deadline. A coordinator that fails or does not answer
//! costs only its groups: they fail with that error and are not retried in the call.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::join_all;
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{ApiKey, GroupId, OffsetFetchRequest, OffsetFetchResponse};
use kafka_protocol::protocol::StrBytes;
use tracing::debug;

use super::NativeClient;
use super::broker::Broker;
use super::commit_entries::group_entries;
use super::coordinators::coordinator_moved;
use super::error::WireError;
use super::versions::OFFSET_FETCH_BATCHED;
use crate::commits::{RawCommit, TopicInterner, commit_map};
use crate::error::{BrokerError, KafkaError};
use crate::stats::Api;
use lagring_core::model::{Offset, TopicPartition};

/// Lookup-and-fetch rounds per call: the first, and two after coordinator moves.
const ROUNDS: u32 = 3;
/// Pause before a retry round (times the round number), for a coordinator still loading.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

type Commits = Result<BTreeMap<TopicPartition, Offset>, KafkaError>;
/// One group's raw entries, or why it has none.
type Answer = (Arc<str>, Result<Vec<RawCommit>, WireError>);

/// One OffsetFetch request: its coordinator and groups (one unless batched).
struct Job {
    broker: Arc<Broker>,
    batched: bool,
    groups: Vec<Arc<str>>,
}

impl NativeClient {
    pub(crate) async fn committed_offsets_until(
        &self,
        groups: Vec<Arc<str>>,
        max_in_flight: usize,
        deadline: Option<Instant>,
    ) -> Vec<(Arc<str>, Commits)> {
        let mut seen = BTreeSet::new();
        let groups: Vec<Arc<str>> = groups.into_iter().filter(|g| seen.insert(g.clone())).collect();
        let max_in_flight = max_in_flight.max(1);
        let mut outcome: HashMap<Arc<str>, Result<Vec<RawCommit>, WireError>> = HashMap::new();
        let mut todo = groups.clone();
        for round in 0..ROUNDS {
            if todo.is_empty() {
                break;
            }
            if round > 0 && !self.pause(RETRY_PAUSE * round, deadline).await {
                break;
            }
            let last = round + 1 == ROUNDS;
            let mut retry = Vec::new();
            let mut unresolved = BTreeSet::new();
            for (group, error) in self.resolve_coordinators(&todo, max_in_flight, deadline).await {
                // A lookup that failed on the broker asked may succeed on another next round.
                if !last && (coordinator_moved(&error) || !matches!(error, WireError::Broker { .. })) {
                    retry.push(group.clone());
                }
                unresolved.insert(group.clone());
                outcome.insert(group, Err(error));
            }
            let ready: Vec<Arc<str>> = todo.into_iter().filter(|g| !unresolved.contains(g)).collect();
            for (group, answer) in self.fetch_round(&ready, max_in_flight, deadline).await {
                if let Err(error) = &answer
                    && coordinator_moved(error)
                {
                    self.forget_coordinator(&group);
                    if !last {
                        retry.push(group.clone());
                    }
                }
                outcome.insert(group, answer);
            }
            todo = retry;
        }
        let mut topics = TopicInterner::default();
        let results: Vec<(Arc<str>, Commits)> = groups
            .into_iter()
            .map(|group| {
                let commits = match outcome.remove(&group) {
                    Some(Ok(entries)) => commit_map(&self.cluster, &group, entries, &mut topics),
                    Some(Err(error)) => Err(self.group_error(&group, error)),
                    None => Err(self.group_error(&group, WireError::Timeout(Duration::ZERO))),
                };
                (group, commits)
            })
            .collect();
        let failed = results.iter().filter(|(_, r)| r.is_err()).count();
        debug!(cluster = %self.cluster, groups = results.len(), failed, "fetched committed offsets");
        results
    }

    /// Waits `pause` unless that would pass the deadline; false if there is no time left.
    async fn pause(&self, pause: Duration, deadline: Option<Instant>) -> bool {
        if deadline.is_some_and(|d| Instant::now() + pause >= d) {
            return false;
        }
        tokio::time::sleep(pause).await;
        true
    }

    /// Fetches the `groups` (all with a cached coordinator) from their coordinators.
    async fn fetch_round(&self, groups: &[Arc<str>], max_in_flight: usize, deadline: Option<Instant>) -> Vec<Answer> {
        let mut by_coordinator: BTreeMap<i32, Vec<Arc<str>>> = BTreeMap::new();
        let mut answers = Vec::new();
        for group in groups {
            match self.cached_coordinator(group) {
                Some(node) => by_coordinator.entry(node).or_default().push(group.clone()),
                None => answers.push((
                    group.clone(),
                    Err(WireError::broker(kafka_protocol::ResponseError::NotCoordinator.code())),
                )),
            }
        }
        // Connect to every coordinator at once to learn its OffsetFetch version.
        let negotiated = join_all(by_coordinator.into_iter().map(|(node, groups)| async move {
            let Some(broker) = self.directory.broker(node) else {
                return Err((groups, WireError::NoBroker));
            };
            let version = match self.timeout(deadline) {
                Ok(timeout) => broker.version(ApiKey::OffsetFetch, timeout).await,
                Err(e) => Err(e),
            };
            match version {
                Ok(v) => Ok((broker, v >= OFFSET_FETCH_BATCHED, groups)),
                Err(e) => Err((groups, e)),
            }
        }))
        .await;
        let mut jobs = Vec::new();
        for n in negotiated {
            match n {
                Ok((broker, batched, groups)) => {
                    let size = if batched { self.options.groups_per_offset_fetch } else { 1 };
                    jobs.extend(groups.chunks(size).map(|chunk| Job {
                        broker: broker.clone(),
                        batched,
                        groups: chunk.to_vec(),
                    }));
                }
                Err((groups, error)) => answers.extend(groups.into_iter().map(|g| (g, Err(error.clone())))),
            }
        }
        let fetched: Vec<Vec<Answer>> = futures_util::stream::iter(jobs)
            .map(|job| self.fetch_job(job, deadline))
            .buffer_unordered(max_in_flight)
            .collect()
            .await;
        answers.extend(fetched.into_iter().flatten());
        answers
    }

    async fn fetch_job(&self, job: Job, deadline: Option<Instant>) -> Vec<Answer> {
        let timeout = match self.timeout(deadline) {
            Ok(t) => t,
            Err(e) => return job.groups.into_iter().map(|g| (g, Err(e.clone()))).collect(),
        };
        self.count(Api::OffsetFetch, 1, 0);
        let groups = &job.groups;
        let answer = job.broker.request::<OffsetFetchRequest>(timeout, |v| request(v, job.batched, groups)).await;
        match answer {
            Ok((version, response)) => per_group(version, groups, response),
            Err(error) => {
                self.count(Api::OffsetFetch, 0, 1);
                job.groups.into_iter().map(|g| (g, Err(error.clone()))).collect()
            }
        }
    }

    fn group_error(&self, group: &Arc<str>, error: WireError) -> KafkaError {
        KafkaError::Group { cluster: self.cluster.clone(), group: group.clone(), error: BrokerError::from(error) }
    }
}

fn request(version: i16, batched: bool, groups: &[Arc<str>]) -> OffsetFetchRequest {
    let id = |g: &Arc<str>| GroupId(StrBytes::from_string(g.to_string()));
    if batched && version >= OFFSET_FETCH_BATCHED {
        let groups =
            groups.iter().map(|g| OffsetFetchRequestGroup::default().with_group_id(id(g)).with_topics(None)).collect();
        return OffsetFetchRequest::default().with_groups(groups);
    }
    OffsetFetchRequest::default().with_group_id(groups.first().map(id).unwrap_or_default()).with_topics(None)
}

/// Each asked group's entries or error from one response.
fn per_group(version: i16, groups: &[Arc<str>], response: OffsetFetchResponse) -> Vec<Answer> {
    if version < OFFSET_FETCH_BATCHED {
        let topics = response.topics.iter().map(|t| {
            (t.name.0.as_str(), t.partitions.iter().map(|p| (p.partition_index, p.error_code, p.committed_offset)))
        });
        let answer = group_entries(response.error_code, topics);
        return groups.first().map(|g| (g.clone(), answer)).into_iter().collect();
    }
    let mut answered: HashMap<String, Result<Vec<RawCommit>, WireError>> = response
        .groups
        .iter()
        .map(|g| {
            let topics = g.topics.iter().map(|t| {
                (t.name.0.as_str(), t.partitions.iter().map(|p| (p.partition_index, p.error_code, p.committed_offset)))
            });
            (g.group_id.0.to_string(), group_entries(g.error_code, topics))
        })
        .collect();
    groups
        .iter()
        .map(|g| {
            let answer =
                answered.remove(&**g).unwrap_or_else(|| Err(WireError::Decode(format!("no answer for group {g}"))));
            (g.clone(), answer)
        })
        .collect()
}
