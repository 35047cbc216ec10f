//! The local `/metrics` view of the lag series.
//!
//! [`LagCollector`] keeps only the **latest** batch per cluster and renders it
//! as text at scrape time, so a series that is not in the latest batch (group
//! deleted, moved to another node) disappears from `/metrics` at the next
//! iteration instead of lingering as a stale gauge would. [`render`] writes the
//! small self-metric registry through the `prometheus` text encoder and the lag
//! series straight from the held batches into the same buffer: at 150,000
//! series, going through protobuf `MetricFamily`s first more than doubled the
//! node's peak memory.
//!
//! A batch older than the collector's `max_age` is not rendered: a cluster
//! whose iterations fail stops showing its last good numbers as if they were
//! current (scrapers see a gap, not a flat line). Rendering works on a
//! snapshot (the batches' `Arc`s, taken under the lock), so a long render
//! never blocks the emit stage.
//!
//! Scrapes share one rendering of the lag series: the text only changes when
//! a batch arrives, a cluster is removed or a rendered batch passes its
//! `max_age`, so it is kept until then, and scrapes arriving while it is
//! being built wait for it instead of building their own. N concurrent
//! scrapers (several Prometheus replicas, a retry storm) cost one render's
//! CPU and one text's memory, not N.

use std::collections::BTreeMap;
use std::fmt::Write as _;
#[cfg(test)]
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use lagring_core::metric_names;
use lagring_core::series::{Sample, SeriesBatch};
use prometheus::{Encoder, Registry, TextEncoder};

use crate::SinkError;

/// Bytes reserved per sample for the value, the space and the newline; most
/// values are integers far shorter than this.
const VALUE_BYTES_ESTIMATE: usize = 24;

/// The latest batch of each cluster and when it arrived.
type LatestBatches = BTreeMap<Arc<str>, (Arc<SeriesBatch>, Instant)>;

/// The held batches and a counter of their changes.
#[derive(Debug, Default)]
struct Latest {
    batches: LatestBatches,
    /// Bumped by every update and removal, so a rendering knows it is stale.
    generation: u64,
}

/// What one snapshot of the held batches renders.
#[derive(Debug)]
struct Snapshot {
    batches: Vec<Arc<SeriesBatch>>,
    generation: u64,
    /// When the first of `batches` passes `max_age` (`None`: never).
    valid_until: Option<Instant>,
}

/// The lag series text of one snapshot, shared by every scrape until the
/// snapshot changes.
#[derive(Debug)]
struct Rendered {
    text: Arc<String>,
    generation: u64,
    valid_until: Option<Instant>,
}

impl Rendered {
    fn is_current(&self, generation: u64, now: Instant) -> bool {
        self.generation == generation && self.valid_until.is_none_or(|until| now <= until)
    }
}

/// Holds the latest batch of every cluster for the `/metrics` scrape; clones
/// share the same batches and the same rendering.
#[derive(Clone, Debug, Default)]
pub struct LagCollector {
    /// std mutex: held only to swap batches or take a snapshot, never across
    /// an `.await`.
    latest: Arc<Mutex<Latest>>,
    /// Batches older than this are not rendered (`None`: kept until replaced).
    max_age: Option<Duration>,
    /// The last rendering. std mutex, held for a whole render on purpose:
    /// concurrent scrapes queue behind the one rendering and then share its
    /// text. Renders run on the blocking pool (never inside an async task),
    /// and the lock is never held across an `.await`.
    rendered: Arc<Mutex<Option<Rendered>>>,
    /// Renders done, for tests that check scrapes share them.
    #[cfg(test)]
    renders: Arc<AtomicUsize>,
}

impl LagCollector {
    /// An empty collector that renders every batch until it is replaced.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty collector that stops rendering a cluster's batch `max_age`
    /// after it arrived (the cluster's iterations are failing).
    pub fn with_max_age(max_age: Duration) -> Self {
        Self { max_age: Some(max_age), ..Self::default() }
    }

    /// Replaces the batch of `batch.cluster`.
    pub fn update(&self, batch: SeriesBatch) {
        let mut latest = self.latest();
        latest.batches.insert(Arc::clone(&batch.cluster), (Arc::new(batch), Instant::now()));
        latest.generation = latest.generation.wrapping_add(1);
    }

    /// The batches young enough to render, by cluster name.
    fn snapshot(&self) -> Snapshot {
        let now = Instant::now();
        let latest = self.latest();
        let mut batches = Vec::with_capacity(latest.batches.len());
        let mut valid_until: Option<Instant> = None;
        for (batch, at) in latest.batches.values() {
            if let Some(max) = self.max_age {
                if now.saturating_duration_since(*at) > max {
                    continue;
                }
                // An instant too far to represent is never reached.
                if let Some(expiry) = at.checked_add(max) {
                    valid_until = Some(valid_until.map_or(expiry, |until| until.min(expiry)));
                }
            }
            batches.push(Arc::clone(batch));
        }
        Snapshot { batches, generation: latest.generation, valid_until }
    }

    /// Forgets a cluster (removed from the config), so its series vanish.
    pub fn remove_cluster(&self, name: &str) {
        let mut latest = self.latest();
        latest.batches.remove(name);
        latest.generation = latest.generation.wrapping_add(1);
    }

    /// Every held series in the text format 0.0.4 (see [`render_lag_text`]),
    /// rendered once per change of the held batches: later and concurrent
    /// callers get the same shared text.
    pub fn lag_text(&self) -> Result<Arc<String>, std::fmt::Error> {
        let mut rendered = self.rendered.lock().unwrap_or_else(PoisonError::into_inner);
        let generation = self.latest().generation;
        if let Some(current) = rendered.as_ref().filter(|r| r.is_current(generation, Instant::now())) {
            return Ok(Arc::clone(&current.text));
        }
        // The stale text goes first, so it is not held while the new one grows.
        *rendered = None;
        let snapshot = self.snapshot();
        #[cfg(test)]
        self.renders.fetch_add(1, Ordering::Relaxed);
        let text = Arc::new(render_lag_text(&snapshot.batches)?);
        *rendered = Some(Rendered {
            text: Arc::clone(&text),
            generation: snapshot.generation,
            valid_until: snapshot.valid_until,
        });
        Ok(text)
    }

    fn latest(&self) -> MutexGuard<'_, Latest> {
        self.latest.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `batches` in the text format 0.0.4: one `# HELP`/`# TYPE gauge` header per
/// metric name, the series of a name contiguous (across clusters, in cluster
/// then batch order). NaN (including staleness markers) and infinities have
/// no place in a scrape: the series is simply absent.
fn render_lag_text(batches: &[Arc<SeriesBatch>]) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    let mut by_name: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
    let mut estimate = 0;
    for sample in batches.iter().flat_map(|batch| batch.samples.iter()).filter(|s| s.value.is_finite()) {
        estimate += sample_len_estimate(sample);
        by_name.entry(sample.key.name()).or_default().push(sample);
    }
    estimate += by_name.keys().map(|name| 2 * name.len() + metric_names::help_for(name).len() + 24).sum::<usize>();
    out.reserve(estimate);
    for (name, samples) in &by_name {
        out.push_str("# HELP ");
        out.push_str(name);
        out.push(' ');
        push_escaped(&mut out, metric_names::help_for(name), false);
        out.push_str("\n# TYPE ");
        out.push_str(name);
        out.push_str(" gauge\n");
        for sample in samples {
            write_sample(&mut out, name, sample)?;
        }
    }
    Ok(out)
}

/// Length of a sample's line before escaping, plus [`VALUE_BYTES_ESTIMATE`].
fn sample_len_estimate(sample: &Sample) -> usize {
    let labels: usize = sample.key.labels().iter().map(|(k, v)| k.len() + v.len() + 4).sum();
    sample.key.name().len() + labels + 2 + VALUE_BYTES_ESTIMATE
}

/// `name{k="v",...} value\n`, as the `prometheus` text encoder writes it.
fn write_sample(out: &mut String, name: &str, sample: &Sample) -> std::fmt::Result {
    out.push_str(name);
    let labels = sample.key.labels();
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(label);
            out.push_str("=\"");
            push_escaped(out, value, true);
            out.push('"');
        }
        out.push('}');
    }
    writeln!(out, " {}", sample.value)
}

/// Escapes `\` and newline (and `"` in label values) as the text format wants.
fn push_escaped(out: &mut String, text: &str, escape_quote: bool) {
    if !text.contains(['\\', '\n', '"']) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if escape_quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// Renders the self metrics of `registry` and then the lag series of `lag` in
/// the text exposition format 0.0.4. The self metrics are small and change
/// all the time, so they are encoded on every call; the lag series are the
/// collector's shared rendering.
pub fn render(registry: &Registry, lag: &LagCollector) -> Result<String, SinkError> {
    let mut buf = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut buf).map_err(SinkError::Render)?;
    let mut text = String::from_utf8(buf)
        .map_err(|e| SinkError::Render(prometheus::Error::Msg(format!("non-utf-8 output: {e}"))))?;
    let lag_text = lag
        .lag_text()
        .map_err(|e| SinkError::Render(prometheus::Error::Msg(format!("cannot write lag series: {e}"))))?;
    text.push_str(&lag_text);
    Ok(text)
}

/// Content type of [`render`]'s output, for the HTTP response.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
#[path = "metrics_endpoint_tests.rs"]
mod tests;
