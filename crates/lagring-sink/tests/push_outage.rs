//! One push sink's destination is down: the other sink and remote write get
//! every batch as it comes (separate queues and workers; enqueueing never
//! waits), and the down sink's loss is counted exactly: its queue holds its
//! bound, one chunk is in flight being retried, the rest is dropped, and
//! what is left at shutdown is failed.

// Test code: a panic with a message is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::lines::{LineReceiver, refused_port};
use common::*;
use lagring_sink::push::{PushSinkConfig, PushSinks};
use lagring_testkit::receiver::RecordingReceiver;
use tokio_util::sync::CancellationToken;

const BATCHES: usize = 10;

fn sink_config(name: &str, address: &str, queue: usize) -> PushSinkConfig {
    let yaml = format!(
        "{{ name: {name}, wavefront: {{ address: '{address}' }}, changed_every: 1ms, unchanged_every: 1ms, \
         queue_max_records: {queue}, max_records_per_send: 2, min_backoff: 10ms, max_backoff: 100ms, timeout: 5s }}"
    );
    serde_norway::from_str(&yaml).unwrap()
}

#[tokio::test]
async fn a_down_sink_delays_nothing_and_counts_its_drops() {
    let up = LineReceiver::start().await;
    let down = format!("127.0.0.1:{}", refused_port().await);
    let rw_rx = RecordingReceiver::start().await.unwrap();
    let rw = start(&fast_config(rw_rx.url()), &[], Duration::from_secs(5));
    let (push, workers) =
        PushSinks::new(&[sink_config("up", &up.address(), 1000), sink_config("down", &down, 4)], &rw.registry).unwrap();
    let shutdown = CancellationToken::new();
    let tasks: Vec<_> =
        workers.into_iter().map(|w| tokio::spawn(w.run(shutdown.clone(), Duration::from_millis(200)))).collect();

    let t0 = now_ms_floor();
    for k in 0..BATCHES {
        let value = (k + 1) as f64;
        let samples = [
            (key("kafka_consumer_group_sum_lag_in_offsets", &[("clustername", "c1"), ("group", "g")]), value),
            (key("kafka_consumer_group_max_lag_in_offsets", &[("clustername", "c1"), ("group", "g")]), value),
        ];
        let b = batch(t0 + k as i64 * 1000, &samples, &[]);
        // What the emit stage does with each batch: enqueue only.
        let started = Instant::now();
        rw.handle.enqueue(b.clone());
        push.enqueue(&b);
        assert!(started.elapsed() < Duration::from_secs(1), "enqueue waited {:?}", started.elapsed());
        // This batch reaches the healthy sink and remote write while the
        // down sink keeps failing.
        let want = 2 * (k + 1);
        assert_eq!(up.wait_lines(want).await.len(), want);
        rw_rx.wait_for_accepted_samples(want, WAIT).await.unwrap();
    }

    let down_sink = Some(("sink", "down"));
    wait_metric_at_least(&rw.registry, "lagring_sink_retries_total", down_sink, 1.0).await;
    let valid = metric(&rw.registry, "lagring_sink_records_valid_total", down_sink);
    assert_eq!(valid, 20.0);
    assert_eq!(metric(&rw.registry, "lagring_sink_queue_records", down_sink), 4.0);
    // 20 valid = 4 queued + 2 in flight (retried) + 14 dropped.
    assert_eq!(metric(&rw.registry, "lagring_sink_records_dropped_total", down_sink), 14.0);
    assert_eq!(metric(&rw.registry, "lagring_sink_records_sent_total", down_sink), 0.0);

    let up_sink = Some(("sink", "up"));
    assert_eq!(metric(&rw.registry, "lagring_sink_records_sent_total", up_sink), 20.0);
    assert_eq!(metric(&rw.registry, "lagring_sink_records_dropped_total", up_sink), 0.0);
    assert_eq!(rw_rx.accepted_sample_count(), 20);

    shutdown.cancel();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(metric(&rw.registry, "lagring_sink_records_failed_total", down_sink), 6.0);
    assert_eq!(metric(&rw.registry, "lagring_sink_queue_records", down_sink), 0.0);
    rw.shutdown.cancel();
    rw.task.await.unwrap();
}
