//! SASL of the native client: SaslHandshake v1 names the mechanism, then SaslAuthenticate
//! carries the mechanism's messages (KIP-152), on every new connection right after ApiVersions
//! and before any other request.
//!
//! PLAIN is one message. SCRAM-SHA-256/512 (RFC 5802, KIP-84) is client-first, server-first,
//! client-final, server-final; the message logic is the `sasl` crate's, and the server's final
//! signature is verified, so a broker that does not know the password cannot pass for one that
//! does. A rejected login is a [`WireError::Auth`] naming the mechanism, the user and the
//! broker's own message; the broker's connection is then in backoff like any failed connect.
//!
//! OAUTHBEARER (RFC 7628, KIP-255) sends one message with a token from the cluster's
//! [`Tokens`]. A broker that refuses a token may answer with an error challenge (a JSON status)
//! instead of an error code; the client then sends the single `\x01` RFC 7628 §3.2.3 asks for
//! and reports the broker's final error with the challenge.
//!
//! When the broker states a session lifetime (SaslAuthenticate v1+, KIP-368), it is returned so
//! the broker's connection is replaced before the session ends.
//!
//! The broker chooses the PBKDF2 iteration count of SCRAM. It is checked against Kafka's bounds
//! (4096..=16384, [`lagring_scram::check_server_first`]) before anything is derived: 16384
//! rounds of PBKDF2-HMAC-SHA-512 take some 30 ms of CPU, 2^32 − 1 some 100 minutes (OpenSSL
//! on a loaded 2-core machine). The derivation runs on tokio's blocking pool, so a connection
//! storm of SCRAM logins never stalls the runtime's workers.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::{Request, StrBytes};
use sasl::client::Mechanism;
use sasl::client::mechanisms::{Plain, Scram};
use sasl::common::ChannelBinding;
use sasl::common::scram::Sha256;
use tokio::time::Instant;

use super::broker::Setup;
use super::connection::Connection;
use super::error::WireError;
use super::msk_iam;
use super::oauthbearer::initial_response;
use super::versions::Versions;
use super::wire::{decode_response, encode_request};
use crate::config::{Sasl, SaslMechanism};

/// SaslHandshake v1 is the first version followed by framed SaslAuthenticate requests
/// (v0 sends raw tokens, which this client does not speak).
pub(crate) const HANDSHAKE_FRAMED: i16 = 1;

/// Authenticates `connection` to the broker at `addr` as `sasl.username` (with a token of
/// `setup.tokens` for OAUTHBEARER, keys of `setup.aws` for AWS_MSK_IAM), all within `timeout`;
/// the session lifetime the broker states, if any.
pub(crate) async fn authenticate(
    connection: &Connection,
    versions: &Versions,
    sasl: &Sasl,
    setup: &Setup,
    addr: &str,
    timeout: Duration,
) -> Result<Option<Duration>, WireError> {
    let deadline = Instant::now() + timeout;
    let name = sasl.mechanism.as_librdkafka();
    let auth = |message: String| WireError::Auth { mechanism: name, user: sasl.username.clone(), message };
    let handshake = versions.pick(kafka_protocol::messages::ApiKey::SaslHandshake)?;
    if handshake < HANDSHAKE_FRAMED {
        return Err(auth("the broker offers only SaslHandshake v0 (unframed tokens)".to_owned()));
    }
    let request = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(name));
    let answer = round_trip(connection, &request, handshake, deadline).await?;
    if answer.error_code != 0 {
        let enabled: Vec<&str> = answer.mechanisms.iter().map(|m| m.as_str()).collect();
        return Err(auth(format!(
            "{}; the broker enables {}",
            WireError::broker(answer.error_code),
            if enabled.is_empty() { "none".to_owned() } else { enabled.join(", ") }
        )));
    }
    let version = versions.pick(kafka_protocol::messages::ApiKey::SaslAuthenticate)?;
    let exchange = Exchange { connection, version, deadline, mechanism: name, user: &sasl.username };
    let mut mechanism: Box<dyn Mechanism + Send> = match sasl.mechanism {
        SaslMechanism::Plain => Box::new(Plain::new(sasl.username.clone(), sasl.password.clone())),
        SaslMechanism::ScramSha256 => Box::new(scram::<Sha256>(sasl)?),
        SaslMechanism::ScramSha512 => Box::new(scram::<lagring_scram::Sha512>(sasl)?),
        SaslMechanism::AwsMskIam => {
            let (Some(settings), Some(aws)) = (&sasl.msk_iam, &setup.aws) else {
                return Err(auth("no aws region and credentials configured".to_owned()));
            };
            let keys = tokio::time::timeout_at(deadline, aws.keys())
                .await
                .map_err(|_| auth(format!("no aws credentials within {timeout:?}")))?
                .map_err(auth)?;
            let host = msk_iam::host_of(addr);
            let message = msk_iam::payload(&keys, &settings.region, host, &settings.user_agent, SystemTime::now())
                .map_err(auth)?;
            // The broker's answer is a JSON object (version, request id): nothing to check.
            let (_answer, lifetime) = exchange.step(message).await?;
            return Ok(lifetime);
        }
        SaslMechanism::Gssapi => return Err(auth("GSSAPI needs the librdkafka client".to_owned())),
        SaslMechanism::OAuthBearer => {
            let tokens =
                setup.tokens.as_ref().ok_or_else(|| auth("no oauthbearer token source configured".to_owned()))?;
            let token = tokio::time::timeout_at(deadline, tokens.token())
                .await
                .map_err(|_| auth(format!("no token within {timeout:?}")))?
                .map_err(auth)?;
            return exchange.bearer(&token).await;
        }
    };
    let (first, lifetime) = exchange.step(mechanism.initial()).await?;
    if sasl.mechanism == SaslMechanism::Plain {
        return Ok(lifetime);
    }
    lagring_scram::check_server_first(&first).map_err(|e| auth(e.to_string()))?;
    // PBKDF2 with the (bounded) iteration count: CPU work, off the runtime's workers.
    let derived = tokio::task::spawn_blocking(move || {
        let last = mechanism.response(&first);
        (mechanism, last)
    })
    .await
    .map_err(|e| auth(format!("scram key derivation did not finish: {e}")))?;
    let (mut mechanism, last) = derived;
    let last = last.map_err(|e| auth(format!("server-first message: {e}")))?;
    let (server_final, lifetime) = exchange.step(last).await?;
    mechanism.success(&server_final).map_err(|e| auth(format!("server-final message: {e}")))?;
    Ok(lifetime)
}

/// The SaslAuthenticate round trips of one login.
struct Exchange<'a> {
    connection: &'a Connection,
    version: i16,
    deadline: Instant,
    mechanism: &'static str,
    user: &'a str,
}

impl Exchange<'_> {
    fn auth(&self, message: String) -> WireError {
        WireError::Auth { mechanism: self.mechanism, user: self.user.to_owned(), message }
    }

    /// Sends `token`; the broker's bytes and the session lifetime it states (v1+), or its refusal.
    async fn step(&self, token: Vec<u8>) -> Result<(Bytes, Option<Duration>), WireError> {
        let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token));
        let answer = round_trip(self.connection, &request, self.version, self.deadline).await?;
        if answer.error_code != 0 {
            let detail = answer.error_message.as_ref().map(|m| m.as_str()).filter(|m| !m.is_empty());
            let base = WireError::broker(answer.error_code).to_string();
            return Err(self.auth(detail.map_or(base.clone(), |d| format!("{base}: {d}"))));
        }
        let millis = u64::try_from(answer.session_lifetime_ms).unwrap_or(0);
        Ok((answer.auth_bytes, (millis > 0).then(|| Duration::from_millis(millis))))
    }

    /// The OAUTHBEARER exchange: the token, and after an error challenge the `\x01` that makes
    /// the broker send its error, reported with the challenge.
    async fn bearer(&self, token: &str) -> Result<Option<Duration>, WireError> {
        let (challenge, lifetime) = self.step(initial_response(token)).await?;
        if challenge.is_empty() {
            return Ok(lifetime);
        }
        let status: String = String::from_utf8_lossy(&challenge).chars().take(300).collect();
        Err(match self.step(vec![0x01]).await {
            Err(WireError::Auth { message, .. }) => self.auth(format!("{message} ({status})")),
            Err(other) => other,
            Ok(_) => self.auth(format!("the broker refused the token: {status}")),
        })
    }
}

fn scram<S: sasl::common::scram::ScramProvider>(sasl: &Sasl) -> Result<Scram<S>, WireError> {
    // Kafka's SCRAM has no channel binding: the GS2 header is "n,,".
    Scram::<S>::new(sasl.username.clone(), sasl.password.clone(), ChannelBinding::None).map_err(|e| WireError::Auth {
        mechanism: sasl.mechanism.as_librdkafka(),
        user: sasl.username.clone(),
        message: format!("cannot make a nonce: {e:?}"),
    })
}

async fn round_trip<R: Request>(
    connection: &Connection,
    request: &R,
    version: i16,
    deadline: Instant,
) -> Result<R::Response, WireError> {
    let left = deadline.saturating_duration_since(Instant::now());
    let frame = connection.round_trip(|id| encode_request(request, version, id), left).await?;
    decode_response::<R>(frame, version)
}
