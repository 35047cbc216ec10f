//! A bounded chaos run against a real 3-node fleet (default config: the
//! native client): random `kill -9` and restart of nodes, SIGTERM and
//! restart, Redis restarted empty, remote-write receiver outages, the
//! receiver refusing one node (401), a hung broker (SIGSTOP) and a silent one
//! (iptables `-j DROP` on its port: the process runs, connects and requests
//! hang), one fault at a time with
//! recovery time between. Reports duplicates (must be 0), node processes
//! that exited on their own (aborts, must be 0), the worst gap of any group,
//! and samples dropped by the surviving nodes' queues (must be 0: outages
//! are shorter than the queue bound). Throughout, every node also watches a
//! second cluster whose only broker answers every request with malformed
//! bytes (2^31 array counts, 2 GiB frame lengths, garbage), and a third,
//! the simulator with three brokers, from one of which node-2 (run as its
//! own user) is cut alone as one more fault (an iptables owner rule). The
//! gap is judged on the tansu cluster's groups; duplicates on every group.
//!
//! `make test` runs it for 2 minutes; `make soak` sets `LAGRING_SOAK_SECS=600`.
//! The seed is printed; `LAGRING_CHAOS_SEED` replays a run.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Result;
use lagring_e2e::fleet::Fleet;
use lagring_sim::{Clock, Scenario, Sim};
use lagring_testkit::metrics_text::select;
use lagring_testkit::netfilter::{OwnerPortBlock, PortBlock, PortFault};

/// The third cluster: three brokers, six single-partition topics, 12 groups.
const SIM_SCENARIO: &str = "seed: 21\nbrokers: 3\n\
topics: [ { name: t0, partitions: 1, initial_messages: 300 }, { name: t1, partitions: 1, initial_messages: 300 }, \
{ name: t2, partitions: 1, initial_messages: 300 } ]\n\
groups:\n\
\x20 - { name: s-00, topics: [t0], behaviour: { lags_by: 5 } }\n\
\x20 - { name: s-01, topics: [t1], behaviour: { lags_by: 6 } }\n\
\x20 - { name: s-02, topics: [t2], behaviour: { lags_by: 7 } }\n\
\x20 - { name: s-03, topics: [t0], behaviour: { lags_by: 8 } }\n\
\x20 - { name: s-04, topics: [t1], behaviour: { lags_by: 9 } }\n\
\x20 - { name: s-05, topics: [t2], behaviour: { lags_by: 10 } }\n";

/// A small deterministic generator (the seed is printed, so a run replays).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below.max(1)
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status();
}

/// `nobody`: node-2 always runs as this user, so an iptables owner rule can
/// cut it alone from one broker.
const CUT_OFF_UID: u32 = 65534;

/// Starts `id`; node-2 as [`CUT_OFF_UID`].
fn start_node(fleet: &mut Fleet, id: &str) -> Result<()> {
    if id == "node-2" { fleet.add_node_as_uid(id, CUT_OFF_UID) } else { fleet.add_node(id) }
}

/// Restarts every node that is not running (what Kubernetes does); returns
/// how many there were (nodes the test stopped are restarted by the test, so
/// these exited on their own).
fn revive(fleet: &mut Fleet, log: &mut Vec<String>) -> Result<usize> {
    let dead: Vec<String> =
        fleet.nodes.iter_mut().filter_map(|(id, n)| (!n.is_running()).then(|| id.clone())).collect();
    for id in &dead {
        log.push(format!("{id} found dead, restarted"));
        fleet.forget(id);
        start_node(fleet, id)?;
    }
    Ok(dead.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_never_doubles_a_slot_and_loses_no_queued_sample() -> Result<()> {
    let secs: u64 = std::env::var("LAGRING_SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(120);
    let seed: u64 = std::env::var("LAGRING_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
    });
    println!("chaos: {secs} s, seed {seed}");
    let mut rng = Lcg(seed);
    let ids = ["node-0", "node-1", "node-2"];
    let mut fleet = Fleet::start_empty_with_client(None).await?;
    // Probes every 500 ms: a node refused by the receiver for 1-3 s may move its groups.
    fleet.remote_write_extra = ", probe_interval: 500ms".to_owned();
    // A second cluster whose only broker answers every request with malformed bytes, and a
    // third of three brokers (the simulator) so that node-2 can be cut from one of them alone.
    let (malformed, _) = lagring_e2e::malformed_broker().await?;
    let sim = Sim::start(Scenario::from_yaml(SIM_SCENARIO)?, Clock::real()).await?;
    let sim_brokers: Vec<String> = sim.broker_addrs().iter().map(|a| format!("'{a}'")).collect();
    fleet.extra_clusters = format!(
        ", {{ name: malformed, brokers: ['{malformed}'], request_timeout: 1s }}, \
         {{ name: sim, brokers: [{}], request_timeout: 300ms }}",
        sim_brokers.join(", ")
    );
    for id in ids {
        start_node(&mut fleet, id)?;
    }
    let from = fleet.wait_stable(2, 0).await?;
    let mut log = Vec::new();
    let end = Instant::now() + Duration::from_secs(secs);
    let (mut faults, mut aborts) = (0, 0);
    while Instant::now() < end {
        aborts += revive(&mut fleet, &mut log)?;
        let id = ids[rng.next(3) as usize];
        let pause = Duration::from_millis(1_000 + rng.next(2_000));
        match rng.next(8) {
            0 => {
                log.push(format!("kill -9 {id}"));
                fleet.node(id).kill();
                tokio::time::sleep(pause).await;
                fleet.forget(id);
                start_node(&mut fleet, id)?;
            }
            1 => {
                log.push(format!("SIGTERM {id}"));
                fleet.node(id).terminate(Duration::from_secs(30));
                fleet.forget(id);
                start_node(&mut fleet, id)?;
            }
            2 => {
                log.push("redis restarted empty".to_owned());
                fleet.redis.restart()?;
            }
            3 => {
                log.push(format!("receiver answers 503 for {pause:?}"));
                fleet.receiver.set_status(503);
                tokio::time::sleep(pause).await;
                fleet.receiver.set_reply(lagring_testkit::receiver::Reply::Ok);
            }
            6 => {
                let broker = rng.next(3) as usize;
                let port = sim.broker_addrs()[broker].port();
                let mut cut = OwnerPortBlock::install(CUT_OFF_UID, port)?;
                log.push(format!("node-2 alone cut from simulator broker {broker} for {pause:?}"));
                tokio::time::sleep(pause).await;
                cut.remove()?;
            }
            5 => {
                log.push(format!("receiver refuses {id} (401) for {pause:?}"));
                let refused = lagring_testkit::receiver::Reply::Status { status: 401, retry_after_secs: None };
                fleet.receiver.set_reply_for(id, Some(refused));
                tokio::time::sleep(pause).await;
                fleet.receiver.set_reply_for(id, None);
            }
            4 => match PortBlock::install(fleet.broker.port(), PortFault::Silent) {
                Ok(mut silent) => {
                    log.push(format!("broker silent (iptables DROP) for {pause:?}"));
                    tokio::time::sleep(pause).await;
                    silent.remove()?;
                }
                Err(e) => log.push(format!("broker silence skipped, iptables not usable: {e:#}")),
            },
            _ => {
                let pid = fleet.broker.pid().expect("broker runs");
                log.push(format!("broker hung (SIGSTOP) for {pause:?}"));
                signal(pid, "STOP");
                tokio::time::sleep(pause).await;
                signal(pid, "CONT");
            }
        }
        faults += 1;
        // Recovery time between faults: the fleet must settle again.
        aborts += revive(&mut fleet, &mut log)?;
        let settle_from = fleet.now_slot();
        fleet.wait_stable(2, settle_from).await.map_err(|e| e.context(log.join("\n")))?;
    }
    let to = fleet.now_slot() - 2;
    let em = fleet.emissions();
    let dups = em.duplicates();
    let (gap, group) = em.longest_gap(&fleet.groups, from, to);
    let mut dropped = 0.0;
    for (_, node) in &fleet.nodes {
        let m = node.metrics().await?;
        dropped += select(&m, "lagring_remote_write_samples_dropped_total", &[]).iter().map(|s| s.value).sum::<f64>();
    }
    println!(
        "chaos: {faults} faults over slots {from}..={to}: duplicates {}, aborts {aborts}, worst gap {gap} slots ({group:?}), samples dropped by queues {dropped}",
        dups.len()
    );
    println!("chaos log:\n  {}", log.join("\n  "));
    assert!(dups.is_empty(), "emitted twice in one slot: {dups:?}\n{}", log.join("\n"));
    assert_eq!(aborts, 0, "node processes exited on their own\n{}", log.join("\n"));
    assert_eq!(dropped, 0.0, "queued samples were dropped");
    // Worst single fault: Redis losing its data (see fleet_fencing), or a
    // crash (lease ttl + interval); 8 slots covers either with slack.
    assert!(gap <= 8, "{group:?} dark for {gap} slots\n{}", log.join("\n"));
    Ok(())
}
