//! Records with known timestamps, commits from one long-lived client, and the
//! broker's own record timestamps read back by a separate consumer: what a
//! time-lag test compares lagring with.
//!
//! Every record carries an explicit CreateTime (the wall clock when it was
//! sent), so the timestamp a consumer reads back is the produce time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use crate::kafka_fixtures::{committing_consumer, config};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A producer kept across calls.
pub struct TimedProducer {
    producer: FutureProducer,
}

impl TimedProducer {
    pub fn new(bootstrap: &str) -> Result<Self> {
        let producer = config(bootstrap)
            .set("acks", "all")
            .set("enable.idempotence", "false")
            .set("linger.ms", "0")
            .set("message.timeout.ms", "30000")
            .create()
            .context("create producer")?;
        Ok(Self { producer })
    }

    /// Produces `count` records to `topic`/`partition`, each stamped with the
    /// wall clock when sent, and returns `(offset, timestamp ms)` of each once
    /// all are acknowledged.
    pub async fn produce(&self, topic: &str, partition: i32, count: usize) -> Result<Vec<(i64, i64)>> {
        let mut pending = Vec::with_capacity(count);
        for i in 0..count {
            let at = now_ms();
            let payload = format!("record-{at}-{i}");
            let record = FutureRecord::<(), _>::to(topic).partition(partition).payload(&payload).timestamp(at);
            match self.producer.send_result(record) {
                Ok(delivery) => pending.push((at, delivery)),
                Err((e, _)) => bail!("enqueue a record for {topic}/{partition}: {e}"),
            }
        }
        let mut out = Vec::with_capacity(count);
        for (at, delivery) in pending {
            match delivery.await {
                Ok(Ok(d)) => {
                    ensure!(d.partition == partition, "record landed in partition {}", d.partition);
                    out.push((d.offset, at));
                }
                Ok(Err((e, _))) => bail!("deliver a record to {topic}/{partition}: {e}"),
                Err(_) => bail!("delivery to {topic}/{partition} was cancelled"),
            }
        }
        Ok(out)
    }
}

/// Commits for one group from one consumer that never subscribes or fetches.
pub struct Committer {
    consumer: Arc<BaseConsumer>,
    group: String,
}

impl Committer {
    pub fn new(bootstrap: &str, group: &str) -> Result<Self> {
        let consumer = committing_consumer(bootstrap, group)?;
        Ok(Self { consumer: Arc::new(consumer), group: group.to_owned() })
    }

    /// Commits exactly `offsets` (topic, partition, offset), synchronously.
    pub async fn commit(&self, offsets: &[(&str, i32, i64)]) -> Result<()> {
        let mut tpl = TopicPartitionList::new();
        for (topic, partition, offset) in offsets {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
        }
        let consumer = self.consumer.clone();
        tokio::task::spawn_blocking(move || consumer.commit(&tpl, CommitMode::Sync))
            .await?
            .with_context(|| format!("commit offsets for group {}", self.group))
    }
}

/// The broker's timestamp of every record of `topic`/`partition` below
/// `end`, read from the beginning by a consumer of its own.
pub async fn record_timestamps(bootstrap: &str, topic: &str, partition: i32, end: i64) -> Result<BTreeMap<i64, i64>> {
    let consumer: BaseConsumer = config(bootstrap)
        .set("group.id", format!("lagring-testkit-reader-{}", now_ms()))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .context("create reading consumer")?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Beginning)?;
    consumer.assign(&tpl).context("assign")?;
    let what = format!("{topic}/{partition}");
    tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + TIMEOUT;
        let mut out = BTreeMap::new();
        while out.len() < usize::try_from(end).unwrap_or(0) {
            if Instant::now() >= deadline {
                bail!("read {} of {end} records of {what} in {TIMEOUT:?}", out.len());
            }
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) if m.offset() < end => {
                    let ts =
                        m.timestamp().to_millis().with_context(|| format!("record {} has no timestamp", m.offset()))?;
                    out.insert(m.offset(), ts);
                }
                Some(Ok(_)) | None => {}
                Some(Err(e)) => bail!("read {what}: {e}"),
            }
        }
        Ok(out)
    })
    .await?
}
