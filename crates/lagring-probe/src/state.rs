//! Where a probe's [`ProbeState`](lagring_core::probe::ProbeState) is kept
//! between owners: saved by the owner every slot and on hand-over, loaded
//! by the next owner. In a fleet it is the shared store (Redis); a single
//! node keeps it in memory, where nobody else needs it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// A boxed future of the store calls.
pub type StateFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// The probe state of each cluster, as JSON.
pub trait StateStore: Send + Sync + std::fmt::Debug {
    fn load<'a>(&'a self, cluster: &'a str) -> StateFuture<'a, Option<String>>;
    fn save<'a>(&'a self, cluster: &'a str, state: String) -> StateFuture<'a, ()>;
}

/// In-process state (single node, tests).
#[derive(Debug, Default, Clone)]
pub struct MemoryStateStore {
    /// std mutex: held only to read or replace one value, never across an `.await`.
    states: Arc<Mutex<HashMap<String, String>>>,
}

impl StateStore for MemoryStateStore {
    fn load<'a>(&'a self, cluster: &'a str) -> StateFuture<'a, Option<String>> {
        let value = self.states.lock().map_err(|_| "state lock poisoned".to_owned()).map(|m| m.get(cluster).cloned());
        Box::pin(std::future::ready(value))
    }

    fn save<'a>(&'a self, cluster: &'a str, state: String) -> StateFuture<'a, ()> {
        let done = self.states.lock().map_err(|_| "state lock poisoned".to_owned()).map(|mut m| {
            m.insert(cluster.to_owned(), state);
        });
        Box::pin(std::future::ready(done))
    }
}
