//! Demo traffic for `make demo`: a producer writing about `--rate` records per
//! second to `demo-orders`, a group `demo-fast` that keeps up, a group
//! `demo-slow` that consumes a third of that, so its lag grows visibly, and
//! `--batch-groups` groups `demo-batch-NN` that catch up every 10–40 s (a
//! sawtooth), so the fleet has enough groups to split between nodes.
//! Bounded: it exits by itself after `--minutes` (default 60).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rdkafka::ClientConfig;
use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

const TOPIC: &str = "demo-orders";
const PARTITIONS: i32 = 4;
const TICK: Duration = Duration::from_millis(100);

struct Args {
    bootstrap: String,
    rate: u32,
    minutes: u64,
    batch_groups: u32,
}

fn parse_args() -> Result<Args> {
    let mut args = Args { bootstrap: "127.0.0.1:9092".into(), rate: 40, minutes: 60, batch_groups: 12 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--bootstrap" => args.bootstrap = value,
            "--rate" => args.rate = value.parse().context("--rate")?,
            "--minutes" => args.minutes = value.parse().context("--minutes")?,
            "--batch-groups" => args.batch_groups = value.parse().context("--batch-groups")?,
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    Ok(args)
}

fn consumer(bootstrap: &str, group: &str) -> Result<BaseConsumer> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .with_context(|| format!("create consumer {group}"))?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(TOPIC, p, Offset::Beginning)?;
    }
    c.assign(&tpl).context("assign partitions")?;
    Ok(c)
}

/// Consumes at most `budget` records, then commits the positions.
fn consume(c: &BaseConsumer, budget: u32) -> Result<()> {
    for _ in 0..budget {
        match c.poll(Duration::from_millis(5)) {
            Some(Ok(_)) => {}
            Some(Err(e)) => eprintln!("demo-load: consume error: {e}"),
            None => break,
        }
    }
    let positions = c.position()?;
    let mut commit = TopicPartitionList::new();
    for e in positions.elements() {
        if let Offset::Offset(o) = e.offset() {
            commit.add_partition_offset(e.topic(), e.partition(), Offset::Offset(o))?;
        }
    }
    if commit.count() > 0 {
        c.commit(&commit, CommitMode::Async)?;
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &args.bootstrap).create().context("create admin client")?;
    let topic = NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(1));
    match admin.create_topics([&topic], &AdminOptions::new()).await {
        Ok(results) => {
            for r in results {
                if let Err((name, code)) = r {
                    eprintln!("demo-load: create topic {name}: {code} (continuing)");
                }
            }
        }
        Err(e) => eprintln!("demo-load: create topics: {e} (continuing)"),
    }
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap)
        .set("linger.ms", "20")
        .create()
        .context("create producer")?;
    let fast = consumer(&args.bootstrap, "demo-fast")?;
    let slow = consumer(&args.bootstrap, "demo-slow")?;
    let batch: Vec<(u64, BaseConsumer)> = (0..args.batch_groups)
        .map(|i| Ok((100 + 25 * u64::from(i % 13), consumer(&args.bootstrap, &format!("demo-batch-{i:02}"))?)))
        .collect::<Result<_>>()?;
    let per_tick = (args.rate / 10).max(1);
    let deadline = Instant::now() + Duration::from_secs(args.minutes * 60);
    let mut n: u64 = 0;
    println!("demo-load: producing {} records/s to {TOPIC}", per_tick * 10);
    while Instant::now() < deadline {
        let tick_start = Instant::now();
        for _ in 0..per_tick {
            let partition = (n % PARTITIONS as u64) as i32;
            let payload = format!("order-{n}");
            let key = n.to_string();
            let record = BaseRecord::to(TOPIC).partition(partition).key(&key).payload(&payload);
            if let Err((e, _)) = producer.send(record) {
                eprintln!("demo-load: produce error: {e}");
            }
            n += 1;
        }
        producer.poll(Duration::ZERO);
        consume(&fast, per_tick * 2)?;
        if n.is_multiple_of(3) {
            consume(&slow, per_tick)?;
        }
        let tick = n / u64::from(per_tick);
        for (every, c) in &batch {
            if tick.is_multiple_of(*every) {
                consume(c, u32::MAX)?;
            }
        }
        tokio::time::sleep(TICK.saturating_sub(tick_start.elapsed())).await;
    }
    producer.flush(Duration::from_secs(5))?;
    Ok(())
}
