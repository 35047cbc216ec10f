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
  member_series: true
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
    assert!(cfg.prometheus.member_series);
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
    assert!(!cfg.prometheus.member_series, "the member series is opt-in");
    assert_eq!(cfg.http.listen.to_string(), "0.0.0.0:9100");
    assert!(cfg.http.burrow_api, "the Burrow read API is on by default");
    let off = parse("clusters: [{ name: a, brokers: ['b:1'] }]\nhttp: { burrow_api: false }").unwrap();
    assert!(!off.http.burrow_api);
}

#[test]
fn all_problems_are_reported_at_once_with_paths() {
    assert_eq!(
        problems("node: { interval: 0s }\nclusters: [{ name: a, brokers: [] }, { name: a, brokers: ['x'] }]"),
        vec![
            "node.interval: must be greater than 0",
            "clusters[0].brokers: at least one broker is required",
            "clusters[1].name: duplicate cluster name \"a\"",
            "clusters[1].brokers[0]: expected host:port, got \"x\"",
        ]
    );
}

#[test]
fn time_lag_section_parses_and_resolves() {
    let cfg = parse(
        "node: { interval: 2s }\nclusters: [{ name: a, brokers: ['b:1'] }]\n\
         time_lag:\n  end_history: { max_points: 200, max_age: 2h }\n  committed_history: { max_age: 15m }\n\
         \x20 rate_window: 1m\n  status_window: 15m\n",
    )
    .unwrap();
    let s = cfg.time_lag_settings().unwrap();
    assert_eq!((s.histories.end.max_points(), s.histories.end.max_age_ms()), (200, 7_200_000));
    // 15 min at 2 s needs 451 points; the default grows to hold them.
    assert_eq!((s.histories.committed.max_points(), s.histories.committed.max_age_ms()), (451, 900_000));
    assert_eq!((s.policy.rate_window_ms, s.policy.status.window_ms), (60_000, 900_000));
}

#[test]
fn time_lag_method_defaults_to_interpolation_and_takes_exact() {
    use crate::config::TimeLagMethod;
    let cfg = parse("clusters: [{ name: a, brokers: ['b:1'] }]\n").unwrap();
    assert_eq!(cfg.time_lag.method, TimeLagMethod::Interpolation);
    let cfg = parse("clusters: [{ name: a, brokers: ['b:1'] }]\ntime_lag: { method: exact }\n").unwrap();
    assert_eq!(cfg.time_lag.method, TimeLagMethod::Exact);
    let err = parse("clusters: [{ name: a, brokers: ['b:1'] }]\ntime_lag: { method: guess }\n").unwrap_err();
    assert!(err.to_string().starts_with("time_lag.method: unknown variant `guess`"), "{err}");
}

#[test]
fn time_lag_problems_name_their_keys() {
    assert_eq!(
        problems(
            "clusters: [{ name: a, brokers: ['b:1'] }]\n\
             time_lag: { status_window: 20s, committed_history: { max_age: 4m } }\n",
        ),
        vec![
            "time_lag.status_window: must be at least 2 × node.interval (60s), the rules compare observations",
            "time_lag.committed_history.max_age: must be at least time_lag.status_window and time_lag.rate_window",
        ]
    );
    let err = parse("clusters: [{ name: a, brokers: ['b:1'] }]\ntime_lag: { rate_windw: 1m }\n").unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("time_lag.rate_windw: ") && msg.contains("unknown field `rate_windw`"), "{msg}");
    let err =
        parse("clusters: [{ name: a, brokers: ['b:1'] }]\ntime_lag: { end_history: { max_age: soon } }\n").unwrap_err();
    assert!(err.to_string().starts_with("time_lag.end_history.max_age: "), "{err}");
}

#[test]
fn client_choice_defaults_to_native_and_native_takes_tls_and_sasl_but_not_librdkafka_properties() {
    let cfg = parse(
        "clusters: [{ name: a, brokers: ['k:9092'] }, { name: b, client: librdkafka, brokers: ['k:9092'] }, \
         { name: c, brokers: ['k:9092'], properties: { socket.keepalive.enable: true } }, \
         { name: d, brokers: ['k:9092'], tls: { key_password: x } }]",
    )
    .unwrap();
    assert_eq!(cfg.clusters[0].client_choice(), ClientChoice::Native);
    assert!(matches!(cfg.clusters[0].client_kind(), lagring_kafka::ClientKind::Native(_)));
    assert_eq!(cfg.clusters[1].client_choice(), ClientChoice::Librdkafka);
    assert!(matches!(cfg.clusters[1].client_kind(), lagring_kafka::ClientKind::Librdkafka));
    // Configurations written when librdkafka was the default keep it where only it can serve them.
    assert_eq!(cfg.clusters[2].client_choice(), ClientChoice::Librdkafka);
    assert_eq!(cfg.clusters[3].client_choice(), ClientChoice::Librdkafka);
    let cfg = parse(
        "clusters: [{ name: a, client: native, brokers: ['k:9092'], tls: {}, \
         sasl: { mechanism: SCRAM-SHA-512, username: u, password: p } }]",
    )
    .unwrap();
    assert!(cfg.clusters[0].tls.is_some() && cfg.clusters[0].sasl.is_some());
    assert_eq!(
        problems(
            "clusters: [{ name: a, client: native, brokers: ['k:9092'], tls: { key_password: s }, \
             properties: { a.b: 1 } }]",
        ),
        vec![
            "clusters[0].properties: librdkafka properties need client: librdkafka",
            "clusters[0].tls.key_password: encrypted keys need client: librdkafka (the native client reads unencrypted PEM keys)",
        ]
    );
    let err = parse("clusters: [{ name: a, client: java, brokers: ['k:9092'] }]").unwrap_err().to_string();
    assert!(err.contains("unknown variant `java`"), "{err}");
}

/// The problems `parse` reports for `text`, one per line.
fn problems(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => Vec::new(),
        Err(e) => e.to_string().lines().map(str::to_owned).collect(),
    }
}

/// Parses `text` after substituting `vars` (as `load` does with the environment).
fn parse_with_env(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    parse_substituted(&env_subst::substitute_map(text, &vars)?)
}

#[test]
fn debug_of_a_config_shows_no_secret() {
    let every_secret = r#"
clusters:
  - name: a
    brokers: ["k:9092"]
    sasl: { mechanism: SCRAM-SHA-512, username: u, password: MARK-sasl }
    tls: { key_password: MARK-tls-key }
    properties: { sasl.oauthbearer.client.secret: MARK-property }
redis:
  url: redis://user:MARK-redis-url@r:6379
  password: MARK-redis
remote_write:
  url: https://rw:MARK-rw-url@p/api/v1/write
  headers: { Authorization: MARK-header, X-Api-Key: MARK-api-key }
  basic_auth: { username: u, password: MARK-basic }
"#;
    let cfg = parse(every_secret).unwrap();
    assert_eq!(cfg.clusters[0].kafka_connection().sasl.unwrap().password, "MARK-sasl");
    assert_eq!(cfg.clusters[0].kafka_connection().tls.unwrap().key_password.as_deref(), Some("MARK-tls-key"));
    assert_eq!(cfg.redis.as_ref().unwrap().password.as_deref(), Some("MARK-redis"));
    for debug in [format!("{cfg:?}"), format!("{cfg:#?}")] {
        assert!(!debug.contains("MARK"), "{debug}");
        assert!(debug.contains("sasl.oauthbearer.client.secret") && debug.contains("X-Api-Key"), "{debug}");
    }
    let bearer =
        "clusters: [{ name: a, brokers: ['k:1'] }]\nremote_write: { url: https://p, bearer_token: MARK-bearer }\n";
    let cfg = parse(bearer).unwrap();
    assert!(!format!("{cfg:?}").contains("MARK"), "{cfg:?}");
    let sentinel = "clusters: [{ name: a, brokers: ['k:1'] }]\n\
                    redis: { mode: sentinel, nodes: ['redis://:MARK-node@s:26379'], \
                    sentinel: { master_name: m, password: MARK-sentinel } }\n";
    let cfg = parse(sentinel).unwrap();
    assert!(!format!("{cfg:?}").contains("MARK"), "{cfg:?}");
}

#[test]
fn substituted_passwords_arrive_byte_for_byte() {
    let password = r#"a #b"c\d"#;
    let text = r#"
node: { virtual_nodes: ${VNODES:-64} }
clusters:
  - name: flow
    brokers: ["${BROKER:-k:9092}"]
    sasl: { mechanism: PLAIN, username: u, password: ${PW} }
  - name: block
    brokers: [k:9092]
    sasl:
      mechanism: SCRAM-SHA-256
      username: u
      password: ${PW}
    tls: { key_password: "${PW}" }
redis:
  url: redis://r:6379
  password: '${PW}'
remote_write:
  url: http://p
  basic_auth: { username: u, password: "pre ${PW} post" }
"#;
    let cfg = parse_with_env(text, &[("PW", password)]).unwrap();
    assert_eq!(cfg.clusters[0].sasl.as_ref().unwrap().password.as_ref().unwrap().expose(), password);
    assert_eq!(cfg.clusters[1].sasl.as_ref().unwrap().password.as_ref().unwrap().expose(), password);
    assert_eq!(cfg.clusters[1].tls.as_ref().unwrap().key_password.as_ref().unwrap().expose(), password);
    assert_eq!(cfg.redis.as_ref().unwrap().password.as_deref(), Some(password));
    let basic = &cfg.remote_write.as_ref().unwrap().basic_auth.as_ref().unwrap().password;
    assert_eq!(basic.expose(), format!("pre {password} post"));
    // Defaults and plain words are pasted as before: numbers stay numbers.
    assert_eq!(cfg.node.virtual_nodes, 64);
    assert_eq!(cfg.clusters[0].brokers, vec!["k:9092".to_owned()]);
    let cfg = parse_with_env(text, &[("PW", "x"), ("VNODES", "32"), ("BROKER", "b:1")]).unwrap();
    assert_eq!((cfg.node.virtual_nodes, cfg.clusters[0].brokers[0].as_str()), (32, "b:1"));
    // Words YAML would read as null or another type stay the string they are.
    for word in ["null", "~", "true", "007", "1.50", "- x", "[a, b]", "{a: b}", "*alias", "!tag x", "'q'"] {
        let cfg = parse_with_env(text, &[("PW", word)]).unwrap();
        assert_eq!(cfg.redis.as_ref().unwrap().password.as_deref(), Some(word), "{word:?}");
        assert_eq!(cfg.clusters[0].sasl.as_ref().unwrap().password.as_ref().unwrap().expose(), word, "{word:?}");
    }
}

#[test]
fn substituted_values_do_not_hide_unknown_keys() {
    let text =
        "clusters:\n  - name: a\n    brokers: ['k:1']\n    sasl: { mechanism: PLAIN, username: u, passwrd: ${PW} }\n";
    let err = parse_with_env(text, &[("PW", "a #b")]).unwrap_err().to_string();
    assert!(err.starts_with("clusters[0].sasl.passwrd: ") && err.contains("unknown field `passwrd`"), "{err}");
    let err = parse_with_env("node: { id: ${ID} }\nclusters: []\n", &[]).unwrap_err().to_string();
    assert!(err.contains("environment variable ID is not set"), "{err}");
}

#[test]
fn secrets_sent_in_clear_text_are_warned_about_once_each() {
    let text = "clusters:\n\
                \x20 - { name: plain, brokers: ['k:1'], sasl: { mechanism: PLAIN, username: u, password: p } }\n\
                \x20 - { name: tls, brokers: ['k:1'], tls: {}, sasl: { mechanism: PLAIN, username: u, password: p } }\n\
                \x20 - { name: scram, brokers: ['k:1'], sasl: { mechanism: SCRAM-SHA-512, username: u, password: p } }\n\
                \x20 - { name: prop, brokers: ['k:1'], properties: { security.protocol: SASL_SSL }, \
                         sasl: { mechanism: PLAIN, username: u, password: p } }\n\
                redis: { url: 'redis://r:6379', password: p }\n\
                remote_write: { url: 'http://p', bearer_token: t }\n";
    let cfg = parse(text).unwrap();
    assert_eq!(
        plaintext_secrets(&cfg),
        vec![
            "clusters[0].sasl: mechanism PLAIN without tls sends the password in clear text (add tls: {} or use SCRAM)",
            "redis.password: sent in clear text to a redis:// address (use rediss://)",
            "remote_write.bearer_token: credentials sent in clear text to an http:// url (use https://)",
        ]
    );
    let cfg = parse("clusters: [{ name: a, brokers: ['k:1'] }]\nredis: { url: 'redis://:pw@r:6379' }\n").unwrap();
    assert_eq!(plaintext_secrets(&cfg), vec!["redis.url: sent in clear text to a redis:// address (use rediss://)"]);
    let safe = "clusters: [{ name: a, brokers: ['k:1'], tls: {}, sasl: { mechanism: PLAIN, username: u, password: p } }]\n\
                redis: { url: 'rediss://r:6380', password: p }\n\
                remote_write: { url: 'https://p', basic_auth: { username: u, password: p } }\n";
    assert_eq!(plaintext_secrets(&parse(safe).unwrap()), Vec::<String>::new());
    let no_secrets = "clusters: [{ name: a, brokers: ['k:1'] }]\nredis: { url: 'redis://r:6379' }\n\
                      remote_write: { url: 'http://p' }\n";
    assert_eq!(plaintext_secrets(&parse(no_secrets).unwrap()), Vec::<String>::new());
}
