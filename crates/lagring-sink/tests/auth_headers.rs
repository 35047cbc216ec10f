//! What goes on the wire besides the data: configured headers, basic auth,
//! and a bearer token file that is re-read so rotation works without restart.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use lagring_sink::RemoteWriter;
use lagring_sink::remote_write::{BasicAuth, Secret};
use lagring_testkit::receiver::RecordingReceiver;
use prometheus::Registry;

fn one_sample(ts: i64) -> lagring_core::series::SeriesBatch {
    batch(ts, &[(key("m", &[("group", "g")]), 1.0)], &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_headers_and_basic_auth_are_sent() {
    let rx = RecordingReceiver::start().await.unwrap();
    let mut cfg = fast_config(rx.url());
    cfg.headers = BTreeMap::from([("X-Scope-OrgID".to_owned(), "tenant-1".to_owned())]);
    cfg.basic_auth = Some(BasicAuth { username: "user".to_owned(), password: Secret::new("pass") });
    let run = start(&cfg, &[], Duration::from_secs(5));
    run.handle.enqueue(one_sample(1000));
    rx.wait_for_accepted_samples(1, WAIT).await.unwrap();
    let request = &rx.requests()[0];
    assert_eq!(request.headers["x-scope-orgid"], "tenant-1");
    // base64("user:pass")
    assert_eq!(request.headers["authorization"], "Basic dXNlcjpwYXNz");
    assert_eq!(request.node, None);
    run.shutdown.cancel();
    run.task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_file_is_reread_for_every_request() {
    let rx = RecordingReceiver::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "first\n").unwrap();
    let mut cfg = fast_config(rx.url());
    cfg.bearer_token_file = Some(token_file.clone());
    let run = start(&cfg, &[], Duration::from_secs(5));
    run.handle.enqueue(one_sample(1000));
    rx.wait_for_accepted_samples(1, WAIT).await.unwrap();
    std::fs::write(&token_file, "second").unwrap();
    run.handle.enqueue(one_sample(2000));
    rx.wait_for_accepted_samples(2, WAIT).await.unwrap();
    let auth: Vec<String> = rx.requests().iter().map(|r| r.headers["authorization"].clone()).collect();
    assert_eq!(auth, vec!["Bearer first", "Bearer second"]);
    run.shutdown.cancel();
    run.task.await.unwrap();
}

#[test]
fn invalid_config_and_missing_tls_files_are_rejected_with_the_key() {
    let registry = Registry::new();
    let mut cfg = fast_config("http://127.0.0.1:1/api/v1/write".to_owned());
    cfg.max_samples_per_request = 0;
    let err = RemoteWriter::new(&cfg, &registry, &[]).unwrap_err();
    assert_eq!(err.to_string(), "remote_write.max_samples_per_request: must be greater than zero");

    let mut cfg = fast_config("https://127.0.0.1:1/api/v1/write".to_owned());
    cfg.tls.ca_file = Some("/nonexistent/ca.pem".into());
    let err = RemoteWriter::new(&cfg, &registry, &[]).unwrap_err();
    assert!(err.to_string().starts_with("read remote_write.tls.ca_file file /nonexistent/ca.pem: "), "{err}");
}
