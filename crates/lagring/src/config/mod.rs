//! Loading the YAML config: environment substitution, strict parsing with
//! the failing key path in every error, then semantic validation.

mod env_subst;
mod gssapi;
mod model;
mod msk_iam;
mod oauthbearer;
mod placement;
mod probe;
mod subst_de;
mod time_lag;
mod validate;
mod warnings;

use std::path::Path;

pub use gssapi::GssapiConfig;
pub use model::*;
pub use msk_iam::MskIamConfig;
pub use oauthbearer::OAuthBearerConfig;
pub use placement::{FallbackConfig, LABELS_ENV, PlacementConfig, parse_labels};
pub use probe::ProbeConfig;
pub use time_lag::{HistoryConfig, TimeLagConfig, TimeLagMethod, TimeLagSettings};
pub use warnings::plaintext_secrets;

/// Why a config could not be used; the binary exits with code 2 for all.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{0}")]
    Substitution(#[from] env_subst::SubstError),
    #[error("{0}")]
    Parse(String),
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
}

/// Reads, substitutes, parses and validates the config at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
    parse_substituted(&env_subst::substitute_env(&text)?)
}

/// Parses and validates config text that was already substituted.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    parse_substituted(&env_subst::Substituted { text: text.to_owned(), ..Default::default() })
}

/// Parses the substituted text, putting placeholder values back into the
/// strings that hold them, and validates the result.
fn parse_substituted(substituted: &env_subst::Substituted) -> Result<Config, ConfigError> {
    let de = subst_de::Expanding {
        inner: serde_norway::Deserializer::from_str(&substituted.text),
        placeholders: &substituted.placeholders,
    };
    let cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde_norway already names the path for some errors, and a syntax
        // error has no meaningful path (`?`): avoid repeating or inventing one.
        if path == "." || path.is_empty() || path.contains('?') || inner.starts_with(&path) {
            ConfigError::Parse(inner)
        } else {
            ConfigError::Parse(format!("{path}: {inner}"))
        }
    })?;
    let problems = validate::validate(&cfg);
    if problems.is_empty() { Ok(cfg) } else { Err(ConfigError::Invalid(problems)) }
}

/// A librdkafka property value as a string, for scalar YAML values only.
pub(crate) fn property_string(v: &serde_norway::Value) -> Option<String> {
    match v {
        serde_norway::Value::String(s) => Some(s.clone()),
        serde_norway::Value::Bool(b) => Some(b.to_string()),
        serde_norway::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Config {
    /// This node's id: configured, else `$HOSTNAME`, else the kernel hostname.
    pub fn node_id(&self) -> String {
        if let Some(id) = &self.node.id {
            return id.clone();
        }
        if let Ok(h) = std::env::var("HOSTNAME")
            && !h.is_empty()
        {
            return h;
        }
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_owned())
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "lagring".to_owned())
    }

    /// Upper bound for one iteration's Kafka work.
    pub fn iteration_timeout(&self) -> std::time::Duration {
        self.node.iteration_timeout.unwrap_or(self.node.interval)
    }

    /// Lease ttl: configured, else `interval + node_ttl`.
    pub fn lease_ttl(&self) -> std::time::Duration {
        self.node.lease_ttl.unwrap_or(self.node.interval + self.node.node_ttl)
    }

    /// Offset-history bounds and time-lag windows, defaults resolved for
    /// `node.interval`; errors name the key (a validated config has none).
    pub fn time_lag_settings(&self) -> Result<TimeLagSettings, Vec<String>> {
        self.time_lag.resolve(self.node.interval)
    }

    /// Age after which a cluster's last batch leaves `/metrics`: configured,
    /// else three intervals.
    pub fn series_max_age(&self) -> std::time::Duration {
        self.node.series_max_age.unwrap_or(self.node.interval.saturating_mul(3))
    }
}

impl ClusterConfig {
    /// The client this cluster uses: the configured one, else native, except
    /// for a cluster that sets what only librdkafka understands (`properties`
    /// or an encrypted `tls.key_password`), which keeps librdkafka so that a
    /// configuration written before native became the default still loads.
    pub fn client_choice(&self) -> ClientChoice {
        let needs_librdkafka = !self.properties.is_empty()
            || self.tls.as_ref().is_some_and(|t| t.key_password.is_some())
            || self.sasl.as_ref().is_some_and(|s| s.mechanism == SaslMechanismConfig::Gssapi);
        match self.client {
            Some(choice) => choice,
            None if needs_librdkafka => ClientChoice::Librdkafka,
            None => ClientChoice::Native,
        }
    }

    /// Which Kafka client the adapter uses for this cluster.
    pub fn client_kind(&self) -> lagring_kafka::ClientKind {
        match self.client_choice() {
            ClientChoice::Librdkafka => lagring_kafka::ClientKind::Librdkafka,
            ClientChoice::Native => lagring_kafka::ClientKind::Native(lagring_kafka::NativeOptions::default()),
        }
    }

    /// The Kafka adapter's connection settings for this cluster.
    pub fn kafka_connection(&self) -> lagring_kafka::KafkaConnection {
        use lagring_kafka::{Isolation, Sasl, SaslMechanism, Tls};
        lagring_kafka::KafkaConnection {
            bootstrap_servers: self.brokers.join(","),
            sasl: self.sasl.as_ref().map(|s| {
                let mechanism = match s.mechanism {
                    SaslMechanismConfig::Plain => SaslMechanism::Plain,
                    SaslMechanismConfig::ScramSha256 => SaslMechanism::ScramSha256,
                    SaslMechanismConfig::ScramSha512 => SaslMechanism::ScramSha512,
                    SaslMechanismConfig::OAuthBearer => SaslMechanism::OAuthBearer,
                    SaslMechanismConfig::AwsMskIam => SaslMechanism::AwsMskIam,
                    SaslMechanismConfig::Gssapi => SaslMechanism::Gssapi,
                };
                let source = s.oauthbearer.as_ref().and_then(OAuthBearerConfig::token_source);
                let msk_iam = s.aws_msk_iam.clone().unwrap_or_default().settings();
                let password = s.password.as_ref().map(|p| p.expose().to_owned()).unwrap_or_default();
                match (mechanism, source, msk_iam) {
                    (SaslMechanism::OAuthBearer, Some(source), _) => Sasl::oauthbearer(source),
                    (SaslMechanism::AwsMskIam, _, Some(settings)) => Sasl::msk_iam(settings),
                    (SaslMechanism::Gssapi, _, _) => Sasl {
                        gssapi: Some(s.gssapi.clone().unwrap_or_default().settings()),
                        ..Sasl::password(mechanism, s.username.clone(), password)
                    },
                    _ => Sasl::password(mechanism, s.username.clone(), password),
                }
            }),
            tls: self.tls.as_ref().map(|t| Tls {
                ca_file: t.ca_file.clone(),
                cert_file: t.cert_file.clone(),
                key_file: t.key_file.clone(),
                key_password: t.key_password.as_ref().map(|p| p.expose().to_owned()),
                verify: t.verify,
            }),
            isolation: match self.isolation {
                IsolationConfig::ReadUncommitted => Isolation::ReadUncommitted,
                IsolationConfig::ReadCommitted => Isolation::ReadCommitted,
            },
            request_timeout: self.request_timeout,
            extra_properties: self
                .properties
                .iter()
                .filter_map(|(k, v)| property_string(v).map(|s| (k.clone(), s)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests;
