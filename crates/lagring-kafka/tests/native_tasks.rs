//! A broker that stops answering must cost timed-out futures, never tasks or
//! threads that pile up: twenty iterations of the whole Kafka side of an
//! iteration (list groups, committed offsets, metadata, log offsets) against
//! a simulator with one silent broker, counting the runtime's live tasks and
//! the process's OS threads after each. The librdkafka client's equivalent
//! guard is `blocking_in_flight`; the native client has no blocking work.

// Test code: a panic with a message is the failure report.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use lagring_core::model::TopicPartition;
use lagring_kafka::{ClientKind, KafkaClient, KafkaConnection, NativeOptions};
use lagring_sim::{Clock, ScaleSpec, Sim, SimHandle};

const ITERATIONS: usize = 20;

async fn start() -> SimHandle {
    let (clock, manual) = Clock::manual();
    manual.set(Duration::from_secs(30));
    let scenario = ScaleSpec::parse("groups=60,topics=6,partitions=3,brokers=3").unwrap().scenario();
    Sim::start(scenario, clock).await.unwrap()
}

/// Threads of this process, from /proc.
fn os_threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Threads:")).unwrap();
    line.trim_start_matches("Threads:").trim().parse().unwrap()
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current().metrics().num_alive_tasks()
}

/// One iteration's Kafka calls, bounded by `deadline`; how many groups and
/// partitions failed.
async fn iteration(client: &KafkaClient, groups: &[Arc<str>], deadline: Instant) -> (usize, usize) {
    let _ = client.list_groups_until(Some(deadline)).await;
    let committed = client.committed_offsets_until(groups.to_vec(), 8, Some(deadline)).await;
    let failed_groups = committed.iter().filter(|(_, r)| r.is_err()).count();
    let partitions: Vec<TopicPartition> = match client.topic_partition_counts_until(Some(deadline)).await {
        Ok(counts) => counts.iter().flat_map(|(t, n)| (0..*n).map(|p| TopicPartition::new(t.as_ref(), p))).collect(),
        Err(_) => Vec::new(),
    };
    let failed_partitions = match client.log_offsets_until(partitions, Some(deadline)).await {
        Ok((_, errors)) => errors.len(),
        Err(_) => usize::MAX,
    };
    (failed_groups, failed_partitions)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_broker_leaves_no_task_or_thread_behind_across_iterations() {
    let sim = start().await;
    let mut conn = KafkaConnection::plaintext(sim.bootstrap());
    conn.request_timeout = Duration::from_millis(300);
    let client = KafkaClient::new("sim", &conn, ClientKind::Native(NativeOptions::default())).unwrap();
    let groups: Vec<Arc<str>> = sim.expected_now().groups.keys().map(|g| Arc::from(g.as_str())).collect();
    let coordinated_by_1 = groups.iter().filter(|g| sim.coordinator_of(g) == 1).count();
    assert!(coordinated_by_1 > 0, "the scenario gives broker 1 some groups");

    // Warm: every broker connected, coordinators and leaders known.
    let warm = iteration(&client, &groups, Instant::now() + Duration::from_secs(10)).await;
    assert_eq!(warm, (0, 0), "a healthy cluster fails nothing");
    let (warm_tasks, warm_threads) = (alive_tasks(), os_threads());

    sim.set_silenced(1, true);
    let mut seen = Vec::with_capacity(ITERATIONS);
    for _ in 0..ITERATIONS {
        let (failed_groups, failed_partitions) =
            iteration(&client, &groups, Instant::now() + Duration::from_millis(700)).await;
        assert_eq!(failed_groups, coordinated_by_1, "only broker 1's groups fail");
        // Leaders go round-robin over the 3 brokers: broker 1 leads 6 of the 18 partitions.
        assert_eq!(failed_partitions, 6, "only broker 1's partitions fail");
        seen.push((alive_tasks(), os_threads()));
    }
    // A silent broker's connection is closed after its timeout, so its two
    // tasks (writer, reader) may be gone: never more than when all were up.
    let max_tasks = seen.iter().map(|(t, _)| *t).max().unwrap();
    let max_threads = seen.iter().map(|(_, t)| *t).max().unwrap();
    println!("warm: {warm_tasks} tasks, {warm_threads} threads; silent broker, {ITERATIONS} iterations: {seen:?}");
    assert!(max_tasks <= warm_tasks, "tasks grew from {warm_tasks} to {max_tasks}: {seen:?}");
    assert_eq!(max_threads, warm_threads, "threads changed: {seen:?}");
    assert_eq!(client.blocking_in_flight(), 0);

    sim.set_silenced(1, false);
    sim.shutdown().await;
}
