//! The broker's side of Amazon MSK's `AWS_MSK_IAM` SASL mechanism: the client's JSON message
//! carries the fields of a SigV4 presigned `GET https://<host>/?Action=kafka-cluster:Connect`;
//! the signature is recomputed with `aws-sigv4` from the scenario's known secret key of the
//! access key id, at the message's own `x-amz-date`, and compared. Before that the message is
//! checked as MSK does: the version and action, the credential scope's region and service, and
//! the signing time (not expired after `x-amz-expires`, not more than [`MAX_SKEW`] ahead).
//!
//! A refusal's reason names the fault (wrong region, stale signature, signature mismatch,
//! unknown key) but never the expected signature or a key.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

use crate::scenario::security::ServerMskIamConfig;

/// Longest client message accepted; a message with a session token is about two kilobytes.
const MAX_MESSAGE: usize = 16 * 1024;
/// How far ahead of the broker's clock a signing time may be.
const MAX_SKEW: Duration = Duration::from_secs(300);
/// Longest signature validity SigV4 allows (7 days).
const MAX_EXPIRES: u64 = 604_800;
const SERVICE: &str = "kafka-cluster";
const ACTION: &str = "kafka-cluster:Connect";

/// Verifies AWS_MSK_IAM logins.
pub(crate) struct IamVerifier {
    region: String,
    /// access key id → secret access key.
    keys: BTreeMap<String, String>,
}

impl std::fmt::Debug for IamVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IamVerifier").field("region", &self.region).finish_non_exhaustive()
    }
}

impl IamVerifier {
    pub(crate) fn new(config: &ServerMskIamConfig) -> Self {
        IamVerifier { region: config.region.clone(), keys: config.credentials.clone() }
    }

    /// Checks the client's message at the broker's time `now`; the answer to send, or why the
    /// login is refused.
    pub(crate) fn verify(&self, message: &[u8], now: SystemTime) -> Result<Vec<u8>, String> {
        if message.len() > MAX_MESSAGE {
            return Err(format!("message longer than {MAX_MESSAGE} bytes"));
        }
        let fields: BTreeMap<String, String> =
            serde_json::from_slice(message).map_err(|e| format!("malformed AWS_MSK_IAM message: {e}"))?;
        let field = |name: &str| fields.get(name).map(String::as_str).ok_or(format!("missing field {name}"));
        if field("version")? != "2020_10_22" {
            return Err(format!("unsupported version {:?}", field("version")?));
        }
        if field("action")? != ACTION {
            return Err(format!("unsupported action {:?}", field("action")?));
        }
        if field("x-amz-algorithm")? != "AWS4-HMAC-SHA256" || field("x-amz-signedheaders")? != "host" {
            return Err("unsupported algorithm or signed headers".to_owned());
        }
        let scope: Vec<&str> = field("x-amz-credential")?.split('/').collect();
        let [key_id, day, region, service, "aws4_request"] = scope.as_slice() else {
            return Err("malformed x-amz-credential".to_owned());
        };
        if *service != SERVICE {
            return Err(format!("credential scope is for service {service:?}, not {SERVICE}"));
        }
        if *region != self.region {
            return Err(format!("credential scope is for region {region:?}, the cluster is in {:?}", self.region));
        }
        let signed_text = field("x-amz-date")?;
        let signed_at = parse_amz_date(signed_text).ok_or(format!("malformed x-amz-date {signed_text:?}"))?;
        if !signed_text.starts_with(day) {
            return Err("credential scope date differs from x-amz-date".to_owned());
        }
        let expires: u64 = field("x-amz-expires")?.parse().map_err(|_| "malformed x-amz-expires".to_owned())?;
        if expires == 0 || expires > MAX_EXPIRES {
            return Err(format!("x-amz-expires {expires} out of range"));
        }
        if now > signed_at + Duration::from_secs(expires) {
            return Err(format!("signature expired: signed at {signed_text}, valid for {expires} s"));
        }
        if signed_at > now + MAX_SKEW {
            return Err(format!("signature is from the future: signed at {signed_text}"));
        }
        let secret = self.keys.get(*key_id).ok_or(format!("unknown access key id {key_id}"))?;
        let token = fields.get("x-amz-security-token").cloned();
        let expected = signature(key_id, secret, token, region, field("host")?, signed_at, expires)?;
        if expected != field("x-amz-signature")? {
            return Err(format!("signature mismatch for access key id {key_id}"));
        }
        let answer = serde_json::json!({ "version": "2020_10_22", "request-id": format!("sim-{}", rand_id()) });
        Ok(answer.to_string().into_bytes())
    }
}

/// The SigV4 signature a client with these keys computes for the login at `at`.
fn signature(
    key_id: &str,
    secret: &str,
    token: Option<String>,
    region: &str,
    host: &str,
    at: SystemTime,
    expires: u64,
) -> Result<String, String> {
    let identity: Identity = Credentials::new(key_id, secret, token, None, "lagring-sim").into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(expires));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(at)
        .settings(settings)
        .build()
        .map_err(|e| format!("cannot recompute the signature: {e}"))?
        .into();
    let uri = format!("https://{host}/?Action={}", ACTION.replace(':', "%3A"));
    let request = SignableRequest::new("GET", uri, std::iter::empty(), SignableBody::Bytes(&[]))
        .map_err(|e| format!("malformed host {host:?}: {e}"))?;
    let (instructions, _) =
        sign(request, &params).map_err(|e| format!("cannot recompute the signature: {e}"))?.into_parts();
    instructions
        .params()
        .iter()
        .find(|(name, _)| *name == "X-Amz-Signature")
        .map(|(_, value)| value.to_string())
        .ok_or_else(|| "cannot recompute the signature".to_owned())
}

/// `20261206T120000Z` as a time.
fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() != 16 || b.get(8) != Some(&b'T') || b.get(15) != Some(&b'Z') {
        return None;
    }
    let part = |range: std::ops::Range<usize>| text.get(range);
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        part(0..4)?,
        part(4..6)?,
        part(6..8)?,
        part(9..11)?,
        part(11..13)?,
        part(13..15)?
    );
    DateTime::from_str(&iso, Format::DateTime).ok().and_then(|t| SystemTime::try_from(t).ok())
}

fn rand_id() -> String {
    use rand::Rng as _;
    rand::rng().sample_iter(rand::distr::Alphanumeric).take(16).map(char::from).collect()
}

#[cfg(test)]
#[path = "msk_iam_tests.rs"]
mod tests;
