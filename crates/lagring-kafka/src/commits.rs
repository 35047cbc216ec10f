//! Committed offsets as both clients return them: one group's raw entries (topic, partition,
//! offset or error) turned into the model map, with one shared `Arc<str>` per topic name across
//! all groups of a call.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use lagring_core::model::{Offset, TopicPartition};

use crate::error::{BrokerError, KafkaError};

/// One committed offset entry: topic, partition, and offset or error.
pub(crate) type RawCommit = (String, i32, Result<i64, BrokerError>);

pub(crate) fn group_error(cluster: &Arc<str>, group: &Arc<str>, error: BrokerError) -> KafkaError {
    KafkaError::Group { cluster: cluster.clone(), group: group.clone(), error }
}

/// Turns one group's raw commits into the model map: "no commit" (any
/// negative offset) is left out, a partition error fails the group.
pub(crate) fn commit_map(
    cluster: &Arc<str>,
    group: &Arc<str>,
    entries: Vec<RawCommit>,
    topics: &mut TopicInterner,
) -> Result<BTreeMap<TopicPartition, Offset>, KafkaError> {
    let mut map = BTreeMap::new();
    for (topic, partition, outcome) in entries {
        let tp = TopicPartition { topic: topics.intern(topic), partition };
        match outcome {
            Ok(offset) if offset >= 0 => {
                map.insert(tp, offset);
            }
            Ok(_) => {}
            Err(e) => {
                let error = BrokerError { code: e.code, message: format!("partition {tp}: {}", e.message) };
                return Err(group_error(cluster, group, error));
            }
        }
    }
    Ok(map)
}

/// Shares one `Arc<str>` per topic name across all groups of one call.
#[derive(Default)]
pub(crate) struct TopicInterner {
    names: BTreeSet<Arc<str>>,
}

impl TopicInterner {
    fn intern(&mut self, name: String) -> Arc<str> {
        if let Some(existing) = self.names.get(name.as_str()) {
            return existing.clone();
        }
        let name: Arc<str> = Arc::from(name);
        self.names.insert(name.clone());
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(topic: &str, partition: i32, offset: i64) -> RawCommit {
        (topic.to_owned(), partition, Ok(offset))
    }

    #[test]
    fn commit_map_drops_no_commit_and_shares_topic_names() {
        let cluster: Arc<str> = Arc::from("c");
        let mut topics = TopicInterner::default();
        let a = commit_map(
            &cluster,
            &Arc::from("a"),
            vec![ok("t", 0, 5), ok("t", 1, -1), ok("t", 2, -1001), ok("u", 0, 0)],
            &mut topics,
        )
        .unwrap();
        assert_eq!(a, BTreeMap::from([(TopicPartition::new("t", 0), 5), (TopicPartition::new("u", 0), 0)]));
        let b = commit_map(&cluster, &Arc::from("b"), vec![ok("t", 0, 9)], &mut topics).unwrap();
        let (ta, tb) = (&a.keys().next().unwrap().topic, &b.keys().next().unwrap().topic);
        assert!(Arc::ptr_eq(ta, tb));
    }

    #[test]
    fn commit_map_fails_the_group_on_a_partition_error() {
        let cluster: Arc<str> = Arc::from("c");
        let entries = vec![ok("t", 0, 5), ("t".to_owned(), 1, Err(BrokerError { code: 88, message: "boom".into() }))];
        let err = commit_map(&cluster, &Arc::from("g"), entries, &mut TopicInterner::default()).unwrap_err();
        assert_eq!(err.to_string(), "cluster c: offset fetch for group g failed: partition t/1: boom (code 88)");
        assert!(!err.is_timeout());
    }
}
