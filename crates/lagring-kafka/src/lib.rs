//! Kafka adapter for lagring: which consumer groups exist, what they
//! committed, and where each partition's log starts and ends.
//!
//! The adapter is deliberately thin: it turns Kafka answers into
//! `lagring-core` model types and errors with context, and nothing else (no
//! lag math, no filtering). Two clients answer the same calls: librdkafka
//! admin calls, and a native Kafka protocol client with batched requests.
//!
//! - `kafka_client`: [`KafkaClient`], the async API, dispatching to the
//!   client chosen by [`ClientKind`].
//! - [`config`]: connection settings and their pure mapping to librdkafka
//!   properties ([`client_properties`]).
//! - [`answers`]: the answer types both clients return (group listings,
//!   offset specs, what was seen of each broker).
//! - `librdkafka`: the librdkafka client. Every blocking librdkafka call runs
//!   in `spawn_blocking` under an outer `tokio::time::timeout`, on top of
//!   librdkafka's own per-request timeout. With OAUTHBEARER it hands librdkafka
//!   the tokens of the native client's token source (`librdkafka/oauthbearer.rs`).
//! - `native`: the native client on tokio and `kafka-protocol` (FindCoordinator
//!   v4 and OffsetFetch v8 batches); see docs/native-client.md.
//! - `commits`: committed-offset entries to model maps, shared by both.
//! - [`ffi`]: the admin APIs the safe `rdkafka` API lacks (ListConsumerGroups,
//!   ListConsumerGroupOffsets, ListOffsets), and OAUTHBEARER token hand-over. The only module with `unsafe`;
//!   every raw handle is owned by an RAII guard.
//! - [`error`]: [`KafkaError`], each variant naming the cluster and, where it
//!   applies, the group, partition and API.
//! - [`record_time`]: produce times of the records at committed offsets (native client only),
//!   for exact time lag.
//! - [`aws`]: `AWS_MSK_IAM` settings and the AWS credential chain's choice of source.
//! - [`stats`]: [`RequestStats`], request and error counters for self metrics.

pub mod answers;
pub mod aws;
mod commits;
pub mod config;
pub mod error;
mod ffi;
pub mod group_types;
mod kafka_client;
mod librdkafka;
mod native;
pub mod record_time;
pub mod stats;

pub use answers::{BrokerSeen, GroupList, GroupListing, OffsetSpec};
pub use aws::{AwsChainOverrides, AwsCredentialSource, AwsKeys, MskIam};
pub use config::{
    ClientKind, ClientSecret, Gssapi, Isolation, KafkaConnection, NativeOptions, OAuthBearer, OidcClientCredentials,
    Sasl, SaslMechanism, Tls, client_properties, librdkafka_has_gssapi, librdkafka_has_oauthbearer,
};
pub use error::KafkaError;
pub use ffi::{admin_main_queue_length, serve_admin_main_queue};
pub use group_types::{GroupDescription, GroupType, PartitionOwner};
pub use kafka_client::KafkaClient;
pub use record_time::{RecordTime, RecordTimeOptions, RecordTimes};
pub use stats::{ApiCounts, RequestStats};
