//! Burrow's v3 read API in a two-node fleet (one memory store, the
//! in-process simulator, see `support/mod.rs`): a group that node-0 owns is
//! read from node-1, which never fetched it, and every field is checked
//! against what the simulator says the group's lag is — exact lags; unknown
//! groups and clusters answer 404 as Burrow does. lagring's extensions too:
//! the member the describe names per partition, and the records consumed
//! (per partition of the group) and produced (per topic partition) per
//! minute, which the scenario makes exactly 0 (nothing is produced, every
//! group stands still).

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use std::time::Duration;

use anyhow::{Context, Result};
use lagring_testkit::ports::wait_for;
use serde_json::Value;
use support::{InProcessFleet, TIMEOUT};

/// 3 brokers, 2 topics of 4 partitions, 8 groups with steady lag, one member each. Nothing is
/// produced, so a lag fetched in any slot is the simulator's lag now: the comparison is exact
/// (with production, a record produced between OffsetFetch and ListOffsets would make a
/// fetched lag one higher than the model's at either instant).
fn steady_lag_scenario() -> String {
    support::scenario(3, 8, false)
}

async fn get(fleet: &InProcessFleet, node: &str, path: &str) -> Result<(u16, Value)> {
    let url = format!("http://{}{path}", fleet.http(node));
    let response = reqwest::get(&url).await.with_context(|| format!("GET {url}"))?;
    let code = response.status().as_u16();
    let text = response.text().await.with_context(|| format!("body of GET {url}"))?;
    let body = serde_json::from_str(&text).with_context(|| format!("json of GET {url}: {text}"))?;
    Ok((code, body))
}

/// Lag of `group` on every partition it commits on, by the simulator now.
fn expected_lags(fleet: &InProcessFleet, group: &str) -> Vec<(String, i64, u64)> {
    let e = fleet.sim.expected_now();
    e.groups[group]
        .committed
        .keys()
        .map(|(topic, p)| (topic.clone(), i64::from(*p), e.lag(group, topic, *p, false).unwrap() as u64))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_node_serves_burrow_status_and_lag_of_a_group_another_node_owns() -> Result<()> {
    let mut fleet = InProcessFleet::start_with(&steady_lag_scenario()).await?;
    for id in ["node-0", "node-1"] {
        fleet.add_node(id).await?;
    }
    let from = fleet.wait_stable(2, 0, 2).await?;
    let owners = fleet.emissions().owners_at(from);
    let group = owners.iter().find(|(_, n)| *n == "node-0").map(|(g, _)| g.clone()).context("node-0 owns nothing")?;
    let path = format!("/v3/kafka/sim/consumer/{group}/lag");

    // The evaluation of the slot node-1 reads may predate the first status
    // window point, or the second committed-history point a rate needs: wait
    // until every partition has a status and a consume rate.
    let lag = wait_for("a complete evaluation on node-1", TIMEOUT, || async {
        let (code, body) = get(&fleet, "node-1", &path).await?;
        let rated = body["status"]["partitions"]
            .as_array()
            .is_some_and(|ps| ps.iter().all(|p| !p["records_consumed_per_minute"].is_null()));
        Ok((code == 200 && body["status"]["complete"] == 1.0 && rated).then_some(body))
    })
    .await?;
    assert_eq!(lag["error"], false);
    assert_eq!(lag["message"], "consumer status returned");
    assert_eq!(lag["request"]["url"], path.as_str());
    assert_eq!(lag["request"]["host"], "node-1", "node-1 answered");
    let status = &lag["status"];
    assert_eq!(status["cluster"], "sim");
    assert_eq!(status["group"], group.as_str());
    assert_eq!(status["status"], "OK", "a steady lag, well within the status window: {status}");

    let expected = expected_lags(&fleet, &group);
    let partitions = status["partitions"].as_array().context("partitions")?;
    assert_eq!(status["partition_count"], expected.len());
    assert_eq!(partitions.len(), expected.len());
    let now_ms = fleet.sim.epoch_ms() + fleet.sim.elapsed().as_millis() as i64;
    for (p, (topic, partition, want)) in partitions.iter().zip(&expected) {
        assert_eq!((&p["topic"], &p["partition"]), (&Value::from(topic.as_str()), &Value::from(*partition)));
        assert_eq!(p["current_lag"], *want, "{group} {topic}/{partition}: {p}");
        assert_eq!(p["status"], "OK");
        assert_eq!(p["complete"], 1.0);
        // The member the describe names for the partition: the group's one member, as the
        // simulator names it.
        assert_eq!(p["client_id"], format!("{group}-client-0").as_str(), "{topic}/{partition}: {p}");
        assert_eq!(p["owner"], "/10.0.0.1", "{topic}/{partition}: {p}");
        // Steady lag: the committed offset does not move, so 0 records a minute.
        assert_eq!(p["records_consumed_per_minute"], 0.0, "{topic}/{partition}: {p}");
        let end = &p["end"];
        assert_eq!(end["lag"], *want);
        assert_eq!(end["timestamp"], end["observedAt"]);
        // The committed offset of the slot evaluated: the simulator's at that time.
        let at = end["timestamp"].as_i64().context("end timestamp")?;
        assert!(at <= now_ms && at > now_ms - 10_000, "end timestamp {at} not recent (now {now_ms})");
        let then = fleet.sim.expected_at(Duration::from_millis((at - fleet.sim.epoch_ms()).max(0) as u64));
        let committed_then = then.groups[&group].committed[&(topic.clone(), *partition as i32)].unwrap();
        let committed_now = fleet.sim.expected_now().groups[&group].committed[&(topic.clone(), *partition as i32)];
        let offset = end["offset"].as_i64().context("end offset")?;
        assert!(
            (committed_then..=committed_now.unwrap()).contains(&offset),
            "{topic}/{partition}: end offset {offset} outside [{committed_then}, {committed_now:?}]"
        );
        let start = &p["start"];
        assert!(start["offset"].as_i64().context("start offset")? <= offset, "start after end: {p}");
        assert!(start["timestamp"].as_i64().unwrap() <= at);
    }
    let total: u64 = expected.iter().map(|(_, _, l)| l).sum();
    let max = expected.iter().map(|(_, _, l)| *l).max().unwrap();
    assert_eq!(status["totallag"], total);
    assert_eq!(status["maxlag"]["current_lag"], max);

    // `/status`: the same group, only the partitions that are not OK.
    let (code, body) = get(&fleet, "node-1", &format!("/v3/kafka/sim/consumer/{group}/status")).await?;
    assert_eq!(code, 200);
    assert_eq!(body["status"]["status"], "OK");
    assert_eq!(body["status"]["partitions"], Value::Array(vec![]));
    assert_eq!(body["status"]["totallag"], total);

    // `/consumer/{group}`: per topic, the partitions by number.
    let (code, body) = get(&fleet, "node-1", &format!("/v3/kafka/sim/consumer/{group}")).await?;
    assert_eq!((code, &body["message"]), (200, &Value::from("consumer detail returned")));
    for (topic, partition, want) in &expected {
        let p = &body["topics"][topic.as_str()][*partition as usize];
        assert_eq!(p["current-lag"], *want, "{topic}/{partition}: {p}");
        assert_eq!(p["offsets"].as_array().map(Vec::len), Some(2));
        assert_eq!(p["client_id"], partitions[0]["client_id"], "one member per group in the scenario");
        assert_eq!(p["records_consumed_per_minute"], 0.0, "{topic}/{partition}: {p}");
    }

    // Lists and topics, from either node.
    let (_, body) = get(&fleet, "node-1", "/v3/kafka").await?;
    assert_eq!(body["clusters"], serde_json::json!(["sim"]));
    let (_, body) = get(&fleet, "node-0", "/v3/kafka/sim/consumer").await?;
    let listed: Vec<String> = serde_json::from_value(body["consumers"].clone())?;
    assert_eq!(listed, fleet.groups, "every group of the fleet, from one node");
    let (_, body) = get(&fleet, "node-1", "/v3/kafka/sim/topic").await?;
    assert_eq!(body["topics"], serde_json::json!(["orders", "payments"]));
    let topic = wait_for("produce rates of orders on node-1", TIMEOUT, || async {
        let (code, body) = get(&fleet, "node-1", "/v3/kafka/sim/topic/orders").await?;
        let rated = body["records_produced_per_minute"].as_array().is_some_and(|r| r.iter().all(|v| !v.is_null()));
        Ok((code == 200 && rated).then_some(body))
    })
    .await?;
    let expected = fleet.sim.expected_now();
    let ends: Vec<i64> = (0..4).map(|p| expected.partitions[&("orders".to_owned(), p)].high_watermark).collect();
    assert_eq!(topic["offsets"], serde_json::json!(ends), "the simulator's end offsets, by partition");
    assert_eq!(topic["records_produced_per_minute"], serde_json::json!([0.0, 0.0, 0.0, 0.0]), "nothing produced");
    let (_, module) = get(&fleet, "node-1", "/v3/kafka/sim").await?;
    assert_eq!(module["module"]["class-name"], "kafka");
    assert_eq!(module["module"]["servers"].as_array().map(Vec::len), Some(3));

    // Unknown group and cluster: Burrow's 404s.
    let (code, body) = get(&fleet, "node-1", "/v3/kafka/sim/consumer/no-such-group/status").await?;
    assert_eq!((code, &body["status"]["status"]), (404, &Value::from("NOTFOUND")));
    assert_eq!(body["status"]["partitions"], Value::Array(vec![]));
    let (code, body) = get(&fleet, "node-1", "/v3/kafka/sim/consumer/no-such-group/lag").await?;
    assert_eq!((code, &body["status"]["status"]), (404, &Value::from("NOTFOUND")));
    let (code, body) = get(&fleet, "node-1", "/v3/kafka/sim/consumer/no-such-group").await?;
    assert_eq!(
        (code, &body["error"], &body["message"]),
        (404, &Value::from(true), &Value::from("cluster or consumer not found"))
    );
    for path in ["/v3/kafka/nope", "/v3/kafka/nope/consumer", "/v3/kafka/nope/topic", "/v3/kafka/sim/topic/nope"] {
        let (code, body) = get(&fleet, "node-0", path).await?;
        assert_eq!((code, &body["error"]), (404, &Value::from(true)), "{path}: {body}");
        assert_eq!(body["request"]["url"], path);
    }
    let (code, body) = get(&fleet, "node-0", &format!("/v3/kafka/nope/consumer/{group}/status")).await?;
    assert_eq!((code, &body["status"]["status"]), (404, &Value::from("NOTFOUND")));
    fleet.shutdown().await
}
