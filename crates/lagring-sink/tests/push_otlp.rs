//! The OTLP push sink against a receiver that decodes with the official
//! protobuf definitions (`opentelemetry-proto`): gauges named like the
//! Prometheus series, every value, timestamp and point attribute, one
//! resource per cluster with the cluster and configured attributes; a 503 is
//! retried, a 400 counted as failed.

// Test code: a panic with a message is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use common::*;
use lagring_sink::push::{PushSinkConfig, PushSinks};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use prometheus::Registry;
use prost::Message;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Default)]
struct Receiver {
    requests: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
    /// Statuses to answer before answering 200.
    replies: Arc<Mutex<Vec<u16>>>,
}

async fn export(State(rx): State<Receiver>, body: Bytes) -> StatusCode {
    let request = ExportMetricsServiceRequest::decode(body).unwrap();
    let reply = rx.replies.lock().unwrap().pop();
    match reply {
        Some(status) => StatusCode::from_u16(status).unwrap(),
        None => {
            rx.requests.lock().unwrap().push(request);
            StatusCode::OK
        }
    }
}

async fn start_receiver() -> (Receiver, String) {
    let rx = Receiver::default();
    let app = Router::new().route("/v1/metrics", post(export)).with_state(rx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/metrics", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (rx, url)
}

fn attrs(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                other => panic!("attribute {} is not a string: {other:?}", kv.key),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

fn owned(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// (resource attributes, metric name, point attributes, value, time in ns) of every point.
type Point = (BTreeMap<String, String>, String, BTreeMap<String, String>, f64, u64);

fn points(requests: &[ExportMetricsServiceRequest]) -> Vec<Point> {
    let mut out = Vec::new();
    for rm in requests.iter().flat_map(|r| &r.resource_metrics) {
        let resource = attrs(&rm.resource.as_ref().unwrap().attributes);
        for sm in &rm.scope_metrics {
            assert_eq!(sm.scope.as_ref().unwrap().name, "lagring");
            for m in &sm.metrics {
                let Some(metric::Data::Gauge(gauge)) = &m.data else { panic!("{} is not a gauge", m.name) };
                for p in &gauge.data_points {
                    let Some(number_data_point::Value::AsDouble(v)) = p.value else { panic!("not a double") };
                    out.push((resource.clone(), m.name.clone(), attrs(&p.attributes), v, p.time_unix_nano));
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn otlp_gauges_with_cluster_resources() {
    let (rx, url) = start_receiver().await;
    // The first export is answered 503 (retried), the second 400 (failed).
    rx.replies.lock().unwrap().extend([400, 503]);
    let yaml = format!(
        "{{ name: otel, otlp: {{ endpoint: '{url}', resource_attributes: {{ deployment.environment: prod }} }}, \
         min_backoff: 10ms, max_backoff: 50ms, timeout: 5s }}"
    );
    let cfg: PushSinkConfig = serde_norway::from_str(&yaml).unwrap();
    let registry = Registry::new();
    let (handle, workers) = PushSinks::new(&[cfg], &registry).unwrap();
    let shutdown = CancellationToken::new();
    let tasks: Vec<_> =
        workers.into_iter().map(|w| tokio::spawn(w.run(shutdown.clone(), Duration::from_secs(5)))).collect();

    let ts = 1_700_000_000_000;
    let first = [("clustername", "c1"), ("group", "g")];
    handle.enqueue(&batch(ts, &[(key("kafka_consumer_group_sum_lag_in_offsets", &first), 1.0)], &[]));
    wait_metric(&registry, "lagring_sink_records_failed_total", Some(("sink", "otel")), 1.0).await;
    assert_eq!(metric(&registry, "lagring_sink_retries_total", Some(("sink", "otel"))), 1.0);

    // Group h is new on this node: no start zeros, every series sent.
    let group = [("clustername", "c1"), ("group", "h")];
    let part = [("clustername", "c1"), ("group", "h"), ("partition", "2"), ("topic", "orders")];
    handle.enqueue(&batch(
        ts + 60_000,
        &[
            (key("kafka_consumer_group_sum_lag_in_offsets", &group), 12.0),
            (key("kafka_consumer_group_lag_in_offsets", &part), 12.0),
            (key("kafka_consumer_group_lag_in_seconds", &part), 2.5),
        ],
        &[],
    ));
    let other = [("clustername", "c2"), ("group", "h")];
    let mut second = batch(ts + 60_000, &[(key("kafka_consumer_group_sum_lag_in_offsets", &other), 7.0)], &[]);
    second.cluster = Arc::from("c2");
    handle.enqueue(&second);
    wait_metric(&registry, "lagring_sink_records_sent_total", Some(("sink", "otel")), 4.0).await;

    let resource = |cluster: &str| {
        owned(&[("deployment.environment", "prod"), ("kafka.cluster.name", cluster), ("service.name", "lagring")])
    };
    let ns = 1_700_000_060_000_000_000u64;
    let want: Vec<Point> = vec![
        (resource("c1"), "kafka_consumer_group_sum_lag_in_offsets".into(), owned(&group), 12.0, ns),
        (resource("c1"), "kafka_consumer_group_lag_in_offsets".into(), owned(&part), 12.0, ns),
        (resource("c1"), "kafka_consumer_group_lag_in_seconds".into(), owned(&part), 2.5, ns),
        (resource("c2"), "kafka_consumer_group_sum_lag_in_offsets".into(), owned(&other), 7.0, ns),
    ];
    let mut got = points(&rx.requests.lock().unwrap());
    got.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)).then(a.3.total_cmp(&b.3)));
    let mut want_sorted = want.clone();
    want_sorted.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)).then(a.3.total_cmp(&b.3)));
    assert_eq!(got, want_sorted);
    assert_eq!(metric(&registry, "lagring_sink_records_valid_total", Some(("sink", "otel"))), 5.0);

    shutdown.cancel();
    for t in tasks {
        t.await.unwrap();
    }
}
