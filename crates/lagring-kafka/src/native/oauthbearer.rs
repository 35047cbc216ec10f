//! OAUTHBEARER tokens of one cluster (KIP-255), shared by all its brokers' connections.
//!
//! Logins happen on every new connection and on every re-authentication (KIP-368), so the token
//! is cached: an OIDC token until [`REFRESH_AT`] of its lifetime, when a background task fetches
//! the next one while the current one still logs in, so no login waits for the token endpoint
//! unless the cache is empty or the token has expired (the refresh failed for as long as it
//! lived). A token file is read again only when its modification time changes, so a platform
//! that rewrites it (a sidecar, a Kubernetes projected volume) is followed at the next login.
//!
//! The client's initial response is RFC 7628's `n,,\x01auth=Bearer <token>\x01\x01`.
//!
//! The librdkafka client uses the same tokens (`crate::librdkafka::oauthbearer`): it hands each
//! new one to librdkafka, woken by [`Tokens::changes`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::oidc::{Issued, http_client, request_token};
use crate::config::{OAuthBearer, OidcClientCredentials};

/// Share of a token's lifetime after which the next one is fetched.
const REFRESH_AT: f64 = 0.8;
/// Lifetime assumed when the token endpoint states none (`expires_in` is optional).
const ASSUMED_LIFETIME: Duration = Duration::from_secs(300);
/// Wait before a failed fetch is tried again (a background refresh: the cached token still works).
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Largest token file read.
const MAX_TOKEN_FILE: u64 = 64 * 1024;

/// The RFC 7628 client initial response carrying `token`.
pub(crate) fn initial_response(token: &str) -> Vec<u8> {
    format!("n,,\x01auth=Bearer {token}\x01\x01").into_bytes()
}

/// A token for logins now and until when it may be used (`None` for a token file: its lifetime
/// is unknown here, the broker judges it).
#[derive(Clone, Debug)]
pub(crate) struct Current {
    pub(crate) token: Arc<str>,
    pub(crate) expires_at: Option<Instant>,
}

#[derive(Clone)]
struct Cached {
    token: Arc<str>,
    refresh_at: Instant,
    expires_at: Instant,
    /// The token file's modification time when it was read.
    modified: Option<SystemTime>,
}

enum Source {
    Oidc { http: reqwest::Client, settings: OidcClientCredentials },
    File(PathBuf),
}

/// Tokens of one cluster's logins.
pub(crate) struct Tokens {
    source: Source,
    /// A `std` mutex: held only to read or replace the cached token, never across an `.await`.
    cached: Mutex<Option<Cached>>,
    /// Serialises fetches, so concurrent logins with an empty cache make one token request.
    fetching: tokio::sync::Mutex<()>,
    /// Whether the background refresher runs.
    refresher: Mutex<bool>,
    /// The last failed fetch and when: repeated to logins for [`RETRY_AFTER`] instead of asking
    /// the endpoint once per broker.
    failed: Mutex<Option<(Instant, String)>>,
    /// Counts the tokens fetched from the endpoint, so a watcher learns of each new one at once.
    changes: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.source {
            Source::Oidc { settings, .. } => settings.token_endpoint_url.clone(),
            Source::File(path) => path.display().to_string(),
        };
        f.debug_struct("Tokens").field("source", &source).finish_non_exhaustive()
    }
}

impl Tokens {
    /// Tokens from `source`; token requests time out after `timeout`.
    pub(crate) fn new(source: &OAuthBearer, timeout: Duration) -> Result<Arc<Self>, String> {
        let source = match source {
            OAuthBearer::Oidc(settings) => Source::Oidc { http: http_client(timeout)?, settings: settings.clone() },
            OAuthBearer::TokenFile(path) => Source::File(path.clone()),
        };
        Ok(Arc::new(Tokens {
            source,
            cached: Mutex::default(),
            fetching: tokio::sync::Mutex::default(),
            refresher: Mutex::new(false),
            failed: Mutex::default(),
            changes: tokio::sync::watch::Sender::new(0),
        }))
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, Option<Cached>> {
        self.cached.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A token for a login now.
    pub(crate) async fn token(self: &Arc<Self>) -> Result<Arc<str>, String> {
        self.current().await.map(|current| current.token)
    }

    /// Whether the tokens come from a file (which nothing announces a change of).
    pub(crate) fn reads_file(&self) -> bool {
        matches!(self.source, Source::File(_))
    }

    /// Changes whenever a new token was fetched from the endpoint (never for a token file).
    pub(crate) fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// A token for a login now, with its expiry.
    pub(crate) async fn current(self: &Arc<Self>) -> Result<Current, String> {
        match &self.source {
            Source::File(path) => {
                let token = self.read_file(path).await?;
                Ok(Current { token, expires_at: None })
            }
            Source::Oidc { .. } => {
                if let Some(token) = self.valid() {
                    return Ok(token);
                }
                let _one = self.fetching.lock().await;
                // Another login may have fetched while this one waited.
                if let Some(token) = self.valid() {
                    return Ok(token);
                }
                if let Some((at, error)) = self.failed.lock().unwrap_or_else(PoisonError::into_inner).clone()
                    && at.elapsed() < RETRY_AFTER
                {
                    return Err(error);
                }
                let current = self.fetch().await.inspect_err(|error| {
                    *self.failed.lock().unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), error.clone()));
                })?;
                self.start_refresher();
                Ok(current)
            }
        }
    }

    /// The cached token if it has not expired.
    fn valid(&self) -> Option<Current> {
        let cached = self.cached();
        cached
            .as_ref()
            .filter(|c| Instant::now() < c.expires_at)
            .map(|c| Current { token: c.token.clone(), expires_at: Some(c.expires_at) })
    }

    /// Fetches a token from the endpoint and caches it.
    async fn fetch(&self) -> Result<Current, String> {
        let Source::Oidc { http, settings } = &self.source else {
            return Err("no token endpoint configured".to_owned());
        };
        let fetched_at = Instant::now();
        let Issued { token, expires_in } = request_token(http, settings).await?;
        let lifetime = expires_in.unwrap_or(ASSUMED_LIFETIME);
        let token: Arc<str> = Arc::from(token);
        let expires_at = fetched_at + lifetime;
        *self.cached() = Some(Cached {
            token: token.clone(),
            refresh_at: fetched_at + lifetime.mul_f64(REFRESH_AT),
            expires_at,
            modified: None,
        });
        self.changes.send_modify(|fetched| *fetched = fetched.wrapping_add(1));
        tracing::debug!(endpoint = %settings.token_endpoint_url, ?lifetime, "oauthbearer token fetched");
        Ok(Current { token, expires_at: Some(expires_at) })
    }

    /// Starts the task that refreshes the token before it expires, once.
    fn start_refresher(self: &Arc<Self>) {
        let mut running = self.refresher.lock().unwrap_or_else(PoisonError::into_inner);
        if !*running {
            *running = true;
            tokio::spawn(refresh_loop(Arc::downgrade(self)));
        }
    }

    /// The token in the file, read again when its modification time changed.
    async fn read_file(&self, path: &Path) -> Result<Arc<str>, String> {
        let at = |what: String| format!("token file {}: {what}", path.display());
        let meta = tokio::fs::metadata(path).await.map_err(|e| at(e.to_string()))?;
        let modified = meta.modified().ok();
        if let Some(cached) = self.cached().as_ref().filter(|c| modified.is_some() && c.modified == modified) {
            return Ok(cached.token.clone());
        }
        if meta.len() > MAX_TOKEN_FILE {
            return Err(at(format!("longer than {MAX_TOKEN_FILE} bytes")));
        }
        let text = tokio::fs::read_to_string(path).await.map_err(|e| at(e.to_string()))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(at("empty".to_owned()));
        }
        let token: Arc<str> = Arc::from(token);
        // The broker judges expiry; the file's own lifetime is unknown here.
        let now = Instant::now();
        *self.cached() = Some(Cached { token: token.clone(), refresh_at: now, expires_at: now, modified });
        Ok(token)
    }
}

/// Refreshes the OIDC token at [`REFRESH_AT`] of its lifetime until the cluster's client is
/// dropped (the task holds only a weak reference while it waits).
async fn refresh_loop(tokens: Weak<Tokens>) {
    let mut failures: u32 = 0;
    loop {
        let Some(strong) = tokens.upgrade() else { return };
        let refresh_at = strong.cached().as_ref().map(|c| c.refresh_at);
        drop(strong);
        if let Some(at) = refresh_at {
            tokio::time::sleep_until(at).await;
        }
        let Some(strong) = tokens.upgrade() else { return };
        let failed = {
            let _one = strong.fetching.lock().await;
            strong.fetch().await.err()
        };
        let Some(error) = failed else {
            failures = 0;
            continue;
        };
        if strong.valid().is_none() {
            // Expired: the next login fetches (and reports the error) itself and restarts this task.
            tracing::warn!(%error, "oauthbearer token refresh failed and the token expired");
            *strong.refresher.lock().unwrap_or_else(PoisonError::into_inner) = false;
            return;
        }
        // Doubling waits (1 s up to 32 s): a long-lived token's last fifth is not a warning a second.
        let wait = RETRY_AFTER.saturating_mul(1 << failures.min(5));
        failures = failures.saturating_add(1);
        tracing::warn!(%error, retry_in = ?wait, "oauthbearer token refresh failed, the cached token is used until it expires");
        drop(strong);
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_initial_response_is_rfc_7628_with_an_empty_authzid() {
        assert_eq!(initial_response("abc.def.ghi"), b"n,,\x01auth=Bearer abc.def.ghi\x01\x01".to_vec());
    }

    #[tokio::test]
    async fn a_token_file_is_read_again_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").unwrap();
        let tokens = Tokens::new(&OAuthBearer::TokenFile(path.clone()), Duration::from_secs(1)).unwrap();
        assert_eq!(&*tokens.token().await.unwrap(), "first");
        std::fs::write(&path, "second").unwrap();
        let later = SystemTime::now() + Duration::from_secs(5);
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(later).unwrap();
        assert_eq!(&*tokens.token().await.unwrap(), "second");
        std::fs::remove_file(&path).unwrap();
        let err = tokens.token().await.unwrap_err();
        assert!(err.starts_with(&format!("token file {}: ", path.display())), "{err}");
    }
}
