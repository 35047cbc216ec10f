//! End to end, single node: a real tansu broker with known records and
//! commits, a real lagring process, a real Prometheus receiving remote write.
//! Every expected lag value is exact.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use lagring_e2e::lagring_binary;
use lagring_testkit::ground_truth;
use lagring_testkit::kafka_fixtures::{commit, create_topic, produce};
use lagring_testkit::lagring_node::LagringNode;
use lagring_testkit::metrics_text::{TextSample, select};
use lagring_testkit::ports::wait_for;
use lagring_testkit::prometheus::{PromSample, PrometheusServer};
use lagring_testkit::tansu::TansuBroker;

const TIMEOUT: Duration = Duration::from_secs(60);
type Key = (String, String, String);

/// (group, topic, partition) → value, from /metrics samples named `name`.
fn by_partition(samples: &[TextSample], name: &str) -> BTreeMap<Key, f64> {
    select(samples, name, &[])
        .into_iter()
        .map(|s| ((s.labels["group"].clone(), s.labels["topic"].clone(), s.labels["partition"].clone()), s.value))
        .collect()
}

fn by_labels<'a>(
    samples: impl IntoIterator<Item = (&'a BTreeMap<String, String>, f64)>,
    keys: &[&str],
) -> BTreeMap<Vec<String>, f64> {
    samples
        .into_iter()
        .map(|(labels, v)| (keys.iter().map(|k| labels.get(*k).cloned().unwrap_or_default()).collect(), v))
        .collect()
}

fn prom_map(result: &[PromSample], keys: &[&str]) -> BTreeMap<Vec<String>, f64> {
    by_labels(result.iter().map(|s| (&s.labels, s.value)), keys)
}

fn text_map(samples: &[TextSample], name: &str, keys: &[&str]) -> BTreeMap<Vec<String>, f64> {
    by_labels(select(samples, name, &[]).into_iter().map(|s| (&s.labels, s.value)), keys)
}

fn key(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_owned()).collect()
}

/// Expected partition lag after `extra` more records on orders/0.
fn expected_partition_lag(extra: f64) -> BTreeMap<Vec<String>, f64> {
    ground_truth::EXPECTED
        .iter()
        .map(|&(group, topic, partition, _, _, lag)| {
            let more = if (topic, partition) == ("orders", 0) { extra } else { 0.0 };
            (key(&[group, topic, &partition.to_string()]), lag as f64 + more)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_lag_on_metrics_and_in_prometheus() -> Result<()> {
    let broker = TansuBroker::start()?;
    let prom = PrometheusServer::start().await?;
    let bs = broker.bootstrap();

    ground_truth::seed(&bs).await?;

    let config = format!(
        "node: {{ id: e2e, interval: 1s }}\n\
         clusters:\n  - name: local\n    brokers: ['{bs}']\n    groups: {{ deny: ['^test-'] }}\n\
         remote_write: {{ url: '{}' }}\n\
         http: {{ listen: '{{HTTP_LISTEN}}' }}\n",
        prom.remote_write_url()
    );
    let mut node = LagringNode::start(&lagring_binary()?, "lagring", &config)?;

    let lag_name = "kafka_consumer_group_lag_in_offsets";
    let pkeys = ["group", "topic", "partition"];
    let metrics = wait_for("exact partition lag on /metrics", TIMEOUT, || async {
        let m = node.metrics().await?;
        Ok((text_map(&m, lag_name, &pkeys) == expected_partition_lag(0.0)).then_some(m))
    })
    .await
    .map_err(|e| e.context(node.log_tail()))?;

    assert_eq!(by_partition(&metrics, lag_name).len(), 6);
    let group_sum = text_map(&metrics, "kafka_consumer_group_sum_lag_in_offsets", &["group"]);
    let group_max = text_map(&metrics, "kafka_consumer_group_max_lag_in_offsets", &["group"]);
    assert_eq!(group_sum, [(key(&["audit"]), 4.0), (key(&["billing"]), 11.0)].into_iter().collect());
    assert_eq!(group_max, [(key(&["audit"]), 4.0), (key(&["billing"]), 6.0)].into_iter().collect());
    let topic_sum = text_map(&metrics, "kafka_consumer_group_topic_sum_lag_in_offsets", &["group", "topic"]);
    let topic_max = text_map(&metrics, "kafka_consumer_group_topic_max_lag_in_offsets", &["group", "topic"]);
    let topic_expected: BTreeMap<Vec<String>, f64> =
        [(key(&["audit", "orders"]), 0.0), (key(&["audit", "payments"]), 4.0), (key(&["billing", "orders"]), 11.0)]
            .into_iter()
            .collect();
    assert_eq!(topic_sum, topic_expected);
    assert_eq!(topic_max.get(&key(&["billing", "orders"])), Some(&6.0));
    assert_eq!(topic_max.get(&key(&["audit", "payments"])), Some(&4.0));
    let without = text_map(&metrics, "kafka_consumer_group_partitions_without_commit", &["group"]);
    assert_eq!(without, [(key(&["audit"]), 2.0), (key(&["billing"]), 0.0)].into_iter().collect());
    assert_eq!(select(&metrics, "kafka_total_groups_checked", &[("clustername", "local")])[0].value, 2.0);
    assert!(metrics.iter().all(|s| s.labels.get("group").map(String::as_str) != Some("test-ignored")));
    assert!(metrics.iter().all(|s| !s.labels.contains_key("node") && !s.labels.contains_key("instance")));
    assert!(select(&metrics, "kafka_consumer_group_lag_beyond_retention", &[]).is_empty());

    // The same numbers arrived in Prometheus through remote write.
    let result = prom
        .wait_for_query(lag_name, TIMEOUT, |r| prom_map(r, &pkeys) == expected_partition_lag(0.0))
        .await
        .map_err(|e| e.context(node.log_tail()))?;
    assert!(result.iter().all(|s| s.labels.get("clustername").map(String::as_str) == Some("local")));
    let sums = prom.query("kafka_consumer_group_sum_lag_in_offsets").await?;
    assert_eq!(prom_map(&sums, &["group"]), group_sum);
    assert!(prom.query("{group=\"test-ignored\"}").await?.is_empty());

    // More records: the next iterations see the new end offset exactly.
    produce(&bs, "orders", 0, 5).await?;
    wait_for("orders/0 lag +5 on /metrics", TIMEOUT, || async {
        let m = node.metrics().await?;
        let got = text_map(&m, lag_name, &pkeys);
        anyhow::ensure!(got == expected_partition_lag(5.0), "last seen: {got:?}");
        Ok(Some(()))
    })
    .await
    .map_err(|e| e.context(node.log_tail()))?;
    prom.wait_for_query(lag_name, TIMEOUT, |r| prom_map(r, &pkeys) == expected_partition_lag(5.0)).await?;

    assert_eq!(node.get("/healthz").await?.0, 200);
    assert_eq!(node.get("/readyz").await?.0, 200);
    let self_metrics = node.metrics().await?;
    let ok_iterations = select(&self_metrics, "lagring_iterations_total", &[("cluster", "local"), ("result", "ok")]);
    assert!(ok_iterations[0].value >= 2.0);

    let status = node.terminate(Duration::from_secs(15)).expect("node exits");
    assert!(status.success(), "exit status {status:?}:\n{}", node.log_tail());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_cluster_is_unhealthy_and_named_while_the_other_works() -> Result<()> {
    let broker = TansuBroker::start()?;
    let bs = broker.bootstrap();
    create_topic(&bs, "t", 1).await?;
    produce(&bs, "t", 0, 3).await?;
    commit(&bs, "g", &[("t", 0, 1)]).await?;
    let dead_port = lagring_testkit::ports::free_port()?;
    let config = format!(
        "node: {{ id: e2e-health, interval: 1s, iteration_timeout: 3s }}\n\
         clusters:\n  - name: alive\n    brokers: ['{bs}']\n  - name: dead\n    brokers: ['127.0.0.1:{dead_port}']\n    request_timeout: 1s\n\
         http: {{ listen: '{{HTTP_LISTEN}}' }}\n"
    );
    let node = LagringNode::start(&lagring_binary()?, "lagring", &config)?;
    wait_for("alive cluster lag on /metrics", TIMEOUT, || async {
        let m = node.metrics().await?;
        Ok((text_map(&m, "kafka_consumer_group_lag_in_offsets", &["group"])
            == [(key(&["g"]), 2.0)].into_iter().collect())
        .then_some(()))
    })
    .await
    .map_err(|e| e.context(node.log_tail()))?;
    let body = wait_for("healthz names the dead cluster", TIMEOUT, || async {
        let (status, body) = node.get("/healthz").await?;
        Ok((status == 503 && body.contains("\"dead\"")).then_some(body))
    })
    .await?;
    let json: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(json["status"], "unhealthy");
    assert!(json["unhealthy"]["dead"].as_str().is_some_and(|r| !r.is_empty()), "{body}");
    assert!(json["unhealthy"].get("alive").is_none(), "{body}");
    Ok(())
}
