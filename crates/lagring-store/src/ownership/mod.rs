//! Ownership in one place: who should fetch and emit which `(cluster, group)`,
//! and who may.
//!
//! - [`placement`]: the keys that are owned (`cluster/group`, and the
//!   per-cluster key that owns the cluster-wide series).
//! - [`ring_view`]: the ring of one cluster — live nodes, minus nodes that are
//!   leaving, nodes that cannot complete that cluster's iterations and, while
//!   a peer delivers, nodes whose remote write cannot deliver
//!   (hashing itself is `lagring_core::ownership::Ring`, pinned by a golden test).
//! - [`eligibility`]: a cluster's placement — the nodes eligible for its
//!   ring (label affinity, a static list of ids) and the fallback without one.
//! - [`cluster_health`]: when a node leaves and rejoins a cluster's ring.
//! - [`reachability`]: below the cluster level — the groups a node gives up
//!   while it alone cannot reach a broker they need; [`key_placement`]
//!   places them on the ring without that node.
//! - [`restart_hold`]: a node restarting under the same id stays on the
//!   rings for a grace, so its groups wait for it instead of moving twice.
//! - [`fence`]: when a node may claim at all (store epoch changes, a
//!   duplicate node id).
//! - [`tracker`]: [`ClusterOwnership`], the per-cluster lease bookkeeping
//!   over the abstract [`crate::CoordinationStore`]: claim for a slot, emit,
//!   hand over after the slot, ride out store outages on local lease expiry.
//!
//! Invariant: a key is emitted for slot `s` only by the process holding its
//! lease for `s` — claimed (or renewed) for `s` and valid by the holder's own
//! monotonic clock, which never outlasts the store's expiry. A planned move
//! hands the lease over after the slot in which the old owner emits last.

pub mod cluster_health;
pub mod eligibility;
pub mod fence;
pub mod key_placement;
pub mod placement;
pub mod reachability;
pub mod restart_hold;
pub mod ring_view;
pub mod tracker;

pub use cluster_health::ClusterHealthGate;
pub use eligibility::{Fallback, Placement, RingChoice};
pub use fence::Fence;
pub use key_placement::KeyPlacement;
pub use placement::{cluster_series_key, group_key, group_of_key};
pub use reachability::{IterationReach, ReachabilityGate};
pub use restart_hold::RestartHold;
pub use ring_view::{SelfState, cluster_ring, placed_ring};
pub use tracker::{ClusterOwnership, NodeView, SyncReport};
