//! TLS and SASL against the in-process simulator. librdkafka logs in first, so the simulator's
//! SASL and TLS listener are checked against a client that real brokers accept; then the
//! native client: a custom CA with verification on, mTLS, SASL PLAIN and both SCRAM variants,
//! a wrong password (a clear error, other clients unaffected), a wrong CA (fails closed) and a
//! missing client certificate.

// Test code: a panic with a message is the failure report.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use lagring_kafka::{ClientKind, KafkaClient, KafkaConnection, NativeOptions, Sasl, SaslMechanism, Tls};
use lagring_sim::scenario::security::{SecurityConfig, ServerSaslConfig, ServerTlsConfig};
use lagring_sim::{Clock, Scenario, Sim, SimHandle};
use lagring_testkit::certs::{TestCertificates, make_certificates};
use support::reads_everything;

const USER: &str = "alice";
const PASSWORD: &str = "correct horse battery staple";
const MECHANISMS: [SaslMechanism; 3] = [SaslMechanism::Plain, SaslMechanism::ScramSha256, SaslMechanism::ScramSha512];

struct Secured {
    sim: SimHandle,
    certs: TestCertificates,
    _dir: tempfile::TempDir,
}

/// A 2-broker simulator with 3 groups, its listeners secured by `security(certs)`.
async fn start(security: impl FnOnce(&TestCertificates) -> SecurityConfig) -> Secured {
    let dir = tempfile::tempdir().unwrap();
    let certs = make_certificates(dir.path()).unwrap();
    let yaml = "seed: 5\nbrokers: 2\ntopics: [ { name: t, partitions: 3, initial_messages: 100 } ]\n\
                groups: [ { name: g0, topics: [t] }, { name: g1, topics: [t] }, { name: g2, topics: [t] } ]";
    let mut scenario = Scenario::from_yaml(yaml).unwrap();
    scenario.security = security(&certs);
    let (clock, _manual) = Clock::manual();
    let sim = Sim::start(scenario, clock).await.unwrap();
    Secured { sim, certs, _dir: dir }
}

fn server_tls(certs: &TestCertificates, client_ca: bool) -> Option<ServerTlsConfig> {
    Some(ServerTlsConfig {
        cert_file: certs.server_cert.clone(),
        key_file: certs.server_key.clone(),
        client_ca_file: client_ca.then(|| certs.ca.clone()),
    })
}

fn every_mechanism() -> Option<ServerSaslConfig> {
    Some(ServerSaslConfig {
        mechanisms: MECHANISMS.iter().map(|m| m.as_librdkafka().to_owned()).collect(),
        users: BTreeMap::from([(USER.to_owned(), PASSWORD.to_owned()), ("bob".to_owned(), "other".to_owned())]),
        ..ServerSaslConfig::default()
    })
}

fn sasl(mechanism: SaslMechanism, password: &str) -> Option<Sasl> {
    Some(Sasl::password(mechanism, USER, password))
}

fn tls_with_ca(ca: &std::path::Path) -> Option<Tls> {
    Some(Tls { ca_file: Some(ca.to_path_buf()), ..Tls::default() })
}

fn client(sim: &SimHandle, kind: ClientKind, tls: Option<Tls>, sasl: Option<Sasl>) -> KafkaClient {
    let mut conn = KafkaConnection::plaintext(sim.bootstrap());
    conn.tls = tls;
    conn.sasl = sasl;
    conn.request_timeout = Duration::from_secs(5);
    KafkaClient::new("secured", &conn, kind).unwrap()
}

fn native() -> ClientKind {
    ClientKind::Native(NativeOptions::default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_logs_in_to_the_simulator_with_every_mechanism_over_tls() {
    let s = start(|c| SecurityConfig { tls: server_tls(c, false), sasl: every_mechanism() }).await;
    for mechanism in MECHANISMS {
        let rdkafka = client(&s.sim, ClientKind::Librdkafka, tls_with_ca(&s.certs.ca), sasl(mechanism, PASSWORD));
        reads_everything(&s.sim, &rdkafka).await.unwrap_or_else(|e| panic!("librdkafka {mechanism:?}: {e}"));
    }
    let wrong = client(&s.sim, ClientKind::Librdkafka, tls_with_ca(&s.certs.ca), sasl(SaslMechanism::ScramSha512, "x"));
    assert!(wrong.list_groups().await.is_err(), "librdkafka logged in with a wrong password");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_client_over_tls_with_a_custom_ca_and_every_sasl_mechanism() {
    let s = start(|c| SecurityConfig { tls: server_tls(c, false), sasl: every_mechanism() }).await;
    for mechanism in MECHANISMS {
        let ours = client(&s.sim, native(), tls_with_ca(&s.certs.ca), sasl(mechanism, PASSWORD));
        reads_everything(&s.sim, &ours).await.unwrap_or_else(|e| panic!("native {mechanism:?}: {e}"));
    }
    let sasl_requests = s.sim.request_counts().api("SaslAuthenticate");
    // Two brokers per client; PLAIN takes one SaslAuthenticate, SCRAM two.
    assert_eq!(sasl_requests, 2 + 2 * 2 + 2 * 2);

    // A wrong password: a clear reason, and a client with the right one is unaffected.
    let wrong = client(&s.sim, native(), tls_with_ca(&s.certs.ca), sasl(SaslMechanism::ScramSha512, "wrong"));
    let right = client(&s.sim, native(), tls_with_ca(&s.certs.ca), sasl(SaslMechanism::ScramSha512, PASSWORD));
    let (denied, fine) = tokio::join!(wrong.list_groups(), reads_everything(&s.sim, &right));
    fine.unwrap();
    let denied = denied.unwrap_err().to_string();
    assert!(
        denied.contains(
            "list groups request failed: sasl SCRAM-SHA-512 authentication as \"alice\" failed: \
             broker: SaslAuthenticationFailed: Authentication failed: invalid credentials (code -169)"
        ),
        "{denied}"
    );
    // Later calls keep saying why while the broker is in backoff.
    let again = wrong.list_groups().await.unwrap_err().to_string();
    assert!(again.contains("authentication as \"alice\" failed"), "{again}");

    // A mechanism the broker does not enable for this user fails at the password, an unknown
    // user too; neither reads anything.
    let unknown = KafkaClient::new(
        "secured",
        &KafkaConnection {
            sasl: Some(Sasl::password(SaslMechanism::Plain, "mallory", "x")),
            tls: tls_with_ca(&s.certs.ca),
            request_timeout: Duration::from_secs(5),
            ..KafkaConnection::plaintext(s.sim.bootstrap())
        },
        native(),
    )
    .unwrap();
    let err = unknown.list_groups().await.unwrap_err().to_string();
    assert!(err.contains("sasl PLAIN authentication as \"mallory\" failed"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_fails_closed_unless_verification_is_off() {
    let s = start(|c| SecurityConfig { tls: server_tls(c, false), sasl: None }).await;
    let wrong_ca = client(&s.sim, native(), tls_with_ca(&s.certs.other_ca), None);
    let err = wrong_ca.list_groups().await.unwrap_err().to_string();
    assert!(err.contains("tls handshake failed: invalid peer certificate: UnknownIssuer"), "{err}");
    assert_eq!(s.sim.request_counts().api("ApiVersions"), 0, "no request may cross an unverified connection");

    let unverified = Tls { ca_file: Some(s.certs.other_ca.clone()), verify: false, ..Tls::default() };
    reads_everything(&s.sim, &client(&s.sim, native(), Some(unverified), None)).await.unwrap();
    // Plaintext to a TLS listener is no Kafka conversation at all.
    let plaintext = client(&s.sim, native(), None, None);
    assert!(plaintext.list_groups().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_needs_the_client_certificate() {
    let s = start(|c| SecurityConfig { tls: server_tls(c, true), sasl: None }).await;
    let with_cert = Tls {
        ca_file: Some(s.certs.ca.clone()),
        cert_file: Some(s.certs.client_cert.clone()),
        key_file: Some(s.certs.client_key.clone()),
        ..Tls::default()
    };
    reads_everything(&s.sim, &client(&s.sim, native(), Some(with_cert.clone()), None)).await.unwrap();
    let rdkafka = client(&s.sim, ClientKind::Librdkafka, Some(with_cert), None);
    reads_everything(&s.sim, &rdkafka).await.unwrap();
    let served = s.sim.request_counts().api("ApiVersions");

    let without = client(&s.sim, native(), tls_with_ca(&s.certs.ca), None);
    assert!(without.list_groups().await.is_err());
    assert_eq!(s.sim.request_counts().api("ApiVersions"), served, "a client without a certificate was served");
}
