//! The native client against the in-process Kafka simulator (real wire protocol): exact committed
//! and log offsets at many groups, requests that grow with brokers rather than groups, per-group
//! error isolation, the per-group fallback for older brokers, a broker that stops answering, and
//! a coordinator that moves in the middle of the client's cache.

// Test code: a panic with a message is the failure report.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::ApiKey;
use lagring_core::model::{PartitionOffsets, TopicPartition};
use lagring_kafka::{ApiCounts, ClientKind, KafkaClient, KafkaConnection, NativeOptions, Tls};
use lagring_sim::{Clock, Expected, ScaleSpec, Scenario, Sim, SimHandle};

type Commits = BTreeMap<TopicPartition, i64>;

async fn start(spec: &str) -> SimHandle {
    let (clock, manual) = Clock::manual();
    manual.set(Duration::from_secs(30));
    let scenario: Scenario = ScaleSpec::parse(spec).unwrap().scenario();
    Sim::start(scenario, clock).await.unwrap()
}

fn native(sim: &SimHandle, timeout: Duration, options: NativeOptions) -> KafkaClient {
    let mut conn = KafkaConnection::plaintext(sim.bootstrap());
    conn.request_timeout = timeout;
    KafkaClient::new("sim", &conn, ClientKind::Native(options)).unwrap()
}

/// Committed offsets of every group in the model (never-committed partitions left out).
fn expected_commits(e: &Expected) -> BTreeMap<Arc<str>, Commits> {
    e.groups
        .iter()
        .map(|(g, eg)| {
            let commits = eg
                .committed
                .iter()
                .filter_map(|((t, p), o)| o.map(|o| (TopicPartition::new(t.as_str(), *p), o)))
                .collect();
            (Arc::from(g.as_str()), commits)
        })
        .collect()
}

fn expected_offsets(e: &Expected) -> BTreeMap<TopicPartition, PartitionOffsets> {
    e.partitions
        .iter()
        .map(|((t, p), o)| {
            (TopicPartition::new(t.as_str(), *p), PartitionOffsets { start: o.log_start, end: o.high_watermark })
        })
        .collect()
}

fn all_groups(e: &Expected) -> Vec<Arc<str>> {
    e.groups.keys().map(|g| Arc::from(g.as_str())).collect()
}

fn all_partitions(e: &Expected) -> Vec<TopicPartition> {
    e.partitions.keys().map(|(t, p)| TopicPartition::new(t.as_str(), *p)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_offsets_for_a_thousand_groups_in_a_handful_of_requests() {
    let sim = start("groups=1000,topics=20,partitions=4,brokers=3").await;
    let client =
        native(&sim, Duration::from_secs(10), NativeOptions { groups_per_offset_fetch: 100, ..Default::default() });
    let expected = sim.expected_now();

    let listing = client.list_groups().await.unwrap();
    let mut names: Vec<&str> = listing.iter().map(|g| &*g.group).collect();
    names.sort_unstable();
    assert_eq!(names, expected.groups.keys().map(String::as_str).collect::<Vec<_>>());
    assert!(listing.iter().all(|g| !g.is_simple && (g.state == "Stable" || g.state == "Empty")));

    // Asked twice, answered once, in input order.
    let mut asked = all_groups(&expected);
    asked.push(asked[0].clone());
    let committed = client.committed_offsets(asked, 8).await;
    assert_eq!(committed.len(), 1000);
    let got: BTreeMap<Arc<str>, Commits> = committed.into_iter().map(|(g, r)| (g, r.unwrap())).collect();
    assert_eq!(got, expected_commits(&expected));

    let counts = client.topic_partition_counts().await.unwrap();
    assert_eq!(counts.len(), 20);
    assert!(counts.values().all(|n| *n == 4));
    let (offsets, errors) = client.log_offsets(all_partitions(&expected)).await.unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(offsets, expected_offsets(&expected));

    // Requests grow with brokers, not groups: one FindCoordinator for all 1,000 groups, and per
    // coordinator ceil(its groups / 100) OffsetFetch requests.
    let per_coordinator = (0..3).map(|b| all_groups(&expected).iter().filter(|g| sim.coordinator_of(g) == b).count());
    let offset_fetches: u64 = per_coordinator.map(|n| n.div_ceil(100) as u64).sum();
    let wire = sim.request_counts();
    assert_eq!(wire.api("FindCoordinator"), 1);
    assert_eq!(wire.api("OffsetFetch"), offset_fetches);
    assert!(offset_fetches <= 3 * 10, "{offset_fetches}");
    assert_eq!(wire.api("ListGroups"), 3);
    assert_eq!(wire.api("ListOffsets"), 6);
    assert_eq!(wire.api("Metadata"), 2, "brokers for ListGroups, then all topics");
    assert_eq!(wire.api("ApiVersions"), 3, "one per broker connection");
    let stats = client.stats();
    assert_eq!(stats.find_coordinator, ApiCounts { requests: 1, errors: 0 });
    assert_eq!(stats.offset_fetch, ApiCounts { requests: offset_fetches, errors: 0 });
    assert_eq!(stats.list_groups, ApiCounts { requests: 3, errors: 0 });
    assert_eq!(stats.list_offsets, ApiCounts { requests: 6, errors: 0 });
    assert_eq!(stats.metadata, ApiCounts { requests: 2, errors: 0 });
    assert_eq!(stats.api_versions, ApiCounts { requests: 3, errors: 0 });
    assert_eq!(client.blocking_in_flight(), 0);

    // The coordinators are cached: a second iteration costs no FindCoordinator.
    let again = client.committed_offsets(all_groups(&expected), 8).await;
    assert!(again.iter().all(|(_, r)| r.is_ok()));
    assert_eq!(sim.request_counts().api("FindCoordinator"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_brokers_get_one_request_per_group_and_a_group_error_fails_that_group_only() {
    let yaml = "seed: 3\nbrokers: 2\ntopics: [ { name: t, partitions: 2, initial_messages: 50 } ]\n\
                groups: [ { name: g0, topics: [t] }, { name: g1, topics: [t] }, { name: g2, topics: [t] }, \
                { name: g3, topics: [t] }, { name: g4, topics: [t] }, { name: g5, topics: [t] } ]\n\
                faults: { errors: [ { api: OffsetFetch, code: 30, fraction: 0.4 } ] }";
    let (clock, _manual) = Clock::manual();
    let sim = Sim::start(Scenario::from_yaml(yaml).unwrap(), clock).await.unwrap();
    sim.cap_version(ApiKey::FindCoordinator, 3);
    sim.cap_version(ApiKey::OffsetFetch, 7);
    let client = native(&sim, Duration::from_secs(10), NativeOptions::default());
    let expected = expected_commits(&sim.expected_now());

    let committed = client.committed_offsets(expected.keys().cloned().collect(), 4).await;
    let failed: Vec<&Arc<str>> = committed.iter().filter(|(_, r)| r.is_err()).map(|(g, _)| g).collect();
    assert!(!failed.is_empty() && failed.len() < 6, "{committed:?}");
    for (group, result) in &committed {
        match result {
            Ok(commits) => assert_eq!(commits, &expected[group], "group {group}"),
            Err(e) => {
                let want = format!(
                    "cluster sim: offset fetch for group {group} failed: broker: GroupAuthorizationFailed (code 30)"
                );
                assert_eq!(e.to_string(), want);
            }
        }
    }
    let wire = sim.request_counts();
    assert_eq!(wire.api("FindCoordinator"), 6, "per-group form below v4");
    assert_eq!(wire.api("OffsetFetch"), 6, "per-group form below v8");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_broker_costs_only_its_groups_and_partitions_until_it_answers_again() {
    let sim = start("groups=60,topics=6,partitions=3,brokers=3").await;
    let timeout = Duration::from_millis(800);
    let client = native(&sim, timeout, NativeOptions::default());
    let expected = sim.expected_now();
    let (commits, offsets) = (expected_commits(&expected), expected_offsets(&expected));
    // Warm: brokers, leaders and coordinators known.
    assert!(client.committed_offsets(all_groups(&expected), 8).await.iter().all(|(_, r)| r.is_ok()));
    client.topic_partition_counts().await.unwrap();

    sim.set_silenced(1, true);
    let started = Instant::now();
    let deadline = Some(Instant::now() + Duration::from_secs(5));
    let listing = client.list_groups_until(deadline).await.unwrap();
    let partial = listing.partial.expect("broker 1 did not answer");
    assert!(
        partial.to_string().starts_with("cluster sim: list groups answered partially: 1 broker(s) failed"),
        "{partial}"
    );
    assert_eq!(listing.groups.len(), all_groups(&expected).iter().filter(|g| sim.coordinator_of(g) != 1).count());

    let committed = client.committed_offsets_until(all_groups(&expected), 8, deadline).await;
    for (group, result) in &committed {
        if sim.coordinator_of(group) == 1 {
            // A timeout, or (once that timeout started the reconnect backoff) the backoff.
            let err = result.as_ref().unwrap_err().to_string();
            assert!(err.starts_with(&format!("cluster sim: offset fetch for group {group} failed: ")), "{err}");
            assert!(err.contains("timed out") || err.contains("unavailable, reconnecting"), "{err}");
        } else {
            assert_eq!(result.as_ref().unwrap(), &commits[group], "group {group}");
        }
    }
    let (got, errors) = client.log_offsets_until(all_partitions(&expected), deadline).await.unwrap();
    let leader = |tp: &TopicPartition| {
        let topic: usize = tp.topic.trim_start_matches("topic-").parse().unwrap();
        (topic + tp.partition as usize) % 3
    };
    let led_by_others: BTreeMap<_, _> =
        offsets.iter().filter(|(tp, _)| leader(tp) != 1).map(|(k, v)| (k.clone(), *v)).collect();
    assert_eq!(got, led_by_others);
    assert_eq!(errors.len(), offsets.len() - led_by_others.len());
    assert!(errors.iter().all(|(tp, _)| leader(tp) == 1));
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!(client.blocking_in_flight(), 0);

    // Back: within a few reconnect backoffs, a call is complete again.
    sim.set_silenced(1, false);
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let committed = client.committed_offsets(all_groups(&expected), 8).await;
        let (got, errors) = client.log_offsets(all_partitions(&expected)).await.unwrap();
        if committed.iter().all(|(_, r)| r.is_ok()) && errors.is_empty() {
            let committed: BTreeMap<_, _> = committed.into_iter().map(|(g, r)| (g, r.unwrap())).collect();
            assert_eq!(committed, commits);
            assert_eq!(got, offsets);
            break;
        }
        assert!(Instant::now() < until, "broker 1 never came back: {errors:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_coordinator_is_found_again_within_the_call() {
    let sim = start("groups=30,topics=3,partitions=2,brokers=3").await;
    let client = native(&sim, Duration::from_secs(10), NativeOptions::default());
    let expected = sim.expected_now();
    let commits = expected_commits(&expected);
    assert!(client.committed_offsets(all_groups(&expected), 8).await.iter().all(|(_, r)| r.is_ok()));
    let before = sim.request_counts();

    let moved: Vec<Arc<str>> = all_groups(&expected).into_iter().take(4).collect();
    for g in &moved {
        sim.move_coordinator(g, (sim.coordinator_of(g) + 1) % 3);
    }
    let committed = client.committed_offsets(all_groups(&expected), 8).await;
    let committed: BTreeMap<_, _> = committed.into_iter().map(|(g, r)| (g, r.unwrap())).collect();
    assert_eq!(committed, commits);
    let after = sim.request_counts();
    assert_eq!(
        after.api("FindCoordinator") - before.api("FindCoordinator"),
        1,
        "one batched lookup of the moved groups"
    );
    let retried_on: std::collections::BTreeSet<i32> = moved.iter().map(|g| sim.coordinator_of(g)).collect();
    assert_eq!(after.api("OffsetFetch") - before.api("OffsetFetch"), 3 + retried_on.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_tls_files_and_encrypted_keys_are_configuration_errors() {
    let mut conn = KafkaConnection::plaintext("127.0.0.1:9092");
    conn.tls = Some(Tls { ca_file: Some("/nonexistent/ca.pem".into()), ..Tls::default() });
    let err = KafkaClient::new("c", &conn, ClientKind::Native(NativeOptions::default())).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "cluster c: invalid client configuration: tls.ca_file: cannot read PEM certificates from /nonexistent/ca.pem: "
        ),
        "{err}"
    );
    conn.tls = Some(Tls { key_password: Some("secret".into()), ..Tls::default() });
    let err = KafkaClient::new("c", &conn, ClientKind::Native(NativeOptions::default())).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cluster c: invalid client configuration: tls.key_password: encrypted keys are not supported by the native \
         client; use an unencrypted PEM key or client: librdkafka"
    );
    conn.tls = None;
    conn.bootstrap_servers = " , ".to_owned();
    let err = KafkaClient::new("c", &conn, ClientKind::Native(NativeOptions::default())).unwrap_err();
    assert_eq!(err.to_string(), "cluster c: invalid client configuration: bootstrap servers: no address given");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_partition_leader_is_found_again_within_the_call() {
    let yaml = "seed: 9\nbrokers: 3\ntopics: [ { name: t, partitions: 6, initial_messages: 80, produce: { constant: 4.0 } } ]\n\
                groups: [ { name: g, topics: [t] } ]";
    let (clock, manual) = Clock::manual();
    manual.set(Duration::from_secs(20));
    let sim = Sim::start(Scenario::from_yaml(yaml).unwrap(), clock).await.unwrap();
    let client = native(&sim, Duration::from_secs(5), NativeOptions::default());
    let expected = expected_offsets(&sim.expected_now());
    let partitions = all_partitions(&sim.expected_now());

    let (offsets, errors) = client.log_offsets(partitions.clone()).await.unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(offsets, expected);
    let before = sim.request_counts();
    assert_eq!((before.api("ListOffsets"), before.api("Metadata")), (6, 1), "3 leaders × 2 specs, 1 metadata");

    // Two partitions change leader behind the client's back.
    for p in [0, 4] {
        let old = sim.leader_of("t", p).unwrap();
        sim.move_leader("t", p, (old + 1) % 3);
        assert_ne!(sim.leader_of("t", p), Some(old));
    }
    let (offsets, errors) = client.log_offsets(partitions).await.unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(offsets, expected);
    let after = sim.request_counts();
    // The first round (6), one metadata refresh, then the moved partitions at their new
    // leaders: one request per new leader and spec.
    let new_leaders: BTreeSet<i32> = [0, 4].iter().map(|p| sim.leader_of("t", *p).unwrap()).collect();
    let retried = 2 * new_leaders.len() as u64;
    assert_eq!(after.api("ListOffsets") - before.api("ListOffsets"), 6 + retried);
    assert_eq!(after.api("Metadata") - before.api("Metadata"), 1);
}
