//! The fleet (issue: exclusive emission and clean handoff), with real
//! processes: 3–4 lagring nodes, a real redis-server, a real tansu broker and
//! the testkit's recording remote-write receiver, which notes the sending
//! node (`X-Lagring-Node`) of every sample. Lag series carry no node label.
//!
//! Slots are `timestamp / interval`: every node stamps samples with the
//! wall-clock slot start, so "one emitter per group per slot" is exact.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Result, ensure};
use lagring_testkit::emissions::Emissions;
use lagring_testkit::kafka_fixtures::{commit, create_topic, produce};
use lagring_testkit::lagring_node::LagringNode;
use lagring_testkit::metrics_text::select;
use lagring_testkit::ports::wait_for;
use lagring_testkit::receiver::RecordingReceiver;
use lagring_testkit::redis::RedisServer;
use lagring_testkit::tansu::TansuBroker;

const GROUPS: usize = 24;
const INTERVAL_MS: i64 = 1_000;
const NODE_TTL_MS: i64 = 2_000;
const MARKER: &str = "kafka_consumer_group_sum_lag_in_offsets";
const TIMEOUT: Duration = Duration::from_secs(60);

struct Fleet {
    broker: TansuBroker,
    redis: RedisServer,
    receiver: RecordingReceiver,
    nodes: Vec<(String, LagringNode)>,
    groups: Vec<String>,
}

fn now_slot() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0) / INTERVAL_MS
}

impl Fleet {
    async fn start(nodes: usize) -> Result<Self> {
        let broker = TansuBroker::start()?;
        let bs = broker.bootstrap();
        create_topic(&bs, "t", 2).await?;
        produce(&bs, "t", 0, 50).await?;
        produce(&bs, "t", 1, 50).await?;
        let groups: Vec<String> = (0..GROUPS).map(|i| format!("group-{i:02}")).collect();
        for (i, g) in groups.iter().enumerate() {
            commit(&bs, g, &[("t", 0, i as i64), ("t", 1, 50)]).await?;
        }
        let redis = RedisServer::start()?;
        let receiver = RecordingReceiver::start().await?;
        let mut fleet = Self { broker, redis, receiver, nodes: Vec::new(), groups };
        for i in 0..nodes {
            fleet.add_node(&format!("node-{i}"))?;
        }
        Ok(fleet)
    }

    fn config(&self, id: &str) -> String {
        format!(
            "node: {{ id: {id}, interval: {INTERVAL_MS}ms, heartbeat_interval: 250ms, node_ttl: {NODE_TTL_MS}ms }}\n\
             redis: {{ url: '{}' }}\n\
             clusters: [{{ name: local, brokers: ['{}'] }}]\n\
             remote_write: {{ url: '{}', min_backoff: 50ms, max_backoff: 500ms }}\n\
             http: {{ listen: '{{HTTP_LISTEN}}' }}\n",
            self.redis.url(),
            self.broker.bootstrap(),
            self.receiver.url()
        )
    }

    fn add_node(&mut self, id: &str) -> Result<()> {
        let node = LagringNode::start(Path::new(env!("CARGO_BIN_EXE_lagring")), id, &self.config(id))?;
        self.nodes.push((id.to_owned(), node));
        Ok(())
    }

    fn node(&mut self, id: &str) -> &mut LagringNode {
        &mut self.nodes.iter_mut().find(|(n, _)| n == id).expect("node exists").1
    }

    fn emissions(&self) -> Emissions {
        Emissions::collect(&self.receiver.samples(), MARKER, INTERVAL_MS)
    }

    /// Waits until `slots` consecutive complete, settled slots (every group
    /// emitted once, by the same node in each slot), all later than `after`,
    /// have been seen; returns the first.
    async fn wait_stable(&self, slots: i64, after: i64) -> Result<i64> {
        wait_for("a stable fleet", TIMEOUT, || async {
            let em = self.emissions();
            let upto = now_slot() - 2;
            let from = upto - slots + 1;
            if from <= after {
                return Ok(None);
            }
            let complete = (from..=upto).all(|s| self.groups.iter().all(|g| em.missing(g, s, s).is_empty()));
            // Settled: the same node emits each group in every slot of the window.
            let owners = em.owners_at(from);
            let settled = (from..=upto).all(|s| em.owners_at(s) == owners);
            Ok((complete && settled && em.duplicates().is_empty()).then_some(from))
        })
        .await
        .map_err(|e| e.context(self.logs()))
    }

    fn logs(&self) -> String {
        self.nodes.iter().map(|(id, n)| format!("--- {id}\n{}", n.log_tail())).collect::<Vec<_>>().join("\n")
    }

    fn assert_no_duplicates(&self) {
        let dups = self.emissions().duplicates();
        assert!(dups.is_empty(), "groups emitted twice in one slot: {dups:?}\n{}", self.logs());
    }
}

async fn sleep_slots(n: i64) {
    tokio::time::sleep(Duration::from_millis((n * INTERVAL_MS) as u64)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_state_every_group_once_per_slot_split_over_three_nodes() -> Result<()> {
    let fleet = Fleet::start(3).await?;
    let from = fleet.wait_stable(3, 0).await?;
    sleep_slots(4).await;
    let to = now_slot() - 2;
    let em = fleet.emissions();
    for g in &fleet.groups {
        assert!(em.missing(g, from, to).is_empty(), "{g} missing in {from}..={to}");
    }
    fleet.assert_no_duplicates();
    let owners = em.owners_at(to);
    assert_eq!(owners.len(), GROUPS);
    let mut per_node = std::collections::BTreeMap::<&str, usize>::new();
    for n in owners.values() {
        *per_node.entry(n).or_default() += 1;
    }
    assert_eq!(per_node.len(), 3, "every node owns groups: {per_node:?}");
    // Lag values are exact whichever node emits them: group-i lags 50 - i.
    let last = fleet.receiver.samples();
    for s in last.iter().filter(|s| s.series.name == MARKER && s.timestamp_ms / INTERVAL_MS == to) {
        let i: i64 = s.series.labels["group"].trim_start_matches("group-").parse()?;
        assert_eq!(s.value, (50 - i) as f64);
        assert!(!s.series.labels.contains_key("node"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_survivors_take_over_within_ttl_plus_interval() -> Result<()> {
    let mut fleet = Fleet::start(3).await?;
    let from = fleet.wait_stable(2, 0).await?;
    let owners = fleet.emissions().owners_at(from);
    let victim_groups: Vec<String> = owners.iter().filter(|(_, n)| *n == "node-1").map(|(g, _)| g.clone()).collect();
    ensure!(!victim_groups.is_empty(), "node-1 owns nothing: {owners:?}");
    let killed_at = Instant::now();
    let kill_slot = now_slot();
    fleet.node("node-1").kill();
    let back = wait_for("survivors emit the victim's groups", TIMEOUT, || async {
        let em = fleet.emissions();
        let slot = em.first_complete_slot(&victim_groups, kill_slot + 1);
        Ok(slot.filter(|s| em.by_group.values().all(|m| !m.get(s).is_some_and(|n| n.contains(&"node-1".to_owned())))))
    })
    .await
    .map_err(|e| e.context(fleet.logs()))?;
    let failover = killed_at.elapsed();
    println!("failover after kill -9: {failover:?} (slots {kill_slot} -> {back})");
    let bound_slots = (NODE_TTL_MS + INTERVAL_MS) / INTERVAL_MS + 1;
    assert!(back - kill_slot <= bound_slots, "took {} slots, bound {bound_slots}", back - kill_slot);
    sleep_slots(2).await;
    fleet.assert_no_duplicates();
    let (gap, _) = fleet.emissions().longest_gap(&fleet.groups, from, now_slot() - 2);
    assert!(gap as i64 <= bound_slots, "gap {gap}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fourth_node_takes_about_a_quarter_without_duplicates_or_gaps() -> Result<()> {
    let mut fleet = Fleet::start(3).await?;
    let from = fleet.wait_stable(2, 0).await?;
    let before = fleet.emissions().owners_at(from);
    fleet.add_node("node-3")?;
    let joined = wait_for("node-3 emits", TIMEOUT, || async {
        let em = fleet.emissions();
        let first = em.by_group.values().flat_map(|m| m.iter()).filter(|(_, n)| n.contains(&"node-3".to_owned()));
        Ok(first.map(|(slot, _)| *slot).min())
    })
    .await?;
    let settled = fleet.wait_stable(3, joined).await?;
    let after = fleet.emissions().owners_at(settled + 2);
    let moved: Vec<&String> = before.keys().filter(|g| before.get(*g) != after.get(*g)).collect();
    println!("4th node joined: {} of {GROUPS} groups moved", moved.len());
    assert!(moved.iter().all(|g| after[*g] == "node-3"), "only moves to the new node: {moved:?}");
    assert!((2..=12).contains(&moved.len()), "about 1/4 of {GROUPS} moved, got {}", moved.len());
    fleet.assert_no_duplicates();
    let (gap, group) = fleet.emissions().longest_gap(&fleet.groups, from, now_slot() - 2);
    assert!(gap <= 1, "{group:?} missed {gap} consecutive slots");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_groups_over_at_once() -> Result<()> {
    let mut fleet = Fleet::start(3).await?;
    let from = fleet.wait_stable(2, 0).await?;
    let status = fleet.node("node-2").terminate(Duration::from_secs(15)).expect("exits");
    assert!(status.success(), "graceful exit: {status:?}");
    let term_slot = now_slot();
    sleep_slots(4).await;
    let to = now_slot() - 2;
    let em = fleet.emissions();
    for g in &fleet.groups {
        assert!(em.owner_at(g, to).is_some_and(|n| n != "node-2"), "{g} not taken over by {to}");
    }
    let (gap, group) = em.longest_gap(&fleet.groups, from, to);
    assert!(gap <= 1, "{group:?} missed {gap} consecutive slots after SIGTERM at slot {term_slot}");
    fleet.assert_no_duplicates();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_keeps_lag_flowing_and_the_ring_reforms() -> Result<()> {
    let mut fleet = Fleet::start(3).await?;
    let from = fleet.wait_stable(2, 0).await?;
    fleet.redis.restart()?;
    let restart_slot = now_slot();
    fleet.wait_stable(3, restart_slot).await?;
    for (id, node) in fleet.nodes.iter_mut() {
        assert!(node.is_running(), "{id} exited");
    }
    for (id, node) in &fleet.nodes {
        let ring = wait_for("ring of 3 again", TIMEOUT, || async {
            let m = node.metrics().await?;
            Ok(select(&m, "lagring_ring_nodes", &[]).first().filter(|s| s.value == 3.0).map(|s| s.value))
        })
        .await;
        assert!(ring.is_ok(), "{id}: {ring:?}\n{}", node.log_tail());
    }
    let (gap, group) = fleet.emissions().longest_gap(&fleet.groups, from, now_slot() - 2);
    assert!(gap <= 2, "{group:?} missed {gap} consecutive slots around the redis restart");
    fleet.assert_no_duplicates();
    Ok(())
}
