//! A local OIDC token endpoint for OAUTHBEARER tests: the client-credentials grant (RFC 6749
//! §4.4) on 127.0.0.1, checking the client's id and secret (HTTP Basic, or `client_id` and
//! `client_secret` in the form) and minting HS256 JWTs with a configurable lifetime, `aud` from
//! the request's `audience` parameter. The simulator verifies them with the same key.
//!
//! `exp` is rounded up to the next whole second, so a token lives at least the lifetime it is
//! announced with (`expires_in`), never a fraction of a second less.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use axum::Form;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use jsonwebtoken::{EncodingKey, Header};
use tokio::sync::oneshot;

/// What the endpoint accepts and mints.
#[derive(Clone, Debug)]
pub struct TokenEndpointConfig {
    pub client_id: String,
    pub client_secret: String,
    /// The HS256 key tokens are signed with (the simulator's `oauthbearer.hs256_key`).
    pub hs256_key: String,
    /// Lifetime of each token (`expires_in`, whole seconds).
    pub lifetime: Duration,
}

struct Shared {
    config: TokenEndpointConfig,
    issued: AtomicU64,
    refused: AtomicU64,
    /// Answer every request with 503, as an identity provider in an outage.
    unavailable: AtomicBool,
    /// Form parameters of the last request. A `std` mutex, never held across an `.await`.
    last_form: Mutex<HashMap<String, String>>,
}

/// A running token endpoint; stops when dropped.
pub struct TokenEndpoint {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _stop: oneshot::Sender<()>,
}

impl std::fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenEndpoint").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl TokenEndpoint {
    /// Starts the endpoint on a free loopback port.
    pub async fn start(config: TokenEndpointConfig) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("bind token endpoint")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            issued: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            unavailable: AtomicBool::new(false),
            last_form: Mutex::default(),
        });
        let app = Router::new().route("/token", post(token)).with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let served = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(error) = served.await {
                tracing::warn!(%error, "token endpoint stopped");
            }
        });
        Ok(TokenEndpoint { addr, shared, _stop: stop })
    }

    /// The endpoint's URL.
    pub fn url(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// Tokens minted so far.
    pub fn issued(&self) -> u64 {
        self.shared.issued.load(Ordering::SeqCst)
    }

    /// Requests refused so far (wrong client id or secret).
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// Starts or ends an outage: every request is answered with 503 while it lasts.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.shared.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// Form parameters of the last request.
    pub fn last_form(&self) -> HashMap<String, String> {
        self.shared.last_form.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Mints an HS256 JWT for `subject` living `lifetime` (rounded up to whole seconds).
pub fn mint(key: &str, subject: &str, audience: Option<&str>, lifetime: Duration) -> Result<String> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let exp = (now + lifetime).as_millis().div_ceil(1000);
    let mut claims = serde_json::json!({ "sub": subject, "iat": now.as_secs(), "exp": exp });
    if let Some(audience) = audience {
        claims["aud"] = serde_json::Value::from(audience);
    }
    Ok(jsonwebtoken::encode(&Header::default(), &claims, &EncodingKey::from_secret(key.as_bytes())?)?)
}

async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    *shared.last_form.lock().unwrap_or_else(PoisonError::into_inner) = form.clone();
    let (id, secret) = basic(&headers).unwrap_or_else(|| {
        (form.get("client_id").cloned().unwrap_or_default(), form.get("client_secret").cloned().unwrap_or_default())
    });
    let config = &shared.config;
    if shared.unavailable.load(Ordering::SeqCst) {
        return error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    if id != config.client_id || secret != config.client_secret {
        shared.refused.fetch_add(1, Ordering::SeqCst);
        return error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let audience = form.get("audience").map(String::as_str);
    match mint(&config.hs256_key, &id, audience, config.lifetime) {
        Ok(jwt) => {
            shared.issued.fetch_add(1, Ordering::SeqCst);
            let body = serde_json::json!({
                "access_token": jwt,
                "token_type": "Bearer",
                "expires_in": config.lifetime.as_secs(),
            });
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(value).ok()?;
    let (id, secret) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

fn error(status: StatusCode, code: &str) -> Response {
    let body = serde_json::json!({ "error": code });
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}
