//! Kerberos (SASL/GSSAPI) of the librdkafka client against the simulator's GSSAPI acceptor and a
//! real MIT KDC of the test's own (`lagring_testkit::kdc`; each test runs in a child process set
//! up for its realm): exact committed offsets read with a keytab; a keytab the KDC no longer
//! accepts and a principal the broker does not allow, each failing with its reason (Kerberos',
//! the broker's); tickets that expire every few seconds renewed from the
//! keytab with no failed call, while re-authentication (KIP-368) keeps needing fresh ones; and,
//! as the proof the renewal is needed, the same without renewal failing when the ticket expires.

// Test code: a panic with a message is the failure report.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use lagring_kafka::{ClientKind, Gssapi, KafkaClient, KafkaConnection, Sasl, SaslMechanism};
use lagring_sim::scenario::security::{SecurityConfig, ServerGssapiConfig, ServerSaslConfig};
use lagring_sim::{Clock, Scenario, Sim, SimHandle};
use lagring_testkit::kdc::{KdcOptions, Realm, in_own_realm};
use support::reads_everything;

/// The principal the simulated brokers allow.
const CLIENT: &str = "lagring/client@LAGRING.TEST";
/// A principal of the realm the brokers do not allow.
const STRANGER: &str = "stranger/client@LAGRING.TEST";

/// A 2-broker simulator with 3 groups that lets [`CLIENT`] log in with GSSAPI.
async fn start(session_lifetime: Option<Duration>) -> SimHandle {
    let yaml = "seed: 11\nbrokers: 2\ntopics: [ { name: t, partitions: 3, initial_messages: 100 } ]\n\
                groups: [ { name: g0, topics: [t] }, { name: g1, topics: [t] }, { name: g2, topics: [t] } ]";
    let mut scenario = Scenario::from_yaml(yaml).unwrap();
    scenario.security = SecurityConfig {
        tls: None,
        sasl: Some(ServerSaslConfig {
            mechanisms: vec!["GSSAPI".to_owned()],
            gssapi: Some(ServerGssapiConfig { principals: vec![CLIENT.to_owned()] }),
            session_lifetime,
            ..ServerSaslConfig::default()
        }),
    };
    let (clock, _manual) = Clock::manual();
    Sim::start(scenario, clock).await.unwrap()
}

/// The librdkafka client logging in as `principal` with `keytab`; `properties` are extra
/// librdkafka properties (the relogin interval).
fn client(sim: &SimHandle, principal: &str, keytab: PathBuf, properties: &[(&str, &str)]) -> KafkaClient {
    let gssapi = Gssapi {
        service_name: Some("kafka".to_owned()),
        principal: Some(principal.to_owned()),
        keytab: Some(keytab),
        kinit_cmd: None,
    };
    let mut conn = KafkaConnection::plaintext(sim.bootstrap());
    conn.sasl = Some(Sasl { gssapi: Some(gssapi), ..Sasl::password(SaslMechanism::Gssapi, principal, "") });
    conn.request_timeout = Duration::from_secs(5);
    conn.extra_properties = properties.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    KafkaClient::new("kerberos", &conn, ClientKind::Librdkafka).unwrap()
}

#[test]
fn logs_in_with_a_keytab_and_reads_exact_offsets() {
    in_own_realm("logs_in_with_a_keytab_and_reads_exact_offsets", &KdcOptions::default(), |realm| async move {
        let keytab = realm.add_principal(CLIENT).unwrap();
        let sim = start(None).await;
        let kerberos = client(&sim, CLIENT, keytab, &[]);
        reads_everything(&sim, &kerberos).await.unwrap();
        let logins = sim.kerberos_logins();
        assert_eq!(logins.keys().collect::<Vec<_>>(), vec![CLIENT], "{logins:?}");
        assert_eq!(realm.tgts_issued(CLIENT), 1, "one kinit from the keytab:\n{}", realm.kdc_log());
    });
}

#[test]
fn a_stale_keytab_and_a_principal_the_broker_refuses_fail_with_their_reasons() {
    let test = "a_stale_keytab_and_a_principal_the_broker_refuses_fail_with_their_reasons";
    in_own_realm(test, &KdcOptions::default(), |realm| async move {
        let sim = start(None).await;
        // The right principal, its keytab superseded by a new key: kinit fails, so the (empty)
        // ticket cache has nothing to log in with. Kerberos says so.
        realm.add_principal(CLIENT).unwrap();
        realm.rekey(CLIENT).unwrap();
        let stale = client(&sim, CLIENT, realm.keytab(CLIENT), &[]);
        let failed = stale.list_groups().await.unwrap_err().to_string();
        assert!(failed.contains("login failed: "), "{failed}");
        assert!(failed.contains("No Kerberos credentials available"), "{failed}");
        drop(stale);

        // A principal of the realm, with a valid ticket, that the brokers do not allow.
        let stranger_keytab = realm.add_principal(STRANGER).unwrap();
        let stranger = client(&sim, STRANGER, stranger_keytab, &[]);
        let refused = stranger.list_groups().await.unwrap_err().to_string();
        assert!(refused.contains(&format!("Authentication failed: principal {STRANGER} is not allowed")), "{refused}");
        drop(stranger);
        assert!(sim.kerberos_logins().is_empty());

        // A fresh keytab of the right principal logs in (its kinit replaces the cached ticket:
        // one process has one ticket cache).
        let good = client(&sim, CLIENT, realm.export_keytab(CLIENT).unwrap(), &[]);
        reads_everything(&sim, &good).await.unwrap();
        assert_eq!(sim.kerberos_logins().keys().collect::<Vec<_>>(), vec![CLIENT]);
    });
}

/// Tickets live [`TICKET_LIFE`]; the brokers end every session after [`SESSION`], so librdkafka
/// re-authenticates (KIP-368) and needs a valid ticket each time; it runs kinit from the keytab
/// every [`RELOGIN`]. Calls every 500 ms over [`RUN`] (several ticket lifetimes) must all
/// succeed. Kerberos' clock-skew allowance (5 min) does not hide an expiry: an expired
/// ticket-granting ticket gets no service ticket (the next test shows the failure).
///
/// Real time, not a scaled clock: the KDC and the Kerberos library time tickets by the wall
/// clock, which no test clock reaches, so the lifetimes are a few seconds and the run 40 s.
const TICKET_LIFE: Duration = Duration::from_secs(12);
const SESSION: Duration = Duration::from_secs(3);
const RELOGIN: &str = "4000";
const RUN: Duration = Duration::from_secs(40);

#[test]
fn tickets_renewed_from_the_keytab_keep_every_call_working_across_expiry() {
    let test = "tickets_renewed_from_the_keytab_keep_every_call_working_across_expiry";
    in_own_realm(test, &KdcOptions { max_life: TICKET_LIFE }, |realm| async move {
        let keytab = realm.add_principal(CLIENT).unwrap();
        let sim = start(Some(SESSION)).await;
        let kerberos = client(&sim, CLIENT, keytab, &[("sasl.kerberos.min.time.before.relogin", RELOGIN)]);
        let (failures, calls) = call_for(&sim, &kerberos, RUN).await;
        assert_eq!(failures, Vec::<String>::new(), "of {calls} calls");
        // Renewed: a new ticket at least every ticket lifetime, and logins on fresh tickets.
        let tgts = realm.tgts_issued(CLIENT);
        let lifetimes = (RUN.as_secs() / TICKET_LIFE.as_secs()) as usize;
        assert!(tgts > lifetimes, "{tgts} tickets in {RUN:?}:\n{}", realm.kdc_log());
        let logins = sim.kerberos_logins()[CLIENT];
        assert!(logins >= RUN.as_secs() / SESSION.as_secs(), "{logins} logins in {RUN:?}");
    });
}

#[test]
fn without_renewal_the_expired_ticket_fails_the_next_login() {
    let test = "without_renewal_the_expired_ticket_fails_the_next_login";
    in_own_realm(test, &KdcOptions { max_life: TICKET_LIFE }, |realm| async move {
        let keytab = realm.add_principal(CLIENT).unwrap();
        kinit(&realm, CLIENT, &keytab);
        let sim = start(Some(SESSION)).await;
        // Relogin 0: librdkafka never runs kinit and uses the ticket already cached.
        let kerberos = client(&sim, CLIENT, keytab, &[("sasl.kerberos.min.time.before.relogin", "0")]);
        let started = Instant::now();
        reads_everything(&sim, &kerberos).await.unwrap();
        let deadline = started + TICKET_LIFE + SESSION * 4;
        let failure = loop {
            if let Err(e) = reads_everything(&sim, &kerberos).await {
                break e;
            }
            assert!(Instant::now() < deadline, "still logging in {:?} after an unrenewed ticket", started.elapsed());
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        assert!(started.elapsed() >= TICKET_LIFE - SESSION, "failed before the ticket expired: {failure}");
        assert!(
            failure.contains(
                "GSSAPI Error: Unspecified GSS failure.  Minor code may provide more information (Ticket expired)"
            ),
            "{failure}"
        );
    });
}

/// Reads everything every 500 ms for `run`: each failure's text, and how many calls were made.
async fn call_for(sim: &SimHandle, client: &KafkaClient, run: Duration) -> (Vec<String>, u32) {
    let started = Instant::now();
    let (mut failures, mut calls) = (Vec::new(), 0);
    while started.elapsed() < run {
        calls += 1;
        if let Err(e) = reads_everything(sim, client).await {
            failures.push(format!("{:?}: {e}", started.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    (failures, calls)
}

/// A ticket for `principal` in the realm's cache, as an operator's `kinit` would leave it.
fn kinit(realm: &Realm, principal: &str, keytab: &std::path::Path) {
    let status = realm.command("kinit").arg("-k").arg("-t").arg(keytab).arg(principal).status().unwrap();
    assert!(status.success(), "kinit {principal}");
}

#[test]
fn the_linked_librdkafka_has_kerberos() {
    assert!(lagring_kafka::librdkafka_has_gssapi());
}
