//! Group coordinators, resolved in batches and cached. FindCoordinator v4+ carries up to
//! `NativeOptions::groups_per_find_coordinator` keys per request (KIP-699); an older broker gets
//! one request per group. A group stays cached until its coordinator answers NOT_COORDINATOR,
//! COORDINATOR_NOT_AVAILABLE or COORDINATOR_LOAD_IN_PROGRESS (see `offset_fetch.rs`).

use std::collections::HashMap;
use std::sync::{Arc, MutexGuard, PoisonError};
use std::time::Instant;

use futures_util::StreamExt;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{ApiKey, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::NativeClient;
use super::error::WireError;
use super::versions::FIND_COORDINATOR_BATCHED;
use crate::stats::Api;

/// Errors after which a group's coordinator must be looked up again.
pub(super) fn coordinator_moved(error: &WireError) -> bool {
    const MOVED: [ResponseError; 3] = [
        ResponseError::NotCoordinator,
        ResponseError::CoordinatorNotAvailable,
        ResponseError::CoordinatorLoadInProgress,
    ];
    matches!(error, WireError::Broker { code, .. } if MOVED.iter().any(|e| e.code() == *code))
}

impl NativeClient {
    fn cache(&self) -> MutexGuard<'_, HashMap<Arc<str>, i32>> {
        self.coordinators.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn cached_coordinator(&self, group: &str) -> Option<i32> {
        self.cache().get(group).copied()
    }

    pub(super) fn forget_coordinator(&self, group: &str) {
        self.cache().remove(group);
    }

    /// Looks up the coordinators of the `groups` not cached yet. Returns the groups whose lookup
    /// failed, with the error.
    pub(super) async fn resolve_coordinators(
        &self,
        groups: &[Arc<str>],
        max_in_flight: usize,
        deadline: Option<Instant>,
    ) -> Vec<(Arc<str>, WireError)> {
        let missing: Vec<Arc<str>> = {
            let cache = self.cache();
            groups.iter().filter(|g| !cache.contains_key(*g)).cloned().collect()
        };
        if missing.is_empty() {
            return Vec::new();
        }
        let Some(broker) = self.directory.any().into_iter().next() else {
            return missing.into_iter().map(|g| (g, WireError::NoBroker)).collect();
        };
        let version = match self.timeout(deadline) {
            Ok(timeout) => broker.version(ApiKey::FindCoordinator, timeout).await,
            Err(e) => Err(e),
        };
        let version = match version {
            Ok(v) => v,
            Err(e) => return missing.into_iter().map(|g| (g, e.clone())).collect(),
        };
        let per_request =
            if version >= FIND_COORDINATOR_BATCHED { self.options.groups_per_find_coordinator } else { 1 };
        let batches: Vec<Vec<Arc<str>>> = missing.chunks(per_request).map(<[Arc<str>]>::to_vec).collect();
        let broker = &broker;
        let answers: Vec<Vec<(Arc<str>, WireError)>> = futures_util::stream::iter(batches)
            .map(|batch| async move {
                let timeout = match self.timeout(deadline) {
                    Ok(t) => t,
                    Err(e) => return batch.into_iter().map(|g| (g, e.clone())).collect(),
                };
                self.count(Api::FindCoordinator, 1, 0);
                match broker.request::<FindCoordinatorRequest>(timeout, |v| request(v, &batch)).await {
                    Ok((v, response)) => self.remember(v, &batch, response),
                    Err(e) => {
                        self.count(Api::FindCoordinator, 0, 1);
                        batch.into_iter().map(|g| (g, e.clone())).collect()
                    }
                }
            })
            .buffer_unordered(max_in_flight)
            .collect()
            .await;
        answers.into_iter().flatten().collect()
    }

    /// Caches the coordinators found; returns the groups that got an error or no answer.
    fn remember(
        &self,
        version: i16,
        batch: &[Arc<str>],
        response: FindCoordinatorResponse,
    ) -> Vec<(Arc<str>, WireError)> {
        let found: Vec<(String, i16, i32, String)> = if version >= FIND_COORDINATOR_BATCHED {
            response
                .coordinators
                .iter()
                .map(|c| {
                    (c.key.as_str().to_owned(), c.error_code, c.node_id.0, format!("{}:{}", c.host.as_str(), c.port))
                })
                .collect()
        } else {
            let key = batch.first().map(|g| g.to_string()).unwrap_or_default();
            let addr = format!("{}:{}", response.host.as_str(), response.port);
            vec![(key, response.error_code, response.node_id.0, addr)]
        };
        let mut answered: HashMap<&str, Result<i32, WireError>> = HashMap::new();
        for (key, code, node, addr) in &found {
            let outcome = match *code {
                0 if *node >= 0 => {
                    self.directory.add(*node, addr.clone());
                    Ok(*node)
                }
                0 => Err(WireError::broker(ResponseError::CoordinatorNotAvailable.code())),
                code => Err(WireError::broker(code)),
            };
            answered.insert(key.as_str(), outcome);
        }
        let mut cache = self.cache();
        let mut failed = Vec::new();
        for group in batch {
            match answered.remove(&**group) {
                Some(Ok(node)) => {
                    cache.insert(group.clone(), node);
                }
                Some(Err(e)) => failed.push((group.clone(), e)),
                None => failed.push((group.clone(), WireError::Decode(format!("no coordinator for group {group}")))),
            }
        }
        failed
    }
}

fn request(version: i16, batch: &[Arc<str>]) -> FindCoordinatorRequest {
    let key = |g: &Arc<str>| StrBytes::from_string(g.to_string());
    let request = FindCoordinatorRequest::default();
    if version >= FIND_COORDINATOR_BATCHED {
        request.with_coordinator_keys(batch.iter().map(key).collect())
    } else {
        request.with_key(batch.first().map(key).unwrap_or_default())
    }
}
