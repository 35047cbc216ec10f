//! The network call: one HTTP POST of one encoded request.
//!
//! Builds the reqwest client once (rustls; extra CA, client identity and
//! verification settings from [`TlsConfig`]) and classifies each response as
//! sent, retryable (5xx, 429, connection errors) or rejected (other 4xx —
//! retrying a malformed request only repeats the rejection).

use std::path::{Path, PathBuf};

use bytes::Bytes;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Certificate, Client, Identity, StatusCode, Url};

use super::config::{RemoteWriteConfig, Secret, TlsConfig};
use super::retry::parse_retry_after;
use crate::SinkError;

/// Longest part of a rejection body kept for the log.
const MAX_ERROR_BODY: usize = 512;

/// How one attempt ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    Sent,
    /// Worth retrying: 5xx, 429 or a transport error.
    Retry {
        reason: String,
        retry_after: Option<std::time::Duration>,
    },
    /// The receiver refused the data for good (4xx other than 429).
    Rejected {
        body: String,
    },
}

/// One attempt's outcome plus the `status` label for `requests_total`.
#[derive(Debug)]
pub(crate) struct Attempt {
    pub outcome: Outcome,
    pub status_label: String,
}

#[derive(Debug)]
enum Auth {
    None,
    Basic { username: String, password: Secret },
    Bearer(Secret),
    BearerFile(PathBuf),
}

/// Sends encoded requests to one receiver.
#[derive(Debug)]
pub(crate) struct RemoteWriteService {
    client: Client,
    url: Url,
    headers: HeaderMap,
    auth: Auth,
}

impl RemoteWriteService {
    /// Builds the client; `cfg` must have passed `validate()`.
    pub fn new(cfg: &RemoteWriteConfig, extra_headers: &[(String, String)]) -> Result<Self, SinkError> {
        let url = Url::parse(&cfg.url)
            .map_err(|e| SinkError::config("remote_write.url", format!("invalid url {:?}: {e}", cfg.url)))?;
        let client = build_client(cfg)?;
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("snappy"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-protobuf"));
        headers.insert("x-prometheus-remote-write-version", HeaderValue::from_static("0.1.0"));
        let configured = cfg.headers.iter().map(|(k, v)| (k.as_str(), v.as_str(), "remote_write.headers"));
        let extra = extra_headers.iter().map(|(k, v)| (k.as_str(), v.as_str(), "extra header"));
        for (name, value, origin) in configured.chain(extra) {
            let key = format!("{origin}.{name}");
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| SinkError::config(key.clone(), format!("invalid header name: {e}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|e| SinkError::config(key, format!("invalid header value: {e}")))?;
            headers.insert(name, value);
        }
        let auth = match (&cfg.basic_auth, &cfg.bearer_token, &cfg.bearer_token_file) {
            (Some(b), _, _) => Auth::Basic { username: b.username.clone(), password: b.password.clone() },
            (None, Some(token), _) => Auth::Bearer(token.clone()),
            (None, None, Some(path)) => Auth::BearerFile(path.clone()),
            (None, None, None) => Auth::None,
        };
        Ok(Self { client, url, headers, auth })
    }

    /// Makes one attempt to deliver `body` (already snappy-compressed).
    pub async fn send(&self, body: Bytes) -> Attempt {
        let mut request = self.client.post(self.url.clone()).headers(self.headers.clone()).body(body);
        request = match &self.auth {
            Auth::None => request,
            Auth::Basic { username, password } => request.basic_auth(username, Some(password.expose())),
            Auth::Bearer(token) => request.bearer_auth(token.expose()),
            Auth::BearerFile(path) => match read_token(path).await {
                Ok(token) => request.bearer_auth(token),
                Err(reason) => {
                    let outcome = Outcome::Retry { reason, retry_after: None };
                    return Attempt { outcome, status_label: "error".to_owned() };
                }
            },
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                let outcome = Outcome::Retry { reason: format!("request failed: {e}"), retry_after: None };
                return Attempt { outcome, status_label: "error".to_owned() };
            }
        };
        let status = response.status();
        let status_label = status.as_u16().to_string();
        let retry_after = response.headers().get(header::RETRY_AFTER).and_then(parse_retry_after);
        let outcome = if status.is_success() {
            Outcome::Sent
        } else if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            Outcome::Retry { reason: format!("receiver answered {status}"), retry_after }
        } else {
            Outcome::Rejected { body: error_body(response).await }
        };
        Attempt { outcome, status_label }
    }
}

fn build_client(cfg: &RemoteWriteConfig) -> Result<Client, SinkError> {
    let http_err = |what: &str| {
        let what = what.to_owned();
        move |source| SinkError::HttpClient { what, source }
    };
    let mut builder = Client::builder().timeout(cfg.timeout).user_agent(concat!("lagring/", env!("CARGO_PKG_VERSION")));
    let TlsConfig { ca_file, cert_file, key_file, insecure_skip_verify } = &cfg.tls;
    if let Some(path) = ca_file {
        let pem = read_file("remote_write.tls.ca_file", path)?;
        let certs = Certificate::from_pem_bundle(&pem).map_err(http_err("remote_write.tls.ca_file"))?;
        builder = builder.tls_certs_merge(certs);
    }
    if let (Some(cert), Some(key)) = (cert_file, key_file) {
        let mut pem = read_file("remote_write.tls.cert_file", cert)?;
        pem.push(b'\n');
        pem.extend(read_file("remote_write.tls.key_file", key)?);
        let identity = Identity::from_pem(&pem).map_err(http_err("remote_write.tls.cert_file"))?;
        builder = builder.identity(identity);
    }
    if *insecure_skip_verify {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    builder.build().map_err(http_err("remote_write"))
}

fn read_file(key: &str, path: &Path) -> Result<Vec<u8>, SinkError> {
    std::fs::read(path).map_err(|source| SinkError::ReadFile { key: key.to_owned(), path: path.to_owned(), source })
}

/// Reads the bearer token file anew, so a rotated token is used at once.
async fn read_token(path: &Path) -> Result<String, String> {
    match tokio::fs::read_to_string(path).await {
        Ok(text) => Ok(text.trim().to_owned()),
        Err(e) => Err(format!("read remote_write.bearer_token_file {}: {e}", path.display())),
    }
}

async fn error_body(response: reqwest::Response) -> String {
    let text = response.text().await.unwrap_or_default();
    let end = (0..=MAX_ERROR_BODY.min(text.len())).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
    text.get(..end).unwrap_or_default().trim().to_owned()
}
