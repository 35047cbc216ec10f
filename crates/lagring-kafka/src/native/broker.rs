//! One broker: its address, a lazily opened connection and the API versions it advertised.
//!
//! The first request opens the connection (TLS when configured), sends ApiVersions and, when
//! configured, authenticates with SASL; concurrent callers share that attempt. A failed attempt, or a request that times out (the connection is then closed, as
//! the broker may be stuck behind it), starts a capped exponential backoff during which requests
//! to this broker fail at once instead of reconnecting in a loop. A successful handshake resets
//! it.
//!
//! A broker that states a SASL session lifetime (KIP-368) closes the connection at its end; the
//! session is therefore replaced by a new connection (and login) at [`REAUTH_AT`] of that
//! lifetime, while requests in flight finish on the old one.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};
use kafka_protocol::protocol::{Request, StrBytes};
use tokio::sync::OnceCell;

use super::aws_credentials::AwsCredentials;
use super::connection::Connection;
use super::error::WireError;
use super::oauthbearer::Tokens;
use super::sasl::authenticate;
use super::tls::TlsSettings;
use super::versions::{API_VERSIONS, Versions};
use super::wire::{decode_response, encode_request};
use crate::config::Sasl;
use crate::stats::{Api, Counters};

/// First reconnect delay; doubled per consecutive failure up to [`BACKOFF_MAX`].
const BACKOFF_BASE: Duration = Duration::from_millis(100);
/// Longest reconnect delay (librdkafka's `reconnect.backoff.max.ms` is 10 s; lagring polls
/// every few seconds, so a recovered broker should rejoin within one iteration or two).
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Share of a broker's SASL session lifetime after which a new connection logs in.
const REAUTH_AT: f64 = 0.8;

/// An open, negotiated connection.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) connection: Connection,
    pub(crate) versions: Versions,
    /// When a new connection must replace this one (the broker's session lifetime, KIP-368).
    pub(crate) renew_at: Option<Instant>,
}

impl Session {
    fn usable(&self) -> bool {
        !self.connection.is_closed() && self.renew_at.is_none_or(|at| Instant::now() < at)
    }
}

type Attempt = Arc<OnceCell<Result<Arc<Session>, WireError>>>;

#[derive(Default)]
struct State {
    attempt: Option<Attempt>,
    failures: u32,
    retry_at: Option<Instant>,
    /// Why the last attempt failed, repeated while backing off so the reason stays visible.
    last_error: Option<String>,
    /// Requests since the last [`Broker::take_seen`]: answered, and failed at the transport
    /// level (with the last such failure).
    seen: Seen,
}

/// What requests to one broker met since the last [`Broker::take_seen`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) answered: u64,
    pub(crate) failed: u64,
    pub(crate) last_failure: Option<String>,
}

/// How every connection of a cluster is set up: the same for all its brokers.
#[derive(Debug)]
pub(crate) struct Setup {
    pub(crate) tls: Option<TlsSettings>,
    pub(crate) sasl: Option<Sasl>,
    /// OAUTHBEARER tokens, shared by the cluster's brokers.
    pub(crate) tokens: Option<Arc<Tokens>>,
    /// AWS_MSK_IAM credentials, shared by the cluster's brokers.
    pub(crate) aws: Option<Arc<AwsCredentials>>,
    /// Largest response frame accepted (`NativeOptions::max_response_frame_bytes`).
    pub(crate) max_frame: usize,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            tls: None,
            sasl: None,
            tokens: None,
            aws: None,
            max_frame: crate::config::DEFAULT_MAX_RESPONSE_FRAME_BYTES,
        }
    }
}

pub(crate) struct Broker {
    pub(crate) addr: String,
    counters: Arc<Counters>,
    setup: Arc<Setup>,
    /// A `std` mutex: held only to read or swap the attempt, never across an `.await`.
    state: Mutex<State>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Broker {
    pub(crate) fn new(addr: String, counters: Arc<Counters>, setup: Arc<Setup>) -> Self {
        Broker { addr, counters, setup, state: Mutex::default() }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the last attempt failed and its backoff has not ended.
    pub(crate) fn in_backoff(&self) -> bool {
        self.state().retry_at.is_some_and(|at| Instant::now() < at)
    }

    /// The open session, or a new one within `timeout`.
    pub(crate) async fn session(&self, timeout: Duration) -> Result<Arc<Session>, WireError> {
        let attempt = {
            let mut state = self.state();
            let current = state.attempt.clone();
            match current.as_ref().map(|a| a.get()) {
                Some(Some(Ok(session))) if session.usable() => return Ok(session.clone()),
                // Someone is connecting: wait for the same attempt.
                Some(None) => current.unwrap_or_default(),
                _ => {
                    if let Some(retry_in) = state.retry_at.and_then(|at| at.checked_duration_since(Instant::now())) {
                        let cause = state.last_error.clone().unwrap_or_else(|| "request timed out".to_owned());
                        return Err(WireError::Backoff { addr: self.addr.clone(), retry_in, cause });
                    }
                    let fresh = Attempt::default();
                    state.attempt = Some(fresh.clone());
                    fresh
                }
            }
        };
        let opened = attempt.get_or_init(|| async { self.open(timeout).await.map(Arc::new) });
        match tokio::time::timeout(timeout, opened).await {
            Ok(result) => result.clone(),
            Err(_) => Err(WireError::Timeout(timeout)),
        }
    }

    /// Connects and negotiates versions; records success or failure for the backoff.
    async fn open(&self, timeout: Duration) -> Result<Session, WireError> {
        let started = Instant::now();
        let result = async {
            let setup = &self.setup;
            let connection = Connection::open(&self.addr, timeout, setup.tls.as_ref(), setup.max_frame).await?;
            let request = ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("lagring"))
                .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
            self.counters.requests(Api::Versions, 1);
            let remaining = timeout.saturating_sub(started.elapsed());
            let frame = connection.round_trip(|id| encode_request(&request, API_VERSIONS, id), remaining).await?;
            // The response header of ApiVersions is always v0: the correlation id only.
            let body = frame.slice(4.min(frame.len())..);
            let versions = Versions::decode(body, API_VERSIONS).map_err(|e| e.at_broker(&self.addr))?;
            let mut renew_at = None;
            if let Some(sasl) = &setup.sasl {
                let left = timeout.saturating_sub(started.elapsed());
                let lifetime = authenticate(&connection, &versions, sasl, setup, &self.addr, left)
                    .await
                    .map_err(|e| e.at_broker(&self.addr))?;
                renew_at = lifetime.map(|l| Instant::now() + l.mul_f64(REAUTH_AT));
            }
            Ok(Session { connection, versions, renew_at })
        }
        .await;
        match &result {
            Ok(_) => self.succeeded(),
            Err(error) => {
                if !matches!(error, WireError::Connect { .. } | WireError::Auth { .. }) {
                    self.counters.errors(Api::Versions, 1);
                }
                self.failed(error);
            }
        }
        result
    }

    fn succeeded(&self) {
        let mut state = self.state();
        state.failures = 0;
        state.retry_at = None;
        state.last_error = None;
    }

    /// Starts (or lengthens) the reconnect backoff after `error`.
    fn failed(&self, error: &WireError) {
        let mut state = self.state();
        state.last_error = Some(error.to_string());
        state.failures = state.failures.saturating_add(1);
        let exponent = state.failures.saturating_sub(1).min(16);
        let delay = BACKOFF_BASE.saturating_mul(1 << exponent).min(BACKOFF_MAX);
        state.retry_at = Some(Instant::now() + delay);
    }

    /// Sends the request `build` makes for the negotiated version of `R` and decodes the answer,
    /// all within `timeout`. A timeout closes the connection and starts the backoff. The outcome
    /// is counted for [`Broker::take_seen`].
    pub(crate) async fn request<R: Request>(
        &self,
        timeout: Duration,
        build: impl FnOnce(i16) -> R,
    ) -> Result<(i16, R::Response), WireError> {
        let result = self.request_once(timeout, build).await;
        self.see(result.as_ref().err());
        result
    }

    /// Counts one request's outcome: a transport failure (no connection, no answer in time,
    /// backing off, login refused, a frame too large or cut, which closes the connection), or an
    /// answer (an error code or a malformed body included).
    fn see(&self, error: Option<&WireError>) {
        let mut state = self.state();
        match error {
            None | Some(WireError::Broker { .. } | WireError::Decode(_) | WireError::Unsupported { .. }) => {
                state.seen.answered = state.seen.answered.saturating_add(1);
            }
            Some(
                e @ (WireError::Connect { .. }
                | WireError::Closed
                | WireError::Timeout(_)
                | WireError::Backoff { .. }
                | WireError::Auth { .. }
                | WireError::FrameTooLarge { .. }
                | WireError::Frame { .. }),
            ) => {
                state.seen.failed = state.seen.failed.saturating_add(1);
                state.seen.last_failure = Some(e.to_string());
            }
            Some(WireError::Encode(_) | WireError::NoBroker) => {}
        }
    }

    /// What requests met since the last call, and starts counting afresh.
    pub(crate) fn take_seen(&self) -> Seen {
        std::mem::take(&mut self.state().seen)
    }

    async fn request_once<R: Request>(
        &self,
        timeout: Duration,
        build: impl FnOnce(i16) -> R,
    ) -> Result<(i16, R::Response), WireError> {
        let started = Instant::now();
        let session = self.session(timeout).await?;
        let api = ApiKey::try_from(R::KEY).map_err(|()| WireError::Unsupported { api: "an unknown api" })?;
        let version = session.versions.pick(api)?;
        let request = build(version);
        let remaining = timeout.saturating_sub(started.elapsed());
        let frame =
            session.connection.round_trip(|id| encode_request(&request, version, id), remaining).await.inspect_err(
                |error| {
                    if error.ends_connection() {
                        session.connection.close();
                        self.failed(error);
                    }
                },
            )?;
        let response = decode_response::<R>(frame, version).map_err(|e| e.at_broker(&self.addr))?;
        Ok((version, response))
    }

    /// The version of `api` this broker and client share, connecting if needed.
    pub(crate) async fn version(&self, api: ApiKey, timeout: Duration) -> Result<i16, WireError> {
        self.session(timeout).await?.versions.pick(api)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_backs_off_then_retries() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let broker = Broker::new(addr, Arc::default(), Arc::default());
        let first = broker.session(Duration::from_secs(1)).await.unwrap_err();
        assert!(matches!(first, WireError::Connect { .. }), "{first}");
        let second = broker.session(Duration::from_secs(1)).await.unwrap_err();
        assert!(matches!(second, WireError::Backoff { .. }), "{second}");
        assert!(broker.in_backoff());
    }

    #[tokio::test]
    async fn transport_failures_are_counted_until_taken() {
        use kafka_protocol::messages::MetadataRequest;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let broker = Broker::new(addr.clone(), Arc::default(), Arc::default());
        let ask = || broker.request::<MetadataRequest>(Duration::from_secs(1), |_| MetadataRequest::default());
        assert!(matches!(ask().await.unwrap_err(), WireError::Connect { .. }));
        assert!(matches!(ask().await.unwrap_err(), WireError::Backoff { .. }));
        let seen = broker.take_seen();
        assert_eq!((seen.answered, seen.failed), (0, 2));
        let last = seen.last_failure.unwrap();
        assert!(last.starts_with(&format!("broker {addr} unavailable (connect to {addr} failed: ")), "{last}");
        assert_eq!(broker.take_seen(), Seen::default(), "counting starts afresh");
    }
}
