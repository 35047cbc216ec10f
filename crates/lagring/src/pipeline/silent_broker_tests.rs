//! One silent broker of three, in process: the simulator (real wire protocol), the native
//! client, the fetch and compute stages and the broker watch. Every group keeps its group- and
//! topic-level aggregates, computed over the partitions that answered, with
//! `kafka_consumer_group_partitions_unavailable` = its partitions led by the silent broker; no
//! series ends; `lagring_broker_up` is 0 for exactly that broker, and `/healthz` lists it under
//! `degraded`. The groups the silent broker coordinates are moved to another broker first: their
//! committed offsets would be unavailable as a whole, which is a different case.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lagring_core::group_time::TimeLagPolicy;
use lagring_core::lag_series::LabelOptions;
use lagring_core::metric_names as m;
use lagring_core::model::TopicPartition;
use lagring_core::series::SeriesBatch;
use lagring_kafka::{ClientKind, KafkaClient, KafkaConnection, NativeOptions};
use lagring_sim::{Clock, ScaleSpec, Sim, SimHandle};
use lagring_store::{HistoryPolicies, MemoryHistoryStore};

use super::brokers::BrokerWatch;
use super::compute::Compute;
use super::fetch::{ClusterFetcher, FetchOutcome, Selection};
use crate::health::Health;
use crate::self_metrics::SelfMetrics;

const SILENT: i32 = 1;

/// `name` → (labels without the cluster label → value) of the batch's samples.
type Series = BTreeMap<&'static str, BTreeMap<Vec<(String, String)>, f64>>;

fn series(batch: &SeriesBatch) -> Series {
    let names = [
        m::PARTITION_LAG_OFFSETS,
        m::GROUP_MAX_LAG_OFFSETS,
        m::GROUP_SUM_LAG_OFFSETS,
        m::TOPIC_MAX_LAG_OFFSETS,
        m::TOPIC_SUM_LAG_OFFSETS,
        m::PARTITIONS_UNAVAILABLE,
        m::PARTITION_LAG_SECONDS,
        m::GROUP_MAX_LAG_SECONDS,
        m::GROUP_SUM_LAG_SECONDS,
    ];
    let mut out = Series::new();
    for s in &batch.samples {
        let Some(name) = names.iter().find(|n| **n == s.key.name()) else { continue };
        assert_eq!(s.key.label("cluster"), Some("sim"), "the configured cluster label: {:?}", s.key);
        let labels =
            s.key.labels().iter().filter(|(k, _)| &**k != "cluster").map(|(k, v)| (k.to_string(), v.to_string()));
        out.entry(*name).or_default().insert(labels.collect(), s.value);
    }
    out
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

async fn iterate(fetcher: &ClusterFetcher, groups: &[Arc<str>], slot_ms: i64) -> FetchOutcome {
    let deadline = Instant::now() + Duration::from_secs(8);
    let discovery = fetcher.discover(deadline).await.unwrap();
    let selection = Selection { owned: groups.to_vec(), owns_cluster_series: true };
    fetcher.fetch_owned(discovery, selection, slot_ms, Instant::now(), deadline).await.unwrap()
}

/// Each group's committed offsets and lags from the model, per partition.
fn expected_lags(sim: &SimHandle) -> BTreeMap<String, BTreeMap<TopicPartition, i64>> {
    let e = sim.expected_now();
    e.groups
        .iter()
        .map(|(g, eg)| {
            let lags = eg
                .committed
                .iter()
                .filter_map(|((t, p), c)| {
                    let hw = e.partitions.get(&(t.clone(), *p))?.high_watermark;
                    Some((TopicPartition::new(t.as_str(), *p), (hw - (*c)?).max(0)))
                })
                .collect();
            (g.clone(), lags)
        })
        .collect()
}

fn broker_up(metrics: &SelfMetrics) -> BTreeMap<i32, i64> {
    (0..3).map(|b| (b, metrics.broker_up.with_label_values(&["sim", &b.to_string()]).get())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_broker_leaves_every_group_its_aggregates_over_the_partitions_that_answered() {
    let (clock, manual) = Clock::manual();
    manual.set(Duration::from_secs(30));
    let spec = ScaleSpec::parse("groups=40,topics=10,partitions=4,brokers=3,topics_per_group=2").unwrap();
    let sim = Sim::start(spec.scenario(), clock).await.unwrap();
    let groups: Vec<Arc<str>> = sim.expected_now().groups.keys().map(|g| Arc::from(g.as_str())).collect();
    for g in &groups {
        if sim.coordinator_of(g) == SILENT {
            sim.move_coordinator(g, SILENT + 1);
        }
    }
    let mut conn = KafkaConnection::plaintext(sim.bootstrap());
    conn.request_timeout = Duration::from_secs(1);
    let client = KafkaClient::new("sim", &conn, ClientKind::Native(NativeOptions::default())).unwrap();
    let fetcher = ClusterFetcher::new(Arc::from("sim"), client);
    let metrics = SelfMetrics::new().unwrap();
    let health = Health::new(["sim".to_owned()], Duration::from_secs(1));
    let mut watch = BrokerWatch::new(Arc::from("sim"));
    let store = Arc::new(MemoryHistoryStore::new(HistoryPolicies::default()));
    let label_options = LabelOptions { cluster_label: Arc::from("cluster"), extra: Vec::new() };
    let mut compute = Compute::new(Arc::from("sim"), label_options, metrics.clone(), store, TimeLagPolicy::default());

    // All brokers answer: every partition, nothing unavailable, every broker up.
    let first = iterate(&fetcher, &groups, 30_000).await;
    watch.record(&fetcher.client.brokers_seen(), &metrics, &health);
    assert!(
        first.failures.groups.is_empty() && first.failures.partitions.is_empty(),
        "{:?}",
        first.failures.partitions
    );
    let before = series(&compute.run(&first).await);
    assert_eq!(before[m::PARTITIONS_UNAVAILABLE].len(), 40);
    assert!(before[m::PARTITIONS_UNAVAILABLE].values().all(|v| *v == 0.0));
    assert_eq!(before[m::PARTITION_LAG_OFFSETS].len(), 40 * 8);
    assert_eq!(broker_up(&metrics), [(0, 1), (1, 1), (2, 1)].into_iter().collect());
    assert!(health.report().degraded.is_empty());

    // Broker 1 drops every request, one slot later.
    manual.set(Duration::from_secs(31));
    sim.set_silenced(SILENT, true);
    let outcome = iterate(&fetcher, &groups, 31_000).await;
    watch.record(&fetcher.client.brokers_seen(), &metrics, &health);
    let batch = compute.run(&outcome).await;
    assert!(outcome.failures.groups.is_empty(), "{:?}", outcome.failures.groups);
    let led_by_silent = |tp: &TopicPartition| sim.leader_of(&tp.topic, tp.partition) == Some(SILENT);
    let failed: BTreeSet<&TopicPartition> = outcome.failures.partitions.iter().map(|(tp, _)| tp).collect();
    assert!(!failed.is_empty() && failed.iter().all(|tp| led_by_silent(tp)), "{failed:?}");
    assert!(batch.ended.is_empty(), "an unavailable partition is not gone: {:?}", batch.ended);

    let got = series(&batch);
    let expected = expected_lags(&sim);
    assert_eq!(expected.len(), 40);
    for (group, lags) in &expected {
        let g = labels(&[("group", group)]);
        let answered: BTreeMap<&TopicPartition, i64> =
            lags.iter().filter(|(tp, _)| !led_by_silent(tp)).map(|(tp, lag)| (tp, *lag)).collect();
        let unavailable = lags.len() - answered.len();
        assert!(unavailable > 0 && !answered.is_empty(), "{group}: every group reads partitions of every broker");
        assert_eq!(got[m::PARTITIONS_UNAVAILABLE].get(&g), Some(&(unavailable as f64)), "{group}");
        let max = answered.values().copied().max().unwrap();
        let sum: i64 = answered.values().sum();
        assert_eq!(got[m::GROUP_MAX_LAG_OFFSETS].get(&g), Some(&(max as f64)), "{group}");
        assert_eq!(got[m::GROUP_SUM_LAG_OFFSETS].get(&g), Some(&(sum as f64)), "{group}");
        let topics: BTreeSet<&str> = answered.keys().map(|tp| &*tp.topic).collect();
        for topic in topics {
            let on_topic = || answered.iter().filter(|(tp, _)| &*tp.topic == topic).map(|(_, lag)| *lag);
            let t = labels(&[("group", group), ("topic", topic)]);
            assert_eq!(got[m::TOPIC_MAX_LAG_OFFSETS].get(&t), Some(&(on_topic().max().unwrap() as f64)));
            assert_eq!(got[m::TOPIC_SUM_LAG_OFFSETS].get(&t), Some(&(on_topic().sum::<i64>() as f64)));
        }
        // Partition series: exactly the answered partitions, with their lags.
        let partitions: BTreeMap<Vec<(String, String)>, f64> = answered
            .iter()
            .map(|(tp, lag)| {
                let p = tp.partition.to_string();
                (labels(&[("group", group), ("partition", &p), ("topic", &tp.topic)]), *lag as f64)
            })
            .collect();
        let emitted: BTreeMap<Vec<(String, String)>, f64> = got[m::PARTITION_LAG_OFFSETS]
            .iter()
            .filter(|(k, _)| k.contains(&("group".to_owned(), group.clone())))
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        assert_eq!(emitted, partitions, "{group}");
        // Time lag: one value per answered partition; the aggregates are their max and sum, in
        // the (topic, partition) order the core sums in.
        let seconds: BTreeMap<TopicPartition, f64> = got[m::PARTITION_LAG_SECONDS]
            .iter()
            .filter(|(k, _)| k.contains(&("group".to_owned(), group.clone())))
            .map(|(k, v)| {
                let label = |name: &str| k.iter().find(|(l, _)| l == name).map(|(_, v)| v.clone()).unwrap();
                (TopicPartition::new(label("topic"), label("partition").parse().unwrap()), *v)
            })
            .collect();
        assert_eq!(seconds.keys().collect::<Vec<_>>(), answered.keys().copied().collect::<Vec<_>>(), "{group}");
        let max_seconds = seconds.values().copied().reduce(f64::max);
        let sum_seconds = seconds.values().copied().reduce(|a, b| a + b);
        assert!(max_seconds.is_some(), "{group}");
        assert_eq!(got[m::GROUP_MAX_LAG_SECONDS].get(&g).copied(), max_seconds, "{group}");
        assert_eq!(got[m::GROUP_SUM_LAG_SECONDS].get(&g).copied(), sum_seconds, "{group}");
    }

    // The node's view of the brokers: exactly the silent one is down, and /healthz says so.
    assert_eq!(broker_up(&metrics), [(0, 1), (1, 0), (2, 1)].into_iter().collect());
    let report = health.report();
    assert_eq!(report.status, "ok", "{report:?}");
    assert_eq!(report.degraded.keys().collect::<Vec<_>>(), ["sim/broker/1"], "{report:?}");
    let reason = &report.degraded["sim/broker/1"];
    assert!(
        reason.starts_with(&format!("cluster sim: broker 1 ({}) unreachable: ", sim.broker_addrs()[1])),
        "{reason}"
    );

    // Broker 1 answers again: within a few reconnect backoffs nothing is unavailable.
    sim.set_silenced(SILENT, false);
    let until = Instant::now() + Duration::from_secs(30);
    for slot in 32.. {
        manual.set(Duration::from_secs(slot));
        let outcome = iterate(&fetcher, &groups, i64::try_from(slot).unwrap() * 1_000).await;
        watch.record(&fetcher.client.brokers_seen(), &metrics, &health);
        let batch = compute.run(&outcome).await;
        assert!(batch.ended.is_empty(), "{:?}", batch.ended);
        if outcome.failures.partitions.is_empty() && broker_up(&metrics).values().all(|up| *up == 1) {
            let got = series(&batch);
            assert_eq!(got[m::PARTITION_LAG_OFFSETS].len(), 40 * 8);
            assert!(got[m::PARTITIONS_UNAVAILABLE].values().all(|v| *v == 0.0));
            assert!(health.report().degraded.is_empty());
            break;
        }
        assert!(Instant::now() < until, "broker 1 never came back: {:?}", outcome.failures.partitions);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
