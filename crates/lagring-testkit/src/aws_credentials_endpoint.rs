//! Local AWS credential endpoints for AWS_MSK_IAM tests, on 127.0.0.1: STS
//! AssumeRoleWithWebIdentity (`POST /sts`, the EKS IRSA path: it checks the role and the web
//! identity token and answers in STS's XML) and a container credentials endpoint (`GET /creds`,
//! the ECS / EKS Pod Identity path: it checks the `Authorization` header and answers in JSON).
//! Both hand out the configured keys with an expiration `lifetime` ahead, so a test sees the
//! client refresh them; the simulator knows the same keys.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use tokio::sync::oneshot;

/// What the endpoints accept and hand out.
#[derive(Clone, Debug)]
pub struct AwsCredentialsConfig {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// The role web identity logins must ask for.
    pub role_arn: String,
    /// The web identity token STS accepts.
    pub web_identity_token: String,
    /// The `Authorization` header the container endpoint wants, if any.
    pub container_authorization: Option<String>,
    /// How long handed-out keys live (whole seconds, rounded up).
    pub lifetime: Duration,
}

struct Shared {
    config: AwsCredentialsConfig,
    issued: AtomicU64,
    refused: AtomicU64,
}

/// Running endpoints; they stop when dropped.
pub struct AwsCredentialsEndpoint {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _stop: oneshot::Sender<()>,
}

impl std::fmt::Debug for AwsCredentialsEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentialsEndpoint").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl AwsCredentialsEndpoint {
    /// Starts both endpoints on a free loopback port.
    pub async fn start(config: AwsCredentialsConfig) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("bind aws credentials endpoint")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared { config, issued: AtomicU64::new(0), refused: AtomicU64::new(0) });
        let app = Router::new()
            .route("/sts", post(assume_role_with_web_identity))
            .route("/creds", get(container_credentials))
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let served = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(error) = served.await {
                tracing::warn!(%error, "aws credentials endpoint stopped");
            }
        });
        Ok(AwsCredentialsEndpoint { addr, shared, _stop: stop })
    }

    /// The STS endpoint's URL.
    pub fn sts_url(&self) -> String {
        format!("http://{}/sts", self.addr)
    }

    /// The container credentials endpoint's URL.
    pub fn container_url(&self) -> String {
        format!("http://{}/creds", self.addr)
    }

    /// Keys handed out so far (both endpoints).
    pub fn issued(&self) -> u64 {
        self.shared.issued.load(Ordering::SeqCst)
    }

    /// Requests refused so far.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::SeqCst)
    }
}

/// The expiration `lifetime` from now, whole seconds rounded up, as AWS writes it.
fn expiration(lifetime: Duration) -> String {
    let at = SystemTime::now() + lifetime + Duration::from_millis(999);
    humantime::format_rfc3339_seconds(at).to_string()
}

async fn assume_role_with_web_identity(
    State(shared): State<Arc<Shared>>,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> Response {
    let c = &shared.config;
    let param = |name: &str| form.get(name).map(String::as_str);
    if param("Action") != Some("AssumeRoleWithWebIdentity") || param("RoleArn") != Some(c.role_arn.as_str()) {
        shared.refused.fetch_add(1, Ordering::SeqCst);
        return sts_error("AccessDenied", "not authorized to assume this role");
    }
    if param("WebIdentityToken") != Some(c.web_identity_token.as_str()) {
        shared.refused.fetch_add(1, Ordering::SeqCst);
        return sts_error("InvalidIdentityToken", "the web identity token is not valid");
    }
    let n = shared.issued.fetch_add(1, Ordering::SeqCst) + 1;
    let xml = format!(
        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
         <AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>{}</AccessKeyId>\
         <SecretAccessKey>{}</SecretAccessKey><SessionToken>session-{n}</SessionToken>\
         <Expiration>{}</Expiration></Credentials></AssumeRoleWithWebIdentityResult>\
         </AssumeRoleWithWebIdentityResponse>",
        c.access_key_id,
        c.secret_access_key,
        expiration(c.lifetime)
    );
    ([(header::CONTENT_TYPE, "text/xml")], xml).into_response()
}

fn sts_error(code: &str, message: &str) -> Response {
    let xml = format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error></ErrorResponse>"
    );
    (StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, "text/xml")], xml).into_response()
}

async fn container_credentials(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let c = &shared.config;
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if let Some(wanted) = &c.container_authorization
        && given != Some(wanted.as_str())
    {
        shared.refused.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::UNAUTHORIZED, "{\"message\":\"invalid authorization token\"}").into_response();
    }
    let n = shared.issued.fetch_add(1, Ordering::SeqCst) + 1;
    let document = serde_json::json!({
        "AccessKeyId": c.access_key_id,
        "SecretAccessKey": c.secret_access_key,
        "Token": format!("session-{n}"),
        "Expiration": expiration(c.lifetime),
    });
    ([(header::CONTENT_TYPE, "application/json")], document.to_string()).into_response()
}
