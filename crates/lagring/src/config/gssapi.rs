//! `clusters[].sasl.gssapi`: Kerberos settings of the GSSAPI mechanism and their mapping to the
//! Kafka adapter (librdkafka's `sasl.kerberos.*` properties).
//!
//! GSSAPI goes through librdkafka only: the native client speaks no Kerberos. librdkafka is
//! built with Cyrus SASL (rdkafka's `gssapi` feature); a build without it would fail only at the
//! first login, so the checks still ask the linked library whether it has Kerberos
//! (`builtin.features`) and say what is missing. Each check names its key path. The command
//! that gets tickets may carry a password, so `Debug` shows only whether it is set.

use std::path::PathBuf;

use serde::Deserialize;

use super::model::ClientChoice;

/// What a build without Kerberos lacks, for validation messages.
const NO_GSSAPI_BUILD: &str = "the linked librdkafka is built without Kerberos: it needs Cyrus SASL \
                               (Debian's libsasl2-dev) at build time and rdkafka's gssapi feature";

#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GssapiConfig {
    /// The brokers' Kerberos service name (default `kafka`).
    #[serde(default)]
    pub service_name: Option<String>,
    /// lagring's principal, e.g. `lagring/host.example.com@EXAMPLE.COM`.
    #[serde(default)]
    pub principal: Option<String>,
    /// The keytab holding the principal's key.
    #[serde(default)]
    pub keytab: Option<PathBuf>,
    /// The command that gets or renews the ticket (librdkafka's default runs `kinit`).
    #[serde(default)]
    pub kinit_cmd: Option<String>,
}

impl std::fmt::Debug for GssapiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GssapiConfig")
            .field("service_name", &self.service_name)
            .field("principal", &self.principal)
            .field("keytab", &self.keytab)
            .field("kinit_cmd", &self.kinit_cmd.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl GssapiConfig {
    /// Every problem of GSSAPI at `path` (the `sasl` section) with `client`.
    pub(crate) fn problems(this: Option<&Self>, path: &str, client: ClientChoice, has_gssapi: bool) -> Vec<String> {
        let mut errs = Vec::new();
        if client != ClientChoice::Librdkafka {
            errs.push(format!("{path}.mechanism: GSSAPI needs client: librdkafka (the native client has no Kerberos)"));
        } else if !has_gssapi {
            errs.push(format!("{path}.mechanism: GSSAPI is not available: {NO_GSSAPI_BUILD}"));
        }
        let Some(this) = this else { return errs };
        if let Some(keytab) = this.keytab.as_ref().filter(|k| !k.is_file()) {
            errs.push(format!("{path}.gssapi.keytab: file not found: {}", keytab.display()));
        }
        if this.keytab.is_some() && this.principal.is_none() {
            errs.push(format!("{path}.gssapi.principal: required with keytab"));
        }
        if this.service_name.as_deref().is_some_and(|s| s.trim().is_empty()) {
            errs.push(format!("{path}.gssapi.service_name: must not be empty"));
        }
        errs
    }

    /// The adapter's settings.
    pub fn settings(&self) -> lagring_kafka::Gssapi {
        lagring_kafka::Gssapi {
            service_name: self.service_name.clone(),
            principal: self.principal.clone(),
            keytab: self.keytab.clone(),
            kinit_cmd: self.kinit_cmd.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gssapi_needs_librdkafka_with_kerberos_and_names_each_key() {
        let native = GssapiConfig::problems(None, "clusters[0].sasl", ClientChoice::Native, true);
        assert_eq!(
            native,
            vec!["clusters[0].sasl.mechanism: GSSAPI needs client: librdkafka (the native client has no Kerberos)"]
        );
        let without = GssapiConfig::problems(None, "clusters[0].sasl", ClientChoice::Librdkafka, false);
        assert_eq!(without, vec![format!("clusters[0].sasl.mechanism: GSSAPI is not available: {NO_GSSAPI_BUILD}")]);
        let config = GssapiConfig {
            service_name: Some(" ".to_owned()),
            keytab: Some(PathBuf::from("/nonexistent/lagring.keytab")),
            ..GssapiConfig::default()
        };
        assert_eq!(
            GssapiConfig::problems(Some(&config), "clusters[0].sasl", ClientChoice::Librdkafka, true),
            vec![
                "clusters[0].sasl.gssapi.keytab: file not found: /nonexistent/lagring.keytab",
                "clusters[0].sasl.gssapi.principal: required with keytab",
                "clusters[0].sasl.gssapi.service_name: must not be empty",
            ]
        );
    }

    #[test]
    fn the_linked_librdkafka_has_kerberos_so_a_keytab_login_validates() {
        assert!(lagring_kafka::librdkafka_has_gssapi());
        let dir = tempfile::tempdir().unwrap();
        let keytab = dir.path().join("lagring.keytab");
        std::fs::write(&keytab, b"\x05\x02").unwrap();
        let config = GssapiConfig {
            service_name: Some("kafka".to_owned()),
            principal: Some("lagring/monitor@CORP.EXAMPLE.COM".to_owned()),
            keytab: Some(keytab),
            kinit_cmd: None,
        };
        let has = lagring_kafka::librdkafka_has_gssapi();
        assert_eq!(
            GssapiConfig::problems(Some(&config), "clusters[0].sasl", ClientChoice::Librdkafka, has),
            Vec::<String>::new()
        );
    }

    #[test]
    fn debug_hides_the_kinit_command() {
        let config =
            GssapiConfig { kinit_cmd: Some("echo hunter2 | kinit lagring".to_owned()), ..GssapiConfig::default() };
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("kinit_cmd: Some(\"<redacted>\")"), "{shown}");
    }
}
