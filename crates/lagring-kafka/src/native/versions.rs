//! Version negotiation: the range of each API this client can encode and decode, intersected
//! with what a broker advertises in ApiVersions. The highest common version is used; an API the
//! two do not share is an error for that request only.
//!
//! The batched forms hang on the versions: FindCoordinator v4+ (KIP-699) takes many keys,
//! OffsetFetch v8+ (KIP-709) many groups. A broker below either gets the per-key / per-group form
//! of the same request, chosen per broker.

use std::collections::HashMap;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};
use kafka_protocol::protocol::Decodable;

use super::error::WireError;

/// First FindCoordinator version with many coordinator keys per request.
pub(crate) const FIND_COORDINATOR_BATCHED: i16 = 4;
/// First OffsetFetch version with many groups per request.
pub(crate) const OFFSET_FETCH_BATCHED: i16 = 8;
/// The ApiVersions version asked first; brokers that do not know it answer in v0.
pub(crate) const API_VERSIONS: i16 = 3;

/// (API, lowest, highest) version this client speaks. Lowest bounds: OffsetFetch v2 is the first
/// with "all topics" (null), ListOffsets v2 the first with an isolation level.
const OURS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::Metadata, 1, 12),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::OffsetFetch, 2, 9),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::ListOffsets, 2, 10),
    (ApiKey::SaslHandshake, 1, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::Fetch, 4, 11),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ConsumerGroupDescribe, 0, 1),
    (ApiKey::ShareGroupDescribe, 1, 1),
    (ApiKey::DescribeShareGroupOffsets, 0, 1),
    (ApiKey::StreamsGroupDescribe, 0, 0),
];

/// What one broker advertised: API key → (min, max).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Versions(HashMap<i16, (i16, i16)>);

impl Versions {
    pub(crate) fn from_response(response: &ApiVersionsResponse) -> Self {
        Versions(response.api_keys.iter().map(|k| (k.api_key, (k.min_version, k.max_version))).collect())
    }

    /// Decodes an ApiVersions response body asked for at `asked`. A broker that does not speak
    /// `asked` answers UNSUPPORTED_VERSION in v0, still listing its ranges, which are used.
    pub(crate) fn decode(body: Bytes, asked: i16) -> Result<Self, WireError> {
        let mut peek = body.clone();
        let code = if peek.remaining() >= 2 { peek.get_i16() } else { 0 };
        let version = if code == kafka_protocol::ResponseError::UnsupportedVersion.code() { 0 } else { asked };
        let response = ApiVersionsResponse::decode(&mut body.clone(), version)
            .map_err(|e| WireError::Decode(format!("api versions: {e:#}")))?;
        if response.error_code != 0 && response.api_keys.is_empty() {
            return Err(WireError::broker(response.error_code));
        }
        Ok(Self::from_response(&response))
    }

    /// Highest version of `api` both sides speak.
    pub(crate) fn pick(&self, api: ApiKey) -> Result<i16, WireError> {
        let unsupported = || WireError::Unsupported { api: api_name(api) };
        let (_, our_min, our_max) = OURS.iter().find(|(k, _, _)| *k == api).ok_or_else(unsupported)?;
        let (their_min, their_max) = self.0.get(&(api as i16)).ok_or_else(unsupported)?;
        let version = (*our_max).min(*their_max);
        if version < (*our_min).max(*their_min) {
            return Err(unsupported());
        }
        Ok(version)
    }
}

/// The API's name as errors print it.
pub(crate) fn api_name(api: ApiKey) -> &'static str {
    match api {
        ApiKey::ApiVersions => "api versions",
        ApiKey::Metadata => "metadata",
        ApiKey::FindCoordinator => "find coordinator",
        ApiKey::OffsetFetch => "offset fetch",
        ApiKey::ListGroups => "list groups",
        ApiKey::ListOffsets => "list offsets",
        ApiKey::SaslHandshake => "sasl handshake",
        ApiKey::SaslAuthenticate => "sasl authenticate",
        ApiKey::Fetch => "fetch",
        ApiKey::DescribeGroups => "describe groups",
        ApiKey::ConsumerGroupDescribe => "consumer group describe",
        ApiKey::ShareGroupDescribe => "share group describe",
        ApiKey::DescribeShareGroupOffsets => "describe share group offsets",
        ApiKey::StreamsGroupDescribe => "streams group describe",
        _ => "an api lagring does not use",
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use kafka_protocol::protocol::Encodable;

    use super::*;

    fn advertised(ranges: &[(ApiKey, i16, i16)]) -> ApiVersionsResponse {
        let keys = ranges
            .iter()
            .map(|(k, min, max)| {
                ApiVersion::default().with_api_key(*k as i16).with_min_version(*min).with_max_version(*max)
            })
            .collect();
        ApiVersionsResponse::default().with_api_keys(keys)
    }

    #[test]
    fn picks_the_highest_common_version() {
        let v = Versions::from_response(&advertised(&[
            (ApiKey::OffsetFetch, 0, 10),
            (ApiKey::FindCoordinator, 0, 3),
            (ApiKey::ListOffsets, 0, 1),
        ]));
        assert_eq!(v.pick(ApiKey::OffsetFetch), Ok(9));
        assert_eq!(v.pick(ApiKey::FindCoordinator), Ok(3));
        assert_eq!(v.pick(ApiKey::ListOffsets), Err(WireError::Unsupported { api: "list offsets" }));
        assert_eq!(v.pick(ApiKey::Metadata), Err(WireError::Unsupported { api: "metadata" }));
    }

    #[test]
    fn a_v0_unsupported_version_answer_still_gives_the_ranges() {
        let mut response = advertised(&[(ApiKey::Metadata, 0, 9)]);
        response.error_code = kafka_protocol::ResponseError::UnsupportedVersion.code();
        let mut body = BytesMut::new();
        response.encode(&mut body, 0).unwrap();
        let v = Versions::decode(body.freeze(), 3).unwrap();
        assert_eq!(v.pick(ApiKey::Metadata), Ok(9));
        assert!(matches!(Versions::decode(Bytes::from_static(&[0, 0, 0x7f]), 3), Err(WireError::Decode(_))));
    }
}
