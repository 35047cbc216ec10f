//! SASL/OAUTHBEARER through a real lagring process: one simulator that verifies JWTs (2 s
//! tokens, sessions ended with them, KIP-368) and a local OIDC token endpoint. `oidc` (the native
//! client, the right client secret from a file) and `rdk` (the same with `client: librdkafka`)
//! report the exact lag of every partition and stay healthy across many token lifetimes;
//! `refused` and `rdk-refused` (a wrong secret, each client) are unhealthy in `/healthz` with the
//! token endpoint's refusal as their reason and emit no lag.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::time::{Duration, Instant};

use anyhow::Result;
use lagring_sim::scenario::security::{SecurityConfig, ServerOAuthConfig, ServerSaslConfig};
use lagring_sim::{Clock, Scenario, Sim};
use lagring_testkit::lagring_node::LagringNode;
use lagring_testkit::ports::wait_for;
use lagring_testkit::token_endpoint::{TokenEndpoint, TokenEndpointConfig};

const SCENARIO: &str = "seed: 13\nbrokers: 2\n\
topics: [ { name: orders, partitions: 3, initial_messages: 600 } ]\n\
groups: [ { name: g-a, topics: [orders], behaviour: { lags_by: 40 } }, { name: g-b, topics: [orders], behaviour: { lags_by: 7 } } ]\n";
const KEY: &str = "lagring-node-test-hs256-key-of-32-bytes-or-more";

use lagring_e2e::{scraped_lags as lags, simulated_lags as all_lags};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_tokens_keep_exact_lag_and_a_refused_secret_is_the_clusters_reason() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut scenario = Scenario::from_yaml(SCENARIO)?;
    scenario.security = SecurityConfig {
        tls: None,
        sasl: Some(ServerSaslConfig {
            mechanisms: vec!["OAUTHBEARER".to_owned()],
            oauthbearer: Some(ServerOAuthConfig { hs256_key: KEY.to_owned(), audience: Some("kafka".to_owned()) }),
            session_lifetime: Some(Duration::from_secs(600)),
            ..ServerSaslConfig::default()
        }),
    };
    let (clock, _manual) = Clock::manual();
    let sim = Sim::start(scenario, clock).await?;
    let endpoint = TokenEndpoint::start(TokenEndpointConfig {
        client_id: "lagring".to_owned(),
        client_secret: "right secret".to_owned(),
        hs256_key: KEY.to_owned(),
        lifetime: Duration::from_secs(2),
    })
    .await?;
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, "right secret\n")?;
    let wrong_file = dir.path().join("wrong");
    std::fs::write(&wrong_file, "wrong secret")?;
    let brokers: Vec<String> = sim.broker_addrs().iter().map(|a| format!("'{a}'")).collect();
    let cluster = |name: &str, client: &str, secret: &str| {
        format!(
            "{{ name: {name}, client: {client}, brokers: [{}], request_timeout: 2s, sasl: {{ mechanism: OAUTHBEARER, \
             oauthbearer: {{ token_endpoint_url: '{}', client_id: lagring, {secret}, audience: kafka }} }} }}",
            brokers.join(", "),
            endpoint.url()
        )
    };
    let config = format!(
        "node: {{ id: oauth, interval: 1s }}\nclusters: [ {}, {}, {}, {} ]\nhttp: {{ listen: '{{HTTP_LISTEN}}' }}\n",
        cluster("oidc", "native", &format!("client_secret_file: '{}'", secret_file.display())),
        cluster("rdk", "librdkafka", &format!("client_secret_file: '{}'", secret_file.display())),
        cluster("refused", "native", &format!("client_secret_file: '{}'", wrong_file.display())),
        cluster("rdk-refused", "librdkafka", &format!("client_secret_file: '{}'", wrong_file.display())),
    );
    let node = LagringNode::start(&lagring_e2e::lagring_binary()?, "oauth", &config)?;
    let want = all_lags(&sim);
    assert_eq!(want.len(), 6);

    let reason = format!("token endpoint {}: refused the token request: http 401", endpoint.url());
    wait_for("exact lags of oidc and rdk, refused unhealthy", Duration::from_secs(60), || async {
        let m = node.metrics().await?;
        let (status, body) = node.get("/healthz").await?;
        let report: serde_json::Value = serde_json::from_str(&body)?;
        let refused_by_endpoint =
            |name: &str| report["unhealthy"][name].as_str().is_some_and(|why| why.contains(&reason));
        let done = lags(&m, "oidc") == want
            && lags(&m, "rdk") == want
            && status == 503
            && refused_by_endpoint("refused")
            && refused_by_endpoint("rdk-refused");
        Ok(done.then_some(()))
    })
    .await
    .map_err(|e| e.context(node.log_tail()))?;
    // Several 2 s token lifetimes later, `oidc` and `rdk` are still healthy with exact lags every check.
    let issued = endpoint.issued();
    let until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < until {
        let (_, body) = node.get("/healthz").await?;
        let report: serde_json::Value = serde_json::from_str(&body)?;
        let unhealthy = report["unhealthy"].as_object().expect("unhealthy clusters");
        assert_eq!(unhealthy.keys().collect::<Vec<_>>(), vec!["rdk-refused", "refused"], "{body}\n{}", node.log_tail());
        let m = node.metrics().await?;
        assert_eq!(lags(&m, "oidc"), want);
        assert_eq!(lags(&m, "rdk"), want);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Each of the two clusters fetches its own tokens: some four each in 8 s.
    assert!(endpoint.issued() >= issued + 6, "tokens were not refreshed: {} then {}", issued, endpoint.issued());
    let m = node.metrics().await?;
    assert!(lags(&m, "refused").is_empty(), "no lag from a cluster that did not log in");
    assert!(lags(&m, "rdk-refused").is_empty(), "no lag from a cluster that did not log in");
    assert!(!node.log_tail().contains("right secret") && !node.log_tail().contains("wrong secret"));
    Ok(())
}
