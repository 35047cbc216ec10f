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

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Result;
use lagring_e2e::{Lags, simulated_lags};
use lagring_sim::{Clock, Scenario, Sim};
use lagring_testkit::lagring_node::LagringNode;
use lagring_testkit::metrics_text::select;
use lagring_testkit::ports::wait_for;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SCENARIO: &str = "seed: 9\nbrokers: 2\n\
topics: [ { name: orders, partitions: 4, initial_messages: 400 } ]\n\
groups:\n\
\x20 - { name: g-a, topics: [orders], behaviour: { lags_by: 7 } }\n\
\x20 - { name: g-b, topics: [orders], behaviour: { lags_by: 3 } }\n";

const ITERATIONS: usize = 6;

/// The answer to one request (after its correlation id), by connection number.
fn answer(connection: usize, correlation_id: i32) -> Vec<u8> {
    let id = correlation_id.to_be_bytes();
    let framed = |body: &[u8]| {
        let mut frame = ((body.len() + 4) as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&id);
        frame.extend_from_slice(body);
        frame
    };
    match connection % 3 {
        // ApiVersions v3: error 0, then a compact array of 2^31 elements.
        0 => framed(&[0, 0, 0x81, 0x80, 0x80, 0x80, 0x08, 0, 0, 0]),
        // A frame length of 2 GiB − 1 and nothing after it.
        1 => 0x7fff_ffff_i32.to_be_bytes().to_vec(),
        _ => framed(&[0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff, 0x0f]),
    }
}

/// A TCP server on 127.0.0.1 that answers every request frame with [`answer`].
async fn bad_broker() -> Result<(String, Arc<AtomicUsize>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let n = count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                loop {
                    let Ok(len) = socket.read_i32().await else { return };
                    let mut request = vec![0; usize::try_from(len).unwrap_or(0).min(1 << 20)];
                    if socket.read_exact(&mut request).await.is_err() || request.len() < 8 {
                        return;
                    }
                    let correlation_id = i32::from_be_bytes(request[4..8].try_into().unwrap());
                    if socket.write_all(&answer(n, correlation_id)).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok((addr, connections))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_broker_makes_its_cluster_unhealthy_and_the_node_measures_the_others() -> Result<()> {
    let sim = Sim::start(Scenario::from_yaml(SCENARIO)?, Clock::real()).await?;
    let (bad, connections) = bad_broker().await?;
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
