//! Push sinks: lagring's series pushed in other systems' formats, any number
//! of sinks at once (the `sinks` config section).
//!
//! - [`config`]: the section and its validation.
//! - [`gate`]: change-gated sending and zero-bracketing per series (pure).
//! - [`naming`]: Wavefront line names and presets, `lagring` and `gorainbow` (pure).
//! - `metrics`: the `lagring_sink_*` traffic statistics per sink.
//! - [`sink`]: the non-blocking [`PushHandle`] and one [`PushWorker`] per sink,
//!   each with its own bounded queue and retries.
//! - `transport`, `wavefront`, [`otlp`], `kafka`: the network side of each
//!   destination (Wavefront line protocol over TCP, OTLP/HTTP protobuf, a
//!   Kafka topic).

pub mod config;
pub mod gate;
mod kafka;
mod metrics;
pub mod naming;
pub mod otlp;
pub mod sink;
mod transport;
mod wavefront;

pub use config::{KafkaSinkConfig, OtlpConfig, PushSinkConfig, WavefrontConfig, validate_sinks};
pub use kafka::KafkaFormat;
pub use naming::Naming;
pub use sink::{PushHandle, PushSinks, PushWorker};
