//! librdkafka against the in-process Kafka simulator whose only broker — the coordinator of
//! every group — stops answering and comes back: committed-offset requests that were waiting
//! for that coordinator time out while it is away, and the process must survive its return.
//!
//! librdkafka 2.12 as released aborts here (`rd_kafka_enq_once_del_source_return: Assertion
//! 'eonce->refcnt > 0' failed`, librdkafka #4605): when the coordinator comes back up, each
//! coordinator request that outlived its admin request frees the request's `eonce` and then
//! hands it to the error path, which uses it again. The copy in `crates/vendor/rdkafka-sys`
//! fixes that (see its PATCHED.md); an abort ends this whole test binary.

// Test code: a panic with a message is the failure report.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lagring_core::model::TopicPartition;
use lagring_kafka::{ClientKind, KafkaClient, KafkaConnection};
use lagring_sim::{Clock, Expected, ScaleSpec, Sim};

/// One broker: silencing it cuts the client from every broker, as an iptables cut does.
const SPEC: &str = "groups=20,topics=2,partitions=2,brokers=1";
/// Short, so admin requests time out while their coordinator is away (socket timeout: half).
const REQUEST_TIMEOUT: Duration = Duration::from_millis(800);
/// Calls made while the broker is silent; each leaves coordinator requests waiting for it.
const CALLS_WHILE_SILENT: usize = 4;

fn expected_commits(e: &Expected) -> BTreeMap<Arc<str>, BTreeMap<TopicPartition, i64>> {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_survive_a_coordinator_that_is_cut_off_and_comes_back() {
    let (clock, manual) = Clock::manual();
    manual.set(Duration::from_secs(30));
    let sim = Sim::start(ScaleSpec::parse(SPEC).unwrap().scenario(), clock).await.unwrap();
    let mut conn = KafkaConnection::plaintext(sim.bootstrap());
    conn.request_timeout = REQUEST_TIMEOUT;
    let client = KafkaClient::new("sim", &conn, ClientKind::Librdkafka).unwrap();
    let commits = expected_commits(&sim.expected_now());
    let groups: Vec<Arc<str>> = commits.keys().cloned().collect();
    // Warm: the coordinator is known and up.
    let warm = client.committed_offsets(groups.clone(), 8).await;
    assert!(warm.iter().all(|(_, r)| r.is_ok()), "{warm:?}");

    sim.set_silenced(0, true);
    for call in 0..CALLS_WHILE_SILENT {
        let deadline = Some(Instant::now() + 2 * REQUEST_TIMEOUT);
        let silent = client.committed_offsets_until(groups.clone(), 8, deadline).await;
        assert!(silent.iter().all(|(_, r)| r.is_err()), "call {call} answered by a silent broker: {silent:?}");
    }

    // Back: the waiting coordinator requests run (and aborted the process before the fix),
    // then a call is complete and exact again.
    sim.set_silenced(0, false);
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let committed = client.committed_offsets(groups.clone(), 8).await;
        if committed.iter().all(|(_, r)| r.is_ok()) {
            let committed: BTreeMap<_, _> = committed.into_iter().map(|(g, r)| (g, r.unwrap())).collect();
            assert_eq!(committed, commits);
            break;
        }
        assert!(Instant::now() < until, "the coordinator never came back: {committed:?}");
    }
    // A second complete call: the error replies queued when the coordinator came back have
    // been handled by librdkafka's main thread before this call's requests.
    let again = client.committed_offsets(groups, 8).await;
    assert!(again.iter().all(|(_, r)| r.is_ok()), "{again:?}");
}
