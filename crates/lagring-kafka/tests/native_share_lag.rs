//! KIP-1226 share-partition lag through the native client against the in-process simulator
//! (real wire protocol): a broker advertising DescribeShareGroupOffsets v1 is asked v1 and its
//! per-partition lag rides along with each start offset; a broker capped at v0 gives start
//! offsets only (no broker lag, so lagring computes it). The scenario's share group has records
//! acknowledged ahead of its start offset, so the broker's lag differs from `end − start` and the
//! source of the figure shows.

// Test code: a panic with a message is the failure report.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::ApiKey;
use lagring_core::group_series::SharePosition;
use lagring_core::model::TopicPartition;
use lagring_kafka::{ClientKind, KafkaClient, KafkaConnection, NativeOptions};
use lagring_sim::{Clock, Scenario, Sim, SimHandle};

/// At t = 30 s topic a holds 100 + 300 = 400 records per partition and b 50. `acked` lags by 30
/// with 4 records acknowledged ahead of its start offset (broker lag 26, `end − start` 30) and
/// never initialised b-1; `plain` lags by 7 with none acknowledged ahead (broker lag 7).
const SCENARIO: &str = r#"
brokers: 2
topics:
  - { name: a, partitions: 2, initial_messages: 100, produce: { constant: 10.0 } }
  - { name: b, partitions: 2, initial_messages: 50 }
groups:
  - { name: acked, type: share, topics: [a, b], members: 2, behaviour: { lags_by: 30 }, acknowledged_ahead: 4, never_committed: { b: [1] } }
  - { name: plain, type: share, topics: [b], behaviour: { lags_by: 7 } }
"#;

async fn start() -> SimHandle {
    let (clock, manual) = Clock::manual();
    manual.set(Duration::from_secs(30));
    Sim::start(Scenario::from_yaml(SCENARIO).unwrap(), clock).await.unwrap()
}

async fn positions(sim: &SimHandle) -> BTreeMap<String, BTreeMap<TopicPartition, SharePosition>> {
    let conn = KafkaConnection::plaintext(sim.bootstrap());
    let client = KafkaClient::new("sim", &conn, ClientKind::Native(NativeOptions::default())).unwrap();
    let groups = vec![Arc::from("acked"), Arc::from("plain")];
    let answers = client.share_group_offsets_until(groups, 8, None).await;
    answers.into_iter().map(|(g, r)| (g.to_string(), r.unwrap())).collect()
}

fn at(start: i64, broker_lag: Option<i64>) -> SharePosition {
    SharePosition { start, broker_lag }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_carries_the_brokers_lag_with_each_start_offset() {
    let sim = start().await;
    let got = positions(&sim).await;
    let tp = TopicPartition::new;
    assert_eq!(
        got["acked"],
        BTreeMap::from([
            (tp("a", 0), at(370, Some(26))),
            (tp("a", 1), at(370, Some(26))),
            (tp("b", 0), at(20, Some(26))),
        ])
    );
    assert_eq!(got["plain"], BTreeMap::from([(tp("b", 0), at(43, Some(7))), (tp("b", 1), at(43, Some(7)))]));
    // The simulator's own view agrees.
    let expected = sim.expected_now();
    let want: BTreeMap<(String, i32), i64> =
        [(("a".into(), 0), 26), (("a".into(), 1), 26), (("b".into(), 0), 26)].into_iter().collect();
    assert_eq!(expected.groups["acked"].share_lag, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v0_broker_gives_start_offsets_without_a_lag() {
    let sim = start().await;
    sim.cap_version(ApiKey::DescribeShareGroupOffsets, 0);
    let got = positions(&sim).await;
    let tp = TopicPartition::new;
    assert_eq!(
        got["acked"],
        BTreeMap::from([(tp("a", 0), at(370, None)), (tp("a", 1), at(370, None)), (tp("b", 0), at(20, None))])
    );
    assert_eq!(got["plain"], BTreeMap::from([(tp("b", 0), at(43, None)), (tp("b", 1), at(43, None))]));
}
