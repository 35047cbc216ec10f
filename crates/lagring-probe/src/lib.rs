//! lagring-probe: the Kafka side of the end-to-end availability probe (the
//! accounting itself is pure, in `lagring_core::probe`). One probe per
//! cluster runs on the node that owns the cluster's probe key; this crate
//! knows nothing about ownership, it is started and stopped.
//!
//! - [`settings`]: what one cluster's probe is configured with.
//! - [`topic`]: the monitor topic: created when missing, partitions added
//!   when brokers are added, leadership skew reported; missing permissions
//!   and unsupported APIs are health reasons, never a crash.
//! - [`produce`]: one record per partition per tick (sequence + produce time).
//! - [`consume`]: reads the topic from where the saved state left off and
//!   feeds the accounting.
//! - [`state`]: where the state a new owner resumes from is kept (the
//!   adapter to the fleet's shared store lives in the binary).
//! - [`probe`]: [`Probe`], one running probe: resume, catch up to the log
//!   end, then produce and consume until stopped; its accounting is read for
//!   the series and saved every slot.
//!
//! librdkafka does the producing and consuming: lagring's native client
//! only reads offsets.

pub mod consume;
pub mod error;
pub mod probe;
pub mod produce;
pub mod settings;
pub mod state;
pub mod topic;

pub use error::ProbeError;
pub use probe::{Probe, ProbeHealth};
pub use settings::ProbeSettings;
pub use state::{MemoryStateStore, StateStore};
