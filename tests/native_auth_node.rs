//! TLS and SASL through a real lagring process with the native client: three clusters on two
//! simulators. `secure` (TLS with a custom CA + SCRAM-SHA-512, right password) reports the exact
//! lag of every partition; `denied` (the same simulator, wrong password) is unhealthy in
//! `/healthz` with the authentication failure as its reason and emits no lag; `open` (another,
//! plaintext simulator) is unaffected.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use lagring_sim::scenario::security::{SecurityConfig, ServerSaslConfig, ServerTlsConfig};
use lagring_sim::{Clock, Scenario, Sim, SimHandle};
use lagring_testkit::certs::make_certificates;
use lagring_testkit::lagring_node::LagringNode;
use lagring_testkit::ports::wait_for;

const SCENARIO: &str = "seed: 11\nbrokers: 2\n\
topics: [ { name: orders, partitions: 3, initial_messages: 600 } ]\n\
groups: [ { name: g-a, topics: [orders], behaviour: { lags_by: 40 } }, { name: g-b, topics: [orders], behaviour: { lags_by: 7 } } ]\n";

use lagring_e2e::{scraped_lags as lags, simulated_lags as all_lags};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_makes_only_its_cluster_unhealthy_with_the_reason() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let certs = make_certificates(dir.path())?;
    let mut scenario = Scenario::from_yaml(SCENARIO)?;
    scenario.security = SecurityConfig {
        tls: Some(ServerTlsConfig {
            cert_file: certs.server_cert.clone(),
            key_file: certs.server_key.clone(),
            client_ca_file: None,
        }),
        sasl: Some(ServerSaslConfig {
            mechanisms: vec!["SCRAM-SHA-512".to_owned()],
            users: BTreeMap::from([("lagring".to_owned(), "s3cret".to_owned())]),
            ..ServerSaslConfig::default()
        }),
    };
    let (clock, _manual) = Clock::manual();
    let secured = Sim::start(scenario, clock.clone()).await?;
    let open = Sim::start(Scenario::from_yaml(SCENARIO)?, clock).await?;
    let ca = certs.ca.display().to_string();
    let cluster = |name: &str, sim: &SimHandle, auth: &str| {
        let brokers: Vec<String> = sim.broker_addrs().iter().map(|a| format!("'{a}'")).collect();
        format!("{{ name: {name}, client: native, brokers: [{}], request_timeout: 2s{auth} }}", brokers.join(", "))
    };
    let tls_sasl = |password: &str| {
        format!(
            ", tls: {{ ca_file: '{ca}' }}, sasl: {{ mechanism: SCRAM-SHA-512, username: lagring, password: '{password}' }}"
        )
    };
    let config = format!(
        "node: {{ id: auth, interval: 1s }}\nclusters: [ {}, {}, {} ]\nhttp: {{ listen: '{{HTTP_LISTEN}}' }}\n",
        cluster("secure", &secured, &tls_sasl("s3cret")),
        cluster("denied", &secured, &tls_sasl("wrong")),
        cluster("open", &open, ""),
    );
    let node = LagringNode::start(&lagring_e2e::lagring_binary()?, "auth", &config)?;
    let want = all_lags(&secured);
    assert_eq!(want, all_lags(&open), "same scenario, same lags");
    assert_eq!(want.len(), 6);

    wait_for("exact lags of secure and open, denied unhealthy", Duration::from_secs(60), || async {
        let m = node.metrics().await?;
        let (status, body) = node.get("/healthz").await?;
        let done = lags(&m, "secure") == want
            && lags(&m, "open") == want
            && status == 503
            && body.contains("\"denied\"")
            && body.contains("sasl SCRAM-SHA-512 authentication as \\\"lagring\\\" failed");
        Ok(done.then_some(()))
    })
    .await
    .map_err(|e| e.context(node.log_tail()))?;
    let (_, body) = node.get("/healthz").await?;
    let report: serde_json::Value = serde_json::from_str(&body)?;
    let unhealthy = report["unhealthy"].as_object().expect("unhealthy clusters");
    assert_eq!(unhealthy.keys().collect::<Vec<_>>(), vec!["denied"], "{body}");
    assert!(lags(&node.metrics().await?, "denied").is_empty(), "no lag from a cluster that did not log in");
    Ok(())
}
