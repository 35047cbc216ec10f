//! Records produced to a Kafka topic (goRainbow's path into a metrics
//! pipeline such as speed-racer): one message per record, keyed by the
//! group (the cluster for per-cluster series) so a group's records stay in
//! order on one partition; the value is a Wavefront line (without its line
//! break) or a JSON object.
//!
//! The producer is librdkafka's, idempotent (`enable.idempotence=true`): its
//! own retries within `timeout` (`message.timeout.ms`) never duplicate or
//! reorder a message. A record whose delivery still failed is retried by the
//! worker; the ones already delivered are taken out of the chunk first, so a
//! retry does not produce them twice.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Deserialize;

use super::gate::Record;
use super::naming::LineFormat;
use super::transport::SendError;
use crate::SinkError;

/// What a message's value holds.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum KafkaFormat {
    /// The record's Wavefront line, as the `wavefront` sink would send it.
    #[default]
    Lines,
    /// `{"cluster", "labels", "name", "timestamp_ms", "value"}`.
    Json,
}

pub(crate) struct KafkaService {
    producer: FutureProducer,
    topic: String,
    format: KafkaFormat,
    lines: LineFormat,
}

impl std::fmt::Debug for KafkaService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaService").field("topic", &self.topic).field("format", &self.format).finish()
    }
}

impl KafkaService {
    /// A producer for `brokers`; `properties` are extra librdkafka settings
    /// (TLS, SASL), applied last.
    pub fn new(
        brokers: &str,
        topic: String,
        format: KafkaFormat,
        lines: LineFormat,
        timeout: Duration,
        properties: &BTreeMap<String, String>,
    ) -> Result<Self, SinkError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", timeout.as_millis().max(1).to_string());
        for (k, v) in properties {
            config.set(k, v);
        }
        let producer = config.create().map_err(|e| SinkError::config("kafka", format!("create producer: {e}")))?;
        Ok(Self { producer, topic, format, lines })
    }

    /// The message value of `record`, if the format sends it.
    fn payload(&self, record: &Record) -> Option<String> {
        match self.format {
            KafkaFormat::Lines => {
                let mut line = String::new();
                self.lines.write_line(&mut line, record).then(|| line.trim_end().to_owned())
            }
            KafkaFormat::Json => {
                let labels: serde_json::Map<String, serde_json::Value> =
                    record.key.labels().iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(&**v))).collect();
                // Keys in alphabetical order: the same text whether or not
                // serde_json preserves insertion order in this build.
                let value = serde_json::json!({
                    "cluster": &*record.cluster,
                    "labels": labels,
                    "name": record.key.name(),
                    "timestamp_ms": record.timestamp_ms,
                    "value": record.value,
                });
                record.value.is_finite().then(|| value.to_string())
            }
        }
    }

    /// Produces every record; on failure `records` keeps only the ones not
    /// delivered.
    pub async fn send(&self, records: &mut Vec<Record>) -> Result<(), SendError> {
        let mut pending = Vec::with_capacity(records.len());
        for record in records.iter() {
            let Some(payload) = self.payload(record) else {
                pending.push(None);
                continue;
            };
            let key = record.key.label("group").unwrap_or(&*record.cluster);
            let message = FutureRecord::to(&self.topic).key(key).payload(&payload).timestamp(record.timestamp_ms);
            pending.push(Some(self.producer.send_result(message).map_err(|(e, _)| e.to_string())));
        }
        let mut failed = Vec::new();
        let mut first_error = None;
        for (record, delivery) in records.drain(..).zip(pending) {
            let outcome = match delivery {
                None => Ok(()),
                Some(Err(e)) => Err(e),
                Some(Ok(future)) => match future.await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err((e, _))) => Err(e.to_string()),
                    Err(_) => Err("producer dropped the delivery".to_owned()),
                },
            };
            if let Err(e) = outcome {
                first_error.get_or_insert(e);
                failed.push(record);
            }
        }
        *records = failed;
        match first_error {
            None => Ok(()),
            Some(e) => Err(SendError::Retry(format!("produce to {}: {e}", self.topic))),
        }
    }
}
