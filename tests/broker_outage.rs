//! Per-broker isolation with a real lagring process against the simulator:
//! one of three brokers stops answering (it accepts requests and never
//! replies) after the node has listed the cluster once. The partitions the other brokers lead and the groups they
//! coordinate keep their exact lag every iteration, blocking librdkafka
//! workers do not pile up across 20 iterations, and SIGTERM still exits
//! within `shutdown_timeout`.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use lagring_sim::{Clock, Scenario, Sim};
use lagring_testkit::lagring_node::LagringNode;
use lagring_testkit::metrics_text::select;
use lagring_testkit::ports::wait_for;

const DOWN: i32 = 1;
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
const ITERATIONS: usize = 20;

const SCENARIO: &str = "seed: 7\nbrokers: 3\n\
topics:\n\
\x20 - { name: orders, partitions: 3, initial_messages: 600, produce: { constant: 5.0 } }\n\
\x20 - { name: payments, partitions: 3, initial_messages: 300, produce: { constant: 2.0 } }\n\
groups:\n\
\x20 - { name: g-a, topics: [orders, payments], behaviour: { stalls: 1s } }\n\
\x20 - { name: g-b, topics: [orders, payments], behaviour: { stalls: 2s } }\n\
\x20 - { name: g-c, topics: [orders, payments], behaviour: { stalls: 3s } }\n\
\x20 - { name: g-d, topics: [orders, payments], behaviour: { stalls: 4s } }\n\
\x20 - { name: g-e, topics: [orders, payments], behaviour: { stalls: 5s } }\n\
\x20 - { name: g-f, topics: [orders, payments], behaviour: { stalls: 6s } }\n\
faults:\n\
\x20 broker_down: [ { broker: 1, from: 15s, until: 1h } ]\n";

use lagring_e2e::{Lags, simulated_lags as all_lags};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_broker_costs_only_what_it_leads_and_coordinates() -> Result<()> {
    let (clock, manual) = Clock::manual();
    manual.set(Duration::from_secs(10));
    let sim = Sim::start(Scenario::from_yaml(SCENARIO)?, clock).await?;
    let model = sim.model();
    let all_before = all_lags(&sim);
    let mut node = LagringNode::start(&lagring_e2e::lagring_binary()?, "outage", &config(&sim))?;
    wait_for("exact lag of every partition before the outage", Duration::from_secs(30), || async {
        Ok((scrape(&node).await?.0 == all_before).then_some(()))
    })
    .await
    .map_err(|e| e.context(node.log_tail()))?;

    manual.set(Duration::from_secs(16));
    // Healthy: groups not coordinated by the silent broker, on partitions it does not lead.
    let expected = sim.expected_now();
    let mut want: Lags = BTreeMap::new();
    for (group, g) in &expected.groups {
        if model.coordinator_for_key(group) == DOWN {
            continue;
        }
        for (topic, partition) in g.committed.keys() {
            let t = model.topic(topic).expect("topic");
            if model.leader(t, *partition) == DOWN {
                continue;
            }
            let lag = expected.lag(group, topic, *partition, false).expect("lag");
            want.insert((group.clone(), topic.clone(), partition.to_string()), lag as f64);
        }
    }
    ensure!(want.len() >= 8, "the scenario must leave healthy partitions: {want:?}");
    let coordinated_by_down: Vec<&String> =
        expected.groups.keys().filter(|g| model.coordinator_for_key(g) == DOWN).collect();
    ensure!(!coordinated_by_down.is_empty(), "some group must be coordinated by the silent broker");

    let mut seen_iterations = scrape(&node).await?.1;
    let mut workers = Vec::new();
    for i in 0..ITERATIONS {
        let (lags, iterations, blocking) = wait_for("the next iteration", Duration::from_secs(30), || async {
            let (lags, iterations, blocking) = scrape(&node).await?;
            Ok((iterations > seen_iterations).then_some((lags, iterations, blocking)))
        })
        .await
        .map_err(|e| e.context(node.log_tail()))?;
        seen_iterations = iterations;
        workers.push(blocking);
        if i == 0 && lags != want {
            // The first iteration may have fetched before the outage began.
            continue;
        }
        assert_eq!(lags, want, "iteration {i}: exact lag for exactly the healthy partitions\n{}", node.log_tail());
    }
    println!("blocking workers after each of {ITERATIONS} iterations: {workers:?}");
    assert!(workers.iter().all(|w| *w <= 2.0), "blocking workers piled up: {workers:?}");

    let asked = Instant::now();
    let status = node.terminate(SHUTDOWN_TIMEOUT + Duration::from_secs(5)).expect("exit status");
    let took = asked.elapsed();
    println!("SIGTERM to exit with a silent broker: {took:?}");
    assert!(status.success(), "{status:?}");
    assert!(took < SHUTDOWN_TIMEOUT, "shutdown took {took:?}");
    Ok(())
}

/// A node on every broker of the simulator, 1 s interval.
fn config(sim: &lagring_sim::SimHandle) -> String {
    let brokers: Vec<String> = sim.broker_addrs().iter().map(|a| format!("'{a}'")).collect();
    format!(
        "node: {{ id: outage, interval: 1s, shutdown_timeout: {}s }}\n\
         clusters: [ {{ name: sim, client: librdkafka, brokers: [{}], request_timeout: 1s }} ]\n\
         http: {{ listen: '{{HTTP_LISTEN}}' }}\n",
        SHUTDOWN_TIMEOUT.as_secs(),
        brokers.join(", ")
    )
}

/// Partition lags, iterations so far and blocking workers, from `/metrics`.
async fn scrape(node: &LagringNode) -> Result<(Lags, f64, f64)> {
    let m = node.metrics().await?;
    let iterations: f64 = select(&m, "lagring_iterations_total", &[("cluster", "sim")]).iter().map(|s| s.value).sum();
    let lags: Lags = select(&m, "kafka_consumer_group_lag_in_offsets", &[("clustername", "sim")])
        .into_iter()
        .map(|s| ((s.labels["group"].clone(), s.labels["topic"].clone(), s.labels["partition"].clone()), s.value))
        .collect();
    let blocking = select(&m, "lagring_kafka_blocking_workers", &[("cluster", "sim")]).first().map_or(0.0, |s| s.value);
    Ok((lags, iterations, blocking))
}
