//! Remote write under receiver faults, against the in-process recording
//! receiver: outages, rejections, retryable errors and queue overflow.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use lagring_testkit::receiver::{RecordingReceiver, Reply, SeriesId};

const M: &str = "kafka_consumer_group_lag_in_offsets";
const SENT: &str = "lagring_remote_write_samples_sent_total";
const FAILED: &str = "lagring_remote_write_samples_failed_total";
const DROPPED: &str = "lagring_remote_write_samples_dropped_total";
const REQUESTS: &str = "lagring_remote_write_requests_total";
const RETRIES: &str = "lagring_remote_write_retries_total";
const QUEUE: &str = "lagring_remote_write_queue_samples";

fn partition_key(p: u32) -> lagring_core::series::SeriesKey {
    key(M, &[("clustername", "c1"), ("group", "g"), ("partition", &p.to_string())])
}

fn series_id(p: u32) -> SeriesId {
    let labels: BTreeMap<String, String> = [("clustername", "c1"), ("group", "g"), ("partition", &*p.to_string())]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    SeriesId { name: M.to_owned(), labels }
}

/// A batch at `ts` with one sample per partition in `partitions`, value ts+p.
fn partitions_batch(ts: i64, partitions: std::ops::Range<u32>) -> lagring_core::series::SeriesBatch {
    let samples: Vec<_> = partitions.map(|p| (partition_key(p), (ts + i64::from(p)) as f64)).collect();
    batch(ts, &samples, &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_then_recovery_delivers_everything_in_order() {
    let mut rx = RecordingReceiver::start().await.unwrap();
    let mut cfg = fast_config(rx.url());
    cfg.max_samples_per_request = 4;
    let node = vec![("X-Lagring-Node".to_owned(), "lagring-1".to_owned())];
    let run = start(&cfg, &node, Duration::from_secs(5));

    rx.go_down().await;
    for i in 1..=5 {
        run.handle.enqueue(partitions_batch(i * 1000, 0..3));
    }
    // The first request is failing against the closed port and being retried.
    wait_metric_at_least(&run.registry, REQUESTS, Some(("status", "error")), 3.0).await;
    assert_eq!(rx.request_count(), 0);
    rx.come_up().await.unwrap();
    rx.wait_for_accepted_samples(15, WAIT).await.unwrap();
    wait_metric(&run.registry, SENT, None, 15.0).await;

    let series = rx.series();
    assert_eq!(series.len(), 3);
    for p in 0..3 {
        let want: Vec<(i64, f64)> = (1..=5).map(|i| (i * 1000, (i * 1000 + i64::from(p)) as f64)).collect();
        assert_eq!(series[&series_id(p)], want, "partition {p}");
    }
    let requests = rx.requests();
    assert!(requests.iter().all(|r| r.status == 204 && r.sample_count() <= 4));
    assert_eq!(requests.len(), 4); // 15 samples, at most 4 per request
    let first = &requests[0];
    assert_eq!(first.node.as_deref(), Some("lagring-1"));
    assert_eq!(first.headers["content-encoding"], "snappy");
    assert_eq!(first.headers["content-type"], "application/x-protobuf");
    assert_eq!(first.headers["x-prometheus-remote-write-version"], "0.1.0");
    assert_eq!(first.headers["user-agent"], concat!("lagring/", env!("CARGO_PKG_VERSION")));
    assert_eq!(metric(&run.registry, DROPPED, None), 0.0);
    assert_eq!(metric(&run.registry, FAILED, None), 0.0);
    assert_eq!(metric(&run.registry, QUEUE, None), 0.0);

    run.shutdown.cancel();
    run.task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_is_not_retried_and_counted_as_failed() {
    let rx = RecordingReceiver::start().await.unwrap();
    let run = start(&fast_config(rx.url()), &[], Duration::from_secs(5));
    rx.set_status(400);
    run.handle.enqueue(partitions_batch(1000, 0..3));
    wait_metric(&run.registry, FAILED, None, 3.0).await;
    // The next batch is only sent once the first is finished, so if the 400
    // had been retried the retry would show up before this request.
    rx.set_reply(Reply::Ok);
    run.handle.enqueue(partitions_batch(2000, 0..2));
    rx.wait_for_accepted_samples(2, WAIT).await.unwrap();
    let statuses: Vec<u16> = rx.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![400, 204]);
    assert_eq!(metric(&run.registry, RETRIES, None), 0.0);
    assert_eq!(metric(&run.registry, REQUESTS, Some(("status", "400"))), 1.0);
    wait_metric(&run.registry, SENT, None, 2.0).await;
    run.shutdown.cancel();
    run.task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_is_retried_until_it_succeeds() {
    let rx = RecordingReceiver::start().await.unwrap();
    let run = start(&fast_config(rx.url()), &[], Duration::from_secs(5));
    rx.set_status(503);
    run.handle.enqueue(partitions_batch(1000, 0..3));
    rx.wait_for_requests(3, WAIT).await.unwrap();
    rx.set_reply(Reply::Ok);
    rx.wait_for_accepted_samples(3, WAIT).await.unwrap();
    wait_metric(&run.registry, SENT, None, 3.0).await;

    let requests = rx.requests();
    let (last, earlier) = requests.split_last().unwrap();
    assert_eq!(last.status, 204);
    assert!(earlier.len() >= 3 && earlier.iter().all(|r| r.status == 503));
    assert!(requests.iter().all(|r| r.series == last.series), "every retry carries the same data");
    assert_eq!(metric(&run.registry, RETRIES, None), earlier.len() as f64);
    assert_eq!(metric(&run.registry, REQUESTS, Some(("status", "503"))), earlier.len() as f64);
    assert_eq!(metric(&run.registry, FAILED, None), 0.0);
    run.shutdown.cancel();
    run.task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_retry_after_is_honoured_but_capped() {
    let rx = RecordingReceiver::start().await.unwrap();
    let mut cfg = fast_config(rx.url());
    cfg.max_backoff = Duration::from_millis(300);
    let run = start(&cfg, &[], Duration::from_secs(5));
    // Asks for an hour; the cap makes it 300 ms.
    rx.set_reply(Reply::Status { status: 429, retry_after_secs: Some(3600) });
    run.handle.enqueue(partitions_batch(1000, 0..1));
    rx.wait_for_requests(2, WAIT).await.unwrap();
    rx.set_reply(Reply::Ok);
    rx.wait_for_accepted_samples(1, WAIT).await.unwrap();
    let requests = rx.requests();
    let gap = requests[1].elapsed - requests[0].elapsed;
    assert!(gap >= Duration::from_millis(300), "retried after {gap:?}, before the capped Retry-After");
    assert!(gap < Duration::from_secs(3), "retried after {gap:?}, Retry-After not capped");
    run.shutdown.cancel();
    run.task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_overflow_drops_exactly_the_oldest_overflow() {
    let mut rx = RecordingReceiver::start().await.unwrap();
    let mut cfg = fast_config(rx.url());
    cfg.max_samples_per_request = 2;
    cfg.queue_max_samples = 10;
    let run = start(&cfg, &[], Duration::from_secs(5));
    rx.go_down().await;

    // The first batch leaves the queue and is retried against the closed port.
    run.handle.enqueue(partitions_batch(1000, 0..2));
    wait_metric_at_least(&run.registry, REQUESTS, Some(("status", "error")), 1.0).await;
    assert_eq!(run.handle.queued_samples(), 0);
    // 12 more samples into a queue of 10: the 2 oldest (partitions 0 and 1
    // of t=2000) are dropped.
    for ts in [2000, 3000, 4000] {
        run.handle.enqueue(partitions_batch(ts, 0..4));
    }
    assert_eq!(metric(&run.registry, DROPPED, None), 2.0);
    assert_eq!(metric(&run.registry, QUEUE, None), 10.0);

    rx.come_up().await.unwrap();
    rx.wait_for_accepted_samples(12, WAIT).await.unwrap();
    wait_metric(&run.registry, SENT, None, 12.0).await;
    let series = rx.series();
    let ts_of = |p: u32| series[&series_id(p)].iter().map(|(ts, _)| *ts).collect::<Vec<_>>();
    assert_eq!(ts_of(0), vec![1000, 3000, 4000]);
    assert_eq!(ts_of(1), vec![1000, 3000, 4000]);
    assert_eq!(ts_of(2), vec![2000, 3000, 4000]);
    assert_eq!(ts_of(3), vec![2000, 3000, 4000]);
    assert_eq!(rx.accepted_sample_count(), 12);
    assert_eq!(metric(&run.registry, DROPPED, None), 2.0);
    run.shutdown.cancel();
    run.task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_flushes_the_queue_and_gives_up_after_the_flush_timeout() {
    let mut rx = RecordingReceiver::start().await.unwrap();
    let run = start(&fast_config(rx.url()), &[], Duration::from_secs(10));
    run.handle.enqueue(partitions_batch(1000, 0..3));
    run.shutdown.cancel();
    tokio::time::timeout(WAIT, run.task).await.unwrap().unwrap();
    assert_eq!(rx.accepted_sample_count(), 3);

    rx.go_down().await;
    let flush = Duration::from_millis(300);
    let down = start(&fast_config(rx.url()), &[], flush);
    down.handle.enqueue(partitions_batch(2000, 0..3));
    wait_metric_at_least(&down.registry, REQUESTS, Some(("status", "error")), 1.0).await;
    down.handle.enqueue(partitions_batch(3000, 0..2));
    down.shutdown.cancel();
    tokio::time::timeout(WAIT, down.task).await.unwrap().unwrap();
    assert_eq!(metric(&down.registry, FAILED, None), 5.0);
    assert_eq!(metric(&down.registry, QUEUE, None), 0.0);
}
