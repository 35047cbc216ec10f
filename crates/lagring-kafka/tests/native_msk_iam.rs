//! AWS_MSK_IAM of the native client against the in-process simulator, which recomputes every
//! SigV4 signature with the known test keys: exact committed offsets read with static keys; a
//! wrong secret and a wrong region refused with the broker's reason while a correct client is
//! unaffected; keys from a local STS by web identity (EKS IRSA), and a refused web identity
//! token naming STS; short-lived keys from a local container credentials endpoint with short
//! sessions (KIP-368) over many iterations without a failed call.

// Test code: a panic with a message is the failure report.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lagring_kafka::aws::{ContainerAuthorization, ContainerCredentials, WebIdentity};
use lagring_kafka::{
    AwsCredentialSource, AwsKeys, ClientKind, KafkaClient, KafkaConnection, MskIam, NativeOptions, Sasl,
};
use lagring_sim::scenario::security::{SecurityConfig, ServerMskIamConfig, ServerSaslConfig};
use lagring_sim::{Clock, Scenario, Sim, SimHandle};
use lagring_testkit::aws_credentials_endpoint::{AwsCredentialsConfig, AwsCredentialsEndpoint};
use support::reads_everything;

const KEY_ID: &str = "AKIALAGRINGTEST";
const SECRET: &str = "lagring/test+secret/key";
const REGION: &str = "eu-west-1";
const ROLE: &str = "arn:aws:iam::123456789012:role/lagring";
const WEB_TOKEN: &str = "eyJ.web-identity.token";
const CONTAINER_AUTH: &str = "pod-identity-token";

/// A 2-broker simulator with 3 groups accepting AWS_MSK_IAM logins with [`KEY_ID`] in
/// [`REGION`], sessions of at most `session_lifetime`.
async fn sim(session_lifetime: Option<Duration>) -> SimHandle {
    let yaml = "seed: 7\nbrokers: 2\ntopics: [ { name: t, partitions: 3, initial_messages: 100 } ]\n\
                groups: [ { name: g0, topics: [t] }, { name: g1, topics: [t] }, { name: g2, topics: [t] } ]";
    let mut scenario = Scenario::from_yaml(yaml).unwrap();
    scenario.security = SecurityConfig {
        tls: None,
        sasl: Some(ServerSaslConfig {
            mechanisms: vec!["AWS_MSK_IAM".to_owned()],
            aws_msk_iam: Some(ServerMskIamConfig {
                region: REGION.to_owned(),
                credentials: BTreeMap::from([(KEY_ID.to_owned(), SECRET.to_owned())]),
            }),
            session_lifetime,
            ..ServerSaslConfig::default()
        }),
    };
    let (clock, _manual) = Clock::manual();
    Sim::start(scenario, clock).await.unwrap()
}

async fn endpoint(lifetime: Duration) -> AwsCredentialsEndpoint {
    AwsCredentialsEndpoint::start(AwsCredentialsConfig {
        access_key_id: KEY_ID.to_owned(),
        secret_access_key: SECRET.to_owned(),
        role_arn: ROLE.to_owned(),
        web_identity_token: WEB_TOKEN.to_owned(),
        container_authorization: Some(CONTAINER_AUTH.to_owned()),
        lifetime,
    })
    .await
    .unwrap()
}

fn static_keys(secret: &str) -> AwsCredentialSource {
    AwsCredentialSource::Static(AwsKeys {
        access_key_id: KEY_ID.to_owned(),
        secret_access_key: secret.to_owned(),
        session_token: None,
    })
}

fn client(sim: &SimHandle, region: &str, credentials: AwsCredentialSource) -> KafkaClient {
    let mut conn = KafkaConnection::plaintext(sim.bootstrap());
    conn.sasl =
        Some(Sasl::msk_iam(MskIam { region: region.to_owned(), credentials, user_agent: "lagring-test".to_owned() }));
    conn.request_timeout = Duration::from_secs(5);
    KafkaClient::new("msk", &conn, ClientKind::Native(NativeOptions::default())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_keys_log_in_and_exact_offsets_are_read() {
    let sim = sim(None).await;
    reads_everything(&sim, &client(&sim, REGION, static_keys(SECRET))).await.unwrap();
    assert_eq!(sim.request_counts().api("SaslAuthenticate"), 2, "one login per broker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_or_region_is_refused_with_the_brokers_reason_and_a_correct_client_is_unaffected() {
    let sim = sim(None).await;
    let err = client(&sim, REGION, static_keys("not the secret")).list_groups().await.unwrap_err().to_string();
    let want = format!(
        "sasl AWS_MSK_IAM authentication as \"{KEY_ID}\" failed: broker: SaslAuthenticationFailed: \
         Authentication failed: signature mismatch for access key id {KEY_ID}"
    );
    assert!(err.contains(&want), "{err}");
    assert!(!err.contains("not the secret"), "the secret leaked into the error: {err}");

    let err = client(&sim, "us-east-1", static_keys(SECRET)).list_groups().await.unwrap_err().to_string();
    assert!(
        err.contains(
            "Authentication failed: credential scope is for region \"us-east-1\", the cluster is in \"eu-west-1\""
        ),
        "{err}"
    );
    reads_everything(&sim, &client(&sim, REGION, static_keys(SECRET))).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_identity_keys_from_sts_log_in_and_a_refused_token_names_sts() {
    let sim = sim(None).await;
    let sts = endpoint(Duration::from_secs(3600)).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{WEB_TOKEN}\n")).unwrap();
    let irsa = |token_file: std::path::PathBuf| {
        AwsCredentialSource::WebIdentity(WebIdentity {
            token_file,
            role_arn: ROLE.to_owned(),
            session_name: "lagring".to_owned(),
            sts_endpoint: sts.sts_url(),
        })
    };
    reads_everything(&sim, &client(&sim, REGION, irsa(token_file))).await.unwrap();
    assert_eq!(sts.issued(), 1, "both brokers signed with one set of keys");

    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "another-token").unwrap();
    let err = client(&sim, REGION, irsa(wrong)).list_groups().await.unwrap_err().to_string();
    let want = format!(
        "failed: sts {}: http 403: <ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken",
        sts.sts_url()
    );
    assert!(err.contains(&want), "{err}");
    assert!(!err.contains("another-token"), "the token leaked into the error: {err}");
    assert_eq!(sts.refused(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_lived_container_keys_and_sessions_are_renewed_without_a_failed_call() {
    // Keys live 2 s (refreshed after 1.6 s), sessions 1 s (a new login every 0.8 s or so).
    let sim = sim(Some(Duration::from_secs(1))).await;
    let creds = endpoint(Duration::from_secs(2)).await;
    let source = AwsCredentialSource::Container(ContainerCredentials {
        uri: creds.container_url(),
        authorization: Some(ContainerAuthorization::Token(CONTAINER_AUTH.to_owned())),
    });
    let client = client(&sim, REGION, source);
    let started = Instant::now();
    let mut iterations = 0_u32;
    while started.elapsed() < Duration::from_secs(8) {
        let pass = tokio::time::timeout(Duration::from_secs(5), reads_everything(&sim, &client)).await;
        match pass {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("iteration {iterations} at {:?} failed: {e}", started.elapsed()),
            Err(_) => panic!("iteration {iterations} at {:?} took more than 5 s", started.elapsed()),
        }
        iterations += 1;
        // One pass per 100 ms, as a fast poller would (a deadline of the loop, not a sync point).
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(iterations >= 15, "only {iterations} iterations in 8 s");
    // 8 s of keys living 2 s (3 s at most: expirations are rounded up to whole seconds), each
    // fetched again at 80 % of its lifetime by the next login: at least three fetches.
    let issued = creds.issued();
    assert!((3..=12).contains(&issued), "{issued} keys issued");
    assert_eq!(creds.refused(), 0);
    let logins = sim.request_counts().api("SaslAuthenticate");
    assert!(logins >= 2 * 5, "{logins} logins");
    eprintln!("{iterations} iterations, {issued} key fetches, {logins} logins");
}
