//! Burrow's JSON, checked field by field against fixtures written from
//! Burrow's documented examples and its `core/protocol` structs (`fixtures/`):
//! the router is served on a local port over a memory store, exactly as a
//! node serves it, and each answer is compared key by key (numbers to
//! Burrow's float32 precision). `evaluation_tests` checks that lagring's
//! numbers turn into the same objects.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;

use lagring_store::{EvaluationStore, MemoryEvaluationStore, Published, RecordKind};
use serde_json::Value;

use super::model::{EXTENSIONS, GroupStatus};
use super::routes::{ApiState, router};

pub(super) fn fixture(name: &str) -> Value {
    let text = match name {
        "cluster_list" => include_str!("fixtures/cluster_list.json"),
        "cluster_detail" => include_str!("fixtures/cluster_detail.json"),
        "consumer_list" => include_str!("fixtures/consumer_list.json"),
        "consumer_detail" => include_str!("fixtures/consumer_detail.json"),
        "consumer_status" => include_str!("fixtures/consumer_status.json"),
        "consumer_lag" => include_str!("fixtures/consumer_lag.json"),
        "status_not_found" => include_str!("fixtures/status_not_found.json"),
        "not_found" => include_str!("fixtures/not_found.json"),
        "topic_list" => include_str!("fixtures/topic_list.json"),
        "topic_detail" => include_str!("fixtures/topic_detail.json"),
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(text).unwrap()
}

/// Every difference between `got` and `want`, by JSON path: a missing or
/// extra key (lagring's documented [`EXTENSIONS`] aside), another type,
/// another value.
pub(super) fn differences(path: &str, got: &Value, want: &Value) -> Vec<String> {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            let mut out = Vec::new();
            for key in w.keys().filter(|k| !g.contains_key(*k)) {
                out.push(format!("{path}.{key}: missing"));
            }
            for key in g.keys().filter(|k| !w.contains_key(*k) && !EXTENSIONS.contains(&k.as_str())) {
                out.push(format!("{path}.{key}: not in Burrow's answer"));
            }
            for (key, w) in w {
                if let Some(g) = g.get(key) {
                    out.extend(differences(&format!("{path}.{key}"), g, w));
                }
            }
            out
        }
        (Value::Array(g), Value::Array(w)) if g.len() == w.len() => {
            g.iter().zip(w).enumerate().flat_map(|(i, (g, w))| differences(&format!("{path}[{i}]"), g, w)).collect()
        }
        (Value::Number(g), Value::Number(w)) => {
            let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
            if (g - w).abs() > 1e-6 * w.abs().max(1.0) { vec![format!("{path}: {g} instead of {w}")] } else { vec![] }
        }
        _ if got == want => vec![],
        _ => vec![format!("{path}: {got} instead of {want}")],
    }
}

fn assert_same(got: &Value, want: &Value) {
    let diff = differences("$", got, want);
    assert!(diff.is_empty(), "differs from Burrow's:\n{}\n\ngot: {got}", diff.join("\n"));
}

/// Serves the API over a store holding the fixtures' group and topic.
async fn serve() -> String {
    let store = MemoryEvaluationStore::new();
    let billing: GroupStatus = serde_json::from_value(fixture("consumer_lag")["status"].clone()).unwrap();
    let mut indexer = GroupStatus::not_found("east", "search-indexer");
    indexer.status = super::model::BurrowStatus::Ok;
    let records = [
        (RecordKind::Group, "billing", serde_json::to_string(&billing).unwrap()),
        (RecordKind::Group, "search-indexer", serde_json::to_string(&indexer).unwrap()),
        // An older node's record: offsets only.
        (RecordKind::Topic, "clicks", "[4410,3987,4102]".to_owned()),
    ]
    .map(|(kind, name, value)| Published { kind, name: name.to_owned(), value });
    store.publish("east", &records, std::time::Duration::from_secs(60)).await.unwrap();
    // This version's topic record, with rates.
    let views = r#"{"offsets":[7,9],"per_minute":[120.5,null]}"#.to_owned();
    let views = Published { kind: RecordKind::Topic, name: "views".to_owned(), value: views };
    store.publish("west", &[views], std::time::Duration::from_secs(60)).await.unwrap();
    let clusters: BTreeMap<String, Vec<String>> = [
        ("east".to_owned(), vec!["kafka-1.example:9092".to_owned(), "kafka-2.example:9092".to_owned()]),
        ("west".to_owned(), vec![]),
    ]
    .into();
    let state = ApiState {
        store: Arc::new(store) as Arc<dyn EvaluationStore>,
        clusters: Arc::new(clusters),
        host: Arc::from("lagring-0"),
        refresh_s: 30,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    format!("http://{addr}")
}

async fn get(base: &str, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{base}{path}")).await.unwrap();
    let code = response.status().as_u16();
    assert_eq!(
        response.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "{path}"
    );
    (code, serde_json::from_str(&response.text().await.unwrap()).unwrap())
}

#[tokio::test]
async fn every_endpoint_answers_burrows_json() {
    let base = serve().await;
    let cases = [
        ("/v3/kafka", 200, "cluster_list"),
        ("/v3/kafka/east", 200, "cluster_detail"),
        ("/v3/kafka/east/consumer", 200, "consumer_list"),
        ("/v3/kafka/east/consumer/billing", 200, "consumer_detail"),
        ("/v3/kafka/east/consumer/billing/status", 200, "consumer_status"),
        ("/v3/kafka/east/consumer/billing/lag", 200, "consumer_lag"),
        ("/v3/kafka/east/consumer/nobody/status", 404, "status_not_found"),
        ("/v3/kafka/east/consumer/nobody", 404, "not_found"),
        ("/v3/kafka/east/topic", 200, "topic_list"),
        ("/v3/kafka/east/topic/clicks", 200, "topic_detail"),
    ];
    for (path, code, name) in cases {
        let (got_code, got) = get(&base, path).await;
        assert_eq!(got_code, code, "{path}: {got}");
        assert_same(&got, &fixture(name));
    }
    // lagring's extensions, next to Burrow's fields.
    let (_, lag) = get(&base, "/v3/kafka/east/consumer/billing/lag").await;
    let consumed: Vec<&Value> =
        lag["status"]["partitions"].as_array().unwrap().iter().map(|p| &p["records_consumed_per_minute"]).collect();
    assert!(consumed.iter().all(|v| v.is_null()), "the fixture's evaluation has no rates: {consumed:?}");
    let (_, clicks) = get(&base, "/v3/kafka/east/topic/clicks").await;
    assert_eq!(clicks["records_produced_per_minute"], serde_json::json!([null, null, null]));
    let (code, views) = get(&base, "/v3/kafka/west/topic/views").await;
    assert_eq!((code, &views["offsets"]), (200, &serde_json::json!([7, 9])));
    assert_eq!(views["records_produced_per_minute"], serde_json::json!([120.5, null]));
}

#[tokio::test]
async fn unknown_clusters_and_topics_answer_burrows_404s() {
    let base = serve().await;
    let cases = [
        ("/v3/kafka/nope", "cluster module not found"),
        ("/v3/kafka/nope/consumer", "cluster not found"),
        ("/v3/kafka/nope/topic", "cluster not found"),
        ("/v3/kafka/east/topic/nope", "cluster or topic not found"),
        ("/v3/kafka/nope/topic/clicks", "cluster or topic not found"),
        ("/v3/kafka/nope/consumer/billing", "cluster or consumer not found"),
    ];
    for (path, message) in cases {
        let (code, got) = get(&base, path).await;
        assert_eq!(code, 404, "{path}: {got}");
        let want =
            serde_json::json!({"error": true, "message": message, "request": {"url": path, "host": "lagring-0"}});
        assert_same(&got, &want);
    }
    let (code, got) = get(&base, "/v3/kafka/nope/consumer/billing/lag").await;
    assert_eq!((code, &got["status"]["status"]), (404, &Value::from("NOTFOUND")));
    assert_eq!(got["status"]["cluster"], "nope");
    // A known cluster nobody published anything for: empty lists, not 404.
    let (code, got) = get(&base, "/v3/kafka/west/consumer").await;
    assert_eq!((code, &got["consumers"]), (200, &serde_json::json!([])));
}

#[test]
fn the_comparison_reports_missing_extra_and_changed_fields() {
    let want = serde_json::json!({"a": 1, "b": {"c": "x"}, "d": [1.0]});
    let got = serde_json::json!({"b": {"c": "y", "e": null}, "d": [1.0000001], "z": true});
    let diff = differences("$", &got, &want);
    assert_eq!(
        diff,
        vec![
            "$.a: missing",
            "$.z: not in Burrow's answer",
            "$.b.e: not in Burrow's answer",
            "$.b.c: \"y\" instead of \"x\""
        ]
    );
}

#[tokio::test]
async fn with_the_api_off_the_node_serves_no_v3_routes() {
    let state = |burrow_api| crate::http::HttpState {
        registry: prometheus::Registry::new(),
        lag: lagring_sink::LagCollector::new(),
        health: crate::health::Health::new(["east".to_owned()], std::time::Duration::from_secs(30)),
        burrow_api,
    };
    let api = ApiState {
        store: Arc::new(MemoryEvaluationStore::new()),
        clusters: Arc::new(BTreeMap::from([("east".to_owned(), vec![])])),
        host: Arc::from("lagring-0"),
        refresh_s: 30,
    };
    for (burrow_api, want) in [(None, 404), (Some(api), 200)] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, crate::http::router(state(burrow_api))).await });
        let code = reqwest::get(format!("http://{addr}/v3/kafka")).await.unwrap().status().as_u16();
        assert_eq!(code, want);
        let metrics = reqwest::get(format!("http://{addr}/metrics")).await.unwrap().status().as_u16();
        assert_eq!(metrics, 200, "/metrics either way");
    }
}
