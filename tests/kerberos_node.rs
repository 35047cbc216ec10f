//! Kerberos through a real lagring process (the librdkafka client) against the simulator's GSSAPI
//! acceptor and a KDC of the test's own (each test runs in a child process set up for its realm;
//! the node inherits that environment, `KRB5_CONFIG` included). A cluster logging in with its
//! keytab reports the exact lag of every partition, beside a PLAIN cluster on the same brokers;
//! a cluster whose keytab the KDC no longer accepts is unhealthy in `/healthz` with Kerberos'
//! reason and emits no lag, while the PLAIN cluster is unaffected.
//!
//! The two Kerberos cases run in separate nodes: every GSSAPI cluster of one process shares the
//! process's ticket cache, so a node logs in with one principal (docs/configuration.md).

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use lagring_e2e::{scraped_lags as lags, simulated_lags as all_lags};
use lagring_sim::scenario::security::{SecurityConfig, ServerGssapiConfig, ServerSaslConfig};
use lagring_sim::{Clock, Scenario, Sim, SimHandle};
use lagring_testkit::kdc::{KdcOptions, in_own_realm};
use lagring_testkit::lagring_node::LagringNode;
use lagring_testkit::ports::wait_for;

const SCENARIO: &str = "seed: 11\nbrokers: 2\n\
topics: [ { name: orders, partitions: 3, initial_messages: 600 } ]\n\
groups: [ { name: g-a, topics: [orders], behaviour: { lags_by: 40 } }, { name: g-b, topics: [orders], behaviour: { lags_by: 7 } } ]\n";

const PRINCIPAL: &str = "lagring/node@LAGRING.TEST";

/// Brokers that take GSSAPI from [`PRINCIPAL`] and PLAIN from `plain`/`s3cret`.
async fn start_sim() -> SimHandle {
    let mut scenario = Scenario::from_yaml(SCENARIO).unwrap();
    scenario.security = SecurityConfig {
        tls: None,
        sasl: Some(ServerSaslConfig {
            mechanisms: vec!["GSSAPI".to_owned(), "PLAIN".to_owned()],
            users: BTreeMap::from([("plain".to_owned(), "s3cret".to_owned())]),
            gssapi: Some(ServerGssapiConfig { principals: vec![PRINCIPAL.to_owned()] }),
            ..ServerSaslConfig::default()
        }),
    };
    let (clock, _manual) = Clock::manual();
    Sim::start(scenario, clock).await.unwrap()
}

/// A node measuring `kerberos` (GSSAPI with `keytab`) and `plain` on `sim`.
fn start_node(sim: &SimHandle, keytab: &Path) -> LagringNode {
    start_node_with(sim, &format!("gssapi: {{ principal: '{PRINCIPAL}', keytab: '{}' }}", keytab.display()), "", &[])
}

/// A node measuring `kerberos` (GSSAPI with `gssapi`, librdkafka `properties`) and `plain` on
/// `sim`, with `env` added to its environment.
fn start_node_with(sim: &SimHandle, gssapi: &str, properties: &str, env: &[(&str, &str)]) -> LagringNode {
    let brokers: Vec<String> = sim.broker_addrs().iter().map(|a| format!("'{a}'")).collect();
    let brokers = brokers.join(", ");
    let config = format!(
        "node: {{ id: krb, interval: 1s }}\nclusters:\n\
         - {{ name: kerberos, client: librdkafka, brokers: [{brokers}], request_timeout: 2s, \
         properties: {{ {properties} }}, sasl: {{ mechanism: GSSAPI, {gssapi} }} }}\n\
         - {{ name: plain, brokers: [{brokers}], request_timeout: 2s, \
         sasl: {{ mechanism: PLAIN, username: plain, password: s3cret }} }}\n\
         http: {{ listen: '{{HTTP_LISTEN}}' }}\n"
    );
    LagringNode::start_with_env(&lagring_e2e::lagring_binary().unwrap(), "krb", &config, env).unwrap()
}

#[test]
fn a_keytab_login_reports_exact_lag_beside_a_plain_cluster() {
    in_own_realm(
        "a_keytab_login_reports_exact_lag_beside_a_plain_cluster",
        &KdcOptions::default(),
        |realm| async move {
            let keytab = realm.add_principal(PRINCIPAL).unwrap();
            let sim = start_sim().await;
            let node = start_node(&sim, &keytab);
            let want = all_lags(&sim);
            assert_eq!(want.len(), 6);
            wait_for("exact lags of kerberos and plain", Duration::from_secs(60), || async {
                let m = node.metrics().await?;
                Ok((lags(&m, "kerberos") == want && lags(&m, "plain") == want).then_some(()))
            })
            .await
            .map_err(|e| e.context(node.log_tail()))
            .unwrap();
            assert_eq!(sim.kerberos_logins().keys().collect::<Vec<_>>(), vec![PRINCIPAL]);
        },
    );
}

/// The container image's way: it has no shell and no `kinit`, so librdkafka runs no command
/// (`sasl.kerberos.min.time.before.relogin: 0`) and MIT Kerberos gets (and renews) the ticket
/// from the client keytab that `KRB5_CLIENT_KTNAME` names. `PATH` holds no `kinit` here.
#[test]
fn without_kinit_the_kerberos_library_logs_in_from_the_client_keytab() {
    let test = "without_kinit_the_kerberos_library_logs_in_from_the_client_keytab";
    in_own_realm(test, &KdcOptions::default(), |realm| async move {
        let keytab = realm.add_principal(PRINCIPAL).unwrap();
        let sim = start_sim().await;
        let gssapi = format!("gssapi: {{ principal: '{PRINCIPAL}' }}");
        let keytab = keytab.display().to_string();
        let env = [("KRB5_CLIENT_KTNAME", keytab.as_str()), ("PATH", "/nonexistent")];
        let node = start_node_with(&sim, &gssapi, "sasl.kerberos.min.time.before.relogin: '0'", &env);
        let want = all_lags(&sim);
        wait_for("exact lags of kerberos and plain without kinit", Duration::from_secs(60), || async {
            let m = node.metrics().await?;
            Ok((lags(&m, "kerberos") == want && lags(&m, "plain") == want).then_some(()))
        })
        .await
        .map_err(|e| e.context(node.log_tail()))
        .unwrap();
        assert_eq!(sim.kerberos_logins().keys().collect::<Vec<_>>(), vec![PRINCIPAL]);
        assert!(!node.log_tail().contains("kinit"), "kinit ran: {}", node.log_tail());
    });
}

#[test]
fn a_stale_keytab_makes_only_its_cluster_unhealthy_with_kerberos_reason() {
    let test = "a_stale_keytab_makes_only_its_cluster_unhealthy_with_kerberos_reason";
    in_own_realm(test, &KdcOptions::default(), |realm| async move {
        let keytab = realm.add_principal(PRINCIPAL).unwrap();
        realm.rekey(PRINCIPAL).unwrap();
        let sim = start_sim().await;
        let node = start_node(&sim, &keytab);
        let want = all_lags(&sim);
        wait_for("exact lags of plain, kerberos unhealthy", Duration::from_secs(60), || async {
            let m = node.metrics().await?;
            let (status, body) = node.get("/healthz").await?;
            let done = lags(&m, "plain") == want
                && status == 503
                && body.contains("\"kerberos\"")
                && body.contains("No Kerberos credentials available");
            Ok(done.then_some(()))
        })
        .await
        .map_err(|e| e.context(node.log_tail()))
        .unwrap();
        let (_, body) = node.get("/healthz").await.unwrap();
        let report: serde_json::Value = serde_json::from_str(&body).unwrap();
        let unhealthy = report["unhealthy"].as_object().expect("unhealthy clusters");
        assert_eq!(unhealthy.keys().collect::<Vec<_>>(), vec!["kerberos"], "{body}");
        assert!(
            lags(&node.metrics().await.unwrap(), "kerberos").is_empty(),
            "no lag from a cluster that did not log in"
        );
        assert!(sim.kerberos_logins().is_empty());
    });
}
