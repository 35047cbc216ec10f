//! The Redis store against a real redis-server started by the testkit:
//! membership on the server clock, exclusive batched leases, outage and
//! recovery, and the hash-tagged key namespace.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use lagring_store::{Clock, CoordinationStore, OwnershipTracker, RedisConfig, RedisStore, SystemClock};
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

#[tokio::test]
async fn heartbeats_of_three_nodes_give_the_exact_live_set() -> Result<()> {
    let server = RedisServer::start()?;
    let store = store(&server).await?;
    store.heartbeat("lagring-2", LONG, 5).await?;
    store.heartbeat("lagring-0", LONG, 7).await?;
    let m = store.heartbeat("lagring-1", LONG, 0).await?;
    let ids: Vec<&str> = m.ids().collect();
    assert_eq!(ids, ["lagring-0", "lagring-1", "lagring-2"]);
    let owned: Vec<u64> = m.nodes.iter().map(|n| n.owned_groups).collect();
    assert_eq!(owned, [7, 0, 5]);
    assert!(m.nodes.iter().all(|n| n.heartbeat_age < Duration::from_secs(5)), "{m:?}");
    Ok(())
}

#[tokio::test]
async fn silent_node_expires_and_deregister_is_immediate() -> Result<()> {
    let server = RedisServer::start()?;
    let store = Arc::new(store(&server).await?);
    store.heartbeat("quiet", Duration::from_secs(1), 0).await?;
    store.heartbeat("leaving", LONG, 0).await?;
    store.heartbeat("steady", LONG, 0).await?;
    store.deregister("leaving").await?;
    assert_eq!(live_ids(&store).await?, ["quiet", "steady"]);

    let s = Arc::clone(&store);
    let ids = wait_for("quiet to expire", Duration::from_secs(5), move || {
        let s = Arc::clone(&s);
        async move {
            let m = s.heartbeat("steady", LONG, 0).await?;
            let ids: Vec<String> = m.ids().map(str::to_owned).collect();
            Ok((ids.len() == 1).then_some(ids))
        }
    })
    .await?;
    assert_eq!(ids, ["steady"]);
    Ok(())
}

#[tokio::test]
async fn leases_are_exclusive_renewable_released_only_by_holder_and_expire() -> Result<()> {
    let server = RedisServer::start()?;
    let store = Arc::new(store(&server).await?);
    let all = keys(10);
    let (a_keys, b_keys) = (all[..7].to_vec(), all[3..].to_vec());
    let a = store.claim_leases("a", &a_keys, LONG).await?;
    let b = store.claim_leases("b", &b_keys, LONG).await?;
    assert_eq!(a.held, a_keys);
    assert_eq!(b.held, all[7..]);
    let others: Vec<(String, String)> = all[3..7].iter().map(|k| (k.clone(), "a".to_owned())).collect();
    assert_eq!(b.held_by_others, others);
    let holders = store.lease_holders(&all).await?;
    let want: Vec<Option<String>> = (0..10).map(|i| Some(if i < 7 { "a" } else { "b" }.to_owned())).collect();
    assert_eq!(holders, want);

    assert_eq!(store.claim_leases("a", &a_keys, LONG).await?.held, a_keys, "renew by holder");
    assert_eq!(store.release_leases("b", &a_keys).await?, 0, "b cannot release a's leases");
    assert_eq!(store.release_leases("a", &all[..2]).await?, 2);
    assert_eq!(store.lease_holders(&all[..3]).await?, [None, None, Some("a".to_owned())]);

    let short = vec!["short/lived".to_owned()];
    store.claim_leases("a", &short, Duration::from_millis(300)).await?;
    assert!(store.claim_leases("b", &short, LONG).await?.held.is_empty());
    let s = Arc::clone(&store);
    wait_for("the short lease to expire", Duration::from_secs(5), move || {
        let (s, short) = (Arc::clone(&s), short.clone());
        async move { Ok((!s.claim_leases("b", &short, LONG).await?.held.is_empty()).then_some(())) }
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn five_thousand_keys_take_five_script_calls() -> Result<()> {
    let server = RedisServer::start()?;
    let store = store(&server).await?;
    let many = keys(5_000);
    let before = store.lua_calls();
    let outcome = store.claim_leases("a", &many, LONG).await?;
    assert_eq!(outcome.held.len(), 5_000);
    assert_eq!(store.lua_calls() - before, 5);
    let b = store.claim_leases("b", &many, LONG).await?;
    assert_eq!((b.held.len(), b.held_by_others.len()), (0, 5_000));
    assert_eq!(store.release_leases("a", &many).await?, 5_000);
    assert_eq!(store.lua_calls() - before, 15);
    Ok(())
}

#[tokio::test]
async fn every_key_is_under_the_hash_tagged_namespace() -> Result<()> {
    let server = RedisServer::start()?;
    let store = RedisStore::connect(&config(&server, "fleet-a")).await?;
    store.heartbeat("n1", LONG, 3).await?;
    store.claim_leases("n1", &keys(20), LONG).await?;
    let client = redis::Client::open(server.url())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let mut all: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut conn).await?;
    all.sort();
    assert_eq!(all.len(), 23, "{all:?}");
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
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut tracker = OwnershipTracker::new("solo", LONG, clock);
    assert!(tracker.heartbeat(store.as_ref(), LONG).await.is_some());
    assert_eq!(tracker.sync_leases(store.as_ref(), &candidates).await.emit.len(), 100);

    server.stop();
    assert!(store.heartbeat("solo", LONG, 0).await.is_err());
    assert!(store.membership().await.is_err());
    assert!(store.claim_leases("solo", &candidates, LONG).await.is_err());
    assert!(store.release_leases("solo", &candidates).await.is_err());
    assert!(store.lease_holders(&candidates).await.is_err());
    assert!(store.deregister("solo").await.is_err());
    assert!(tracker.heartbeat(store.as_ref(), LONG).await.is_none());
    let during = tracker.sync_leases(store.as_ref(), &candidates).await;
    assert_eq!((during.emit.len(), during.degraded), (100, true));

    server.restart()?;
    let recovered = wait_for("the store to recover", Duration::from_secs(15), || {
        let store = Arc::clone(&store);
        async move { Ok(store.heartbeat("solo", LONG, 0).await.is_ok().then_some(())) }
    })
    .await;
    recovered?;
    assert!(tracker.heartbeat(store.as_ref(), LONG).await.is_some());
    let after = tracker.sync_leases(store.as_ref(), &candidates).await;
    assert_eq!((after.emit.len(), after.degraded), (100, false));
    let holders = store.lease_holders(&candidates).await?;
    assert!(holders.iter().all(|h| h.as_deref() == Some("solo")), "leases re-claimed on the fresh server");
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
        async move { Ok(store.heartbeat("late", LONG, 0).await.is_ok().then_some(())) }
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
    store.heartbeat("n1", LONG, 0).await?;
    let _: () = redis::cmd("SELECT").arg(3).query_async(&mut conn).await?;
    let in_db3: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut conn).await?;
    assert_eq!(in_db3.len(), 3, "{in_db3:?}");
    Ok(())
}

#[tokio::test]
async fn rediss_verifies_against_the_configured_ca() -> Result<()> {
    lagring_store::install_crypto_provider();
    let server = RedisServer::start_tls()?;
    let mut verified = config(&server, "lagring");
    verified.tls.ca_file = Some(server.ca_file().display().to_string());
    let store = RedisStore::connect(&verified).await?;
    assert_eq!(store.heartbeat("tls-node", LONG, 0).await?.nodes.len(), 1);

    let system_roots = config(&server, "lagring");
    let err = RedisStore::connect(&system_roots).await.unwrap_err().to_string();
    assert!(err.starts_with("connect to redis at rediss://127.0.0.1:"), "{err}");

    let mut insecure = config(&server, "lagring");
    insecure.tls.insecure_skip_verify = true;
    RedisStore::connect(&insecure).await?.membership().await?;
    Ok(())
}

#[tokio::test]
async fn renew_extends_only_own_leases_and_never_claims_free_ones() -> Result<()> {
    let server = RedisServer::start()?;
    let store = store(&server).await?;
    let all = keys(4);
    store.claim_leases("a", &all[..2], Duration::from_millis(400)).await?;
    store.claim_leases("b", &all[2..3], LONG).await?;
    // a renews everything it asks for that it holds: 2 of 4; the free key
    // stays free and b's key stays b's.
    assert_eq!(store.renew_leases("a", &all, LONG).await?, 2);
    let holders = store.lease_holders(&all).await?;
    assert_eq!(holders, [Some("a".to_owned()), Some("a".to_owned()), Some("b".to_owned()), None]);
    // The renewal outlived the original 400 ms ttl.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(store.lease_holders(&all[..2]).await?, [Some("a".to_owned()), Some("a".to_owned())]);
    // A released key is not brought back by a renewal that raced the release.
    store.release_leases("a", &all[..1]).await?;
    assert_eq!(store.renew_leases("a", &all[..1], LONG).await?, 0);
    assert_eq!(store.lease_holders(&all[..1]).await?, [None]);
    Ok(())
}
