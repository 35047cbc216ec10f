//! Settings that work but send a secret in clear text: SASL PLAIN or
//! OAUTHBEARER without TLS, a Redis password to a `redis://` address, remote-write credentials to
//! an `http://` url.
//!
//! They are legitimate in a lab or behind a service mesh that encrypts for
//! lagring, so they are not errors; [`plaintext_secrets`] names each one
//! with its key path, once, for the binary to log at startup.

use lagring_store::RedisConfig;

use super::model::{ClusterConfig, Config, SaslMechanismConfig};

/// One line per place where the config sends a secret without TLS.
pub fn plaintext_secrets(cfg: &Config) -> Vec<String> {
    let mut warnings = Vec::new();
    for (i, cluster) in cfg.clusters.iter().enumerate() {
        if cluster.sasl.as_ref().is_some_and(|sasl| sasl.mechanism == SaslMechanismConfig::Plain) && !kafka_tls(cluster)
        {
            warnings.push(format!(
                "clusters[{i}].sasl: mechanism PLAIN without tls sends the password in clear text (add tls: {{}} or use SCRAM)"
            ));
        }
        if cluster.sasl.as_ref().is_some_and(|sasl| sasl.mechanism == SaslMechanismConfig::OAuthBearer)
            && !kafka_tls(cluster)
        {
            warnings.push(format!(
                "clusters[{i}].sasl: mechanism OAUTHBEARER without tls sends the bearer token in clear text (add tls: {{}})"
            ));
        }
        if cluster.sasl.as_ref().is_some_and(|sasl| sasl.mechanism == SaslMechanismConfig::AwsMskIam)
            && !kafka_tls(cluster)
        {
            warnings.push(format!(
                "clusters[{i}].sasl: mechanism AWS_MSK_IAM without tls sends a signature that logs in for 15 minutes in clear text (add tls: {{}})"
            ));
        }
    }
    if let Some(redis) = &cfg.redis
        && let Some(key) = redis_plaintext_secret(redis)
    {
        warnings.push(format!("{key}: sent in clear text to a redis:// address (use rediss://)"));
    }
    if let Some(rw) = &cfg.remote_write
        && let Some(warning) = rw.plaintext_credentials()
    {
        warnings.push(warning);
    }
    warnings
}

/// Whether the cluster's connection is TLS: `tls:` present, unless a
/// `security.protocol` property says otherwise (properties are applied last).
fn kafka_tls(cluster: &ClusterConfig) -> bool {
    match cluster.properties.get("security.protocol").and_then(super::property_string) {
        Some(protocol) => protocol.to_ascii_uppercase().ends_with("SSL"),
        None => cluster.tls.is_some(),
    }
}

/// The key of the first Redis credential that travels without TLS.
fn redis_plaintext_secret(redis: &RedisConfig) -> Option<&'static str> {
    let addresses = || std::iter::once(&redis.url).chain(&redis.nodes);
    let plaintext = addresses().any(|url| url.get(..8).is_some_and(|scheme| scheme.eq_ignore_ascii_case("redis://")));
    if !plaintext {
        return None;
    }
    if redis.password.is_some() {
        Some("redis.password")
    } else if redis.sentinel.password.is_some() {
        Some("redis.sentinel.password")
    } else if addresses().any(|url| has_password(url)) {
        Some("redis.url")
    } else {
        None
    }
}

/// Whether a `scheme://user:password@host` url carries a password.
fn has_password(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else { return false };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority.rsplit_once('@').is_some_and(|(userinfo, _)| userinfo.contains(':'))
}
