use std::collections::HashMap;

use lagring_core::series::{SeriesKey, stale_nan};
use prometheus::core::{Collector, Desc};
use prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType};

use super::*;

fn sample(name: &str, cluster: &str, group: &str, value: f64) -> Sample {
    let labels = vec![(Arc::from("clustername"), Arc::from(cluster)), (Arc::from("group"), Arc::from(group))];
    Sample { key: SeriesKey::new(name, labels), value }
}

fn batch(cluster: &str, samples: Vec<Sample>) -> SeriesBatch {
    SeriesBatch { cluster: Arc::from(cluster), timestamp_ms: 0, samples, ended: vec![], push_only: Default::default() }
}

fn lag_text(collector: &LagCollector) -> String {
    render(&Registry::new(), collector).unwrap()
}

/// The rendering `/metrics` used before: the held batches as protobuf
/// gauge families, gathered by a registry and written by `TextEncoder`.
/// Kept here only as the reference the direct rendering must match.
struct ProtobufCollector {
    lag: LagCollector,
    descs: Vec<Desc>,
}

impl ProtobufCollector {
    fn new(lag: &LagCollector) -> Self {
        let descs = metric_names::ALL
            .iter()
            .map(|(name, help)| Desc::new((*name).to_owned(), (*help).to_owned(), vec![], HashMap::new()).unwrap())
            .collect();
        Self { lag: lag.clone(), descs }
    }
}

impl Collector for ProtobufCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let latest = self.lag.latest();
        let mut by_name: BTreeMap<&str, Vec<Metric>> = BTreeMap::new();
        for sample in latest.batches.values().flat_map(|b| b.0.samples.iter()).filter(|s| s.value.is_finite()) {
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

/// Splits a scrape into families: name → (HELP and TYPE lines, sorted
/// sample lines). Asserts every name has one contiguous block.
fn families(text: &str) -> BTreeMap<String, (Vec<String>, Vec<String>)> {
    let mut out: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            current = rest.split(' ').next().unwrap().to_owned();
            assert!(!out.contains_key(&current), "second block for {current}:\n{text}");
            out.insert(current.clone(), (vec![line.to_owned()], vec![]));
        } else if line.starts_with("# TYPE ") {
            out.get_mut(&current).unwrap().0.push(line.to_owned());
        } else {
            let name = line.split(['{', ' ']).next().unwrap();
            assert_eq!(name, current, "sample outside its block:\n{text}");
            out.get_mut(&current).unwrap().1.push(line.to_owned());
        }
    }
    for (_, samples) in out.values_mut() {
        samples.sort();
    }
    out
}

#[test]
fn direct_rendering_has_the_samples_of_the_protobuf_rendering() {
    let (max, sum) = (metric_names::GROUP_MAX_LAG_OFFSETS, metric_names::GROUP_SUM_LAG_OFFSETS);
    let collector = LagCollector::new();
    collector.update(batch(
        "b",
        vec![
            sample(sum, "b", "g\"quoted\"", 3.0),
            sample(max, "b", "back\\slash", 0.5),
            sample("lagring_custom", "b", "new\nline", -0.0),
            sample(max, "b", "inf", f64::INFINITY),
            sample(sum, "b", "big", 1e21),
        ],
    ));
    collector.update(batch(
        "a\\\"\n",
        vec![
            sample(max, "a\\\"\n", "g1", 12_345_678.9),
            sample(sum, "a\\\"\n", "g1", 7.0),
            sample(sum, "a\\\"\n", "stale", stale_nan()),
            sample(max, "a\\\"\n", "ninf", f64::NEG_INFINITY),
            sample("no_labels", "a", "", 1.0),
        ],
    ));
    let unlabelled = Sample { key: SeriesKey::new("no_labels", vec![]), value: 2.0 };
    collector.update(batch("c", vec![unlabelled, sample(max, "c", "ü", 1e-7)]));

    let registry = Registry::new();
    registry.register(Box::new(ProtobufCollector::new(&collector))).unwrap();
    let before = render(&registry, &LagCollector::new()).unwrap();
    let after = lag_text(&collector);

    assert_eq!(families(&after), families(&before), "direct:\n{after}\nprotobuf:\n{before}");
    assert_eq!(families(&after).len(), 4);
    assert!(after.contains(r#"clustername="a\\\"\n",group="g1"} 12345678.9"#), "{after}");
    assert!(after.contains(r#"group="new\nline"} -0"#), "{after}");
    assert!(!after.contains("inf") && !after.contains("stale"), "{after}");
}

#[test]
fn self_metrics_come_first_through_the_encoder() {
    let registry = Registry::new();
    let counter = prometheus::IntCounter::new("lagring_test_total", "a test counter").unwrap();
    registry.register(Box::new(counter.clone())).unwrap();
    counter.inc();
    let collector = LagCollector::new();
    collector.update(batch("a", vec![sample(metric_names::GROUP_MAX_LAG_OFFSETS, "a", "g", 1.0)]));
    let text = render(&registry, &collector).unwrap();
    assert!(text.starts_with("# HELP lagring_test_total a test counter\n# TYPE lagring_test_total counter\nlagring_test_total 1\n# HELP kafka_consumer_group_max_lag_in_offsets "), "{text}");
}

#[test]
fn latest_batch_per_cluster_is_exposed_with_help() {
    let lag = metric_names::GROUP_MAX_LAG_OFFSETS;
    let collector = LagCollector::new();
    collector.update(batch("a", vec![sample(lag, "a", "g1", 5.0), sample(lag, "a", "g2", 7.0)]));
    collector.update(batch("b", vec![sample(lag, "b", "g1", 1.0)]));
    assert_eq!(
        lag_text(&collector),
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
    let collector = LagCollector::new();
    collector.update(batch("a", vec![sample(lag, "a", "g1", 5.0), sample(lag, "a", "gone", 2.0)]));
    assert!(lag_text(&collector).contains("group=\"gone\""));
    collector.update(batch(
        "a",
        vec![sample(lag, "a", "g1", 6.0), sample(lag, "a", "nan", f64::NAN), sample(lag, "a", "st", stale_nan())],
    ));
    let text = lag_text(&collector);
    assert!(!text.contains("gone") && !text.contains("nan") && !text.contains("\"st\""), "{text}");
    assert!(text.contains("{clustername=\"a\",group=\"g1\"} 6\n"), "{text}");
    collector.remove_cluster("a");
    assert_eq!(lag_text(&collector), "");
}

#[test]
fn a_batch_older_than_the_max_age_leaves_the_scrape() {
    let lag = metric_names::GROUP_SUM_LAG_OFFSETS;
    let collector = LagCollector::with_max_age(Duration::from_millis(200));
    collector.update(batch("down", vec![sample(lag, "down", "g1", 5.0)]));
    collector.update(batch("up", vec![sample(lag, "up", "g1", 1.0)]));
    assert!(lag_text(&collector).contains("clustername=\"down\""));
    std::thread::sleep(Duration::from_millis(250));
    collector.update(batch("up", vec![sample(lag, "up", "g1", 2.0)]));
    let text = lag_text(&collector);
    assert!(!text.contains("down"), "{text}");
    assert!(text.contains("{clustername=\"up\",group=\"g1\"} 2\n"), "{text}");
}

#[test]
fn concurrent_scrapes_share_one_render() {
    const SCRAPERS: usize = 8;
    let lag = metric_names::GROUP_MAX_LAG_OFFSETS;
    let collector = LagCollector::new();
    let samples = (0..2_000).map(|i| sample(lag, "a", &format!("g{i}"), f64::from(i))).collect();
    collector.update(batch("a", samples));
    let registry = Registry::new();
    let start = std::sync::Barrier::new(SCRAPERS);
    let bodies: Vec<String> = std::thread::scope(|scope| {
        let scrapes: Vec<_> = (0..SCRAPERS)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    render(&registry, &collector).unwrap()
                })
            })
            .collect();
        scrapes.into_iter().map(|scrape| scrape.join().unwrap()).collect()
    });
    assert_eq!(collector.renders.load(Ordering::Relaxed), 1);
    assert!(bodies[0].contains("group=\"g1999\"} 1999\n"), "{}", bodies[0]);
    assert!(bodies.iter().all(|body| *body == bodies[0]));
}

#[test]
fn a_change_renders_anew() {
    let lag = metric_names::GROUP_MAX_LAG_OFFSETS;
    let collector = LagCollector::new();
    collector.update(batch("a", vec![sample(lag, "a", "g", 1.0)]));
    assert!(lag_text(&collector).contains("} 1\n"));
    assert!(lag_text(&collector).contains("} 1\n"));
    assert_eq!(collector.renders.load(Ordering::Relaxed), 1);
    collector.update(batch("a", vec![sample(lag, "a", "g", 2.0)]));
    assert!(lag_text(&collector).contains("} 2\n"));
    collector.clone().remove_cluster("a");
    assert_eq!(lag_text(&collector), "");
    assert_eq!(collector.renders.load(Ordering::Relaxed), 3);
}

#[test]
fn a_shared_render_ends_when_a_batch_passes_the_max_age() {
    let lag = metric_names::GROUP_SUM_LAG_OFFSETS;
    let collector = LagCollector::with_max_age(Duration::from_millis(200));
    collector.update(batch("down", vec![sample(lag, "down", "g1", 5.0)]));
    assert!(lag_text(&collector).contains("clustername=\"down\""));
    std::thread::sleep(Duration::from_millis(250));
    assert_eq!(lag_text(&collector), "");
    assert_eq!(collector.renders.load(Ordering::Relaxed), 2);
}

#[test]
fn unknown_names_get_the_generic_help() {
    let collector = LagCollector::new();
    collector.update(batch("a", vec![sample("lagring_custom", "a", "g", 1.0)]));
    let help = format!("# HELP lagring_custom {}\n", metric_names::help_for("lagring_custom"));
    assert!(lag_text(&collector).starts_with(&help));
}
