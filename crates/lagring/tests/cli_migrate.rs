//! `lagring migrate kafka-lag-go`: the example config of kafka-lag-go's README
//! (its structure and documented keys, written here) converts, the result
//! passes `lagring validate`, and every key without an equivalent is named.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::path::Path;
use std::process::Command;

use serde_norway::Value;

/// kafka-lag-go README's example: two clusters (SCRAM + TLS, and plain),
/// remote write with headers, basic auth, a bearer token and TLS, Redis with
/// ACL auth and TLS, app settings. `{DIR}` becomes a directory holding the
/// certificate files, which `lagring validate` checks exist.
const KAFKA_LAG_GO_EXAMPLE: &str = r#"
prometheus_local:
  metrics_port: 9090
  labels:
    env: production
    service: kafka-lag-go

prometheus_remote_write:
  enabled: true
  url: "https://remote-prometheus-server.com/"
  headers:
    X-Custom-Header: "myCustomHeaderValue"
  timeout: "30s"
  basic_auth:
    username: "myUsername"
    password: "myPassword"
  bearer_token: "myBearerToken"
  tls_config:
    enabled: true
    cert_file: "{DIR}/cert.pem"
    key_file: "{DIR}/key.pem"
    ca_cert_file: "{DIR}/ca_cert.pem"
    insecure_skip_verify: true

kafka_clusters:
  - name: "kafka-cluster-1"
    brokers:
      - "broker1:9092"
      - "broker2:9092"
    client_request_timeout: "30s"
    metadata_fetch_timeout: "5s"
    consumer_groups:
      whitelist: ".*"
      blacklist: "test.*"
    ssl:
      enabled: true
      client_certificate_file: "{DIR}/cert.pem"
      client_key_file: "{DIR}/key.pem"
      insecure_skip_verify: true
    sasl:
      enabled: true
      mechanism: "SCRAM-SHA-512"
      user: "kafkaUser1"
      password: "kafkaPassword1"

  - name: "kafka-cluster-2"
    brokers:
      - "broker3:9092"
      - "broker4:9092"
    client_request_timeout: "40s"
    metadata_fetch_timeout: "6s"
    consumer_groups:
      whitelist: "important.*"
      blacklist: "test2.*"
    ssl:
      enabled: false
    sasl:
      enabled: false

storage:
  type: "redis"
  redis:
    address: "redis-server"
    port: 6379
    client_request_timeout: "60s"
    client_idle_timeout: "5m"
    retention_ttl_seconds: 7200
    auth:
      enabled: true
      username: "redisUser"
      password: "redisPassword"
    ssl:
      enabled: true
      insecure_skip_verify: true

app:
  iteration_interval: "30s"
  num_workers: 10
  log_level: "info"
  health_check_port: 8080
  health_check_path: "/healthz"
"#;

fn lagring(args: &[&str], file: &Path) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lagring")).args(args).arg(file).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| match k.parse::<usize>() {
        Ok(i) => &v[i],
        Err(_) => &v[k],
    })
}

fn s(v: &Value, path: &str) -> String {
    match get(v, path) {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => panic!("{path}: expected a scalar, got {other:?}"),
    }
}

#[test]
fn readme_example_converts_validates_and_names_what_is_left() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["cert.pem", "key.pem", "ca_cert.pem"] {
        std::fs::write(dir.path().join(f), "").unwrap();
    }
    let d = dir.path().display().to_string();
    let input = dir.path().join("config.yaml");
    std::fs::write(&input, KAFKA_LAG_GO_EXAMPLE.replace("{DIR}", &d)).unwrap();

    let (code, yaml, notes) = lagring(&["migrate", "kafka-lag-go"], &input);
    assert_eq!(code, Some(0), "stderr: {notes}");
    let converted = dir.path().join("lagring.yaml");
    std::fs::write(&converted, &yaml).unwrap();
    let (code, out, err) = lagring(&["validate", "--config"], &converted);
    assert_eq!(code, Some(0), "lagring validate failed:\n{err}\nconfig:\n{yaml}");
    assert!(out.contains("config ok: 2 cluster(s)"), "{out}");

    let v: Value = serde_norway::from_str(&yaml).unwrap();
    let expected = [
        ("node.interval", "30s"),
        ("log.level", "info"),
        ("http.listen", "0.0.0.0:9090"),
        ("prometheus.extra_labels.env", "production"),
        ("prometheus.extra_labels.service", "kafka-lag-go"),
        ("clusters.0.name", "kafka-cluster-1"),
        ("clusters.0.brokers.0", "broker1:9092"),
        ("clusters.0.brokers.1", "broker2:9092"),
        ("clusters.0.request_timeout", "30s"),
        ("clusters.0.groups.allow.0", ".*"),
        ("clusters.0.groups.deny.0", "test.*"),
        ("clusters.0.sasl.mechanism", "SCRAM-SHA-512"),
        ("clusters.0.sasl.username", "kafkaUser1"),
        ("clusters.0.sasl.password", "kafkaPassword1"),
        ("clusters.0.tls.cert_file", &format!("{d}/cert.pem")),
        ("clusters.0.tls.key_file", &format!("{d}/key.pem")),
        ("clusters.0.tls.verify", "false"),
        ("clusters.1.name", "kafka-cluster-2"),
        ("clusters.1.brokers.0", "broker3:9092"),
        ("clusters.1.brokers.1", "broker4:9092"),
        ("clusters.1.request_timeout", "40s"),
        ("clusters.1.groups.allow.0", "important.*"),
        ("clusters.1.groups.deny.0", "test2.*"),
        ("remote_write.url", "https://remote-prometheus-server.com/"),
        ("remote_write.headers.X-Custom-Header", "myCustomHeaderValue"),
        ("remote_write.timeout", "30s"),
        ("remote_write.bearer_token", "myBearerToken"),
        ("remote_write.tls.ca_file", &format!("{d}/ca_cert.pem")),
        ("remote_write.tls.cert_file", &format!("{d}/cert.pem")),
        ("remote_write.tls.key_file", &format!("{d}/key.pem")),
        ("remote_write.tls.insecure_skip_verify", "true"),
        ("redis.url", "rediss://redis-server:6379"),
        ("redis.username", "redisUser"),
        ("redis.password", "redisPassword"),
        ("redis.tls.insecure_skip_verify", "true"),
        ("redis.command_timeout", "60s"),
    ];
    for (path, want) in expected {
        assert_eq!(s(&v, path), want, "{path} in:\n{yaml}");
    }
    // Disabled SSL/SASL and the losing basic auth are not carried over.
    assert!(get(&v, "clusters.1.tls").is_null(), "{yaml}");
    assert!(get(&v, "clusters.1.sasl").is_null(), "{yaml}");
    assert!(get(&v, "remote_write.basic_auth").is_null(), "{yaml}");

    let lines: Vec<&str> = notes.lines().collect();
    for key in [
        "app.num_workers",
        "app.health_check_port",
        "app.health_check_path",
        "prometheus_remote_write.basic_auth",
        "kafka_clusters[0].metadata_fetch_timeout",
        "kafka_clusters[1].metadata_fetch_timeout",
        "storage.redis.client_idle_timeout",
        "storage.redis.retention_ttl_seconds",
    ] {
        let prefix = format!("{key}: no equivalent in lagring: ");
        assert!(lines.iter().any(|l| l.starts_with(&prefix) && l.len() > prefix.len()), "{key} not named in:\n{notes}");
    }
    assert_eq!(lines.len(), 8, "{notes}");
}

#[test]
fn unknown_keys_are_named_and_dollars_survive_validation() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("config.yaml");
    let config = "kafka_clusters:\n  - name: c\n    brokers: ['b:9092']\n    sasl: { enabled: true, mechanism: PLAIN, user: u, password: 'pa$$w${X}' }\n    \
                  partitions_filter: x\n    ssl: { enabled: true, ca_cert_file: '', verify_depth: 3 }\nprometheus_remote_write: { enabled: false, url: 'http://x' }\n\
                  apps: { interval: 1s }\n";
    std::fs::write(&input, config).unwrap();
    let (code, yaml, notes) = lagring(&["migrate", "kafka-lag-go"], &input);
    assert_eq!(code, Some(0), "{notes}");
    let unknown = ": no equivalent in lagring: not a kafka-lag-go key";
    assert!(notes.contains(&format!("kafka_clusters[0].partitions_filter{unknown}")), "{notes}");
    assert!(notes.contains(&format!("kafka_clusters[0].ssl.verify_depth{unknown}")), "{notes}");
    assert!(notes.contains(&format!("apps{unknown}")), "{notes}");
    let v: Value = serde_norway::from_str(&yaml).unwrap();
    assert!(get(&v, "remote_write").is_null(), "disabled remote write is not migrated:\n{yaml}");
    // `$` is escaped, so lagring's ${VAR} substitution gives the password back.
    assert_eq!(s(&v, "clusters.0.sasl.password"), "pa$$$$w$${X}");
    let converted = dir.path().join("lagring.yaml");
    std::fs::write(&converted, &yaml).unwrap();
    let (code, _, err) = lagring(&["validate", "--config"], &converted);
    assert_eq!(code, Some(0), "{err}\n{yaml}");
}
