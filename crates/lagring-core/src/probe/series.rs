//! The `kafka_probe_*` series of one cluster (meanings in docs/metrics.md):
//! per partition the availabilities and running totals, per cluster the
//! end-to-end latency histogram (`_bucket` with `le`, `_sum`, `_count`).
//! Only the probe's owner emits them, with no node label, so a hand-over
//! changes no series.

use std::sync::Arc;

use super::accounting::ProbeAccounting;
use crate::lag_series::LabelOptions;
use crate::series::{Sample, SeriesKey};

pub const PRODUCE_AVAILABILITY: &str = "kafka_probe_produce_availability";
pub const CONSUME_AVAILABILITY: &str = "kafka_probe_consume_availability";
pub const RECORDS_PRODUCED: &str = "kafka_probe_records_produced_total";
pub const PRODUCE_ERRORS: &str = "kafka_probe_produce_errors_total";
pub const RECORDS_CONSUMED: &str = "kafka_probe_records_consumed_total";
pub const RECORDS_LOST: &str = "kafka_probe_records_lost_total";
pub const RECORDS_DUPLICATED: &str = "kafka_probe_records_duplicated_total";
pub const RECORDS_DELAYED: &str = "kafka_probe_records_delayed_total";
pub const LATENCY: &str = "kafka_probe_end_to_end_latency_seconds";

/// Every probe series of `cluster` at `now_ms`.
pub fn probe_samples(acc: &ProbeAccounting, cluster: &str, labels: &LabelOptions, now_ms: i64) -> Vec<Sample> {
    let base = |extra: Vec<(Arc<str>, Arc<str>)>| {
        let mut l: Vec<(Arc<str>, Arc<str>)> = labels.extra.clone();
        l.push((labels.cluster_label.clone(), Arc::from(cluster)));
        l.extend(extra);
        l
    };
    let mut out = Vec::new();
    for (partition, state) in acc.partitions() {
        let pl = base(vec![(Arc::from("partition"), Arc::from(partition.to_string()))]);
        let t = &state.totals;
        let values = [
            (PRODUCE_AVAILABILITY, acc.produce_availability(partition, now_ms)),
            (CONSUME_AVAILABILITY, acc.consume_availability(partition, now_ms)),
            (RECORDS_PRODUCED, t.produced as f64),
            (PRODUCE_ERRORS, t.produce_errors as f64),
            (RECORDS_CONSUMED, t.consumed as f64),
            (RECORDS_LOST, t.lost as f64),
            (RECORDS_DUPLICATED, t.duplicated as f64),
            (RECORDS_DELAYED, t.delayed as f64),
        ];
        for (name, value) in values {
            out.push(Sample { key: SeriesKey::new(name, pl.clone()), value });
        }
    }
    let latency = acc.cluster_latency();
    for (bound, count) in latency.cumulative() {
        let le = if bound.is_infinite() { "+Inf".to_owned() } else { bound.to_string() };
        let key = SeriesKey::new(format!("{LATENCY}_bucket"), base(vec![(Arc::from("le"), Arc::from(le))]));
        out.push(Sample { key, value: count as f64 });
    }
    out.push(Sample { key: SeriesKey::new(format!("{LATENCY}_sum"), base(vec![])), value: latency.sum_seconds() });
    out.push(Sample { key: SeriesKey::new(format!("{LATENCY}_count"), base(vec![])), value: latency.count() as f64 });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{AccountingOptions, ProbePayload};

    #[test]
    fn names_and_labels_are_pinned() {
        let mut acc = ProbeAccounting::new(AccountingOptions::default());
        acc.produced(0, 0, 1_000);
        acc.consumed(0, 0, ProbePayload { seq: 0, produced_ms: 1_000 }, 1_020);
        let labels =
            LabelOptions { cluster_label: Arc::from("cluster"), extra: vec![(Arc::from("env"), Arc::from("p"))] };
        let samples = probe_samples(&acc, "prod", &labels, 1_500);
        let render: Vec<String> = samples
            .iter()
            .map(|s| {
                let l: Vec<String> = s.key.labels().iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("{}{{{}}} {}", s.key.name(), l.join(","), s.value)
            })
            .collect();
        assert_eq!(render.len(), 8 + 14 + 2);
        assert_eq!(render[0], "kafka_probe_produce_availability{cluster=prod,env=p,partition=0} 1");
        assert_eq!(render[5], "kafka_probe_records_lost_total{cluster=prod,env=p,partition=0} 0");
        assert_eq!(render[8], "kafka_probe_end_to_end_latency_seconds_bucket{cluster=prod,env=p,le=0.005} 0");
        assert_eq!(render[10], "kafka_probe_end_to_end_latency_seconds_bucket{cluster=prod,env=p,le=0.025} 1");
        assert_eq!(render[21], "kafka_probe_end_to_end_latency_seconds_bucket{cluster=prod,env=p,le=+Inf} 1");
        assert_eq!(render[23], "kafka_probe_end_to_end_latency_seconds_count{cluster=prod,env=p} 1");
    }
}
