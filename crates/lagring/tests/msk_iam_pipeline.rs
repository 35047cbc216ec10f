//! AWS_MSK_IAM through the whole pipeline in one process: one node ([`run_with`]) watching two
//! clusters on a simulator that verifies SigV4 signatures, with sessions of 1 s (KIP-368).
//! `msk` gets keys living 2 s from a local container credentials endpoint (the EKS Pod Identity
//! path, set by `container_credentials_uri`), so over the test its keys are fetched again and
//! every broker logs in again many times: every group is emitted in every slot, none missed.
//! `refused` gets keys with the wrong secret from a second endpoint: `/healthz` names it
//! unhealthy with the broker's reason, and `msk` is unaffected.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use lagring::pipeline::{KafkaConnector, NodeParts, run_with};
use lagring_sim::scenario::security::{SecurityConfig, ServerMskIamConfig, ServerSaslConfig};
use lagring_sim::{Clock, Scenario, Sim};
use lagring_store::{
    CoordinationStore, HistoryPolicies, MemoryEvaluationStore, MemoryHistoryStore, MemoryStore, NodeIdentity,
};
use lagring_testkit::aws_credentials_endpoint::{AwsCredentialsConfig, AwsCredentialsEndpoint};
use lagring_testkit::emissions::Emissions;
use lagring_testkit::ports::wait_for;
use lagring_testkit::receiver::RecordingReceiver;
use support::{INTERVAL_MS, MARKER, TIMEOUT, now_slot};
use tokio_util::sync::CancellationToken;

const KEY_ID: &str = "AKIAPIPELINETEST";
const SECRET: &str = "pipeline/secret+key";
const SCENARIO: &str = "seed: 5\nbrokers: 2\n\
topics: [ { name: orders, partitions: 3, initial_messages: 300, produce: { constant: 3.0 } } ]\n\
groups: [ { name: g-a, topics: [orders], behaviour: { lags_by: 9 } }, { name: g-b, topics: [orders], behaviour: { lags_by: 4 } } ]\n";
/// Slots watched after the first complete one: 8 s, four lifetimes of the keys.
const WATCHED_SLOTS: i64 = 8;

async fn credentials(secret: &str) -> Result<AwsCredentialsEndpoint> {
    AwsCredentialsEndpoint::start(AwsCredentialsConfig {
        access_key_id: KEY_ID.to_owned(),
        secret_access_key: secret.to_owned(),
        role_arn: "arn:aws:iam::1:role/unused".to_owned(),
        web_identity_token: "unused".to_owned(),
        container_authorization: None,
        lifetime: Duration::from_secs(2),
    })
    .await
}

/// A 2-broker simulator accepting [`KEY_ID`] in eu-west-1 with sessions of 1 s.
async fn secured_sim() -> Result<lagring_sim::SimHandle> {
    let mut scenario = Scenario::from_yaml(SCENARIO)?;
    scenario.security = SecurityConfig {
        tls: None,
        sasl: Some(ServerSaslConfig {
            mechanisms: vec!["AWS_MSK_IAM".to_owned()],
            aws_msk_iam: Some(ServerMskIamConfig {
                region: "eu-west-1".to_owned(),
                credentials: BTreeMap::from([(KEY_ID.to_owned(), SECRET.to_owned())]),
            }),
            session_lifetime: Some(Duration::from_secs(1)),
            ..ServerSaslConfig::default()
        }),
    };
    Ok(Sim::start(scenario, Clock::real()).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_lived_keys_miss_no_slot_and_a_wrong_secret_is_the_clusters_reason() -> Result<()> {
    // One simulator per cluster, so the logins counted are `msk`'s alone.
    let sim = secured_sim().await?;
    let refused_sim = secured_sim().await?;
    let good = credentials(SECRET).await?;
    let bad = credentials("not the secret").await?;
    let receiver = RecordingReceiver::start().await?;
    let cluster = |name: &str, sim: &lagring_sim::SimHandle, endpoint: &AwsCredentialsEndpoint| {
        let brokers: Vec<String> = sim.broker_addrs().iter().map(|a| format!("'{a}'")).collect();
        format!(
            "{{ name: {name}, brokers: [{}], request_timeout: 1s, sasl: {{ mechanism: AWS_MSK_IAM, \
             aws_msk_iam: {{ region: eu-west-1, container_credentials_uri: '{}' }} }} }}",
            brokers.join(", "),
            endpoint.container_url()
        )
    };
    let config = format!(
        "node: {{ id: msk-node, interval: {INTERVAL_MS}ms, heartbeat_interval: 250ms, node_ttl: 2s, shutdown_timeout: 15s }}\n\
         clusters: [ {}, {} ]\n\
         remote_write: {{ url: '{}', min_backoff: 50ms, max_backoff: 500ms }}\n\
         http: {{ listen: '127.0.0.1:0' }}\n",
        cluster("msk", &sim, &good),
        cluster("refused", &refused_sim, &bad),
        receiver.url()
    );
    let cfg = lagring::config::parse(&config).context("node config")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let http = listener.local_addr()?;
    let store: Arc<dyn CoordinationStore> = Arc::new(MemoryStore::new());
    let parts = NodeParts {
        identity: NodeIdentity::new("msk-node".to_owned()),
        store,
        history: Arc::new(MemoryHistoryStore::new(HistoryPolicies::default())),
        evaluations: Arc::new(MemoryEvaluationStore::new()),
        kafka: KafkaConnector::from_config(),
        listener,
    };
    let stop = CancellationToken::new();
    let node = tokio::spawn(run_with(cfg, parts, stop.clone()));

    let groups = ["g-a".to_owned(), "g-b".to_owned()];
    let emissions = || Emissions::collect(&receiver.samples(), MARKER, INTERVAL_MS);
    let first = wait_for("both groups of msk emitted", TIMEOUT, || async {
        let em = emissions();
        let slot = now_slot() - 2;
        Ok(groups.iter().all(|g| em.missing(g, slot, slot).is_empty()).then_some(slot))
    })
    .await?;
    let reason = format!("signature mismatch for access key id {KEY_ID}");
    let body = wait_for("healthz names refused with the broker's reason", TIMEOUT, || async {
        let response = reqwest::get(format!("http://{http}/healthz")).await?;
        let body = response.text().await?;
        Ok(body.contains(&reason).then_some(body))
    })
    .await?;
    let report: serde_json::Value = serde_json::from_str(&body)?;
    let unhealthy = report["unhealthy"].as_object().expect("unhealthy clusters");
    assert_eq!(unhealthy.keys().collect::<Vec<_>>(), vec!["refused"], "{body}");
    assert!(!body.contains("not the secret"), "the secret leaked: {body}");

    let issued = good.issued();
    let logins = sim.request_counts().api("SaslAuthenticate");
    wait_for("the watched slots pass", TIMEOUT, || async {
        Ok((now_slot() - 2 > first + WATCHED_SLOTS).then_some(()))
    })
    .await?;
    let em = emissions();
    for g in &groups {
        assert_eq!(em.missing(g, first, first + WATCHED_SLOTS), Vec::<i64>::new(), "{g} missed slots");
    }
    assert_eq!(em.duplicates(), vec![], "a slot emitted twice");
    // 8 s of keys living 2 s: fetched again at least three times; 1 s sessions: many logins.
    assert!(good.issued() >= issued + 3, "keys were not refreshed: {issued} then {}", good.issued());
    let relogins = sim.request_counts().api("SaslAuthenticate") - logins;
    assert!(relogins >= 2 * 5, "{relogins} logins in {WATCHED_SLOTS} slots");
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(30), node).await.context("node did not stop")???;
    Ok(())
}
