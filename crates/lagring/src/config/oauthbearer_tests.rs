use std::collections::BTreeMap;

use lagring_kafka::{ClientSecret, OAuthBearer, OidcClientCredentials, SaslMechanism};

use super::OAuthBearerConfig;
use crate::config::model::ClientChoice;
use crate::config::parse;

/// A cluster with `sasl` (YAML flow mapping) and the client `client`.
fn cluster(client: &str, sasl: &str) -> String {
    format!("clusters: [{{ name: a, client: {client}, brokers: ['k:9092'], tls: {{}}, sasl: {sasl} }}]")
}

#[test]
fn oidc_keys_map_to_client_credentials_and_debug_shows_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "MARK-client-secret\n").unwrap();
    let sasl = format!(
        "{{ mechanism: OAUTHBEARER, oauthbearer: {{ token_endpoint_url: 'https://idp.example/token', \
         client_id: lagring, client_secret_file: '{}', scope: kafka, audience: kafka-prod, \
         extra_params: {{ resource: MARK-tenant }} }} }}",
        secret.display()
    );
    let cfg = parse(&cluster("native", &sasl)).unwrap();
    let conn = cfg.clusters[0].kafka_connection();
    let sasl = conn.sasl.as_ref().unwrap();
    assert_eq!(sasl.mechanism, SaslMechanism::OAuthBearer);
    assert_eq!(
        sasl.oauthbearer,
        Some(OAuthBearer::Oidc(OidcClientCredentials {
            token_endpoint_url: "https://idp.example/token".to_owned(),
            client_id: "lagring".to_owned(),
            client_secret: ClientSecret::File(secret.clone()),
            scope: Some("kafka".to_owned()),
            audience: Some("kafka-prod".to_owned()),
            extra_params: BTreeMap::from([("resource".to_owned(), "MARK-tenant".to_owned())]),
        }))
    );
    for debug in [format!("{cfg:?}"), format!("{cfg:#?}"), format!("{conn:?}")] {
        assert!(!debug.contains("MARK"), "{debug}");
        assert!(debug.contains("client_secret_file") || debug.contains("File("), "{debug}");
    }
}

#[test]
fn librdkafka_takes_every_oidc_key_and_its_properties_hold_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "MARK-s3cret\n").unwrap();
    let sasl = format!(
        "{{ mechanism: OAUTHBEARER, oauthbearer: {{ token_endpoint_url: 'https://idp/token', client_id: c, \
         client_secret_file: '{}', scope: 'kafka openid', audience: kafka-prod, extra_params: {{ resource: r }} }} }}",
        secret.display()
    );
    // Every key is accepted with librdkafka: lagring fetches the tokens for both clients.
    let cfg = parse(&cluster("librdkafka", &sasl)).unwrap();
    let conn = cfg.clusters[0].kafka_connection();
    assert!(matches!(conn.sasl.as_ref().unwrap().oauthbearer, Some(OAuthBearer::Oidc(_))));
    let props = lagring_kafka::client_properties(&conn);
    let get = |k: &str| props.get(k).map(String::as_str);
    assert_eq!(get("security.protocol"), Some("sasl_ssl"));
    assert_eq!(get("sasl.mechanisms"), Some("OAUTHBEARER"));
    // No librdkafka token settings: librdkafka gets the tokens, never the secret.
    let oauth_keys: Vec<&String> = props.keys().filter(|k| k.contains("oauthbearer")).collect();
    assert!(oauth_keys.is_empty(), "{oauth_keys:?}");
    assert_eq!(get("sasl.username"), None);
    assert_eq!(get("sasl.password"), None);
    for text in [format!("{props:?}"), format!("{cfg:?}"), format!("{conn:?}")] {
        assert!(!text.contains("MARK"), "{text}");
    }
}

#[test]
fn a_token_file_is_accepted_with_librdkafka() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "a.b.c").unwrap();
    let sasl = format!("{{ mechanism: OAUTHBEARER, oauthbearer: {{ token_file: '{}' }} }}", token.display());
    let cfg = parse(&cluster("librdkafka", &sasl)).unwrap();
    assert_eq!(cfg.clusters[0].kafka_connection().sasl.unwrap().oauthbearer, Some(OAuthBearer::TokenFile(token)));
}

#[test]
fn a_librdkafka_without_oauthbearer_is_named() {
    let oauth = OAuthBearerConfig {
        token_endpoint_url: Some("https://idp/token".to_owned()),
        client_id: Some("c".to_owned()),
        client_secret_env: Some("PATH".to_owned()),
        ..OAuthBearerConfig::default()
    };
    let path = "clusters[0].sasl.oauthbearer";
    assert_eq!(oauth.problems(path, ClientChoice::Librdkafka, true), Vec::<String>::new());
    assert_eq!(oauth.problems(path, ClientChoice::Native, false), Vec::<String>::new());
    assert_eq!(
        oauth.problems(path, ClientChoice::Librdkafka, false),
        vec![
            "clusters[0].sasl.oauthbearer: needs client: native (the linked librdkafka is built without \
             OAUTHBEARER (its builtin.features lack sasl_oauthbearer))"
        ]
    );
}

#[test]
fn the_bundled_librdkafka_takes_oauthbearer_tokens() {
    assert!(lagring_kafka::librdkafka_has_oauthbearer());
}

#[test]
fn a_token_file_maps_to_the_native_token_source() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "a.b.c").unwrap();
    let sasl = format!("{{ mechanism: OAUTHBEARER, oauthbearer: {{ token_file: '{}' }} }}", token.display());
    let cfg = parse(&cluster("native", &sasl)).unwrap();
    let conn = cfg.clusters[0].kafka_connection();
    assert_eq!(conn.sasl.unwrap().oauthbearer, Some(OAuthBearer::TokenFile(token)));
}

#[test]
fn mistakes_name_their_key_path() {
    let cases: &[(&str, String, &[&str])] = &[
        (
            "a typo",
            cluster("native", "{ mechanism: OAUTHBEARER, oauthbearer: { token_endpoint_url: 'https://i/t', client_id: c, client_secret_fil: x } }"),
            &["clusters[0].sasl.oauthbearer.client_secret_fil: ", "unknown field `client_secret_fil`"],
        ),
        (
            "no token source",
            cluster("native", "{ mechanism: OAUTHBEARER }"),
            &["clusters[0].sasl.oauthbearer: required with mechanism OAUTHBEARER"],
        ),
        (
            "both sources",
            cluster("native", "{ mechanism: OAUTHBEARER, oauthbearer: { token_endpoint_url: 'https://i/t', token_file: /t } }"),
            &["clusters[0].sasl.oauthbearer: give token_endpoint_url or token_file, not both"],
        ),
        (
            "oidc without client or secret",
            cluster("native", "{ mechanism: OAUTHBEARER, oauthbearer: { token_endpoint_url: 'idp/token' } }"),
            &[
                "clusters[0].sasl.oauthbearer.token_endpoint_url: expected an http:// or https:// url, got \"idp/token\"",
                "clusters[0].sasl.oauthbearer.client_id: required with token_endpoint_url",
                "clusters[0].sasl.oauthbearer: client_secret_file or client_secret_env is required",
            ],
        ),
        (
            "a missing secret file and an unset variable",
            "clusters:\n  - { name: a, brokers: ['k:1'], sasl: { mechanism: OAUTHBEARER, oauthbearer: { token_endpoint_url: 'https://i/t', client_id: c, client_secret_file: /nonexistent/secret } } }\n  - { name: b, brokers: ['k:1'], sasl: { mechanism: OAUTHBEARER, oauthbearer: { token_endpoint_url: 'https://i/t', client_id: c, client_secret_env: LAGRING_TEST_NO_SUCH_SECRET } } }".to_owned(),
            &[
                "clusters[0].sasl.oauthbearer.client_secret_file: file not found: /nonexistent/secret",
                "clusters[1].sasl.oauthbearer.client_secret_env: variable LAGRING_TEST_NO_SUCH_SECRET is not set",
            ],
        ),
        (
            "reserved form parameters",
            cluster("librdkafka", "{ mechanism: OAUTHBEARER, oauthbearer: { token_endpoint_url: 'https://i/t', client_id: c, client_secret_env: PATH, extra_params: { grant_type: x } } }"),
            &["clusters[0].sasl.oauthbearer.extra_params.grant_type: set by lagring itself"],
        ),
        (
            "librdkafka's own token settings, and a probe",
            "clusters:\n  - { name: a, client: librdkafka, brokers: ['k:1'], probe: {}, properties: { sasl.oauthbearer.method: oidc, enable.sasl.oauthbearer.unsecure.jwt: true, sasl.kerberos.service.name: k }, sasl: { mechanism: OAUTHBEARER, oauthbearer: { token_endpoint_url: 'https://i/t', client_id: c, client_secret_env: PATH } } }".to_owned(),
            &[
                "clusters[0].properties.enable.sasl.oauthbearer.unsecure.jwt: not with OAUTHBEARER: lagring fetches the tokens and hands them to librdkafka (see sasl.oauthbearer)",
                "clusters[0].properties.sasl.oauthbearer.method: not with OAUTHBEARER: lagring fetches the tokens and hands them to librdkafka (see sasl.oauthbearer)",
                "clusters[0].probe: not with OAUTHBEARER yet (the probe's librdkafka producer and consumer get no tokens)",
            ],
        ),
        (
            "password keys with OAUTHBEARER, oauthbearer with SCRAM",
            "clusters:\n  - { name: a, brokers: ['k:1'], sasl: { mechanism: OAUTHBEARER, username: u, oauthbearer: { token_file: /nonexistent } } }\n  - { name: b, brokers: ['k:1'], sasl: { mechanism: SCRAM-SHA-512, username: u, oauthbearer: { token_file: /t } } }".to_owned(),
            &[
                "clusters[0].sasl: username and password are not used with OAUTHBEARER (see oauthbearer)",
                "clusters[0].sasl.oauthbearer.token_file: file not found: /nonexistent",
                "clusters[1].sasl.password: required with mechanism PLAIN or SCRAM",
                "clusters[1].sasl.oauthbearer: only with mechanism OAUTHBEARER",
            ],
        ),
    ];
    for (what, yaml, want) in cases {
        let err = parse(yaml).unwrap_err().to_string();
        for line in *want {
            assert!(err.contains(line), "{what}: {line:?} not in\n{err}");
        }
        assert!(!err.contains("needs client: native"), "{what}: librdkafka refused:\n{err}");
        assert!(!err.contains("sasl.kerberos"), "{what}: an unrelated property named:\n{err}");
    }
}
