//! ApiVersions: advertise exactly the implemented APIs (with run-time caps applied). A request newer than we support gets the
//! v0-encoded UNSUPPORTED_VERSION answer with our ranges, which is how clients downgrade.

use bytes::BytesMut;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiVersionsResponse;
use kafka_protocol::messages::api_versions_response::ApiVersion;

use super::{Ctx, frame};

const MAX_VERSION: i16 = 4;

pub fn respond(ctx: &Ctx, correlation_id: i32) -> BytesMut {
    let api_keys = ctx
        .supported()
        .map(|(key, min, max)| {
            ApiVersion::default().with_api_key(key as i16).with_min_version(min).with_max_version(max)
        })
        .collect();
    let (version, error) = if (0..=MAX_VERSION).contains(&ctx.version) {
        (ctx.version, ctx.injected.unwrap_or(0))
    } else {
        (0, ResponseError::UnsupportedVersion.code())
    };
    let response = ApiVersionsResponse::default().with_error_code(error).with_api_keys(api_keys);
    frame(correlation_id, version, &response).unwrap_or_else(|error| {
        tracing::warn!(%error, "cannot encode api versions response");
        super::unsupported::bare(correlation_id)
    })
}
