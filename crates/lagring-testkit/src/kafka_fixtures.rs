//! Kafka test data through the real client library: topics, records and
//! group commits with exactly the shape a test asserts on.
//!
//! All helpers are async and run blocking librdkafka calls on the blocking
//! pool. `commit` uses a consumer that never subscribes or fetches, so the
//! committed offsets are exactly the ones given (verified against tansu).

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::ports::wait_for;

const TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) fn config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap).set("log_level", "3");
    c
}

/// A consumer of `group` that commits only what it is told to: it neither
/// subscribes, consumes nor commits on its own.
pub(crate) fn committing_consumer(bootstrap: &str, group: &str) -> Result<BaseConsumer> {
    config(bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .create()
        .context("create committing consumer")
}

/// Creates `name` with `partitions` partitions and waits until metadata
/// shows all of them.
pub async fn create_topic(bootstrap: &str, name: &str, partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = config(bootstrap).create().context("create admin client")?;
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().request_timeout(Some(TIMEOUT));
    let results = admin.create_topics([&topic], &opts).await.with_context(|| format!("create topic {name}"))?;
    for r in results {
        if let Err((topic, code)) = r {
            bail!("create topic {topic}: {code}");
        }
    }
    let want = usize::try_from(partitions)?;
    let probe: BaseConsumer = config(bootstrap).create()?;
    let probe = std::sync::Arc::new(probe);
    let topic_name = name.to_owned();
    wait_for(&format!("metadata of topic {name}"), TIMEOUT, || {
        let (probe, topic_name) = (probe.clone(), topic_name.clone());
        async move {
            let md =
                tokio::task::spawn_blocking(move || probe.fetch_metadata(Some(&topic_name), Duration::from_secs(2)))
                    .await??;
            let ok = md.topics().iter().any(|t| t.error().is_none() && t.partitions().len() == want);
            Ok(ok.then_some(()))
        }
    })
    .await
}

/// Produces exactly `count` records to `topic`/`partition` and waits until
/// every one is acknowledged.
pub async fn produce(bootstrap: &str, topic: &str, partition: i32, count: usize) -> Result<()> {
    let producer: FutureProducer = config(bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "false")
        .set("message.timeout.ms", "30000")
        .create()
        .context("create producer")?;
    let mut pending = Vec::with_capacity(count);
    for i in 0..count {
        let payload = format!("record-{i}");
        let key = i.to_string();
        let record = FutureRecord::to(topic).partition(partition).key(&key).payload(&payload);
        match producer.send_result(record) {
            Ok(delivery) => pending.push(delivery),
            Err((e, _)) => bail!("enqueue record {i} for {topic}/{partition}: {e}"),
        }
    }
    for (i, delivery) in pending.into_iter().enumerate() {
        match delivery.await {
            Ok(Ok(d)) => ensure!(d.partition == partition, "record {i} landed in partition {}", d.partition),
            Ok(Err((e, _))) => bail!("deliver record {i} to {topic}/{partition}: {e}"),
            Err(_) => bail!("delivery of record {i} to {topic}/{partition} was cancelled"),
        }
    }
    Ok(())
}

/// Commits exactly `offsets` (topic, partition, offset) for `group`, with a
/// consumer that neither subscribes nor consumes.
pub async fn commit(bootstrap: &str, group: &str, offsets: &[(&str, i32, i64)]) -> Result<()> {
    let consumer = committing_consumer(bootstrap, group)?;
    let mut tpl = TopicPartitionList::new();
    for (topic, partition, offset) in offsets {
        tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
    }
    let group = group.to_owned();
    tokio::task::spawn_blocking(move || consumer.commit(&tpl, CommitMode::Sync))
        .await?
        .with_context(|| format!("commit offsets for group {group}"))
}
