//! The tracker under node wall clocks that disagree: two nodes whose slot
//! numbers are read off clocks `d` ms apart (an in-process offset), through a
//! planned move and a crash, with the bounds docs/operations.md ("Clocks")
//! states: a planned move never duplicates a stamp and misses
//! `⌈(d + f) / I⌉ − 1` slots once `d ≥ I − f`; a failover's first stamp is
//! `s + ⌈(lease_ttl + d) / I⌉`, a duplicate once `d ≤ −lease_ttl`.

use super::*;

/// Interval and fetch time (slot start to hand-over) of the skew runs, in ms.
const I_MS: i64 = 1_000;
const F_MS: i64 = 100;

/// One emission: node name, key, stamp (slot number).
type Emitted = (&'static str, String, u64);

/// Runs `a` (exact wall clock, crashes at true time `a_until`) and `b` (wall
/// clock `b_ahead_ms` ahead of `a`'s, live from true time `b_from`) over true
/// time `[from, to)`. Each node starts slot `k` when its wall clock reads
/// `k × I_MS`: it heartbeats, syncs and emits for `k`, and finishes the slot
/// (`finish_slot`) `F_MS` later. Returns every emission.
async fn skewed_run(b_ahead_ms: i64, b_from: i64, a_until: i64, candidates: &[String]) -> Vec<Emitted> {
    let (from, to) = (1_000_000, 1_030_000);
    let clock = Arc::new(ManualClock::new());
    let store = MemoryStore::with_clock(clock.clone());
    let mut nodes = [
        (Node::new("a", &clock), "a", 0, i64::MIN, a_until),
        (Node::new("b", &clock), "b", b_ahead_ms, b_from, i64::MAX),
    ];
    // (true ms, node index, slot, finish?) for every slot start and finish.
    let mut events: Vec<(i64, usize, u64, bool)> = Vec::new();
    for (i, (_, _, ahead, _, _)) in nodes.iter().enumerate() {
        let first = (from + ahead).div_euclid(I_MS) + 1;
        for k in first..(to + ahead).div_euclid(I_MS) {
            let start = k * I_MS - ahead;
            let slot = u64::try_from(k).unwrap();
            events.push((start, i, slot, false));
            events.push((start + F_MS, i, slot, true));
        }
    }
    events.sort();
    for (node, _, _, live_from, _) in &mut nodes {
        if *live_from <= from {
            node.heartbeat(&store).await;
        }
    }
    let mut now = from;
    let mut emitted = Vec::new();
    for (at, i, slot, finish) in events {
        clock.advance(Duration::from_millis(u64::try_from(at - now).unwrap()));
        now = at;
        let (node, name, _, live_from, live_until) = &mut nodes[i];
        if at < *live_from || at >= *live_until {
            continue;
        }
        if finish {
            node.tracker.finish_slot(&store, slot).await;
            continue;
        }
        node.heartbeat(&store).await;
        for key in node.sync(&store, candidates, slot).await.emit {
            emitted.push((*name, key, slot));
        }
    }
    emitted
}

/// For the keys both emitted: the stamps emitted twice, and the distinct
/// numbers of stamps missing between `a`'s last and `b`'s first.
fn duplicates_and_gaps(emitted: &[Emitted]) -> (usize, BTreeSet<i64>) {
    let stamps = |node: &str, key: &str| -> Vec<u64> {
        emitted.iter().filter(|(n, k, _)| *n == node && k == key).map(|(_, _, s)| *s).collect()
    };
    let keys: BTreeSet<&str> = emitted.iter().map(|(_, k, _)| k.as_str()).collect();
    let mut duplicates = 0;
    let mut gaps = BTreeSet::new();
    for key in keys {
        let (a, b) = (stamps("a", key), stamps("b", key));
        let (Some(a_last), Some(b_first)) = (a.iter().max(), b.iter().min()) else { continue };
        duplicates += b.iter().filter(|s| a.contains(s)).count();
        gaps.insert(i64::try_from(*b_first).unwrap() - i64::try_from(*a_last).unwrap() - 1);
    }
    (duplicates, gaps)
}

#[tokio::test]
async fn skewed_clocks_never_duplicate_a_planned_move_and_gap_it_only_beyond_interval_minus_fetch() {
    let candidates = keys(40);
    // b joins mid-run; a hands b's share over after its next slot.
    for (b_ahead, want_gap) in [(0, 0), (850, 0), (-1_500, 0), (-7_300, 0), (950, 1), (2_300, 2)] {
        let emitted = skewed_run(b_ahead, 1_010_500, i64::MAX, &candidates).await;
        let (duplicates, gaps) = duplicates_and_gaps(&emitted);
        assert_eq!((duplicates, gaps), (0, BTreeSet::from([want_gap])), "b ahead by {b_ahead} ms");
    }
}

#[tokio::test]
async fn skewed_clocks_shift_a_failover_and_duplicate_only_when_behind_by_the_lease_ttl() {
    let candidates = keys(40);
    let ttl_ms = i64::try_from(TTL.as_millis()).unwrap();
    // a crashes right after emitting a slot; b, live all along, takes its keys
    // over at its first slot start after a's leases expired (ttl after a's last claim).
    for (b_ahead, want_gap, want_duplicates) in
        [(0, ttl_ms / I_MS - 1, 0), (2_500, 12, 0), (-9_500, 0, 0), (-10_500, -1, 1)]
    {
        let emitted = skewed_run(b_ahead, 0, 1_012_050, &candidates).await;
        let (duplicates, gaps) = duplicates_and_gaps(&emitted);
        let moved = emitted.iter().filter(|(n, _, s)| *n == "a" && *s == 1_012).count();
        assert_eq!(
            (duplicates, gaps),
            (want_duplicates * moved, BTreeSet::from([want_gap])),
            "b ahead by {b_ahead} ms"
        );
    }
}
