use proptest::prelude::*;

use super::*;

fn opts() -> AccountingOptions {
    AccountingOptions { window_ms: 60_000, reorder_window: 0, sla_ms: 1_000, zero_throughput_unavailable: true }
}

/// The log of one partition as the broker holds it: `(offset, payload)`.
type Log = Vec<(i64, ProbePayload)>;

/// Produces one record to `log` through `acc` at `now_ms`.
fn produce(acc: &mut ProbeAccounting, log: &mut Log, now_ms: i64) {
    let seq = acc.next_seq(0);
    log.push((log.len() as i64, ProbePayload { seq, produced_ms: now_ms }));
    acc.produced(0, seq, now_ms);
}

/// Consumes what `acc` has not read yet from `log`, `latency_ms` after each produce.
fn catch_up(acc: &mut ProbeAccounting, log: &Log, latency_ms: i64) {
    let from = acc.state().partitions.get(&0).and_then(|p| p.consume_offset).unwrap_or(0);
    for (offset, payload) in log.iter().filter(|(o, _)| *o >= from) {
        acc.consumed(0, *offset, *payload, payload.produced_ms + latency_ms);
    }
}

fn totals(acc: &ProbeAccounting) -> Totals {
    acc.state().partitions.get(&0).map(|p| p.totals.clone()).unwrap_or_default()
}

#[test]
fn steady_state_is_fully_available() {
    let mut acc = ProbeAccounting::new(opts());
    let mut log = Log::new();
    for t in 0..120 {
        produce(&mut acc, &mut log, t * 1_000);
        catch_up(&mut acc, &log, 5);
    }
    let now = 119_000;
    assert_eq!(acc.produce_availability(0, now), 1.0);
    assert_eq!(acc.consume_availability(0, now), 1.0);
    let t = totals(&acc);
    assert_eq!((t.produced, t.consumed, t.lost, t.duplicated, t.delayed), (120, 120, 0, 0, 0));
    assert_eq!(t.latency.cumulative().first(), Some(&(0.005, 120)));
}

#[test]
fn errors_losses_and_delays_lower_availability_by_the_formulas() {
    let mut acc = ProbeAccounting::new(opts());
    acc.ensure_partitions(1);
    for s in 0..6 {
        acc.produced(0, s, 1_000);
    }
    acc.produce_failed(0, 1_000);
    acc.produce_failed(0, 1_000);
    // Consumed 0, 1, 4 (2 and 3 lost), 5 late beyond the 1 s SLA.
    for (offset, seq, at) in [(0, 0, 1_010), (1, 1, 1_010), (2, 4, 1_010), (3, 5, 2_500)] {
        acc.consumed(0, offset, ProbePayload { seq, produced_ms: 1_000 }, at);
    }
    assert_eq!(acc.produce_availability(0, 3_000), 6.0 / 8.0);
    // (consumed 4 − delayed 1) / (consumed 4 + lost 2)
    assert_eq!(acc.consume_availability(0, 3_000), 3.0 / 6.0);
    let t = totals(&acc);
    assert_eq!((t.lost, t.delayed, t.produce_errors), (2, 1, 2));
    // A minute later the window is empty: unavailable by default, available if configured.
    assert_eq!(acc.produce_availability(0, 70_000), 0.0);
    let lenient = ProbeAccounting::resume(
        AccountingOptions { zero_throughput_unavailable: false, ..opts() },
        acc.state().clone(),
    );
    assert_eq!(lenient.consume_availability(0, 70_000), 1.0);
}

#[test]
fn injected_duplicates_are_counted_and_do_not_move_the_producer_back() {
    let mut acc = ProbeAccounting::new(opts());
    let mut log = Log::new();
    for t in 0..5 {
        produce(&mut acc, &mut log, t * 1_000);
    }
    let copy = log[2].1;
    log.push((5, copy));
    catch_up(&mut acc, &log, 5);
    assert_eq!(totals(&acc).duplicated, 1);
    assert_eq!(acc.next_seq(0), 5);
}

#[test]
fn a_new_owner_resuming_a_saved_state_counts_nothing_lost_or_duplicated() {
    let mut old = ProbeAccounting::new(opts());
    let mut log = Log::new();
    for t in 0..10 {
        produce(&mut old, &mut log, t * 1_000);
        catch_up(&mut old, &log, 5);
    }
    let saved = serde_json::to_string(old.state()).unwrap();
    // After the save the old owner produced three more records and died before reading them.
    for t in 10..13 {
        produce(&mut old, &mut log, t * 1_000);
    }
    let mut new = ProbeAccounting::resume(opts(), serde_json::from_str(&saved).unwrap());
    catch_up(&mut new, &log, 5);
    assert_eq!(new.next_seq(0), 13, "the dead owner's records are not sent again");
    for t in 13..20 {
        produce(&mut new, &mut log, t * 1_000);
        catch_up(&mut new, &log, 5);
    }
    let t = totals(&new);
    assert_eq!((t.produced, t.consumed, t.lost, t.duplicated), (17, 20, 0, 0));
    assert_eq!(new.consume_availability(0, 19_000), 1.0);
}

proptest! {
    /// Whatever the old owner saved last and however far it got, a new owner
    /// that reads up to the log end before producing counts nothing lost or
    /// duplicated, and every record in the log is consumed exactly once after
    /// the saved point.
    #[test]
    fn hand_over_at_any_point_counts_nothing(
        before in 0usize..50,
        consumed_at_save in 0usize..50,
        after_save in 0usize..20,
        after in 0usize..50,
    ) {
        let consumed_at_save = consumed_at_save.min(before);
        let mut old = ProbeAccounting::new(opts());
        let mut log = Log::new();
        for t in 0..before {
            produce(&mut old, &mut log, t as i64 * 1_000);
        }
        for (offset, payload) in log.iter().take(consumed_at_save) {
            old.consumed(0, *offset, *payload, payload.produced_ms + 1);
        }
        let saved = old.state().clone();
        catch_up(&mut old, &log, 1);
        for t in 0..after_save {
            produce(&mut old, &mut log, (before + t) as i64 * 1_000);
        }
        let mut new = ProbeAccounting::resume(opts(), saved);
        catch_up(&mut new, &log, 1);
        for t in 0..after {
            produce(&mut new, &mut log, (before + after_save + t) as i64 * 1_000);
        }
        catch_up(&mut new, &log, 1);
        let t = totals(&new);
        prop_assert_eq!((t.lost, t.duplicated), (0, 0));
        prop_assert_eq!(t.consumed, log.len() as u64);
        let seqs: Vec<u64> = log.iter().map(|(_, p)| p.seq).collect();
        prop_assert_eq!(seqs, (0..log.len() as u64).collect::<Vec<_>>());
    }
}
