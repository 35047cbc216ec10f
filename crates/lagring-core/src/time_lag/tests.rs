use proptest::prelude::*;

use super::*;
use crate::history::HistoryPolicy;

const T0: i64 = 1_700_000_000_000;

fn history(points: &[(i64, i64)]) -> OffsetHistory {
    let wide = HistoryPolicy::new(100_000, i64::MAX / 4).unwrap();
    let mut h = OffsetHistory::new();
    for &(offset, at_ms) in points {
        h.append(OffsetPoint::new(offset, at_ms), &wide);
    }
    h
}

fn secs(lag: TimeLag) -> f64 {
    lag.seconds().unwrap()
}

#[test]
fn caught_up_is_zero_whatever_the_history() {
    let h = history(&[(100, 0), (200, 10_000)]);
    assert_eq!(estimate(200, 200, 10_000, &h), TimeLag::CaughtUp);
    assert_eq!(estimate(250, 200, 10_000, &h), TimeLag::CaughtUp);
    assert_eq!(estimate(5, 5, 10_000, &OffsetHistory::new()), TimeLag::CaughtUp);
    assert_eq!(TimeLag::CaughtUp.seconds(), Some(0.0));
}

#[test]
fn interpolates_the_time_the_end_passed_the_committed_offset() {
    let h = history(&[(100, 0), (200, 10_000)]);
    // Record 149 is the 50th of 100 written in (0, 10 s]: at 5 s.
    assert_eq!(estimate(149, 200, 10_000, &h), TimeLag::Interpolated(5.0));
    // The first record after the older point: one record's time after it.
    assert_eq!(estimate(100, 200, 10_000, &h), TimeLag::Interpolated(9.9));
    // The last record before the newer point: written at that point.
    assert_eq!(estimate(199, 200, 10_000, &h), TimeLag::Interpolated(0.0));
}

#[test]
fn idle_producer_and_lagging_consumer_grows_with_wall_time() {
    let mut h = history(&[(50, 0), (100, 60_000), (100, 120_000)]);
    // Record 90 was written at 60 s · 41/50 = 49.2 s, before the idle stretch.
    assert_eq!(estimate(90, 100, 120_000, &h), TimeLag::Interpolated(70.8));
    h.append(OffsetPoint::new(100, 180_000), &HistoryPolicy::END_DEFAULT);
    assert_eq!(estimate(90, 100, 180_000, &h), TimeLag::Interpolated(130.8));
    // Caught up on the idle partition: 0 however long it idles.
    assert_eq!(estimate(100, 100, 180_000, &h), TimeLag::CaughtUp);
}

#[test]
fn commit_older_than_the_history_is_extrapolated_at_the_oldest_rate() {
    let h = history(&[(1_000, 60_000), (1_100, 120_000)]);
    // 100 records per minute; record 899 is 100 records before record 999 (at 60 s).
    let lag = estimate(899, 1_100, 120_000, &h);
    assert_eq!(lag, TimeLag::Extrapolated(120.0));
    assert!(lag.is_extrapolated());
    // The record just before the oldest point: at most that old.
    assert_eq!(estimate(999, 1_100, 120_000, &h), TimeLag::Extrapolated(60.0));
    // The oldest span includes a leading idle stretch: 100 records in 120 s.
    let h = history(&[(1_000, 0), (1_000, 60_000), (1_100, 120_000)]);
    assert_eq!(estimate(899, 1_100, 120_000, &h), TimeLag::Extrapolated(240.0));
}

#[test]
fn no_production_in_the_history_extrapolates_to_its_age() {
    let h = history(&[(100, 0), (100, 600_000)]);
    assert_eq!(estimate(50, 100, 600_000, &h), TimeLag::Extrapolated(600.0));
}

#[test]
fn one_point_is_no_data() {
    let h = history(&[(100, 0)]);
    assert_eq!(estimate(50, 100, 0, &h), TimeLag::NoData);
    assert_eq!(estimate(50, 100, 5_000, &OffsetHistory::new()), TimeLag::NoData);
    assert_eq!(TimeLag::NoData.seconds(), None);
}

#[test]
fn current_observation_counts_when_newer_than_the_history() {
    let h = history(&[(100, 0)]);
    // (200, 10 s) was not appended: record 150 is 51/100 into (0, 10 s].
    assert_eq!(estimate(150, 200, 10_000, &h), TimeLag::Interpolated(4.9));
    // Another node wrote this slot with an older end: record 250 was written
    // within the slot, so its lag is 0, never negative.
    let h = history(&[(100, 0), (200, 10_000)]);
    assert_eq!(estimate(250, 300, 10_000, &h), TimeLag::Interpolated(0.0));
}

#[test]
fn history_newer_than_now_never_gives_negative_seconds() {
    let h = history(&[(100, 0), (200, 20_000)]);
    assert_eq!(estimate(150, 200, 10_000, &h), TimeLag::Interpolated(0.0));
}

/// A production schedule: segments of (duration ms, records written evenly).
fn schedule() -> impl Strategy<Value = (i64, Vec<(i64, i64)>)> {
    (0i64..1_000_000, proptest::collection::vec((1i64..200_000, prop_oneof![Just(0i64), 1i64..5_000]), 1..25))
}

/// `(offset, at_ms)` pairs.
type Points = Vec<(i64, i64)>;

/// Knots `(offset, at_ms)` of a schedule, plus the exact midpoint of every
/// segment whose midpoint falls on a whole record and millisecond.
fn sample(start: i64, segments: &[(i64, i64)]) -> (Points, Points) {
    let mut knots = vec![(start, T0)];
    let mut samples = vec![(start, T0)];
    for &(duration, records) in segments {
        let &(offset, at) = knots.last().unwrap();
        if duration % 2 == 0 && records % 2 == 0 {
            samples.push((offset + records / 2, at + duration / 2));
        }
        knots.push((offset + records, at + duration));
        samples.push((offset + records, at + duration));
    }
    (knots, samples)
}

/// When the end offset reached `c + 1` under the schedule.
fn true_produce_ms(knots: &[(i64, i64)], c: i64) -> f64 {
    let k = knots.windows(2).find(|w| w[1].0 > c).unwrap();
    let ((o0, t0), (o1, t1)) = (k[0], k[1]);
    t0 as f64 + (t1 - t0) as f64 * (c + 1 - o0) as f64 / (o1 - o0) as f64
}

proptest! {
    #[test]
    fn exact_on_piecewise_linear_production(
        (start, segments) in schedule(),
        picks in proptest::collection::vec(0.0f64..1.0, 1..20),
        wait in 0i64..100_000,
    ) {
        let (knots, samples) = sample(start, &segments);
        let h = history(&samples);
        let &(end, last_at) = knots.last().unwrap();
        prop_assume!(end > start);
        let now = last_at + wait;
        for pick in picks {
            let c = start + ((end - start) as f64 * pick) as i64;
            let got = estimate(c, end, now, &h);
            let want = (now as f64 - true_produce_ms(&knots, c)) / 1000.0;
            prop_assert!(matches!(got, TimeLag::Interpolated(_)), "{got:?}");
            prop_assert!((secs(got) - want).abs() <= 0.001, "c={c}: got {got:?}, want {want}");
        }
    }

    #[test]
    fn monotone_zero_at_end_never_negative(
        steps in proptest::collection::vec((0i64..500, 1i64..60_000), 0..30),
        extra_end in 0i64..500,
        wait in 0i64..60_000,
        c1 in -100i64..20_000,
        c2 in -100i64..20_000,
    ) {
        let mut points = Vec::new();
        let (mut offset, mut at) = (1_000i64, T0);
        for (d_offset, d_at) in steps {
            offset += d_offset;
            at += d_at;
            points.push((offset, at));
        }
        let h = history(&points);
        let end = offset + extra_end;
        let now = at + wait;
        prop_assert_eq!(estimate(end, end, now, &h).seconds(), Some(0.0));
        let (lo, hi) = (c1.min(c2), c1.max(c2));
        let (a, b) = (estimate(lo, end, now, &h), estimate(hi, end, now, &h));
        for s in [a.seconds(), b.seconds()].into_iter().flatten() {
            prop_assert!(s.is_finite() && s >= 0.0, "{a:?} {b:?}");
        }
        if let (Some(a_secs), Some(b_secs)) = (a.seconds(), b.seconds()) {
            prop_assert!(a_secs >= b_secs, "c {lo}: {a:?} < c {hi}: {b:?}");
        }
        // Data for an offset still behind means data for every offset below it.
        if matches!(b, TimeLag::Interpolated(_) | TimeLag::Extrapolated(_)) {
            prop_assert!(a.seconds().is_some(), "c {lo}: {a:?}, c {hi}: {b:?}");
        }
    }
}
