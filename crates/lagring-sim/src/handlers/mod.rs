//! One file per Kafka API. `dispatch` decodes the request body for the negotiated version, calls
//! the handler with a `Ctx` (model, clock reading, broker identity, injected error) and encodes
//! the response with its header. Handlers are pure functions of the model and the instant.

mod api_versions;
mod consumer_group_describe;
mod describe_groups;
mod describe_share_group_offsets;
mod fetch;
mod find_coordinator;
#[cfg(test)]
mod group_types_tests;
mod list_groups;
mod list_offsets;
mod lookup;
mod metadata;
mod offset_fetch;
mod produce;
mod share_group_describe;
mod streams_group_describe;
mod unsupported;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};

use crate::controls::Controls;
use crate::model::Model;

/// APIs and version ranges the simulator implements (and advertises in ApiVersions).
pub const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 9),
    (ApiKey::Fetch, 4, 16),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::ApiVersions, 0, 4),
    // Answered by the connection's SASL state (server/sasl.rs), not by `dispatch`.
    (ApiKey::SaslHandshake, 1, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::ConsumerGroupDescribe, 0, 1),
    (ApiKey::ShareGroupDescribe, 1, 1),
    (ApiKey::DescribeShareGroupOffsets, 0, 1),
    (ApiKey::StreamsGroupDescribe, 0, 0),
];

/// A broker's listening address.
#[derive(Debug, Clone)]
pub struct BrokerAddr {
    pub id: i32,
    pub host: String,
    pub port: i32,
}

/// Everything a handler needs to answer one request.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub model: &'a Model,
    pub brokers: &'a [BrokerAddr],
    /// The broker answering.
    pub broker: i32,
    /// Scenario time of this request.
    pub t_ms: u64,
    /// Negotiated request version.
    pub version: i16,
    /// Error code chosen by fault injection for this request.
    pub injected: Option<i16>,
    /// Run-time switches (moved coordinators, capped versions).
    pub controls: &'a Controls,
}

impl Ctx<'_> {
    /// The broker coordinating `key` now: moved by a test, or hashed by the model.
    pub fn coordinator(&self, key: &str) -> i32 {
        self.controls.moved_coordinator(key).unwrap_or_else(|| self.model.coordinator_for_key(key))
    }

    /// The leader of a partition now: moved by a test, or placed by the model.
    pub fn leader(&self, topic: &crate::model::partition::TopicModel, partition: i32) -> i32 {
        self.controls.moved_leader(&topic.config.name, partition).unwrap_or_else(|| self.model.leader(topic, partition))
    }

    /// Version ranges served now: [`SUPPORTED`] with run-time caps applied.
    pub fn supported(&self) -> impl Iterator<Item = (ApiKey, i16, i16)> + '_ {
        SUPPORTED.iter().map(|(key, min, max)| (*key, *min, self.controls.max_version(*key, *max)))
    }

    /// Whether `version` of `key` is served now.
    fn serves(&self, key: ApiKey, version: i16) -> bool {
        self.supported().any(|(k, min, max)| k == key && (min..=max).contains(&version))
    }
}

/// Map an API name (`ListOffsets`) to its key.
pub fn api_key_by_name(name: &str) -> Option<i16> {
    ApiKey::iter().find(|k| format!("{k:?}") == name).map(|k| k as i16)
}

/// Answer one request; returns the full response frame payload (header + body, no length).
pub fn dispatch(ctx: &Ctx, api_key: i16, correlation_id: i32, body: Bytes) -> BytesMut {
    let result = match ApiKey::try_from(api_key) {
        Ok(ApiKey::ApiVersions) => Ok(api_versions::respond(ctx, correlation_id)),
        Ok(key) if ctx.serves(key, ctx.version) => supported(ctx, key, correlation_id, body),
        Ok(key) => unsupported::respond(key, ctx.version, correlation_id),
        Err(()) => Err(anyhow::anyhow!("unknown api key")),
    };
    result.unwrap_or_else(|error| {
        tracing::debug!(api_key, version = ctx.version, %error, "answering with bare error");
        unsupported::bare(correlation_id)
    })
}

fn supported(ctx: &Ctx, key: ApiKey, id: i32, mut body: Bytes) -> anyhow::Result<BytesMut> {
    let v = ctx.version;
    match key {
        ApiKey::Metadata => frame(id, v, &metadata::handle(ctx, Decodable::decode(&mut body, v)?)),
        ApiKey::FindCoordinator => frame(id, v, &find_coordinator::handle(ctx, Decodable::decode(&mut body, v)?)),
        ApiKey::ListGroups => frame(id, v, &list_groups::handle(ctx, Decodable::decode(&mut body, v)?)),
        ApiKey::DescribeGroups => frame(id, v, &describe_groups::handle(ctx, Decodable::decode(&mut body, v)?)),
        ApiKey::OffsetFetch => frame(id, v, &offset_fetch::handle(ctx, Decodable::decode(&mut body, v)?)),
        ApiKey::ListOffsets => frame(id, v, &list_offsets::handle(ctx, Decodable::decode(&mut body, v)?)),
        ApiKey::Fetch => frame(id, v, &fetch::handle(ctx, Decodable::decode(&mut body, v)?)),
        ApiKey::Produce => frame(id, v, &produce::handle(ctx, Decodable::decode(&mut body, v)?)),
        ApiKey::ConsumerGroupDescribe => {
            frame(id, v, &consumer_group_describe::handle(ctx, Decodable::decode(&mut body, v)?))
        }
        ApiKey::ShareGroupDescribe => {
            frame(id, v, &share_group_describe::handle(ctx, Decodable::decode(&mut body, v)?))
        }
        ApiKey::DescribeShareGroupOffsets => {
            frame(id, v, &describe_share_group_offsets::handle(ctx, Decodable::decode(&mut body, v)?))
        }
        ApiKey::StreamsGroupDescribe => {
            frame(id, v, &streams_group_describe::handle(ctx, Decodable::decode(&mut body, v)?))
        }
        other => unsupported::respond(other, v, id),
    }
}

/// Encode response header + body for `version`.
pub(crate) fn frame<R: Encodable + HeaderVersion>(
    correlation_id: i32,
    version: i16,
    response: &R,
) -> anyhow::Result<BytesMut> {
    let mut buf = BytesMut::new();
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    header.encode(&mut buf, R::header_version(version))?;
    response.encode(&mut buf, version)?;
    Ok(buf)
}

/// Prepend the 4-byte length.
pub(crate) fn with_length(payload: &[u8]) -> BytesMut {
    let mut out = BytesMut::with_capacity(payload.len() + 4);
    out.put_i32(i32::try_from(payload.len()).unwrap_or(i32::MAX));
    out.put_slice(payload);
    out
}

/// Kafka string helper.
pub(crate) fn sb(s: impl Into<String>) -> kafka_protocol::protocol::StrBytes {
    kafka_protocol::protocol::StrBytes::from_string(s.into())
}
