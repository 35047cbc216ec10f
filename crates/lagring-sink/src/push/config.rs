//! The `sinks` section: push sinks, any number, each with its own queue,
//! retries and gating.
//!
//! Each entry names exactly one destination (`wavefront`, `otlp`, `kafka`) next to the
//! settings every push sink shares. Serde rejects unknown keys;
//! [`validate_sinks`] checks what serde cannot and names the key path
//! (`sinks[1].wavefront.address`) in every error.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::kafka::KafkaFormat;
use super::naming::Naming;
use crate::SinkError;

/// One push sink.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PushSinkConfig {
    /// Unique; the `sink` label of its `lagring_sink_*` series.
    pub name: String,
    #[serde(default)]
    pub wavefront: Option<WavefrontConfig>,
    #[serde(default)]
    pub otlp: Option<OtlpConfig>,
    #[serde(default)]
    pub kafka: Option<KafkaSinkConfig>,
    /// A series whose value changed is sent at most this often.
    #[serde(default = "defaults::changed_every", with = "humantime_serde")]
    pub changed_every: Duration,
    /// An unchanged series is sent this often.
    #[serde(default = "defaults::unchanged_every", with = "humantime_serde")]
    pub unchanged_every: Duration,
    /// Records held while the destination is slow or down; oldest dropped beyond.
    #[serde(default = "defaults::queue_max_records")]
    pub queue_max_records: usize,
    #[serde(default = "defaults::max_records_per_send")]
    pub max_records_per_send: usize,
    /// Bound of one connect or send.
    #[serde(default = "defaults::timeout", with = "humantime_serde")]
    pub timeout: Duration,
    #[serde(default = "defaults::min_backoff", with = "humantime_serde")]
    pub min_backoff: Duration,
    #[serde(default = "defaults::max_backoff", with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Retries of one send; unset: retry until it succeeds (the queue bound
    /// still limits memory).
    #[serde(default)]
    pub max_retries: Option<u32>,
}

/// A Wavefront proxy (or anything reading its line protocol) over TCP.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WavefrontConfig {
    /// `host:port` of the proxy's metrics port (usually 2878).
    pub address: String,
    /// The `source=` of every line.
    #[serde(default = "defaults::source")]
    pub source: String,
    /// Which series are sent under which names.
    #[serde(default)]
    pub naming: Naming,
    /// First name segment(s); default `fjord.burrow` for `gorainbow`, none
    /// for `lagring`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Point tags added to every line.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// An OTLP/HTTP metrics receiver (protobuf bodies). `Debug` shows header
/// names only (values may be API keys).
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// Full URL, e.g. `http://collector:4318/v1/metrics`.
    pub endpoint: String,
    /// Extra request headers (e.g. an API key).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Added to every resource, next to `service.name` and `kafka.cluster.name`.
    #[serde(default)]
    pub resource_attributes: BTreeMap<String, String>,
}

/// A Kafka topic to produce records to. `Debug` shows property names only
/// (`sasl.password` and the like).
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// Bootstrap servers, `host:port[,host:port...]`.
    pub brokers: String,
    pub topic: String,
    #[serde(default)]
    pub format: KafkaFormat,
    /// With `format: lines`: as for `wavefront`.
    #[serde(default = "defaults::source")]
    pub source: String,
    #[serde(default)]
    pub naming: Naming,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Extra librdkafka producer settings (TLS, SASL, ...), applied last.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

impl fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpConfig")
            .field("endpoint", &self.endpoint)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("resource_attributes", &self.resource_attributes)
            .finish()
    }
}

impl fmt::Debug for KafkaSinkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaSinkConfig")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("format", &self.format)
            .field("naming", &self.naming)
            .field("properties", &self.properties.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The destination of a sink, once validated.
#[derive(Clone, Copy, Debug)]
pub enum Destination<'a> {
    Wavefront(&'a WavefrontConfig),
    Otlp(&'a OtlpConfig),
    Kafka(&'a KafkaSinkConfig),
}

/// How lines are named and tagged (`wavefront`, and `kafka` with `format: lines`).
#[derive(Clone, Debug, PartialEq)]
pub struct LineSettings {
    pub source: String,
    pub naming: Naming,
    pub prefix: Option<String>,
    pub tags: BTreeMap<String, String>,
}

impl LineSettings {
    /// The prefix in effect: the configured one or the naming's default.
    pub fn effective_prefix(&self) -> Option<&str> {
        self.prefix.as_deref().or(self.naming.default_prefix())
    }

    fn validate(&self, path: &str) -> Result<(), SinkError> {
        let key = |k: &str| format!("{path}.{k}");
        if self.source.is_empty() || self.source.contains(['"', '\n', '\r']) {
            return Err(SinkError::config(key("source"), "must be non-empty, without quotes or line breaks"));
        }
        for tag in self.tags.keys() {
            if tag.is_empty() || !tag.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
                return Err(SinkError::config(key(&format!("tags.{tag}")), "tag names are [A-Za-z0-9._-]+"));
            }
        }
        Ok(())
    }
}

impl WavefrontConfig {
    pub fn lines(&self) -> LineSettings {
        LineSettings {
            source: self.source.clone(),
            naming: self.naming,
            prefix: self.prefix.clone(),
            tags: self.tags.clone(),
        }
    }
}

impl KafkaSinkConfig {
    pub fn lines(&self) -> LineSettings {
        LineSettings {
            source: self.source.clone(),
            naming: self.naming,
            prefix: self.prefix.clone(),
            tags: self.tags.clone(),
        }
    }
}

/// Checks every sink and that names are unique.
pub fn validate_sinks(sinks: &[PushSinkConfig]) -> Result<(), SinkError> {
    let mut names = HashSet::new();
    for (i, sink) in sinks.iter().enumerate() {
        let path = format!("sinks[{i}]");
        if !names.insert(sink.name.as_str()) {
            return Err(SinkError::config(format!("{path}.name"), format!("duplicate sink name {:?}", sink.name)));
        }
        sink.validate(&path)?;
    }
    Ok(())
}

impl PushSinkConfig {
    /// The one destination set, if exactly one is.
    pub fn destination(&self) -> Option<Destination<'_>> {
        match (&self.wavefront, &self.otlp, &self.kafka) {
            (Some(w), None, None) => Some(Destination::Wavefront(w)),
            (None, Some(o), None) => Some(Destination::Otlp(o)),
            (None, None, Some(k)) => Some(Destination::Kafka(k)),
            _ => None,
        }
    }

    /// Which series the sink sends: its line naming, or every series for
    /// OTLP and JSON.
    pub fn naming(&self) -> Naming {
        match self.destination() {
            Some(Destination::Wavefront(w)) => w.naming,
            Some(Destination::Kafka(k)) if k.format == KafkaFormat::Lines => k.naming,
            _ => Naming::Lagring,
        }
    }

    fn validate(&self, path: &str) -> Result<(), SinkError> {
        let key = |k: &str| format!("{path}.{k}");
        if self.name.is_empty() {
            return Err(SinkError::config(key("name"), "must not be empty"));
        }
        match self.destination() {
            None => return Err(SinkError::config(path, "set exactly one destination: wavefront, otlp or kafka")),
            Some(Destination::Wavefront(w)) => {
                validate_address(&w.address).map_err(|m| SinkError::config(key("wavefront.address"), m))?;
                w.lines().validate(&key("wavefront"))?;
            }
            Some(Destination::Otlp(o)) => {
                let url = reqwest::Url::parse(&o.endpoint).map_err(|e| {
                    SinkError::config(key("otlp.endpoint"), format!("invalid url {:?}: {e}", o.endpoint))
                })?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(SinkError::config(key("otlp.endpoint"), "scheme must be http or https"));
                }
            }
            Some(Destination::Kafka(k)) => {
                if k.topic.is_empty() {
                    return Err(SinkError::config(key("kafka.topic"), "must not be empty"));
                }
                for broker in k.brokers.split(',') {
                    validate_address(broker.trim()).map_err(|m| SinkError::config(key("kafka.brokers"), m))?;
                }
                k.lines().validate(&key("kafka"))?;
            }
        }
        for (name, value) in [
            ("changed_every", self.changed_every),
            ("unchanged_every", self.unchanged_every),
            ("timeout", self.timeout),
            ("min_backoff", self.min_backoff),
        ] {
            if value.is_zero() {
                return Err(SinkError::config(key(name), "must be greater than zero"));
            }
        }
        if self.max_backoff < self.min_backoff {
            return Err(SinkError::config(key("max_backoff"), "must be at least min_backoff"));
        }
        if self.max_records_per_send == 0 {
            return Err(SinkError::config(key("max_records_per_send"), "must be greater than zero"));
        }
        if self.queue_max_records < self.max_records_per_send {
            return Err(SinkError::config(
                key("queue_max_records"),
                format!("must be at least max_records_per_send ({})", self.max_records_per_send),
            ));
        }
        Ok(())
    }
}

/// `host:port` with a port number.
fn validate_address(address: &str) -> Result<(), String> {
    let Some((host, port)) = address.rsplit_once(':') else {
        return Err(format!("{address:?} is not host:port"));
    };
    if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(format!("{address:?} is not host:port"));
    }
    Ok(())
}

mod defaults {
    use std::time::Duration;

    pub fn changed_every() -> Duration {
        Duration::from_secs(30)
    }
    pub fn unchanged_every() -> Duration {
        Duration::from_secs(60)
    }
    pub fn queue_max_records() -> usize {
        100_000
    }
    pub fn max_records_per_send() -> usize {
        5_000
    }
    pub fn timeout() -> Duration {
        Duration::from_secs(10)
    }
    pub fn min_backoff() -> Duration {
        Duration::from_millis(500)
    }
    pub fn max_backoff() -> Duration {
        Duration::from_secs(30)
    }
    pub fn source() -> String {
        "lagring".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Vec<PushSinkConfig> {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn defaults_follow_gorainbow() {
        let sinks = parse("- { name: wf, wavefront: { address: 'proxy:2878', naming: gorainbow } }");
        validate_sinks(&sinks).unwrap();
        let s = &sinks[0];
        assert_eq!((s.changed_every, s.unchanged_every), (Duration::from_secs(30), Duration::from_secs(60)));
        let lines = s.wavefront.as_ref().unwrap().lines();
        assert_eq!((lines.source.as_str(), lines.effective_prefix()), ("lagring", Some("fjord.burrow")));
        assert_eq!(s.naming(), Naming::Gorainbow);
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("- { name: a }", "sinks[0]: set exactly one destination: wavefront, otlp or kafka"),
            ("- { name: a, wavefront: { address: proxy } }", "sinks[0].wavefront.address: \"proxy\" is not host:port"),
            (
                "- { name: a, wavefront: { address: 'p:1' } }\n- { name: a, wavefront: { address: 'p:1' } }",
                "sinks[1].name: duplicate sink name \"a\"",
            ),
            (
                "- { name: a, wavefront: { address: 'p:1' }, queue_max_records: 10, max_records_per_send: 20 }",
                "sinks[0].queue_max_records: must be at least max_records_per_send (20)",
            ),
            (
                "- { name: a, wavefront: { address: 'p:1', tags: { 'a b': x } } }",
                "sinks[0].wavefront.tags.a b: tag names are [A-Za-z0-9._-]+",
            ),
        ];
        for (yaml, want) in cases {
            assert_eq!(validate_sinks(&parse(yaml)).unwrap_err().to_string(), want, "{yaml}");
        }
    }

    #[test]
    fn debug_hides_header_values_and_properties() {
        let sinks = parse(
            "- { name: o, otlp: { endpoint: 'https://c/v1/metrics', headers: { api-key: MARK-1 } } }\n\
             - { name: k, kafka: { brokers: 'k:9092', topic: t, properties: { sasl.password: MARK-2 } } }",
        );
        validate_sinks(&sinks).unwrap();
        let text = format!("{sinks:?}");
        assert!(!text.contains("MARK"), "{text}");
        assert!(text.contains("api-key") && text.contains("sasl.password"), "{text}");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = serde_norway::from_str::<Vec<PushSinkConfig>>("- { name: a, wavefornt: {} }").unwrap_err();
        assert!(err.to_string().contains("unknown field `wavefornt`"), "{err}");
    }
}
