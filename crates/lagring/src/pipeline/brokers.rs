//! Broker reachability of one cluster, after each iteration: what the Kafka
//! client saw of each broker (native client: every request to it answered, or
//! one failed at the transport level) becomes `lagring_broker_up{cluster,
//! broker}` (broker = Kafka node id) and, through [`Health::brokers`], a
//! `degraded` entry of `/healthz` naming cluster and broker. A broker the
//! iteration sent nothing has no gauge until it is contacted again. The
//! librdkafka client reports no brokers, so neither appears with it.

use std::collections::BTreeSet;
use std::sync::Arc;

use lagring_kafka::BrokerSeen;

use crate::health::Health;
use crate::self_metrics::SelfMetrics;

/// The brokers of one cluster reported so far; kept across iterations.
#[derive(Debug)]
pub struct BrokerWatch {
    cluster: Arc<str>,
    /// Brokers with a gauge, and the ones of them last seen unreachable.
    reported: BTreeSet<i32>,
    down: BTreeSet<i32>,
}

impl BrokerWatch {
    pub fn new(cluster: Arc<str>) -> Self {
        Self { cluster, reported: BTreeSet::new(), down: BTreeSet::new() }
    }

    /// Records one iteration's `seen` in the gauge and in `health`; logs a
    /// broker once when it becomes unreachable and once when it is back.
    pub fn record(&mut self, seen: &[BrokerSeen], metrics: &SelfMetrics, health: &Health) {
        let cluster = &*self.cluster;
        let now: BTreeSet<i32> = seen.iter().map(|b| b.id).collect();
        for gone in self.reported.difference(&now) {
            if let Err(error) = metrics.broker_up.remove_label_values(&[cluster, &gone.to_string()]) {
                tracing::debug!(broker = gone, %error, "no broker gauge to remove");
            }
        }
        let mut down = BTreeSet::new();
        for b in seen {
            let up = b.reachable();
            metrics.broker_up.with_label_values(&[cluster, &b.id.to_string()]).set(i64::from(up));
            if !up {
                down.insert(b.id);
                if !self.down.contains(&b.id) {
                    let error = b.last_failure.as_deref().unwrap_or("no answer");
                    tracing::warn!(broker = b.id, addr = %b.addr, failed = b.failed, %error, "broker unreachable");
                }
            } else if self.down.contains(&b.id) {
                tracing::info!(broker = b.id, addr = %b.addr, "broker reachable again");
            }
        }
        health.brokers(cluster, seen);
        self.reported = now;
        self.down = down;
    }
}
