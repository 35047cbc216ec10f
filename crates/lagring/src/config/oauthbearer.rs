//! `clusters[].sasl.oauthbearer`: where OAUTHBEARER tokens come from, either the OIDC
//! client-credentials grant against a token endpoint or a token file that another platform
//! keeps fresh, and its mapping to the Kafka adapter's settings.
//!
//! The client secret is never in the config itself: it is read from `client_secret_file` or
//! the variable `client_secret_env` when a token is requested, so `{:?}` of a config has only
//! the file name or the variable name, and a rotated secret file is picked up. The checks here
//! name the key path of each problem.
//!
//! Every key works with both clients: the librdkafka client gets its tokens from lagring's own
//! token source too (librdkafka's built-in OIDC login cannot send `audience` or extra
//! parameters and has no token file), so it only needs a librdkafka that can take tokens
//! (`sasl_oauthbearer` among its built-in features), and librdkafka's own `sasl.oauthbearer.*`
//! properties would compete with lagring's tokens (see [`property_problems`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::model::ClientChoice;

/// Why OAUTHBEARER cannot use a librdkafka built without `sasl_oauthbearer`.
const LIBRDKAFKA_HAS_NO_OAUTHBEARER: &str =
    "the linked librdkafka is built without OAUTHBEARER (its builtin.features lack sasl_oauthbearer)";

/// librdkafka properties that would make librdkafka fetch or make tokens itself, against
/// lagring's: its OIDC login and its unsecured test tokens.
const COMPETING_PROPERTIES: &[&str] = &["sasl.oauthbearer.", "enable.sasl.oauthbearer.unsecure.jwt"];

/// Form parameters lagring sets itself in a token request.
const RESERVED_PARAMS: &[&str] = &["grant_type", "client_id", "client_secret", "scope", "audience"];

#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthBearerConfig {
    /// OIDC: the provider's token endpoint (`http://` or `https://`).
    #[serde(default)]
    pub token_endpoint_url: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    /// A file holding the client secret (surrounding whitespace is ignored).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// An environment variable holding the client secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub audience: Option<String>,
    /// More form parameters of the token request.
    #[serde(default)]
    pub extra_params: BTreeMap<String, String>,
    /// Instead of OIDC: a token minted elsewhere, re-read when the file changes.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
}

/// Extra parameters may carry tenant ids and the like: only their names are printed.
impl fmt::Debug for OAuthBearerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthBearerConfig")
            .field("token_endpoint_url", &self.token_endpoint_url)
            .field("client_id", &self.client_id)
            .field("client_secret_file", &self.client_secret_file)
            .field("client_secret_env", &self.client_secret_env)
            .field("scope", &self.scope)
            .field("audience", &self.audience)
            .field("extra_params", &self.extra_params.keys().collect::<Vec<_>>())
            .field("token_file", &self.token_file)
            .finish()
    }
}

impl OAuthBearerConfig {
    /// Every problem, each as `path.key: message`; `librdkafka_has_oauthbearer` says whether the
    /// linked librdkafka can take tokens (only asked with `client: librdkafka`).
    pub(crate) fn problems(&self, path: &str, client: ClientChoice, librdkafka_has_oauthbearer: bool) -> Vec<String> {
        let mut errs = Vec::new();
        match (&self.token_endpoint_url, &self.token_file) {
            (Some(_), Some(_)) => errs.push(format!("{path}: give token_endpoint_url or token_file, not both")),
            (None, None) => {
                errs.push(format!("{path}: token_endpoint_url (OIDC client credentials) or token_file is required"))
            }
            (Some(url), None) => self.oidc_problems(url, path, &mut errs),
            (None, Some(file)) => {
                let oidc_keys = [
                    ("client_id", self.client_id.is_some()),
                    ("client_secret_file", self.client_secret_file.is_some()),
                    ("client_secret_env", self.client_secret_env.is_some()),
                    ("scope", self.scope.is_some()),
                    ("audience", self.audience.is_some()),
                    ("extra_params", !self.extra_params.is_empty()),
                ];
                for (key, _) in oidc_keys.iter().filter(|(_, given)| *given) {
                    errs.push(format!("{path}.{key}: only with token_endpoint_url, not with token_file"));
                }
                if !file.is_file() {
                    errs.push(format!("{path}.token_file: file not found: {}", file.display()));
                }
            }
        }
        if client == ClientChoice::Librdkafka && !librdkafka_has_oauthbearer {
            errs.push(format!("{path}: needs client: native ({LIBRDKAFKA_HAS_NO_OAUTHBEARER})"));
        }
        errs
    }

    fn oidc_problems(&self, url: &str, path: &str, errs: &mut Vec<String>) {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            errs.push(format!("{path}.token_endpoint_url: expected an http:// or https:// url, got {url:?}"));
        }
        if self.client_id.as_deref().is_none_or(|id| id.trim().is_empty()) {
            errs.push(format!("{path}.client_id: required with token_endpoint_url"));
        }
        match (&self.client_secret_file, &self.client_secret_env) {
            (Some(_), Some(_)) => {
                errs.push(format!("{path}: give client_secret_file or client_secret_env, not both"));
            }
            (None, None) => errs.push(format!("{path}: client_secret_file or client_secret_env is required")),
            (Some(file), None) if !Path::new(file).is_file() => {
                errs.push(format!("{path}.client_secret_file: file not found: {}", file.display()));
            }
            (None, Some(var)) if std::env::var_os(var).is_none() => {
                errs.push(format!("{path}.client_secret_env: variable {var} is not set"));
            }
            _ => {}
        }
        for key in self.extra_params.keys().filter(|k| RESERVED_PARAMS.contains(&k.as_str())) {
            errs.push(format!("{path}.extra_params.{key}: set by lagring itself"));
        }
    }

    /// The adapter's token source; `None` when the settings are incomplete (validation says why).
    pub fn token_source(&self) -> Option<lagring_kafka::OAuthBearer> {
        use lagring_kafka::{ClientSecret, OAuthBearer, OidcClientCredentials};
        if let Some(file) = &self.token_file {
            return Some(OAuthBearer::TokenFile(file.clone()));
        }
        let client_secret = match (&self.client_secret_file, &self.client_secret_env) {
            (Some(file), _) => ClientSecret::File(file.clone()),
            (None, Some(var)) => ClientSecret::Env(var.clone()),
            (None, None) => return None,
        };
        Some(OAuthBearer::Oidc(OidcClientCredentials {
            token_endpoint_url: self.token_endpoint_url.clone()?,
            client_id: self.client_id.clone()?,
            client_secret,
            scope: self.scope.clone(),
            audience: self.audience.clone(),
            extra_params: self.extra_params.clone(),
        }))
    }
}

/// The cluster's librdkafka `properties` (at `path`) that would compete with lagring's tokens.
pub(crate) fn property_problems<V>(properties: &BTreeMap<String, V>, path: &str) -> Vec<String> {
    properties
        .keys()
        .filter(|key| COMPETING_PROPERTIES.iter().any(|p| key.starts_with(p)))
        .map(|key| {
            format!("{path}.{key}: not with OAUTHBEARER: lagring fetches the tokens and hands them to librdkafka (see sasl.oauthbearer)")
        })
        .collect()
}

#[cfg(test)]
#[path = "oauthbearer_tests.rs"]
mod tests;
