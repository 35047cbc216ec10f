//! The probe's services against a real broker (tansu): a steady run is
//! fully available with every record accounted exactly once; records the
//! test writes into the monitor topic (a gap, a reordered record, a
//! duplicate, a foreign record) are counted exactly; a hung broker
//! (SIGSTOP) drops both availabilities below 1 within one window and they
//! recover after SIGCONT; a topic change the broker refuses (tansu has no
//! CreatePartitions) is a health reason while the probe runs on. Ownership
//! is not involved here (tests/probe_fleet.rs).

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use anyhow::{Result, ensure};
use lagring_core::probe::{AccountingOptions, ProbeAccounting, ProbePayload, ProbeState, encode_payload};
use lagring_probe::{Probe, ProbeSettings};
use lagring_testkit::kafka_fixtures::create_topic;
use lagring_testkit::ports::wait_for;
use lagring_testkit::tansu::TansuBroker;
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};

const TIMEOUT: Duration = Duration::from_secs(60);

fn settings(bootstrap: &str, topic: &str, window: Duration) -> ProbeSettings {
    ProbeSettings {
        cluster: "local".to_owned(),
        client_properties: BTreeMap::from([("bootstrap.servers".to_owned(), bootstrap.to_owned())]),
        topic: topic.to_owned(),
        replication_factor: 1,
        partitions_per_broker: 2,
        produce_interval: Duration::from_millis(100),
        produce_timeout: Duration::from_secs(1),
        payload_bytes: 200,
        consumer_group: "lagring-probe-test".to_owned(),
        topic_check_interval: Duration::from_secs(1),
        elect_preferred_leaders: false,
        catch_up_timeout: Duration::from_secs(5),
        accounting: AccountingOptions {
            window_ms: window.as_millis() as u64,
            reorder_window: 2,
            sla_ms: 5_000,
            zero_throughput_unavailable: true,
        },
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// `(produced, consumed, lost, duplicated, errors)` of `partition`.
fn totals(acc: &ProbeAccounting, partition: i32) -> (u64, u64, u64, u64, u64) {
    let p = acc.partitions().find(|(p, _)| *p == partition).map(|(_, s)| s.totals.clone()).unwrap_or_default();
    (p.produced, p.consumed, p.lost, p.duplicated, p.produce_errors)
}

fn availability(acc: &ProbeAccounting, partitions: i32) -> (f64, f64) {
    let now = now_ms();
    let produce = (0..partitions).map(|p| acc.produce_availability(p, now)).fold(1.0, f64::min);
    let consume = (0..partitions).map(|p| acc.consume_availability(p, now)).fold(1.0, f64::min);
    (produce, consume)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_state_is_fully_available_and_every_record_is_accounted_once() -> Result<()> {
    let broker = TansuBroker::start()?;
    let probe = Probe::start(settings(&broker.bootstrap(), "__lagring_probe", Duration::from_secs(3)), None)?;
    // The probe creates the topic (1 broker × 2 partitions) and produces 10 records/s per partition.
    wait_for("40 records per partition, both availabilities 1.0", TIMEOUT, || async {
        let acc = probe.accounting();
        let enough = (0..2).all(|p| totals(&acc, p).1 >= 40);
        Ok((enough && acc.partitions().count() == 2 && availability(&acc, 2) == (1.0, 1.0)).then_some(()))
    })
    .await?;
    let state = probe.stop(Duration::from_secs(5)).await;
    for (p, s) in &state.partitions {
        let t = &s.totals;
        ensure!(t.lost == 0 && t.duplicated == 0 && t.delayed == 0, "partition {p}: {t:?}");
        ensure!(t.produce_errors == 0, "partition {p}: {t:?}");
        // The consumer read the topic from its first record and drained it on stop.
        ensure!(t.consumed == t.produced, "partition {p}: consumed {} of {} produced", t.consumed, t.produced);
        ensure!(s.produce_next == t.produced, "partition {p}: next sequence {}", s.produce_next);
    }
    Ok(())
}

async fn write(producer: &FutureProducer, topic: &str, payload: &[u8]) -> Result<()> {
    let record: FutureRecord<'_, (), [u8]> = FutureRecord::to(topic).partition(0).payload(payload);
    producer.send(record, Duration::from_secs(10)).await.map_err(|(e, _)| anyhow::anyhow!("write: {e}"))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_loss_reordering_and_duplicates_are_counted_exactly() -> Result<()> {
    let broker = TansuBroker::start()?;
    let bs = broker.bootstrap();
    create_topic(&bs, "probe-injected", 1).await?;
    let producer: FutureProducer = ClientConfig::new().set("bootstrap.servers", &bs).set("log_level", "3").create()?;
    // 3 never arrives; 4 overtaken by 5 (within the reorder window of 2); 6 twice; one foreign record.
    for seq in [0u64, 1, 2, 5, 4, 6, 6, 7, 8] {
        write(&producer, "probe-injected", &encode_payload(ProbePayload { seq, produced_ms: now_ms() }, 100)).await?;
    }
    write(&producer, "probe-injected", b"not a probe record").await?;
    // A saved state that starts reading partition 0 at offset 0, as a new owner would.
    let mut seed = ProbeAccounting::new(AccountingOptions::default());
    seed.ensure_partitions(1);
    seed.read_from_start();
    let state: ProbeState = seed.state().clone();
    let mut s = settings(&bs, "probe-injected", Duration::from_secs(30));
    s.partitions_per_broker = 1;
    let probe = Probe::start(s, Some(state))?;
    // The probe reads the 10 injected records before producing, then continues at sequence 9.
    wait_for("20 of the probe's own records read after the injected ones", TIMEOUT, || async {
        Ok((totals(&probe.accounting(), 0).1 >= 9 + 20).then_some(()))
    })
    .await?;
    let state = probe.stop(Duration::from_secs(5)).await;
    let t = &state.partitions[&0].totals;
    assert_eq!((t.lost, t.duplicated), (1, 1), "exactly 3 lost and one 6 read twice: {t:?}");
    assert_eq!(t.consumed, 9 + t.produced, "9 injected probe records plus every record of the probe: {t:?}");
    assert_eq!(state.partitions[&0].produce_next, 9 + t.produced, "the probe continued after the injected 8");
    Ok(())
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_broker_drops_availability_within_a_window_and_it_recovers() -> Result<()> {
    let broker = TansuBroker::start()?;
    let window = Duration::from_secs(3);
    let probe = Probe::start(settings(&broker.bootstrap(), "__lagring_probe", window), None)?;
    wait_for("full availability before the fault", TIMEOUT, || async {
        let acc = probe.accounting();
        Ok((acc.partitions().count() == 2 && availability(&acc, 2) == (1.0, 1.0)).then_some(()))
    })
    .await?;
    let pid = broker.pid().expect("tansu runs");
    signal(pid, "STOP");
    let stopped = std::time::Instant::now();
    let dropped = wait_for("both availabilities below 1", TIMEOUT, || async {
        let (produce, consume) = availability(&probe.accounting(), 2);
        Ok((produce < 1.0 && consume < 1.0).then_some((produce, consume)))
    })
    .await;
    let took = stopped.elapsed();
    signal(pid, "CONT");
    let dropped = dropped?;
    // One window plus the send timeout (1 s) that turns a hung send into an error.
    ensure!(took <= window + Duration::from_secs(1) + Duration::from_secs(2), "dropped after {took:?}: {dropped:?}");
    wait_for("both availabilities back to 1.0", TIMEOUT, || async {
        Ok((availability(&probe.accounting(), 2) == (1.0, 1.0)).then_some(()))
    })
    .await?;
    let acc = probe.accounting();
    ensure!((0..2).all(|p| totals(&acc, p).4 > 0), "the hang was counted as produce errors");
    drop(probe);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_topic_change_is_a_health_reason_and_the_probe_runs_on() -> Result<()> {
    let broker = TansuBroker::start()?;
    let bs = broker.bootstrap();
    // One partition where the settings want two: the probe asks for one more.
    create_topic(&bs, "probe-narrow", 1).await?;
    let probe = Probe::start(settings(&bs, "probe-narrow", Duration::from_secs(3)), None)?;
    let reasons = wait_for("a health reason for the partitions tansu cannot add", TIMEOUT, || async {
        let reasons = probe.health().reasons;
        Ok((!reasons.is_empty()).then_some(reasons))
    })
    .await?;
    println!("health reasons: {reasons:?}");
    ensure!(reasons.len() == 1, "one reason: {reasons:?}");
    ensure!(reasons[0].starts_with("cannot add partitions to the monitor topic"), "{reasons:?}");
    wait_for("the one partition fully available", TIMEOUT, || async {
        let acc = probe.accounting();
        Ok((acc.partitions().count() == 1 && availability(&acc, 1) == (1.0, 1.0)).then_some(()))
    })
    .await?;
    let state = probe.stop(Duration::from_secs(5)).await;
    let t = &state.partitions[&0].totals;
    ensure!(t.lost == 0 && t.duplicated == 0, "{t:?}");
    Ok(())
}
