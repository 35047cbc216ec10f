//! The Redis store against a real redis-server started by the testkit:
//! membership on the server clock, duplicate ids, epochs that change when
//! Redis loses data, exclusive batched leases with slot hand-over, outage and
//! recovery, and the hash-tagged key namespace.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use lagring_store::ownership::{ClusterOwnership, NodeView, SelfState};
use lagring_store::{
    Clock, CoordinationStore, HandOver, NodeIdentity, NodeStatus, RedisConfig, RedisStore, SystemClock,
};
use lagring_testkit::ports::wait_for;
use lagring_testkit::redis::RedisServer;

const LONG: Duration = Duration::from_secs(30);

fn config(server: &RedisServer, namespace: &str) -> RedisConfig {
    let mut config = RedisConfig::new(server.url());
    config.namespace = namespace.to_owned();
    config.command_timeout = Duration::from_millis(500);
    config.connect_timeout = Duration::from_millis(500);
    config
}

async fn store(server: &RedisServer) -> Result<RedisStore> {
    Ok(RedisStore::connect(&config(server, "lagring")).await?)
}

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("prod/group-{i}")).collect()
}

async fn live_ids(store: &RedisStore) -> Result<Vec<String>> {
    Ok(store.membership().await?.ids().map(str::to_owned).collect())
}

fn id(name: &str) -> NodeIdentity {
    NodeIdentity::with_incarnation(name, "i1")
}

fn owned(n: u64) -> NodeStatus {
    NodeStatus { owned_groups: n, ..NodeStatus::default() }
}

async fn beat(store: &RedisStore, name: &str) -> Result<lagring_store::HeartbeatOutcome> {
    Ok(store.heartbeat(&id(name), LONG, &owned(0)).await?)
}

/// The epoch token a heartbeat of `name` sees (claims carry it).
async fn epoch_of(store: &RedisStore, name: &str) -> Result<String> {
    Ok(beat(store, name).await?.membership.epoch.token)
}

/// Hand-overs of `keys` to `successor` (`None`: to any node).
fn to(successor: Option<&str>, keys: &[String]) -> Vec<HandOver> {
    keys.iter().map(|key| HandOver { key: key.clone(), successor: successor.map(str::to_owned) }).collect()
}

#[tokio::test]
async fn heartbeats_of_three_nodes_give_the_exact_live_set() -> Result<()> {
    let server = RedisServer::start()?;
    let store = store(&server).await?;
    store.heartbeat(&id("lagring-2"), LONG, &owned(5)).await?;
    store.heartbeat(&id("lagring-0"), LONG, &owned(7)).await?;
    let status = NodeStatus {
        owned_groups: 0,
        leaving: true,
        unhealthy_clusters: vec!["east".into(), "we st".into()],
        undeliverable: true,
        unreachable_brokers: [("east".to_owned(), vec![2])].into_iter().collect(),
        blocked_groups: [("east".to_owned(), vec!["g 1".to_owned()])].into_iter().collect(),
        restarting: true,
        labels: [("region".to_owned(), "eu".to_owned())].into_iter().collect(),
    };
    let m = store.heartbeat(&id("lagring-1"), LONG, &status).await?.membership;
    let ids: Vec<&str> = m.ids().collect();
    assert_eq!(ids, ["lagring-0", "lagring-1", "lagring-2"]);
    let owned: Vec<u64> = m.nodes.iter().map(|n| n.status.owned_groups).collect();
    assert_eq!(owned, [7, 0, 5]);
    assert_eq!(m.nodes[1].status, status, "status round-trips through redis");
    assert_eq!(m.nodes[1].incarnation, "i1");
    assert!(m.nodes.iter().all(|n| n.heartbeat_age < Duration::from_secs(5)), "{m:?}");
    Ok(())
}

#[tokio::test]
async fn silent_node_expires_and_deregister_is_immediate() -> Result<()> {
    let server = RedisServer::start()?;
    let store = Arc::new(store(&server).await?);
    store.heartbeat(&id("quiet"), Duration::from_secs(1), &owned(0)).await?;
    beat(&store, "leaving").await?;
    beat(&store, "steady").await?;
    store.deregister(&NodeIdentity::with_incarnation("leaving", "other")).await?;
    assert_eq!(live_ids(&store).await?, ["leaving", "quiet", "steady"], "another incarnation cannot deregister it");
    store.deregister(&id("leaving")).await?;
    assert_eq!(live_ids(&store).await?, ["quiet", "steady"]);

    let s = Arc::clone(&store);
    let ids = wait_for("quiet to expire", Duration::from_secs(5), move || {
        let s = Arc::clone(&s);
        async move {
            let m = beat(&s, "steady").await?.membership;
            let ids: Vec<String> = m.ids().map(str::to_owned).collect();
            Ok((ids.len() == 1).then_some(ids))
        }
    })
    .await?;
    assert_eq!(ids, ["steady"]);
    Ok(())
}

#[tokio::test]
async fn leases_are_exclusive_per_process_released_only_by_holder_and_expire() -> Result<()> {
    let server = RedisServer::start()?;
    let store = Arc::new(store(&server).await?);
    let (a, b) = (id("a"), id("b"));
    let epoch = epoch_of(&store, "a").await?;
    let all = keys(10);
    let (a_keys, b_keys) = (all[..7].to_vec(), all[3..].to_vec());
    assert_eq!(store.claim_leases(&a, &a_keys, LONG, 1, &epoch).await?.held, a_keys);
    let by_b = store.claim_leases(&b, &b_keys, LONG, 1, &epoch).await?;
    assert_eq!(by_b.held, all[7..]);
    let others: Vec<(String, String)> = all[3..7].iter().map(|k| (k.clone(), "a#i1".to_owned())).collect();
    assert_eq!(by_b.held_by_others, others);
    let holders = store.lease_holders(&all).await?;
    let want: Vec<Option<String>> = (0..10).map(|i| Some(if i < 7 { "a#i1" } else { "b#i1" }.to_owned())).collect();
    assert_eq!(holders, want);

    let a_again = NodeIdentity::with_incarnation("a", "i2");
    assert!(store.claim_leases(&a_again, &a_keys, LONG, 1, &epoch).await?.held.is_empty(), "same id, other process");
    assert_eq!(store.claim_leases(&a, &a_keys, LONG, 2, &epoch).await?.held, a_keys, "renew by holder");
    assert_eq!(store.release_leases(&b, &a_keys).await?, 0, "b cannot release a's leases");
    assert_eq!(store.release_leases(&a, &all[..2]).await?, 2);
    assert_eq!(store.lease_holders(&all[..3]).await?, [None, None, Some("a#i1".to_owned())]);

    let short = vec!["short/lived".to_owned()];
    store.claim_leases(&a, &short, Duration::from_millis(300), 2, &epoch).await?;
    assert!(store.claim_leases(&b, &short, LONG, 2, &epoch).await?.held.is_empty());
    let s = Arc::clone(&store);
    wait_for("the short lease to expire", Duration::from_secs(5), move || {
        let (s, short, b, epoch) = (Arc::clone(&s), short.clone(), b.clone(), epoch.clone());
        async move { Ok((!s.claim_leases(&b, &short, LONG, 2, &epoch).await?.held.is_empty()).then_some(())) }
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_handed_over_lease_goes_to_its_successor_from_the_next_slot_and_keeps_its_ttl() -> Result<()> {
    let server = RedisServer::start()?;
    let store = store(&server).await?;
    let (a, b, c) = (id("a"), id("b"), id("c"));
    let epoch = epoch_of(&store, "a").await?;
    let k = keys(4);
    store.claim_leases(&a, &k, Duration::from_millis(800), 7, &epoch).await?;
    assert_eq!(store.hand_over_leases(&b, &to(Some("b"), &k), 7).await?, 0, "only the holder hands over");
    assert_eq!(store.hand_over_leases(&a, &to(Some("b"), &k[..2]), 7).await?, 2);
    assert_eq!(store.hand_over_leases(&a, &to(None, &k[2..3]), 7).await?, 1);
    let holders = store.lease_holders(&k).await?;
    let want = ["a#i1@7>b", "a#i1@7>b", "a#i1@7", "a#i1"].map(|v| Some(v.to_owned()));
    assert_eq!(holders, want);
    let same_slot = store.claim_leases(&b, &k, LONG, 7, &epoch).await?;
    assert!(same_slot.held.is_empty(), "{same_slot:?}");
    let by_c = store.claim_leases(&c, &k[..3], LONG, 8, &epoch).await?;
    assert_eq!(by_c.held, k[2..3], "only the lease handed over to nobody in particular");
    let others: Vec<(String, String)> = k[..2].iter().map(|key| (key.clone(), "a#i1@7>b".to_owned())).collect();
    assert_eq!(by_c.held_by_others, others);
    let b_restarted = NodeIdentity::with_incarnation("b", "i2");
    assert_eq!(store.claim_leases(&b_restarted, &k[..2], LONG, 8, &epoch).await?.held, k[..2], "named by node id");
    // The fourth key was never handed over: it frees only when its 800 ms ttl ends.
    assert!(store.claim_leases(&b, &k[3..], LONG, 9, &epoch).await?.held.is_empty());
    wait_for("the kept ttl to end", Duration::from_secs(5), || {
        let (store, b, k, epoch) = (&store, b.clone(), k.clone(), epoch.clone());
        async move { Ok((store.claim_leases(&b, &k[3..], LONG, 9, &epoch).await?.held.len() == 1).then_some(())) }
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn the_old_holder_may_take_back_a_handed_over_lease_its_successor_has_not_claimed() -> Result<()> {
    let server = RedisServer::start()?;
    let store = store(&server).await?;
    let (a, b) = (id("a"), id("b"));
    let epoch = epoch_of(&store, "a").await?;
    let k = keys(1);
    store.claim_leases(&a, &k, LONG, 7, &epoch).await?;
    store.hand_over_leases(&a, &to(Some("b"), &k), 7).await?;
    assert_eq!(store.claim_leases(&a, &k, LONG, 8, &epoch).await?.held, k);
    let late = store.claim_leases(&b, &k, LONG, 8, &epoch).await?;
    assert_eq!(late.held_by_others, [(k[0].clone(), "a#i1".to_owned())]);
    Ok(())
}

#[tokio::test]
async fn a_claim_after_redis_lost_its_data_is_refused_until_the_node_saw_the_new_epoch() -> Result<()> {
    let server = RedisServer::start()?;
    let store = store(&server).await?;
    let (a, b) = (id("a"), id("b"));
    let k = keys(3);
    let seen = epoch_of(&store, "a").await?;
    assert_eq!(store.claim_leases(&a, &k, LONG, 1, &seen).await?.held, k);

    server.flush_all()?;
    let refused = store.claim_leases(&b, &k, LONG, 2, &seen).await?;
    let current = refused.epoch_changed.clone().unwrap_or_default();
    assert_eq!((refused.held.len(), refused.held_by_others.len()), (0, 0), "{refused:?}");
    assert_eq!(current.len(), 16, "the refusal started the new epoch: {refused:?}");
    assert_ne!(current, seen);
    assert_eq!(store.lease_holders(&k).await?, [None, None, None], "nothing was written");
    let renewal = store.claim_leases(&a, &k, LONG, 2, &seen).await?;
    assert_eq!(renewal.epoch_changed.as_deref(), Some(current.as_str()), "renewals are refused too");

    let next = beat(&store, "b").await?.membership.epoch;
    assert_eq!(next.token, current, "the next heartbeat sees the epoch the refusal started");
    assert!(next.age < Duration::from_secs(2), "{next:?}");
    let claimed = store.claim_leases(&b, &k, LONG, 3, &current).await?;
    assert_eq!((claimed.held, claimed.epoch_changed), (k, None));
    Ok(())
}

#[tokio::test]
async fn a_claim_on_a_server_that_did_not_start_the_epoch_is_refused() -> Result<()> {
    let server = RedisServer::start()?;
    let store = store(&server).await?;
    let seen = epoch_of(&store, "a").await?;
    // As on a promoted replica: the epoch hash came over by replication, its run_id is another server's.
    let out = server.cli(&["HSET", "{lagring}:epoch", "run_id", "0000000000000000000000000000000000000000"])?;
    assert_eq!(out.trim(), "0");
    let refused = store.claim_leases(&id("a"), &keys(2), LONG, 1, &seen).await?;
    let current = refused.epoch_changed.unwrap_or_default();
    assert!(current.len() == 16 && current != seen, "{current:?}");
    assert!(refused.held.is_empty());
    assert_eq!(epoch_of(&store, "a").await?, current);
    Ok(())
}

#[tokio::test]
async fn a_second_live_process_with_the_same_id_is_refused() -> Result<()> {
    let server = RedisServer::start()?;
    let store = store(&server).await?;
    let first = NodeIdentity::with_incarnation("lagring-0", "aaaa");
    let second = NodeIdentity::with_incarnation("lagring-0", "bbbb");
    assert_eq!(store.heartbeat(&first, Duration::from_millis(600), &owned(3)).await?.duplicate_of, None);
    let refused = store.heartbeat(&second, LONG, &owned(0)).await?;
    assert_eq!(refused.duplicate_of.as_deref(), Some("aaaa"));
    assert_eq!(refused.membership.nodes[0].incarnation, "aaaa");
    assert_eq!(refused.membership.nodes[0].status.owned_groups, 3, "the refused heartbeat wrote nothing");
    let took_over = wait_for("the first process to expire", Duration::from_secs(5), || {
        let (store, second) = (&store, second.clone());
        async move {
            let outcome = store.heartbeat(&second, LONG, &owned(0)).await?;
            Ok(outcome.duplicate_of.is_none().then_some(outcome))
        }
    })
    .await?;
    assert_eq!(took_over.membership.nodes[0].incarnation, "bbbb");
    Ok(())
}

#[tokio::test]
async fn the_epoch_changes_when_redis_restarts_empty_or_is_flushed_and_only_then() -> Result<()> {
    let mut server = RedisServer::start()?;
    let store = Arc::new(store(&server).await?);
    let first = beat(&store, "n").await?.membership.epoch;
    assert_eq!(first.token.len(), 16);
    assert!(first.age < Duration::from_secs(2), "{first:?}");
    let same = beat(&store, "n").await?.membership.epoch;
    assert_eq!(same.token, first.token);
    assert_eq!(store.membership().await?.epoch.token, first.token);

    let client = redis::Client::open(server.url())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await?;
    let flushed = beat(&store, "n").await?.membership.epoch;
    assert_ne!(flushed.token, first.token, "flush starts a new epoch");

    server.stop();
    server.restart()?;
    let restarted = wait_for("redis back", Duration::from_secs(15), || {
        let store = Arc::clone(&store);
        async move { Ok(beat(&store, "n").await.ok().map(|o| o.membership.epoch)) }
    })
    .await?;
    assert_ne!(restarted.token, flushed.token, "restart starts a new epoch");
    Ok(())
}

#[tokio::test]
async fn five_thousand_keys_take_five_script_calls() -> Result<()> {
    let server = RedisServer::start()?;
    let store = store(&server).await?;
    let (a, b) = (id("a"), id("b"));
    let epoch = epoch_of(&store, "a").await?;
    let many = keys(5_000);
    let before = store.lua_calls();
    let outcome = store.claim_leases(&a, &many, LONG, 1, &epoch).await?;
    assert_eq!(outcome.held.len(), 5_000);
    assert_eq!(store.lua_calls() - before, 5);
    let by_b = store.claim_leases(&b, &many, LONG, 1, &epoch).await?;
    assert_eq!((by_b.held.len(), by_b.held_by_others.len()), (0, 5_000));
    assert_eq!(store.hand_over_leases(&a, &to(Some("b"), &many), 1).await?, 5_000);
    assert_eq!(store.release_leases(&a, &many).await?, 5_000);
    assert_eq!(store.lua_calls() - before, 20);
    Ok(())
}

#[tokio::test]
async fn every_key_is_under_the_hash_tagged_namespace() -> Result<()> {
    let server = RedisServer::start()?;
    let store = RedisStore::connect(&config(&server, "fleet-a")).await?;
    let epoch = epoch_of(&store, "n1").await?;
    store.claim_leases(&id("n1"), &keys(20), LONG, 1, &epoch).await?;
    let client = redis::Client::open(server.url())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let mut all: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut conn).await?;
    all.sort();
    assert_eq!(all.len(), 25, "{all:?}");
    assert!(all.iter().all(|k| k.starts_with("{fleet-a}:")), "{all:?}");
    assert!(all.contains(&"{fleet-a}:nodes".to_owned()));
    assert!(all.contains(&"{fleet-a}:lease:prod/group-0".to_owned()));
    Ok(())
}

#[tokio::test]
async fn outage_returns_errors_keeps_unexpired_leases_and_recovers() -> Result<()> {
    let mut server = RedisServer::start()?;
    let store = Arc::new(store(&server).await?);
    let candidates = keys(100);
    let solo = id("solo");
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut tracker = ClusterOwnership::new(solo.clone(), "prod", LONG, clock);
    let me = SelfState { joined: true, leaving: false, undeliverable: false };
    let membership = beat(&store, "solo").await?.membership;
    let epoch = membership.epoch.token.clone();
    let view = NodeView { membership: Some(&membership), me, claims_allowed: true };
    assert_eq!(tracker.sync(store.as_ref(), view, &candidates, 1).await.emit.len(), 100);

    server.stop();
    assert!(beat(&store, "solo").await.is_err());
    assert!(store.membership().await.is_err());
    assert!(store.claim_leases(&solo, &candidates, LONG, 2, &epoch).await.is_err());
    assert!(store.hand_over_leases(&solo, &to(None, &candidates), 2).await.is_err());
    assert!(store.release_leases(&solo, &candidates).await.is_err());
    assert!(store.lease_holders(&candidates).await.is_err());
    assert!(store.deregister(&solo).await.is_err());
    let during = tracker.sync(store.as_ref(), view, &candidates, 2).await;
    assert_eq!((during.emit.len(), during.degraded), (100, true));

    server.restart()?;
    let recovered = wait_for("the store to recover", Duration::from_secs(15), || {
        let store = Arc::clone(&store);
        async move { Ok(beat(&store, "solo").await.ok()) }
    })
    .await?;
    let view = NodeView { membership: Some(&recovered.membership), me, claims_allowed: true };
    let after = tracker.sync(store.as_ref(), view, &candidates, 3).await;
    assert_eq!((after.emit.len(), after.degraded), (100, false));
    let holders = store.lease_holders(&candidates).await?;
    assert!(holders.iter().all(|h| h.as_deref() == Some("solo#i1")), "leases re-claimed on the fresh server");
    Ok(())
}

#[tokio::test]
async fn lazy_store_starts_while_redis_is_down() -> Result<()> {
    let mut server = RedisServer::start()?;
    server.stop();
    let store = Arc::new(RedisStore::new(&config(&server, "lagring"))?);
    let err = store.membership().await.unwrap_err().to_string();
    assert!(err.starts_with("connect to redis at redis://127.0.0.1:"), "{err}");
    server.restart()?;
    wait_for("first connection", Duration::from_secs(10), || {
        let store = Arc::clone(&store);
        async move { Ok(beat(&store, "late").await.is_ok().then_some(())) }
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn acl_user_password_and_db_index_are_used() -> Result<()> {
    let server = RedisServer::start()?;
    let admin = redis::Client::open(server.url())?;
    let mut conn = admin.get_multiplexed_async_connection().await?;
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", "lagring", "on", ">s3cret", "~{lagring}:*", "+@all"])
        .query_async(&mut conn)
        .await?;

    let mut wrong = config(&server, "lagring");
    wrong.username = Some("lagring".into());
    wrong.password = Some("nope".into());
    let err = RedisStore::connect(&wrong).await.unwrap_err().to_string();
    assert!(err.starts_with("connect to redis at"), "{err}");

    let mut right = wrong.clone();
    right.password = Some("s3cret".into());
    right.db = Some(3);
    let store = RedisStore::connect(&right).await?;
    beat(&store, "n1").await?;
    let _: () = redis::cmd("SELECT").arg(3).query_async(&mut conn).await?;
    let in_db3: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut conn).await?;
    assert_eq!(in_db3.len(), 5, "{in_db3:?}");
    Ok(())
}

#[tokio::test]
async fn rediss_verifies_against_the_configured_ca() -> Result<()> {
    lagring_store::install_crypto_provider();
    let server = RedisServer::start_tls()?;
    let mut verified = config(&server, "lagring");
    verified.tls.ca_file = Some(server.ca_file().display().to_string());
    let store = RedisStore::connect(&verified).await?;
    assert_eq!(beat(&store, "tls-node").await?.membership.nodes.len(), 1);

    let system_roots = config(&server, "lagring");
    let err = RedisStore::connect(&system_roots).await.unwrap_err().to_string();
    assert!(err.starts_with("connect to redis at rediss://127.0.0.1:"), "{err}");

    let mut insecure = config(&server, "lagring");
    insecure.tls.insecure_skip_verify = true;
    RedisStore::connect(&insecure).await?.membership().await?;
    Ok(())
}
