//! Real servers for lagring's tests, each on a free loopback port in its own
//! temporary directory and stopped when its guard is dropped.
//!
//! - [`ports`]: free loopback ports and polling with a deadline (no sleeps as
//!   synchronisation).
//! - [`process`]: a child-process guard that kills the server on drop and keeps
//!   its log for failure messages.
//! - [`timed_records`]: records with known timestamps, commits from one
//!   client, and record timestamps read back, for time-lag tests.
//! - [`token_endpoint`]: a local OIDC token endpoint minting JWTs for
//!   OAUTHBEARER tests.
//! - [`kdc`]: a Kerberos realm of its own (krb5kdc, keytabs, ticket cache) and a
//!   child process per test that runs in it, for GSSAPI tests.
//! - [`aws_credentials_endpoint`]: local STS and container credential endpoints
//!   for AWS_MSK_IAM tests.
//!
//! This crate is test support and never linked into the service, so it uses
//! `anyhow` and may fail loudly.

pub mod aws_credentials_endpoint;
pub mod certs;
pub mod emissions;
pub mod ground_truth;
pub mod kafka_fixtures;
pub mod kdc;
pub mod lagring_node;
pub mod metrics_text;
pub mod netfilter;
pub mod ports;
pub mod process;
pub mod prometheus;
pub mod receiver;
pub mod redis;
pub mod redis_ha;
pub mod tansu;
pub mod timed_records;
pub mod token_endpoint;
