//! The Wavefront push sink against a recording TCP receiver: the exact lines
//! of the `gorainbow` preset, change-gating on the batch clock (a changed
//! series every 30 s at most, an unchanged one every 60 s), the 0 first and
//! last samples of partition series and of a deleted group, and the
//! `lagring_sink_*` counters; and the preset's offsets: Burrow's window-start
//! and committed offsets per partition (`startOffset`, `endOffset`, from the
//! batch's push-only part) and the topic's end offsets (`topic.<t>.<p>.offset`).

// Test code: a panic with a message is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::lines::LineReceiver;
use common::*;
use lagring_core::series::SeriesKey;
use lagring_sink::push::{PushSinkConfig, PushSinks};
use prometheus::Registry;
use tokio_util::sync::CancellationToken;

const T0: i64 = 1_700_000_000_000;
const SUM: &str = "kafka_consumer_group_sum_lag_in_offsets";
const MAX: &str = "kafka_consumer_group_max_lag_in_offsets";
const PART: &str = "kafka_consumer_group_lag_in_offsets";

fn sink_config(name: &str, address: &str) -> PushSinkConfig {
    let yaml = format!(
        "{{ name: {name}, wavefront: {{ address: '{address}', naming: gorainbow, source: fjord-burrow }}, \
         min_backoff: 10ms, max_backoff: 100ms, timeout: 5s }}"
    );
    serde_norway::from_str(&yaml).unwrap()
}

fn g(name: &str, group: &str) -> SeriesKey {
    key(name, &[("clustername", "c1"), ("group", group)])
}

fn p0() -> SeriesKey {
    key(PART, &[("clustername", "c1"), ("group", "g"), ("partition", "0"), ("topic", "orders")])
}

/// Group g: idle, lagging 5 for 30 s, idle again, then deleted; group h: a
/// steady lag of 3 throughout. One batch every 10 s.
fn batches() -> Vec<lagring_core::series::SeriesBatch> {
    let g_lag = [0.0, 5.0, 5.0, 5.0, 0.0];
    let h = [(g(SUM, "h"), 3.0), (g(MAX, "h"), 3.0)];
    let mut out = Vec::new();
    for (k, lag) in g_lag.iter().enumerate() {
        let mut samples = vec![(g(SUM, "g"), *lag), (g(MAX, "g"), *lag), (p0(), *lag)];
        samples.extend(h.iter().cloned());
        out.push(batch(T0 + k as i64 * 10_000, &samples, &[]));
    }
    out.push(batch(T0 + 50_000, &h, &[g(SUM, "g"), g(MAX, "g"), p0()]));
    out.push(batch(T0 + 60_000, &h, &[]));
    out
}

fn line(name: &str, value: u32, step: i64, group: &str, extra: &str) -> String {
    let secs = T0 / 1000 + step * 10;
    format!(
        "fjord.burrow.c1.{group}.{name} {value} {secs} source=\"fjord-burrow\" env=\"c1\" consumer=\"{group}\"{extra}"
    )
}

#[tokio::test]
async fn gorainbow_lines_gating_bracketing_and_counters() {
    let rx = LineReceiver::start().await;
    let registry = Registry::new();
    let (handle, workers) = PushSinks::new(&[sink_config("wf", &rx.address())], &registry).unwrap();
    let shutdown = CancellationToken::new();
    let tasks: Vec<_> =
        workers.into_iter().map(|w| tokio::spawn(w.run(shutdown.clone(), Duration::from_secs(5)))).collect();

    for b in batches() {
        handle.enqueue(&b);
    }
    let part = " topic=\"orders\" partition=\"0\"";
    let want = vec![
        // 0 s: both groups start; g has no lag, so its partition is not sent.
        line("totalLag", 0, 0, "g", ""),
        line("maxLagCurrentLag", 0, 0, "g", ""),
        line("totalLag", 3, 0, "h", ""),
        line("maxLagCurrentLag", 3, 0, "h", ""),
        // 10 s: g's lag appears: its group series changed only 10 s ago and
        // wait; the partition starts with a 0 at the previous batch's instant.
        line("0.currentLag", 0, 0, "g", part),
        line("0.currentLag", 5, 1, "g", part),
        // 30 s: g's group series changed 30 s after they were last sent.
        line("totalLag", 5, 3, "g", ""),
        line("maxLagCurrentLag", 5, 3, "g", ""),
        // 40 s: the lag is gone: the partition ends with a 0 at once.
        line("0.currentLag", 0, 4, "g", part),
        // 50 s: g deleted: its group series end with a 0.
        line("totalLag", 0, 5, "g", ""),
        line("maxLagCurrentLag", 0, 5, "g", ""),
        // 60 s: h unchanged for 60 s.
        line("totalLag", 3, 6, "h", ""),
        line("maxLagCurrentLag", 3, 6, "h", ""),
    ];
    assert_eq!(rx.wait_lines(want.len()).await, want);

    let sink = Some(("sink", "wf"));
    wait_metric(&registry, "lagring_sink_records_sent_total", sink, 13.0).await;
    // g: 3 series in 5 batches and 2 ended with a value to end; h: 2 series in 7 batches.
    assert_eq!(metric(&registry, "lagring_sink_records_considered_total", sink), 31.0);
    assert_eq!(metric(&registry, "lagring_sink_records_valid_total", sink), 13.0);
    assert_eq!(metric(&registry, "lagring_sink_records_failed_total", sink), 0.0);
    assert_eq!(metric(&registry, "lagring_sink_records_dropped_total", sink), 0.0);
    assert_eq!(metric(&registry, "lagring_sink_queue_records", sink), 0.0);

    shutdown.cancel();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(rx.lines().len(), 13, "nothing more after shutdown");
}

/// The push-only offsets of g's partition 0: window start and committed.
fn offsets(start: f64, committed: f64) -> Vec<lagring_core::series::Sample> {
    let labels = [("clustername", "c1"), ("group", "g"), ("partition", "0"), ("topic", "orders")];
    let sample = |name: &str, value| lagring_core::series::Sample { key: key(name, &labels), value };
    vec![
        sample("kafka_consumer_group_window_start_offset", start),
        sample("kafka_consumer_group_committed_offset", committed),
    ]
}

#[tokio::test]
async fn gorainbow_offsets_and_topic_offsets_follow_the_same_gating() {
    let rx = LineReceiver::start().await;
    let registry = Registry::new();
    let (handle, workers) = PushSinks::new(&[sink_config("wf", &rx.address())], &registry).unwrap();
    let shutdown = CancellationToken::new();
    let tasks: Vec<_> =
        workers.into_iter().map(|w| tokio::spawn(w.run(shutdown.clone(), Duration::from_secs(5)))).collect();

    let end = key("kafka_partition_end_offset", &[("clustername", "c1"), ("partition", "0"), ("topic", "orders")]);
    let ended_offsets: Vec<SeriesKey> = offsets(0.0, 0.0).into_iter().map(|s| s.key).collect();
    // g lags 5 on orders/0 (window 90..95) for 20 s, catches up (95..100), then is deleted; the
    // topic's end offset stays 100.
    let mut steps = [
        (batch(T0, &[(g(SUM, "g"), 5.0), (p0(), 5.0), (end.clone(), 100.0)], &[]), offsets(90.0, 95.0)),
        (batch(T0 + 10_000, &[(g(SUM, "g"), 5.0), (p0(), 5.0), (end.clone(), 100.0)], &[]), offsets(90.0, 95.0)),
        (batch(T0 + 20_000, &[(g(SUM, "g"), 0.0), (p0(), 0.0), (end.clone(), 100.0)], &[]), offsets(95.0, 100.0)),
        (batch(T0 + 30_000, &[(end.clone(), 100.0)], &[g(SUM, "g"), p0()]), vec![]),
        (batch(T0 + 60_000, &[(end.clone(), 100.0)], &[]), vec![]),
    ];
    steps[3].0.push_only.ended = ended_offsets;
    for (mut b, push) in steps {
        b.push_only.samples = push;
        handle.enqueue(&b);
    }
    let part = " topic=\"orders\" partition=\"0\"";
    let topic = |step: i64| {
        let secs = T0 / 1000 + step * 10;
        format!(
            "fjord.burrow.c1.topic.orders.0.offset 100 {secs} source=\"fjord-burrow\" topic=\"orders\" partitionId=\"0\""
        )
    };
    let want = vec![
        // 0 s: everything starts (g is new here: no leading 0).
        line("totalLag", 5, 0, "g", ""),
        line("0.currentLag", 5, 0, "g", part),
        topic(0),
        line("0.startOffset", 90, 0, "g", part),
        line("0.endOffset", 95, 0, "g", part),
        // 10 s: nothing changed, nothing is due.
        // 20 s: the lag is gone: every partition series of g ends with a 0 at once.
        line("0.currentLag", 0, 2, "g", part),
        line("0.startOffset", 0, 2, "g", part),
        line("0.endOffset", 0, 2, "g", part),
        // 30 s: g deleted: its total (last sent as 5) ends with a 0; the offsets already did.
        line("totalLag", 0, 3, "g", ""),
        // 60 s: the topic's end offset, unchanged for 60 s.
        topic(6),
    ];
    assert_eq!(rx.wait_lines(want.len()).await, want);
    let sink = Some(("sink", "wf"));
    wait_metric(&registry, "lagring_sink_records_sent_total", sink, 10.0).await;
    // 5 mapped values in each of the first three batches, then the end offset and g's ended total, then the end offset.
    assert_eq!(metric(&registry, "lagring_sink_records_considered_total", sink), 18.0);
    assert_eq!(metric(&registry, "lagring_sink_records_valid_total", sink), 10.0);

    shutdown.cancel();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(rx.lines().len(), 10, "nothing more after shutdown");
}
