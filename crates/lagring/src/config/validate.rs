//! Semantic checks that serde cannot express. Every problem names its key
//! path, and all problems are reported at once so a user fixes a config in
//! one round.

use std::collections::HashSet;
use std::path::Path;

use lagring_core::filter::NameFilter;

use super::gssapi::GssapiConfig;

use super::model::{ClientChoice, ClusterConfig, Config, FilterConfig, SaslConfig, SaslMechanismConfig, TlsConfig};

/// Label names lagring sets itself on lag series.
const RESERVED_LABELS: &[&str] = &["group", "topic", "partition"];

/// Returns every problem found, each as `key.path: message`.
pub fn validate(cfg: &Config) -> Vec<String> {
    let mut errs = Vec::new();
    node(cfg, &mut errs);
    if cfg.clusters.is_empty() {
        errs.push("clusters: at least one cluster is required".to_owned());
    }
    let mut names = HashSet::new();
    for (i, c) in cfg.clusters.iter().enumerate() {
        let path = format!("clusters[{i}]");
        if !names.insert(c.name.as_str()) {
            errs.push(format!("{path}.name: duplicate cluster name {:?}", c.name));
        }
        cluster(c, &path, &mut errs);
        if let Some(probe) = &c.probe {
            errs.extend(probe.validate(&format!("{path}.probe")));
        }
    }
    super::placement::validate(cfg, &mut errs);
    prometheus(cfg, &mut errs);
    if let Err(problems) = cfg.time_lag_settings() {
        errs.extend(problems);
    }
    if let Some(rw) = &cfg.remote_write
        && let Err(e) = rw.validate()
    {
        errs.push(prefixed("remote_write", e));
    }
    if let Err(e) = lagring_sink::push::validate_sinks(&cfg.sinks) {
        errs.push(e.to_string());
    }
    if let Some(redis) = &cfg.redis
        && let Err(e) = redis.validate()
    {
        errs.push(prefixed("redis", e));
    }
    errs
}

/// Adds `section` in front of a sub-config's own error unless it is there.
fn prefixed(section: &str, err: impl ToString) -> String {
    let msg = err.to_string();
    if msg.starts_with(section) { msg } else { format!("{section}.{msg}") }
}

fn node(cfg: &Config, errs: &mut Vec<String>) {
    let n = &cfg.node;
    if n.id.as_deref().is_some_and(|id| id.trim().is_empty()) {
        errs.push("node.id: must not be empty (leave it out to use the hostname)".to_owned());
    }
    if n.id.as_deref().is_some_and(|id| id.contains(['@', ' ', '\t', '\n'])) {
        errs.push("node.id: must not contain '@' or whitespace (they delimit lease values)".to_owned());
    }
    let lease_floor = n.interval + n.heartbeat_interval;
    if n.lease_ttl.is_some_and(|ttl| ttl < lease_floor) {
        errs.push(format!(
            "node.lease_ttl: must be at least node.interval + node.heartbeat_interval ({lease_floor:?}), or held leases lapse between iterations and a Redis blip drops a slot"
        ));
    }
    if n.leave_cluster_after_failures == 0 {
        errs.push("node.leave_cluster_after_failures: must be at least 1".to_owned());
    }
    if n.series_max_age.is_some_and(|age| age < n.interval) {
        errs.push("node.series_max_age: must be at least node.interval, or healthy series flicker".to_owned());
    }
    if n.interval.is_zero() {
        errs.push("node.interval: must be greater than 0".to_owned());
    }
    if n.iteration_timeout.is_some_and(|t| t.is_zero()) {
        errs.push("node.iteration_timeout: must be greater than 0".to_owned());
    }
    if n.heartbeat_interval.is_zero() {
        errs.push("node.heartbeat_interval: must be greater than 0".to_owned());
    }
    if n.heartbeat_interval >= n.node_ttl {
        errs.push(format!(
            "node.node_ttl: must be longer than node.heartbeat_interval ({:?} <= {:?}), or live nodes expire between heartbeats",
            n.node_ttl, n.heartbeat_interval
        ));
    }
    if n.virtual_nodes == 0 {
        errs.push("node.virtual_nodes: must be at least 1".to_owned());
    }
}

fn cluster(c: &ClusterConfig, path: &str, errs: &mut Vec<String>) {
    if c.name.trim().is_empty() {
        errs.push(format!("{path}.name: must not be empty"));
    }
    if c.brokers.is_empty() {
        errs.push(format!("{path}.brokers: at least one broker is required"));
    }
    for (j, b) in c.brokers.iter().enumerate() {
        let port_ok = b.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
        if !port_ok {
            errs.push(format!("{path}.brokers[{j}]: expected host:port, got {b:?}"));
        }
    }
    if let Some(sasl) = &c.sasl {
        sasl_keys(sasl, &format!("{path}.sasl"), c.client_choice(), errs);
        if sasl.mechanism == SaslMechanismConfig::OAuthBearer {
            errs.extend(super::oauthbearer::property_problems(&c.properties, &format!("{path}.properties")));
            if c.probe.is_some() {
                errs.push(format!(
                    "{path}.probe: not with OAUTHBEARER yet (the probe's librdkafka producer and consumer get no tokens)"
                ));
            }
        }
        if sasl.mechanism == SaslMechanismConfig::AwsMskIam && c.probe.is_some() {
            errs.push(format!(
                "{path}.probe: not with AWS_MSK_IAM (the probe produces and consumes through librdkafka, which has no AWS_MSK_IAM)"
            ));
        }
    }
    if let Some(tls) = &c.tls {
        tls_files(tls, &format!("{path}.tls"), errs);
    }
    filter(&c.groups, &format!("{path}.groups"), errs);
    filter(&c.topics, &format!("{path}.topics"), errs);
    if c.request_timeout.is_zero() {
        errs.push(format!("{path}.request_timeout: must be greater than 0"));
    }
    if c.max_in_flight_offset_fetches == 0 {
        errs.push(format!("{path}.max_in_flight_offset_fetches: must be at least 1"));
    }
    for (k, v) in &c.properties {
        if super::property_string(v).is_none() {
            errs.push(format!("{path}.properties.{k}: must be a string, number or boolean"));
        }
    }
    if c.client_choice() == ClientChoice::Native {
        if !c.properties.is_empty() {
            errs.push(format!("{path}.properties: librdkafka properties need client: librdkafka"));
        }
        if c.tls.as_ref().is_some_and(|t| t.key_password.is_some()) {
            errs.push(format!(
                "{path}.tls.key_password: encrypted keys need client: librdkafka (the native client reads unencrypted PEM keys)"
            ));
        }
    }
}

/// PLAIN and SCRAM take `username` and `password`, OAUTHBEARER takes `oauthbearer`,
/// AWS_MSK_IAM `aws_msk_iam`, GSSAPI `gssapi`.
fn sasl_keys(sasl: &SaslConfig, path: &str, client: ClientChoice, errs: &mut Vec<String>) {
    let mechanism = sasl.mechanism;
    if sasl.aws_msk_iam.is_some() && mechanism != SaslMechanismConfig::AwsMskIam {
        errs.push(format!("{path}.aws_msk_iam: only with mechanism AWS_MSK_IAM"));
    }
    if sasl.gssapi.is_some() && mechanism != SaslMechanismConfig::Gssapi {
        errs.push(format!("{path}.gssapi: only with mechanism GSSAPI"));
    }
    if mechanism == SaslMechanismConfig::AwsMskIam {
        if !sasl.username.is_empty() || sasl.password.is_some() || sasl.oauthbearer.is_some() {
            errs.push(format!("{path}: username, password and oauthbearer are not used with AWS_MSK_IAM"));
        }
        let settings = sasl.aws_msk_iam.clone().unwrap_or_default();
        errs.extend(settings.problems(&format!("{path}.aws_msk_iam"), client));
        return;
    }
    if mechanism == SaslMechanismConfig::Gssapi {
        if sasl.password.is_some() || sasl.oauthbearer.is_some() {
            errs.push(format!("{path}: password and oauthbearer are not used with GSSAPI (see gssapi)"));
        }
        let has_gssapi = client == ClientChoice::Librdkafka && lagring_kafka::librdkafka_has_gssapi();
        errs.extend(GssapiConfig::problems(sasl.gssapi.as_ref(), path, client, has_gssapi));
        return;
    }
    if sasl.mechanism == SaslMechanismConfig::OAuthBearer {
        if !sasl.username.is_empty() || sasl.password.is_some() {
            errs.push(format!("{path}: username and password are not used with OAUTHBEARER (see oauthbearer)"));
        }
        match &sasl.oauthbearer {
            Some(oauth) => {
                let has_oauthbearer = client == ClientChoice::Librdkafka && lagring_kafka::librdkafka_has_oauthbearer();
                errs.extend(oauth.problems(&format!("{path}.oauthbearer"), client, has_oauthbearer));
            }
            None => errs.push(format!("{path}.oauthbearer: required with mechanism OAUTHBEARER")),
        }
        return;
    }
    if sasl.username.is_empty() {
        errs.push(format!("{path}.username: must not be empty"));
    }
    if sasl.password.is_none() {
        errs.push(format!("{path}.password: required with mechanism PLAIN or SCRAM"));
    }
    if sasl.oauthbearer.is_some() {
        errs.push(format!("{path}.oauthbearer: only with mechanism OAUTHBEARER"));
    }
}

fn tls_files(tls: &TlsConfig, path: &str, errs: &mut Vec<String>) {
    for (key, file) in [("ca_file", &tls.ca_file), ("cert_file", &tls.cert_file), ("key_file", &tls.key_file)] {
        if let Some(f) = file
            && !Path::new(f).is_file()
        {
            errs.push(format!("{path}.{key}: file not found: {}", f.display()));
        }
    }
    if tls.cert_file.is_some() != tls.key_file.is_some() {
        errs.push(format!("{path}: cert_file and key_file must be given together"));
    }
}

fn filter(f: &FilterConfig, path: &str, errs: &mut Vec<String>) {
    if let Err(e) = NameFilter::new(&f.allow, &f.deny) {
        errs.push(format!("{path}.{e}"));
    }
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with("__")
}

fn prometheus(cfg: &Config, errs: &mut Vec<String>) {
    let p = &cfg.prometheus;
    if !is_label_name(&p.cluster_label) || RESERVED_LABELS.contains(&p.cluster_label.as_str()) {
        errs.push(format!(
            "prometheus.cluster_label: {:?} is not a usable label name (use \"clustername\" or \"cluster\")",
            p.cluster_label
        ));
    }
    for name in p.extra_labels.keys() {
        if !is_label_name(name) {
            errs.push(format!("prometheus.extra_labels.{name}: not a valid Prometheus label name"));
        } else if RESERVED_LABELS.contains(&name.as_str()) || *name == p.cluster_label {
            errs.push(format!("prometheus.extra_labels.{name}: clashes with a label lagring sets itself"));
        }
    }
}
