//! Time lag and status survive a group moving to another node: two lagring
//! nodes on a real redis-server (offset histories shared there), a real tansu
//! broker, the recording receiver (see `common`). The owner of two groups is
//! stopped with SIGTERM; the new owner's first samples must be as good as the
//! old owner's: time lag within one interval of the truth (record timestamps
//! read back from the broker), and the status window continued, not
//! restarted (a STALL stays a STALL; a fresh window would say OK).

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use lagring_core::metric_names as m;
use lagring_e2e::fleet::{Fleet, TIMEOUT, Timing};
use lagring_testkit::ports::wait_for;
use lagring_testkit::receiver::RecordedSample;
use lagring_testkit::timed_records::{Committer, TimedProducer, now_ms, record_timestamps};

/// The fleet's topic; partition 0 gets new records during the test.
const TOPIC: &str = "t";
/// Records already on each partition (see `common`).
const FIRST: i64 = 50;
/// Records the moving group stays behind.
const BEHIND: i64 = 10;
/// Bound of the workload, whatever happens.
const WORKLOAD_MAX: Duration = Duration::from_secs(180);

/// A commit of the moving group: when it started and finished, the offset on partition 0.
#[derive(Clone, Copy, Debug)]
struct Commit {
    started_ms: i64,
    done_ms: i64,
    offset: i64,
}

/// 5 records/s on partition 0; the moving group commits `end − BEHIND` in the
/// middle of every slot; the stalled one committed the first new record once.
async fn workload(
    bs: &str,
    moving: &str,
    stalled: &str,
    interval_ms: i64,
    stop: &AtomicBool,
    end: &Mutex<i64>,
) -> Result<Vec<Commit>> {
    let producer = TimedProducer::new(bs)?;
    Committer::new(bs, stalled)?.commit(&[(TOPIC, 0, FIRST), (TOPIC, 1, FIRST)]).await?;
    let committer = Committer::new(bs, moving)?;
    let deadline = Instant::now() + WORKLOAD_MAX;
    let mut log = Vec::new();
    let mut last_commit_slot = 0;
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        let written = producer.produce(TOPIC, 0, 1).await?;
        *end.lock().unwrap() = written[0].0 + 1;
        let now = now_ms();
        let (slot, into) = (now / interval_ms, now % interval_ms);
        if into >= interval_ms / 2 && slot != last_commit_slot {
            let offset = (*end.lock().unwrap() - BEHIND).max(FIRST);
            let started_ms = now_ms();
            committer.commit(&[(TOPIC, 0, offset), (TOPIC, 1, FIRST)]).await?;
            log.push(Commit { started_ms, done_ms: now_ms(), offset });
            last_commit_slot = slot;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(log)
}

/// `(slot ms, value, node)` of `name` for `group` on partition `partition`
/// (`None`: a group-level series), in slot order.
fn samples(all: &[RecordedSample], name: &str, group: &str, partition: Option<&str>) -> Vec<(i64, f64, String)> {
    let mut out: Vec<(i64, f64, String)> = all
        .iter()
        .filter(|s| {
            s.series.name == name
                && s.series.labels.get("group").map(String::as_str) == Some(group)
                && s.series.labels.get("partition").map(String::as_str) == partition
        })
        .map(|s| (s.timestamp_ms, s.value, s.node.clone().unwrap_or_default()))
        .collect();
    out.sort_by_key(|s| s.0);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_new_owner_continues_time_lag_and_status_after_sigterm() -> Result<()> {
    let window = "time_lag: { status_window: 4s, rate_window: 4s }\n";
    let mut fleet = Fleet::start_with_config(2, Timing::QUICK, window).await?;
    let interval_ms = fleet.timing.interval_ms;
    let from = fleet.wait_stable(2, 0).await?;
    let owners = fleet.emissions().owners_at(from);
    let victim = owners["group-00"].clone();
    let held: Vec<String> = owners.iter().filter(|(_, n)| **n == victim).map(|(g, _)| g.clone()).collect();
    ensure!(held.len() >= 2, "{victim} owns {held:?}");
    let (stalled, moving) = (held[0].clone(), held[1].clone());

    let stop = AtomicBool::new(false);
    let end = Mutex::new(FIRST);
    let bs = fleet.broker.bootstrap();
    let run = workload(&bs, &moving, &stalled, interval_ms, &stop, &end);
    let started_ms = now_ms();
    let check = async {
        // At the old owner, the stalled group moved to its new commit (OK),
        // then stood still for a window (STALL); the moving one has a time lag.
        wait_for("the old owner's STALL and time lag", TIMEOUT, || async {
            let all = fleet.receiver.samples();
            let statuses = samples(&all, m::GROUP_STATUS, &stalled, None);
            let mut since = statuses.iter().filter(|s| s.0 > started_ms && s.2 == victim).map(|s| s.1);
            let stall = since.any(|v| v == 0.0) && since.any(|v| v == 3.0);
            let lag = samples(&all, m::PARTITION_LAG_SECONDS, &moving, Some("0"))
                .iter()
                .any(|s| s.0 > started_ms && s.1 > 0.5 && s.2 == victim);
            Ok((stall && lag).then_some(()))
        })
        .await
        .map_err(|e| e.context(fleet.logs()))?;
        let status = fleet.node(&victim).terminate(Duration::from_secs(30)).expect("exits");
        ensure!(status.success(), "graceful exit: {status:?}");
        let first_new = |all: &[RecordedSample], group: &str| {
            samples(all, m::PARTITION_LAG_SECONDS, group, Some("0")).into_iter().find(|s| s.2 != victim)
        };
        wait_for("the new owner's time lag", TIMEOUT, || async {
            let all = fleet.receiver.samples();
            Ok((first_new(&all, &moving).is_some() && first_new(&all, &stalled).is_some()).then_some(()))
        })
        .await
        .map_err(|e| e.context(fleet.logs()))?;
        // Two more slots, so both owners' last samples have arrived.
        let now = fleet.now_slot();
        wait_for("two more slots", TIMEOUT, || async { Ok((fleet.now_slot() > now + 2).then_some(())) }).await?;
        Ok::<_, anyhow::Error>(())
    };
    let (commits, checked) = tokio::join!(run, async {
        let r = check.await;
        stop.store(true, Ordering::SeqCst);
        r
    });
    checked?;
    let commits = commits?;
    let end = *end.lock().unwrap();
    let times = record_timestamps(&bs, TOPIC, 0, end).await?;
    let all = fleet.receiver.samples();
    let truth =
        |slot: i64, committed: i64| times.get(&committed).map_or(0.0, |ts| ((slot - ts) as f64 / 1000.0).max(0.0));
    let committed_at = |slot: i64| {
        ensure!(!commits.iter().any(|c| c.started_ms < slot && c.done_ms >= slot), "a commit was in flight at {slot}");
        Ok(commits.iter().rev().find(|c| c.done_ms < slot).map_or(FIRST, |c| c.offset))
    };

    for (group, committed) in [(&moving, None), (&stalled, Some(FIRST))] {
        let lags = samples(&all, m::PARTITION_LAG_SECONDS, group, Some("0"));
        assert!(lags.iter().all(|s| s.1.is_finite() && s.1 >= 0.0), "{lags:?}");
        let last_old = lags.iter().rev().find(|s| s.2 == victim).cloned().unwrap();
        let first_new = lags.iter().find(|s| s.2 != victim).cloned().unwrap();
        assert!(first_new.0 - last_old.0 <= interval_ms, "gap between owners: {last_old:?} -> {first_new:?}");
        let c_old = committed.map_or_else(|| committed_at(last_old.0), Ok)?;
        let c_new = committed.map_or_else(|| committed_at(first_new.0), Ok)?;
        let (t_old, t_new) = (truth(last_old.0, c_old), truth(first_new.0, c_new));
        println!(
            "{group}: old owner {} at slot {} emitted {:.3} s (truth {t_old:.3}); new owner {} at slot {} emitted {:.3} s (truth {t_new:.3})",
            last_old.2, last_old.0, last_old.1, first_new.2, first_new.0, first_new.1
        );
        assert!((first_new.1 - t_new).abs() <= interval_ms as f64 / 1000.0, "{group}: new owner off the truth");
        assert!((last_old.1 - t_old).abs() <= interval_ms as f64 / 1000.0, "{group}: old owner off the truth");
        assert!(t_new >= 1.0, "{group}: a real lag was handed over, truth {t_new}");
        // The caught-up partition stays exactly 0 across the move.
        let p1 = samples(&all, m::PARTITION_LAG_SECONDS, group, Some("1"));
        assert!(!p1.is_empty() && p1.iter().all(|s| s.1 == 0.0), "{p1:?}");
    }
    // The stalled group's window continues: still STALL at the new owner's
    // first slot (a window restarted there would read OK for 4 s).
    let statuses = samples(&all, m::GROUP_STATUS, &stalled, None);
    let last_old = statuses.iter().rev().find(|s| s.2 == victim).cloned().unwrap();
    let first_new = statuses.iter().find(|s| s.2 != victim).cloned().unwrap();
    println!("{stalled} status: old owner {last_old:?}, new owner first {first_new:?}");
    assert_eq!((last_old.1, first_new.1), (3.0, 3.0), "{statuses:?}");
    fleet.assert_no_duplicates();
    Ok(())
}
