//! Fetch (v4–16; topics by id from v13): real v2 record batches built from the partition model
//! ([`crate::model::records`]), so a consumer (librdkafka, or lagring's native client reading
//! one batch header to learn a timestamp) sees the offsets, timestamps and watermarks the model
//! defines, exactly as tests expect them.
//!
//! Per partition: unknown → UNKNOWN_TOPIC_OR_PARTITION; led elsewhere → NOT_LEADER_OR_FOLLOWER;
//! a `current_leader_epoch` (v9+) older/newer than the topic generation → FENCED_LEADER_EPOCH /
//! UNKNOWN_LEADER_EPOCH; a fetch offset outside `[log start, high watermark]` →
//! OFFSET_OUT_OF_RANGE. Otherwise the answer carries the high watermark, last stable offset and
//! log start, and records from the batch containing the fetch offset up to the high watermark
//! (up to the last stable offset under read_committed, with an empty aborted list).
//!
//! Byte limits follow the broker (ReplicaManager.readFromLocalLog, Fetch v3+): partitions are
//! read in request order, each with `min(partition_max_bytes, what is left of max_bytes)`. The
//! records are the log bytes cut at that limit, so the last batch may be a prefix (clients drop
//! it and fetch again from there). The first batch is never cut: for the first partition that
//! returns data it is returned whole even above both limits (so a consumer always makes
//! progress); for later partitions a first batch above the limit means no records at all.
//!
//! The request's `max_bytes` is capped at 55 MiB, the broker's `fetch.max.bytes` default.
//! Fetch sessions are not kept: the response's session id is 0, which tells clients to send full
//! requests (a request naming a session gets FETCH_SESSION_ID_NOT_FOUND). Answers are immediate: there is no `max_wait_ms` hold when no data is available
//! (a scenario's `faults.latency.Fetch` can stand in for it).

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::FetchPartition;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse};

use super::Ctx;
use super::metadata::topic_id;
use crate::model::partition::TopicModel;
use crate::model::records::PartitionLog;

const READ_COMMITTED: i8 = 1;
const NO_EPOCH: i32 = -1;
/// First version naming topics by id instead of name.
const TOPIC_IDS: i16 = 13;
/// First version with fetch sessions (KIP-227).
const SESSIONS: i16 = 7;
/// The broker's `fetch.max.bytes` default (55 MiB): the cap on a request's `max_bytes`.
const BROKER_FETCH_MAX_BYTES: usize = 55 * 1024 * 1024;

/// Byte budget shared by the partitions of one request.
struct Budget {
    /// What is left of the request's `max_bytes`.
    left: usize,
    /// No partition has returned records yet: the next one gets at least one whole batch.
    min_one: bool,
}

pub fn handle(ctx: &Ctx, req: FetchRequest) -> FetchResponse {
    if ctx.version >= SESSIONS && req.session_id != 0 {
        // No session is ever handed out, so an incremental request names an unknown one.
        return FetchResponse::default().with_error_code(ResponseError::FetchSessionIdNotFound.code());
    }
    let read_committed = req.isolation_level == READ_COMMITTED;
    let max_bytes = usize::try_from(req.max_bytes).unwrap_or(0).min(BROKER_FETCH_MAX_BYTES);
    let mut budget = Budget { left: max_bytes, min_one: true };
    let responses = req
        .topics
        .into_iter()
        .map(|t| {
            let (topic, unknown) = if ctx.version >= TOPIC_IDS {
                (by_id(ctx, t.topic_id), ResponseError::UnknownTopicId)
            } else {
                (ctx.model.topic(t.topic.0.as_str()), ResponseError::UnknownTopicOrPartition)
            };
            let partitions = t
                .partitions
                .iter()
                .map(|p| answer(ctx, topic, p, read_committed, &mut budget, unknown.code()))
                .collect();
            FetchableTopicResponse::default().with_topic(t.topic).with_topic_id(t.topic_id).with_partitions(partitions)
        })
        .collect();
    FetchResponse::default().with_responses(responses)
}

fn answer(
    ctx: &Ctx,
    topic: Option<&TopicModel>,
    req: &FetchPartition,
    read_committed: bool,
    budget: &mut Budget,
    unknown: i16,
) -> PartitionData {
    let partition = req.partition;
    let base = PartitionData::default()
        .with_partition_index(partition)
        .with_aborted_transactions(read_committed.then(Vec::new))
        .with_preferred_read_replica(BrokerId(-1))
        .with_records(Some(Bytes::new()));
    let error = |code: i16| base.clone().with_error_code(code).with_high_watermark(-1);
    let Some(topic) = topic else { return error(unknown) };
    if !(0..topic.partitions()).contains(&partition) {
        return error(ResponseError::UnknownTopicOrPartition.code());
    }
    if let Some(code) = ctx.injected {
        return error(code);
    }
    if ctx.leader(topic, partition) != ctx.broker {
        return error(ResponseError::NotLeaderOrFollower.code());
    }
    let (generation, _) = topic.generation(ctx.t_ms);
    let epoch = i32::try_from(generation).unwrap_or(i32::MAX);
    if ctx.version >= 9 && req.current_leader_epoch != NO_EPOCH {
        if req.current_leader_epoch < epoch {
            return error(ResponseError::FencedLeaderEpoch.code());
        }
        if req.current_leader_epoch > epoch {
            return error(ResponseError::UnknownLeaderEpoch.code());
        }
    }
    let offsets = topic.offsets(partition, ctx.t_ms);
    let out = base
        .with_high_watermark(offsets.high_watermark)
        .with_last_stable_offset(offsets.last_stable)
        .with_log_start_offset(offsets.log_start);
    if !(offsets.log_start..=offsets.high_watermark).contains(&req.fetch_offset) {
        return out.with_error_code(ResponseError::OffsetOutOfRange.code());
    }
    let end = if read_committed { offsets.last_stable } else { offsets.high_watermark };
    let log = PartitionLog {
        topic,
        partition,
        t_ms: ctx.t_ms,
        epoch_ms: ctx.model.epoch_ms,
        start: to_u64(offsets.log_start),
        end: to_u64(end),
    };
    let limit = usize::try_from(req.partition_max_bytes).unwrap_or(0).min(budget.left);
    match log.read(to_u64(req.fetch_offset), limit, budget.min_one) {
        Ok(records) => {
            if !records.is_empty() {
                budget.min_one = false;
            }
            budget.left = budget.left.saturating_sub(records.len());
            out.with_records(Some(records))
        }
        Err(error) => {
            tracing::warn!(topic = %topic.config.name, partition, %error, "cannot encode records");
            out.with_error_code(ResponseError::UnknownServerError.code())
        }
    }
}

/// The topic whose current id (as Metadata reports it) is `id`.
fn by_id<'a>(ctx: &Ctx<'a>, id: uuid::Uuid) -> Option<&'a TopicModel> {
    ctx.model.topics.iter().find(|t| {
        let (generation, _) = t.generation(ctx.t_ms);
        topic_id(ctx.model.seed, &t.config.name, generation) == id
    })
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controls::Controls;
    use crate::handlers::BrokerAddr;
    use crate::model::Model;
    use crate::model::records::BATCH_HEADER_LEN;
    use crate::scenario::Scenario;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::messages::fetch_request::FetchTopic;
    use kafka_protocol::records::RecordBatchDecoder;

    fn model() -> Model {
        let s = Scenario::from_yaml(
            "brokers: 1\ntopics: [{name: a, partitions: 2, initial_messages: 100}, \
             {name: b, partitions: 1, start_offset: 20, initial_messages: 30, transactional: {lso_gap: 5}}]",
        )
        .unwrap();
        Model::new(s, 1_000_000)
    }

    fn fetch(model: &Model, version: i16, req: FetchRequest) -> FetchResponse {
        let controls = Controls::new(1);
        let brokers = [BrokerAddr { id: 0, host: "127.0.0.1".into(), port: 1 }];
        let ctx = Ctx { model, brokers: &brokers, broker: 0, t_ms: 0, version, injected: None, controls: &controls };
        handle(&ctx, req)
    }

    fn request(parts: &[(&str, i32, i64, i32)], max_bytes: i32) -> FetchRequest {
        let topics = parts
            .iter()
            .map(|(t, p, offset, limit)| {
                FetchTopic::default().with_topic(TopicName(super::super::sb(*t))).with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(*p)
                        .with_fetch_offset(*offset)
                        .with_partition_max_bytes(*limit),
                ])
            })
            .collect();
        FetchRequest::default().with_max_bytes(max_bytes).with_topics(topics)
    }

    fn only(resp: &FetchResponse, i: usize) -> &PartitionData {
        &resp.responses[i].partitions[0]
    }

    #[test]
    fn errors_and_watermarks() {
        let m = model();
        let r = fetch(&m, 12, request(&[("a", 0, 101, 1000), ("a", 1, -1, 1000), ("a", 7, 0, 1000)], 1 << 20));
        assert_eq!(only(&r, 0).error_code, ResponseError::OffsetOutOfRange.code());
        assert_eq!(only(&r, 0).high_watermark, 100);
        assert_eq!(only(&r, 1).error_code, ResponseError::OffsetOutOfRange.code());
        assert_eq!(only(&r, 2).error_code, ResponseError::UnknownTopicOrPartition.code());
        let r = fetch(&m, 12, request(&[("a", 0, 100, 1000), ("b", 0, 20, 1 << 20)], 1 << 20));
        assert_eq!(only(&r, 0).error_code, 0);
        assert!(only(&r, 0).records.as_ref().unwrap().is_empty(), "at the high watermark: no records");
        let b = only(&r, 1);
        assert_eq!((b.log_start_offset, b.last_stable_offset, b.high_watermark), (20, 45, 50));
        let sets = RecordBatchDecoder::decode_all(&mut b.records.clone().unwrap()).unwrap();
        let offsets: Vec<i64> = sets.iter().flat_map(|s| s.records.iter().map(|r| r.offset)).collect();
        assert_eq!(offsets, (20..50).collect::<Vec<_>>());
    }

    #[test]
    fn read_committed_stops_at_the_last_stable_offset() {
        let m = model();
        let r = fetch(&m, 12, request(&[("b", 0, 37, 1 << 20)], 1 << 20).with_isolation_level(READ_COMMITTED));
        let b = only(&r, 0);
        assert_eq!(b.aborted_transactions, Some(vec![]));
        let sets = RecordBatchDecoder::decode_all(&mut b.records.clone().unwrap()).unwrap();
        let offsets: Vec<i64> = sets.iter().flat_map(|s| s.records.iter().map(|r| r.offset)).collect();
        assert_eq!(offsets, (30..45).collect::<Vec<_>>());
    }

    #[test]
    fn first_partition_gets_a_whole_batch_later_ones_a_prefix_or_nothing() {
        let m = model();
        // Tiny per-partition limits: the first partition still gets its whole first batch, the
        // second (first batch above its limit) nothing.
        let r = fetch(&m, 12, request(&[("a", 0, 55, BATCH_HEADER_LEN as i32), ("a", 1, 0, 61)], 1 << 20));
        let first = only(&r, 0).records.clone().unwrap();
        let sets = RecordBatchDecoder::decode_all(&mut first.clone()).unwrap();
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].records.first().map(|r| r.offset), Some(50));
        assert!(only(&r, 1).records.as_ref().unwrap().is_empty());
        // A limit of one batch and a header: the second batch arrives as its 61-byte header.
        let limit = (first.len() + BATCH_HEADER_LEN) as i32;
        let r = fetch(&m, 12, request(&[("a", 0, 100, 0), ("a", 1, 55, limit)], 1 << 20));
        let got = only(&r, 1).records.clone().unwrap();
        assert_eq!(got.len(), limit as usize);
        assert_eq!(i64::from_be_bytes(got[first.len()..first.len() + 8].try_into().unwrap()), 60);
        // The request's max_bytes is shared: what the first partition used is gone for the next.
        let r = fetch(&m, 12, request(&[("a", 0, 0, 1 << 20), ("a", 1, 0, 1 << 20)], 100));
        assert!(only(&r, 0).records.as_ref().unwrap().len() > 100);
        assert!(only(&r, 1).records.as_ref().unwrap().is_empty());
    }

    #[test]
    fn topics_by_id_from_v13() {
        let m = model();
        let id = topic_id(m.seed, "b", 0);
        let mut req = request(&[("b", 0, 20, 1 << 20), ("b", 0, 20, 1 << 20)], 1 << 20);
        req.topics[0].topic = TopicName(super::super::sb(""));
        req.topics[0].topic_id = id;
        req.topics[1].topic_id = uuid::Uuid::from_u64_pair(1, 2);
        let r = fetch(&m, 13, req);
        assert_eq!(r.responses[0].topic_id, id);
        assert_eq!((only(&r, 0).error_code, only(&r, 0).high_watermark), (0, 50));
        assert_eq!(only(&r, 1).error_code, ResponseError::UnknownTopicId.code());
    }

    #[test]
    fn not_leader_elsewhere() {
        let s = Scenario::from_yaml("brokers: 2\ntopics: [{name: a, partitions: 2, initial_messages: 10}]").unwrap();
        let m = Model::new(s, 0);
        // Partition 1 is led by broker 1; this broker is 0.
        let r = fetch(&m, 12, request(&[("a", 1, 0, 1000), ("a", 0, 0, 1000)], 1 << 20));
        assert_eq!(only(&r, 0).error_code, ResponseError::NotLeaderOrFollower.code());
        assert_eq!(only(&r, 1).error_code, 0);
    }

    #[test]
    fn unknown_fetch_session() {
        let m = model();
        let r = fetch(&m, 12, request(&[("a", 0, 0, 1000)], 1 << 20).with_session_id(7).with_session_epoch(1));
        assert_eq!(r.error_code, ResponseError::FetchSessionIdNotFound.code());
        assert!(r.responses.is_empty());
        // A new-session request (id 0, epoch 0) gets a full answer and session id 0.
        let r = fetch(&m, 12, request(&[("a", 0, 0, 1000)], 1 << 20).with_session_epoch(0));
        assert_eq!((r.error_code, r.session_id), (0, 0));
        assert!(!only(&r, 0).records.as_ref().unwrap().is_empty());
    }

    #[test]
    fn fenced_and_unknown_leader_epochs() {
        let m = model();
        let mut req = request(&[("a", 0, 0, 1000)], 1 << 20);
        req.topics[0].partitions[0].current_leader_epoch = 1;
        let r = fetch(&m, 12, req.clone());
        assert_eq!(only(&r, 0).error_code, ResponseError::UnknownLeaderEpoch.code());
        // Before v9 the field does not exist.
        let r = fetch(&m, 8, req);
        assert_eq!(only(&r, 0).error_code, 0);
    }
}
