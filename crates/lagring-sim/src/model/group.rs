//! A group at time t: whether it exists, its type and state, its members (with a real
//! consumer-protocol assignment), its epochs (KIP-848 and KIP-932 groups) and its position per
//! partition, derived from the configured behaviour and the partition's high watermark. The
//! position is a committed offset for classic, consumer and streams groups and the
//! share-partition start offset for a share group, which commits nothing: Kafka keeps the two
//! apart, so the model does too (`committed` and `share_start`).

use std::collections::{HashMap, HashSet};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::TopicName;
use kafka_protocol::messages::consumer_protocol_assignment::{ConsumerProtocolAssignment, TopicPartition};
use kafka_protocol::protocol::{Encodable, StrBytes};

use super::partition::{TopicModel, to_i64};
use crate::clock::duration_ms;
use crate::scenario::{Behaviour, GroupConfig, GroupState, GroupType};

/// Assignment encoding version (v0 is understood by every client).
const ASSIGNMENT_VERSION: i16 = 0;

/// A group with its topics resolved to indexes.
#[derive(Debug)]
pub struct GroupModel {
    pub config: GroupConfig,
    pub topics: Vec<usize>,
    never_committed: HashSet<(usize, i32)>,
    pub coordinator: i32,
}

/// One simulated member.
#[derive(Debug, Clone)]
pub struct Member {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    /// (topic index, partition) pairs assigned to this member.
    pub partitions: Vec<(usize, i32)>,
}

/// Group coordinator: stable hash of the key over brokers.
pub fn coordinator_for(key: &str, brokers: u32) -> i32 {
    let slot = super::hash::mix(0, &[super::hash::str_word(key)]) % u64::from(brokers.max(1));
    i32::try_from(slot).unwrap_or(0)
}

impl GroupModel {
    pub fn new(config: GroupConfig, topic_index: &HashMap<String, usize>, brokers: u32) -> Self {
        let topics = config.topics.iter().filter_map(|t| topic_index.get(t).copied()).collect();
        let never_committed = config
            .never_committed
            .iter()
            .filter_map(|(t, ps)| topic_index.get(t).map(|i| (*i, ps)))
            .flat_map(|(i, ps)| ps.iter().map(move |p| (i, *p)))
            .collect();
        let coordinator = coordinator_for(&config.name, brokers);
        GroupModel { config, topics, never_committed, coordinator }
    }

    /// Whether the group exists (is not deleted) at `t_ms`.
    pub fn exists(&self, t_ms: u64) -> bool {
        self.config.deleted_at.is_none_or(|d| t_ms < duration_ms(d))
    }

    /// Group state as Kafka names it: the configured one, else derived from the members.
    pub fn state(&self, t_ms: u64) -> &'static str {
        match (self.exists(t_ms), self.config.state, self.config.members) {
            (false, _, _) => "Dead",
            (true, Some(state), _) => state.name(),
            (true, None, 0) => "Empty",
            (true, None, _) => "Stable",
        }
    }

    pub fn group_type(&self) -> GroupType {
        self.config.group_type
    }

    /// Whether the group holds positions now: it exists and is not held `Dead`.
    fn live(&self, t_ms: u64) -> bool {
        self.exists(t_ms) && self.config.state != Some(GroupState::Dead)
    }

    /// Group epoch and assignment epoch (KIP-848 / KIP-932 groups): one bump per member join.
    /// `Assigning` is a group epoch the assignment has not caught up with yet.
    pub fn epochs(&self) -> (i32, i32) {
        let epoch = i32::try_from(self.config.members).unwrap_or(i32::MAX - 1).saturating_add(1);
        match self.config.state {
            Some(GroupState::Assigning) => (epoch.saturating_add(1), epoch),
            _ => (epoch, epoch),
        }
    }

    /// Epoch of member `index`: the assignment epoch, except that in `Reconciling` the first
    /// member is still one behind.
    pub fn member_epoch(&self, index: usize) -> i32 {
        let (_, assignment) = self.epochs();
        match self.config.state {
            Some(GroupState::Reconciling) if index == 0 => assignment.saturating_sub(1),
            _ => assignment,
        }
    }

    /// Whether the group reads this partition.
    pub fn reads(&self, topic: usize, partition: i32, topics: &[TopicModel]) -> bool {
        self.topics.contains(&topic) && topics.get(topic).is_some_and(|t| (0..t.partitions()).contains(&partition))
    }

    /// Committed offset of one partition at `t_ms`; `None` when never committed or gone, and
    /// always for a share group (Kafka answers its OffsetFetch with no offsets and no error).
    pub fn committed(&self, topic: &TopicModel, partition: i32, t_ms: u64) -> Option<i64> {
        if self.config.group_type == GroupType::Share {
            return None;
        }
        self.position(topic, partition, t_ms)
    }

    /// Share-partition start offset (KIP-932) of one partition at `t_ms`: every offset below it
    /// is acknowledged or archived. `None` for other types and for partitions never initialised
    /// (`never_committed`).
    pub fn share_start(&self, topic: &TopicModel, partition: i32, t_ms: u64) -> Option<i64> {
        if self.config.group_type != GroupType::Share {
            return None;
        }
        self.position(topic, partition, t_ms)
    }

    /// The lag a broker reports for a share partition (KIP-1226) at `t_ms`: records from the
    /// start offset to the end offset, less those acknowledged ahead of the start offset
    /// (`acknowledged_ahead`), never below 0. `None` where [`Self::share_start`] is.
    pub fn share_lag(&self, topic: &TopicModel, partition: i32, t_ms: u64) -> Option<i64> {
        let start = self.share_start(topic, partition, t_ms)?;
        let end = to_i64(topic.high_watermark(partition, t_ms));
        Some(end.saturating_sub(start).saturating_sub(to_i64(self.config.acknowledged_ahead)).max(0))
    }

    /// Where the group is in one partition, whatever its type calls that.
    fn position(&self, topic: &TopicModel, partition: i32, t_ms: u64) -> Option<i64> {
        if !self.live(t_ms)
            || !self.topics.contains(&topic.index)
            || !(0..topic.partitions()).contains(&partition)
            || self.never_committed.contains(&(topic.index, partition))
        {
            return None;
        }
        let hw = |at: u64| topic.high_watermark(partition, at);
        let offset = match &self.config.behaviour {
            Behaviour::KeepsUp => hw(t_ms),
            Behaviour::LagsBy(n) => hw(t_ms).saturating_sub(*n),
            Behaviour::Stalls(at) | Behaviour::StopsCommitting(at) => hw(t_ms.min(duration_ms(*at))),
            Behaviour::Rewinds(r) if t_ms < duration_ms(r.at) => hw(t_ms),
            Behaviour::Rewinds(r) => hw(t_ms).saturating_sub(r.by),
            Behaviour::ConsumesFraction(f) => {
                let produced = hw(t_ms).saturating_sub(hw(0));
                hw(0) + (produced as f64 * f.clamp(0.0, 1.0)).floor() as u64
            }
        };
        Some(to_i64(offset))
    }

    /// Members and their assignment: partitions dealt round-robin in (topic, partition) order.
    /// `Empty` and `Dead` groups have none (validation makes their `members` 0).
    pub fn members(&self, topics: &[TopicModel]) -> Vec<Member> {
        let count = self.config.members as usize;
        let mut members: Vec<Member> = (0..count)
            .map(|i| Member {
                member_id: format!("{}-member-{i}", self.config.name),
                client_id: format!("{}-client-{i}", self.config.name),
                client_host: format!("/10.0.{}.{}", i / 250, i % 250 + 1),
                partitions: Vec::new(),
            })
            .collect();
        let all = self
            .topics
            .iter()
            .filter_map(|i| topics.get(*i))
            .flat_map(|t| (0..t.partitions()).map(move |p| (t.index, p)));
        for (n, tp) in all.enumerate() {
            if let Some(m) = members.get_mut(n.checked_rem(count).unwrap_or(0)) {
                m.partitions.push(tp);
            }
        }
        members
    }
}

/// Encode a member's assignment as the consumer protocol does (version prefix + struct).
pub fn encode_assignment(member: &Member, topics: &[TopicModel]) -> Bytes {
    let mut by_topic: Vec<TopicPartition> = Vec::new();
    for (t, p) in &member.partitions {
        let Some(name) = topics.get(*t).map(|t| t.config.name.clone()) else { continue };
        match by_topic.last_mut() {
            Some(last) if last.topic.0.as_str() == name => last.partitions.push(*p),
            _ => by_topic.push(
                TopicPartition::default().with_topic(TopicName(StrBytes::from_string(name))).with_partitions(vec![*p]),
            ),
        }
    }
    let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(by_topic);
    let mut buf = BytesMut::new();
    buf.put_i16(ASSIGNMENT_VERSION);
    match assignment.encode(&mut buf, ASSIGNMENT_VERSION) {
        Ok(()) => buf.freeze(),
        Err(error) => {
            tracing::warn!(%error, member = %member.member_id, "cannot encode assignment");
            Bytes::new()
        }
    }
}
