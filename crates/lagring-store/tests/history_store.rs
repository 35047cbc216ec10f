//! The history stores against a real redis-server started by the testkit:
//! the Lua append rules give exactly what core's rules give (the same random
//! sequences through both stores), appends are idempotent per slot across
//! nodes and batched into a constant number of calls, keys share the hash tag
//! and expire, and what one partition's history costs in Redis memory.

use std::time::Duration;

use anyhow::Result;
use lagring_core::history::{AppendOutcome, HistoryPolicy};
use lagring_core::model::TopicPartition;
use lagring_store::history::{HISTORY_BATCH, count_resets};
use lagring_store::{
    CommittedOffset, EndOffset, HistoryPolicies, HistoryStore, MemoryHistoryStore, RedisConfig, RedisHistoryStore,
};
use lagring_testkit::ports::wait_for;
use lagring_testkit::redis::RedisServer;

const T0: i64 = 1_700_000_000_000;

fn config(server: &RedisServer) -> RedisConfig {
    let mut config = RedisConfig::new(server.url());
    config.namespace = "lagring".to_owned();
    config
}

fn end_offsets(n: usize, offset: impl Fn(usize) -> i64) -> Vec<EndOffset> {
    (0..n)
        .map(|i| EndOffset { tp: TopicPartition::new(format!("topic-{}", i % 7), i as i32), end: offset(i) })
        .collect()
}

async fn admin(server: &RedisServer) -> Result<redis::aio::MultiplexedConnection> {
    Ok(redis::Client::open(server.url())?.get_multiplexed_async_connection().await?)
}

/// xorshift64*: a reproducible stream without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> Option<T> {
        from.get(self.below(from.len() as u64) as usize).copied()
    }
}

#[tokio::test]
async fn lua_append_gives_exactly_what_core_rules_give() -> Result<()> {
    let server = RedisServer::start()?;
    // Expiry is real time in Redis (2 × max age): keep it far beyond the test.
    let policies = [
        HistoryPolicy::new(2, 60_000)?,
        HistoryPolicy::new(5, 200_000)?,
        HistoryPolicy::new(12, 90_000)?,
        HistoryPolicy::END_DEFAULT,
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut outcomes_seen, mut histories_compared) = (std::collections::BTreeSet::new(), 0);
    for (round, policy) in policies.into_iter().enumerate() {
        let both = HistoryPolicies { end: policy, committed: policy };
        let redis = RedisHistoryStore::new(&config(&server), both)?;
        let memory = MemoryHistoryStore::new(both);
        let cluster = format!("round-{round}");
        let mut offsets: Vec<i64> = vec![1_000; 8];
        let mut at = T0;
        for _ in 0..300 {
            at += rng.pick(&[-10_000, 0, 10_000, 10_000, 20_000, 30_000, 45_000]).unwrap();
            for o in &mut offsets {
                *o += rng.pick(&[-3, 0, 0, 0, 0, 1, 2, 50]).unwrap();
            }
            let batch = end_offsets(offsets.len(), |i| offsets[i]);
            let got = redis.record_end_offsets(&cluster, at, &batch).await?;
            let want = memory.record_end_offsets(&cluster, at, &batch).await?;
            assert_eq!(got, want, "policy {policy:?} at {at}");
            outcomes_seen.extend(got.iter().map(|r| format!("{:?}", r.outcome)));
            histories_compared += got.len();
        }
    }
    // Every rule was exercised.
    assert_eq!(outcomes_seen.into_iter().collect::<Vec<_>>(), ["Appended", "Extended", "Ignored", "Reset"]);
    assert_eq!(histories_compared, 4 * 300 * 8);
    Ok(())
}

#[tokio::test]
async fn committed_histories_use_their_own_keys_and_policy() -> Result<()> {
    let server = RedisServer::start()?;
    let policies = HistoryPolicies { end: HistoryPolicy::END_DEFAULT, committed: HistoryPolicy::new(3, 600_000)? };
    let redis = RedisHistoryStore::new(&config(&server), policies)?;
    let memory = MemoryHistoryStore::new(policies);
    let tp = TopicPartition::new("orders", 0);
    for step in 0..6 {
        let at = T0 + step * 30_000;
        let commits: Vec<CommittedOffset> = ["billing", "a/b"]
            .iter()
            .map(|g| CommittedOffset { group: (*g).into(), tp: tp.clone(), committed: step * 10 })
            .collect();
        let got = redis.record_committed("prod", at, &commits).await?;
        assert_eq!(got, memory.record_committed("prod", at, &commits).await?);
        assert!(got.iter().all(|r| r.history.len() == (step as usize + 1).min(3)));
    }
    // The end history of the same partition is separate.
    let end = redis.record_end_offsets("prod", T0, &[EndOffset { tp, end: 5 }]).await?;
    assert_eq!(end[0].history.len(), 1);
    let mut conn = admin(&server).await?;
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut conn).await?;
    keys.sort();
    assert_eq!(
        keys,
        [
            "{lagring}:hist:commit:prod/a%2Fb/orders/0",
            "{lagring}:hist:commit:prod/billing/orders/0",
            "{lagring}:hist:end:prod/orders/0",
        ]
    );
    Ok(())
}

#[tokio::test]
async fn two_nodes_in_one_slot_leave_one_point_in_one_round_trip() -> Result<()> {
    let server = RedisServer::start()?;
    let a = RedisHistoryStore::new(&config(&server), HistoryPolicies::default())?;
    let b = RedisHistoryStore::new(&config(&server), HistoryPolicies::default())?;
    let n = 2 * HISTORY_BATCH + 500;
    let first = a.record_end_offsets("prod", T0, &end_offsets(n, |i| i as i64)).await?;
    assert_eq!(a.lua_calls(), 3);
    // Redis did not know the script yet: the pipeline, SCRIPT LOAD, the pipeline again.
    assert_eq!(a.round_trips(), 3);
    assert!(first.iter().all(|r| r.outcome == AppendOutcome::Appended));
    // Node b fetched the same partitions in the same slot, a moment later.
    let second = b.record_end_offsets("prod", T0, &end_offsets(n, |i| i as i64 + 1)).await?;
    assert_eq!(b.lua_calls(), 3);
    assert_eq!(b.round_trips(), 1, "three script calls in one pipeline");
    assert!(second.iter().all(|r| r.outcome == AppendOutcome::Ignored));
    assert_eq!(
        first.iter().map(|r| &r.history).collect::<Vec<_>>(),
        second.iter().map(|r| &r.history).collect::<Vec<_>>()
    );
    // Next slot: b appends; a partition whose topic was recreated resets.
    let next =
        b.record_end_offsets("prod", T0 + 30_000, &end_offsets(n, |i| if i == 9 { 0 } else { i as i64 + 5 })).await?;
    assert_eq!(count_resets(&next), 1);
    assert_eq!(next[9].history.last_reset().map(|r| r.from_offset), Some(9));
    assert!(next.iter().enumerate().all(|(i, r)| r.history.len() == if i == 9 { 1 } else { 2 }));
    assert_eq!(b.round_trips(), 2);
    // Redis lost its scripts (restart, SCRIPT FLUSH): the store loads it again and carries on.
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query_async(&mut admin(&server).await?).await?;
    let after_flush = b.record_end_offsets("prod", T0 + 60_000, &end_offsets(n, |i| i as i64 + 7)).await?;
    assert_eq!(b.round_trips(), 5);
    assert!(after_flush.iter().all(|r| r.outcome == AppendOutcome::Appended));
    assert_eq!(after_flush[0].history.len(), 3);
    Ok(())
}

#[tokio::test]
async fn keys_expire_when_no_longer_observed() -> Result<()> {
    let server = RedisServer::start()?;
    let short = HistoryPolicy::new(10, 500)?;
    let store = RedisHistoryStore::new(&config(&server), HistoryPolicies { end: short, committed: short })?;
    store.record_end_offsets("prod", T0, &end_offsets(3, |_| 1)).await?;
    let mut conn = admin(&server).await?;
    let ttl: i64 = redis::cmd("PTTL").arg("{lagring}:hist:end:prod/topic-0/0").query_async(&mut conn).await?;
    assert!(ttl > 0 && ttl <= 1_000, "{ttl}");
    // An ignored append (same slot) still counts as observed: expiry refreshed.
    let again = store.record_end_offsets("prod", T0, &end_offsets(1, |_| 1)).await?;
    assert_eq!(again[0].outcome, AppendOutcome::Ignored);
    let left = wait_for("history keys to expire", Duration::from_secs(5), || {
        let mut conn = conn.clone();
        async move {
            let keys: Vec<String> = redis::cmd("KEYS").arg("{lagring}:hist:*").query_async(&mut conn).await?;
            Ok(keys.is_empty().then_some(keys))
        }
    })
    .await?;
    assert!(left.is_empty());
    Ok(())
}

/// Memory one history costs in Redis (MEMORY USAGE, key and value included).
#[tokio::test]
async fn memory_per_partition_is_measured() -> Result<()> {
    let server = RedisServer::start()?;
    let store = RedisHistoryStore::new(&config(&server), HistoryPolicies::default())?;
    let tp = TopicPartition::new("payments.settlement-events", 17);
    let group: std::sync::Arc<str> = "settlement-reconciler".into();
    for step in 0..200i64 {
        let at = T0 + step * 30_000;
        let busy = EndOffset { tp: tp.clone(), end: 8_000_000_000 + step * 3_000 };
        let idle = EndOffset { tp: TopicPartition::new("audit.idle", 0), end: 42 };
        store.record_end_offsets("prod-eu", at, &[busy, idle]).await?;
        let commit = CommittedOffset { group: group.clone(), tp: tp.clone(), committed: 7_999_990_000 + step * 3_000 };
        store.record_committed("prod-eu", at, &[commit]).await?;
    }
    let mut conn = admin(&server).await?;
    let mut usage = Vec::new();
    for key in [
        "{lagring}:hist:end:prod-eu/payments.settlement-events/17",
        "{lagring}:hist:end:prod-eu/audit.idle/0",
        "{lagring}:hist:commit:prod-eu/settlement-reconciler/payments.settlement-events/17",
    ] {
        let bytes: i64 =
            redis::cmd("MEMORY").arg("USAGE").arg(key).arg("SAMPLES").arg(0).query_async(&mut conn).await?;
        let len: i64 = redis::cmd("STRLEN").arg(key).query_async(&mut conn).await?;
        println!("redis memory: {bytes} bytes ({len} bytes of value) for {key}");
        usage.push((bytes, len));
    }
    // 120 points and 64 points of 16 bytes plus the tag byte; an idle
    // partition costs two points.
    assert_eq!(usage.iter().map(|u| u.1).collect::<Vec<_>>(), [1 + 120 * 16, 1 + 2 * 16, 1 + 21 * 16]);
    assert!(usage[0].0 < 2_300, "{usage:?}");
    Ok(())
}
