//! SASL/OAUTHBEARER of the librdkafka client against the in-process simulator, with tokens from
//! the local OIDC token endpoint that the native client's suite (native_oauth.rs) uses, fetched
//! by lagring's own token source and handed to librdkafka: exact committed offsets read with a
//! token (the token request with scope, audience and extra parameters); a wrong client secret
//! (the endpoint's refusal, naming it, without a login attempt); a token the broker refuses
//! (wrong audience, the broker's reason); short-lived tokens and sessions (librdkafka's own
//! KIP-368 re-authentication) over several lifetimes without a failed call; a token file,
//! followed when rewritten; an outage of the token endpoint (the held token serves until it
//! expires, then the endpoint's error, then recovery).

// Test code: a panic with a message is the failure report.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

#[path = "support/oauth.rs"]
mod oauth;
mod support;

use std::time::{Duration, Instant};

use lagring_kafka::{ClientKind, KafkaClient, OAuthBearer};
use lagring_testkit::token_endpoint::mint;
use oauth::{AUDIENCE, CLIENT_ID, KEY, SECRET, Setup, start};
use support::reads_everything;

/// The librdkafka client of `s`, logging in with tokens from `source`.
fn librdkafka(s: &Setup, source: OAuthBearer) -> KafkaClient {
    s.client(ClientKind::Librdkafka, source)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_logs_in_with_oidc_tokens_and_reads_exact_offsets() {
    assert!(lagring_kafka::librdkafka_has_oauthbearer());
    let s = start(Duration::from_secs(300), None).await;
    let client = librdkafka(&s, s.oidc(SECRET, AUDIENCE));
    reads_everything(&s.sim, &client).await.unwrap();
    // One token served every connection librdkafka opened.
    assert_eq!(s.endpoint.issued(), 1);
    assert!(s.sim.request_counts().api("SaslAuthenticate") >= 2);
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
    let client = librdkafka(&s, s.oidc("not the secret", AUDIENCE));
    let started = Instant::now();
    let err = client.list_groups().await.unwrap_err().to_string();
    let want = format!(
        "cluster oauth: list groups request failed: sasl OAUTHBEARER authentication as \"{CLIENT_ID}\" failed: \
         token endpoint {}: refused the token request: http 401: {{\"error\":\"invalid_client\"}} (code -169)",
        s.endpoint.url()
    );
    assert_eq!(err, want);
    assert!(started.elapsed() < Duration::from_secs(2), "no wait for brokers: {:?}", started.elapsed());
    assert_eq!(s.endpoint.refused(), 1);
    assert_eq!(s.sim.request_counts().api("SaslAuthenticate"), 0, "no token, no login attempt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_for_another_audience_is_refused_with_the_brokers_reason() {
    let s = start(Duration::from_secs(300), None).await;
    let client = librdkafka(&s, s.oidc(SECRET, "not-kafka"));
    let err = client.list_groups().await.unwrap_err().to_string();
    // librdkafka's report of the broker's answer, naming the broker it logged in to.
    let named = |addr: &str| {
        format!(
            "sasl OAUTHBEARER authentication as \"lagring\" failed: sasl_plaintext://{addr}/bootstrap: \
             SASL authentication error: Authentication failed: invalid token: InvalidAudience (after "
        )
    };
    assert!(s.sim.bootstrap().split(',').any(|addr| err.contains(&named(addr))), "{err}");
    // A client with the right audience is unaffected.
    reads_everything(&s.sim, &librdkafka(&s, s.oidc(SECRET, AUDIENCE))).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_lived_tokens_and_sessions_are_renewed_without_a_failed_call() {
    // Tokens of 3 s, sessions of at most 1 s: librdkafka re-authenticates every ~0.8 s, with
    // whichever token lagring handed it last.
    let lifetime = Duration::from_secs(3);
    let s = start(lifetime, Some(Duration::from_secs(1))).await;
    let client = librdkafka(&s, s.oidc(SECRET, AUDIENCE));
    let started = Instant::now();
    let mut iterations = 0_u32;
    while started.elapsed() < Duration::from_secs(12) {
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
    assert!(iterations >= 20, "only {iterations} iterations in 12 s");
    // 12 s of 3 s tokens refreshed at 80 %: some five tokens, each fetched before the last expired.
    let issued = s.endpoint.issued();
    assert!((4..=8).contains(&issued), "{issued} tokens issued");
    // Sessions of 1 s: librdkafka logged in again many times (KIP-368), none refused.
    let logins = s.sim.request_counts().api("SaslAuthenticate");
    assert!(logins >= 2 * 8, "{logins} logins");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_file_is_used_and_followed_when_rewritten() {
    let s = start(Duration::from_secs(300), Some(Duration::from_secs(1))).await;
    let path = s.dir.path().join("token");
    std::fs::write(&path, mint(KEY, "platform", Some("not-kafka"), Duration::from_secs(60)).unwrap()).unwrap();
    let client = librdkafka(&s, OAuthBearer::TokenFile(path.clone()));
    let err = client.list_groups().await.unwrap_err().to_string();
    assert!(err.contains("invalid token: InvalidAudience"), "{err}");

    std::fs::write(&path, mint(KEY, "platform", Some(AUDIENCE), Duration::from_secs(60)).unwrap()).unwrap();
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options().write(true).open(&path).unwrap().set_modified(later).unwrap();
    // librdkafka backs off after refused logins (up to 10 s): poll until it logs in with the new file.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match reads_everything(&s.sim, &client).await {
            Ok(()) => break,
            Err(e) if Instant::now() < deadline => drop(e),
            Err(e) => panic!("the rewritten token file was not used: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Sessions of 1 s: later calls log in again with the same file, without failures.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        reads_everything(&s.sim, &client).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_endpoint_outage_costs_nothing_until_the_token_expires_and_then_heals() {
    // Sessions of 1 s: librdkafka re-authenticates every ~0.8 s, each time with the held token.
    let lifetime = Duration::from_secs(4);
    let s = start(lifetime, Some(Duration::from_secs(1))).await;
    let client = librdkafka(&s, s.oidc(SECRET, AUDIENCE));
    let fetched = Instant::now();
    reads_everything(&s.sim, &client).await.unwrap();
    s.endpoint.set_unavailable(true);
    // The token lives 4 s: calls until 3 s succeed although every refresh fails.
    while fetched.elapsed() < Duration::from_secs(3) {
        reads_everything(&s.sim, &client).await.unwrap_or_else(|e| panic!("at {:?}: {e}", fetched.elapsed()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s.endpoint.issued(), 1);
    // Once it expired, a call needs a new one: the endpoint's answer is the reason, at once.
    let want = format!(
        "sasl OAUTHBEARER authentication as \"lagring\" failed: token endpoint {}: refused the token request: http 503",
        s.endpoint.url()
    );
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
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Err(e) = reads_everything(&s.sim, &client).await {
        assert!(Instant::now() < deadline, "no recovery after the outage: {e}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
