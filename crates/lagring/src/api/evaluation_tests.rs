//! lagring's numbers turn into Burrow's objects: a group built from lag,
//! statuses and window starts equals the fixture's, and the building
//! blocks (window start, status names, bounds, topic offsets) hold their
//! rules.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;

use lagring_core::group_time::{GroupTimeLag, PartitionTimeLag};
use lagring_core::history::{HistoryPolicy, OffsetHistory, OffsetPoint};
use lagring_core::lag::{GroupLag, PartitionLag};
use lagring_core::model::{ClusterObservation, PartitionOffsets, TopicPartition};
use lagring_core::status::Status;
use lagring_core::time_lag::TimeLag;
use lagring_kafka::PartitionOwner;

use super::evaluation::{
    MAX_PUBLISHED_PARTITIONS, consumer_topics, evaluate_group, group_status, topic_offsets, window_start,
};
use super::model::{BurrowStatus, ConsumerOffset, TopicRecord};
use super::tests::{differences, fixture};

const NOW: i64 = 1_765_000_600_000;

fn partition(p: i32, committed: i64, end: i64) -> PartitionLag {
    PartitionLag {
        tp: TopicPartition::new("clicks", p),
        committed,
        offsets: PartitionOffsets { start: 0, end },
        lag: (end - committed).max(0),
        beyond_retention: false,
    }
}

fn group(partitions: Vec<PartitionLag>) -> GroupLag {
    let sum_lag = partitions.iter().map(|p| p.lag).sum();
    let max_lag = partitions.iter().map(|p| p.lag).max().unwrap_or(0);
    GroupLag {
        group: Arc::from("billing"),
        partitions,
        topics: Vec::new(),
        max_lag,
        sum_lag,
        partitions_without_commit: 0,
        partitions_without_offsets: 0,
        partitions_unavailable: 0,
    }
}

fn time(g: &GroupLag, statuses: &[Option<Status>]) -> GroupTimeLag {
    time_with_rates(g, statuses, &[])
}

/// `consume_per_s[i]` is partition i's consume rate (none past its end).
fn time_with_rates(g: &GroupLag, statuses: &[Option<Status>], consume_per_s: &[Option<f64>]) -> GroupTimeLag {
    let partitions = g
        .partitions
        .iter()
        .zip(statuses)
        .enumerate()
        .map(|(i, (p, s))| PartitionTimeLag {
            tp: p.tp.clone(),
            time_lag: TimeLag::NoData,
            consume_per_s: consume_per_s.get(i).copied().flatten(),
            status: *s,
        })
        .collect();
    GroupTimeLag {
        group: g.group.clone(),
        partitions,
        topics: Vec::new(),
        max_seconds: None,
        sum_seconds: None,
        extrapolated: 0,
        without_time_lag: 0,
        catch_up_eta_seconds: None,
        status: statuses.iter().flatten().max().copied(),
    }
}

fn point(offset: i64, at_ms: i64, lag: u64) -> Option<ConsumerOffset> {
    Some(ConsumerOffset { offset, timestamp: at_ms, observed_at: at_ms, lag: Some(lag) })
}

#[test]
fn a_group_with_a_stalled_partition_is_burrows_err_with_every_field_as_in_the_fixture() {
    let g = group(vec![partition(0, 4400, 4410), partition(1, 3500, 3987), partition(2, 4100, 4102)]);
    let t = time(&g, &[Some(Status::Ok), Some(Status::Stall), None]);
    let starts = [point(4300, NOW - 600_000, 90), point(3500, NOW - 600_000, 300), None];
    let status = evaluate_group("east", &g, Some(&t), &starts, &[], NOW);
    let got = serde_json::to_value(&status).unwrap();
    let diff = differences("$", &got, &fixture("consumer_lag")["status"]);
    assert!(diff.is_empty(), "{}\n{got}", diff.join("\n"));
    let detail = serde_json::to_value(consumer_topics(&status)).unwrap();
    let diff = differences("$", &detail, &fixture("consumer_detail")["topics"]);
    assert!(diff.is_empty(), "{}", diff.join("\n"));
}

#[test]
fn records_consumed_per_minute_are_the_consume_rate_times_60() {
    let g = group(vec![partition(0, 1, 2), partition(1, 1, 2), partition(2, 1, 2)]);
    let t = time_with_rates(&g, &[Some(Status::Ok); 3], &[Some(0.5), None, Some(0.0)]);
    let status = evaluate_group("east", &g, Some(&t), &[], &[], NOW);
    let got: Vec<Option<f64>> = status.partitions.iter().map(|p| p.records_consumed_per_minute).collect();
    assert_eq!(got, vec![Some(30.0), None, Some(0.0)]);
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["partitions"][0]["records_consumed_per_minute"], 30.0);
    assert!(json["partitions"][1]["records_consumed_per_minute"].is_null(), "null without a rate");
    let detail = consumer_topics(&status);
    let per_minute: Vec<Option<f64>> =
        detail["clicks"].iter().map(|p| p.as_ref().unwrap().records_consumed_per_minute).collect();
    assert_eq!(per_minute, got, "/consumer/{{group}} carries it too");
    let untimed = evaluate_group("east", &g, None, &[], &[], NOW);
    assert!(untimed.partitions.iter().all(|p| p.records_consumed_per_minute.is_none()), "time lag off");
}

#[test]
fn owners_are_the_members_the_describe_named_per_partition() {
    let g = group(vec![partition(0, 1, 2), partition(1, 1, 2), partition(2, 1, 2)]);
    let owner = |p, client: &str| PartitionOwner {
        tp: TopicPartition::new("clicks", p),
        host: Arc::from(format!("/10.0.0.{p}")),
        client_id: Arc::from(client),
    };
    let owners = [owner(0, "c-0"), owner(2, "c-1")];
    let status = evaluate_group("east", &g, None, &[], &owners, NOW);
    let got: Vec<(&str, &str)> = status.partitions.iter().map(|p| (&*p.owner, &*p.client_id)).collect();
    assert_eq!(got, vec![("/10.0.0.0", "c-0"), ("", ""), ("/10.0.0.2", "c-1")]);
}

#[test]
fn group_status_is_burrows_err_for_rewind_stall_and_stop() {
    let names: Vec<BurrowStatus> =
        [None, Some(Status::Ok), Some(Status::Warn), Some(Status::Rewind), Some(Status::Stall), Some(Status::Stop)]
            .map(group_status)
            .to_vec();
    use BurrowStatus::{Err, Ok, Warn};
    assert_eq!(names, vec![Ok, Ok, Warn, Err, Err, Err]);
}

#[test]
fn without_time_lag_a_group_is_ok_and_incomplete_and_unavailable_partitions_count_against_complete() {
    let mut g = group(vec![partition(0, 5, 9)]);
    g.partitions_unavailable = 1;
    let status = evaluate_group("east", &g, None, &[], &[], NOW);
    assert_eq!((status.status, status.complete, status.partition_count), (BurrowStatus::Ok, 0.0, 1));
    let t = time(&g, &[Some(Status::Warn)]);
    let status = evaluate_group("east", &g, Some(&t), &[], &[], NOW);
    assert_eq!((status.status, status.complete, status.totallag), (BurrowStatus::Warn, 0.5, 4));
    assert_eq!(status.partitions[0].start, None);
}

#[test]
fn a_huge_group_lists_a_bounded_number_of_partitions_but_counts_all() {
    let n = MAX_PUBLISHED_PARTITIONS + 5;
    let parts = (0..n).map(|p| partition(p as i32, 0, if p == n - 1 { 99 } else { 1 })).collect();
    let status = evaluate_group("east", &group(parts), None, &[], &[], NOW);
    assert_eq!((status.partitions.len(), status.partition_count), (MAX_PUBLISHED_PARTITIONS, n));
    assert_eq!(status.totallag, (n - 1) as u64 + 99);
    assert_eq!(status.maxlag.map(|m| m.partition), Some(n as i32 - 1), "maxlag over every partition");
}

#[test]
fn the_window_starts_at_the_committed_offset_in_force_then() {
    let policy = HistoryPolicy::new(100, 3_600_000).unwrap();
    let build = |points: &[(i64, i64)]| {
        let mut h = OffsetHistory::new();
        for &(o, at) in points {
            h.append(OffsetPoint::new(o, at), &policy);
        }
        h
    };
    let end = build(&[(100, 0), (200, 100_000), (300, 200_000)]);
    // A history older than the window: the point in force at its start, stamped with it.
    let committed = build(&[(50, 0), (150, 100_000), (250, 200_000)]);
    let start = window_start(&committed, Some(&end), 200_000, 150_000).unwrap();
    assert_eq!((start.offset, start.timestamp, start.lag), (50, 50_000, Some(100)), "end at 50 s is 150");
    // A younger history: its oldest point.
    let start = window_start(&committed, Some(&end), 200_000, 500_000).unwrap();
    assert_eq!((start.offset, start.timestamp, start.lag), (50, 0, Some(50)));
    // No end history then: lag unknown, never a guess.
    assert_eq!(window_start(&committed, None, 200_000, 10).unwrap().lag, None);
    assert_eq!(window_start(&OffsetHistory::new(), Some(&end), 200_000, 10), None);
}

#[test]
fn topic_offsets_leave_out_topics_with_a_missing_partition() {
    let tp = |t: &str, p| TopicPartition::new(t, p);
    let offsets = BTreeMap::from([
        (tp("a", 0), PartitionOffsets { start: 0, end: 7 }),
        (tp("a", 1), PartitionOffsets { start: 0, end: 9 }),
        (tp("b", 0), PartitionOffsets { start: 0, end: 3 }),
    ]);
    let obs = ClusterObservation {
        cluster: Arc::from("east"),
        observed_at_ms: NOW,
        groups: Vec::new(),
        topic_partitions: BTreeMap::from([(Arc::from("a"), 2), (Arc::from("b"), 2)]),
        offsets,
    };
    // Produce rates per second, sorted by partition; a-1 has none (one history point).
    let rates = [(tp("a", 0), Some(2.5)), (tp("a", 1), None), (tp("b", 0), Some(1.0))];
    let record = TopicRecord { offsets: vec![7, 9], per_minute: vec![Some(150.0), None] };
    assert_eq!(topic_offsets(&obs, &rates), vec![("a".to_owned(), record)]);
    let without = TopicRecord { offsets: vec![7, 9], per_minute: vec![None, None] };
    assert_eq!(topic_offsets(&obs, &[]), vec![("a".to_owned(), without)], "time lag off: no rates");
}
