//! End to end against a real Prometheus: what lagring writes is what a
//! PromQL query returns, and a staleness marker ends a series.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use lagring_testkit::prometheus::{PromSample, PrometheusServer};

const LAG: &str = "kafka_consumer_group_lag_in_offsets";

fn labels(group: &str) -> BTreeMap<String, String> {
    [("__name__", LAG), ("clustername", "c1"), ("group", group), ("partition", "0"), ("topic", "orders")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn by_group(mut result: Vec<PromSample>) -> Vec<PromSample> {
    result.sort_by(|a, b| a.labels.get("group").cmp(&b.labels.get("group")));
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_queryable_and_staleness_ends_a_series() {
    let prom = PrometheusServer::start().await.unwrap();
    let run = start(&fast_config(prom.remote_write_url()), &[], Duration::from_secs(5));

    let g1 = key(LAG, &[("topic", "orders"), ("group", "g1"), ("partition", "0"), ("clustername", "c1")]);
    let g2 = key(LAG, &[("topic", "orders"), ("group", "g2"), ("partition", "0"), ("clustername", "c1")]);
    let t1 = now_ms_floor() - 60_000;
    let t2 = t1 + 15_000;
    run.handle.enqueue(batch(t1, &[(g1.clone(), 5.0), (g2.clone(), 7.0)], &[]));
    run.handle.enqueue(batch(t2, &[(g1.clone(), 6.0)], std::slice::from_ref(&g2)));
    wait_metric(&run.registry, "lagring_remote_write_samples_sent_total", None, 4.0).await;
    assert_eq!(metric(&run.registry, "lagring_remote_write_samples_failed_total", None), 0.0);

    let t1_secs = t1 as f64 / 1000.0;
    let t2_secs = t2 as f64 / 1000.0;
    let at_t1 = by_group(prom.query_at(LAG, t1_secs).await.unwrap());
    assert_eq!(
        at_t1,
        vec![PromSample { labels: labels("g1"), value: 5.0 }, PromSample { labels: labels("g2"), value: 7.0 }],
        "prometheus log:\n{}",
        prom.log_tail()
    );
    // Within the lookback window both series still show their t1 values.
    let between = by_group(prom.query_at(LAG, t1_secs + 5.0).await.unwrap());
    assert_eq!(between.iter().map(|s| s.value).collect::<Vec<_>>(), vec![5.0, 7.0]);
    // At t2 g2 got its staleness marker: it is gone, g1 has its new value.
    let at_t2 = prom.query_at(LAG, t2_secs).await.unwrap();
    assert_eq!(at_t2, vec![PromSample { labels: labels("g1"), value: 6.0 }]);
    let g2_later = prom.query_at(&format!("{LAG}{{group=\"g2\"}}"), t2_secs + 10.0).await.unwrap();
    assert!(g2_later.is_empty(), "{g2_later:?}");

    let range =
        prom.query_range(&format!("{LAG}{{group=\"g1\"}}"), t1_secs, t2_secs, Duration::from_secs(15)).await.unwrap();
    assert_eq!(range.len(), 1);
    assert_eq!(range[0].values, vec![(t1_secs, 5.0), (t2_secs, 6.0)]);

    run.shutdown.cancel();
    run.task.await.unwrap();
}

/// The delivery probe is an empty `WriteRequest`: Prometheus must take it
/// (2xx), or a node refused once could never find out it is taken back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_accepts_the_empty_probe_request() {
    use lagring_sink::remote_write::request_builder::{build_write_request, encode};
    let prom = PrometheusServer::start().await.unwrap();
    let body = encode(&build_write_request(&[])).unwrap();
    let response = reqwest::Client::new()
        .post(prom.remote_write_url())
        .header("content-encoding", "snappy")
        .header("content-type", "application/x-protobuf")
        .header("x-prometheus-remote-write-version", "0.1.0")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "prometheus answered {} to an empty request", response.status());
}
