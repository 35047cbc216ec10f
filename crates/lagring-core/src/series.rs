//! The series model shared by every sink.
//!
//! A [`Sample`] is one value of one series at one instant. Series identity is
//! the metric name plus a label set kept **sorted by label name**, which is what
//! remote write requires and what makes two nodes emit byte-identical series for
//! the same group. Sorting is enforced by [`SeriesKey::new`], so no caller has to
//! remember it.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
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

/// One label: name and value.
type Label = (Arc<str>, Arc<str>);

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

    /// The `group` label's value as the shared string the key holds.
    fn group_value(&self) -> Option<&Arc<str>> {
        self.labels.iter().find(|(k, _)| &**k == "group").map(|(_, v)| v)
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
    /// Values only push sinks see (remote write and `/metrics` never do).
    pub push_only: PushOnly,
}

/// Values for push presets that name them (goRainbow's per-partition
/// `startOffset`/`endOffset`), names in [`crate::metric_names::PUSH_ONLY`].
/// Kept apart from [`SeriesBatch::samples`] so no Prometheus path can emit
/// them, with their own ended series so push sinks still end them with a 0.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PushOnly {
    pub samples: Vec<Sample>,
    pub ended: Vec<SeriesKey>,
}

/// Remembers which series a cluster emitted last time, to find the ones that
/// ended.
///
/// A series whose owner changed is not "ended": callers remove such series with
/// [`StalenessTracker::forget_groups`] (or [`StalenessTracker::forget`]) before
/// the next [`StalenessTracker::observe`], so no staleness marker is sent for
/// work that merely moved to another node.
///
/// Bookkeeping is per group (the value of the `group` label; series without
/// one form one more bucket). A group's series come in the same order every
/// iteration, so an observation looks each group up once and compares its
/// series with the remembered ones in order, without hashing any series. Only
/// a group whose series differ from last time is diffed as a set, and the
/// remembered groups are swept only when one changed or went missing.
#[derive(Debug, Default)]
pub struct StalenessTracker {
    groups: HashMap<Arc<str>, Bucket>,
    /// Series without a `group` label (per-cluster series).
    ungrouped: Bucket,
    observation: u64,
    len: usize,
}

/// The remembered series of one group.
#[derive(Debug, Default)]
struct Bucket {
    /// In the order last observed; kept series that were missing follow.
    keys: Vec<SeriesKey>,
    /// Number of the last observation that had a series of this group.
    seen: u64,
    /// This observation: its samples of the group (ranges of the slice).
    runs: Vec<Range<usize>>,
    /// This observation: how many of `keys` matched, in order, so far.
    matched: usize,
    /// This observation: a sample did not match `keys` in order.
    differs: bool,
}

impl Bucket {
    /// Adds `run` (samples of this group) to observation `now`.
    fn add_run(&mut self, now: u64, current: &[Sample], run: Range<usize>) {
        if self.seen != now {
            self.seen = now;
            self.runs.clear();
            self.matched = 0;
            self.differs = false;
        }
        if !self.differs {
            // Consecutive series share label sets: a pair of label sets found
            // equal once is not compared again.
            let mut equal_labels: Option<(*const Label, *const Label)> = None;
            for sample in current.get(run.clone()).unwrap_or_default() {
                let Some(known) = self.keys.get(self.matched) else {
                    self.differs = true;
                    break;
                };
                let pair = (known.labels.as_ptr(), sample.key.labels.as_ptr());
                let same =
                    known.name == sample.key.name && (equal_labels == Some(pair) || known.labels == sample.key.labels);
                if !same {
                    self.differs = true;
                    break;
                }
                equal_labels = Some(pair);
                self.matched += 1;
            }
        }
        self.runs.push(run);
    }

    /// True when observation `now` listed exactly the remembered series.
    fn unchanged(&self, now: u64) -> bool {
        self.seen == now && !self.differs && self.matched == self.keys.len()
    }

    /// Brings the remembered series up to observation `now` and moves the
    /// ones that ended to `ended`.
    fn settle(
        &mut self,
        now: u64,
        current: &[Sample],
        keep: &mut impl FnMut(&SeriesKey) -> bool,
        ended: &mut Vec<SeriesKey>,
    ) {
        if self.unchanged(now) {
            return;
        }
        let previous = std::mem::take(&mut self.keys);
        if self.seen == now {
            let listed: Vec<&SeriesKey> =
                self.runs.iter().flat_map(|run| current.get(run.clone()).unwrap_or_default()).map(|s| &s.key).collect();
            // Listed series keep their remembered key (no clone, no drop);
            // the remembered order becomes the listed order.
            let mut previous: Vec<Option<SeriesKey>> = previous.into_iter().map(Some).collect();
            let matches = match_keys(&previous, &listed);
            for (key, matched) in listed.iter().zip(matches) {
                match matched {
                    Match::Known(i) => self.keys.extend(previous.get_mut(i).and_then(Option::take)),
                    Match::Repeated => {}
                    Match::New => self.keys.push((*key).clone()),
                }
            }
            for key in previous.into_iter().flatten() {
                self.keep_or_end(key, keep, ended);
            }
        } else {
            for key in previous {
                self.keep_or_end(key, keep, ended);
            }
        }
    }

    fn keep_or_end(&mut self, key: SeriesKey, keep: &mut impl FnMut(&SeriesKey) -> bool, ended: &mut Vec<SeriesKey>) {
        if keep(&key) {
            self.keys.push(key);
        } else {
            ended.push(key);
        }
    }
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
        for (group, run) in group_runs(current) {
            let bucket = match group {
                None => &mut self.ungrouped,
                Some(group) => match self.groups.get_mut(&**group) {
                    Some(bucket) => bucket,
                    None => self.groups.entry(group.clone()).or_default(),
                },
            };
            bucket.add_run(now, current, run);
        }

        let mut ended = Vec::new();
        let settled = |b: &Bucket| b.unchanged(now) || (b.seen != now && b.keys.is_empty());
        if !(settled(&self.ungrouped) && self.groups.values().all(settled)) {
            self.ungrouped.settle(now, current, &mut keep, &mut ended);
            self.groups.retain(|_, bucket| {
                bucket.settle(now, current, &mut keep, &mut ended);
                !bucket.keys.is_empty()
            });
            self.count();
        }
        ended.sort();
        ended
    }

    fn count(&mut self) {
        self.len = self.ungrouped.keys.len() + self.groups.values().map(|b| b.keys.len()).sum::<usize>();
    }

    /// Drops every remembered series for which `pred` is true, without
    /// reporting them as ended.
    pub fn forget(&mut self, mut pred: impl FnMut(&SeriesKey) -> bool) {
        for bucket in std::iter::once(&mut self.ungrouped).chain(self.groups.values_mut()) {
            bucket.keys.retain(|k| !pred(k));
        }
        self.groups.retain(|_, bucket| !bucket.keys.is_empty());
        self.count();
    }

    /// Drops every remembered series whose `group` label value (`None`:
    /// no `group` label) `pred` is true for, without reporting them as ended:
    /// [`StalenessTracker::forget`] per group instead of per series.
    pub fn forget_groups(&mut self, mut pred: impl FnMut(Option<&str>) -> bool) {
        if pred(None) {
            self.ungrouped.keys.clear();
        }
        self.groups.retain(|group, _| !pred(Some(group)));
        self.count();
    }

    /// Number of series currently remembered.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// What a listed key is to the remembered ones.
enum Match {
    /// `previous[i]`, listed for the first time.
    Known(usize),
    /// Listed before in this observation.
    Repeated,
    /// Not remembered.
    New,
}

/// Matches each listed key to the remembered ones. Both lists are usually
/// in the same order with a few series added or removed, so a key is looked
/// for just after the last match first; long lists use a hash map instead.
fn match_keys(previous: &[Option<SeriesKey>], listed: &[&SeriesKey]) -> Vec<Match> {
    const LINEAR_UP_TO: usize = 128;
    let mut found = vec![false; previous.len()];
    let mut new: HashSet<&SeriesKey> = HashSet::new();
    let index: Option<HashMap<&SeriesKey, usize>> = (previous.len() > LINEAR_UP_TO)
        .then(|| previous.iter().enumerate().filter_map(|(i, k)| Some((k.as_ref()?, i))).collect());
    let mut from = 0usize;
    let mut find = |key: &SeriesKey| match &index {
        Some(index) => index.get(key).copied(),
        None => {
            let is = |k: &Option<SeriesKey>| k.as_ref() == Some(key);
            let after = previous.get(from..).unwrap_or_default().iter().position(is).map(|i| from + i);
            let at = after.or_else(|| previous.get(..from).unwrap_or_default().iter().position(is));
            if let Some(i) = at {
                from = i + 1;
            }
            at
        }
    };
    listed
        .iter()
        .map(|key| match find(key) {
            Some(i) => match found.get_mut(i) {
                Some(seen @ false) => {
                    *seen = true;
                    Match::Known(i)
                }
                _ => Match::Repeated,
            },
            None if new.insert(*key) => Match::New,
            None => Match::Repeated,
        })
        .collect()
}

/// Splits `samples` into runs of consecutive samples with the same `group`
/// label value (`None`: no `group` label). Samples that share a label
/// allocation are in the same run without looking at their labels.
fn group_runs(samples: &[Sample]) -> impl Iterator<Item = (Option<&Arc<str>>, Range<usize>)> {
    let mut start = 0usize;
    std::iter::from_fn(move || {
        let first = samples.get(start)?;
        let group = first.key.group_value();
        let mut labels = &first.key.labels;
        let mut end = start + 1;
        for sample in samples.get(end..).unwrap_or_default() {
            let same = Arc::ptr_eq(&sample.key.labels, labels) || same_group(sample.key.group_value(), group);
            if !same {
                break;
            }
            labels = &sample.key.labels;
            end += 1;
        }
        let run = start..end;
        start = end;
        Some((group, run))
    })
}

fn same_group(a: Option<&Arc<str>>, b: Option<&Arc<str>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b,
        (None, None) => true,
        _ => false,
    }
}

#[cfg(test)]
#[path = "series_tests.rs"]
mod tests;
