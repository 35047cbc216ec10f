//! The Redis evaluation store against a real redis-server started by the
//! testkit: records round-trip, expire after their TTL (server clock), are
//! listed per cluster and kind with a bound, names with `/` do not collide,
//! and a publish of thousands of records is one pipelined call that
//! survives a script flush.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::time::Duration;

use anyhow::Result;
use lagring_store::{EvaluationStore, Listed, Published, RecordKind, RedisConfig, RedisEvaluationStore};
use lagring_testkit::redis::RedisServer;

fn store(server: &RedisServer) -> Result<RedisEvaluationStore> {
    let mut config = RedisConfig::new(server.url());
    config.namespace = "lagring".to_owned();
    Ok(RedisEvaluationStore::new(&config)?)
}

fn group(name: &str, value: &str) -> Published {
    Published { kind: RecordKind::Group, name: name.to_owned(), value: value.to_owned() }
}

#[tokio::test]
async fn records_round_trip_expire_and_are_listed_with_a_bound() -> Result<()> {
    let server = RedisServer::start()?;
    let store = store(&server)?;
    let long = Duration::from_secs(60);
    let records = vec![
        group("b", r#"{"v":1}"#),
        group("a/x", r#"{"v":2}"#),
        group("a%2Fx", r#"{"v":3}"#),
        Published { kind: RecordKind::Topic, name: "orders".into(), value: "[1,2]".into() },
    ];
    store.publish("prod/eu", &records, long).await?;
    assert_eq!(store.read("prod/eu", RecordKind::Group, "a/x").await?.as_deref(), Some(r#"{"v":2}"#));
    assert_eq!(store.read("prod/eu", RecordKind::Group, "a%2Fx").await?.as_deref(), Some(r#"{"v":3}"#));
    assert_eq!(store.read("prod/eu", RecordKind::Topic, "orders").await?.as_deref(), Some("[1,2]"));
    assert_eq!(store.read("prod/eu", RecordKind::Group, "orders").await?, None, "kinds are apart");
    assert_eq!(store.read("prod", RecordKind::Group, "b").await?, None, "clusters are apart");
    let all = store.names("prod/eu", RecordKind::Group, 10).await?;
    assert_eq!(all, Listed { names: vec!["a%2Fx".into(), "a/x".into(), "b".into()], truncated: false });
    let two = store.names("prod/eu", RecordKind::Group, 2).await?;
    assert_eq!((two.names.len(), two.truncated), (2, true));
    assert_eq!(store.names("prod/eu", RecordKind::Topic, 10).await?.names, vec!["orders".to_owned()]);

    // A short TTL: the value and its index entry both go.
    store.publish("short", &[group("g", "1")], Duration::from_millis(200)).await?;
    assert_eq!(store.read("short", RecordKind::Group, "g").await?.as_deref(), Some("1"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(store.read("short", RecordKind::Group, "g").await?, None);
    assert_eq!(store.names("short", RecordKind::Group, 10).await?, Listed::default());

    // 2,500 records (three script calls, one pipeline), after a script flush.
    server.cli(&["SCRIPT", "FLUSH"])?;
    let many: Vec<Published> = (0..2_500).map(|i| group(&format!("g-{i:04}"), &i.to_string())).collect();
    store.publish("big", &many, long).await?;
    assert_eq!(store.read("big", RecordKind::Group, "g-2499").await?.as_deref(), Some("2499"));
    let listed = store.names("big", RecordKind::Group, 3_000).await?;
    assert_eq!((listed.names.len(), listed.truncated), (2_500, false));
    assert_eq!(listed.names.first().map(String::as_str), Some("g-0000"));
    Ok(())
}
