use std::collections::BTreeMap;

use lagring_kafka::{ClientSecret, OAuthBearer, OidcClientCredentials, SaslMechanism};

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
fn the_oidc_keys_map_to_librdkafkas_properties() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let sasl = format!(
        "{{ mechanism: OAUTHBEARER, oauthbearer: {{ token_endpoint_url: 'https://idp/token', client_id: c, \
         client_secret_file: '{}', scope: 'kafka openid' }} }}",
        secret.display()
    );
    // The mapping for a librdkafka built with libcurl (the bundled one is not: validation
    // refuses `client: librdkafka` with OAUTHBEARER).
    let cfg = parse(&cluster("native", &sasl)).unwrap();
    let props = lagring_kafka::client_properties(&cfg.clusters[0].kafka_connection());
    let get = |k: &str| props.get(k).map(String::as_str);
    assert_eq!(get("security.protocol"), Some("sasl_ssl"));
    assert_eq!(get("sasl.mechanisms"), Some("OAUTHBEARER"));
    assert_eq!(get("sasl.oauthbearer.method"), Some("oidc"));
    assert_eq!(get("sasl.oauthbearer.token.endpoint.url"), Some("https://idp/token"));
    assert_eq!(get("sasl.oauthbearer.client.id"), Some("c"));
    assert_eq!(get("sasl.oauthbearer.client.secret"), Some("s3cret"));
    assert_eq!(get("sasl.oauthbearer.scope"), Some("kafka openid"));
    assert_eq!(get("sasl.username"), None);
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
            "librdkafka, and reserved form parameters",
            cluster("librdkafka", "{ mechanism: OAUTHBEARER, oauthbearer: { token_endpoint_url: 'https://i/t', client_id: c, client_secret_env: PATH, extra_params: { grant_type: x } } }"),
            &[
                "clusters[0].sasl.oauthbearer.extra_params.grant_type: set by lagring itself",
                "clusters[0].sasl.oauthbearer: needs client: native (the bundled librdkafka is built without libcurl, which its OIDC login needs)",
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
    }
}
