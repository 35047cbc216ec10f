//! The coordination self metrics (`lagring_ring_nodes`, the fence, the
//! store's health, placement), registered once per node; kept apart from
//! the coordination logic in `coordination.rs` that updates them.

use prometheus::{IntCounter, IntGauge, IntGaugeVec, Opts, Registry};

/// Coordination self metrics.
#[derive(Debug, Clone)]
pub struct CoordinationMetrics {
    pub ring_nodes: IntGauge,
    pub ownership_changes: IntCounter,
    pub redis_errors: IntCounter,
    pub degraded: IntGauge,
    pub epoch_changes: IntCounter,
    pub claims_blocked: IntGauge,
    pub duplicate_id: IntGauge,
    /// Per cluster: 1 while no live node is eligible for it under its
    /// placement and its fallback is `none` (nobody measures it).
    pub cluster_unplaced: IntGaugeVec,
}

impl CoordinationMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let gauge = |name: &str, help: &str| -> Result<IntGauge, prometheus::Error> {
            let g = IntGauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let counter = |name: &str, help: &str| -> Result<IntCounter, prometheus::Error> {
            let c = IntCounter::new(name, help)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        Ok(Self {
            ring_nodes: gauge("lagring_ring_nodes", "Live nodes on the ownership ring as last seen")?,
            ownership_changes: counter("lagring_ownership_changes_total", "Groups gained or lost by this node")?,
            redis_errors: counter("lagring_redis_errors_total", "Failed coordination-store calls")?,
            degraded: gauge("lagring_coordination_degraded", "1 while the coordination store is unreachable")?,
            epoch_changes: counter(
                "lagring_store_epoch_changes_total",
                "Times the coordination store was seen to start a new epoch (it may have lost leases)",
            )?,
            claims_blocked: gauge(
                "lagring_claims_blocked",
                "1 while this node may not claim leases (waiting out an epoch change, or duplicate node id)",
            )?,
            duplicate_id: gauge("lagring_duplicate_node_id", "1 while another live process uses this node id")?,
            cluster_unplaced: {
                let help = "1 while no live node matches the cluster's placement and its fallback is none: its groups are not measured";
                let g = IntGaugeVec::new(Opts::new("lagring_cluster_unplaced", help), &["cluster"])?;
                registry.register(Box::new(g.clone()))?;
                g
            },
        })
    }
}
