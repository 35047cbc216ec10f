use std::sync::Arc;
use std::time::Duration;

use lagring_core::metric_names::{GROUP_MAX_LAG_OFFSETS, GROUP_SUM_LAG_OFFSETS, PARTITION_LAG_OFFSETS};
use lagring_core::series::{Sample, SeriesBatch, SeriesKey};

use super::*;

const S: i64 = 1000;

fn timing() -> GateTiming {
    GateTiming { changed_every: Duration::from_secs(30), unchanged_every: Duration::from_secs(60) }
}

fn key(name: &str, group: &str, partition: Option<&str>) -> SeriesKey {
    let mut labels = vec![(Arc::from("cluster"), Arc::from("c")), (Arc::from("group"), Arc::from(group))];
    if let Some(p) = partition {
        labels.push((Arc::from("topic"), Arc::from("t")));
        labels.push((Arc::from("partition"), Arc::from(p)));
    }
    SeriesKey::new(name, labels)
}

fn total(group: &str) -> SeriesKey {
    key(GROUP_SUM_LAG_OFFSETS, group, None)
}

fn part(group: &str, p: &str) -> SeriesKey {
    key(PARTITION_LAG_OFFSETS, group, Some(p))
}

fn batch(ts: i64, samples: &[(SeriesKey, f64)], ended: &[SeriesKey]) -> SeriesBatch {
    SeriesBatch {
        cluster: Arc::from("c"),
        timestamp_ms: ts,
        samples: samples.iter().map(|(k, v)| Sample { key: k.clone(), value: *v }).collect(),
        ended: ended.to_vec(),
        push_only: Default::default(),
    }
}

/// (metric, partition, value, seconds) of each record, for short asserts.
fn sent(gated: &Gated) -> Vec<(String, Option<String>, f64, i64)> {
    gated
        .records
        .iter()
        .map(|r| (r.key.name().to_owned(), r.key.label("partition").map(str::to_owned), r.value, r.timestamp_ms / S))
        .collect()
}

fn all(_: &SeriesKey) -> bool {
    true
}

#[test]
fn a_changing_series_is_sent_every_30s_an_unchanged_one_every_60s() {
    let mut gate = Gate::new(timing());
    let mut changing = Vec::new();
    let mut steady = Vec::new();
    for step in 0..=12 {
        let ts = step * 10 * S;
        let b = batch(ts, &[(total("moving"), 100.0 + step as f64), (total("still"), 7.0)], &[]);
        let gated = gate.observe(&b, all);
        assert_eq!(gated.considered, 2);
        for (_, _, value, secs) in sent(&gated) {
            if value == 7.0 {
                steady.push(secs);
            } else {
                changing.push((secs, value));
            }
        }
    }
    assert_eq!(changing, vec![(0, 100.0), (30, 103.0), (60, 106.0), (90, 109.0), (120, 112.0)]);
    assert_eq!(steady, vec![0, 60, 120]);
}

#[test]
fn a_value_that_changes_after_an_unchanged_stretch_waits_only_30s() {
    let mut gate = Gate::new(timing());
    let secs: Vec<i64> = [(0, 5.0), (10, 5.0), (40, 5.0), (50, 6.0)]
        .iter()
        .flat_map(|(t, v)| sent(&gate.observe(&batch(t * S, &[(total("g"), *v)], &[]), all)))
        .map(|(_, _, _, s)| s)
        .collect();
    assert_eq!(secs, vec![0, 50]);
}

#[test]
fn partition_series_are_bracketed_by_zeros_while_the_group_lags() {
    let mut gate = Gate::new(timing());
    let idle = |ts| batch(ts, &[(total("g"), 0.0), (part("g", "0"), 0.0)], &[]);
    let lagging = |ts, lag| batch(ts, &[(total("g"), lag), (part("g", "0"), lag)], &[]);
    assert_eq!(sent(&gate.observe(&idle(0), all)), vec![(GROUP_SUM_LAG_OFFSETS.into(), None, 0.0, 0)]);
    // The group series changed only 10 s after it was sent and waits; the
    // partition starts with a 0 at the previous batch's instant.
    assert_eq!(
        sent(&gate.observe(&lagging(10 * S, 4.0), all)),
        vec![
            (PARTITION_LAG_OFFSETS.into(), Some("0".into()), 0.0, 0),
            (PARTITION_LAG_OFFSETS.into(), Some("0".into()), 4.0, 10),
        ]
    );
    // Lag gone: the partition ends at once with a 0.
    assert_eq!(
        sent(&gate.observe(&idle(20 * S), all)),
        vec![(PARTITION_LAG_OFFSETS.into(), Some("0".into()), 0.0, 20)]
    );
    // The group series is back at the 0 it last sent: unchanged, re-sent after 60 s.
    assert_eq!(sent(&gate.observe(&idle(30 * S), all)), vec![]);
    assert_eq!(sent(&gate.observe(&idle(60 * S), all)), vec![(GROUP_SUM_LAG_OFFSETS.into(), None, 0.0, 60)]);
    assert_eq!(gate.tracked(), 1);
}

#[test]
fn an_ended_series_gets_a_final_zero_once() {
    let mut gate = Gate::new(timing());
    let max = key(GROUP_MAX_LAG_OFFSETS, "g", None);
    gate.observe(&batch(0, &[(total("g"), 3.0), (max.clone(), 3.0)], &[]), all);
    let gated = gate.observe(&batch(10 * S, &[], &[total("g"), max.clone()]), all);
    assert_eq!(gated.considered, 2);
    assert_eq!(
        sent(&gated),
        vec![(GROUP_SUM_LAG_OFFSETS.into(), None, 0.0, 10), (GROUP_MAX_LAG_OFFSETS.into(), None, 0.0, 10)]
    );
    assert_eq!(gate.tracked(), 0);
    assert_eq!(gate.observe(&batch(20 * S, &[], &[total("g")]), all), Gated::default());
}

#[test]
fn a_group_that_moved_away_is_forgotten_without_a_zero_and_continued_without_one() {
    let mut gate = Gate::new(timing());
    let lagging = |ts, group: &str| batch(ts, &[(total(group), 9.0), (part(group, "1"), 9.0)], &[]);
    gate.observe(&lagging(0, "g"), all);
    // g moved to a peer: this batch has only h, and nothing is sent for g.
    let moved = gate.observe(&lagging(10 * S, "h"), all);
    assert!(moved.records.iter().all(|r| r.key.label("group") == Some("h")), "{moved:?}");
    assert_eq!(moved.records.len(), 2, "h is new here: no start zero");
    assert_eq!(gate.tracked(), 2);
    // g comes back (moved in again): it continues at its value, no start zero.
    let back = gate.observe(&batch(20 * S, &[(total("g"), 9.0), (part("g", "1"), 9.0)], &[]), all);
    assert_eq!(
        sent(&back),
        vec![(GROUP_SUM_LAG_OFFSETS.into(), None, 9.0, 20), (PARTITION_LAG_OFFSETS.into(), Some("1".into()), 9.0, 20)]
    );
}

#[test]
fn series_the_sink_does_not_map_are_neither_considered_nor_sent() {
    let mut gate = Gate::new(timing());
    let only_totals = |k: &SeriesKey| k.name() == GROUP_SUM_LAG_OFFSETS;
    let gated = gate.observe(&batch(0, &[(total("g"), 2.0), (part("g", "0"), 2.0)], &[]), only_totals);
    assert_eq!(gated.considered, 1);
    assert_eq!(sent(&gated), vec![(GROUP_SUM_LAG_OFFSETS.into(), None, 2.0, 0)]);
}

#[test]
fn clusters_are_gated_independently() {
    let mut gate = Gate::new(timing());
    let mut other = batch(0, &[(total("g"), 1.0)], &[]);
    other.cluster = Arc::from("d");
    assert_eq!(gate.observe(&batch(0, &[(total("g"), 1.0)], &[]), all).records.len(), 1);
    assert_eq!(gate.observe(&other, all).records.len(), 1);
    // Cluster d's batch does not make g of cluster c look moved away.
    assert_eq!(gate.tracked(), 2);
}

#[test]
fn push_only_values_are_gated_and_ended_like_series() {
    let committed = key(lagring_core::metric_names::PUSH_COMMITTED_OFFSET, "g", Some("0"));
    let with_push = |mut b: SeriesBatch, push: &[(SeriesKey, f64)], ended: &[SeriesKey]| {
        b.push_only.samples = push.iter().map(|(k, v)| Sample { key: k.clone(), value: *v }).collect();
        b.push_only.ended = ended.to_vec();
        b
    };
    let mut gate = Gate::new(timing());
    let lagging = [(total("g"), 5.0), (part("g", "0"), 5.0)];
    let first = gate.observe(&with_push(batch(0, &lagging, &[]), &[(committed.clone(), 95.0)], &[]), all);
    assert_eq!(first.considered, 3);
    let name = |k: &SeriesKey| k.name().to_owned();
    let p0 = Some("0".to_owned());
    assert_eq!(sent(&first)[2], (name(&committed), p0.clone(), 95.0, 0));
    // The group is deleted while lagging: the push-only value ends with a 0 like the rest.
    let gone = with_push(batch(10 * S, &[], &[total("g"), part("g", "0")]), &[], std::slice::from_ref(&committed));
    let last = gate.observe(&gone, all);
    assert_eq!(
        sent(&last),
        vec![
            (GROUP_SUM_LAG_OFFSETS.to_owned(), None, 0.0, 10),
            (PARTITION_LAG_OFFSETS.to_owned(), p0.clone(), 0.0, 10),
            (name(&committed), p0, 0.0, 10),
        ]
    );
    assert_eq!(gate.tracked(), 0);
}
