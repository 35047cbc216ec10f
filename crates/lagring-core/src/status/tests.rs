use super::*;
use crate::history::{HistoryPolicy, OffsetPoint};

const T0: i64 = 1_700_000_000_000;
const INTERVAL: i64 = 30_000;

/// Observes `(committed, end)` once per 30 s slot, as the pipeline would, and
/// returns the status at every slot.
fn statuses(slots: &[(i64, i64)], members: Members) -> Vec<Status> {
    let mut committed_history = OffsetHistory::new();
    let mut end_history = OffsetHistory::new();
    let mut out = Vec::new();
    for (i, &(committed, end)) in slots.iter().enumerate() {
        let now_ms = T0 + i as i64 * INTERVAL;
        end_history.append(OffsetPoint::new(end, now_ms), &HistoryPolicy::END_DEFAULT);
        committed_history.append(OffsetPoint::new(committed, now_ms), &HistoryPolicy::COMMIT_DEFAULT);
        let input = StatusInput {
            committed,
            end,
            now_ms,
            committed_history: &committed_history,
            end_history: &end_history,
            members,
        };
        out.push(partition_status(&input, StatusPolicy::default()));
    }
    out
}

fn last(slots: &[(i64, i64)], members: Members) -> Status {
    *statuses(slots, members).last().unwrap()
}

/// Slots in a 10-minute window at 30 s.
const W_SLOTS: usize = 20;

#[test]
fn caught_up_consumer_is_ok() {
    let slots: Vec<(i64, i64)> = (0..60).map(|i| (i * 10, i * 10)).collect();
    assert!(statuses(&slots, Members::Active).iter().all(|&s| s == Status::Ok));
}

#[test]
fn one_message_a_minute_and_a_caught_up_consumer_is_ok() {
    // A message every other slot; the consumer commits it by the next slot,
    // so half the observations see lag 1 and its offset is constant between.
    let slots: Vec<(i64, i64)> = (0..120)
        .map(|i| {
            let end = i / 2 + 1;
            let committed = if i % 2 == 0 { end - 1 } else { end };
            (committed, end)
        })
        .collect();
    assert!(statuses(&slots, Members::Empty).iter().all(|&s| s == Status::Ok));
}

#[test]
fn a_message_after_a_long_quiet_hour_gets_a_full_window() {
    let mut slots: Vec<(i64, i64)> = (0..120).map(|_| (100, 100)).collect();
    slots.extend((0..W_SLOTS).map(|_| (100, 101)));
    let got = statuses(&slots, Members::Active);
    assert!(got.iter().all(|&s| s == Status::Ok), "{got:?}");
    slots.push((100, 101));
    assert_eq!(last(&slots, Members::Active), Status::Stall);
}

#[test]
fn no_progress_with_work_waiting_is_stall_or_stop_by_members() {
    // Consuming along, then stuck at 500 while production continues.
    let mut slots: Vec<(i64, i64)> = (0..50).map(|i| (i * 10, i * 10 + 5)).collect();
    slots.extend((50..50 + W_SLOTS as i64).map(|i| (500, i * 10 + 5)));
    // Stuck since slot 50 (t_move); still inside the window: lag rises
    // but the consumer moved within the window, so it warns first.
    assert_eq!(last(&slots, Members::Active), Status::Warn);
    slots.push((500, 1_000));
    assert_eq!(last(&slots, Members::Active), Status::Stall);
    assert_eq!(last(&slots, Members::Unknown), Status::Stall);
    assert_eq!(last(&slots, Members::Empty), Status::Stop);
}

#[test]
fn behind_on_an_idle_topic_without_progress_is_stall() {
    let slots: Vec<(i64, i64)> = (0..W_SLOTS as i64 + 1).map(|_| (150, 200)).collect();
    let got = statuses(&slots, Members::Active);
    assert!(got[..W_SLOTS].iter().all(|&s| s == Status::Ok), "{got:?}");
    assert_eq!(got[W_SLOTS], Status::Stall);
}

#[test]
fn committed_going_down_is_rewind_until_it_recovers() {
    let mut slots: Vec<(i64, i64)> = (0..30).map(|i| (i * 100, i * 100)).collect();
    // Reset to 0 at slot 30, then consuming 1,000 per slot toward 3,000.
    slots.extend((0..3).map(|i| (i * 1_000, 3_000)));
    let got = statuses(&slots, Members::Active);
    assert_eq!(got[30..], [Status::Rewind, Status::Rewind, Status::Rewind]);
    slots.push((2_900, 3_000)); // back at the offset it went down from
    assert_eq!(last(&slots, Members::Active), Status::Ok);
}

#[test]
fn moving_but_falling_behind_is_warn() {
    let slots: Vec<(i64, i64)> = (0..30).map(|i| (i * 5, i * 10 + 1)).collect();
    let got = statuses(&slots, Members::Active);
    // Not before the committed history covers a whole window.
    assert!(got[..W_SLOTS].iter().all(|&s| s == Status::Ok), "{got:?}");
    assert!(got[W_SLOTS..].iter().all(|&s| s == Status::Warn), "{got:?}");
}

#[test]
fn moving_with_steady_or_falling_lag_is_ok() {
    let steady: Vec<(i64, i64)> = (0..30).map(|i| (i * 10, i * 10 + 50)).collect();
    assert_eq!(last(&steady, Members::Active), Status::Ok);
    let wobbly: Vec<(i64, i64)> = (0..30).map(|i| (i * 10 - (i % 3) * 4, i * 10 + 50)).collect();
    assert_eq!(last(&wobbly, Members::Active), Status::Ok);
}

#[test]
fn warn_sees_a_flat_run_across_the_window_start() {
    // Committed constant at 100 until slot 25 while the producer is idle
    // until slot 20 and then runs away; the consumer moves slowly from slot
    // 26. At slot 36 the window starts at slot 16, inside the committed flat
    // run, where the lag was still 0: OK, although every kept point inside
    // the window has a rising lag.
    let end = |i: i64| 100 + (i - 20).max(0) * 10;
    let mut slots: Vec<(i64, i64)> = (0..26).map(|i| (100, end(i))).collect();
    slots.extend((26..37).map(|i| (100 + i - 25, end(i))));
    assert_eq!(last(&slots, Members::Active), Status::Ok);
    // Six slots later the lag-0 stretch (up to slot 20) has left the window.
    slots.extend((37..43).map(|i| (100 + i - 25, end(i))));
    assert_eq!(last(&slots, Members::Active), Status::Warn);
}

#[test]
fn group_is_its_worst_partition_and_codes_are_pinned() {
    assert_eq!(group_status([Status::Ok, Status::Stall, Status::Warn]), Some(Status::Stall));
    assert_eq!(group_status([Status::Rewind, Status::Stop]), Some(Status::Stop));
    assert_eq!(group_status([]), None);
    let all = [Status::Ok, Status::Warn, Status::Rewind, Status::Stall, Status::Stop];
    let codes: Vec<(u8, &str)> = all.iter().map(|s| (s.code(), s.as_str())).collect();
    assert_eq!(codes, [(0, "OK"), (1, "WARN"), (2, "REWIND"), (3, "STALL"), (4, "STOP")]);
}

#[test]
fn members_from_group_state() {
    assert_eq!(Members::from_group_state("Empty"), Members::Empty);
    assert_eq!(Members::from_group_state("Stable"), Members::Active);
    assert_eq!(Members::from_group_state("CompletingRebalance"), Members::Active);
    assert_eq!(Members::from_group_state("Dead"), Members::Unknown);
    assert_eq!(Members::from_group_state("Unknown"), Members::Unknown);
}
