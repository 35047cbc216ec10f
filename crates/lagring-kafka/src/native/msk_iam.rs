//! The client message of Amazon MSK's `AWS_MSK_IAM` SASL mechanism: one JSON object carrying a
//! SigV4 query-string signature (a presigned `GET https://<broker host>/?Action=kafka-cluster:Connect`
//! for the service `kafka-cluster`), as the aws-msk-iam-auth library sends it. The broker
//! recomputes the signature from the fields and answers with a small JSON object (or a refusal).
//!
//! The signature is `aws-sigv4`'s; only the field layout is written here: the query parameters
//! it returns, lower-cased, next to `version`, `host`, `user-agent` and `action`.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use crate::aws::AwsKeys;

/// The signing name of MSK's IAM access control.
const SERVICE: &str = "kafka-cluster";
const ACTION: &str = "kafka-cluster:Connect";
/// The payload format version aws-msk-iam-auth sends.
const VERSION: &str = "2020_10_22";
/// How long a signature is valid (`x-amz-expires`), as aws-msk-iam-auth signs.
const EXPIRES: Duration = Duration::from_secs(900);

/// The signed login payload for the broker `host` (its name, without port), signed at `at`.
pub(crate) fn payload(
    keys: &AwsKeys,
    region: &str,
    host: &str,
    user_agent: &str,
    at: SystemTime,
) -> Result<Vec<u8>, String> {
    let identity: Identity = Credentials::new(
        keys.access_key_id.clone(),
        keys.secret_access_key.clone(),
        keys.session_token.clone(),
        None,
        "lagring",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(EXPIRES);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(at)
        .settings(settings)
        .build()
        .map_err(|e| format!("cannot sign the login: {e}"))?
        .into();
    let uri = format!("https://{host}/?Action={}", ACTION.replace(':', "%3A"));
    let request = SignableRequest::new("GET", uri, std::iter::empty(), SignableBody::Bytes(&[]))
        .map_err(|e| format!("cannot sign the login for host {host:?}: {e}"))?;
    let (instructions, _) = sign(request, &params).map_err(|e| format!("cannot sign the login: {e}"))?.into_parts();
    let mut fields = serde_json::Map::new();
    for (key, value) in [("version", VERSION), ("host", host), ("user-agent", user_agent), ("action", ACTION)] {
        fields.insert(key.to_owned(), value.into());
    }
    for (name, value) in instructions.params() {
        fields.insert(name.to_ascii_lowercase(), value.as_ref().into());
    }
    serde_json::to_vec(&fields).map_err(|e| format!("cannot encode the login: {e}"))
}

/// The host part of a broker address `host:port` (`[v6]:port` too).
pub(crate) fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::UNIX_EPOCH;

    use super::*;

    #[test]
    fn the_payload_has_every_field_of_a_presigned_connect() {
        let keys = AwsKeys {
            access_key_id: "AKIDEXAMPLE".to_owned(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned(),
            session_token: Some("session/token=".to_owned()),
        };
        // 2026-12-06T12:00:00Z
        let at = UNIX_EPOCH + Duration::from_secs(1_796_558_400);
        let bytes = payload(&keys, "eu-west-1", "b-1.example.kafka.eu-west-1.amazonaws.com", "lagring/1", at).unwrap();
        let fields: BTreeMap<String, String> = serde_json::from_slice(&bytes).unwrap();
        let keys_of: Vec<&str> = fields.keys().map(String::as_str).collect();
        assert_eq!(
            keys_of,
            [
                "action",
                "host",
                "user-agent",
                "version",
                "x-amz-algorithm",
                "x-amz-credential",
                "x-amz-date",
                "x-amz-expires",
                "x-amz-security-token",
                "x-amz-signature",
                "x-amz-signedheaders"
            ]
        );
        assert_eq!(fields["version"], "2020_10_22");
        assert_eq!(fields["action"], "kafka-cluster:Connect");
        assert_eq!(fields["x-amz-algorithm"], "AWS4-HMAC-SHA256");
        assert_eq!(fields["x-amz-credential"], "AKIDEXAMPLE/20261206/eu-west-1/kafka-cluster/aws4_request");
        assert_eq!(fields["x-amz-date"], "20261206T120000Z");
        assert_eq!(fields["x-amz-expires"], "900");
        assert_eq!(fields["x-amz-signedheaders"], "host");
        assert_eq!(fields["x-amz-security-token"], "session/token=");
        assert_eq!(fields["x-amz-signature"].len(), 64);
        // Deterministic: the same inputs sign the same; another secret does not.
        assert_eq!(
            payload(&keys, "eu-west-1", "b-1.example.kafka.eu-west-1.amazonaws.com", "lagring/1", at).unwrap(),
            bytes
        );
        let other = AwsKeys { secret_access_key: "other".to_owned(), ..keys };
        let signed: BTreeMap<String, String> = serde_json::from_slice(
            &payload(&other, "eu-west-1", "b-1.example.kafka.eu-west-1.amazonaws.com", "lagring/1", at).unwrap(),
        )
        .unwrap();
        assert_ne!(signed["x-amz-signature"], fields["x-amz-signature"]);
    }

    #[test]
    fn the_host_is_the_address_without_its_port() {
        assert_eq!(host_of("127.0.0.1:9092"), "127.0.0.1");
        assert_eq!(host_of("b-1.msk.amazonaws.com:9098"), "b-1.msk.amazonaws.com");
        assert_eq!(host_of("[::1]:9092"), "::1");
        assert_eq!(host_of("localhost"), "localhost");
    }
}
