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
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> RemoteWriteConfig {
        serde_norway::from_str(yaml).unwrap()
    }

    fn error_of(cfg: &RemoteWriteConfig) -> String {
        cfg.validate().unwrap_err().to_string()
    }

    #[test]
    fn defaults_apply() {
        let cfg = parse("url: http://p:9090/api/v1/write\n");
        assert_eq!(cfg, RemoteWriteConfig::for_url("http://p:9090/api/v1/write"));
        assert_eq!(cfg.timeout, Duration::from_secs(10));
        assert_eq!(cfg.max_samples_per_request, 2000);
        assert_eq!(cfg.queue_max_samples, 500_000);
        assert_eq!(cfg.queue_max_bytes, 268_435_456);
        assert_eq!((cfg.min_backoff, cfg.max_backoff), (Duration::from_millis(100), Duration::from_secs(5)));
        assert!(!cfg.tls.insecure_skip_verify);
        cfg.validate().unwrap();
    }

    #[test]
    fn full_config_parses() {
        let cfg = parse(
            "url: https://p/api/v1/write\nheaders: {X-Scope-OrgID: t1}\nbearer_token_file: /run/token\n\
             tls: {ca_file: /ca.pem, cert_file: /c.pem, key_file: /k.pem}\ntimeout: 3s\n\
             min_backoff: 50ms\nmax_backoff: 1m\nmax_retries: 7\n",
        );
        assert_eq!(cfg.timeout, Duration::from_secs(3));
        assert_eq!(cfg.max_backoff, Duration::from_secs(60));
        assert_eq!(cfg.max_retries, Some(7));
        assert_eq!(cfg.headers.get("X-Scope-OrgID").map(String::as_str), Some("t1"));
        cfg.validate().unwrap();
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = serde_norway::from_str::<RemoteWriteConfig>("url: http://p\nbatch: 3\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `batch`"), "{err}");
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let cfg = parse("url: http://p\nbasic_auth: {username: u, password: hunter2}\n");
        assert!(!format!("{cfg:?}").contains("hunter2"));
        assert_eq!(cfg.basic_auth.unwrap().password.expose(), "hunter2");
    }

    #[test]
    fn debug_shows_no_credential() {
        let cfg = parse(
            "url: https://urluser:MARK-url-pass@p/api/v1/write?x=1\n\
             headers: {Authorization: MARK-header-auth, X-Api-Key: MARK-header-key}\n\
             basic_auth: {username: u, password: MARK-basic}\n",
        );
        let debug = format!("{cfg:?}");
        assert!(!debug.contains("MARK"), "{debug}");
        assert!(debug.contains("https://<redacted>@p/api/v1/write?x=1") && debug.contains("X-Api-Key"), "{debug}");
        let cfg = parse("url: http://p\nbearer_token: MARK-bearer\n");
        assert!(!format!("{cfg:?}").contains("MARK"), "{cfg:?}");
        assert_eq!(redact_userinfo("http://p/a@b"), "http://p/a@b");
        assert_eq!(redact_userinfo("not a url"), "not a url");
    }

    #[test]
    fn credentials_over_http_are_warned_about() {
        let warning = |yaml: &str| parse(yaml).plaintext_credentials();
        assert_eq!(
            warning("url: http://p\nbasic_auth: {username: u, password: p}\n").as_deref(),
            Some("remote_write.basic_auth: credentials sent in clear text to an http:// url (use https://)")
        );
        assert!(warning("url: HTTP://p\nbearer_token: t\n").unwrap().starts_with("remote_write.bearer_token: "));
        assert!(
            warning("url: http://p\nbearer_token_file: /t\n").unwrap().starts_with("remote_write.bearer_token_file: ")
        );
        assert!(warning("url: http://p\nheaders: {authorization: x}\n").is_some());
        assert_eq!(warning("url: https://p\nbasic_auth: {username: u, password: p}\n"), None);
        assert_eq!(warning("url: http://p\nheaders: {X-Scope-OrgID: t}\n"), None);
    }

    #[test]
    fn basic_auth_and_bearer_token_together_is_an_error() {
        let cfg = parse("url: http://p\nbearer_token: t\nbasic_auth: {username: u, password: p}\n");
        assert_eq!(error_of(&cfg), "remote_write.basic_auth: basic_auth and a bearer token are mutually exclusive");
        let cfg = parse("url: http://p\nbearer_token: t\nbearer_token_file: /t\n");
        assert!(error_of(&cfg).starts_with("remote_write.bearer_token: "));
    }

    #[test]
    fn bad_url_names_the_key() {
        assert!(error_of(&RemoteWriteConfig::for_url("not a url")).starts_with("remote_write.url: invalid url"));
        assert_eq!(
            error_of(&RemoteWriteConfig::for_url("ftp://p/x")),
            "remote_write.url: scheme must be http or https, got \"ftp\""
        );
    }

    #[test]
    fn zero_batch_size_and_bad_bounds_are_errors() {
        let mut cfg = RemoteWriteConfig::for_url("http://p");
        cfg.max_samples_per_request = 0;
        assert_eq!(error_of(&cfg), "remote_write.max_samples_per_request: must be greater than zero");
        cfg.max_samples_per_request = 10;
        cfg.queue_max_samples = 5;
        assert!(error_of(&cfg).starts_with("remote_write.queue_max_samples: "));
        cfg.queue_max_samples = 10;
        cfg.max_backoff = Duration::from_millis(1);
        assert_eq!(error_of(&cfg), "remote_write.max_backoff: must not be less than min_backoff");
    }

    #[test]
    fn protocol_headers_and_half_tls_identity_are_errors() {
        let cfg = parse("url: http://p\nheaders: {Content-Type: text/plain}\n");
        assert_eq!(error_of(&cfg), "remote_write.headers.Content-Type: header is set by the remote write protocol");
        let cfg = parse("url: http://p\ntls: {cert_file: /c.pem}\n");
        assert_eq!(error_of(&cfg), "remote_write.tls: cert_file and key_file must be set together");
    }
}
