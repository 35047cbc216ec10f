//! Pure encoding of queued points into remote write requests (no IO).
//!
//! A [`SeriesBatch`] is flattened into [`Point`]s (its samples plus one
//! staleness marker per ended series, all at the batch timestamp); the queue
//! stores points so it can drop exactly the oldest ones. A run of consecutive
//! points becomes one [`WriteRequest`]: one `TimeSeries` per series, labels
//! `__name__` first then sorted by name, samples in time order.

use std::collections::HashMap;

use lagring_core::series::{SeriesBatch, SeriesKey, stale_nan};
use prost::Message;

use super::proto::{Label, Sample, TimeSeries, WriteRequest};
use crate::SinkError;

/// Fixed protobuf overhead of one single-sample series: tags, lengths, the
/// `__name__` label name, the double and a typical varint timestamp.
const POINT_OVERHEAD_BYTES: usize = 40;
/// Per-label overhead: two tags, two lengths, the label message header.
const LABEL_OVERHEAD_BYTES: usize = 6;

/// One value of one series at one instant, waiting to be sent.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub key: SeriesKey,
    pub timestamp_ms: i64,
    pub value: f64,
}

impl Point {
    /// Estimated uncompressed size of this point sent as its own series; the
    /// queue's byte bound is counted in this unit.
    pub fn estimated_bytes(&self) -> usize {
        let labels: usize = self.key.labels().iter().map(|(k, v)| k.len() + v.len() + LABEL_OVERHEAD_BYTES).sum();
        POINT_OVERHEAD_BYTES + self.key.name().len() + labels
    }
}

/// Flattens a batch: every sample, then a staleness marker for every ended
/// series, all at the batch timestamp.
pub fn points_of(batch: SeriesBatch) -> Vec<Point> {
    let ts = batch.timestamp_ms;
    let mut points = Vec::with_capacity(batch.samples.len() + batch.ended.len());
    points.extend(batch.samples.into_iter().map(|s| Point { key: s.key, timestamp_ms: ts, value: s.value }));
    points.extend(batch.ended.into_iter().map(|key| Point { key, timestamp_ms: ts, value: stale_nan() }));
    points
}

/// Builds one request from points given in queue (arrival) order.
///
/// Series appear in order of first occurrence; each series' samples are
/// stably sorted by timestamp, so points of one series that arrived in time
/// order keep that order.
pub fn build_write_request(points: &[Point]) -> WriteRequest {
    let mut index: HashMap<&SeriesKey, usize> = HashMap::new();
    let mut timeseries: Vec<TimeSeries> = Vec::new();
    for point in points {
        let slot = *index.entry(&point.key).or_insert_with(|| {
            timeseries.push(TimeSeries { labels: labels_of(&point.key), samples: Vec::new() });
            timeseries.len() - 1
        });
        if let Some(series) = timeseries.get_mut(slot) {
            series.samples.push(Sample { value: point.value, timestamp: point.timestamp_ms });
        }
    }
    for series in &mut timeseries {
        series.samples.sort_by_key(|s| s.timestamp);
    }
    WriteRequest { timeseries, metadata: Vec::new() }
}

/// Splits points (in queue order) into requests of at most
/// `max_samples_per_request` samples each; a zero limit is treated as one.
pub fn build_write_requests(points: &[Point], max_samples_per_request: usize) -> Vec<WriteRequest> {
    points.chunks(max_samples_per_request.max(1)).map(build_write_request).collect()
}

/// Labels of a key as sent: `__name__` first, then the key's labels, which
/// [`SeriesKey`] keeps sorted by name.
fn labels_of(key: &SeriesKey) -> Vec<Label> {
    let mut labels = Vec::with_capacity(key.labels().len() + 1);
    labels.push(Label { name: "__name__".to_owned(), value: key.name().to_owned() });
    labels.extend(key.labels().iter().map(|(k, v)| Label { name: k.to_string(), value: v.to_string() }));
    labels
}

/// Protobuf-encodes and snappy-compresses (raw block format, as remote write
/// requires; not the framed stream format) a request.
pub fn encode(request: &WriteRequest) -> Result<Vec<u8>, SinkError> {
    let raw = request.encode_to_vec();
    snap::raw::Encoder::new().compress_vec(&raw).map_err(SinkError::Compress)
}

/// Number of samples in a request.
pub fn sample_count(request: &WriteRequest) -> usize {
    request.timeseries.iter().map(|ts| ts.samples.len()).sum()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use lagring_core::series::{Sample as CoreSample, is_stale_marker};

    use super::*;

    fn key(name: &str, labels: &[(&str, &str)]) -> SeriesKey {
        SeriesKey::new(name, labels.iter().map(|(k, v)| (Arc::from(*k), Arc::from(*v))).collect())
    }

    fn batch(ts: i64, samples: &[(SeriesKey, f64)], ended: &[SeriesKey]) -> SeriesBatch {
        SeriesBatch {
            cluster: Arc::from("c1"),
            timestamp_ms: ts,
            samples: samples.iter().map(|(k, v)| CoreSample { key: k.clone(), value: *v }).collect(),
            ended: ended.to_vec(),
            push_only: Default::default(),
        }
    }

    fn names(ts: &TimeSeries) -> Vec<(&str, &str)> {
        ts.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect()
    }

    #[test]
    fn name_label_first_then_labels_sorted() {
        let k = key("lag", &[("topic", "t"), ("clustername", "c1"), ("group", "g")]);
        let req = build_write_request(&points_of(batch(5, &[(k, 3.0)], &[])));
        assert_eq!(req.timeseries.len(), 1);
        assert_eq!(
            names(&req.timeseries[0]),
            vec![("__name__", "lag"), ("clustername", "c1"), ("group", "g"), ("topic", "t")]
        );
        assert_eq!(req.timeseries[0].samples, vec![Sample { value: 3.0, timestamp: 5 }]);
    }

    #[test]
    fn samples_of_one_series_are_grouped_in_time_order() {
        let a = key("m", &[("group", "a")]);
        let b = key("m", &[("group", "b")]);
        let mut points = points_of(batch(2000, &[(a.clone(), 2.0), (b.clone(), 20.0)], &[]));
        points.extend(points_of(batch(3000, &[(a.clone(), 3.0)], &[])));
        // A point that arrived late but is older still lands in time order.
        points.push(Point { key: b.clone(), timestamp_ms: 1000, value: 10.0 });
        let req = build_write_request(&points);
        assert_eq!(req.timeseries.len(), 2);
        let ts_a: Vec<(i64, f64)> = req.timeseries[0].samples.iter().map(|s| (s.timestamp, s.value)).collect();
        let ts_b: Vec<(i64, f64)> = req.timeseries[1].samples.iter().map(|s| (s.timestamp, s.value)).collect();
        assert_eq!(ts_a, vec![(2000, 2.0), (3000, 3.0)]);
        assert_eq!(ts_b, vec![(1000, 10.0), (2000, 20.0)]);
    }

    #[test]
    fn ended_series_get_a_staleness_marker_at_the_batch_timestamp() {
        let live = key("m", &[("group", "live")]);
        let gone = key("m", &[("group", "gone")]);
        let req = build_write_request(&points_of(batch(7000, &[(live, 1.0)], &[gone])));
        assert_eq!(req.timeseries.len(), 2);
        let marker = &req.timeseries[1];
        assert_eq!(names(marker), vec![("__name__", "m"), ("group", "gone")]);
        assert_eq!(marker.samples.len(), 1);
        assert_eq!(marker.samples[0].timestamp, 7000);
        assert!(is_stale_marker(marker.samples[0].value));
    }

    #[test]
    fn splitting_respects_the_sample_limit_and_keeps_order() {
        let samples: Vec<(SeriesKey, f64)> =
            (0..5).map(|i| (key("m", &[("partition", &i.to_string())]), f64::from(i))).collect();
        let points = points_of(batch(1, &samples, &[key("m", &[("partition", "9")])]));
        let reqs = build_write_requests(&points, 2);
        let sizes: Vec<usize> = reqs.iter().map(sample_count).collect();
        assert_eq!(sizes, vec![2, 2, 2]);
        let partitions: Vec<&str> =
            reqs.iter().flat_map(|r| r.timeseries.iter()).map(|ts| ts.labels[1].value.as_str()).collect();
        assert_eq!(partitions, vec!["0", "1", "2", "3", "4", "9"]);
    }

    #[test]
    fn encoding_is_a_snappy_raw_block_of_the_protobuf() {
        let req = build_write_request(&points_of(batch(1, &[(key("m", &[]), 1.0)], &[])));
        let body = encode(&req).unwrap();
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        assert_eq!(WriteRequest::decode(raw.as_slice()).unwrap(), req);
    }

    #[test]
    fn byte_estimate_grows_with_labels() {
        let small = Point { key: key("m", &[]), timestamp_ms: 0, value: 0.0 };
        let big = Point { key: key("m", &[("group", "abc")]), timestamp_ms: 0, value: 0.0 };
        assert_eq!(small.estimated_bytes(), POINT_OVERHEAD_BYTES + 1);
        assert_eq!(big.estimated_bytes(), POINT_OVERHEAD_BYTES + 1 + 5 + 3 + LABEL_OVERHEAD_BYTES);
    }
}
