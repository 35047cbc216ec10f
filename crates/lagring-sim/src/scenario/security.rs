//! How the simulated brokers' listeners are secured: TLS (server certificate, optionally
//! requiring client certificates signed by a CA) and SASL (mechanisms and users). Absent means
//! plaintext without authentication, as before.

use std::path::PathBuf;

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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSaslConfig {
    /// Any of `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`.
    pub mechanisms: Vec<String>,
    pub users: std::collections::BTreeMap<String, String>,
}

/// Mechanisms the simulator implements.
pub const MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

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
        }
        problems
    }
}
