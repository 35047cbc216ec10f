//! SASL on one simulated connection, as a Kafka broker does it (KIP-43, KIP-152): ApiVersions
//! and SaslHandshake v1 are answered before authentication, the handshake picks a mechanism,
//! SaslAuthenticate carries its messages, and any other request before success closes the
//! connection. A failed login is answered with SASL_AUTHENTICATION_FAILED and a message, then
//! the connection is closed, as Kafka does.
//!
//! With a session lifetime configured (KIP-368) a successful SaslAuthenticate (v1+) states it
//! (for OAUTHBEARER cut at the token's expiry), and the first request after it ends closes the
//! connection, as Kafka does: a client that does not log in again in time sees failed calls.
//! Before then a client may log in again on the same connection (re-authentication, as
//! librdkafka does it): SaslHandshake with the same mechanism and SaslAuthenticate again, which
//! starts a new session; another mechanism is refused with ILLEGAL_SASL_STATE and the connection
//! closed.
//! Like Kafka, a GSSAPI session's lifetime is the configured one only: the broker does not cut
//! it at the Kerberos ticket's expiry (re-authentication then needs a valid ticket).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::Decodable;
use sasl::common::scram::Sha256;

use super::gssapi::{GssapiLogin, KerberosAcceptor, Outcome};
use super::msk_iam::IamVerifier;
use super::oauthbearer::BearerVerifier;
use super::scram::{Credential, ITERATIONS, ScramServer};
use crate::handlers::{frame, sb};
use crate::scenario::security::ServerSaslConfig;

/// The enabled mechanisms and every user's credentials, derived once at start.
#[derive(Debug)]
pub(crate) struct SaslUsers {
    mechanisms: Vec<String>,
    plain: HashMap<String, String>,
    scram: HashMap<(&'static str, String), Credential>,
    bearer: Option<BearerVerifier>,
    iam: Option<IamVerifier>,
    pub(crate) kerberos: Option<KerberosAcceptor>,
    session_lifetime: Option<Duration>,
}

impl SaslUsers {
    pub(crate) fn new(config: &ServerSaslConfig) -> Result<Self, String> {
        let mut scram = HashMap::new();
        for (user, password) in &config.users {
            let salt = format!("lagring-sim-salt-{user}");
            scram.insert(
                ("SCRAM-SHA-256", user.clone()),
                Credential::derive::<Sha256>(password, salt.as_bytes(), ITERATIONS)?,
            );
            scram.insert(
                ("SCRAM-SHA-512", user.clone()),
                Credential::derive::<lagring_scram::Sha512>(password, salt.as_bytes(), ITERATIONS)?,
            );
        }
        Ok(SaslUsers {
            mechanisms: config.mechanisms.clone(),
            plain: config.users.clone().into_iter().collect(),
            scram,
            bearer: config.oauthbearer.as_ref().map(BearerVerifier::new).transpose()?,
            iam: config.aws_msk_iam.as_ref().map(IamVerifier::new),
            kerberos: config.gssapi.as_ref().map(KerberosAcceptor::new),
            session_lifetime: config.session_lifetime,
        })
    }
}

enum Stage {
    Handshake,
    Plain,
    Scram256(ScramServer<Sha256>),
    Scram512(ScramServer<lagring_scram::Sha512>),
    OAuthBearer,
    MskIam,
    Gssapi(Box<GssapiLogin>),
    Authenticated,
}

/// What the connection does after a SASL answer.
pub(crate) enum Next {
    Continue,
    /// Send the answer, then close (a failed login).
    Close,
}

/// The SASL state of one connection.
pub(crate) struct SaslSession<'a> {
    users: Option<&'a SaslUsers>,
    stage: Stage,
    /// When the authenticated session ends (KIP-368).
    expires_at: Option<Instant>,
    /// The session lifetime of the login just completed, for its answer.
    lifetime: Option<Duration>,
    /// The mechanism of the last handshake: a re-authentication must keep it.
    mechanism: Option<String>,
}

impl<'a> SaslSession<'a> {
    pub(crate) fn new(users: Option<&'a SaslUsers>) -> Self {
        let stage = if users.is_some() { Stage::Handshake } else { Stage::Authenticated };
        SaslSession { users, stage, expires_at: None, lifetime: None, mechanism: None }
    }

    /// Whether `api_key` may be served now: before a login only ApiVersions and SASL, after the
    /// session ended only SASL (re-authentication).
    pub(crate) fn allows(&self, api_key: i16) -> bool {
        let sasl = api_key == ApiKey::SaslHandshake as i16 || api_key == ApiKey::SaslAuthenticate as i16;
        if self.expires_at.is_some_and(|at| Instant::now() >= at) {
            return sasl;
        }
        matches!(self.stage, Stage::Authenticated) || sasl || api_key == ApiKey::ApiVersions as i16
    }

    /// Answers a SaslHandshake or SaslAuthenticate request.
    pub(crate) fn answer(
        &mut self,
        api_key: i16,
        version: i16,
        correlation_id: i32,
        mut body: Bytes,
    ) -> anyhow::Result<(BytesMut, Next)> {
        if api_key == ApiKey::SaslHandshake as i16 {
            let request = SaslHandshakeRequest::decode(&mut body, version)?;
            let (response, next) = self.handshake(request.mechanism.as_str());
            return Ok((frame(correlation_id, version, &response)?, next));
        }
        let request = SaslAuthenticateRequest::decode(&mut body, version)?;
        let (response, next) = match self.authenticate(&request.auth_bytes) {
            Ok(reply) => {
                let mut response = SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(reply));
                if let Some(lifetime) = self.lifetime.take().filter(|_| version >= 1) {
                    self.expires_at = Some(Instant::now() + lifetime);
                    response =
                        response.with_session_lifetime_ms(i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX));
                }
                (response, Next::Continue)
            }
            Err(message) => {
                tracing::debug!(%message, "sasl authentication failed");
                let response = SaslAuthenticateResponse::default()
                    .with_error_code(ResponseError::SaslAuthenticationFailed.code())
                    .with_error_message(Some(sb(format!("Authentication failed: {message}"))));
                (response, Next::Close)
            }
        };
        Ok((frame(correlation_id, version, &response)?, next))
    }

    fn handshake(&mut self, mechanism: &str) -> (SaslHandshakeResponse, Next) {
        let enabled: Vec<_> =
            self.users.map(|u| u.mechanisms.iter().map(|m| sb(m.clone())).collect()).unwrap_or_default();
        let response = SaslHandshakeResponse::default().with_mechanisms(enabled);
        let Some(users) = self.users.filter(|u| self.may_start_login(u, mechanism)) else {
            return (response.with_error_code(ResponseError::IllegalSaslState.code()), Next::Close);
        };
        if !users.mechanisms.iter().any(|m| m == mechanism) {
            return (response.with_error_code(ResponseError::UnsupportedSaslMechanism.code()), Next::Continue);
        }
        self.mechanism = Some(mechanism.to_owned());
        self.stage = match mechanism {
            "PLAIN" => Stage::Plain,
            "SCRAM-SHA-256" => Stage::Scram256(ScramServer::new()),
            "OAUTHBEARER" => Stage::OAuthBearer,
            "AWS_MSK_IAM" => Stage::MskIam,
            "GSSAPI" => Stage::Gssapi(Box::new(GssapiLogin::new())),
            _ => Stage::Scram512(ScramServer::new()),
        };
        (response, Next::Continue)
    }

    /// A handshake is a first login, or a re-authentication (KIP-368: sessions have a lifetime)
    /// with the mechanism of the first.
    fn may_start_login(&self, users: &SaslUsers, mechanism: &str) -> bool {
        match self.stage {
            Stage::Handshake => true,
            Stage::Authenticated => users.session_lifetime.is_some() && self.mechanism.as_deref() == Some(mechanism),
            _ => false,
        }
    }

    fn finish(&mut self, done: bool) {
        if done {
            self.stage = Stage::Authenticated;
            self.lifetime = self.users.and_then(|u| u.session_lifetime);
        }
    }

    fn authenticate(&mut self, token: &[u8]) -> Result<Vec<u8>, String> {
        let users = self.users.ok_or("sasl is not enabled")?;
        let suffix = nonce_suffix();
        let lookup =
            |mechanism: &'static str| move |user: &str| users.scram.get(&(mechanism, user.to_owned())).cloned();
        match &mut self.stage {
            Stage::Plain => {
                let mut parts = token.split(|b| *b == 0);
                let (_authzid, user, password) = (parts.next(), parts.next(), parts.next());
                let user = user.and_then(|u| std::str::from_utf8(u).ok()).ok_or("malformed PLAIN message")?;
                let password = password.and_then(|p| std::str::from_utf8(p).ok()).ok_or("malformed PLAIN message")?;
                if users.plain.get(user).is_none_or(|p| p != password) {
                    return Err("invalid credentials".to_owned());
                }
                self.finish(true);
                Ok(Vec::new())
            }
            Stage::OAuthBearer => {
                let verifier = users.bearer.as_ref().ok_or("oauthbearer is not configured")?;
                let token_left = Duration::from_millis(verifier.verify(token)?);
                self.finish(true);
                self.lifetime = self.lifetime.map(|max| max.min(token_left));
                Ok(Vec::new())
            }
            Stage::MskIam => {
                let verifier = users.iam.as_ref().ok_or("aws_msk_iam is not configured")?;
                let answer = verifier.verify(token, std::time::SystemTime::now())?;
                self.finish(true);
                Ok(answer)
            }
            Stage::Gssapi(login) => {
                let acceptor = users.kerberos.as_ref().ok_or("gssapi is not configured")?;
                match login.step(acceptor, token)? {
                    Outcome::Continue(reply) => Ok(reply),
                    Outcome::Done(reply) => {
                        self.finish(true);
                        Ok(reply)
                    }
                }
            }
            Stage::Scram256(server) => {
                let (reply, done) = server.step(token, lookup("SCRAM-SHA-256"), &suffix)?;
                self.finish(done);
                Ok(reply)
            }
            Stage::Scram512(server) => {
                let (reply, done) = server.step(token, lookup("SCRAM-SHA-512"), &suffix)?;
                self.finish(done);
                Ok(reply)
            }
            Stage::Handshake | Stage::Authenticated => Err("SaslAuthenticate without a handshake".to_owned()),
        }
    }
}

/// The server's part of a SCRAM nonce: random, printable, without commas.
fn nonce_suffix() -> String {
    use rand::Rng as _;
    rand::rng().sample_iter(rand::distr::Alphanumeric).take(24).map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(session_lifetime: Option<Duration>) -> SaslUsers {
        let config = ServerSaslConfig {
            mechanisms: vec!["PLAIN".to_owned(), "SCRAM-SHA-256".to_owned()],
            users: [("u".to_owned(), "p".to_owned())].into(),
            session_lifetime,
            ..ServerSaslConfig::default()
        };
        SaslUsers::new(&config).unwrap()
    }

    /// The error code of a handshake for `mechanism` and whether the connection closes.
    fn handshake(session: &mut SaslSession<'_>, mechanism: &str) -> (i16, bool) {
        let (response, next) = session.handshake(mechanism);
        (response.error_code, matches!(next, Next::Close))
    }

    #[test]
    fn a_session_with_a_lifetime_may_log_in_again_with_its_mechanism() {
        let users = users(Some(Duration::from_secs(60)));
        let mut session = SaslSession::new(Some(&users));
        assert_eq!(handshake(&mut session, "PLAIN"), (0, false));
        session.authenticate(b"\0u\0p").unwrap();
        assert!(session.allows(ApiKey::Metadata as i16));
        // Re-authentication (KIP-368): the same mechanism again on the same connection.
        assert_eq!(handshake(&mut session, "PLAIN"), (0, false));
        assert!(!session.allows(ApiKey::Metadata as i16), "no other request in the middle of a login");
        session.authenticate(b"\0u\0p").unwrap();
        assert!(session.allows(ApiKey::Metadata as i16));
        // Another mechanism is not a re-authentication.
        assert_eq!(handshake(&mut session, "SCRAM-SHA-256"), (ResponseError::IllegalSaslState.code(), true));
    }

    #[test]
    fn without_a_session_lifetime_a_second_handshake_is_illegal() {
        let users = users(None);
        let mut session = SaslSession::new(Some(&users));
        assert_eq!(handshake(&mut session, "PLAIN"), (0, false));
        session.authenticate(b"\0u\0p").unwrap();
        assert_eq!(handshake(&mut session, "PLAIN"), (ResponseError::IllegalSaslState.code(), true));
    }
}
