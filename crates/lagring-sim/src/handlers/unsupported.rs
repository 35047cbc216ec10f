//! Answers for APIs the simulator does not implement. Clients only send them after ignoring
//! ApiVersions, but the connection must survive: common APIs get their own response type with
//! UNSUPPORTED_VERSION where the schema has a top-level error code, an empty response otherwise;
//! anything else gets a bare header + error code.

use bytes::{BufMut, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Message;

use super::frame;

const UNSUPPORTED: i16 = ResponseError::UnsupportedVersion.code();

/// Encode `$t::default()` (with `error_code` set when `$err`) if `version` is valid for it.
macro_rules! answer {
    ($id:expr, $version:expr, $t:ty, with_error) => {
        answer!(@ $id, $version, <$t>::default().with_error_code(UNSUPPORTED))
    };
    ($id:expr, $version:expr, $t:ty, empty) => {
        answer!(@ $id, $version, <$t>::default())
    };
    (@ $id:expr, $version:expr, $value:expr) => {{
        let value = $value;
        let range = message_versions(&value);
        if (range.min..=range.max).contains(&$version) {
            frame($id, $version, &value)
        } else {
            Err(anyhow::anyhow!("version out of range"))
        }
    }};
}

fn message_versions<M: Message>(_: &M) -> kafka_protocol::protocol::VersionRange {
    M::VERSIONS
}

/// Response for an API key we know but do not serve.
pub fn respond(key: ApiKey, version: i16, id: i32) -> anyhow::Result<BytesMut> {
    match key {
        ApiKey::Produce => answer!(id, version, ProduceResponse, empty),
        ApiKey::Fetch if version >= 7 => answer!(id, version, FetchResponse, with_error),
        ApiKey::Fetch => answer!(id, version, FetchResponse, empty),
        ApiKey::OffsetCommit => answer!(id, version, OffsetCommitResponse, empty),
        ApiKey::JoinGroup => answer!(id, version, JoinGroupResponse, with_error),
        ApiKey::Heartbeat => answer!(id, version, HeartbeatResponse, with_error),
        ApiKey::LeaveGroup => answer!(id, version, LeaveGroupResponse, with_error),
        ApiKey::SyncGroup => answer!(id, version, SyncGroupResponse, with_error),
        ApiKey::SaslHandshake => answer!(id, version, SaslHandshakeResponse, with_error),
        ApiKey::SaslAuthenticate => answer!(id, version, SaslAuthenticateResponse, with_error),
        ApiKey::InitProducerId => answer!(id, version, InitProducerIdResponse, with_error),
        ApiKey::OffsetDelete => answer!(id, version, OffsetDeleteResponse, with_error),
        ApiKey::DescribeCluster => answer!(id, version, DescribeClusterResponse, with_error),
        ApiKey::ConsumerGroupHeartbeat => {
            answer!(id, version, ConsumerGroupHeartbeatResponse, with_error)
        }
        ApiKey::CreateTopics => answer!(id, version, CreateTopicsResponse, empty),
        ApiKey::DeleteTopics => answer!(id, version, DeleteTopicsResponse, empty),
        ApiKey::DeleteGroups => answer!(id, version, DeleteGroupsResponse, empty),
        ApiKey::DescribeConfigs => answer!(id, version, DescribeConfigsResponse, empty),
        ApiKey::ConsumerGroupDescribe => answer!(id, version, ConsumerGroupDescribeResponse, empty),
        _ => Err(anyhow::anyhow!("no response schema wired")),
    }
}

/// Last resort: response header v0 + an UNSUPPORTED_VERSION code.
pub fn bare(correlation_id: i32) -> BytesMut {
    let mut buf = BytesMut::with_capacity(6);
    buf.put_i32(correlation_id);
    buf.put_i16(UNSUPPORTED);
    buf
}
