//! How lagring connects to one Kafka cluster, and the pure mapping of those
//! settings to librdkafka properties.
//!
//! The mapping is a pure function so every combination (SASL mechanism, TLS
//! on/off, verification off, isolation) is unit-tested without a broker.
//! `extra_properties` are applied last so an operator can override anything
//! this mapping chose.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Connection settings of one cluster.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaConnection {
    /// Comma-separated `host:port` list.
    pub bootstrap_servers: String,
    pub sasl: Option<Sasl>,
    pub tls: Option<Tls>,
    /// Which log-end offset counts as "end": high watermark
    /// (`ReadUncommitted`) or last stable offset (`ReadCommitted`).
    pub isolation: Isolation,
    /// Bound of one admin request (also the base of the outer timeouts).
    pub request_timeout: Duration,
    /// librdkafka properties applied after (and overriding) the mapped ones.
    pub extra_properties: BTreeMap<String, String>,
}

/// Extra properties may carry secrets (`sasl.oauthbearer.config`,
/// `ssl.key.password`): only their names are printed.
impl fmt::Debug for KafkaConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaConnection")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("sasl", &self.sasl)
            .field("tls", &self.tls)
            .field("isolation", &self.isolation)
            .field("request_timeout", &self.request_timeout)
            .field("extra_properties", &self.extra_properties.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KafkaConnection {
    /// Plaintext, read-uncommitted, 30 s request timeout.
    pub fn plaintext(bootstrap_servers: impl Into<String>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into(),
            sasl: None,
            tls: None,
            isolation: Isolation::default(),
            request_timeout: Duration::from_secs(30),
            extra_properties: BTreeMap::new(),
        }
    }
}

/// SASL credentials: `username` and `password` for PLAIN and SCRAM, `oauthbearer` for
/// OAUTHBEARER, `msk_iam` for AWS_MSK_IAM, `gssapi` for GSSAPI (where `username` only names the
/// login in errors).
#[derive(Clone, PartialEq, Eq)]
pub struct Sasl {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: String,
    /// Where OAUTHBEARER tokens come from; required with [`SaslMechanism::OAuthBearer`].
    pub oauthbearer: Option<OAuthBearer>,
    /// Region and credentials of AWS_MSK_IAM; required with [`SaslMechanism::AwsMskIam`].
    pub msk_iam: Option<crate::aws::MskIam>,
    /// Kerberos settings of GSSAPI (librdkafka client only).
    pub gssapi: Option<Gssapi>,
}

impl Sasl {
    /// OAUTHBEARER with tokens from `source`.
    pub fn oauthbearer(source: OAuthBearer) -> Self {
        let username = match &source {
            OAuthBearer::Oidc(oidc) => oidc.client_id.clone(),
            OAuthBearer::TokenFile(path) => path.display().to_string(),
        };
        Sasl {
            mechanism: SaslMechanism::OAuthBearer,
            username,
            password: String::new(),
            oauthbearer: Some(source),
            msk_iam: None,
            gssapi: None,
        }
    }

    /// AWS_MSK_IAM with `settings`; errors name the credentials' source.
    pub fn msk_iam(settings: crate::aws::MskIam) -> Self {
        let username = match &settings.credentials {
            crate::aws::AwsCredentialSource::Static(keys) => keys.access_key_id.clone(),
            crate::aws::AwsCredentialSource::WebIdentity(w) => w.role_arn.clone(),
            crate::aws::AwsCredentialSource::Container(c) => c.uri.clone(),
            crate::aws::AwsCredentialSource::InstanceProfile { .. } => "instance profile".to_owned(),
        };
        Sasl {
            mechanism: SaslMechanism::AwsMskIam,
            username,
            password: String::new(),
            oauthbearer: None,
            msk_iam: Some(settings),
            gssapi: None,
        }
    }

    /// Plain username and password (PLAIN, SCRAM).
    pub fn password(mechanism: SaslMechanism, username: impl Into<String>, password: impl Into<String>) -> Self {
        Sasl {
            mechanism,
            username: username.into(),
            password: password.into(),
            oauthbearer: None,
            msk_iam: None,
            gssapi: None,
        }
    }
}

/// Kerberos (GSSAPI) settings, mapped to librdkafka's `sasl.kerberos.*` properties. The keytab
/// is a path (its keys are never read here); the kinit command may embed a password, so `Debug`
/// shows only whether it is set.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Gssapi {
    /// The brokers' Kerberos service name (`sasl.kerberos.service.name`, default `kafka`).
    pub service_name: Option<String>,
    /// lagring's principal (`sasl.kerberos.principal`).
    pub principal: Option<String>,
    /// The keytab of the principal (`sasl.kerberos.keytab`).
    pub keytab: Option<PathBuf>,
    /// Command that refreshes the ticket (`sasl.kerberos.kinit.cmd`); librdkafka's default runs kinit.
    pub kinit_cmd: Option<String>,
}

impl fmt::Debug for Gssapi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gssapi")
            .field("service_name", &self.service_name)
            .field("principal", &self.principal)
            .field("keytab", &self.keytab)
            .field("kinit_cmd", &self.kinit_cmd.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl fmt::Debug for Sasl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sasl")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("oauthbearer", &self.oauthbearer)
            .field("msk_iam", &self.msk_iam)
            .field("gssapi", &self.gssapi)
            .finish()
    }
}

/// Where OAUTHBEARER tokens come from (KIP-255, KIP-768).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OAuthBearer {
    /// OIDC client-credentials grant against a token endpoint.
    Oidc(OidcClientCredentials),
    /// A token minted elsewhere, read from this file and re-read when it changes.
    TokenFile(PathBuf),
}

/// The OAuth 2.0 client-credentials grant (RFC 6749 §4.4) of an OIDC provider.
#[derive(Clone, PartialEq, Eq)]
pub struct OidcClientCredentials {
    pub token_endpoint_url: String,
    pub client_id: String,
    pub client_secret: ClientSecret,
    pub scope: Option<String>,
    pub audience: Option<String>,
    /// More form parameters of the token request.
    pub extra_params: BTreeMap<String, String>,
}

impl fmt::Debug for OidcClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcClientCredentials")
            .field("token_endpoint_url", &self.token_endpoint_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("scope", &self.scope)
            .field("audience", &self.audience)
            .field("extra_params", &self.extra_params.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Where the client secret is read, at each token request so a rotated secret is picked up.
/// `{:?}` names the source, never the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientSecret {
    File(PathBuf),
    Env(String),
}

impl ClientSecret {
    /// The secret, trimmed of surrounding whitespace; an error names the file or variable.
    pub fn read(&self) -> Result<String, String> {
        let value = match self {
            ClientSecret::File(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read client secret file {}: {e}", path.display()))?,
            ClientSecret::Env(name) => {
                std::env::var(name).map_err(|e| format!("client secret variable {name}: {e}"))?
            }
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(format!("client secret from {self:?} is empty"));
        }
        Ok(value.to_owned())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
    OAuthBearer,
    /// Amazon MSK's IAM login (native client only).
    AwsMskIam,
    /// Kerberos (librdkafka client only, built with its GSSAPI support).
    Gssapi,
}

impl SaslMechanism {
    /// librdkafka's `sasl.mechanisms` value.
    pub fn as_librdkafka(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::OAuthBearer => "OAUTHBEARER",
            SaslMechanism::AwsMskIam => "AWS_MSK_IAM",
            SaslMechanism::Gssapi => "GSSAPI",
        }
    }
}

/// TLS settings. Verification is on by default.
#[derive(Clone, PartialEq, Eq)]
pub struct Tls {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub key_password: Option<String>,
    /// Verify the broker certificate and host name.
    pub verify: bool,
}

impl Default for Tls {
    fn default() -> Self {
        Self { ca_file: None, cert_file: None, key_file: None, key_password: None, verify: true }
    }
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("ca_file", &self.ca_file)
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("key_password", &self.key_password.as_ref().map(|_| "<redacted>"))
            .field("verify", &self.verify)
            .finish()
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Isolation {
    #[default]
    ReadUncommitted,
    ReadCommitted,
}

impl Isolation {
    /// librdkafka's `isolation.level` value.
    pub fn as_librdkafka(self) -> &'static str {
        match self {
            Isolation::ReadUncommitted => "read_uncommitted",
            Isolation::ReadCommitted => "read_committed",
        }
    }
}

/// Which client speaks to the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    /// librdkafka admin calls: one FindCoordinator and one OffsetFetch per group.
    Librdkafka,
    /// The native Kafka protocol client: batched coordinator lookups and
    /// offset fetches; plaintext only for now.
    Native(NativeOptions),
}

/// Default of [`NativeOptions::max_response_frame_bytes`]: Kafka's own default
/// `socket.request.max.bytes`, 100 MiB.
pub const DEFAULT_MAX_RESPONSE_FRAME_BYTES: usize = 100 * 1024 * 1024;
/// Lowest [`NativeOptions::max_response_frame_bytes`] honoured: below it ordinary answers
/// (Metadata of a few hundred topics) would no longer fit.
pub const MIN_MAX_RESPONSE_FRAME_BYTES: usize = 64 * 1024;

/// Batch sizes and limits of the native client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NativeOptions {
    /// Groups per OffsetFetch v8+ request (KIP-709). Default 500: one request
    /// per coordinator up to 500 groups, a response of some 150 kB at 10
    /// partitions per group.
    pub groups_per_offset_fetch: usize,
    /// Coordinator keys per FindCoordinator v4+ request (KIP-699). Default
    /// 1,000 (a response of some 40 kB).
    pub groups_per_find_coordinator: usize,
    /// Largest response frame accepted from a broker, in bytes. A longer length prefix is an
    /// error naming the broker and the size, and that connection is closed; the frame buffer
    /// grows as bytes arrive, so a broker that announces a large frame and sends little costs
    /// little. Default [`DEFAULT_MAX_RESPONSE_FRAME_BYTES`] (100 MiB); at least
    /// [`MIN_MAX_RESPONSE_FRAME_BYTES`] (64 KiB).
    pub max_response_frame_bytes: usize,
}

impl Default for NativeOptions {
    fn default() -> Self {
        Self {
            groups_per_offset_fetch: 500,
            groups_per_find_coordinator: 1_000,
            max_response_frame_bytes: DEFAULT_MAX_RESPONSE_FRAME_BYTES,
        }
    }
}

impl NativeOptions {
    /// The same options with every batch size at least one and the frame limit at least
    /// [`MIN_MAX_RESPONSE_FRAME_BYTES`].
    pub(crate) fn normalised(self) -> Self {
        Self {
            groups_per_offset_fetch: self.groups_per_offset_fetch.max(1),
            groups_per_find_coordinator: self.groups_per_find_coordinator.max(1),
            max_response_frame_bytes: self.max_response_frame_bytes.max(MIN_MAX_RESPONSE_FRAME_BYTES),
        }
    }
}

/// The librdkafka properties for `conn`; `extra_properties` win over mapped
/// ones.
pub fn client_properties(conn: &KafkaConnection) -> BTreeMap<String, String> {
    let mut props = BTreeMap::new();
    let mut set = |k: &str, v: &str| {
        props.insert(k.to_owned(), v.to_owned());
    };
    set("bootstrap.servers", &conn.bootstrap_servers);
    set("client.id", "lagring");
    set("isolation.level", conn.isolation.as_librdkafka());
    // Broker requests fail before the admin operation that sent them times
    // out, so an iteration learns why a broker failed instead of only that
    // the operation timed out. (This was also a workaround for librdkafka
    // #4605, a use-after-free when a timed-out admin operation's coordinator
    // comes back; the vendored librdkafka in crates/vendor/rdkafka-sys fixes
    // that itself.) Admin operations use `request_timeout`, so sockets time
    // out at half.
    set("socket.timeout.ms", &socket_timeout_ms(conn.request_timeout).to_string());
    let protocol = match (&conn.sasl, &conn.tls) {
        (None, None) => "plaintext",
        (None, Some(_)) => "ssl",
        (Some(_), None) => "sasl_plaintext",
        (Some(_), Some(_)) => "sasl_ssl",
    };
    set("security.protocol", protocol);
    if let Some(sasl) = &conn.sasl {
        set("sasl.mechanisms", sasl.mechanism.as_librdkafka());
        match (&sasl.oauthbearer, &sasl.gssapi) {
            // OAUTHBEARER needs no property: lagring fetches (or reads) each token with its own
            // token source, the native client's, and hands it to librdkafka
            // (`rd_kafka_oauthbearer_set_token`), because librdkafka's built-in OIDC login
            // (`sasl.oauthbearer.method=oidc`, 2.12) cannot send `audience` or extra form
            // parameters, has no token file, and would hold the client secret in a property.
            (Some(_), _) => {}
            (None, Some(gssapi)) => gssapi_properties(gssapi, &mut set),
            (None, None) => {
                set("sasl.username", &sasl.username);
                set("sasl.password", &sasl.password);
            }
        }
    }
    if let Some(tls) = &conn.tls {
        let path = |p: &PathBuf| p.to_string_lossy().into_owned();
        if let Some(ca) = &tls.ca_file {
            set("ssl.ca.location", &path(ca));
        }
        if let Some(cert) = &tls.cert_file {
            set("ssl.certificate.location", &path(cert));
        }
        if let Some(key) = &tls.key_file {
            set("ssl.key.location", &path(key));
        }
        if let Some(pw) = &tls.key_password {
            set("ssl.key.password", pw);
        }
        set("enable.ssl.certificate.verification", if tls.verify { "true" } else { "false" });
        set("ssl.endpoint.identification.algorithm", if tls.verify { "https" } else { "none" });
    }
    for (k, v) in &conn.extra_properties {
        props.insert(k.clone(), v.clone());
    }
    props
}

/// Whether the linked librdkafka was built with Kerberos (its `builtin.features` list
/// `sasl_gssapi`, which needs Cyrus SASL, `libsasl2-dev`, at build time).
pub fn librdkafka_has_gssapi() -> bool {
    librdkafka_has_feature("sasl_gssapi")
}

/// Whether the linked librdkafka can log in with OAUTHBEARER tokens that lagring hands it (its
/// `builtin.features` list `sasl_oauthbearer`). Its own OIDC login (`oidc`, libcurl) is not
/// needed: lagring fetches the tokens itself, see `oauthbearer_properties`.
pub fn librdkafka_has_oauthbearer() -> bool {
    librdkafka_has_feature("sasl_oauthbearer")
}

fn librdkafka_has_feature(name: &str) -> bool {
    rdkafka::ClientConfig::new()
        .create_native_config()
        .and_then(|conf| conf.get("builtin.features"))
        .is_ok_and(|features| features.split(',').any(|f| f.trim() == name))
}

/// librdkafka's Kerberos properties; unset ones keep librdkafka's defaults.
fn gssapi_properties(gssapi: &Gssapi, set: &mut impl FnMut(&str, &str)) {
    set("sasl.kerberos.service.name", gssapi.service_name.as_deref().unwrap_or("kafka"));
    if let Some(principal) = &gssapi.principal {
        set("sasl.kerberos.principal", principal);
    }
    if let Some(keytab) = &gssapi.keytab {
        set("sasl.kerberos.keytab", &keytab.to_string_lossy());
    }
    if let Some(cmd) = &gssapi.kinit_cmd {
        set("sasl.kerberos.kinit.cmd", cmd);
    }
}

/// `socket.timeout.ms` for a given admin request timeout: half of it, within
/// librdkafka's bounds (10 ms – 300 s).
pub(crate) fn socket_timeout_ms(request_timeout: std::time::Duration) -> u64 {
    u64::try_from(request_timeout.as_millis() / 2).unwrap_or(u64::MAX).clamp(10, 300_000)
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
