use super::*;

fn key(name: &str, labels: &[(&str, &str)]) -> SeriesKey {
    SeriesKey::new(name, labels.iter().map(|(k, v)| (Arc::from(*k), Arc::from(*v))).collect())
}

#[test]
fn labels_are_sorted_and_deduplicated() {
    let k = key("m", &[("topic", "t"), ("group", "g"), ("topic", "u")]);
    let names: Vec<&str> = k.labels().iter().map(|(n, _)| &**n).collect();
    assert_eq!(names, vec!["group", "topic"]);
    assert_eq!(k.label("topic"), Some("u"));
    assert_eq!(k, key("m", &[("group", "g"), ("topic", "u")]));
}

#[test]
fn stale_marker_is_the_prometheus_bit_pattern() {
    assert!(is_stale_marker(stale_nan()));
    assert!(!is_stale_marker(f64::NAN));
    assert_eq!(stale_nan().to_bits(), 0x7ff0_0000_0000_0002);
}

#[test]
fn tracker_reports_ended_series_once_and_forgets_moved_ones() {
    let a = Sample { key: key("m", &[("group", "a")]), value: 1.0 };
    let b = Sample { key: key("m", &[("group", "b")]), value: 2.0 };
    let c = Sample { key: key("m", &[("group", "c")]), value: 3.0 };
    let mut t = StalenessTracker::default();
    assert!(t.observe(&[a.clone(), b.clone(), c.clone()]).is_empty());
    t.forget(|k| k.label("group") == Some("c"));
    assert_eq!(t.observe(std::slice::from_ref(&a)), vec![b.key.clone()]);
    assert!(t.observe(std::slice::from_ref(&a)).is_empty());
    // b comes back, then is missing while its data is unavailable: kept.
    assert!(t.observe(&[a.clone(), b.clone()]).is_empty());
    assert!(t.observe_keeping(std::slice::from_ref(&a), |k| k.label("group") == Some("b")).is_empty());
    assert_eq!(t.len(), 2);
    assert_eq!(t.observe(&[a]), vec![b.key]);
}

#[test]
fn tracker_counts_repeated_keys_once() {
    let a = Sample { key: key("m", &[("group", "a")]), value: 1.0 };
    let b = Sample { key: key("m", &[("group", "b")]), value: 2.0 };
    let mut t = StalenessTracker::default();
    assert!(t.observe(&[a.clone(), b.clone()]).is_empty());
    // a twice is still one series: b ended.
    assert_eq!(t.observe(&[a.clone(), a.clone()]), vec![b.key.clone()]);
    assert_eq!(t.len(), 1);
    assert!(t.observe(&[a]).is_empty());
}

#[test]
fn tracker_buckets_by_group_without_changing_what_ends() {
    let s = |name: &str, group: Option<&str>| {
        let labels: Vec<(&str, &str)> = group.map(|g| ("group", g)).into_iter().collect();
        Sample { key: key(name, &labels), value: 0.0 }
    };
    let (a, b, c, u) = (s("a", Some("g1")), s("b", Some("g1")), s("c", Some("g2")), s("u", None));
    let mut t = StalenessTracker::default();
    assert!(t.observe(&[a.clone(), c.clone(), b.clone(), u.clone()]).is_empty());
    assert_eq!(t.len(), 4);
    // Another order is the same set; g2 went missing.
    assert_eq!(t.observe(&[u.clone(), b.clone(), a.clone()]), vec![c.key.clone()]);
    t.forget_groups(|g| g == Some("g1"));
    assert_eq!(t.len(), 1);
    assert!(t.observe(std::slice::from_ref(&u)).is_empty());
    assert_eq!(t.observe(&[]), vec![u.key]);
    assert!(t.is_empty());
}

/// The tracker as a plain set, for the property below.
#[derive(Default)]
struct Reference(std::collections::BTreeSet<SeriesKey>);

impl Reference {
    fn observe_keeping(&mut self, current: &[Sample], keep: impl Fn(&SeriesKey) -> bool) -> Vec<SeriesKey> {
        let now: std::collections::BTreeSet<SeriesKey> = current.iter().map(|s| s.key.clone()).collect();
        let (kept, ended): (Vec<SeriesKey>, Vec<SeriesKey>) =
            self.0.iter().filter(|k| !now.contains(*k)).cloned().partition(|k| keep(k));
        self.0 = now.into_iter().chain(kept).collect();
        ended
    }
}

proptest::proptest! {
    #[test]
    fn tracker_matches_a_plain_set(
        steps in proptest::collection::vec(
            (proptest::collection::vec(0usize..12, 0..16), 0u16..4096, proptest::bool::ANY),
            1..12,
        )
    ) {
        // 12 series over 3 groups and no group; `keep` and `forget` pick by bit.
        let universe: Vec<Sample> = (0..12)
            .map(|i| {
                let group = ["g0", "g1", "g2"].get(i % 4).copied();
                let labels: Vec<(&str, &str)> = group.map(|g| ("group", g)).into_iter().collect();
                Sample { key: key(&format!("m{i}"), &labels), value: 0.0 }
            })
            .collect();
        let index = |k: &SeriesKey| universe.iter().position(|s| s.key == *k).unwrap();
        let mut tracker = StalenessTracker::default();
        let mut reference = Reference::default();
        for (picks, keep_bits, forget_g1) in steps {
            if forget_g1 {
                tracker.forget_groups(|g| g == Some("g1"));
                reference.0.retain(|k| k.label("group") != Some("g1"));
            }
            let current: Vec<Sample> = picks.iter().map(|&i| universe[i].clone()).collect();
            let keep = |k: &SeriesKey| keep_bits & (1 << index(k)) != 0;
            let got = tracker.observe_keeping(&current, keep);
            let want = reference.observe_keeping(&current, keep);
            proptest::prop_assert_eq!(got, want);
            proptest::prop_assert_eq!(tracker.len(), reference.0.len());
        }
    }
}

#[test]
fn later_duplicate_label_wins_over_a_run_of_three() {
    let k = key("m", &[("g", "1"), ("a", "x"), ("g", "2"), ("g", "3")]);
    assert_eq!(k, key("m", &[("a", "x"), ("g", "3")]));
}
