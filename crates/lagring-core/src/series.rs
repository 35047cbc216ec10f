//! The series model shared by every sink.
//!
//! A [`Sample`] is one value of one series at one instant. Series identity is
//! the metric name plus a label set kept **sorted by label name**, which is what
//! remote write requires and what makes two nodes emit byte-identical series for
//! the same group. Sorting is enforced by [`SeriesKey::new`], so no caller has to
//! remember it.

use std::collections::HashMap;
use std::sync::Arc;

/// The bit pattern Prometheus uses as a staleness marker (a special NaN).
///
/// Sending it for a series tells Prometheus the series ended, so graphs stop
/// instead of repeating the last value for five minutes.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Returns the staleness-marker value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// True when `value` is exactly the staleness marker (not any NaN).
pub fn is_stale_marker(value: f64) -> bool {
    value.to_bits() == STALE_NAN_BITS
}

/// Identity of one series: metric name and labels sorted by name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    name: Arc<str>,
    labels: Arc<[(Arc<str>, Arc<str>)]>,
}

impl SeriesKey {
    /// Builds a key; labels are sorted by name and later duplicates win.
    pub fn new(name: impl Into<Arc<str>>, labels: Vec<(Arc<str>, Arc<str>)>) -> Self {
        let mut labels = labels;
        Self::with_labels(name.into(), SortedLabels::new(&mut labels))
    }

    /// Builds a key from a label set that is already sorted, so several
    /// series can share one label allocation.
    pub(crate) fn with_labels(name: Arc<str>, labels: SortedLabels) -> Self {
        Self { name, labels: labels.0 }
    }

    /// The metric name (the `__name__` label).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Labels without `__name__`, sorted by label name.
    pub fn labels(&self) -> &[(Arc<str>, Arc<str>)] {
        &self.labels
    }

    /// The value of one label, if present.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| &**k == name).map(|(_, v)| &**v)
    }
}

/// A label set sorted by label name without repeated names: the form a
/// [`SeriesKey`] holds. Cheap to clone (one shared allocation).
#[derive(Clone, Debug)]
pub(crate) struct SortedLabels(Arc<[(Arc<str>, Arc<str>)]>);

impl SortedLabels {
    /// Sorts `labels` by name in place (stable, so for a repeated name the
    /// last value given wins) and copies the result into one allocation.
    /// `labels` is left sorted and deduplicated, ready for reuse.
    pub(crate) fn new(labels: &mut Vec<(Arc<str>, Arc<str>)>) -> Self {
        labels.sort_by(|a, b| a.0.cmp(&b.0));
        // `dedup_by` keeps the first of a run; move each later value into it.
        labels.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(&mut later.1, &mut kept.1);
            }
            same
        });
        Self(Arc::from(labels.as_slice()))
    }
}

/// One value of one series.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub key: SeriesKey,
    pub value: f64,
}

/// Every sample of one iteration of one cluster, sharing one timestamp.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesBatch {
    /// Cluster the batch describes; sinks keep one current batch per cluster.
    pub cluster: Arc<str>,
    /// Milliseconds since the Unix epoch, the same for every sample.
    pub timestamp_ms: i64,
    pub samples: Vec<Sample>,
    /// Series that existed in the previous batch of this cluster and are gone
    /// now (group deleted, partition gone). Sinks that support it send one
    /// staleness marker for each.
    pub ended: Vec<SeriesKey>,
}

/// Remembers which series a cluster emitted last time, to find the ones that
/// ended.
///
/// A series whose owner changed is not "ended": callers remove such series with
/// [`StalenessTracker::forget`] before the next [`StalenessTracker::observe`],
/// so no staleness marker is sent for work that merely moved to another node.
///
/// Each remembered key carries the number of the last observation that saw
/// it, so an observation updates the set in place: one hash lookup per
/// current series, a key clone only for new series, and a sweep over the set
/// only when some remembered series was not seen.
#[derive(Debug, Default)]
pub struct StalenessTracker {
    previous: HashMap<SeriesKey, u64>,
    observation: u64,
}

impl StalenessTracker {
    /// Records `current` as the live set and returns the keys that were live
    /// before and are not now, in sorted order.
    pub fn observe(&mut self, current: &[Sample]) -> Vec<SeriesKey> {
        self.observe_keeping(current, |_| false)
    }

    /// Like [`StalenessTracker::observe`], but series that are missing now and
    /// for which `keep` is true stay remembered and are not reported: their
    /// data was merely unavailable this iteration (a failed OffsetFetch for
    /// one group), which is not the end of the series.
    pub fn observe_keeping(&mut self, current: &[Sample], mut keep: impl FnMut(&SeriesKey) -> bool) -> Vec<SeriesKey> {
        self.observation += 1;
        let now = self.observation;
        let mut seen = 0usize;
        for sample in current {
            match self.previous.get_mut(&sample.key) {
                Some(last) if *last == now => {}
                Some(last) => {
                    *last = now;
                    seen += 1;
                }
                None => {
                    self.previous.insert(sample.key.clone(), now);
                    seen += 1;
                }
            }
        }
        let mut ended = Vec::new();
        if seen < self.previous.len() {
            let gone = self.previous.extract_if(|k, last| {
                if *last == now {
                    return false;
                }
                if keep(k) {
                    *last = now;
                    return false;
                }
                true
            });
            ended.extend(gone.map(|(k, _)| k));
        }
        ended.sort();
        ended
    }

    /// Drops every remembered series for which `pred` is true, without
    /// reporting them as ended.
    pub fn forget(&mut self, mut pred: impl FnMut(&SeriesKey) -> bool) {
        self.previous.retain(|k, _| !pred(k));
    }

    /// Number of series currently remembered.
    pub fn len(&self) -> usize {
        self.previous.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.previous.is_empty()
    }
}

#[cfg(test)]
mod tests {
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
    fn later_duplicate_label_wins_over_a_run_of_three() {
        let k = key("m", &[("g", "1"), ("a", "x"), ("g", "2"), ("g", "3")]);
        assert_eq!(k, key("m", &[("a", "x"), ("g", "3")]));
    }
}
