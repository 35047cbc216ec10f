//! Coordinator tests over the memory store: the epoch fence and the delivery state.

use lagring_store::MemoryStore;
use prometheus::Registry;

use super::*;

#[tokio::test]
async fn a_claim_refused_for_a_new_epoch_closes_the_fence_once() {
    let registry = Registry::new();
    let metrics = CoordinationMetrics::register(&registry).unwrap();
    let timing = CoordinationTiming {
        node_ttl: Duration::from_secs(10),
        heartbeat_interval: Duration::from_secs(2),
        lease_ttl: Duration::from_secs(40),
        vnodes: 16,
        restart_grace: Duration::ZERO,
    };
    let health = Health::new(["c".to_owned()], Duration::from_secs(30));
    let store = Arc::new(MemoryStore::new());
    let coordinator = Coordinator::new(
        NodeIdentity::new("n"),
        store,
        timing,
        ["c".to_owned()],
        metrics.clone(),
        health,
        DeliveryHealth::always(),
    );
    coordinator.heartbeat_once().await;
    assert!(coordinator.view("c").2, "an old epoch: claims allowed");

    coordinator.claim_refused_for_epoch("after-the-loss");
    coordinator.claim_refused_for_epoch("after-the-loss");
    assert!(!coordinator.view("c").2, "waiting out the old leases");
    assert_eq!((metrics.epoch_changes.get(), metrics.claims_blocked.get()), (1, 1));
}

#[tokio::test]
async fn an_undeliverable_node_publishes_it_and_leaves_its_rings_only_after_peers_could_see_it() {
    use lagring_sink::remote_write::delivery::DeliveryTracker;
    let registry = Registry::new();
    let metrics = CoordinationMetrics::register(&registry).unwrap();
    let timing = CoordinationTiming {
        node_ttl: Duration::from_secs(10),
        heartbeat_interval: Duration::from_millis(20),
        lease_ttl: Duration::from_secs(40),
        vnodes: 16,
        restart_grace: Duration::ZERO,
    };
    let health = Health::new(["c".to_owned()], Duration::from_secs(30));
    let store = Arc::new(MemoryStore::new());
    let (mut tracker, delivery) = DeliveryTracker::new(Duration::from_secs(60), Duration::from_millis(30));
    let node = NodeIdentity::new("n");
    let c = Coordinator::new(node, store.clone(), timing, ["c".to_owned()], metrics, health.clone(), delivery);
    c.set_joined("c", true);
    c.heartbeat_once().await;
    assert!(!c.view("c").1.undeliverable);

    tracker.refused(401, Instant::now());
    assert!(!c.view("c").1.undeliverable, "not published yet");
    c.heartbeat_once().await;
    let published = store.membership().await.unwrap();
    assert!(published.nodes[0].status.undeliverable, "{published:?}");
    assert!(health.report().degraded["remote_write"].contains("answered 401"), "{:?}", health.report());
    assert!(!c.view("c").1.undeliverable, "peers have not had two heartbeats yet");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !c.view("c").1.undeliverable {
        assert!(Instant::now() < deadline, "never counted itself undeliverable");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    tracker.succeeded(Instant::now());
    assert!(!c.view("c").1.undeliverable, "delivering again counts at once");
    c.heartbeat_once().await;
    assert!(!health.report().degraded.contains_key("remote_write"));
    assert!(store.membership().await.unwrap().nodes[0].status.undeliverable, "peers see it after settle");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        c.heartbeat_once().await;
        if !store.membership().await.unwrap().nodes[0].status.undeliverable {
            break;
        }
        assert!(Instant::now() < deadline, "never published deliverable again");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
