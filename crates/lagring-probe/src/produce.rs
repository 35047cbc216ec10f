//! The produce service: every `produce_interval`, one record to every
//! partition of the monitor topic, carrying the partition's next sequence
//! and the produce time. A partition has at most one record in flight, so
//! its sequences reach the log in order; a sequence is used up only when
//! the send succeeded (a failed one is sent again next tick: if the broker
//! did write it after all, that shows as a duplicate, which it is).

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use lagring_core::probe::{ProbeAccounting, ProbePayload, encode_payload};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::error::ProbeError;
use crate::probe::{lock, now_ms};
use crate::settings::ProbeSettings;

/// Sends the probe records of one cluster.
pub struct ProduceService {
    settings: Arc<ProbeSettings>,
    producer: FutureProducer,
    accounting: Arc<Mutex<ProbeAccounting>>,
    partitions: Arc<AtomicI32>,
}

impl std::fmt::Debug for ProduceService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProduceService").field("topic", &self.settings.topic).finish()
    }
}

impl ProduceService {
    pub fn new(
        settings: Arc<ProbeSettings>,
        accounting: Arc<Mutex<ProbeAccounting>>,
        partitions: Arc<AtomicI32>,
    ) -> Result<Self, ProbeError> {
        let timeout_ms = settings.produce_timeout.as_millis().clamp(1, i32::MAX as u128).to_string();
        let producer = settings
            .properties_for("producer")
            .set("acks", "all")
            .set("linger.ms", "0")
            .set("enable.idempotence", "false")
            .set("message.timeout.ms", &timeout_ms)
            .create()
            .map_err(|source| ProbeError::Client { cluster: settings.cluster.clone(), role: "producer", source })?;
        Ok(Self { settings, producer, accounting, partitions })
    }

    /// The partition count this service sends to (raised by the topic check).
    pub fn partitions(&self) -> Arc<AtomicI32> {
        self.partitions.clone()
    }

    /// Sends one round per tick until `stop`; a round in flight finishes
    /// (bounded by the produce timeout).
    pub async fn run(self, stop: CancellationToken) {
        let mut tick = tokio::time::interval(self.settings.produce_interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            self.round().await;
        }
        tracing::debug!("produce service stopped");
    }

    /// One record to every partition, concurrently, each accounted when its send ends.
    pub async fn round(&self) {
        let partitions = self.partitions.load(Ordering::Acquire);
        let records: Vec<(i32, u64, Vec<u8>)> = {
            let mut acc = lock(&self.accounting);
            (0..partitions)
                .map(|p| {
                    let seq = acc.next_seq(p);
                    let payload = ProbePayload { seq, produced_ms: now_ms() };
                    (p, seq, encode_payload(payload, self.settings.payload_bytes))
                })
                .collect()
        };
        let sends = records.iter().map(|(p, seq, payload)| {
            let record: FutureRecord<'_, (), [u8]> =
                FutureRecord::to(&self.settings.topic).partition(*p).payload(payload.as_slice());
            let send = self.producer.send(record, Timeout::After(self.settings.produce_timeout));
            async move { (*p, *seq, send.await) }
        });
        for (partition, seq, result) in futures_util::future::join_all(sends).await {
            let mut acc = lock(&self.accounting);
            match result {
                Ok(_) => acc.produced(partition, seq, now_ms()),
                Err((error, _)) => {
                    tracing::debug!(partition, seq, %error, "probe record not delivered");
                    acc.produce_failed(partition, now_ms());
                }
            }
        }
    }
}
