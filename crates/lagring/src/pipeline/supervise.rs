//! Supervision of the node's critical tasks: a task that ends before
//! shutdown — by panic, by error or by simply returning — is a death. The
//! first death is reported to [`Health`] (so `/healthz` and `/livez` answer
//! 503 with the reason) and wakes the node's main loop, which then drains and
//! exits non-zero. Nothing is noticed only at SIGTERM.

use std::future::Future;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::health::Health;

/// Room for every task to report; later reports are dropped (the first one
/// decides the exit reason anyway).
const DEATH_REPORTS: usize = 16;

/// Watches critical tasks and reports the first unexpected end.
#[derive(Debug)]
pub struct Supervisor {
    health: Health,
    stopping: CancellationToken,
    died_tx: mpsc::Sender<String>,
    died_rx: tokio::sync::Mutex<mpsc::Receiver<String>>,
}

impl Supervisor {
    pub fn new(health: Health) -> Self {
        let (died_tx, died_rx) = mpsc::channel(DEATH_REPORTS);
        Self { health, stopping: CancellationToken::new(), died_tx, died_rx: tokio::sync::Mutex::new(died_rx) }
    }

    /// Wraps `task` so that its end before [`Supervisor::stopping`] is
    /// reported as a death of `name`. The wrapper itself never panics.
    pub fn watch<F>(&self, name: &'static str, task: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future<Output = Result<(), String>> + Send + 'static,
    {
        let inner = tokio::spawn(task.in_current_span());
        let (stopping, died, health) = (self.stopping.clone(), self.died_tx.clone(), self.health.clone());
        async move {
            let reason = match inner.await {
                Ok(Ok(())) if stopping.is_cancelled() => return,
                Ok(Ok(())) => format!("{name} task ended unexpectedly"),
                Ok(Err(e)) => format!("{name}: {e}"),
                Err(e) if e.is_panic() => format!("{name} task panicked: {}", panic_message(e)),
                Err(e) => format!("{name} task was cancelled: {e}"),
            };
            if stopping.is_cancelled() {
                tracing::error!(%reason, "task failed during shutdown");
                return;
            }
            health.set_fatal(reason.clone());
            let _ = died.try_send(reason);
        }
    }

    /// Spawns a watched task.
    pub fn spawn<F>(&self, name: &'static str, task: F) -> JoinHandle<()>
    where
        F: Future<Output = Result<(), String>> + Send + 'static,
    {
        tokio::spawn(self.watch(name, task))
    }

    /// Resolves with the reason of the first death.
    pub async fn first_death(&self) -> String {
        match self.died_rx.lock().await.recv().await {
            Some(reason) => reason,
            // The supervisor holds a sender itself, so the channel never closes.
            None => std::future::pending().await,
        }
    }

    /// From now on, tasks ending is expected.
    pub fn stopping(&self) {
        self.stopping.cancel();
    }

    /// Waits for a watched task's wrapper (deaths were reported by it).
    pub async fn join(&self, name: &'static str, task: JoinHandle<()>) {
        if let Err(e) = task.await {
            tracing::error!(task = name, error = %e, "supervision wrapper failed");
        }
    }
}

fn panic_message(e: tokio::task::JoinError) -> String {
    let payload = e.into_panic();
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_panicking_task_is_reported_with_its_message_and_marks_the_node_dead() {
        let health = Health::new(["c".to_owned()], Duration::from_secs(30));
        let s = Supervisor::new(health.clone());
        let _quiet = s.spawn("quiet", std::future::pending());
        let _dying = s.spawn("emit", async {
            #[allow(clippy::panic)]
            {
                panic!("boom")
            }
        });
        let reason = tokio::time::timeout(Duration::from_secs(10), s.first_death()).await.unwrap();
        assert_eq!(reason, "emit task panicked: boom");
        assert_eq!(health.fatal().as_deref(), Some("emit task panicked: boom"));
    }

    #[tokio::test]
    async fn returning_early_is_a_death_but_ending_after_stopping_is_not() {
        let health = Health::new(Vec::<String>::new(), Duration::from_secs(30));
        let s = Supervisor::new(health.clone());
        let early = s.spawn("http server", async { Err("bind lost".to_owned()) });
        s.join("http server", early).await;
        assert_eq!(health.fatal().as_deref(), Some("http server: bind lost"));

        let health = Health::new(Vec::<String>::new(), Duration::from_secs(30));
        let s = Supervisor::new(health.clone());
        s.stopping();
        let late = s.spawn("heartbeat", async { Ok(()) });
        s.join("heartbeat", late).await;
        assert_eq!(health.fatal(), None);
    }
}
