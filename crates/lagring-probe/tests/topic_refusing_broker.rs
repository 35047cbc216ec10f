//! The probe's topic manager against a broker port nobody listens on: librdkafka reports every
//! refused connect on the admin client's main queue, which the `rdkafka` admin client never
//! reads. Each topic check must leave that queue served, or the reports pile up in memory for as
//! long as the broker is down.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lagring_core::probe::AccountingOptions;
use lagring_probe::ProbeSettings;
use lagring_probe::topic::TopicManager;

fn settings(bootstrap: String) -> ProbeSettings {
    ProbeSettings {
        cluster: "refusing".to_owned(),
        client_properties: BTreeMap::from([("bootstrap.servers".to_owned(), bootstrap)]),
        topic: "__lagring_probe".to_owned(),
        replication_factor: 1,
        partitions_per_broker: 1,
        produce_interval: Duration::from_millis(100),
        produce_timeout: Duration::from_millis(500),
        payload_bytes: 200,
        consumer_group: "lagring-probe-test".to_owned(),
        topic_check_interval: Duration::from_secs(1),
        elect_preferred_leaders: false,
        catch_up_timeout: Duration::from_secs(1),
        accounting: AccountingOptions {
            window_ms: 60_000,
            reorder_window: 0,
            sla_ms: 5_000,
            zero_throughput_unavailable: true,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_check_serves_what_librdkafka_reported_about_a_refusing_broker() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let topics = TopicManager::new(Arc::new(settings(format!("127.0.0.1:{port}")))).unwrap();
    // Nothing reads the queue between checks: the reports pile up.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut before = topics.queued_events();
    while before < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        before = topics.queued_events();
    }
    assert!(before >= 3, "librdkafka reported only {before} events about a refusing broker in 30 s");
    let status = topics.ensure().await;
    assert_eq!(status.partitions, 0, "a refusing broker has no topic: {status:?}");
    assert!(!status.reasons.is_empty(), "a failed check says why: {status:?}");
    // Served after the check: at most what one further connect attempt reported since.
    let after = topics.queued_events();
    assert!(after < before && after <= 3, "main queue held {before} events before the check and {after} after");
}
