use std::sync::Arc;

use lagring_core::series::SeriesKey;

use super::*;

fn key(name: &str, labels: &[(&str, &str)]) -> SeriesKey {
    SeriesKey::new(name, labels.iter().map(|(k, v)| (Arc::from(*k), Arc::from(*v))).collect())
}

fn record(key: SeriesKey, value: f64) -> Record {
    Record { cluster: Arc::from("prod"), key, value, timestamp_ms: 1_700_000_000_999 }
}

fn line(format: &LineFormat, record: &Record) -> Option<String> {
    let mut out = String::new();
    format.write_line(&mut out, record).then_some(out)
}

fn gorainbow() -> LineFormat {
    LineFormat::new(Naming::Gorainbow, Some("fjord.burrow".into()), "fjord-burrow".into(), &[])
}

#[test]
fn gorainbow_names_pinned() {
    let f = gorainbow();
    let g = [("clustername", "prod"), ("group", "billing")];
    let t = [("clustername", "prod"), ("group", "billing"), ("topic", "orders")];
    let p = [("clustername", "prod"), ("group", "billing"), ("partition", "3"), ("topic", "orders")];
    let cases = [
        (
            key(GROUP_SUM_LAG_OFFSETS, &g),
            "fjord.burrow.prod.billing.totalLag 42 1700000000 source=\"fjord-burrow\" env=\"prod\" consumer=\"billing\"\n",
        ),
        (
            key(GROUP_MAX_LAG_OFFSETS, &g),
            "fjord.burrow.prod.billing.maxLagCurrentLag 42 1700000000 source=\"fjord-burrow\" env=\"prod\" consumer=\"billing\"\n",
        ),
        (
            key(TOPIC_MAX_LAG_OFFSETS, &t),
            "fjord.burrow.prod.billing.maxLagTopic 42 1700000000 source=\"fjord-burrow\" env=\"prod\" consumer=\"billing\" topic=\"orders\"\n",
        ),
        (
            key(PARTITION_LAG_OFFSETS, &p),
            "fjord.burrow.prod.billing.3.currentLag 42 1700000000 source=\"fjord-burrow\" env=\"prod\" consumer=\"billing\" topic=\"orders\" partition=\"3\"\n",
        ),
        (
            key(PUSH_WINDOW_START_OFFSET, &p),
            "fjord.burrow.prod.billing.3.startOffset 42 1700000000 source=\"fjord-burrow\" env=\"prod\" consumer=\"billing\" topic=\"orders\" partition=\"3\"\n",
        ),
        (
            key(PUSH_COMMITTED_OFFSET, &p),
            "fjord.burrow.prod.billing.3.endOffset 42 1700000000 source=\"fjord-burrow\" env=\"prod\" consumer=\"billing\" topic=\"orders\" partition=\"3\"\n",
        ),
        (
            key(PARTITION_END_OFFSET, &[("clustername", "prod"), ("partition", "3"), ("topic", "orders")]),
            "fjord.burrow.prod.topic.orders.3.offset 42 1700000000 source=\"fjord-burrow\" topic=\"orders\" partitionId=\"3\"\n",
        ),
    ];
    for (k, want) in cases {
        assert!(Naming::Gorainbow.maps(&k));
        assert_eq!(line(&f, &record(k, 42.0)).as_deref(), Some(want));
    }
    let other = key("kafka_consumer_group_lag_in_seconds", &p);
    assert!(!Naming::Gorainbow.maps(&other));
    assert_eq!(line(&f, &record(other, 1.0)), None);
    let rate = key("kafka_partition_produce_records_per_second", &[("partition", "3"), ("topic", "orders")]);
    assert!(!Naming::Gorainbow.maps(&rate), "only the end offset has a topic-level name");
    assert!(Naming::Gorainbow.sends_push_only() && !Naming::Lagring.sends_push_only());
    for name in [PUSH_WINDOW_START_OFFSET, PUSH_COMMITTED_OFFSET] {
        assert!(!Naming::Lagring.maps(&key(name, &p)), "{name} is no Prometheus series: lagring's preset skips it");
    }
}

#[test]
fn lagring_names_use_dots_and_labels_as_tags() {
    let f = LineFormat::new(Naming::Lagring, None, "lagring".into(), &[("dc".into(), "eu-1".into())]);
    let k = key(PARTITION_LAG_OFFSETS, &[("clustername", "prod"), ("group", "g"), ("partition", "0"), ("topic", "t")]);
    assert!(Naming::Lagring.maps(&k));
    assert_eq!(
        line(&f, &record(k, 0.5)).unwrap(),
        "kafka.consumer.group.lag.in.offsets 0.5 1700000000 source=\"lagring\" clustername=\"prod\" group=\"g\" partition=\"0\" topic=\"t\" dc=\"eu-1\"\n"
    );
}

#[test]
fn hostile_names_and_values_cannot_break_a_line() {
    let f = gorainbow();
    let k = key(GROUP_SUM_LAG_OFFSETS, &[("group", "a b\"\nfake 1 2")]);
    assert_eq!(
        line(&f, &record(k, 1.0)).unwrap(),
        "fjord.burrow.prod.a_b__fake_1_2.totalLag 1 1700000000 source=\"fjord-burrow\" env=\"prod\" consumer=\"a b\\\" fake 1 2\"\n"
    );
    let nan = record(key(GROUP_SUM_LAG_OFFSETS, &[("group", "g")]), f64::NAN);
    assert_eq!(line(&f, &nan), None);
}
