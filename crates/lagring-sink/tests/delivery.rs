//! The worker's delivery state against the recording receiver: a receiver
//! that refuses the node (401) makes it undeliverable at once and holds the
//! data while empty probes find out when it is taken back; retryable failures
//! do so only after `leave_after`; a content rejection (400) never does.

// Test code: a panic with a message is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use lagring_sink::remote_write::DeliveryHealth;
use lagring_testkit::ports::wait_for;
use lagring_testkit::receiver::{RecordingReceiver, Reply};

const M: &str = "kafka_consumer_group_lag_in_offsets";
const DELIVERABLE: &str = "lagring_remote_write_deliverable";
const FAILED: &str = "lagring_remote_write_samples_failed_total";

fn one_sample(ts: i64) -> lagring_core::series::SeriesBatch {
    batch(ts, &[(key(M, &[("clustername", "c1"), ("group", "g")]), ts as f64)], &[])
}

fn config(rx: &RecordingReceiver) -> lagring_sink::RemoteWriteConfig {
    let mut cfg = fast_config(rx.url());
    cfg.leave_after = Duration::from_millis(300);
    cfg.probe_interval = Duration::from_millis(100);
    cfg
}

async fn wait_deliverable(delivery: &DeliveryHealth, want: bool) {
    wait_for(&format!("deliverable == {want}"), WAIT, || async {
        Ok((delivery.is_deliverable() == want).then_some(()))
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_receiver_makes_the_node_undeliverable_and_loses_nothing() {
    let rx = RecordingReceiver::start().await.unwrap();
    let run = start(&config(&rx), &[], Duration::from_secs(5));
    run.handle.enqueue(one_sample(1000));
    rx.wait_for_accepted_samples(1, WAIT).await.unwrap();
    assert_eq!(metric(&run.registry, DELIVERABLE, None), 1.0);

    rx.set_status(401);
    run.handle.enqueue(one_sample(2000));
    wait_deliverable(&run.delivery, false).await;
    assert_eq!(metric(&run.registry, DELIVERABLE, None), 0.0);
    let state = run.delivery.state();
    assert_eq!(state.reason.as_deref(), Some("remote write receiver refuses this node: it answered 401"));
    run.handle.enqueue(one_sample(3000));
    // The refused request is held: from now on only empty probes go out.
    rx.wait_for_requests(5, WAIT).await.unwrap();
    let refused: Vec<_> = rx.requests().into_iter().skip(1).collect();
    assert!(refused.iter().all(|r| r.status == 401), "{refused:?}");
    assert_eq!(refused[0].sample_count(), 1, "the refused request carried the data");
    assert!(refused[1..].iter().all(|r| r.sample_count() == 0), "probes only while refused: {refused:?}");
    assert_eq!(metric(&run.registry, FAILED, None), 0.0, "nothing given up on");

    rx.set_reply(Reply::Ok);
    rx.wait_for_accepted_samples(3, WAIT).await.unwrap();
    wait_deliverable(&run.delivery, true).await;
    assert_eq!(metric(&run.registry, DELIVERABLE, None), 1.0);
    let series: Vec<(i64, f64)> = rx.series().into_values().next().unwrap();
    assert_eq!(series, vec![(1000, 1000.0), (2000, 2000.0), (3000, 3000.0)], "every sample once, in order");
    assert!(run.delivery.state().reason.is_none());

    run.shutdown.cancel();
    run.task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_failures_count_only_after_leave_after_and_a_400_never() {
    let rx = RecordingReceiver::start().await.unwrap();
    let run = start(&config(&rx), &[], Duration::from_secs(5));

    rx.set_status(400);
    run.handle.enqueue(one_sample(1000));
    wait_metric(&run.registry, FAILED, None, 1.0).await;
    assert!(run.delivery.is_deliverable(), "a bad batch is not a broken output");

    rx.set_status(503);
    run.handle.enqueue(one_sample(2000));
    rx.wait_for_requests(3, WAIT).await.unwrap();
    let first_retry = std::time::Instant::now();
    wait_deliverable(&run.delivery, false).await;
    let state = run.delivery.state();
    assert!(
        state.reason.as_deref().unwrap().starts_with("remote write failing for longer than leave_after (300ms): "),
        "{state:?}"
    );
    assert!(first_retry.elapsed() >= Duration::from_millis(150), "left before leave_after");

    rx.set_reply(Reply::Ok);
    rx.wait_for_accepted_samples(1, WAIT).await.unwrap();
    wait_deliverable(&run.delivery, true).await;
    assert_eq!(rx.series().into_values().next().unwrap(), vec![(2000, 2000.0)]);

    run.shutdown.cancel();
    run.task.await.unwrap();
}
