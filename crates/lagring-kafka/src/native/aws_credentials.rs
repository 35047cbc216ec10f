//! AWS credentials of one cluster, shared by all its brokers' AWS_MSK_IAM logins.
//!
//! Every login signs with the cached keys. Temporary keys are fetched again once
//! [`REFRESH_AT`] of their lifetime has passed, so a login (and a KIP-368 re-authentication)
//! never signs with keys about to expire; a failed refresh keeps the cached keys while they are
//! valid (a warning), and only keys that expired make logins fail, with the source's error.
//! Concurrent logins with nothing usable cached make one request.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::aws_sources::{Fetched, container, instance_profile, web_identity};
use crate::aws::{AwsCredentialSource, AwsKeys};

/// Share of temporary keys' lifetime after which they are fetched again.
const REFRESH_AT: f64 = 0.8;
/// Wait before a failed fetch is tried again by the next login.
const RETRY_AFTER: Duration = Duration::from_secs(1);

struct Cached {
    keys: Arc<AwsKeys>,
    /// `None`: keys that never expire.
    refresh_at: Option<Instant>,
    expires_at: Option<Instant>,
}

/// The credentials of one cluster.
pub(crate) struct AwsCredentials {
    source: AwsCredentialSource,
    http: reqwest::Client,
    /// A `std` mutex: held only to read or replace the keys, never across an `.await`.
    cached: Mutex<Option<Cached>>,
    fetching: tokio::sync::Mutex<()>,
    /// The last failed fetch and when, repeated to logins for [`RETRY_AFTER`].
    failed: Mutex<Option<(Instant, String)>>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials").field("source", &self.source).finish_non_exhaustive()
    }
}

impl AwsCredentials {
    /// Credentials from `source`; its HTTP calls time out after `timeout`.
    pub(crate) fn new(source: &AwsCredentialSource, timeout: Duration) -> Result<Arc<Self>, String> {
        let http = super::oidc::http_client(timeout)?;
        let cached = match source {
            AwsCredentialSource::Static(keys) => {
                Some(Cached { keys: Arc::new(keys.clone()), refresh_at: None, expires_at: None })
            }
            _ => None,
        };
        Ok(Arc::new(AwsCredentials {
            source: source.clone(),
            http,
            cached: Mutex::new(cached),
            fetching: tokio::sync::Mutex::default(),
            failed: Mutex::default(),
        }))
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, Option<Cached>> {
        self.cached.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keys for a login now.
    pub(crate) async fn keys(&self) -> Result<Arc<AwsKeys>, String> {
        if let Some(keys) = self.fresh() {
            return Ok(keys);
        }
        let _one = self.fetching.lock().await;
        if let Some(keys) = self.fresh() {
            return Ok(keys);
        }
        let recent_failure = self.failed.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let error = match recent_failure.filter(|(at, _)| at.elapsed() < RETRY_AFTER) {
            Some((_, error)) => error,
            None => match self.fetch().await {
                Ok(keys) => return Ok(keys),
                Err(error) => {
                    *self.failed.lock().unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), error.clone()));
                    error
                }
            },
        };
        // The refresh failed: keys that have not expired still sign.
        match self.valid() {
            Some(keys) => {
                tracing::warn!(%error, "aws credentials refresh failed, the cached keys are used until they expire");
                Ok(keys)
            }
            None => Err(error),
        }
    }

    /// Cached keys not yet due for a refresh.
    fn fresh(&self) -> Option<Arc<AwsKeys>> {
        let now = Instant::now();
        let cached = self.cached();
        cached.as_ref().filter(|c| c.refresh_at.is_none_or(|at| now < at)).map(|c| c.keys.clone())
    }

    /// Cached keys that have not expired.
    fn valid(&self) -> Option<Arc<AwsKeys>> {
        let now = Instant::now();
        let cached = self.cached();
        cached.as_ref().filter(|c| c.expires_at.is_none_or(|at| now < at)).map(|c| c.keys.clone())
    }

    async fn fetch(&self) -> Result<Arc<AwsKeys>, String> {
        let fetched_at = Instant::now();
        let Fetched { keys, expires } = match &self.source {
            AwsCredentialSource::Static(keys) => Fetched { keys: keys.clone(), expires: None },
            AwsCredentialSource::WebIdentity(settings) => web_identity(&self.http, settings).await?,
            AwsCredentialSource::Container(settings) => container(&self.http, settings).await?,
            AwsCredentialSource::InstanceProfile { endpoint } => instance_profile(&self.http, endpoint).await?,
        };
        let lifetime = expires.map(|at| at.duration_since(SystemTime::now()).unwrap_or_default());
        if lifetime.is_some_and(|l| l.is_zero()) {
            return Err(format!("credentials of {} arrived expired", keys.access_key_id));
        }
        let keys = Arc::new(keys);
        tracing::debug!(access_key_id = %keys.access_key_id, ?lifetime, "aws credentials fetched");
        *self.cached() = Some(Cached {
            keys: keys.clone(),
            refresh_at: lifetime.map(|l| fetched_at + l.mul_f64(REFRESH_AT)),
            expires_at: lifetime.map(|l| fetched_at + l),
        });
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::ContainerCredentials;

    #[tokio::test]
    async fn an_unreachable_source_names_itself_and_static_keys_need_no_request() {
        let keys = AwsKeys { access_key_id: "AKID".to_owned(), secret_access_key: "s".to_owned(), session_token: None };
        let fixed = AwsCredentials::new(&AwsCredentialSource::Static(keys.clone()), Duration::from_secs(1)).unwrap();
        assert_eq!(*fixed.keys().await.unwrap(), keys);
        // A port nothing listens on: bind one and drop it.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let uri = format!("http://127.0.0.1:{port}/creds");
        let source = AwsCredentialSource::Container(ContainerCredentials { uri: uri.clone(), authorization: None });
        let unreachable = AwsCredentials::new(&source, Duration::from_secs(1)).unwrap();
        let error = unreachable.keys().await.unwrap_err();
        assert!(error.starts_with(&format!("container credentials endpoint {uri}: request failed")), "{error}");
        // Repeated without a second request while the failure is recent.
        assert_eq!(unreachable.keys().await.unwrap_err(), error);
    }
}
