//! `redis:` section of the config: serde shape, validation that names the key
//! path, and the `redis::Client` it builds (TLS, ACL user, database).

use std::fmt;
use std::time::Duration;

use redis::{Client, ConnectionInfo, IntoConnectionInfo, TlsCertificates};
use serde::Deserialize;

use crate::StoreError;

/// How to reach Redis and where lagring's keys live in it.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://host:port[/db]` or `rediss://host:port[/db]` (TLS).
    pub url: String,
    /// ACL user (overrides one in the url).
    #[serde(default)]
    pub username: Option<String>,
    /// Password (overrides one in the url).
    #[serde(default)]
    pub password: Option<String>,
    /// Database index (overrides one in the url).
    #[serde(default)]
    pub db: Option<i64>,
    /// TLS options for `rediss://`.
    #[serde(default)]
    pub tls: RedisTlsConfig,
    /// Key prefix; every key is `{<namespace>}:...` so one Redis Cluster slot holds them all.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Bound on establishing a connection.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Bound on one command or script round trip.
    #[serde(default = "default_command_timeout", with = "humantime_serde")]
    pub command_timeout: Duration,
}

/// TLS options; verification is on unless explicitly skipped.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisTlsConfig {
    /// PEM file of CA certificates to trust instead of the system store.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Accept any server certificate. Only for tests and emergencies.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

fn default_namespace() -> String {
    "lagring".to_owned()
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_command_timeout() -> Duration {
    Duration::from_secs(2)
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redact_url(&self.url))
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("db", &self.db)
            .field("tls", &self.tls)
            .field("namespace", &self.namespace)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .finish()
    }
}

/// The url with any `user:password@` part removed, for logs and errors.
fn redact_url(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, _)), Some(at)) => format!("{scheme}://<redacted>@{}", url.get(at + 1..).unwrap_or_default()),
        _ => url.to_owned(),
    }
}

impl RedisConfig {
    /// A config for `url` with every other field at its default.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            username: None,
            password: None,
            db: None,
            tls: RedisTlsConfig::default(),
            namespace: default_namespace(),
            connect_timeout: default_connect_timeout(),
            command_timeout: default_command_timeout(),
        }
    }

    /// Checks every field; errors name the key path (`redis.url: ...`).
    pub fn validate(&self) -> Result<(), StoreError> {
        let tls = self.is_tls()?;
        self.url.as_str().into_connection_info().map_err(|e| StoreError::config("redis.url", e.to_string()))?;
        if self.namespace.is_empty() {
            return Err(StoreError::config("redis.namespace", "must not be empty"));
        }
        if self.namespace.contains(['{', '}']) {
            return Err(StoreError::config("redis.namespace", "must not contain '{' or '}' (it becomes the hash tag)"));
        }
        if self.db.is_some_and(|db| db < 0) {
            return Err(StoreError::config("redis.db", "must be 0 or more"));
        }
        if !tls && self.tls.ca_file.is_some() {
            return Err(StoreError::config("redis.tls.ca_file", "set but redis.url is not rediss://"));
        }
        if !tls && self.tls.insecure_skip_verify {
            return Err(StoreError::config("redis.tls.insecure_skip_verify", "set but redis.url is not rediss://"));
        }
        if self.connect_timeout.is_zero() {
            return Err(StoreError::config("redis.connect_timeout", "must be more than 0"));
        }
        if self.command_timeout.is_zero() {
            return Err(StoreError::config("redis.command_timeout", "must be more than 0"));
        }
        Ok(())
    }

    fn is_tls(&self) -> Result<bool, StoreError> {
        match self.url.split_once("://") {
            Some(("redis", _)) => Ok(false),
            Some(("rediss", _)) => Ok(true),
            _ => Err(StoreError::config(
                "redis.url",
                format!("must start with redis:// or rediss://, got {:?}", redact_url(&self.url)),
            )),
        }
    }

    /// The url for logs, without credentials.
    pub fn display_url(&self) -> String {
        redact_url(&self.url)
    }

    /// Validates and builds the client (no connection is made yet).
    pub fn client(&self) -> Result<Client, StoreError> {
        self.validate()?;
        let info = self.connection_info()?;
        let Some(ca_file) = &self.tls.ca_file else {
            return Client::open(info).map_err(|e| StoreError::config("redis.url", e.to_string()));
        };
        let root_cert =
            std::fs::read(ca_file).map_err(|source| StoreError::CaFile { file: ca_file.clone(), source })?;
        let certs = TlsCertificates { client_tls: None, root_cert: Some(root_cert) };
        Client::build_with_tls(info, certs).map_err(|e| StoreError::config("redis.tls.ca_file", e.to_string()))
    }

    fn connection_info(&self) -> Result<ConnectionInfo, StoreError> {
        // The redis crate reads `#insecure` on a rediss:// url as "skip verification".
        let url = if self.tls.insecure_skip_verify && !self.url.contains('#') {
            format!("{}#insecure", self.url)
        } else {
            self.url.clone()
        };
        let info = url.as_str().into_connection_info().map_err(|e| StoreError::config("redis.url", e.to_string()))?;
        let mut settings = info.redis_settings().clone();
        if let Some(username) = &self.username {
            settings = settings.set_username(username);
        }
        if let Some(password) = &self.password {
            settings = settings.set_password(password);
        }
        if let Some(db) = self.db {
            settings = settings.set_db(db);
        }
        Ok(info.set_redis_settings(settings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> RedisConfig {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn defaults_and_durations() {
        let c = parse("url: redis://127.0.0.1:6379\nconnect_timeout: 250ms\n");
        assert_eq!(c.namespace, "lagring");
        assert_eq!(c.connect_timeout, Duration::from_millis(250));
        assert_eq!(c.command_timeout, Duration::from_secs(2));
        assert!(!c.tls.insecure_skip_verify);
        c.validate().unwrap();
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = serde_norway::from_str::<RedisConfig>("url: redis://h\nuser: x\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `user`"), "{err}");
        let err = serde_norway::from_str::<RedisConfig>("url: redis://h\ntls: {verify: false}\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `verify`"), "{err}");
    }

    #[test]
    fn errors_name_the_key_path() {
        let cases = [
            ("url: http://h\n", "redis.url: must start with redis:// or rediss://"),
            ("url: redis://h\nnamespace: ''\n", "redis.namespace: must not be empty"),
            ("url: redis://h\nnamespace: 'a{b'\n", "redis.namespace: must not contain"),
            ("url: redis://h\ndb: -1\n", "redis.db: must be 0 or more"),
            ("url: redis://h\ntls: {ca_file: /x}\n", "redis.tls.ca_file: set but redis.url is not rediss://"),
            ("url: redis://h\ntls: {insecure_skip_verify: true}\n", "redis.tls.insecure_skip_verify: set but"),
            ("url: redis://h\nconnect_timeout: 0s\n", "redis.connect_timeout: must be more than 0"),
        ];
        for (yaml, want) in cases {
            let err = parse(yaml).validate().unwrap_err().to_string();
            assert!(err.starts_with(want), "{yaml:?}: {err}");
        }
    }

    #[test]
    fn overrides_reach_the_connection_settings() {
        let mut c = RedisConfig::new("redis://127.0.0.1:6379/3");
        c.username = Some("lagring".into());
        c.password = Some("s3cret".into());
        let info = c.connection_info().unwrap();
        assert_eq!(info.redis_settings().db(), 3);
        assert_eq!(info.redis_settings().username(), Some("lagring"));
        assert_eq!(info.redis_settings().password(), Some("s3cret"));
        c.db = Some(5);
        assert_eq!(c.connection_info().unwrap().redis_settings().db(), 5);
    }

    #[test]
    fn tls_urls_build_clients_and_missing_ca_is_named() {
        let mut c = RedisConfig::new("rediss://127.0.0.1:6380");
        c.tls.insecure_skip_verify = true;
        c.client().unwrap();
        c.tls.ca_file = Some("/nonexistent/ca.pem".into());
        let err = c.client().unwrap_err().to_string();
        assert!(err.starts_with("redis.tls.ca_file: cannot read /nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn debug_and_display_hide_credentials() {
        let mut c = RedisConfig::new("redis://u:pw@127.0.0.1:6379");
        c.password = Some("pw2".into());
        let shown = format!("{c:?} {}", c.display_url());
        assert!(!shown.contains("pw"), "{shown}");
    }
}
