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

/// Bytes of a rejection body read and kept for the log (the body is read no
/// further).
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
        status: u16,
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
            Outcome::Rejected { status: status.as_u16(), body: error_body(response).await }
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

/// The first [`MAX_ERROR_BODY`] bytes of a rejection's body, as text.
///
/// Reads chunk by chunk and stops at the bound: a receiver (or a proxy in
/// front of it) may answer with megabytes, or never end its body, and only
/// the start is worth a log line. The rest is never read; dropping the
/// response closes the connection.
async fn error_body(mut response: reqwest::Response) -> String {
    let mut kept = Vec::with_capacity(MAX_ERROR_BODY);
    while kept.len() < MAX_ERROR_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_ERROR_BODY - kept.len();
                kept.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
            }
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the rest of a rejection body");
                break;
            }
        }
    }
    truncated_text(&kept)
}

/// `bytes` as UTF-8 text, trimmed; a character cut by the bound is dropped
/// and invalid bytes are replaced.
fn truncated_text(bytes: &[u8]) -> String {
    let whole = match std::str::from_utf8(bytes) {
        // A multi-byte character cut at the very end: keep what precedes it.
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        _ => bytes.len(),
    };
    let text = String::from_utf8_lossy(bytes.get(..whole).unwrap_or_default());
    // Replacement characters are longer than the bytes they replace.
    let end = (0..=MAX_ERROR_BODY.min(text.len())).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
    text.get(..end).unwrap_or_default().trim().to_owned()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// 10 MiB of rejection body, announced one byte longer than sent so a
    /// reader that wants all of it waits for the request timeout.
    const HUGE_BODY: usize = 10 * 1024 * 1024;

    /// Answers the first request with 400 and [`HUGE_BODY`] bytes that start
    /// with `prefix`, then keeps the connection open until the test ends.
    async fn huge_rejection_receiver(prefix: &'static str) -> (String, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65_536 {
                let n = socket.read(&mut buf).await.unwrap();
                assert!(n > 0, "client closed before sending its request");
                head.extend_from_slice(&buf[..n]);
            }
            let answer = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{prefix}",
                HUGE_BODY + 1
            );
            socket.write_all(answer.as_bytes()).await.unwrap();
            let filler = vec![b'x'; 64 * 1024];
            let mut sent = prefix.len();
            while sent < HUGE_BODY {
                let chunk = &filler[..filler.len().min(HUGE_BODY - sent)];
                // The client stops reading and closes: the rest cannot be sent.
                if socket.write_all(chunk).await.is_err() {
                    return;
                }
                sent += chunk.len();
            }
            // The last announced byte never comes.
            std::future::pending::<()>().await;
        });
        (url, server)
    }

    #[tokio::test]
    async fn a_huge_rejection_body_is_read_only_up_to_the_bound() {
        let (url, server) = huge_rejection_receiver("out of order sample: ").await;
        let mut cfg = RemoteWriteConfig::for_url(url);
        cfg.timeout = Duration::from_secs(60);
        let service = RemoteWriteService::new(&cfg, &[]).unwrap();
        let attempt = tokio::time::timeout(Duration::from_secs(10), service.send(Bytes::from_static(b"x")))
            .await
            .expect("the rejection was reported before the whole body arrived");
        server.abort();
        assert_eq!(attempt.status_label, "400");
        let Outcome::Rejected { body, .. } = attempt.outcome else { panic!("not rejected: {:?}", attempt.outcome) };
        assert!(body.len() <= MAX_ERROR_BODY, "kept {} bytes", body.len());
        assert!(body.starts_with("out of order sample: xxx"), "{body}");
        assert_eq!(body.len(), MAX_ERROR_BODY);
    }

    #[test]
    fn a_cut_character_at_the_bound_is_dropped() {
        assert_eq!(truncated_text(" ok é".as_bytes()), "ok é");
        assert_eq!(truncated_text(&" ok é".as_bytes()[..5]), "ok");
        assert_eq!(truncated_text(b"a\xffb"), "a\u{fffd}b");
        let invalid = vec![0xff; MAX_ERROR_BODY];
        assert!(truncated_text(&invalid).len() <= MAX_ERROR_BODY);
    }
}
