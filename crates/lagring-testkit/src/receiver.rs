//! An in-process Prometheus remote write receiver that records everything.
//!
//! Tests point lagring at it to check exactly what was sent (series, labels,
//! sample order), by whom (`X-Lagring-Node` header) and when, and to inject
//! faults: answer with a chosen status (503, 429, 400, ...) or go "down"
//! (listener closed, connections refused) and come back on the same port.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use lagring_sink::remote_write::proto::WriteRequest;
use prost::Message;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::ports::wait_for;

/// Request header naming the sending node.
pub const NODE_HEADER: &str = "x-lagring-node";

/// How the receiver answers valid requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// 204 No Content, like Prometheus.
    Ok,
    /// This status, with an optional `Retry-After` in seconds.
    Status { status: u16, retry_after_secs: Option<u64> },
}

/// Identity of a series: metric name and labels without `__name__`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesId {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// One series of one request with its `(timestamp ms, value)` samples.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedSeries {
    pub id: SeriesId,
    pub samples: Vec<(i64, f64)>,
}

/// One request as received.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    pub received_at: SystemTime,
    /// Time since the receiver was created.
    pub elapsed: Duration,
    /// Value of `X-Lagring-Node`, if sent.
    pub node: Option<String>,
    /// Status the receiver answered with.
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub series: Vec<RecordedSeries>,
    /// Why decoding failed (the request was answered 400).
    pub decode_error: Option<String>,
}

impl RecordedRequest {
    /// True when the request was answered 2xx.
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Number of samples in the request.
    pub fn sample_count(&self) -> usize {
        self.series.iter().map(|s| s.samples.len()).sum()
    }
}

/// One accepted sample, flattened with where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedSample {
    /// Index of the request in [`RecordingReceiver::requests`].
    pub request: usize,
    pub node: Option<String>,
    pub received_at: SystemTime,
    pub series: SeriesId,
    pub timestamp_ms: i64,
    pub value: f64,
}

#[derive(Debug)]
struct Shared {
    created: Instant,
    reply: Mutex<Reply>,
    /// Replies for single nodes (by `X-Lagring-Node`), over `reply`.
    node_replies: Mutex<BTreeMap<String, Reply>>,
    requests: Mutex<Vec<RecordedRequest>>,
}

#[derive(Debug)]
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// The receiver; stopped on drop.
#[derive(Debug)]
pub struct RecordingReceiver {
    port: u16,
    shared: Arc<Shared>,
    running: Option<Running>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl RecordingReceiver {
    /// Starts on a free port on 127.0.0.1, answering 204.
    pub async fn start() -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("bind receiver")?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            created: Instant::now(),
            reply: Mutex::new(Reply::Ok),
            node_replies: Mutex::new(BTreeMap::new()),
            requests: Mutex::new(Vec::new()),
        });
        let running = Some(serve(listener, Arc::clone(&shared)));
        Ok(Self { port, shared, running })
    }

    /// The remote write URL, `http://127.0.0.1:<port>/api/v1/write`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1/write", self.port)
    }

    /// Sets how subsequent valid requests are answered.
    pub fn set_reply(&self, reply: Reply) {
        *lock(&self.shared.reply) = reply;
    }

    /// Answers valid requests of `node` alone with `reply` (say, 401 for one
    /// node whose credentials were rotated), or as everyone else with `None`.
    pub fn set_reply_for(&self, node: &str, reply: Option<Reply>) {
        let mut replies = lock(&self.shared.node_replies);
        match reply {
            Some(reply) => replies.insert(node.to_owned(), reply),
            None => replies.remove(node),
        };
    }

    /// Answers subsequent valid requests with `status` (no `Retry-After`).
    pub fn set_status(&self, status: u16) {
        self.set_reply(Reply::Status { status, retry_after_secs: None });
    }

    /// Closes the listener and every connection: clients get refused until
    /// [`RecordingReceiver::come_up`].
    pub async fn go_down(&mut self) {
        if let Some(Running { stop, mut task }) = self.running.take() {
            let _ = stop.send(());
            if tokio::time::timeout(Duration::from_secs(5), &mut task).await.is_err() {
                task.abort();
            }
        }
    }

    /// Listens again on the same port.
    pub async fn come_up(&mut self) -> Result<()> {
        if self.running.is_some() {
            return Ok(());
        }
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("re-bind {addr}"))?;
        self.running = Some(serve(listener, Arc::clone(&self.shared)));
        Ok(())
    }

    /// True while listening.
    pub fn is_up(&self) -> bool {
        self.running.is_some()
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Number of requests received so far.
    pub fn request_count(&self) -> usize {
        lock(&self.shared.requests).len()
    }

    /// Forgets everything recorded.
    pub fn clear(&self) {
        lock(&self.shared.requests).clear();
    }

    /// Every sample of every accepted request, in arrival order.
    pub fn samples(&self) -> Vec<RecordedSample> {
        let requests = lock(&self.shared.requests);
        let mut out = Vec::new();
        for (index, request) in requests.iter().enumerate().filter(|(_, r)| r.accepted()) {
            for series in &request.series {
                out.extend(series.samples.iter().map(|&(timestamp_ms, value)| RecordedSample {
                    request: index,
                    node: request.node.clone(),
                    received_at: request.received_at,
                    series: series.id.clone(),
                    timestamp_ms,
                    value,
                }));
            }
        }
        out
    }

    /// Accepted samples grouped by series, each in arrival order.
    pub fn series(&self) -> BTreeMap<SeriesId, Vec<(i64, f64)>> {
        let mut out: BTreeMap<SeriesId, Vec<(i64, f64)>> = BTreeMap::new();
        for s in self.samples() {
            out.entry(s.series).or_default().push((s.timestamp_ms, s.value));
        }
        out
    }

    /// Number of samples in accepted requests.
    pub fn accepted_sample_count(&self) -> usize {
        lock(&self.shared.requests).iter().filter(|r| r.accepted()).map(RecordedRequest::sample_count).sum()
    }

    /// Waits until at least `n` samples were accepted.
    pub async fn wait_for_accepted_samples(&self, n: usize, timeout: Duration) -> Result<()> {
        wait_for(&format!("{n} accepted samples"), timeout, || async {
            Ok((self.accepted_sample_count() >= n).then_some(()))
        })
        .await
    }

    /// Waits until at least `n` requests arrived (whatever the answer).
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> Result<()> {
        wait_for(&format!("{n} requests"), timeout, || async { Ok((self.request_count() >= n).then_some(())) }).await
    }
}

impl Drop for RecordingReceiver {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.task.abort();
        }
    }
}

fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) -> Running {
    let (stop, stopped) = oneshot::channel::<()>();
    let app = Router::new().route("/api/v1/write", post(handle)).with_state(shared);
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            tracing::warn!(error = %e, "recording receiver stopped");
        }
    });
    Running { stop, task }
}

async fn handle(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let decoded = decode(&body);
    let node = headers.get(NODE_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let for_node = node.as_ref().and_then(|n| lock(&shared.node_replies).get(n).cloned());
    let reply = for_node.unwrap_or_else(|| lock(&shared.reply).clone());
    let (status, retry_after) = match (&decoded, reply) {
        (Err(_), _) => (StatusCode::BAD_REQUEST, None),
        (Ok(_), Reply::Ok) => (StatusCode::NO_CONTENT, None),
        (Ok(_), Reply::Status { status, retry_after_secs }) => {
            (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), retry_after_secs)
        }
    };
    let (series, decode_error) = match decoded {
        Ok(series) => (series, None),
        Err(e) => (Vec::new(), Some(format!("{e:#}"))),
    };
    let record = RecordedRequest {
        received_at: SystemTime::now(),
        elapsed: shared.created.elapsed(),
        node,
        status: status.as_u16(),
        headers: headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        series,
        decode_error,
    };
    lock(&shared.requests).push(record);
    let mut response = status.into_response();
    if let Some(secs) = retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn decode(body: &[u8]) -> Result<Vec<RecordedSeries>> {
    let raw = snap::raw::Decoder::new().decompress_vec(body).context("snappy raw block")?;
    let request = WriteRequest::decode(raw.as_slice()).context("protobuf WriteRequest")?;
    Ok(request
        .timeseries
        .into_iter()
        .map(|ts| {
            let mut name = String::new();
            let mut labels = BTreeMap::new();
            for label in ts.labels {
                if label.name == "__name__" {
                    name = label.value;
                } else {
                    labels.insert(label.name, label.value);
                }
            }
            RecordedSeries {
                id: SeriesId { name, labels },
                samples: ts.samples.into_iter().map(|s| (s.timestamp, s.value)).collect(),
            }
        })
        .collect())
}
