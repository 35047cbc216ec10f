use super::*;

#[test]
fn parses_every_variant() {
    let yaml = r#"
seed: 7
brokers: 2
topics:
  - name: a
    partitions: 2
    initial_messages: 100
    produce: { constant: 10.0 }
    transactional: { lso_gap: 3, markers: true }
    recreate_at: [1m]
  - name: b
    partitions: 1
    produce: { bursts: { base: 1.0, rate: 100.0, every: 10s, length: 2s } }
  - name: c
    partitions: 1
    produce: idle
groups:
  - { name: g1, topics: [a], behaviour: keeps_up }
  - { name: g2, topics: [a], behaviour: { lags_by: 5 } }
  - { name: g3, topics: [b], behaviour: { stalls: 0s }, members: 0 }
  - { name: g4, topics: [c], behaviour: { rewinds: { at: 5s, by: 10 } }, deleted_at: 30s }
  - { name: g5, topics: [a], never_committed: { a: [1] }, behaviour: { stops_committing: 2s } }
  - { name: g6, topics: [b], behaviour: { consumes_fraction: 0.5 } }
faults:
  latency: { ListOffsets: 20ms }
  errors: [ { api: OffsetFetch, code: 15, fraction: 0.5 } ]
  broker_down: [ { broker: 1, from: 1s, until: 2s } ]
"#;
    let scenario = Scenario::from_yaml(yaml).unwrap();
    assert_eq!(scenario.groups.len(), 6);
    assert!(matches!(scenario.topics[1].produce, Produce::Bursts(_)));
    assert!(matches!(scenario.groups[3].behaviour, Behaviour::Rewinds(_)));
}

#[test]
fn rejects_unknown_keys_and_topics() {
    assert!(Scenario::from_yaml("brokers: 1\nbrokerz: 2\n").is_err());
    let err = Scenario::from_yaml("groups: [ { name: g, topics: [nope] } ]").unwrap_err();
    assert!(err.to_string().contains("unknown topic nope"), "{err}");
}
