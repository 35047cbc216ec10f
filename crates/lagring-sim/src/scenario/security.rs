//! How the simulated brokers' listeners are secured: TLS (server certificate, optionally
//! requiring client certificates signed by a CA) and SASL (mechanisms and users). Absent means
//! plaintext without authentication, as before.
//!
//! AWS_MSK_IAM verifies SigV4 signatures with known access keys and the cluster's region.
//! OAUTHBEARER verifies HS256 JWTs with a shared test key (signature, expiry, audience), so a
//! test's token endpoint and the simulated brokers agree without a JWKS endpoint. A session
//! GSSAPI accepts Kerberos tickets for the process's default keytab from the principals listed.
//! A session
//! lifetime (Kafka's `connections.max.reauth.ms`, KIP-368) makes the brokers state it in
//! SaslAuthenticate and close connections whose session ended.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `security:` of a scenario.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    #[serde(default)]
    pub tls: Option<ServerTlsConfig>,
    #[serde(default)]
    pub sasl: Option<ServerSaslConfig>,
}

/// PEM files of the listeners' TLS.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// When set, clients must present a certificate signed by this CA (mTLS).
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

/// SASL: which mechanisms are enabled and the users (name → password) of every mechanism.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSaslConfig {
    /// Any of `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`, `OAUTHBEARER`, `AWS_MSK_IAM`, `GSSAPI`.
    pub mechanisms: Vec<String>,
    #[serde(default)]
    pub users: std::collections::BTreeMap<String, String>,
    /// How OAUTHBEARER tokens are verified; required when `mechanisms` has `OAUTHBEARER`.
    #[serde(default)]
    pub oauthbearer: Option<ServerOAuthConfig>,
    /// How AWS_MSK_IAM signatures are verified; required when `mechanisms` has `AWS_MSK_IAM`.
    #[serde(default)]
    pub aws_msk_iam: Option<ServerMskIamConfig>,
    /// Who may log in with GSSAPI; required when `mechanisms` has `GSSAPI`.
    #[serde(default)]
    pub gssapi: Option<ServerGssapiConfig>,
    /// The longest SASL session (`connections.max.reauth.ms`); an OAUTHBEARER session ends at
    /// its token's expiry if that is sooner. Absent: sessions never end.
    #[serde(default, with = "humantime_serde")]
    pub session_lifetime: Option<Duration>,
}

/// OAUTHBEARER token verification of the simulated brokers.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerOAuthConfig {
    /// The HS256 key tokens are signed with.
    pub hs256_key: String,
    /// The `aud` a token must carry, when set.
    #[serde(default)]
    pub audience: Option<String>,
}

/// GSSAPI (Kerberos) logins of the simulated brokers. The service key comes from the process's
/// default keytab (`KRB5_KTNAME`, or `default_keytab_name` of the `krb5.conf` in `KRB5_CONFIG`),
/// whose principal clients name as `<service>/<broker host>`, e.g. `kafka/127.0.0.1@REALM`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerGssapiConfig {
    /// Client principals allowed to log in (`name/instance@REALM`); others are refused.
    pub principals: Vec<String>,
}

/// AWS_MSK_IAM verification of the simulated brokers: the cluster's region and the known keys.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerMskIamConfig {
    pub region: String,
    /// Access key id → secret access key.
    pub credentials: std::collections::BTreeMap<String, String>,
}

impl std::fmt::Debug for ServerMskIamConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerMskIamConfig")
            .field("region", &self.region)
            .field("access_key_ids", &self.credentials.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl std::fmt::Debug for ServerOAuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerOAuthConfig").field("audience", &self.audience).finish_non_exhaustive()
    }
}

/// Mechanisms the simulator implements.
pub const MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "AWS_MSK_IAM", "GSSAPI"];

impl SecurityConfig {
    /// Problems, each naming its key path.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(sasl) = &self.sasl {
            if sasl.mechanisms.is_empty() {
                problems.push("security.sasl.mechanisms: at least one mechanism expected".to_owned());
            }
            for m in &sasl.mechanisms {
                if !MECHANISMS.contains(&m.as_str()) {
                    problems.push(format!("security.sasl.mechanisms: {m:?} is not one of {MECHANISMS:?}"));
                }
            }
            if sasl.mechanisms.iter().any(|m| m == "OAUTHBEARER") && sasl.oauthbearer.is_none() {
                problems.push("security.sasl.oauthbearer: required with the OAUTHBEARER mechanism".to_owned());
            }
            if sasl.mechanisms.iter().any(|m| m == "GSSAPI") && sasl.gssapi.is_none() {
                problems.push("security.sasl.gssapi: required with the GSSAPI mechanism".to_owned());
            }
            if sasl.mechanisms.iter().any(|m| m == "AWS_MSK_IAM") && sasl.aws_msk_iam.is_none() {
                problems.push("security.sasl.aws_msk_iam: required with the AWS_MSK_IAM mechanism".to_owned());
            }
        }
        problems
    }
}
