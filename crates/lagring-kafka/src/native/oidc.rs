//! The one HTTP call of OAUTHBEARER: the OAuth 2.0 client-credentials grant (RFC 6749 §4.4)
//! against an OIDC provider's token endpoint, as librdkafka's `sasl.oauthbearer.method=oidc`
//! makes it: client id and secret in HTTP Basic authentication (§2.3.1), `grant_type`, `scope`,
//! `audience` and any extra parameters in the form body.
//!
//! The endpoint is trusted no more than a broker: the call has connect and total timeouts, the
//! answer's body is read up to [`MAX_BODY`] bytes, and every error names the endpoint. The body of
//! a refusal is quoted (cut short) because identity providers put the reason there; the secret is
//! never part of an error or a log line.

use std::time::Duration;

use serde::Deserialize;

use crate::config::OidcClientCredentials;

/// Largest token response read. A JWT with generous claims is a few kilobytes.
const MAX_BODY: usize = 64 * 1024;
/// Characters of a refusal's body quoted in the error.
const QUOTED: usize = 300;
/// Connect timeout of the token endpoint; the whole call is bounded by the request timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An access token and how long the endpoint says it lives.
#[derive(Debug)]
pub(crate) struct Issued {
    pub(crate) token: String,
    pub(crate) expires_in: Option<Duration>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// The HTTP client for token requests of one cluster.
pub(crate) fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .timeout(timeout)
        .build()
        .map_err(|e| format!("cannot build the http client of the token endpoint: {e}"))
}

/// Requests a token; an error message names the endpoint.
pub(crate) async fn request_token(http: &reqwest::Client, oidc: &OidcClientCredentials) -> Result<Issued, String> {
    let url = &oidc.token_endpoint_url;
    let at = |what: String| format!("token endpoint {url}: {what}");
    let secret = oidc.client_secret.read().map_err(at)?;
    let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
    if let Some(scope) = &oidc.scope {
        form.push(("scope", scope));
    }
    if let Some(audience) = &oidc.audience {
        form.push(("audience", audience));
    }
    form.extend(oidc.extra_params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let mut response = http
        .post(url)
        .basic_auth(&oidc.client_id, Some(secret))
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&form)
        .send()
        .await
        .map_err(|e| at(format!("request failed: {}", error_chain(&e))))?;
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| at(format!("reading the answer failed: {e}")))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(at(format!("answer longer than {MAX_BODY} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let text: String = String::from_utf8_lossy(&body).chars().take(QUOTED).collect();
        return Err(at(format!("refused the token request: http {}: {}", status.as_u16(), text.trim())));
    }
    let parsed: TokenResponse =
        serde_json::from_slice(&body).map_err(|e| at(format!("answer is not a token response: {e}")))?;
    if parsed.access_token.is_empty() {
        return Err(at("answer has an empty access_token".to_owned()));
    }
    Ok(Issued { token: parsed.access_token, expires_in: parsed.expires_in.map(Duration::from_secs) })
}

/// `e` and its sources, as reqwest's top-level message alone ("error sending request") hides
/// whether the connection was refused or timed out. Shared with the AWS credential sources.
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
