//! OAUTHBEARER for the librdkafka client, with lagring's own token source.
//!
//! librdkafka's built-in OIDC login (2.12) cannot send `audience` or extra form parameters and
//! has no token file, and it would hold the client secret among its properties. So the
//! librdkafka client gets its tokens from the same [`Tokens`] as the native client (the same
//! token request, cache, refresh at 80 % of the lifetime and errors) and hands each one to
//! librdkafka, which uses it for every login and re-authentication (KIP-368) until the next.
//!
//! - Before each call [`TokenFeed::ready`] makes sure librdkafka holds a usable token; without
//!   one the call fails at once with the token source's error instead of waiting for brokers
//!   that cannot log in.
//! - Between calls a task hands over each new token as soon as the refresher fetched it, a
//!   rewritten token file within [`TICK`], and reads librdkafka's authentication errors, so a
//!   call that failed can name the broker's refusal.
//!
//! Re-authentication (KIP-368) is librdkafka's own: it logs in again on the same connection
//! before the session lifetime the broker announced ends, with the token it holds then.

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::config::OAuthBearer;
use crate::ffi::{self, Admin};
use crate::native::oauthbearer::{Current, Tokens};

/// How often the task checks a token file, renews an expiring hand-over and reads librdkafka's
/// errors. A new OIDC token wakes it at once.
const TICK: Duration = Duration::from_secs(1);
/// The lifetime librdkafka is told for a token file's token, whose own expiry is unknown here
/// (the broker judges it). librdkafka only schedules its own refresh by it, which lagring does
/// not use; the task hands the token over again half-way.
const FILE_TOKEN_LIFETIME: Duration = Duration::from_secs(3_600);

/// The token librdkafka holds.
struct Handed {
    token: Arc<str>,
    /// When it expires (for a token file: what librdkafka was told).
    until: Instant,
    /// When the same token is handed over again: a token file's, half-way through what
    /// librdkafka was told. An OIDC token is replaced by the next one before it expires.
    renew_at: Option<Instant>,
}

/// Feeds one librdkafka client with OAUTHBEARER tokens.
pub(crate) struct TokenFeed {
    tokens: Arc<Tokens>,
    /// Names the login in librdkafka's messages (the client id, or the token file).
    principal: String,
    /// `std` mutexes: held only to read or replace a value, never across an `.await`.
    handed: Mutex<Option<Handed>>,
    /// The last error the task warned of, so an outage is one warning, not one per tick.
    warned: Mutex<Option<String>>,
    /// Whether the task runs (it is started by the first call, inside the runtime).
    started: Mutex<bool>,
}

impl TokenFeed {
    /// A feed of tokens from `source`; token requests time out after `timeout`.
    pub(crate) fn new(source: &OAuthBearer, principal: &str, timeout: Duration) -> Result<Arc<Self>, String> {
        Ok(Arc::new(TokenFeed {
            tokens: Tokens::new(source, timeout)?,
            principal: principal.to_owned(),
            handed: Mutex::default(),
            warned: Mutex::default(),
            started: Mutex::new(false),
        }))
    }

    /// Makes sure librdkafka holds a usable token, fetching or reading one if needed, and starts
    /// the task that keeps it fresh. An error is the token source's (naming the endpoint or file).
    pub(crate) async fn ready(self: &Arc<Self>, admin: &Arc<Admin>) -> Result<(), String> {
        self.start(admin);
        if self.holds_usable_token() {
            return Ok(());
        }
        let current = self.tokens.current().await;
        self.hand_over(admin, current)
    }

    /// The name of the login in errors.
    pub(crate) fn principal(&self) -> &str {
        &self.principal
    }

    /// The last authentication error librdkafka reported at or after `since` (a broker's
    /// refusal of the token, or librdkafka's own complaint), read now.
    pub(crate) fn refusal_since(&self, admin: &Admin, since: std::time::Instant) -> Option<String> {
        ffi::serve_main_queue(admin);
        admin.inner().context().reported_since(since)
    }

    fn start(self: &Arc<Self>, admin: &Arc<Admin>) {
        let mut started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
        if !*started {
            *started = true;
            tokio::spawn(feed(Arc::downgrade(self), Arc::downgrade(admin)));
        }
    }

    fn holds_usable_token(&self) -> bool {
        let handed = self.handed.lock().unwrap_or_else(PoisonError::into_inner);
        handed.as_ref().is_some_and(|h| Instant::now() < h.until)
    }

    /// Gives librdkafka the token of `current` unless it holds it already; on a failure tells
    /// librdkafka why, and returns the reason.
    fn hand_over(&self, admin: &Admin, current: Result<Current, String>) -> Result<(), String> {
        let current = match current {
            Ok(current) => current,
            Err(reason) => {
                ffi::set_oauthbearer_failure(admin, &reason);
                return Err(reason);
            }
        };
        let mut handed = self.handed.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let held = handed.as_ref().filter(|h| Arc::ptr_eq(&h.token, &current.token));
        if held.is_some_and(|h| h.renew_at.is_none_or(|at| now < at)) {
            return Ok(());
        }
        let (until, renew_at) = match current.expires_at {
            Some(expires_at) => (expires_at, None),
            None => (now + FILE_TOKEN_LIFETIME, Some(now + FILE_TOKEN_LIFETIME / 2)),
        };
        let expires_ms = epoch_millis(until.saturating_duration_since(now));
        ffi::set_oauthbearer_token(admin, &current.token, expires_ms, &self.principal)
            .map_err(|e| format!("librdkafka refused the token: {e}"))?;
        tracing::debug!(principal = %self.principal, "oauthbearer token handed to librdkafka");
        *handed = Some(Handed { token: current.token, until, renew_at });
        Ok(())
    }
}

/// Milliseconds since the Unix epoch `remaining` from now, as librdkafka takes a token's expiry.
fn epoch_millis(remaining: Duration) -> i64 {
    let at = SystemTime::now() + remaining;
    at.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Keeps the client's token fresh until the client or the feed is dropped: the task holds only
/// weak references while it waits, and the client never across an `.await`.
async fn feed(feed: Weak<TokenFeed>, admin: Weak<Admin>) {
    let Some(mut changes) = feed.upgrade().map(|f| f.tokens.changes()) else { return };
    loop {
        // A new OIDC token wakes the task at once; a token file is looked at every tick. The
        // token endpoint is never asked from here (the refresher and the calls do that, the
        // refresher with its backoff). An error only means the sender is gone with the feed.
        let changed = match tokio::time::timeout(TICK, changes.changed()).await {
            Ok(Ok(())) => true,
            Ok(Err(_)) => return,
            Err(_) => false,
        };
        let Some(strong) = feed.upgrade() else { return };
        let Some(client) = admin.upgrade() else { return };
        // Between calls too: the client's context learns of a refusal as soon as it happens.
        ffi::serve_main_queue(&client);
        drop(client);
        if !changed && !strong.tokens.reads_file() {
            continue;
        }
        let current = strong.tokens.current().await;
        let Some(client) = admin.upgrade() else { return };
        let outcome = strong.hand_over(&client, current);
        drop(client);
        let mut warned = strong.warned.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Err(error) if warned.as_ref() != Some(&error) => {
                tracing::warn!(principal = %strong.principal, %error, "no oauthbearer token for librdkafka");
                *warned = Some(error);
            }
            Err(_) => {}
            Ok(()) => *warned = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_in_milliseconds_since_the_epoch() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis();
        let got = u128::try_from(epoch_millis(Duration::from_secs(60))).unwrap();
        assert!((now + 60_000..now + 61_000).contains(&got), "{got} vs {now}");
    }
}
