//! A broker that answers with malformed bytes, with a real lagring process:
//! one node watches two clusters, a healthy one (the simulator) and `bad`, a
//! plain TCP server that answers every request with crafted bytes — an
//! ApiVersions array announcing 2^31 elements, then a frame length of 2 GiB,
//! then garbage, in turn per connection. Once such an answer ended the node
//! (`memory allocation of 68719476192 bytes failed`). Now `bad` is unhealthy
//! with a reason naming the malformed answer, the node stays up, and the
//! healthy cluster keeps its exact lag every iteration.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Result;
use lagring_e2e::{Lags, malformed_broker, simulated_lags};
use lagring_sim::{Clock, Scenario, Sim};
use lagring_testkit::lagring_node::LagringNode;
use lagring_testkit::metrics_text::select;
use lagring_testkit::ports::wait_for;

const SCENARIO: &str = "seed: 9\nbrokers: 2\n\
topics: [ { name: orders, partitions: 4, initial_messages: 400 } ]\n\
groups:\n\
\x20 - { name: g-a, topics: [orders], behaviour: { lags_by: 7 } }\n\
\x20 - { name: g-b, topics: [orders], behaviour: { lags_by: 3 } }\n";

const ITERATIONS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_broker_makes_its_cluster_unhealthy_and_the_node_measures_the_others() -> Result<()> {
    let sim = Sim::start(Scenario::from_yaml(SCENARIO)?, Clock::real()).await?;
    let (bad, connections) = malformed_broker().await?;
    let brokers: Vec<String> = sim.broker_addrs().iter().map(|a| format!("'{a}'")).collect();
    let config = format!(
        "node: {{ id: malformed, interval: 1s }}\n\
         clusters:\n\
         \x20 - {{ name: sim, brokers: [{}], request_timeout: 1s }}\n\
         \x20 - {{ name: bad, brokers: ['{bad}'], request_timeout: 1s }}\n\
         http: {{ listen: '{{HTTP_LISTEN}}' }}\n",
        brokers.join(", ")
    );
    let mut node = LagringNode::start(&lagring_e2e::lagring_binary()?, "malformed", &config)?;

    let mut seen = 0.0;
    for i in 0..ITERATIONS {
        let (lags, iterations) =
            wait_for("the next iteration of the healthy cluster", Duration::from_secs(30), || async {
                let m = node.metrics().await?;
                let iterations: f64 = select(&m, "lagring_iterations_total", &[("cluster", "sim"), ("result", "ok")])
                    .iter()
                    .map(|s| s.value)
                    .sum();
                let lags: Lags = select(&m, "kafka_consumer_group_lag_in_offsets", &[("clustername", "sim")])
                    .into_iter()
                    .map(|s| {
                        ((s.labels["group"].clone(), s.labels["topic"].clone(), s.labels["partition"].clone()), s.value)
                    })
                    .collect();
                Ok((iterations > seen).then_some((lags, iterations)))
            })
            .await
            .map_err(|e| e.context(node.log_tail()))?;
        seen = iterations;
        // The simulator produces nothing: its lags are constant, so exact every iteration.
        assert_eq!(lags, simulated_lags(&sim), "iteration {i}: exact lag of the healthy cluster");
        assert!(node.is_running(), "the node exited\n{}", node.log_tail());
    }
    assert!(connections.load(Ordering::SeqCst) >= 3, "every kind of bad answer was sent");
    let (status, body) = node.get("/healthz").await?;
    assert_eq!(status, 503, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body)?;
    let reason = health["unhealthy"]["bad"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains(&bad), "the reason names the broker: {body}");
    assert!(health["unhealthy"].get("sim").is_none(), "the healthy cluster stays healthy: {body}");
    let (live, _) = node.get("/livez").await?;
    assert_eq!(live, 200, "a bad cluster does not make the node dead");
    println!("bad cluster's health reason: {reason}");
    assert!(node.is_running(), "the node exited\n{}", node.log_tail());
    Ok(())
}
