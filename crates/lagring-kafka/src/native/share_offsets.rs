//! Share-partition start offsets (KIP-932) of many share groups: one DescribeShareGroupOffsets
//! per coordinator and chunk of groups, asking for all topics (null), so each group answers with
//! its initialised partitions (see `by_coordinator.rs`). The start offset is a share group's
//! position, the analogue of a committed offset: records below it are acknowledged or archived.
//! A partition without share state (-1) is left out, like a partition without a commit; a
//! partition error fails its group only.
//!
//! v1 (KIP-1226, asked when the broker advertises it) adds the broker's own lag per partition,
//! which knows what is acknowledged above the SPSO; it rides along with the start offset, and -1
//! (not computed, and every v0 answer) leaves the lag to be computed from the end offset.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use kafka_protocol::messages::describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup;
use kafka_protocol::messages::{DescribeShareGroupOffsetsRequest, GroupId};
use kafka_protocol::protocol::StrBytes;
use lagring_core::group_series::SharePosition;
use lagring_core::model::TopicPartition;
use tracing::debug;

use super::NativeClient;
use super::by_coordinator::Answer;
use super::commit_entries::group_entries;
use super::error::WireError;
use crate::commits::{RawCommit, TopicInterner, commit_map};
use crate::error::{BrokerError, KafkaError};
use crate::stats::Api;

const API: &str = "describe share group offsets";

type Starts = Result<BTreeMap<TopicPartition, SharePosition>, KafkaError>;
/// One group's (topic, partition, start offset or error) entries and the broker's lag of each.
type Entries = (Vec<RawCommit>, Vec<i64>);

impl NativeClient {
    pub(crate) async fn share_group_offsets_until(
        &self,
        groups: Vec<Arc<str>>,
        max_in_flight: usize,
        deadline: Option<Instant>,
    ) -> Vec<(Arc<str>, Starts)> {
        let mut seen = BTreeSet::new();
        let groups: Vec<Arc<str>> = groups.into_iter().filter(|g| seen.insert(g.clone())).collect();
        let answers = self
            .per_coordinator(
                Api::ShareGroupOffsets,
                &groups,
                max_in_flight,
                deadline,
                |broker, chunk, timeout| async move {
                    let request = |_| {
                        let asked = chunk
                            .iter()
                            .map(|g| {
                                DescribeShareGroupOffsetsRequestGroup::default()
                                    .with_group_id(GroupId(StrBytes::from_string(g.to_string())))
                                    .with_topics(None)
                            })
                            .collect();
                        DescribeShareGroupOffsetsRequest::default().with_groups(asked)
                    };
                    match broker.request::<DescribeShareGroupOffsetsRequest>(timeout, request).await {
                        Ok((_, response)) => response
                            .groups
                            .into_iter()
                            .map(|g| {
                                let topics = g.topics.iter().map(|t| {
                                    let partitions =
                                        t.partitions.iter().map(|p| (p.partition_index, p.error_code, p.start_offset));
                                    (t.topic_name.0.as_str(), partitions)
                                });
                                let lags = g.topics.iter().flat_map(|t| t.partitions.iter().map(|p| p.lag)).collect();
                                let answer = group_entries(g.error_code, topics).map(|entries| (entries, lags));
                                (Arc::from(g.group_id.0.as_str()), answer)
                            })
                            .collect(),
                        Err(e) => chunk.iter().map(|g| (g.clone(), Err(e.clone()))).collect::<Vec<Answer<Entries>>>(),
                    }
                },
            )
            .await;
        let mut by_group: std::collections::HashMap<Arc<str>, Result<Entries, WireError>> =
            answers.into_iter().collect();
        let mut topics = TopicInterner::default();
        let results: Vec<(Arc<str>, Starts)> = groups
            .into_iter()
            .map(|group| {
                let starts = match by_group.remove(&group) {
                    Some(Ok((entries, lags))) => positions(&self.cluster, &group, entries, lags, &mut topics),
                    Some(Err(error)) => Err(self.describe_error(&group, error)),
                    None => Err(self.describe_error(&group, WireError::Decode(format!("no answer for group {group}")))),
                };
                (group, starts)
            })
            .collect();
        let failed = results.iter().filter(|(_, r)| r.is_err()).count();
        debug!(cluster = %self.cluster, groups = results.len(), failed, "fetched share-partition start offsets");
        results
    }

    fn describe_error(&self, group: &Arc<str>, error: WireError) -> KafkaError {
        KafkaError::GroupRequest {
            cluster: self.cluster.clone(),
            api: API,
            group: group.clone(),
            error: BrokerError::from(error),
        }
    }
}

/// The start offsets as [`commit_map`] keeps them, each with the broker's lag where it is ≥ 0.
fn positions(
    cluster: &Arc<str>,
    group: &Arc<str>,
    entries: Vec<RawCommit>,
    lags: Vec<i64>,
    topics: &mut TopicInterner,
) -> Starts {
    let lag_of: BTreeMap<(String, i32), i64> =
        entries.iter().zip(lags).filter(|(_, lag)| *lag >= 0).map(|((t, p, _), lag)| ((t.clone(), *p), lag)).collect();
    let starts = commit_map(cluster, group, entries, topics)?;
    Ok(starts
        .into_iter()
        .map(|(tp, start)| {
            let broker_lag = lag_of.get(&(tp.topic.to_string(), tp.partition)).copied();
            (tp, SharePosition { start, broker_lag })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use bytes::{BufMut, Bytes, BytesMut};
    use kafka_protocol::messages::DescribeShareGroupOffsetsResponse;
    use kafka_protocol::protocol::Decodable;

    use super::*;

    /// One group `g`, topic `t`, partition 3 at start offset 70, byte for byte as Kafka's message
    /// spec lays it out (flexible from v0): v1 puts the int64 lag between the leader epoch and
    /// the error code. Written by hand, not by the codec, so a wrong field order in the patched
    /// codec fails here even though the simulator (same codec) would agree with the client.
    fn wire(lag: Option<i64>) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i32(0); // throttle_time_ms
        b.put_u8(2); // groups: 1 (compact)
        b.put_slice(&[2, b'g']); // group_id
        b.put_u8(2); // topics: 1
        b.put_slice(&[2, b't']); // topic_name
        b.put_slice(&[0; 16]); // topic_id
        b.put_u8(2); // partitions: 1
        b.put_i32(3); // partition_index
        b.put_i64(70); // start_offset
        b.put_i32(-1); // leader_epoch
        if let Some(lag) = lag {
            b.put_i64(lag); // lag (v1)
        }
        b.put_i16(0); // error_code
        b.put_u8(0); // error_message: null
        b.put_u8(0); // partition tagged fields
        b.put_u8(0); // topic tagged fields
        b.put_i16(0); // group error_code
        b.put_u8(0); // group error_message: null
        b.put_u8(0); // group tagged fields
        b.put_u8(0); // response tagged fields
        b.freeze()
    }

    fn partition(bytes: Bytes, version: i16) -> (i32, i64, i64, i16) {
        let mut buf = bytes;
        let response = DescribeShareGroupOffsetsResponse::decode(&mut buf, version).unwrap();
        assert!(buf.is_empty(), "v{version} left {} bytes", buf.len());
        let p = &response.groups[0].topics[0].partitions[0];
        (p.partition_index, p.start_offset, p.lag, p.error_code)
    }

    #[test]
    fn v1_lag_sits_between_leader_epoch_and_error_code() {
        assert_eq!(partition(wire(Some(26)), 1), (3, 70, 26, 0));
        assert_eq!(partition(wire(None), 0), (3, 70, -1, 0));
    }

    #[test]
    fn a_lag_of_minus_one_leaves_the_lag_to_be_computed() {
        let entries = vec![("t".to_owned(), 0, Ok(70)), ("t".to_owned(), 1, Ok(80)), ("t".to_owned(), 2, Ok(-1))];
        let mut topics = TopicInterner::default();
        let got = positions(&Arc::from("c"), &Arc::from("g"), entries, vec![26, -1, 5], &mut topics).unwrap();
        let tp = TopicPartition::new;
        assert_eq!(
            got,
            BTreeMap::from([
                (tp("t", 0), SharePosition { start: 70, broker_lag: Some(26) }),
                (tp("t", 1), SharePosition { start: 80, broker_lag: None }),
            ])
        );
    }
}
