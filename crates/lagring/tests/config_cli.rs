//! `lagring validate` on malformed and invalid configs: every case exits with
//! code 2, names the offending key (or line) and never panics.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::process::Command;

const OK_CLUSTER: &str = "clusters: [{ name: a, brokers: ['127.0.0.1:9092'] }]\n";

fn validate(yaml: &str, env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lagring.yaml");
    std::fs::write(&path, yaml).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lagring"));
    cmd.arg("validate").arg("--config").arg(&path).env_remove("LAGRING_TEST_UNSET");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn invalid_configs_exit_2_and_name_the_key() {
    let cases: &[(&str, String, &str)] = &[
        ("unknown top-level key", format!("{OK_CLUSTER}clusterz: []\n"), "unknown field `clusterz`"),
        (
            "unknown nested key",
            "clusters: [{ name: a, brokers: ['h:1'], brokerz: [] }]\n".into(),
            "clusters[0]: unknown field `brokerz`",
        ),
        (
            "unknown SASL mechanism",
            "clusters:\n  - { name: a, brokers: ['h:1'] }\n  - name: b\n    brokers: ['h:1']\n    sasl: { mechanism: SCRAM-SHA-1, username: u, password: p }\n".into(),
            "clusters[1].sasl.mechanism: unknown variant `SCRAM-SHA-1`",
        ),
        ("bad duration", format!("node: {{ interval: 10 parsecs }}\n{OK_CLUSTER}"), "node.interval: "),
        ("missing clusters", "node: { interval: 10s }\n".into(), "missing field `clusters`"),
        ("no clusters", "clusters: []\n".into(), "clusters: at least one cluster is required"),
        (
            "bad group regex",
            "clusters: [{ name: a, brokers: ['h:1'], groups: { deny: ['(unclosed'] } }]\n".into(),
            "clusters[0].groups.deny[0]: invalid regex \"(unclosed\"",
        ),
        (
            "broker without port",
            "clusters: [{ name: a, brokers: ['kafka'] }]\n".into(),
            "clusters[0].brokers[0]: expected host:port, got \"kafka\"",
        ),
        (
            "unset environment variable",
            "clusters: [{ name: a, brokers: ['${LAGRING_TEST_UNSET}'] }]\n".into(),
            "line 1: environment variable LAGRING_TEST_UNSET is not set",
        ),
        (
            "heartbeat not shorter than ttl",
            format!("node: {{ heartbeat_interval: 10s, node_ttl: 5s }}\n{OK_CLUSTER}"),
            "node.node_ttl: must be longer than node.heartbeat_interval",
        ),
        (
            "missing TLS CA file",
            "clusters: [{ name: a, brokers: ['h:1'], tls: { ca_file: /nonexistent/ca.pem } }]\n".into(),
            "clusters[0].tls.ca_file: file not found: /nonexistent/ca.pem",
        ),
        (
            "unknown isolation level",
            "clusters: [{ name: a, brokers: ['h:1'], isolation: read_dirty }]\n".into(),
            "clusters[0].isolation: unknown variant `read_dirty`",
        ),
        ("bad listen address", format!("{OK_CLUSTER}http: {{ listen: 'localhost' }}\n"), "http.listen: "),
        (
            "duplicate cluster names",
            "clusters: [{ name: a, brokers: ['h:1'] }, { name: a, brokers: ['h:2'] }]\n".into(),
            "clusters[1].name: duplicate cluster name \"a\"",
        ),
        (
            "reserved label name",
            format!("{OK_CLUSTER}prometheus: {{ cluster_label: topic }}\n"),
            "prometheus.cluster_label: \"topic\" is not a usable label name",
        ),
        ("remote write url", format!("{OK_CLUSTER}remote_write: {{ url: 'not a url' }}\n"), "remote_write.url"),
        ("not yaml", "clusters: [ {name: a\n".into(), "line"),
        (
            "wrong type",
            "clusters: [{ name: a, brokers: 'h:1' }]\n".into(),
            "clusters[0].brokers: invalid type: string \"h:1\", expected a sequence",
        ),
    ];
    assert!(cases.len() >= 10);
    for (what, yaml, expected) in cases {
        let (code, _stdout, stderr) = validate(yaml, &[]);
        assert_eq!(code, Some(2), "{what}: exit code, stderr:\n{stderr}");
        assert!(stderr.contains(expected), "{what}: expected {expected:?} in stderr:\n{stderr}");
        assert!(!stderr.contains("panicked"), "{what}: panicked:\n{stderr}");
    }
}

#[test]
fn missing_file_is_a_config_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_lagring"))
        .args(["validate", "--config", "/nonexistent/lagring.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read config file /nonexistent/lagring.yaml"));
}

#[test]
fn valid_config_with_substitution_passes() {
    let (code, stdout, stderr) =
        validate("node: { id: n1 }\nclusters: [{ name: a, brokers: ['${LAGRING_TEST_BROKER:-h:1}'] }]\n", &[]);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert_eq!(stdout.trim(), "config ok: 1 cluster(s), node n1");
}

#[test]
fn oauthbearer_keys_pass_and_a_mistake_names_its_key_path() {
    let oidc = "clusters:\n  - name: a\n    brokers: ['h:1']\n    tls: {}\n    sasl:\n      mechanism: OAUTHBEARER\n      \
                oauthbearer:\n        token_endpoint_url: https://idp.example/token\n        client_id: lagring\n        \
                client_secret_env: LAGRING_TEST_OIDC_SECRET\n        scope: kafka\n        audience: kafka-prod\n        \
                extra_params: { resource: 'urn:kafka' }\n";
    let (code, stdout, stderr) = validate(oidc, &[("LAGRING_TEST_OIDC_SECRET", "MARK-oidc-secret")]);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert!(stdout.starts_with("config ok: 1 cluster(s)"), "{stdout}");
    assert!(!stdout.contains("MARK") && !stderr.contains("MARK"), "{stdout}{stderr}");

    let typo = oidc.replace("client_secret_env", "client_secret_envv");
    let (code, _, stderr) = validate(&typo, &[("LAGRING_TEST_OIDC_SECRET", "x")]);
    assert_eq!(code, Some(2), "stderr: {stderr}");
    assert!(stderr.contains("clusters[0].sasl.oauthbearer.client_secret_envv: "), "{stderr}");
    assert!(stderr.contains("unknown field `client_secret_envv`"), "{stderr}");

    let (code, _, stderr) = validate(oidc, &[]);
    assert_eq!(code, Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("clusters[0].sasl.oauthbearer.client_secret_env: variable LAGRING_TEST_OIDC_SECRET is not set"),
        "{stderr}"
    );
}
