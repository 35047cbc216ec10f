//! The local `/metrics` view of the lag series.
//!
//! [`LagCollector`] keeps only the **latest** batch per cluster and turns it
//! into gauge families at scrape time, so a series that is not in the latest
//! batch (group deleted, moved to another node) disappears from `/metrics` at
//! the next iteration instead of lingering as a stale gauge would.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use lagring_core::metric_names;
use lagring_core::series::SeriesBatch;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{Encoder, Registry, TextEncoder};

use crate::SinkError;

/// Serves the latest batch of every cluster as gauges; clone it to keep a
/// handle after registering a copy.
#[derive(Clone, Debug)]
pub struct LagCollector {
    /// std mutex: held only to swap or read batches, never across an `.await`.
    latest: Arc<Mutex<BTreeMap<Arc<str>, SeriesBatch>>>,
    descs: Arc<[Desc]>,
}

impl LagCollector {
    /// An empty collector describing every known lag-series name.
    pub fn new() -> Result<Self, SinkError> {
        let descs = metric_names::ALL
            .iter()
            .map(|(name, help)| {
                Desc::new((*name).to_owned(), (*help).to_owned(), Vec::new(), HashMap::new())
                    .map_err(|source| SinkError::RegisterMetric { name: (*name).to_owned(), source })
            })
            .collect::<Result<Vec<Desc>, SinkError>>()?;
        Ok(Self { latest: Arc::default(), descs: descs.into() })
    }

    /// Replaces the batch of `batch.cluster`.
    pub fn update(&self, batch: SeriesBatch) {
        self.latest().insert(Arc::clone(&batch.cluster), batch);
    }

    /// Forgets a cluster (removed from the config), so its series vanish.
    pub fn remove_cluster(&self, name: &str) {
        self.latest().remove(name);
    }

    fn latest(&self) -> MutexGuard<'_, BTreeMap<Arc<str>, SeriesBatch>> {
        self.latest.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Collector for LagCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let latest = self.latest();
        let mut by_name: BTreeMap<&str, Vec<Metric>> = BTreeMap::new();
        for batch in latest.values() {
            // NaN (including staleness markers) and infinities have no place
            // in a scrape: the series is simply absent.
            for sample in batch.samples.iter().filter(|s| s.value.is_finite()) {
                let labels = sample
                    .key
                    .labels()
                    .iter()
                    .map(|(k, v)| {
                        let mut pair = LabelPair::default();
                        pair.set_name(k.to_string());
                        pair.set_value(v.to_string());
                        pair
                    })
                    .collect();
                let mut gauge = Gauge::default();
                gauge.set_value(sample.value);
                let mut metric = Metric::from_label(labels);
                metric.set_gauge(gauge);
                by_name.entry(sample.key.name()).or_default().push(metric);
            }
        }
        by_name
            .into_iter()
            .map(|(name, metrics)| {
                let mut family = MetricFamily::default();
                family.set_name(name.to_owned());
                family.set_help(metric_names::help_for(name).to_owned());
                family.set_field_type(MetricType::GAUGE);
                family.set_metric(metrics);
                family
            })
            .collect()
    }
}

/// Renders every metric of `registry` in the text exposition format 0.0.4.
pub fn render(registry: &Registry) -> Result<String, SinkError> {
    let encoder = TextEncoder::new();
    let mut buf = Vec::new();
    encoder.encode(&registry.gather(), &mut buf).map_err(SinkError::Render)?;
    String::from_utf8(buf).map_err(|e| SinkError::Render(prometheus::Error::Msg(format!("non-utf-8 output: {e}"))))
}

/// Content type of [`render`]'s output, for the HTTP response.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use lagring_core::series::{Sample, SeriesKey, stale_nan};

    use super::*;

    fn sample(name: &str, cluster: &str, group: &str, value: f64) -> Sample {
        let labels = vec![(Arc::from("clustername"), Arc::from(cluster)), (Arc::from("group"), Arc::from(group))];
        Sample { key: SeriesKey::new(name, labels), value }
    }

    fn batch(cluster: &str, samples: Vec<Sample>) -> SeriesBatch {
        SeriesBatch { cluster: Arc::from(cluster), timestamp_ms: 0, samples, ended: vec![] }
    }

    fn registry_with(collector: &LagCollector) -> Registry {
        let registry = Registry::new();
        registry.register(Box::new(collector.clone())).unwrap();
        registry
    }

    #[test]
    fn latest_batch_per_cluster_is_exposed_with_help() {
        let lag = metric_names::GROUP_MAX_LAG_OFFSETS;
        let collector = LagCollector::new().unwrap();
        let registry = registry_with(&collector);
        collector.update(batch("a", vec![sample(lag, "a", "g1", 5.0), sample(lag, "a", "g2", 7.0)]));
        collector.update(batch("b", vec![sample(lag, "b", "g1", 1.0)]));
        let text = render(&registry).unwrap();
        assert_eq!(
            text,
            "# HELP kafka_consumer_group_max_lag_in_offsets Largest partition offset lag of a consumer group\n\
             # TYPE kafka_consumer_group_max_lag_in_offsets gauge\n\
             kafka_consumer_group_max_lag_in_offsets{clustername=\"a\",group=\"g1\"} 5\n\
             kafka_consumer_group_max_lag_in_offsets{clustername=\"a\",group=\"g2\"} 7\n\
             kafka_consumer_group_max_lag_in_offsets{clustername=\"b\",group=\"g1\"} 1\n"
        );
    }

    #[test]
    fn deleted_group_disappears_and_nan_is_skipped() {
        let lag = metric_names::GROUP_SUM_LAG_OFFSETS;
        let collector = LagCollector::new().unwrap();
        let registry = registry_with(&collector);
        collector.update(batch("a", vec![sample(lag, "a", "g1", 5.0), sample(lag, "a", "gone", 2.0)]));
        assert!(render(&registry).unwrap().contains("group=\"gone\""));
        collector.update(batch(
            "a",
            vec![sample(lag, "a", "g1", 6.0), sample(lag, "a", "nan", f64::NAN), sample(lag, "a", "st", stale_nan())],
        ));
        let text = render(&registry).unwrap();
        assert!(!text.contains("gone") && !text.contains("nan") && !text.contains("\"st\""), "{text}");
        assert!(text.contains("{clustername=\"a\",group=\"g1\"} 6\n"), "{text}");
        collector.remove_cluster("a");
        assert_eq!(render(&registry).unwrap(), "");
    }

    #[test]
    fn unknown_names_get_the_generic_help() {
        let collector = LagCollector::new().unwrap();
        collector.update(batch("a", vec![sample("lagring_custom", "a", "g", 1.0)]));
        let families = collector.collect();
        assert_eq!(families.len(), 1);
        assert_eq!(families[0].help(), metric_names::help_for("lagring_custom"));
    }
}
