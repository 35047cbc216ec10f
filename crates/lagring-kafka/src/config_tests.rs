use super::*;

fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn base() -> KafkaConnection {
    KafkaConnection::plaintext("b1:9092,b2:9092")
}

fn sasl(mechanism: SaslMechanism) -> Sasl {
    Sasl::password(mechanism, "alice", "s3cret")
}

/// `socket.timeout.ms` is half the 30 s default request timeout.
const PLAIN_BASE: &[(&str, &str)] = &[
    ("bootstrap.servers", "b1:9092,b2:9092"),
    ("client.id", "lagring"),
    ("isolation.level", "read_uncommitted"),
    ("socket.timeout.ms", "15000"),
];

#[test]
fn plaintext_defaults() {
    let mut want = props(PLAIN_BASE);
    want.insert("security.protocol".into(), "plaintext".into());
    assert_eq!(client_properties(&base()), want);
}

#[test]
fn read_committed_isolation() {
    let conn = KafkaConnection { isolation: Isolation::ReadCommitted, ..base() };
    let got = client_properties(&conn);
    assert_eq!(got.get("isolation.level").map(String::as_str), Some("read_committed"));
    assert_eq!(got.len(), 5);
}

#[test]
fn sockets_time_out_before_admin_requests() {
    assert_eq!(socket_timeout_ms(std::time::Duration::from_secs(10)), 5_000);
    assert_eq!(socket_timeout_ms(std::time::Duration::from_millis(4)), 10, "librdkafka's minimum");
    assert_eq!(socket_timeout_ms(std::time::Duration::from_secs(3_600)), 300_000, "librdkafka's maximum");
}

#[test]
fn every_sasl_mechanism_without_tls() {
    for (mechanism, name) in [
        (SaslMechanism::Plain, "PLAIN"),
        (SaslMechanism::ScramSha256, "SCRAM-SHA-256"),
        (SaslMechanism::ScramSha512, "SCRAM-SHA-512"),
    ] {
        let conn = KafkaConnection { sasl: Some(sasl(mechanism)), ..base() };
        let mut want = props(PLAIN_BASE);
        want.extend(props(&[
            ("security.protocol", "sasl_plaintext"),
            ("sasl.mechanisms", name),
            ("sasl.username", "alice"),
            ("sasl.password", "s3cret"),
        ]));
        assert_eq!(client_properties(&conn), want, "mechanism {name}");
    }
}

#[test]
fn tls_verified_with_all_files() {
    let tls = Tls {
        ca_file: Some("/etc/ca.pem".into()),
        cert_file: Some("/etc/client.pem".into()),
        key_file: Some("/etc/client.key".into()),
        key_password: Some("kp".into()),
        verify: true,
    };
    let conn = KafkaConnection { tls: Some(tls), ..base() };
    let mut want = props(PLAIN_BASE);
    want.extend(props(&[
        ("security.protocol", "ssl"),
        ("ssl.ca.location", "/etc/ca.pem"),
        ("ssl.certificate.location", "/etc/client.pem"),
        ("ssl.key.location", "/etc/client.key"),
        ("ssl.key.password", "kp"),
        ("enable.ssl.certificate.verification", "true"),
        ("ssl.endpoint.identification.algorithm", "https"),
    ]));
    assert_eq!(client_properties(&conn), want);
}

#[test]
fn tls_default_verifies_and_sets_no_files() {
    let conn = KafkaConnection { tls: Some(Tls::default()), ..base() };
    let mut want = props(PLAIN_BASE);
    want.extend(props(&[
        ("security.protocol", "ssl"),
        ("enable.ssl.certificate.verification", "true"),
        ("ssl.endpoint.identification.algorithm", "https"),
    ]));
    assert_eq!(client_properties(&conn), want);
}

#[test]
fn tls_verify_false_disables_verification_and_hostname_check() {
    let conn = KafkaConnection { tls: Some(Tls { verify: false, ..Tls::default() }), ..base() };
    let mut want = props(PLAIN_BASE);
    want.extend(props(&[
        ("security.protocol", "ssl"),
        ("enable.ssl.certificate.verification", "false"),
        ("ssl.endpoint.identification.algorithm", "none"),
    ]));
    assert_eq!(client_properties(&conn), want);
}

#[test]
fn sasl_over_tls() {
    let conn = KafkaConnection {
        sasl: Some(sasl(SaslMechanism::ScramSha512)),
        tls: Some(Tls { ca_file: Some("ca.pem".into()), ..Tls::default() }),
        ..base()
    };
    let mut want = props(PLAIN_BASE);
    want.extend(props(&[
        ("security.protocol", "sasl_ssl"),
        ("sasl.mechanisms", "SCRAM-SHA-512"),
        ("sasl.username", "alice"),
        ("sasl.password", "s3cret"),
        ("ssl.ca.location", "ca.pem"),
        ("enable.ssl.certificate.verification", "true"),
        ("ssl.endpoint.identification.algorithm", "https"),
    ]));
    assert_eq!(client_properties(&conn), want);
}

#[test]
fn extra_properties_override_and_add() {
    let conn = KafkaConnection {
        sasl: Some(sasl(SaslMechanism::Plain)),
        extra_properties: props(&[
            ("security.protocol", "sasl_ssl"),
            ("client.id", "lag-eu"),
            ("socket.keepalive.enable", "true"),
        ]),
        ..base()
    };
    let mut want = props(PLAIN_BASE);
    want.extend(props(&[
        ("client.id", "lag-eu"),
        ("security.protocol", "sasl_ssl"),
        ("sasl.mechanisms", "PLAIN"),
        ("sasl.username", "alice"),
        ("sasl.password", "s3cret"),
        ("socket.keepalive.enable", "true"),
    ]));
    assert_eq!(client_properties(&conn), want);
}

#[test]
fn debug_redacts_secrets() {
    let conn = KafkaConnection {
        sasl: Some(sasl(SaslMechanism::Plain)),
        tls: Some(Tls { key_password: Some("kp-secret".into()), ..Tls::default() }),
        ..base()
    };
    let shown = format!("{conn:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(!shown.contains("kp-secret"), "{shown}");
    assert!(shown.contains("alice"), "{shown}");
}

#[test]
fn debug_shows_extra_property_names_but_not_values() {
    let mut conn = KafkaConnection::plaintext("k:9092");
    conn.extra_properties.insert("ssl.key.password".into(), "hunter2".into());
    let text = format!("{conn:?}");
    assert!(text.contains("ssl.key.password"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn gssapi_maps_to_librdkafka_kerberos_properties_without_a_password() {
    let gssapi = Gssapi {
        service_name: None,
        principal: Some("lagring/host@EXAMPLE.COM".into()),
        keytab: Some(PathBuf::from("/etc/lagring.keytab")),
        kinit_cmd: None,
    };
    let conn = KafkaConnection {
        sasl: Some(Sasl { gssapi: Some(gssapi), ..Sasl::password(SaslMechanism::Gssapi, "", "") }),
        tls: Some(Tls::default()),
        ..base()
    };
    let props = client_properties(&conn);
    let pick = |k: &str| props.get(k).map(String::as_str);
    assert_eq!(pick("security.protocol"), Some("sasl_ssl"));
    assert_eq!(pick("sasl.mechanisms"), Some("GSSAPI"));
    assert_eq!(pick("sasl.kerberos.service.name"), Some("kafka"));
    assert_eq!(pick("sasl.kerberos.principal"), Some("lagring/host@EXAMPLE.COM"));
    assert_eq!(pick("sasl.kerberos.keytab"), Some("/etc/lagring.keytab"));
    assert_eq!(pick("sasl.kerberos.kinit.cmd"), None);
    assert_eq!((pick("sasl.username"), pick("sasl.password")), (None, None));
}

#[test]
fn gssapi_debug_shows_the_keytab_path_but_not_the_kinit_command() {
    let gssapi = Gssapi {
        principal: Some("lagring/host@EXAMPLE.COM".into()),
        keytab: Some(PathBuf::from("/etc/lagring.keytab")),
        kinit_cmd: Some("echo hunter2 | kinit lagring/host".into()),
        ..Gssapi::default()
    };
    let text = format!("{:?}", Sasl { gssapi: Some(gssapi), ..Sasl::password(SaslMechanism::Gssapi, "", "") });
    assert!(text.contains("/etc/lagring.keytab") && text.contains("kinit_cmd: Some(\"<redacted>\")"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}
