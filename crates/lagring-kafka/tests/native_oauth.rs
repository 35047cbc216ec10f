//! SASL/OAUTHBEARER of the native client against the in-process simulator, with tokens from a
//! local OIDC token endpoint (client-credentials grant, HS256 JWTs the simulator verifies):
//! exact committed offsets read with a token; a wrong client secret (the endpoint's refusal,
//! naming it); a token the broker refuses (wrong audience, the broker's reason); short-lived
//! tokens and sessions (KIP-368) over many iterations without a failed call; an outage of the
//! token endpoint (the cached token serves until it expires, then the endpoint's error, then
//! recovery); a token file.

// Test code: a panic with a message is the failure report.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

#[path = "support/oauth.rs"]
mod oauth;
mod support;

use std::time::{Duration, Instant};

use lagring_kafka::{ClientKind, KafkaClient, NativeOptions, OAuthBearer};
use lagring_testkit::token_endpoint::mint;
use oauth::{AUDIENCE, CLIENT_ID, KEY, SECRET, Setup, start};
use support::reads_everything;

/// The native client of `s`, logging in with tokens from `source`.
fn native(s: &Setup, source: OAuthBearer) -> KafkaClient {
    s.client(ClientKind::Native(NativeOptions::default()), source)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_tokens_log_in_and_exact_offsets_are_read() {
    let s = start(Duration::from_secs(300), None).await;
    let client = native(&s, s.oidc(SECRET, AUDIENCE));
    reads_everything(&s.sim, &client).await.unwrap();
    // Both brokers logged in with one cached token.
    assert_eq!(s.endpoint.issued(), 1);
    assert_eq!(s.sim.request_counts().api("SaslAuthenticate"), 2);
    let form = s.endpoint.last_form();
    assert_eq!(form.get("grant_type").map(String::as_str), Some("client_credentials"));
    assert_eq!(form.get("scope").map(String::as_str), Some("kafka.read"));
    assert_eq!(form.get("audience").map(String::as_str), Some(AUDIENCE));
    assert_eq!(form.get("tenant").map(String::as_str), Some("t1"));
    assert!(!form.contains_key("client_secret"), "the secret goes in the authorization header");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_client_secret_is_the_token_endpoints_refusal_naming_it() {
    let s = start(Duration::from_secs(300), None).await;
    let client = native(&s, s.oidc("not the secret", AUDIENCE));
    let err = client.list_groups().await.unwrap_err().to_string();
    let want = format!(
        "sasl OAUTHBEARER authentication as \"{CLIENT_ID}\" failed: token endpoint {}: refused the token \
         request: http 401: {{\"error\":\"invalid_client\"}}",
        s.endpoint.url()
    );
    assert!(err.contains(&want), "{err}");
    assert!(!err.contains("not the secret"), "the secret leaked into the error: {err}");
    assert_eq!(s.endpoint.refused(), 1);
    assert_eq!(s.sim.request_counts().api("SaslAuthenticate"), 0, "no token, no login attempt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_for_another_audience_is_refused_with_the_brokers_reason() {
    let s = start(Duration::from_secs(300), None).await;
    let client = native(&s, s.oidc(SECRET, "not-kafka"));
    let err = client.list_groups().await.unwrap_err().to_string();
    assert!(
        err.contains(
            "sasl OAUTHBEARER authentication as \"lagring\" failed: broker: SaslAuthenticationFailed: \
             Authentication failed: invalid token: InvalidAudience"
        ),
        "{err}"
    );
    // A client with the right audience is unaffected.
    reads_everything(&s.sim, &native(&s, s.oidc(SECRET, AUDIENCE))).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_lived_tokens_and_sessions_are_renewed_without_a_failed_call() {
    let lifetime = Duration::from_secs(2);
    let s = start(lifetime, Some(Duration::from_secs(600))).await;
    let client = native(&s, s.oidc(SECRET, AUDIENCE));
    let started = Instant::now();
    let mut iterations = 0_u32;
    while started.elapsed() < Duration::from_secs(10) {
        let pass = tokio::time::timeout(Duration::from_secs(5), reads_everything(&s.sim, &client)).await;
        match pass {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("iteration {iterations} at {:?} failed: {e}", started.elapsed()),
            Err(_) => panic!("iteration {iterations} at {:?} took more than 5 s", started.elapsed()),
        }
        iterations += 1;
        // One pass per 100 ms, as a fast poller would (a deadline of the loop, not a sync point).
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(iterations >= 20, "only {iterations} iterations in 10 s");
    // 10 s of 2 s tokens refreshed at 80 %: some six tokens, every one fetched in the background.
    let issued = s.endpoint.issued();
    assert!((5..=10).contains(&issued), "{issued} tokens issued");
    // Sessions end with their token: both brokers logged in again several times.
    let logins = s.sim.request_counts().api("SaslAuthenticate");
    assert!(logins >= 2 * 5, "{logins} logins");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_file_is_used_and_followed_when_rewritten() {
    let s = start(Duration::from_secs(300), Some(Duration::from_secs(1))).await;
    let path = s.dir.path().join("token");
    std::fs::write(&path, mint(KEY, "platform", Some("not-kafka"), Duration::from_secs(60)).unwrap()).unwrap();
    let client = native(&s, OAuthBearer::TokenFile(path.clone()));
    let err = client.list_groups().await.unwrap_err().to_string();
    assert!(err.contains("invalid token: InvalidAudience"), "{err}");

    std::fs::write(&path, mint(KEY, "platform", Some(AUDIENCE), Duration::from_secs(60)).unwrap()).unwrap();
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options().write(true).open(&path).unwrap().set_modified(later).unwrap();
    // The broker is in backoff after the refused login: poll until it logs in with the new file.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match reads_everything(&s.sim, &client).await {
            Ok(()) => break,
            Err(e) if Instant::now() < deadline => assert!(e.contains("authentication"), "{e}"),
            Err(e) => panic!("the rewritten token file was not used: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Sessions of 1 s: later iterations log in again with the same file, without failures.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        reads_everything(&s.sim, &client).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_endpoint_outage_costs_nothing_until_the_token_expires_and_then_heals() {
    // Sessions of 1 s: brokers log in again every 0.8 s, each time with the cached token.
    let lifetime = Duration::from_secs(4);
    let s = start(lifetime, Some(Duration::from_secs(1))).await;
    let client = native(&s, s.oidc(SECRET, AUDIENCE));
    let fetched = Instant::now();
    reads_everything(&s.sim, &client).await.unwrap();
    s.endpoint.set_unavailable(true);
    // The token lives 4 s: re-logins until 3 s use it although every refresh fails.
    let logins = s.sim.request_counts().api("SaslAuthenticate");
    while fetched.elapsed() < Duration::from_secs(3) {
        reads_everything(&s.sim, &client).await.unwrap_or_else(|e| panic!("at {:?}: {e}", fetched.elapsed()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let relogins = s.sim.request_counts().api("SaslAuthenticate") - logins;
    assert!(relogins >= 2 * 2, "{relogins} logins with the cached token");
    assert_eq!(s.endpoint.issued(), 1);
    // Once it expired, a login needs a new one: the endpoint's answer is the reason.
    let want = format!("token endpoint {}: refused the token request: http 503", s.endpoint.url());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match reads_everything(&s.sim, &client).await {
            Err(e) if e.contains(&want) => break,
            other if Instant::now() < deadline => drop(other),
            other => panic!("no error naming the endpoint's outage: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.endpoint.set_unavailable(false);
    let deadline = Instant::now() + Duration::from_secs(15);
    while let Err(e) = reads_everything(&s.sim, &client).await {
        assert!(Instant::now() < deadline, "no recovery after the outage: {e}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
