//! [`MemoryEvaluationStore`]: the evaluation store of single-node mode and of
//! in-process fleet tests (one store shared by every node), on an injectable
//! clock so expiry is tested without sleeping.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::{EvaluationStore, Listed, Published, RecordKind};
use crate::StoreFuture;
use crate::clock::{Clock, SystemClock};

/// Records of one cluster and kind: name → (value, expiry).
type Records = BTreeMap<String, (Arc<str>, Instant)>;

/// Latest evaluations kept in this process; clones share the records.
#[derive(Debug, Clone)]
pub struct MemoryEvaluationStore {
    clock: Arc<dyn Clock>,
    // std Mutex: short critical sections, never across an `.await`.
    records: Arc<Mutex<HashMap<(String, RecordKind), Records>>>,
}

impl MemoryEvaluationStore {
    /// A store on the process's monotonic clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// A store on the given clock (tests).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self { clock, records: Arc::default() }
    }

    fn records(&self) -> MutexGuard<'_, HashMap<(String, RecordKind), Records>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for MemoryEvaluationStore {
    fn default() -> Self {
        Self::new()
    }
}

impl EvaluationStore for MemoryEvaluationStore {
    fn publish<'a>(&'a self, cluster: &'a str, records: &'a [Published], ttl: Duration) -> StoreFuture<'a, ()> {
        let now = self.clock.now();
        let expires = now + ttl;
        let mut all = self.records();
        for r in records {
            let entry = all.entry((cluster.to_owned(), r.kind)).or_default();
            entry.insert(r.name.clone(), (Arc::from(r.value.as_str()), expires));
        }
        // Expired records go when their cluster publishes, as the Redis index does.
        for ((c, _), entry) in all.iter_mut() {
            if c == cluster {
                entry.retain(|_, (_, until)| *until > now);
            }
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn read<'a>(&'a self, cluster: &'a str, kind: RecordKind, name: &'a str) -> StoreFuture<'a, Option<String>> {
        let now = self.clock.now();
        let value = self
            .records()
            .get(&(cluster.to_owned(), kind))
            .and_then(|entry| entry.get(name))
            .filter(|(_, until)| *until > now)
            .map(|(value, _)| value.to_string());
        Box::pin(std::future::ready(Ok(value)))
    }

    fn names<'a>(&'a self, cluster: &'a str, kind: RecordKind, limit: usize) -> StoreFuture<'a, Listed> {
        let now = self.clock.now();
        let all = self.records();
        let mut live = all
            .get(&(cluster.to_owned(), kind))
            .into_iter()
            .flat_map(|entry| entry.iter())
            .filter(|(_, (_, until))| *until > now)
            .map(|(name, _)| name.clone());
        let names: Vec<String> = live.by_ref().take(limit).collect();
        let truncated = live.next().is_some();
        Box::pin(std::future::ready(Ok(Listed { names, truncated })))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::ManualClock;

    fn record(kind: RecordKind, name: &str, value: &str) -> Published {
        Published { kind, name: name.to_owned(), value: value.to_owned() }
    }

    #[tokio::test]
    async fn records_expire_after_their_ttl_and_names_are_bounded() {
        let clock = Arc::new(ManualClock::new());
        let store = MemoryEvaluationStore::with_clock(clock.clone());
        let ttl = Duration::from_secs(3);
        let first = [record(RecordKind::Group, "b", "1"), record(RecordKind::Group, "a", "2")];
        store.publish("c1", &first, ttl).await.unwrap();
        store.publish("c1", &[record(RecordKind::Topic, "t", "[5]")], ttl).await.unwrap();
        assert_eq!(store.read("c1", RecordKind::Group, "a").await.unwrap().as_deref(), Some("2"));
        assert_eq!(store.read("c2", RecordKind::Group, "a").await.unwrap(), None, "another cluster");
        assert_eq!(store.read("c1", RecordKind::Topic, "a").await.unwrap(), None, "another kind");
        let all = store.names("c1", RecordKind::Group, 10).await.unwrap();
        assert_eq!(all, Listed { names: vec!["a".into(), "b".into()], truncated: false });
        let one = store.names("c1", RecordKind::Group, 1).await.unwrap();
        assert_eq!(one, Listed { names: vec!["a".into()], truncated: true });

        clock.advance(Duration::from_secs(2));
        store.publish("c1", &[record(RecordKind::Group, "a", "3")], ttl).await.unwrap();
        clock.advance(Duration::from_secs(2));
        assert_eq!(store.read("c1", RecordKind::Group, "b").await.unwrap(), None, "b expired");
        assert_eq!(store.read("c1", RecordKind::Group, "a").await.unwrap().as_deref(), Some("3"));
        assert_eq!(store.names("c1", RecordKind::Group, 10).await.unwrap().names, vec!["a".to_owned()]);
        assert_eq!(store.names("c1", RecordKind::Topic, 10).await.unwrap().names, Vec::<String>::new());
    }
}
