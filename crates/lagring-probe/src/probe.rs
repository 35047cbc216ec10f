//! [`Probe`]: one running probe of one cluster, from the moment its owner
//! starts it to the moment it stops it. Start order matters for the
//! accounting across owners: the consumer resumes from the saved state and
//! reads up to the log end (bounded by `catch_up_timeout`) *before* the
//! producer sends anything, so records the previous owner produced are
//! consumed (not lost) and their sequences are not sent again (not
//! duplicated). Stop order mirrors it: the producer stops, the consumer
//! reads what is left (bounded), then the state is final.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lagring_core::lag_series::LabelOptions;
use lagring_core::probe::{ProbeAccounting, ProbeState, series::probe_samples};
use lagring_core::series::Sample;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::consume::ConsumeService;
use crate::error::ProbeError;
use crate::produce::ProduceService;
use crate::settings::ProbeSettings;
use crate::topic::TopicManager;

/// How often catch-up looks at the consumer's progress.
const CATCH_UP_POLL: Duration = Duration::from_millis(50);

/// Locks the accounting; a poisoned lock (a panic elsewhere) still holds usable counts.
pub(crate) fn lock(acc: &Mutex<ProbeAccounting>) -> MutexGuard<'_, ProbeAccounting> {
    acc.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Wall-clock milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// Why the probe is not fully working (empty: it is).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProbeHealth {
    pub reasons: Vec<String>,
}

/// A running probe.
#[derive(Debug)]
pub struct Probe {
    settings: Arc<ProbeSettings>,
    accounting: Arc<Mutex<ProbeAccounting>>,
    consume: ConsumeService,
    health: Arc<Mutex<ProbeHealth>>,
    produce_stop: CancellationToken,
    stop: CancellationToken,
    producing: TaskTracker,
    tasks: TaskTracker,
}

impl Probe {
    /// Starts the probe from `resumed` (the previous owner's state) or from
    /// nothing. Returns at once; topic check, catch-up and producing run in
    /// the background.
    pub fn start(settings: ProbeSettings, resumed: Option<ProbeState>) -> Result<Self, ProbeError> {
        let settings = Arc::new(settings);
        let was_resumed = resumed.is_some();
        let accounting = Arc::new(Mutex::new(match resumed {
            Some(state) => ProbeAccounting::resume(settings.accounting, state),
            None => ProbeAccounting::new(settings.accounting),
        }));
        let topics = TopicManager::new(settings.clone())?;
        let consume = ConsumeService::new(settings.clone(), accounting.clone())?;
        let produce = ProduceService::new(settings.clone(), accounting.clone(), Arc::new(AtomicI32::new(0)))?;
        let probe = Self {
            settings,
            accounting,
            consume,
            health: Arc::default(),
            produce_stop: CancellationToken::new(),
            stop: CancellationToken::new(),
            producing: TaskTracker::new(),
            tasks: TaskTracker::new(),
        };
        probe.spawn(topics, produce, was_resumed);
        Ok(probe)
    }

    fn spawn(&self, topics: TopicManager, produce: ProduceService, resumed: bool) {
        let partitions = produce.partitions();
        let (stop, produce_stop) = (self.stop.clone(), self.produce_stop.clone());
        let (health, accounting) = (self.health.clone(), self.accounting.clone());
        let check_every = self.settings.topic_check_interval;
        let consume = self.consume.clone();
        let catch_up_timeout = self.settings.catch_up_timeout;
        let producing = self.producing.clone();
        let tasks = self.tasks.clone();
        let mut produce = Some(produce);
        self.tasks.spawn(async move {
            // The topic must exist before anything else makes sense.
            let mut check = tokio::time::interval(check_every);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = check.tick() => {}
                }
                let status = topics.ensure().await;
                for reason in &status.reasons {
                    tracing::warn!(%reason, "monitor topic");
                }
                lock_health(&health).reasons = status.reasons;
                if status.partitions > partitions.load(Ordering::Acquire) {
                    let mut acc = lock(&accounting);
                    acc.ensure_partitions(status.partitions);
                    if status.created {
                        acc.read_from_start();
                    }
                    drop(acc);
                    partitions.store(status.partitions, Ordering::Release);
                }
                if status.partitions > 0
                    && let Some(produce) = produce.take()
                {
                    tasks.spawn(consume.clone().run(partitions.clone(), stop.clone()));
                    if resumed {
                        catch_up(&consume, &accounting, status.partitions, catch_up_timeout).await;
                    }
                    producing.spawn(produce_until(produce, produce_stop.clone()));
                    producing.close();
                }
            }
        });
        self.tasks.close();
    }

    /// The probe's series at `now_ms`.
    pub fn samples(&self, labels: &LabelOptions, now_ms: i64) -> Vec<Sample> {
        probe_samples(&lock(&self.accounting), &self.settings.cluster, labels, now_ms)
    }

    /// A copy of the accounting state (to save), after committing its offsets to the probe's group.
    pub fn state(&self) -> ProbeState {
        self.consume.commit();
        lock(&self.accounting).state().clone()
    }

    /// A copy of the accounting as it is now (tests, diagnostics).
    pub fn accounting(&self) -> ProbeAccounting {
        lock(&self.accounting).clone()
    }

    pub fn health(&self) -> ProbeHealth {
        lock_health(&self.health).clone()
    }

    /// Stops producing, lets the consumer read what was produced (within
    /// `drain`), stops everything and returns the final state.
    pub async fn stop(self, drain: Duration) -> ProbeState {
        let started = Instant::now();
        self.produce_stop.cancel();
        self.producing.close();
        if tokio::time::timeout(drain, self.producing.wait()).await.is_err() {
            tracing::warn!("probe producer did not stop in time");
        }
        let partitions = i32::try_from(lock(&self.accounting).partitions().count()).unwrap_or(0);
        let left = drain.saturating_sub(started.elapsed());
        catch_up(&self.consume, &self.accounting, partitions, left).await;
        self.stop.cancel();
        let state = self.state();
        if tokio::time::timeout(drain.saturating_sub(started.elapsed()), self.tasks.wait()).await.is_err() {
            tracing::warn!("probe tasks did not stop in time");
        }
        state
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.produce_stop.cancel();
        self.stop.cancel();
    }
}

async fn produce_until(produce: ProduceService, stop: CancellationToken) {
    produce.run(stop).await;
}

fn lock_health(h: &Mutex<ProbeHealth>) -> MutexGuard<'_, ProbeHealth> {
    h.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits (at most `timeout`) until the consumer has accounted every record
/// below the high watermarks of now; false if it did not get there.
async fn catch_up(consume: &ConsumeService, acc: &Mutex<ProbeAccounting>, partitions: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let Ok(Ok(targets)) = tokio::time::timeout(timeout, consume.high_watermarks(partitions)).await else {
        tracing::warn!("cannot read the monitor topic's log end; producing without catching up");
        return false;
    };
    loop {
        let behind: Vec<i32> = {
            let acc = lock(acc);
            let at: std::collections::BTreeMap<i32, Option<i64>> =
                acc.partitions().map(|(p, s)| (p, s.consume_offset)).collect();
            targets
                .iter()
                .filter(|(p, high)| **high > 0 && at.get(p).copied().flatten().is_some_and(|o| o < **high))
                .map(|(p, _)| *p)
                .collect()
        };
        if behind.is_empty() {
            return true;
        }
        if Instant::now() >= deadline {
            tracing::warn!(?behind, "probe consumer did not reach the log end in time");
            return false;
        }
        tokio::time::sleep(CATCH_UP_POLL).await;
    }
}
