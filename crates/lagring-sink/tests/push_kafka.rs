//! The Kafka push sink against a real tansu broker: records produced by the
//! idempotent producer, as goRainbow lines to one topic and as JSON to
//! another, read back with a consumer and compared exactly (key = group,
//! value, order).

// Test code: a panic with a message is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use lagring_sink::push::{PushSinkConfig, PushSinks};
use lagring_testkit::kafka_fixtures::create_topic;
use lagring_testkit::tansu::TansuBroker;
use prometheus::Registry;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

const T0: i64 = 1_700_000_000_000;

fn sink(name: &str, bootstrap: &str, topic: &str, format: &str) -> PushSinkConfig {
    let yaml = format!(
        "{{ name: {name}, kafka: {{ brokers: '{bootstrap}', topic: {topic}, format: {format}, naming: gorainbow }}, \
         min_backoff: 50ms, max_backoff: 500ms, timeout: 10s }}"
    );
    serde_norway::from_str(&yaml).unwrap()
}

/// Reads `n` (key, value) pairs of partition 0 of `topic` from the start.
async fn read_back(bootstrap: &str, topic: &str, n: usize) -> Vec<(String, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "push-kafka-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning).unwrap();
    consumer.assign(&tpl).unwrap();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + WAIT;
        let mut out = Vec::new();
        while out.len() < n && std::time::Instant::now() < deadline {
            if let Some(message) = consumer.poll(Duration::from_millis(200)) {
                let m = message.unwrap();
                let key = String::from_utf8(m.key().unwrap_or_default().to_vec()).unwrap();
                let value = String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap();
                out.push((key, value));
            }
        }
        assert_eq!(out.len(), n, "records read back from {topic}: {out:?}");
        out
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn lines_and_json_produced_to_tansu_read_back_exactly() {
    let broker = TansuBroker::start().unwrap();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "lag-lines", 1).await.unwrap();
    create_topic(&bootstrap, "lag-json", 1).await.unwrap();
    let registry = Registry::new();
    let configs = [sink("lines", &bootstrap, "lag-lines", "lines"), sink("json", &bootstrap, "lag-json", "json")];
    let (handle, workers) = PushSinks::new(&configs, &registry).unwrap();
    let shutdown = CancellationToken::new();
    let tasks: Vec<_> =
        workers.into_iter().map(|w| tokio::spawn(w.run(shutdown.clone(), Duration::from_secs(5)))).collect();

    let g = [("clustername", "c1"), ("group", "billing")];
    let h = [("clustername", "c1"), ("group", "audit")];
    let p = [("clustername", "c1"), ("group", "billing"), ("partition", "1"), ("topic", "orders")];
    handle.enqueue(&batch(
        T0,
        &[
            (key("kafka_consumer_group_sum_lag_in_offsets", &g), 42.0),
            (key("kafka_consumer_group_lag_in_offsets", &p), 42.0),
            (key("kafka_consumer_group_sum_lag_in_offsets", &h), 0.0),
        ],
        &[],
    ));
    // billing deleted: its series end with a 0.
    handle.enqueue(&batch(
        T0 + 10_000,
        &[(key("kafka_consumer_group_sum_lag_in_offsets", &h), 0.0)],
        &[key("kafka_consumer_group_sum_lag_in_offsets", &g), key("kafka_consumer_group_lag_in_offsets", &p)],
    ));
    wait_metric(&registry, "lagring_sink_records_sent_total", Some(("sink", "lines")), 5.0).await;
    wait_metric(&registry, "lagring_sink_records_sent_total", Some(("sink", "json")), 5.0).await;

    let tags = |group: &str| format!("source=\"lagring\" env=\"c1\" consumer=\"{group}\"");
    let s0 = T0 / 1000;
    let want_lines = vec![
        ("billing".to_owned(), format!("fjord.burrow.c1.billing.totalLag 42 {s0} {}", tags("billing"))),
        (
            "billing".to_owned(),
            format!(
                "fjord.burrow.c1.billing.1.currentLag 42 {s0} {} topic=\"orders\" partition=\"1\"",
                tags("billing")
            ),
        ),
        ("audit".to_owned(), format!("fjord.burrow.c1.audit.totalLag 0 {s0} {}", tags("audit"))),
        ("billing".to_owned(), format!("fjord.burrow.c1.billing.totalLag 0 {} {}", s0 + 10, tags("billing"))),
        (
            "billing".to_owned(),
            format!(
                "fjord.burrow.c1.billing.1.currentLag 0 {} {} topic=\"orders\" partition=\"1\"",
                s0 + 10,
                tags("billing")
            ),
        ),
    ];
    assert_eq!(read_back(&bootstrap, "lag-lines", 5).await, want_lines);

    let json = |name: &str, labels: &str, value: &str, ts: i64| {
        format!(
            "{{\"cluster\":\"c1\",\"labels\":{{{labels}}},\"name\":\"{name}\",\"timestamp_ms\":{ts},\"value\":{value}}}"
        )
    };
    let gl = "\"clustername\":\"c1\",\"group\":\"billing\"";
    let pl = "\"clustername\":\"c1\",\"group\":\"billing\",\"partition\":\"1\",\"topic\":\"orders\"";
    let hl = "\"clustername\":\"c1\",\"group\":\"audit\"";
    let (sum, lag) = ("kafka_consumer_group_sum_lag_in_offsets", "kafka_consumer_group_lag_in_offsets");
    let want_json: Vec<(String, String)> = vec![
        ("billing".into(), json(sum, gl, "42.0", T0)),
        ("billing".into(), json(lag, pl, "42.0", T0)),
        ("audit".into(), json(sum, hl, "0.0", T0)),
        ("billing".into(), json(sum, gl, "0.0", T0 + 10_000)),
        ("billing".into(), json(lag, pl, "0.0", T0 + 10_000)),
    ];
    assert_eq!(read_back(&bootstrap, "lag-json", 5).await, want_json);
    assert_eq!(metric(&registry, "lagring_sink_records_failed_total", None), 0.0);

    shutdown.cancel();
    for t in tasks {
        t.await.unwrap();
    }
}
