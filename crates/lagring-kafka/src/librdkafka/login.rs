//! Why a librdkafka login failed. librdkafka tells only its log and its global error events: a
//! broker that refuses the SASL login, or a Kerberos library that has no ticket, ends the
//! connection and the pending admin request fails with a bare `Local: Timed out`. Those events
//! wait in librdkafka's main queue, which `ffi::serve_main_queue` serves after every call; the
//! client's context keeps the last login failure among them (the SASL exchange's error, the
//! broker's refusal, a failed `kinit`), and request errors made while it stands carry it
//! instead, so an operator reads "principal … is not allowed" or "No Kerberos credentials
//! available" in `/healthz`.
//!
//! A failure stands until a call succeeds on every broker, or for [`STANDING`] after it was
//! last logged: librdkafka logs an unchanged failure again at least every 30 s, so a persistent
//! one stays, and an old one does not explain a later, unrelated error.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;

use crate::error::{AUTHENTICATION, BrokerError};

/// How long a logged login failure explains request errors.
const STANDING: Duration = Duration::from_secs(60);

/// Longest reason kept (librdkafka's own messages stay under 512 bytes).
const MAX_REASON: usize = 1024;

/// librdkafka's syslog level of errors (`LOG_ERR`); lower numbers are more severe.
const LOG_ERR: i32 = 3;

/// The librdkafka client's context: the last login failure librdkafka reported.
#[derive(Debug, Default)]
pub(crate) struct LoginContext {
    /// The failure and when it was reported; a short critical section, never across `.await`.
    last: Mutex<Option<(String, Instant)>>,
}

/// rdkafka's default behaviour otherwise (its log and error callbacks are never reached: the
/// events they would take are served by `ffi::serve_main_queue`).
impl ClientContext for LoginContext {}

impl LoginContext {
    /// A log line of librdkafka (`level` as syslog's).
    pub(crate) fn log(&self, level: i32, fac: &str, message: &str) {
        if level <= LOG_ERR && (fac == "SASLREFRESH" || (fac == "FAIL" && message.contains("SASL"))) {
            self.record(message);
        }
    }

    /// A global error event of librdkafka.
    pub(crate) fn error(&self, error: &BrokerError) {
        if error.code == AUTHENTICATION {
            self.record(&error.message);
        }
    }

    fn record(&self, reason: &str) {
        let reason: String = reason.chars().take(MAX_REASON).collect();
        if let Ok(mut last) = self.last.lock() {
            *last = Some((reason, Instant::now()));
        }
    }

    /// `error` explained by the standing login failure, if there is one.
    pub(crate) fn explain(&self, error: BrokerError) -> BrokerError {
        self.failure().unwrap_or(error)
    }

    /// The last login failure reported at or after `since`, standing or not (what made a call
    /// that started then fail).
    pub(crate) fn reported_since(&self, since: Instant) -> Option<String> {
        let last = self.last.lock().ok()?;
        last.as_ref().filter(|(_, at)| *at >= since).map(|(reason, _)| reason.clone())
    }

    /// The standing login failure, as an error.
    pub(crate) fn failure(&self) -> Option<BrokerError> {
        let reason = self.standing()?;
        Some(BrokerError { code: AUTHENTICATION, message: format!("login failed: {reason}") })
    }

    /// A call succeeded on every broker: earlier failures explain nothing any more.
    pub(crate) fn succeeded(&self) {
        if let Ok(mut last) = self.last.lock() {
            *last = None;
        }
    }

    fn standing(&self) -> Option<String> {
        let last = self.last.lock().ok()?;
        last.as_ref().filter(|(_, at)| at.elapsed() < STANDING).map(|(reason, _)| reason.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFUSED: &str = "127.0.0.1:4000/1: SASL authentication error: Authentication failed: principal \
                           x@R is not allowed (after 3ms in state AUTH_REQ)";

    #[test]
    fn a_logged_sasl_failure_explains_request_errors_until_a_success() {
        let context = LoginContext::default();
        let timed_out = BrokerError { code: -185, message: "Local: Timed out".to_owned() };
        assert_eq!(context.explain(timed_out.clone()), timed_out);
        context.log(6, "FAIL", "SASL said hello");
        context.log(LOG_ERR, "FAIL", "127.0.0.1:4000/1: Connect to ipv4#127.0.0.1:4000 failed");
        context.error(&BrokerError { code: -195, message: "1/1 brokers are down".to_owned() });
        assert_eq!(context.explain(timed_out.clone()), timed_out);
        context.log(LOG_ERR, "FAIL", REFUSED);
        let explained = context.explain(timed_out.clone());
        assert_eq!(explained, BrokerError { code: AUTHENTICATION, message: format!("login failed: {REFUSED}") });
        context.succeeded();
        assert_eq!(context.explain(timed_out.clone()), timed_out);
        context.log(LOG_ERR, "SASLREFRESH", "Kerberos ticket refresh failed: kinit: exited with code 1");
        assert_eq!(context.explain(timed_out.clone()).code, AUTHENTICATION);
        context.succeeded();
        context.error(&BrokerError { code: AUTHENTICATION, message: "SASL authentication error: no".to_owned() });
        assert_eq!(context.explain(timed_out).message, "login failed: SASL authentication error: no");
    }
}
