//! One request shape for every per-group API that a group's coordinator answers (DescribeGroups,
//! ConsumerGroupDescribe, ShareGroupDescribe, DescribeShareGroupOffsets): resolve the
//! coordinators in batches, split the groups by coordinator into chunks of
//! `NativeOptions::groups_per_offset_fetch`, and send one request per chunk, at most
//! `max_in_flight` at once. So the cost grows with coordinators, not groups, as for OffsetFetch.
//!
//! Unlike OffsetFetch there is no retry round inside the call: a group whose coordinator moved
//! fails with that error and its cached coordinator is forgotten, so the next call (the next
//! iteration) looks it up again. These are informational describes; one missed iteration is
//! cheaper than holding the iteration for a lookup.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::NativeClient;
use super::broker::Broker;
use super::coordinators::coordinator_moved;
use super::error::WireError;
use crate::stats::Api;

/// One group's answer, or why it has none.
pub(super) type Answer<T> = (Arc<str>, Result<T, WireError>);

impl NativeClient {
    /// Runs `ask(broker, chunk, timeout)` for every chunk of `groups` per coordinator; every group
    /// of `groups` gets exactly one answer (in no particular order). Counts one `api` request per
    /// chunk, and an error for a chunk whose request failed as a whole (every group the same
    /// transport error, no broker answer).
    pub(super) async fn per_coordinator<T, F, Fut>(
        &self,
        api: Api,
        groups: &[Arc<str>],
        max_in_flight: usize,
        deadline: Option<Instant>,
        ask: F,
    ) -> Vec<Answer<T>>
    where
        T: Clone,
        F: Fn(Arc<Broker>, Vec<Arc<str>>, Duration) -> Fut,
        Fut: Future<Output = Vec<Answer<T>>>,
    {
        if groups.is_empty() {
            return Vec::new();
        }
        let max_in_flight = max_in_flight.max(1);
        let mut answers: Vec<Answer<T>> = Vec::new();
        let failed: HashMap<Arc<str>, WireError> =
            self.resolve_coordinators(groups, max_in_flight, deadline).await.into_iter().collect();
        let mut by_coordinator: BTreeMap<i32, Vec<Arc<str>>> = BTreeMap::new();
        for group in groups {
            if let Some(error) = failed.get(group) {
                answers.push((group.clone(), Err(error.clone())));
                continue;
            }
            match self.cached_coordinator(group) {
                Some(node) => by_coordinator.entry(node).or_default().push(group.clone()),
                None => answers.push((
                    group.clone(),
                    Err(WireError::broker(kafka_protocol::ResponseError::NotCoordinator.code())),
                )),
            }
        }
        let mut jobs = Vec::new();
        for (node, groups) in by_coordinator {
            match self.directory.broker(node) {
                Some(broker) => jobs.extend(
                    groups.chunks(self.options.groups_per_offset_fetch).map(|chunk| (broker.clone(), chunk.to_vec())),
                ),
                None => answers.extend(groups.into_iter().map(|g| (g, Err(WireError::NoBroker)))),
            }
        }
        let ask = &ask;
        let asked: Vec<Vec<Answer<T>>> = futures_util::stream::iter(jobs)
            .map(|(broker, chunk)| async move {
                match self.timeout(deadline) {
                    Ok(timeout) => {
                        self.count(api, 1, 0);
                        let answers = complete(&chunk, ask(broker, chunk.clone(), timeout).await);
                        let failed = !answers.is_empty()
                            && answers
                                .iter()
                                .all(|(_, a)| matches!(a, Err(e) if !matches!(e, WireError::Broker { .. })));
                        if failed {
                            self.count(api, 0, 1);
                        }
                        answers
                    }
                    Err(e) => chunk.into_iter().map(|g| (g, Err(e.clone()))).collect(),
                }
            })
            .buffer_unordered(max_in_flight)
            .collect()
            .await;
        for (group, answer) in asked.into_iter().flatten() {
            if let Err(error) = &answer
                && coordinator_moved(error)
            {
                self.forget_coordinator(&group);
            }
            answers.push((group, answer));
        }
        answers
    }
}

/// Exactly one answer per asked group: the first one given, or a decode error for a group the
/// response left out (an answer for a group not asked is dropped).
fn complete<T: Clone>(asked: &[Arc<str>], given: Vec<Answer<T>>) -> Vec<Answer<T>> {
    let mut given: HashMap<Arc<str>, Result<T, WireError>> =
        given.into_iter().rev().collect::<Vec<_>>().into_iter().collect();
    asked
        .iter()
        .map(|g| {
            let answer = given.remove(g).unwrap_or_else(|| Err(WireError::Decode(format!("no answer for group {g}"))));
            (g.clone(), answer)
        })
        .collect()
}
