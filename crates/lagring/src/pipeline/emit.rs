//! The emit stage: every cluster's batches go to the local `/metrics`
//! collector and, when configured, into the remote-write queue and the push
//! sinks' queues. None of these calls waits on the network, so one slow
//! receiver never stalls a cluster, remote write or another sink.

use std::time::Instant;

use lagring_core::series::SeriesBatch;
use lagring_sink::LagCollector;
use lagring_sink::push::PushHandle;
use lagring_sink::remote_write::RemoteWriteHandle;
use tokio::sync::mpsc;

use crate::self_metrics::SelfMetrics;

/// Batches from all clusters wait here; emit only touches memory, so this
/// fills only if the process is starved of CPU.
pub const COMPUTE_TO_EMIT_CAPACITY: usize = 64;

pub async fn emit_loop(
    mut rx: mpsc::Receiver<SeriesBatch>,
    collector: LagCollector,
    remote: Option<RemoteWriteHandle>,
    push: Option<PushHandle>,
    metrics: SelfMetrics,
) {
    while let Some(batch) = rx.recv().await {
        let t = Instant::now();
        let cluster = batch.cluster.clone();
        if let Some(push) = &push {
            push.enqueue(&batch);
        }
        match &remote {
            Some(remote) => {
                collector.update(batch.clone());
                remote.enqueue(batch);
            }
            None => collector.update(batch),
        }
        metrics.stage(&cluster, "emit", t.elapsed());
    }
}
