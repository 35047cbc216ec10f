//! The brokers of one cluster: the bootstrap addresses until the first Metadata, then every
//! broker by node id (a bootstrap connection to the same address is reused), and the partition
//! leaders of the last full Metadata. Requests that any broker can answer (Metadata,
//! FindCoordinator) try brokers that are not backing off first.
//!
//! A `std` mutex guards the maps: held only to read or replace them, never across an `.await`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::broker::{Broker, Setup};
use crate::stats::Counters;

/// Leader node id of each partition (index = partition number; -1 = none), per topic.
pub(crate) type LeaderMap = HashMap<Arc<str>, Vec<i32>>;

#[derive(Default)]
struct Known {
    by_id: BTreeMap<i32, Arc<Broker>>,
    leaders: Arc<LeaderMap>,
}

pub(crate) struct Directory {
    counters: Arc<Counters>,
    setup: Arc<Setup>,
    bootstrap: Vec<Arc<Broker>>,
    known: Mutex<Known>,
}

impl Directory {
    /// From a comma-separated `host:port` list; `None` if it names no address.
    pub(crate) fn new(bootstrap_servers: &str, counters: Arc<Counters>, setup: Arc<Setup>) -> Option<Self> {
        let bootstrap: Vec<Arc<Broker>> = bootstrap_servers
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| Arc::new(Broker::new(a.to_owned(), counters.clone(), setup.clone())))
            .collect();
        (!bootstrap.is_empty()).then(|| Directory { counters, setup, bootstrap, known: Mutex::default() })
    }

    fn known(&self) -> MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn broker(&self, id: i32) -> Option<Arc<Broker>> {
        self.known().by_id.get(&id).cloned()
    }

    /// Every broker known by id (empty before the first Metadata).
    pub(crate) fn all(&self) -> Vec<(i32, Arc<Broker>)> {
        self.known().by_id.iter().map(|(id, b)| (*id, b.clone())).collect()
    }

    /// Brokers to try for a request any broker can answer, best first: known brokers, then
    /// bootstrap addresses, those backing off last.
    pub(crate) fn any(&self) -> Vec<Arc<Broker>> {
        let mut candidates: Vec<Arc<Broker>> = self.known().by_id.values().cloned().collect();
        for b in &self.bootstrap {
            if !candidates.iter().any(|c| c.addr == b.addr) {
                candidates.push(b.clone());
            }
        }
        candidates.sort_by_key(|b| b.in_backoff());
        candidates
    }

    /// Records a broker's address (from Metadata or FindCoordinator); an unchanged one keeps its
    /// connection.
    pub(crate) fn add(&self, id: i32, addr: String) {
        let mut known = self.known();
        if known.by_id.get(&id).is_some_and(|b| b.addr == addr) {
            return;
        }
        let broker = self
            .bootstrap
            .iter()
            .find(|b| b.addr == addr)
            .cloned()
            .unwrap_or_else(|| Arc::new(Broker::new(addr, self.counters.clone(), self.setup.clone())));
        known.by_id.insert(id, broker);
    }

    pub(crate) fn leaders(&self) -> Arc<LeaderMap> {
        self.known().leaders.clone()
    }

    pub(crate) fn set_leaders(&self, leaders: LeaderMap) {
        self.known().leaders = Arc::new(leaders);
    }
}
