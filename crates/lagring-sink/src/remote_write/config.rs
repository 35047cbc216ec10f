//! The `remote_write` section of the configuration.
//!
//! Serde does the parsing (unknown keys rejected, durations like `10s`);
//! [`RemoteWriteConfig::validate`] checks what serde cannot and names the key
//! path in every error, so a bad config fails at startup with a message that
//! says which line to fix.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::SinkError;

/// Prefix of every key path in error messages.
const SECTION: &str = "remote_write";

/// Headers the sender sets itself; configuring them would break the protocol.
const RESERVED_HEADERS: &[&str] =
    &["content-encoding", "content-type", "x-prometheus-remote-write-version", "content-length"];

/// A secret string that never appears in `Debug` output or logs.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value, for putting on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

/// HTTP basic authentication.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    pub password: Secret,
}

/// TLS settings; server certificate verification is on unless explicitly
/// disabled.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of CA certificates trusted in addition to the system roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain) for mutual TLS; needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// Where and how to send remote write requests.
///
/// `Debug` hides every credential: the passwords and tokens are [`Secret`]s,
/// header values (`Authorization`, API keys) are replaced and a
/// `user:password@` in the url is cut.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteConfig {
    /// Receiver endpoint, e.g. `http://prometheus:9090/api/v1/write`.
    pub url: String,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default)]
    pub bearer_token: Option<Secret>,
    /// Read before every request, so a rotated token is picked up.
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    #[serde(default)]
    pub tls: TlsConfig,
    /// Timeout of one HTTP request.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    #[serde(default = "default_max_samples_per_request")]
    pub max_samples_per_request: usize,
    /// Samples held while the receiver is slow or down; oldest dropped beyond.
    #[serde(default = "default_queue_max_samples")]
    pub queue_max_samples: usize,
    /// Estimated bytes held while the receiver is slow or down.
    #[serde(default = "default_queue_max_bytes")]
    pub queue_max_bytes: usize,
    #[serde(default = "default_min_backoff", with = "humantime_serde")]
    pub min_backoff: Duration,
    #[serde(default = "default_max_backoff", with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Retries of one request after a retryable failure; unset means retry
    /// until it succeeds (the queue bound still limits memory).
    #[serde(default)]
    pub max_retries: Option<u32>,
    /// How long retryable failures (5xx, 429, no connection) may last without
    /// one success before this node counts as undeliverable and a fleet moves
    /// its groups to peers that deliver. A receiver refusing the node (401,
    /// 403, 404, ...) makes it undeliverable at once.
    #[serde(default = "default_leave_after", with = "humantime_serde")]
    pub leave_after: Duration,
    /// While undeliverable with nothing it may send, an empty request is sent
    /// this often to find out when the receiver takes the node back.
    #[serde(default = "default_probe_interval", with = "humantime_serde")]
    pub probe_interval: Duration,
}

impl fmt::Debug for RemoteWriteConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured so a new field cannot be left out (or printed) unseen.
        let Self {
            url,
            headers,
            basic_auth,
            bearer_token,
            bearer_token_file,
            tls,
            timeout,
            max_samples_per_request,
            queue_max_samples,
            queue_max_bytes,
            min_backoff,
            max_backoff,
            max_retries,
            leave_after,
            probe_interval,
        } = self;
        let header_names: BTreeMap<&str, Secret> =
            headers.keys().map(|name| (name.as_str(), Secret::new(String::new()))).collect();
        f.debug_struct("RemoteWriteConfig")
            .field("url", &redact_userinfo(url))
            .field("headers", &header_names)
            .field("basic_auth", basic_auth)
            .field("bearer_token", bearer_token)
            .field("bearer_token_file", bearer_token_file)
            .field("tls", tls)
            .field("timeout", timeout)
            .field("max_samples_per_request", max_samples_per_request)
            .field("queue_max_samples", queue_max_samples)
            .field("queue_max_bytes", queue_max_bytes)
            .field("min_backoff", min_backoff)
            .field("max_backoff", max_backoff)
            .field("max_retries", max_retries)
            .field("leave_after", leave_after)
            .field("probe_interval", probe_interval)
            .finish()
    }
}

/// `url` with a `user:password@` part replaced, for `Debug` and logs.
fn redact_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest.get(..authority_end).and_then(|authority| authority.rfind('@')) {
        Some(at) => format!("{scheme}://<redacted>@{}", rest.get(at + 1..).unwrap_or_default()),
        None => url.to_owned(),
    }
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_max_samples_per_request() -> usize {
    2000
}
fn default_queue_max_samples() -> usize {
    500_000
}
fn default_queue_max_bytes() -> usize {
    256 * 1024 * 1024
}
fn default_min_backoff() -> Duration {
    Duration::from_millis(100)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(5)
}
/// Two iterations at the default 30 s interval, like
/// `node.leave_cluster_after_failures: 2`: one slow minute of the receiver
/// does not move groups, a dead one does.
fn default_leave_after() -> Duration {
    Duration::from_secs(60)
}
fn default_probe_interval() -> Duration {
    Duration::from_secs(5)
}

impl RemoteWriteConfig {
    /// A config for `url` with every other setting at its default.
    pub fn for_url(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            headers: BTreeMap::new(),
            basic_auth: None,
            bearer_token: None,
            bearer_token_file: None,
            tls: TlsConfig::default(),
            timeout: default_timeout(),
            max_samples_per_request: default_max_samples_per_request(),
            queue_max_samples: default_queue_max_samples(),
            queue_max_bytes: default_queue_max_bytes(),
            min_backoff: default_min_backoff(),
            max_backoff: default_max_backoff(),
            max_retries: None,
            leave_after: default_leave_after(),
            probe_interval: default_probe_interval(),
        }
    }

    /// Checks what deserialization cannot; the first problem found is
    /// returned with its full key path (`remote_write.url: ...`).
    pub fn validate(&self) -> Result<(), SinkError> {
        let key = |k: &str| format!("{SECTION}.{k}");
        let url = reqwest::Url::parse(&self.url)
            .map_err(|e| SinkError::config(key("url"), format!("invalid url {:?}: {e}", self.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SinkError::config(key("url"), format!("scheme must be http or https, got {:?}", url.scheme())));
        }
        if self.bearer_token.is_some() && self.bearer_token_file.is_some() {
            return Err(SinkError::config(
                key("bearer_token"),
                "set either bearer_token or bearer_token_file, not both",
            ));
        }
        if self.basic_auth.is_some() && (self.bearer_token.is_some() || self.bearer_token_file.is_some()) {
            return Err(SinkError::config(key("basic_auth"), "basic_auth and a bearer token are mutually exclusive"));
        }
        for (name, value) in &self.headers {
            let header_key = key(&format!("headers.{name}"));
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(SinkError::config(header_key, "invalid header name"));
            }
            if reqwest::header::HeaderValue::from_str(value).is_err() {
                return Err(SinkError::config(header_key, "invalid header value"));
            }
            let lower = name.to_ascii_lowercase();
            if RESERVED_HEADERS.contains(&lower.as_str()) {
                return Err(SinkError::config(header_key, "header is set by the remote write protocol"));
            }
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            return Err(SinkError::config(key("tls"), "cert_file and key_file must be set together"));
        }
        self.validate_numbers()
    }

    /// A warning when credentials (basic auth, a bearer token, an
    /// `Authorization` header) go to an `http://` url, i.e. in clear text.
    pub fn plaintext_credentials(&self) -> Option<String> {
        let plaintext = self.url.get(..7).is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"));
        let key = if self.basic_auth.is_some() {
            "basic_auth"
        } else if self.bearer_token.is_some() {
            "bearer_token"
        } else if self.bearer_token_file.is_some() {
            "bearer_token_file"
        } else if self.headers.keys().any(|name| name.eq_ignore_ascii_case("authorization")) {
            "headers.Authorization"
        } else {
            return None;
        };
        plaintext.then(|| format!("{SECTION}.{key}: credentials sent in clear text to an http:// url (use https://)"))
    }

    fn validate_numbers(&self) -> Result<(), SinkError> {
        let key = |k: &str| format!("{SECTION}.{k}");
        if self.timeout.is_zero() {
            return Err(SinkError::config(key("timeout"), "must be greater than zero"));
        }
        if self.max_samples_per_request == 0 {
            return Err(SinkError::config(key("max_samples_per_request"), "must be greater than zero"));
        }
        if self.queue_max_samples < self.max_samples_per_request {
            return Err(SinkError::config(
                key("queue_max_samples"),
                format!("must be at least max_samples_per_request ({})", self.max_samples_per_request),
            ));
        }
        if self.queue_max_bytes == 0 {
            return Err(SinkError::config(key("queue_max_bytes"), "must be greater than zero"));
        }
        if self.min_backoff.is_zero() {
            return Err(SinkError::config(key("min_backoff"), "must be greater than zero"));
        }
        if self.max_backoff < self.min_backoff {
            return Err(SinkError::config(key("max_backoff"), "must not be less than min_backoff"));
        }
        if self.leave_after.is_zero() {
            return Err(SinkError::config(key("leave_after"), "must be greater than zero"));
        }
        if self.probe_interval.is_zero() {
            return Err(SinkError::config(key("probe_interval"), "must be greater than zero"));
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
