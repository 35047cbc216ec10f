use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use lagring_core::history::HistoryPolicy;
use lagring_core::model::{ClusterObservation, GroupCommits, PartitionOffsets};
use lagring_core::series::{SeriesBatch, SeriesKey};
use lagring_core::status::StatusPolicy;
use lagring_store::{HistoryPolicies, MemoryHistoryStore, SlotPoints, StoreFuture};

use super::*;
use crate::pipeline::compute::Compute;
use crate::pipeline::fetch::GroupsSeen;

/// A memory store that fails while `failing` is set.
#[derive(Debug)]
struct Flaky {
    inner: MemoryHistoryStore,
    failing: AtomicBool,
}

impl Flaky {
    fn new() -> Arc<Self> {
        Arc::new(Self { inner: MemoryHistoryStore::new(HistoryPolicies::default()), failing: AtomicBool::new(false) })
    }

    fn fail(&self, on: bool) {
        self.failing.store(on, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Timeout { op: "record", after: Duration::from_secs(1) });
        }
        Ok(())
    }
}

impl HistoryStore for Flaky {
    fn append<'a>(&'a self, points: SlotPoints<'a>) -> StoreFuture<'a, Vec<Recorded>> {
        Box::pin(async move {
            self.check()?;
            self.inner.append(points).await
        })
    }
}

type Commits<'a> = &'a [(&'a str, &'a [(&'a str, i32, i64)])];

/// One iteration's outcome: `ends` (topic, partition, end) and per group its
/// commits (topic, partition, committed); every group Stable except `empty`.
fn outcome(at_ms: i64, ends: &[(&str, i32, i64)], groups: Commits<'_>) -> FetchOutcome {
    let offsets: BTreeMap<TopicPartition, PartitionOffsets> =
        ends.iter().map(|&(t, p, end)| (TopicPartition::new(t, p), PartitionOffsets { start: 0, end })).collect();
    let mut topic_partitions = BTreeMap::new();
    for (t, p, _) in ends {
        let n: &mut i32 = topic_partitions.entry(Arc::from(*t)).or_default();
        *n = (*n).max(p + 1);
    }
    let groups: Vec<GroupCommits> = groups
        .iter()
        .map(|(g, commits)| GroupCommits {
            group: Arc::from(*g),
            committed: commits.iter().map(|&(t, p, c)| (TopicPartition::new(t, p), c)).collect(),
        })
        .collect();
    let members = groups
        .iter()
        .map(|g| {
            let state = if &*g.group == "empty" { "Empty" } else { "Stable" };
            (g.group.clone(), Members::from_group_state(state))
        })
        .collect();
    let matched: HashSet<Arc<str>> = groups.iter().map(|g| g.group.clone()).collect();
    let observation =
        ClusterObservation { cluster: Arc::from("c"), observed_at_ms: at_ms, groups, topic_partitions, offsets };
    let mut outcome = FetchOutcome::new(observation, Instant::now());
    outcome.groups = GroupsSeen { listed: matched.len(), matched, members, partial: None };
    outcome.owns_cluster_series = true;
    outcome
}

fn policy() -> TimeLagPolicy {
    TimeLagPolicy { enabled: true, rate_window_ms: 10_000, status: StatusPolicy { window_ms: 3_000 } }
}

fn compute(store: Arc<dyn HistoryStore>) -> Compute {
    let metrics = SelfMetrics::new().unwrap();
    Compute::new(Arc::from("c"), LabelOptions::default(), metrics, store, policy())
}

fn stage(store: Arc<dyn HistoryStore>) -> TimeLagStage {
    let metrics = SelfMetrics::new().unwrap();
    TimeLagStage::new(Arc::from("c"), store, policy(), LabelOptions::default(), metrics)
}

/// `name{labels}` → value of the batch's samples.
fn values(batch: &SeriesBatch) -> HashMap<String, f64> {
    batch.samples.iter().map(|s| (render(&s.key), s.value)).collect()
}

fn render(key: &SeriesKey) -> String {
    let labels: Vec<String> =
        key.labels().iter().filter(|(k, _)| &**k != "clustername").map(|(k, v)| format!("{k}={v}")).collect();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

/// 100 records/s on t/0 from 0 at t = 0, one observation per second.
fn end_at(slot: i64) -> i64 {
    slot * 100
}

#[tokio::test]
async fn time_lag_rates_and_status_come_out_next_to_offset_lag() {
    let mut c = compute(Flaky::new());
    // `slow` commits 50 records/s, `empty` stopped at 0 (no members).
    let at = |slot: i64| {
        outcome(slot * 1_000, &[("t", 0, end_at(slot))], &[("slow", &[("t", 0, slot * 50)]), ("empty", &[("t", 0, 0)])])
    };
    for slot in 0..5 {
        c.run(&at(slot)).await;
    }
    let last = c.run(&at(5)).await;
    let v = values(&last);
    // slow at 250 at t = 5 s: record 250 was written at 2.51 s.
    assert_eq!(v["kafka_consumer_group_lag_in_offsets{group=slow,partition=0,topic=t}"], 250.0);
    let seconds = v["kafka_consumer_group_lag_in_seconds{group=slow,partition=0,topic=t}"];
    assert!((seconds - 2.49).abs() < 1e-9, "{seconds}");
    assert_eq!(v["kafka_consumer_group_consume_records_per_second{group=slow,partition=0,topic=t}"], 50.0);
    assert_eq!(v["kafka_partition_produce_records_per_second{partition=0,topic=t}"], 100.0);
    // Lag rising while moving: WARN; no move with work waiting for 3 s and no members: STOP.
    assert_eq!(v["kafka_consumer_group_status{group=slow}"], 1.0);
    assert_eq!(v["kafka_consumer_group_status{group=empty}"], 4.0);
    // Record 0 was written in (0 s, 1 s]: 4.99 s old at 5 s.
    let empty = v["kafka_consumer_group_lag_in_seconds{group=empty,partition=0,topic=t}"];
    assert!((empty - 4.99).abs() < 1e-9, "{empty}");
    assert_eq!(v["kafka_consumer_group_partitions_without_time_lag{group=empty}"], 0.0);
    assert!(last.ended.is_empty(), "{:?}", last.ended);
}

#[tokio::test]
async fn exact_produce_times_replace_the_estimate_and_failures_are_counted() {
    let mut c = compute(Flaky::new());
    let groups: Commits<'_> =
        &[("exact", &[("t", 0, 250)]), ("estimated", &[("t", 0, 100)]), ("done", &[("t", 0, 500)])];
    for slot in 0..5 {
        c.run(&outcome(slot * 1_000, &[("t", 0, end_at(slot))], groups)).await;
    }
    let mut last = outcome(5_000, &[("t", 0, end_at(5))], groups);
    // Record 250 produced at 1.234 s; the read of 100 failed; `done` is caught up (not asked).
    last.record_times.read.insert(
        (TopicPartition::new("t", 0), 250),
        lagring_kafka::RecordTime { produce_ms: 1_234, exact: true, bound_ms: 0, lost_messages: 0 },
    );
    last.record_times.failed.insert((TopicPartition::new("t", 0), 100));
    let v = values(&c.run(&last).await);
    assert_eq!(v["kafka_consumer_group_lag_in_seconds{group=exact,partition=0,topic=t}"], 3.766);
    // The estimate from the end-offset history: record 100 was written at 1.01 s.
    let estimated = v["kafka_consumer_group_lag_in_seconds{group=estimated,partition=0,topic=t}"];
    assert!((estimated - 3.99).abs() < 1e-9, "{estimated}");
    assert_eq!(v["kafka_consumer_group_lag_in_seconds{group=done,partition=0,topic=t}"], 0.0);
    assert_eq!(c.metrics.exact_time_lag_fallbacks.with_label_values(&["c"]).get(), 1);
}

#[tokio::test]
async fn a_failing_store_skips_time_lag_without_failing_or_ending_anything() {
    let store = Flaky::new();
    let mut c = compute(store.clone());
    let run = |slot: i64| outcome(slot * 1_000, &[("t", 0, end_at(slot))], &[("g", &[("t", 0, slot * 100 - 30)])]);
    c.run(&run(1)).await;
    let ok = c.run(&run(2)).await;
    assert!(values(&ok).contains_key("kafka_consumer_group_lag_in_seconds{group=g,partition=0,topic=t}"));

    store.fail(true);
    let failed = c.run(&run(3)).await;
    let v = values(&failed);
    assert_eq!(v["kafka_consumer_group_lag_in_offsets{group=g,partition=0,topic=t}"], 30.0);
    let time_lag_family = ["lag_in_seconds", "status", "records_per_second", "time_lag"];
    assert!(v.keys().all(|k| time_lag_family.iter().all(|f| !k.contains(f))), "{v:?}");
    assert!(failed.ended.is_empty(), "no marker for a store failure: {:?}", failed.ended);
    assert_eq!(c.metrics.history_errors.with_label_values(&["c"]).get(), 1);

    store.fail(false);
    let back = c.run(&run(4)).await;
    let seconds = values(&back)["kafka_consumer_group_lag_in_seconds{group=g,partition=0,topic=t}"];
    assert!((seconds - 0.29).abs() < 1e-9, "{seconds}");
    assert!(back.ended.is_empty(), "{:?}", back.ended);
}

#[tokio::test]
async fn missing_time_lag_is_a_gap_an_eta_ends_and_a_deleted_group_ends_everything() {
    let mut c = compute(Flaky::new());
    // g catches up from 300 behind, consuming 150 records/s of 100 produced.
    c.run(&outcome(0, &[("t", 0, 300)], &[("g", &[("t", 0, 0)])])).await;
    c.run(&outcome(1_000, &[("t", 0, 400)], &[("g", &[("t", 0, 150)])])).await;
    let catching_up = c.run(&outcome(2_000, &[("t", 0, 500)], &[("g", &[("t", 0, 300)])])).await;
    assert_eq!(values(&catching_up)["kafka_consumer_group_catch_up_eta_seconds{group=g}"], 4.0);

    // Caught up: the ETA ends with a marker, nothing else does.
    let caught_up = c.run(&outcome(3_000, &[("t", 0, 600)], &[("g", &[("t", 0, 600)])])).await;
    let ended: Vec<String> = caught_up.ended.iter().map(render).collect();
    assert_eq!(ended, ["kafka_consumer_group_catch_up_eta_seconds{group=g}"]);

    // The topic is recreated: one end point, so no time lag; the series is kept.
    let reset = c.run(&outcome(4_000, &[("t", 0, 5)], &[("g", &[("t", 0, 0)])])).await;
    let v = values(&reset);
    assert!(!v.contains_key("kafka_consumer_group_lag_in_seconds{group=g,partition=0,topic=t}"), "{v:?}");
    assert_eq!(v["kafka_consumer_group_partitions_without_time_lag{group=g}"], 1.0);
    assert!(reset.ended.is_empty(), "{:?}", reset.ended);
    assert_eq!(c.metrics.history_resets.with_label_values(&["c", "end"]).get(), 1);
    assert_eq!(c.metrics.history_resets.with_label_values(&["c", "committed"]).get(), 1);

    // g is deleted: every series of it ends, time-lag ones included.
    let mut gone = outcome(5_000, &[("t", 0, 10)], &[]);
    gone.groups.matched.clear();
    let gone = c.run(&gone).await;
    let ended: HashSet<String> = gone.ended.iter().map(|k| k.name().to_owned()).collect();
    for name in [
        "kafka_consumer_group_lag_in_offsets",
        "kafka_consumer_group_status",
        "kafka_consumer_group_partitions_without_time_lag",
        "kafka_consumer_group_consume_records_per_second",
    ] {
        assert!(ended.contains(name), "{name} not ended: {ended:?}");
    }
}

#[tokio::test]
async fn unavailable_partitions_leave_the_aggregates_to_the_rest_and_end_nothing() {
    let mut c = compute(Flaky::new());
    let commits: Commits<'_> = &[("g", &[("t", 0, 90), ("t", 1, 80), ("u", 0, 40)])];
    let all = c.run(&outcome(0, &[("t", 0, 100), ("t", 1, 100), ("u", 0, 50)], commits)).await;
    let v = values(&all);
    assert_eq!(v["kafka_consumer_group_max_lag_in_offsets{group=g}"], 20.0);
    assert_eq!(v["kafka_consumer_group_partitions_unavailable{group=g}"], 0.0);

    // The leader of t/1 and u/0 does not answer: t/0 alone is measured.
    let mut partial = outcome(1_000, &[("t", 0, 110)], commits);
    partial.observation.topic_partitions.insert(Arc::from("t"), 2);
    partial.observation.topic_partitions.insert(Arc::from("u"), 1);
    for tp in [TopicPartition::new("t", 1), TopicPartition::new("u", 0)] {
        let error = lagring_kafka::KafkaError::MissingPartition {
            cluster: Arc::from("c"),
            api: "list offsets",
            partition: tp.clone(),
        };
        partial.failures.partitions.push((tp, error));
    }
    let batch = c.run(&partial).await;
    let v = values(&batch);
    for (name, want) in [
        ("kafka_consumer_group_max_lag_in_offsets{group=g}", 20.0),
        ("kafka_consumer_group_sum_lag_in_offsets{group=g}", 20.0),
        ("kafka_consumer_group_topic_max_lag_in_offsets{group=g,topic=t}", 20.0),
        ("kafka_consumer_group_topic_sum_lag_in_offsets{group=g,topic=t}", 20.0),
        ("kafka_consumer_group_partitions_unavailable{group=g}", 2.0),
    ] {
        assert_eq!(v.get(name), Some(&want), "{name}: {v:?}");
    }
    assert!(!v.contains_key("kafka_consumer_group_lag_in_offsets{group=g,partition=1,topic=t}"));
    assert!(!v.contains_key("kafka_consumer_group_topic_max_lag_in_offsets{group=g,topic=u}"), "nothing on u answered");
    let ended: Vec<String> = batch.ended.iter().map(render).collect();
    assert!(ended.is_empty(), "unavailable is not gone: {ended:?}");

    // u is deleted (gone from the metadata) while t/1 answers again: u's series end.
    let back = c.run(&outcome(2_000, &[("t", 0, 120), ("t", 1, 120)], commits)).await;
    let v = values(&back);
    assert_eq!(v["kafka_consumer_group_partitions_unavailable{group=g}"], 0.0);
    assert_eq!(v["kafka_consumer_group_sum_lag_in_offsets{group=g}"], 70.0);
    let ended: BTreeSet<String> = back.ended.iter().filter(|k| k.name().ends_with("in_offsets")).map(render).collect();
    let want: BTreeSet<String> = [
        "kafka_consumer_group_lag_in_offsets{group=g,partition=0,topic=u}",
        "kafka_consumer_group_topic_max_lag_in_offsets{group=g,topic=u}",
        "kafka_consumer_group_topic_sum_lag_in_offsets{group=g,topic=u}",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(ended, want);
}

#[tokio::test]
async fn an_eta_is_forgotten_when_its_group_moves_and_ends_when_its_group_is_deleted() {
    let mut c = compute(Flaky::new());
    // Both groups catch up from 300 behind, consuming 150 records/s of 100 produced.
    let both = |at_ms: i64, end: i64, committed: i64| {
        outcome(at_ms, &[("t", 0, end)], &[("moved", &[("t", 0, committed)]), ("deleted", &[("t", 0, committed)])])
    };
    c.run(&both(0, 300, 0)).await;
    c.run(&both(1_000, 400, 150)).await;
    let catching_up = c.run(&both(2_000, 500, 300)).await;
    let v = values(&catching_up);
    assert_eq!(v["kafka_consumer_group_catch_up_eta_seconds{group=moved}"], 4.0);
    assert_eq!(v["kafka_consumer_group_catch_up_eta_seconds{group=deleted}"], 4.0);

    // "moved" now belongs to another node (still listed by the cluster);
    // "deleted" is gone from the cluster.
    let mut next = outcome(3_000, &[("t", 0, 600)], &[]);
    next.groups.matched = [Arc::from("moved")].into_iter().collect();
    let next = c.run(&next).await;
    let ended: Vec<String> = next.ended.iter().map(render).collect();
    assert!(ended.iter().all(|k| !k.contains("group=moved")), "a moved group's series are not ended: {ended:?}");
    assert!(ended.contains(&"kafka_consumer_group_catch_up_eta_seconds{group=deleted}".to_owned()), "{ended:?}");
    assert!(ended.contains(&"kafka_consumer_group_status{group=deleted}".to_owned()), "{ended:?}");
    let mut sorted = next.ended.clone();
    sorted.sort();
    assert_eq!(next.ended, sorted, "ended keys come sorted");
}

#[tokio::test]
async fn one_end_offset_and_produce_rate_sample_per_partition_and_slot_across_nodes() {
    let shared: Arc<dyn HistoryStore> = Arc::new(MemoryHistoryStore::new(HistoryPolicies {
        end: HistoryPolicy::new(10, 60_000).unwrap(),
        committed: HistoryPolicy::COMMIT_DEFAULT,
    }));
    let (mut a, mut b) = (stage(shared.clone()), stage(shared));
    let mut emitted = Vec::new();
    for slot in 0..6 {
        // Both nodes fetched t/0 (their groups read it); who records first alternates.
        let o = outcome(slot * 1_000, &[("t", 0, end_at(slot) + slot)], &[("g", &[("t", 0, 0)])]);
        let lag = lagring_core::lag::compute(&o.observation);
        let (first, second) = if slot % 2 == 0 { (&mut a, &mut b) } else { (&mut b, &mut a) };
        let one = first.run(&o, &lag, &[]).await;
        let other = second.run(&o, &lag, &[]).await;
        assert!(other.produced.is_empty(), "slot {slot}: the second node emits no end offset or produce rate");
        assert!(one.complete && other.complete);
        emitted.push(one.produced.iter().map(|s| (s.key.name().to_owned(), s.value)).collect::<Vec<_>>());
    }
    // The end offset each slot; 101 records/s, whichever node computed it, none before two points.
    let end = |slot: i64| ("kafka_partition_end_offset".to_owned(), (end_at(slot) + slot) as f64);
    let rate = ("kafka_partition_produce_records_per_second".to_owned(), 101.0);
    let want: Vec<Vec<(String, f64)>> =
        (0..6).map(|slot| if slot == 0 { vec![end(0)] } else { vec![end(slot), rate.clone()] }).collect();
    assert_eq!(emitted, want);
}

#[test]
fn chunks_split_by_partitions() {
    let group = |name: &str, n: i32| {
        let o = outcome(
            0,
            &(0..n.max(1)).map(|p| ("t", p, 10)).collect::<Vec<_>>(),
            &[(name, &(0..n).map(|p| ("t", p, 1)).collect::<Vec<_>>())],
        );
        lagring_core::lag::compute(&o.observation).groups.remove(0)
    };
    let groups = vec![group("a", 3), group("e", 0), group("b", 3), group("c", 5), group("d", 1)];
    let got: Vec<Vec<&str>> = chunks(&groups, 6).map(|c| c.iter().map(|g| &*g.group).collect::<Vec<&str>>()).collect();
    assert_eq!(got, vec![vec!["a", "e", "b"], vec!["c", "d"]]);
}
