use proptest::prelude::*;

use super::*;

fn run(seqs: &[u64], window: u64) -> (SequenceTracker, Vec<Arrival>, u64) {
    let mut t = SequenceTracker::default();
    let mut lost = 0;
    let arrivals = seqs
        .iter()
        .map(|s| {
            let o = t.observe(*s, window);
            lost += o.newly_lost;
            o.arrival
        })
        .collect();
    (t, arrivals, lost)
}

#[test]
fn in_order_counts_nothing() {
    let (t, arrivals, lost) = run(&[5, 6, 7], 0);
    assert_eq!(arrivals, [Arrival::First, Arrival::InOrder, Arrival::InOrder]);
    assert_eq!((lost, t.next_expected()), (0, Some(8)));
}

#[test]
fn a_gap_is_lost_at_once_without_a_window() {
    let (t, arrivals, lost) = run(&[0, 1, 4, 5], 0);
    assert_eq!(arrivals, [Arrival::First, Arrival::InOrder, Arrival::Ahead, Arrival::InOrder]);
    assert_eq!((lost, t.pending()), (2, 0));
}

#[test]
fn a_repeat_is_a_duplicate() {
    let (_, arrivals, lost) = run(&[0, 1, 1, 2, 0], 0);
    assert_eq!(arrivals[2], Arrival::Duplicate);
    assert_eq!(arrivals[4], Arrival::Duplicate);
    assert_eq!(lost, 0);
}

#[test]
fn a_late_record_within_the_window_is_reordered_not_lost() {
    let (t, arrivals, lost) = run(&[0, 2, 1, 3], 2);
    assert_eq!(arrivals, [Arrival::First, Arrival::Ahead, Arrival::Reordered, Arrival::InOrder]);
    assert_eq!((lost, t.pending()), (0, 0));
}

#[test]
fn a_missing_record_is_lost_once_it_falls_out_of_the_window() {
    let mut t = SequenceTracker::default();
    t.observe(0, 2);
    assert_eq!(t.observe(2, 2).newly_lost, 0);
    assert_eq!(t.observe(3, 2).newly_lost, 0);
    // 1 is now 3 behind the highest (4): out of a window of 2.
    assert_eq!(t.observe(4, 2).newly_lost, 1);
    assert_eq!(t.observe(1, 2).arrival, Arrival::Duplicate);
}

#[test]
fn a_huge_jump_keeps_the_pending_set_bounded() {
    let mut t = SequenceTracker::expecting(0);
    let top = u64::MAX - 1;
    let o = t.observe(top, 16);
    assert_eq!(o.arrival, Arrival::Ahead);
    assert_eq!(o.newly_lost, top - 16);
    assert_eq!(t.pending(), 16);
    assert_eq!(t.observe(top, 16).arrival, Arrival::Duplicate);
}

#[test]
fn a_resumed_tracker_continues_exactly() {
    let (t, _, _) = run(&[0, 1, 3], 4);
    let json = serde_json::to_string(&t).unwrap();
    let mut resumed: SequenceTracker = serde_json::from_str(&json).unwrap();
    assert_eq!(resumed.observe(2, 4).arrival, Arrival::Reordered);
    assert_eq!(resumed.observe(4, 4).arrival, Arrival::InOrder);
}

proptest! {
    /// Delivering a permutation of 0..n with each displacement within the
    /// window, plus duplicates of seen ones, counts exactly the duplicates
    /// and nothing lost; dropping k of them counts k lost once flushed past.
    #[test]
    fn exact_counts_for_drops_and_duplicates(
        n in 1u64..200,
        drops in proptest::collection::btree_set(1u64..200, 0..20),
        dups in proptest::collection::vec(0u64..200, 0..20),
        window in 0u64..8,
    ) {
        let mut t = SequenceTracker::expecting(0);
        let mut lost = 0;
        let mut dup_count = 0;
        let mut delivered = std::collections::BTreeSet::new();
        for s in 0..n {
            if drops.contains(&s) { continue; }
            lost += t.observe(s, window).newly_lost;
            delivered.insert(s);
            for d in dups.iter().filter(|d| **d == s) {
                let o = t.observe(*d, window);
                prop_assert_eq!(o.arrival, Arrival::Duplicate);
                lost += o.newly_lost;
                dup_count += 1;
            }
        }
        // Records past the window flush every pending gap.
        for s in n..n + window + 1 {
            lost += t.observe(s, window).newly_lost;
        }
        let dropped = drops.iter().filter(|d| **d < n).count() as u64;
        prop_assert_eq!(lost, dropped);
        prop_assert_eq!(dup_count, dups.iter().filter(|d| delivered.contains(d)).count());
        prop_assert!(t.pending() as u64 <= window);
    }

    /// Swapping neighbours (a displacement of one) never counts loss with a window ≥ 1.
    #[test]
    fn swaps_within_the_window_lose_nothing(n in 2u64..100, swaps in proptest::collection::vec(0u64..100, 0..10)) {
        let mut order: Vec<u64> = (0..n).collect();
        for s in swaps.iter().map(|s| (*s % (n - 1)) as usize).filter(|s| s % 2 == 0) {
            order.swap(s, s + 1);
        }
        let mut t = SequenceTracker::expecting(0);
        let mut lost = 0;
        for s in &order {
            let o = t.observe(*s, 1);
            prop_assert_ne!(o.arrival, Arrival::Duplicate);
            lost += o.newly_lost;
        }
        prop_assert_eq!(lost, 0);
    }
}
