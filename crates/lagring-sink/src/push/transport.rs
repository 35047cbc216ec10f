//! The destinations a push worker sends to, behind one enum so each sink's
//! worker is one concrete type.

use super::config::{Destination, PushSinkConfig};
use super::gate::Record;
use super::kafka::KafkaService;
use super::naming::LineFormat;
use super::otlp::OtlpService;
use super::wavefront::WavefrontService;
use crate::SinkError;

/// Why a send failed.
#[derive(Debug)]
pub(crate) enum SendError {
    /// Worth retrying (no connection, timeout, a server error).
    Retry(String),
    /// The destination refused the records themselves; retrying cannot help.
    Reject(String),
}

/// One sink's destination.
#[derive(Debug)]
pub(crate) enum Transport {
    Wavefront(WavefrontService),
    Otlp(OtlpService),
    Kafka(KafkaService),
}

impl Transport {
    pub fn new(cfg: &PushSinkConfig) -> Result<Self, SinkError> {
        let line_format = |lines: super::config::LineSettings| {
            let tags: Vec<(String, String)> = lines.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            let prefix = lines.effective_prefix().map(str::to_owned);
            LineFormat::new(lines.naming, prefix, lines.source.clone(), &tags)
        };
        match cfg.destination() {
            Some(Destination::Wavefront(wf)) => {
                Ok(Self::Wavefront(WavefrontService::new(wf.address.clone(), cfg.timeout, line_format(wf.lines()))))
            }
            Some(Destination::Otlp(otlp)) => Ok(Self::Otlp(OtlpService::new(
                otlp.endpoint.clone(),
                cfg.timeout,
                &otlp.headers,
                otlp.resource_attributes.clone(),
            )?)),
            Some(Destination::Kafka(k)) => Ok(Self::Kafka(KafkaService::new(
                &k.brokers,
                k.topic.clone(),
                k.format,
                line_format(k.lines()),
                cfg.timeout,
                &k.properties,
            )?)),
            None => Err(SinkError::config(format!("sinks.{}", cfg.name), "no destination")),
        }
    }

    /// Sends `records`; on failure `records` keeps those not delivered.
    pub async fn send(&mut self, records: &mut Vec<Record>) -> Result<(), SendError> {
        match self {
            Self::Wavefront(w) => w.send(records).await,
            Self::Otlp(o) => o.send(records).await,
            Self::Kafka(k) => k.send(records).await,
        }
    }
}
