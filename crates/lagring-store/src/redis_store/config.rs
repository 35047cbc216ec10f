//! `redis:` section of the config: serde shape, validation that names the key
//! path, and the client it builds (TLS, ACL user, database) for each
//! deployment [`RedisMode`]: one server, a Sentinel-managed master, or a
//! Redis Cluster.

use std::fmt;
use std::time::Duration;

use redis::{Client, ConnectionInfo, IntoConnectionInfo, TlsCertificates};
use serde::Deserialize;

use crate::StoreError;

/// Which kind of Redis deployment the config points at.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RedisMode {
    /// One server (or a load-balanced address) at `url`.
    #[default]
    Standalone,
    /// A master found through the Sentinels in `nodes`, named `sentinel.master_name`;
    /// after a failover the next round trip asks the Sentinels again.
    Sentinel,
    /// A Redis Cluster reached through the seed nodes in `nodes`. All keys share
    /// one hash tag (the namespace), so one shard carries them.
    Cluster,
}

/// `redis.sentinel`: how to find the master through the Sentinels.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentinelConfig {
    /// The name the Sentinels monitor the master under (`sentinel monitor <name> ...`).
    #[serde(default)]
    pub master_name: String,
    /// ACL user for the Sentinels themselves (the data node uses `redis.username`).
    #[serde(default)]
    pub username: Option<String>,
    /// Password of the Sentinels themselves (the data node uses `redis.password`).
    #[serde(default)]
    pub password: Option<String>,
}

impl fmt::Debug for SentinelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentinelConfig")
            .field("master_name", &self.master_name)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// How to reach Redis and where lagring's keys live in it.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `standalone` (default), `sentinel` or `cluster`.
    #[serde(default)]
    pub mode: RedisMode,
    /// Standalone: `redis://host:port[/db]` or `rediss://host:port[/db]` (TLS).
    #[serde(default)]
    pub url: String,
    /// Sentinel mode: the Sentinels; cluster mode: seed nodes. Each `redis://host:port`.
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Sentinel mode: the monitored master's name and the Sentinels' own credentials.
    #[serde(default)]
    pub sentinel: SentinelConfig,
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
            .field("mode", &self.mode)
            .field("url", &redact_url(&self.url))
            .field("nodes", &self.nodes.iter().map(|n| redact_url(n)).collect::<Vec<_>>())
            .field("sentinel", &self.sentinel)
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
            mode: RedisMode::Standalone,
            url: url.into(),
            nodes: Vec::new(),
            sentinel: SentinelConfig::default(),
            username: None,
            password: None,
            db: None,
            tls: RedisTlsConfig::default(),
            namespace: default_namespace(),
            connect_timeout: default_connect_timeout(),
            command_timeout: default_command_timeout(),
        }
    }

    /// A config for Sentinel mode: the master `master_name` found through `sentinels`.
    pub fn sentinel(sentinels: Vec<String>, master_name: impl Into<String>) -> Self {
        let mut config = Self::new("");
        config.mode = RedisMode::Sentinel;
        config.nodes = sentinels;
        config.sentinel.master_name = master_name.into();
        config
    }

    /// A config for cluster mode with these seed nodes.
    pub fn cluster(seed_nodes: Vec<String>) -> Self {
        let mut config = Self::new("");
        config.mode = RedisMode::Cluster;
        config.nodes = seed_nodes;
        config
    }

    /// Checks every field; errors name the key path (`redis.url: ...`).
    pub fn validate(&self) -> Result<(), StoreError> {
        let tls = self.validate_addresses()?;
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

    /// Checks `url`/`nodes`/`sentinel` against the mode; true when TLS is on.
    fn validate_addresses(&self) -> Result<bool, StoreError> {
        match self.mode {
            RedisMode::Standalone => {
                if !self.nodes.is_empty() {
                    return Err(StoreError::config("redis.nodes", "only for mode sentinel or cluster; use redis.url"));
                }
                parse_url("redis.url", &self.url)
            }
            RedisMode::Sentinel | RedisMode::Cluster => {
                let mode = if self.mode == RedisMode::Sentinel { "sentinel" } else { "cluster" };
                if !self.url.is_empty() {
                    return Err(StoreError::config("redis.url", format!("not used in mode {mode}; list redis.nodes")));
                }
                if self.nodes.is_empty() {
                    return Err(StoreError::config("redis.nodes", format!("mode {mode} needs at least one node")));
                }
                for (i, node) in self.nodes.iter().enumerate() {
                    if parse_url(&format!("redis.nodes[{i}]"), node)? {
                        return Err(StoreError::config(
                            &format!("redis.nodes[{i}]"),
                            format!("rediss:// is not supported in mode {mode} yet; use mode standalone for TLS"),
                        ));
                    }
                }
                if self.mode == RedisMode::Sentinel && self.sentinel.master_name.is_empty() {
                    return Err(StoreError::config(
                        "redis.sentinel.master_name",
                        "mode sentinel needs the master's name",
                    ));
                }
                if self.mode == RedisMode::Cluster && self.db.is_some_and(|db| db != 0) {
                    return Err(StoreError::config("redis.db", "Redis Cluster has only database 0"));
                }
                Ok(false)
            }
        }
    }

    /// Where the store connects, for logs, without credentials.
    pub fn display_url(&self) -> String {
        match self.mode {
            RedisMode::Standalone => redact_url(&self.url),
            RedisMode::Sentinel => format!(
                "sentinel master {:?} via {}",
                self.sentinel.master_name,
                self.nodes.iter().map(|n| redact_url(n)).collect::<Vec<_>>().join(",")
            ),
            RedisMode::Cluster => {
                format!("cluster via {}", self.nodes.iter().map(|n| redact_url(n)).collect::<Vec<_>>().join(","))
            }
        }
    }

    /// Validates and builds the standalone client (no connection is made yet).
    pub fn client(&self) -> Result<Client, StoreError> {
        self.validate()?;
        if self.mode != RedisMode::Standalone {
            return Err(StoreError::config("redis.mode", "a single client exists only in mode standalone"));
        }
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

/// Parses one address of key `path`; true for `rediss://`.
fn parse_url(path: &str, url: &str) -> Result<bool, StoreError> {
    let tls = match url.split_once("://") {
        Some(("redis", _)) => false,
        Some(("rediss", _)) => true,
        _ => {
            return Err(StoreError::config(
                path,
                format!("must start with redis:// or rediss://, got {:?}", redact_url(url)),
            ));
        }
    };
    url.into_connection_info().map_err(|e| StoreError::config(path, e.to_string()))?;
    Ok(tls)
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
    fn sentinel_and_cluster_modes_are_validated_with_key_paths() {
        let ok = parse("mode: sentinel\nnodes: [redis://s1:26379, redis://s2:26379]\nsentinel: {master_name: m}\n");
        ok.validate().unwrap();
        assert_eq!(ok.mode, RedisMode::Sentinel);
        assert_eq!(ok.display_url(), "sentinel master \"m\" via redis://s1:26379,redis://s2:26379");
        let ok = parse("mode: cluster\nnodes: ['redis://:pw@n1:7000']\n");
        ok.validate().unwrap();
        assert_eq!(ok.display_url(), "cluster via redis://<redacted>@n1:7000");
        let cases = [
            ("mode: sentinel\nnodes: [redis://s:1]\n", "redis.sentinel.master_name: mode sentinel needs"),
            ("mode: sentinel\nsentinel: {master_name: m}\n", "redis.nodes: mode sentinel needs at least one"),
            ("mode: cluster\nurl: redis://h\nnodes: [redis://n:1]\n", "redis.url: not used in mode cluster"),
            ("mode: cluster\nnodes: [redis://n:1, http://n:2]\n", "redis.nodes[1]: must start with redis://"),
            ("mode: cluster\nnodes: [rediss://n:1]\n", "redis.nodes[0]: rediss:// is not supported in mode cluster"),
            ("mode: cluster\nnodes: [redis://n:1]\ndb: 2\n", "redis.db: Redis Cluster has only database 0"),
            ("url: redis://h\nnodes: [redis://n:1]\n", "redis.nodes: only for mode sentinel or cluster"),
            ("url: ''\n", "redis.url: must start with redis://"),
        ];
        for (yaml, want) in cases {
            let err = parse(yaml).validate().unwrap_err().to_string();
            assert!(err.starts_with(want), "{yaml:?}: {err}");
        }
        let err = serde_norway::from_str::<RedisConfig>("mode: replicated\n").unwrap_err().to_string();
        assert!(err.contains("unknown variant `replicated`"), "{err}");
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
