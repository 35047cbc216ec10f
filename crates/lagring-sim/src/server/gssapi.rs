//! The broker's side of GSSAPI (RFC 4752) with Kerberos, as a Kafka broker runs it: the
//! client's GSS-API tokens are fed to an acceptor context until it is established (the last
//! answer carries the AP-REP of mutual authentication), then the broker offers its security
//! layers in a message wrapped with the context (only "no security layer", `0x01`, like
//! Kafka's default `sasl.qop=auth`) and unwraps the client's choice, which must be that layer
//! and may name as authorization identity only the authenticated principal.
//!
//! The acceptor uses the process's default keytab (`KRB5_KTNAME`, or `default_keytab_name` in
//! the `krb5.conf` that `KRB5_CONFIG` names), as a JVM broker uses the keytab of its JAAS
//! login; the GSS-API library (MIT krb5 through `libgssapi`) checks the ticket, its expiry and
//! the authenticator. An established context whose client principal is not among the allowed
//! ones is refused, so a test sees exactly who logged in. Every token is bounded before it
//! reaches the library; a bad one is a failed login with the library's reason.

use std::collections::BTreeMap;
use std::sync::Mutex;

use libgssapi::context::{SecurityContext as _, ServerCtx};

use crate::scenario::security::ServerGssapiConfig;

/// Longest token accepted. A Kerberos AP-REQ with a large authorization-data field (an Active
/// Directory PAC) stays under 48 000 bytes, Windows' own `MaxTokenSize`.
const MAX_TOKEN: usize = 64 * 1024;

/// Security layers the broker offers: bit 0, no security layer (RFC 4752, section 3.3).
const NO_SECURITY_LAYER: u8 = 0x01;

/// The largest wrapped message the broker would receive: Java's `GssKrb5Server` default, what
/// a Kafka broker offers.
const MAX_RECEIVE: u32 = 65_536;

/// The principals allowed to log in, and who did.
#[derive(Debug)]
pub(crate) struct KerberosAcceptor {
    allowed: Vec<String>,
    /// Principal → completed logins (a short critical section, never held across `.await`).
    logins: Mutex<BTreeMap<String, u64>>,
}

impl KerberosAcceptor {
    pub(crate) fn new(config: &ServerGssapiConfig) -> Self {
        KerberosAcceptor { allowed: config.principals.clone(), logins: Mutex::new(BTreeMap::new()) }
    }

    /// Completed logins per principal so far.
    pub(crate) fn logins(&self) -> BTreeMap<String, u64> {
        self.logins.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn record(&self, principal: &str) {
        if let Ok(mut logins) = self.logins.lock() {
            *logins.entry(principal.to_owned()).or_default() += 1;
        }
    }
}

enum Step {
    /// Feeding the client's tokens to the acceptor.
    Context(ServerCtx),
    /// Established as `principal`; the next (empty) client message gets the wrapped offer.
    Offer(ServerCtx, String),
    /// The offer was sent; the next client message is its wrapped answer.
    Answer(ServerCtx, String),
}

/// One GSSAPI login on one connection.
pub(crate) struct GssapiLogin {
    step: Option<Step>,
}

/// What a client message leads to.
pub(crate) enum Outcome {
    /// Send these bytes and wait for the next message.
    Continue(Vec<u8>),
    /// Logged in as this principal; send these bytes.
    Done(Vec<u8>),
}

impl GssapiLogin {
    pub(crate) fn new() -> Self {
        GssapiLogin { step: Some(Step::Context(ServerCtx::new(None))) }
    }

    /// Takes one client message; `Err` is the reason the login fails.
    pub(crate) fn step(&mut self, acceptor: &KerberosAcceptor, token: &[u8]) -> Result<Outcome, String> {
        if token.len() > MAX_TOKEN {
            return Err(format!("gssapi token longer than {MAX_TOKEN} bytes"));
        }
        match self.step.take().ok_or("gssapi login already failed")? {
            Step::Context(mut ctx) => {
                let reply = ctx.step(token, None).map_err(|e| format!("gssapi: {e}"))?;
                if !ctx.is_complete() {
                    let reply = reply.ok_or("gssapi: the acceptor wants more but gave no token")?;
                    self.step = Some(Step::Context(ctx));
                    return Ok(Outcome::Continue(reply.to_vec()));
                }
                let principal = client_principal(&ctx)?;
                if !acceptor.allowed.contains(&principal) {
                    return Err(format!("principal {principal} is not allowed"));
                }
                match reply {
                    // Mutual authentication: the AP-REP first, the client answers with nothing.
                    Some(reply) if !reply.is_empty() => {
                        self.step = Some(Step::Offer(ctx, principal));
                        Ok(Outcome::Continue(reply.to_vec()))
                    }
                    _ => self.offer(ctx, principal),
                }
            }
            Step::Offer(ctx, principal) => self.offer(ctx, principal),
            Step::Answer(mut ctx, principal) => {
                let answer = ctx.unwrap(token).map_err(|e| format!("gssapi: unwrap the security layer answer: {e}"))?;
                check_answer(&answer, &principal)?;
                acceptor.record(&principal);
                Ok(Outcome::Done(Vec::new()))
            }
        }
    }

    fn offer(&mut self, mut ctx: ServerCtx, principal: String) -> Result<Outcome, String> {
        let offer = security_layer_offer();
        let wrapped = ctx.wrap(false, &offer).map_err(|e| format!("gssapi: wrap the security layer offer: {e}"))?;
        let wrapped = wrapped.to_vec();
        self.step = Some(Step::Answer(ctx, principal));
        Ok(Outcome::Continue(wrapped))
    }
}

/// The authenticated client's principal, e.g. `lagring/client@LAGRING.TEST`.
fn client_principal(ctx: &ServerCtx) -> Result<String, String> {
    let name = ctx.source_name().map_err(|e| format!("gssapi: client name: {e}"))?;
    let shown = name.display_name().map_err(|e| format!("gssapi: client name: {e}"))?;
    String::from_utf8(shown.to_vec()).map_err(|_| "gssapi: client name is not utf-8".to_owned())
}

/// The broker's offer: the layers (one octet) and the largest message it receives (three).
fn security_layer_offer() -> [u8; 4] {
    let [_, a, b, c] = MAX_RECEIVE.to_be_bytes();
    [NO_SECURITY_LAYER, a, b, c]
}

/// The client's choice (one octet), its largest message (three) and an optional authorization
/// identity (the rest), which must then be the authenticated principal.
fn check_answer(answer: &[u8], principal: &str) -> Result<(), String> {
    let Some((&[layer, ..], authzid)) = answer.split_first_chunk::<4>() else {
        return Err("gssapi: security layer answer shorter than 4 bytes".to_owned());
    };
    if layer != NO_SECURITY_LAYER {
        return Err(format!("gssapi: security layer {layer:#04x} was not offered (only {NO_SECURITY_LAYER:#04x})"));
    }
    if !authzid.is_empty() && authzid != principal.as_bytes() {
        let shown = String::from_utf8_lossy(authzid);
        return Err(format!("gssapi: authorization identity {shown} is not the authenticated principal {principal}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acceptor() -> KerberosAcceptor {
        KerberosAcceptor::new(&ServerGssapiConfig { principals: vec!["alice@R".to_owned()] })
    }

    #[test]
    fn the_offer_is_no_security_layer_and_java_s_receive_size() {
        assert_eq!(security_layer_offer(), [0x01, 0x01, 0x00, 0x00]);
    }

    #[test]
    fn the_answer_must_pick_the_offered_layer_and_may_name_only_the_principal() {
        assert_eq!(check_answer(&[0x01, 0, 0, 0], "alice@R"), Ok(()));
        assert_eq!(check_answer(b"\x01\x00\x10\x00alice@R", "alice@R"), Ok(()));
        assert_eq!(
            check_answer(b"\x01\x00\x10\x00bob@R", "alice@R"),
            Err("gssapi: authorization identity bob@R is not the authenticated principal alice@R".to_owned())
        );
        assert_eq!(
            check_answer(&[0x04, 0, 0, 0], "alice@R"),
            Err("gssapi: security layer 0x04 was not offered (only 0x01)".to_owned())
        );
        assert_eq!(
            check_answer(&[0x01, 0], "alice@R"),
            Err("gssapi: security layer answer shorter than 4 bytes".to_owned())
        );
    }

    #[test]
    fn a_bad_first_token_fails_with_the_library_s_reason_and_stays_failed() {
        let acceptor = acceptor();
        let mut login = GssapiLogin::new();
        let err = login.step(&acceptor, b"not a kerberos token").err().unwrap();
        assert!(err.starts_with("gssapi: "), "{err}");
        assert_eq!(login.step(&acceptor, b"again").err().unwrap(), "gssapi login already failed");
        let mut huge = GssapiLogin::new();
        let err = huge.step(&acceptor, &vec![0x60; MAX_TOKEN + 1]).err().unwrap();
        assert_eq!(err, format!("gssapi token longer than {MAX_TOKEN} bytes"));
        assert!(acceptor.logins().is_empty());
    }
}
