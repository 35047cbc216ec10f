use std::time::Duration;

use super::*;

const FULL: &str = r#"
node:
  id: lagring-0
  interval: 15s
  heartbeat_interval: 1s
  node_ttl: 5s
clusters:
  - name: prod
    brokers: ["k1:9092", "k2:9092"]
    sasl: { mechanism: SCRAM-SHA-512, username: mon, password: s3cret }
    isolation: read_committed
    groups: { allow: ["^pay"], deny: ["-canary$"] }
    properties: { socket.keepalive.enable: true, fetch.wait.max.ms: 100 }
  - name: dev
    brokers: ["localhost:9092"]
prometheus:
  cluster_label: cluster
  extra_labels: { env: prod }
http:
  listen: 127.0.0.1:9200
"#;

#[test]
fn full_config_parses_with_exact_values() {
    let cfg = parse(FULL).unwrap();
    assert_eq!(cfg.node_id(), "lagring-0");
    assert_eq!(cfg.node.interval, Duration::from_secs(15));
    assert_eq!(cfg.iteration_timeout(), Duration::from_secs(15));
    assert_eq!(cfg.clusters.len(), 2);
    let conn = cfg.clusters[0].kafka_connection();
    assert_eq!(conn.bootstrap_servers, "k1:9092,k2:9092");
    assert_eq!(conn.isolation, lagring_kafka::Isolation::ReadCommitted);
    assert_eq!(conn.extra_properties.get("socket.keepalive.enable").map(String::as_str), Some("true"));
    assert_eq!(conn.extra_properties.get("fetch.wait.max.ms").map(String::as_str), Some("100"));
    assert_eq!(cfg.clusters[1].request_timeout, Duration::from_secs(10));
    assert_eq!(cfg.prometheus.cluster_label, "cluster");
    assert_eq!(cfg.http.listen.to_string(), "127.0.0.1:9200");
    assert!(cfg.redis.is_none());
    assert!(cfg.remote_write.is_none());
}

#[test]
fn defaults_apply_to_a_minimal_config() {
    let cfg = parse("clusters: [{ name: a, brokers: ['b:1'] }]").unwrap();
    assert_eq!(cfg.node.interval, Duration::from_secs(30));
    assert_eq!(cfg.node.node_ttl, Duration::from_secs(10));
    assert_eq!(cfg.node.heartbeat_interval, Duration::from_secs(2));
    assert_eq!(cfg.node.virtual_nodes, 128);
    assert_eq!(cfg.prometheus.cluster_label, "clustername");
    assert_eq!(cfg.http.listen.to_string(), "0.0.0.0:9100");
}

#[test]
fn all_problems_are_reported_at_once_with_paths() {
    let err = parse("node: { interval: 0s }\nclusters: [{ name: a, brokers: [] }, { name: a, brokers: ['x'] }]")
        .unwrap_err()
        .to_string();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        vec![
            "node.interval: must be greater than 0",
            "clusters[0].brokers: at least one broker is required",
            "clusters[1].name: duplicate cluster name \"a\"",
            "clusters[1].brokers[0]: expected host:port, got \"x\"",
        ]
    );
}
