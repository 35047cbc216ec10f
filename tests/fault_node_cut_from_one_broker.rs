//! One node alone cut from one broker of three (an iptables owner rule; it
//! runs as its own user), while its peers and Redis stay reachable. Placement
//! follows reachability: the groups that need that broker (it coordinates
//! them, or leads a partition they read) move to a peer within a bound; the
//! node keeps every other group; once the route is back they move home again
//! with the planned hand-over. Judged from what the recording receiver got,
//! per slot: no (group, slot) twice, no gap beyond the bound, none after the
//! heal, no process exit.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Result, ensure};
use lagring_sim::{Clock, Scenario, Sim, SimHandle};
use lagring_testkit::emissions::Emissions;
use lagring_testkit::lagring_node::LagringNode;
use lagring_testkit::metrics_text::select;
use lagring_testkit::netfilter::OwnerPortBlock;
use lagring_testkit::ports::wait_for;
use lagring_testkit::receiver::RecordingReceiver;
use lagring_testkit::redis::RedisServer;

/// `nobody`: the cut-off node runs as this user, so the rule hits only it.
const CUT_OFF_UID: u32 = 65534;
const INTERVAL_MS: i64 = 1_000;
const HEARTBEAT_MS: i64 = 250;
const LEAVE_AFTER: i64 = 2;
const MARKER: &str = "kafka_consumer_group_sum_lag_in_offsets";
const TIMEOUT: Duration = Duration::from_secs(90);
const TOPICS: usize = 6;
const GROUPS: usize = 24;

/// Six single-partition topics (led by brokers 0, 1, 2, 0, 1, 2) and 24
/// groups reading one topic each, every group behind.
fn scenario() -> String {
    let mut s = String::from("seed: 3\nbrokers: 3\ntopics:\n");
    for t in 0..TOPICS {
        s.push_str(&format!(
            "  - {{ name: t{t}, partitions: 1, initial_messages: 500, produce: {{ constant: 2.0 }} }}\n"
        ));
    }
    s.push_str("groups:\n");
    for g in 0..GROUPS {
        s.push_str(&format!(
            "  - {{ name: g-{g:02}, topics: [t{}], behaviour: {{ lags_by: {} }} }}\n",
            g % TOPICS,
            10 + g
        ));
    }
    s
}

fn now_slot() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0) / INTERVAL_MS
}

struct Bed {
    sim: SimHandle,
    _redis: RedisServer,
    receiver: RecordingReceiver,
    nodes: BTreeMap<String, LagringNode>,
    groups: Vec<String>,
}

impl Bed {
    fn config(&self, id: &str, redis: &str) -> String {
        let brokers: Vec<String> = self.sim.broker_addrs().iter().map(|a| format!("'{a}'")).collect();
        format!(
            "node: {{ id: {id}, interval: {INTERVAL_MS}ms, heartbeat_interval: {HEARTBEAT_MS}ms, node_ttl: 2s, \
             leave_cluster_after_failures: {LEAVE_AFTER} }}\n\
             redis: {{ url: '{redis}' }}\n\
             clusters: [{{ name: sim, brokers: [{}], request_timeout: 1s }}]\n\
             remote_write: {{ url: '{}', min_backoff: 50ms, max_backoff: 500ms }}\n\
             http: {{ listen: '{{HTTP_LISTEN}}' }}\n",
            brokers.join(", "),
            self.receiver.url()
        )
    }

    fn emissions(&self) -> Emissions {
        Emissions::collect(&self.receiver.samples(), MARKER, INTERVAL_MS)
    }

    fn logs(&self) -> String {
        self.nodes.iter().map(|(id, n)| format!("--- {id}\n{}", n.log_tail())).collect::<Vec<_>>().join("\n")
    }

    /// The first of `slots` complete slots after `after` in which every
    /// group is emitted once, by the same owners throughout, where `accept`
    /// holds for those owners.
    async fn wait_settled(
        &self,
        after: i64,
        what: &str,
        accept: impl Fn(&BTreeMap<String, String>) -> bool,
    ) -> Result<i64> {
        wait_for(what, TIMEOUT, || async {
            let em = self.emissions();
            let upto = now_slot() - 2;
            let from = upto - 1;
            if from <= after {
                return Ok(None);
            }
            let complete = (from..=upto).all(|s| self.groups.iter().all(|g| em.missing(g, s, s).is_empty()));
            let owners = em.owners_at(from);
            let settled = (from..=upto).all(|s| em.owners_at(s) == owners);
            Ok((complete && settled && accept(&owners)).then_some(from))
        })
        .await
        .map_err(|e| e.context(self.logs()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_from_one_broker_gives_exactly_the_groups_that_need_it_to_a_peer_and_takes_them_back() -> Result<()>
{
    let sim = Sim::start(Scenario::from_yaml(&scenario())?, Clock::real()).await?;
    let redis = RedisServer::start()?;
    let receiver = RecordingReceiver::start().await?;
    let groups: Vec<String> = (0..GROUPS).map(|g| format!("g-{g:02}")).collect();
    let mut bed = Bed { sim, _redis: redis, receiver, nodes: BTreeMap::new(), groups };
    let redis_url = bed._redis.url();
    let bin = lagring_e2e::lagring_binary()?;
    for id in ["node-0", "node-1"] {
        let node = LagringNode::start(&bin, id, &bed.config(id, &redis_url))?;
        bed.nodes.insert(id.to_owned(), node);
    }
    let node2 = LagringNode::start_as_uid(&bin, "node-2", &bed.config("node-2", &redis_url), CUT_OFF_UID)?;
    bed.nodes.insert("node-2".to_owned(), node2);
    let three = |o: &BTreeMap<String, String>| o.values().collect::<BTreeSet<_>>().len() == 3;
    let from = bed.wait_settled(0, "a stable fleet of three", three).await?;
    let home = bed.emissions().owners_at(from);

    // The broker whose loss touches most of node-2's groups; exactly those must move.
    let model = bed.sim.model();
    let needs = |group: &str, broker: i32| {
        let topic = format!("t{}", group[2..].parse::<usize>().unwrap() % TOPICS);
        model.coordinator_for_key(group) == broker || model.leader(model.topic(&topic).unwrap(), 0) == broker
    };
    let of_node2: Vec<&String> = home.iter().filter(|(_, n)| *n == "node-2").map(|(g, _)| g).collect();
    let cut = (0..3).max_by_key(|b| of_node2.iter().filter(|g| needs(g, *b)).count()).unwrap();
    let affected: BTreeSet<String> = of_node2.iter().filter(|g| needs(g, cut)).map(|g| (*g).clone()).collect();
    let kept: BTreeSet<String> = of_node2.iter().filter(|g| !needs(g, cut)).map(|g| (*g).clone()).collect();
    ensure!(!affected.is_empty(), "node-2 owns no group that needs a broker: {home:?}");
    println!("cutting node-2 from broker {cut}: {} of its groups need it, {} do not", affected.len(), kept.len());

    let port = bed.sim.broker_addrs()[cut as usize].port();
    let mut block = OwnerPortBlock::install(CUT_OFF_UID, port)?;
    let cut_slot = now_slot();
    let moved = bed
        .wait_settled(cut_slot, "node-2's groups that need the broker on peers", |owners| {
            affected.iter().all(|g| owners.get(g).is_some_and(|n| n != "node-2"))
                && kept.iter().all(|g| owners.get(g).is_some_and(|n| n == "node-2"))
        })
        .await?;
    // Bound: the streak (leave_after iterations), one heartbeat for peers
    // to see the block, the hand-over slot, one slot of slack.
    let bound = LEAVE_AFTER + (HEARTBEAT_MS + INTERVAL_MS - 1) / INTERVAL_MS + 2;
    let em = bed.emissions();
    let (gap, worst) = em.longest_gap(&bed.groups, from, moved);
    println!("cut: moved after {} slots, worst gap {gap} slots ({worst:?}), bound {bound}", moved - cut_slot);
    assert!(moved - cut_slot <= bound + 2, "moved after {} slots, bound {bound}\n{}", moved - cut_slot, bed.logs());
    assert!(gap as i64 <= bound, "{worst:?} dark for {gap} slots, bound {bound}\n{}", bed.logs());
    assert_eq!(em.duplicates(), vec![], "a (group, slot) sent twice");

    let node2 = &bed.nodes["node-2"];
    let m = node2.metrics().await?;
    let given = select(&m, "lagring_groups_given_to_peers", &[("cluster", "sim")]);
    assert_eq!(given.first().map(|s| s.value), Some(affected.len() as f64), "exactly the affected groups are given");
    let up = select(&m, "lagring_broker_up", &[("cluster", "sim"), ("broker", &cut.to_string())]);
    assert_eq!(up.first().map(|s| s.value), Some(0.0));
    let (status, body) = node2.get("/healthz").await?;
    assert_eq!(status, 200, "one unreachable broker degrades, it does not fail the node: {body}");
    assert!(body.contains(&format!("sim/broker/{cut}")), "{body}");

    block.remove()?;
    let healed = now_slot();
    let back = bed.wait_settled(healed, "every group home again", |owners| *owners == home).await?;
    let em = bed.emissions();
    println!("heal: home again after {} slots", back - healed);
    for g in &bed.groups {
        assert_eq!(em.missing(g, moved, back + 1), Vec::<i64>::new(), "{g} missed a slot around the planned move home");
    }
    assert_eq!(em.duplicates(), vec![], "a (group, slot) sent twice");
    for (id, node) in &mut bed.nodes {
        assert!(node.is_running(), "{id} exited\n{}", node.log_tail());
    }
    Ok(())
}
