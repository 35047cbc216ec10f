//! One TCP connection to one broker with requests pipelined on it. Callers never touch the
//! socket: a writer task sends frames in submission order, a reader task routes each response
//! frame to its caller by correlation id. A caller waits for its own answer with its own timeout,
//! so a broker that stops answering costs each caller one timed-out future and no thread.
//!
//! With TLS the socket is a rustls stream, handshaken (and the broker's certificate verified)
//! within the connect timeout; the tasks see only a byte stream either way.
//!
//! The connection closes (both tasks end, every waiting caller gets `Closed`) when the broker
//! closes it, on a socket error, or when the `Connection` is dropped or closed; a request timeout
//! closes it too (see `broker.rs`), as the broker may be stuck behind it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::error::WireError;
use super::tls::{TlsSettings, server_name};
use super::wire::correlation_id;

/// Largest response frame accepted (Kafka's default `socket.request.max.bytes`); a longer length
/// prefix means a broken stream, not a big answer.
const MAX_RESPONSE: usize = 100 * 1024 * 1024;
/// Frames queued for the writer. Callers wait here only while the socket is slower than they
/// are; 64 keeps a whole iteration's requests to one broker queued without holding much memory.
const OUTGOING_CAPACITY: usize = 64;

/// Callers waiting for a response, by correlation id. A `std` mutex: held only to insert or
/// remove one entry, never across an `.await`.
#[derive(Default)]
struct Pending(Mutex<HashMap<i32, oneshot::Sender<Bytes>>>);

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, oneshot::Sender<Bytes>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Removes a caller's entry when it stops waiting (answered, timed out or dropped).
struct Waiting<'a> {
    pending: &'a Pending,
    id: i32,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.pending.lock().remove(&self.id);
    }
}

pub(crate) struct Connection {
    next_id: AtomicI32,
    pending: Arc<Pending>,
    outgoing: mpsc::Sender<Bytes>,
    closed: CancellationToken,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("closed", &self.closed.is_cancelled()).finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects to `addr` (and completes the TLS handshake when `tls` is given) within
    /// `timeout`, and starts the reader and writer tasks.
    pub(crate) async fn open(addr: &str, timeout: Duration, tls: Option<&TlsSettings>) -> Result<Self, WireError> {
        let connect_error = |message: String| WireError::Connect { addr: addr.to_owned(), message };
        let connect = async {
            let stream = TcpStream::connect(addr).await.map_err(|e| connect_error(e.to_string()))?;
            stream.set_nodelay(true).map_err(|e| connect_error(e.to_string()))?;
            let Some(tls) = tls else { return Ok(Self::start(stream)) };
            let name = server_name(addr).map_err(connect_error)?;
            let stream = tls
                .connector()
                .connect(name, stream)
                .await
                .map_err(|e| connect_error(format!("tls handshake failed: {e}")))?;
            Ok(Self::start(stream))
        };
        tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| connect_error(format!("timed out after {timeout:?}")))?
    }

    fn start<S: AsyncRead + AsyncWrite + Send + 'static>(stream: S) -> Self {
        let (read, write) = tokio::io::split(stream);
        let pending = Arc::new(Pending::default());
        let closed = CancellationToken::new();
        let (outgoing, queue) = mpsc::channel(OUTGOING_CAPACITY);
        tokio::spawn(read_loop(read, pending.clone(), closed.clone()));
        tokio::spawn(write_loop(write, queue, closed.clone()));
        Connection { next_id: AtomicI32::new(1), pending, outgoing, closed }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// Ends both tasks; callers still waiting get `Closed`.
    pub(crate) fn close(&self) {
        self.closed.cancel();
    }

    /// Sends the frame `build` makes for a fresh correlation id and waits up to `timeout` for the
    /// response frame (correlation id first, length prefix removed).
    pub(crate) async fn round_trip(
        &self,
        build: impl FnOnce(i32) -> Result<Bytes, WireError>,
        timeout: Duration,
    ) -> Result<Bytes, WireError> {
        if self.is_closed() {
            return Err(WireError::Closed);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = build(id)?;
        let (tx, rx) = oneshot::channel();
        self.pending.lock().insert(id, tx);
        let _waiting = Waiting { pending: &self.pending, id };
        let exchange = async {
            self.outgoing.send(frame).await.map_err(|_| WireError::Closed)?;
            rx.await.map_err(|_| WireError::Closed)
        };
        tokio::time::timeout(timeout, exchange).await.unwrap_or(Err(WireError::Timeout(timeout)))
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.closed.cancel();
    }
}

async fn read_loop(mut read: impl AsyncRead + Unpin, pending: Arc<Pending>, closed: CancellationToken) {
    loop {
        let frame = tokio::select! {
            () = closed.cancelled() => break,
            frame = read_frame(&mut read) => frame,
        };
        match frame {
            Ok(frame) => {
                let Some(id) = correlation_id(&frame) else {
                    debug!("response frame without a correlation id, closing");
                    break;
                };
                // A missing entry is a caller that gave up; its late answer is dropped.
                if let Some(tx) = pending.lock().remove(&id) {
                    let _ = tx.send(frame);
                }
            }
            Err(error) => {
                debug!(%error, "connection read ended");
                break;
            }
        }
    }
    closed.cancel();
    pending.lock().clear();
}

async fn write_loop(mut write: impl AsyncWrite + Unpin, mut queue: mpsc::Receiver<Bytes>, closed: CancellationToken) {
    loop {
        let frame = tokio::select! {
            () = closed.cancelled() => break,
            frame = queue.recv() => frame,
        };
        let Some(frame) = frame else { break };
        let written = tokio::select! {
            () = closed.cancelled() => break,
            // A TLS stream buffers records until flushed; TCP's flush is a no-op.
            written = async { write.write_all(&frame).await?; write.flush().await } => written,
        };
        if let Err(error) = written {
            debug!(%error, "connection write failed");
            break;
        }
    }
    closed.cancel();
}

async fn read_frame(read: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Bytes> {
    let len = read.read_i32().await?;
    let len = usize::try_from(len)
        .ok()
        .filter(|l| (4..=MAX_RESPONSE).contains(l))
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad frame length {len}")))?;
    let mut buf = BytesMut::zeroed(len);
    read.read_exact(&mut buf).await?;
    Ok(buf.freeze())
}
