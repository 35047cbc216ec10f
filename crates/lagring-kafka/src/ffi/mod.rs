//! librdkafka admin APIs that the safe `rdkafka` API lacks, called through
//! `rdkafka::bindings`: ListConsumerGroups, ListConsumerGroupOffsets and
//! ListOffsets. This is the only module of lagring that may use `unsafe`.
//!
//! - [`raw`]: C-string and error-code helpers; error codes are read as plain
//!   integers because a broker may send a code this librdkafka does not know,
//!   and such a value in the bindings' Rust enum would be undefined behaviour.
//! - [`guards`]: one RAII guard per raw handle (admin options, queue, event,
//!   partition list, group request), each freeing it in `Drop` and borrowing
//!   the `AdminClient` so the `rd_kafka_t` outlives it.
//! - [`groups`]: group listing and committed offsets (a sliding window of
//!   single-group requests on one private queue).
//! - [`offsets`]: earliest/latest log offsets, many calls (per spec, leader
//!   and chunk) all on one private queue.
//! - [`oauthbearer`]: OAUTHBEARER tokens set into librdkafka.
//! - [`main_queue`]: librdkafka's log lines and global errors, served after
//!   every call (the login failures they name explain request errors).
//!
//! The admin calls block; callers run them in `spawn_blocking`. Each one
//! stops at its `deadline` even if librdkafka never answers. The
//! OAUTHBEARER calls never wait.
#![allow(unsafe_code)]

mod groups;
mod guards;
mod main_queue;
mod oauthbearer;
mod offsets;
mod raw;

use rdkafka::admin::AdminClient;

pub(crate) use groups::{RawCommit, committed_offsets, list_groups};
pub(crate) use main_queue::serve_main_queue;
pub use main_queue::{admin_main_queue_length, serve_admin_main_queue};
pub(crate) use oauthbearer::{set_oauthbearer_failure, set_oauthbearer_token};
pub(crate) use offsets::{RawCall, RawOffset, RawSpec, list_offsets};

/// The admin client whose `rd_kafka_t` the raw calls use.
pub(crate) type Admin = AdminClient<crate::librdkafka::login::LoginContext>;
