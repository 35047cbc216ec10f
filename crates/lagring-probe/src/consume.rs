//! The consume service: reads the monitor topic by manual assignment from
//! the offsets the accounting holds (where the previous owner's saved state
//! left off), so a new owner re-reads exactly what its predecessor did not
//! account; partitions without a saved offset start at the log end, and
//! partitions added while running from their beginning. Each record goes
//! to the accounting; foreign records are skipped.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lagring_core::probe::{ProbeAccounting, decode_payload};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use crate::error::ProbeError;
use crate::probe::{lock, now_ms};
use crate::settings::ProbeSettings;

/// How often the service looks for partitions added to the topic.
const ASSIGNMENT_CHECK: Duration = Duration::from_secs(1);

/// Reads the probe records of one cluster.
#[derive(Clone)]
pub struct ConsumeService {
    settings: Arc<ProbeSettings>,
    consumer: Arc<StreamConsumer>,
    accounting: Arc<Mutex<ProbeAccounting>>,
}

impl std::fmt::Debug for ConsumeService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumeService").field("topic", &self.settings.topic).finish()
    }
}

impl ConsumeService {
    pub fn new(settings: Arc<ProbeSettings>, accounting: Arc<Mutex<ProbeAccounting>>) -> Result<Self, ProbeError> {
        let consumer: StreamConsumer = settings
            .properties_for("consumer")
            .set("group.id", &settings.consumer_group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("fetch.wait.max.ms", "100")
            .create()
            .map_err(|source| ProbeError::Client { cluster: settings.cluster.clone(), role: "consumer", source })?;
        Ok(Self { settings, consumer: Arc::new(consumer), accounting })
    }

    /// Reads until `stop`, widening the assignment when partitions are added.
    pub async fn run(self, partitions: Arc<AtomicI32>, stop: CancellationToken) {
        let mut assigned = 0;
        let mut check = tokio::time::interval(ASSIGNMENT_CHECK);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = check.tick() => {
                    let now = partitions.load(Ordering::Acquire);
                    if now > assigned {
                        match self.assign(assigned, now) {
                            Ok(()) => assigned = now,
                            Err(error) => tracing::warn!(%error, "cannot assign the monitor topic's partitions"),
                        }
                    }
                }
                message = self.consumer.recv() => match message {
                    Ok(m) => self.record(m.partition(), m.offset(), m.payload()),
                    Err(error) => tracing::debug!(%error, "probe consumer error"),
                },
            }
        }
        tracing::debug!("consume service stopped");
    }

    fn record(&self, partition: i32, offset: i64, payload: Option<&[u8]>) {
        let mut acc = lock(&self.accounting);
        match payload.and_then(decode_payload) {
            Some(p) => {
                acc.consumed(partition, offset, p, now_ms());
            }
            None => acc.skipped(partition, offset),
        }
    }

    /// Adds partitions `from..to` to the assignment: from the saved offset,
    /// else the log end at start (`from == 0`), else the beginning (a partition just added).
    fn assign(&self, from: i32, to: i32) -> Result<(), rdkafka::error::KafkaError> {
        let mut tpl = TopicPartitionList::new();
        {
            let acc = lock(&self.accounting);
            let saved: BTreeMap<i32, Option<i64>> = acc.partitions().map(|(p, s)| (p, s.consume_offset)).collect();
            for p in from..to {
                let offset = match saved.get(&p).copied().flatten() {
                    Some(o) => Offset::Offset(o),
                    None if from == 0 => Offset::End,
                    None => Offset::Beginning,
                };
                tpl.add_partition_offset(&self.settings.topic, p, offset)?;
            }
        }
        self.consumer.incremental_assign(&tpl)
    }

    /// The high watermark of each of `partitions` (blocking calls, on the blocking pool).
    pub async fn high_watermarks(&self, partitions: i32) -> Result<BTreeMap<i32, i64>, rdkafka::error::KafkaError> {
        let consumer = self.consumer.clone();
        let topic = self.settings.topic.clone();
        let timeout = self.settings.produce_timeout;
        tokio::task::spawn_blocking(move || {
            (0..partitions).map(|p| consumer.fetch_watermarks(&topic, p, timeout).map(|(_, high)| (p, high))).collect()
        })
        .await
        .map_err(|_| rdkafka::error::KafkaError::Canceled)?
    }

    /// Commits the accounted offsets to the probe's group (for operators:
    /// the state a new owner resumes from is the saved one). Never waits.
    pub fn commit(&self) {
        let mut tpl = TopicPartitionList::new();
        for (p, s) in lock(&self.accounting).partitions() {
            if let Some(o) = s.consume_offset
                && tpl.add_partition_offset(&self.settings.topic, p, Offset::Offset(o)).is_err()
            {
                return;
            }
        }
        if tpl.count() > 0
            && let Err(error) = self.consumer.commit(&tpl, CommitMode::Async)
        {
            tracing::debug!(%error, "probe offsets not committed");
        }
    }
}
