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
//!
//! A response frame's length prefix is not trusted: a length above the configured maximum
//! (`NativeOptions::max_response_frame_bytes`) or below 4 is an error naming the broker and the
//! size, and the buffer of an accepted frame grows as bytes arrive ([`READ_CHUNK`] at a time),
//! so a broker that announces 100 MiB and sends 10 bytes costs 10 bytes, not 100 MiB. A frame
//! error ends the connection and is the answer of every caller waiting on it; the broker then
//! backs off like after any failed request, and other brokers and clusters are unaffected.

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

/// Most bytes read into a frame's buffer per read: the buffer grows with the bytes that arrived,
/// never more than this ahead of them (plus the doubling of a growing buffer).
const READ_CHUNK: usize = 64 * 1024;
/// Frames queued for the writer. Callers wait here only while the socket is slower than they
/// are; 64 keeps a whole iteration's requests to one broker queued without holding much memory.
const OUTGOING_CAPACITY: usize = 64;

/// Callers waiting for a response, by correlation id. A `std` mutex: held only to insert or
/// remove one entry, never across an `.await`.
#[derive(Default)]
struct Pending(Mutex<HashMap<i32, oneshot::Sender<Answer>>>);

/// A response frame, or why the stream broke before it arrived.
type Answer = Result<Bytes, WireError>;

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, oneshot::Sender<Answer>>> {
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
    /// `timeout`, and starts the reader and writer tasks; response frames longer than
    /// `max_frame` bytes end the connection.
    pub(crate) async fn open(
        addr: &str,
        timeout: Duration,
        tls: Option<&TlsSettings>,
        max_frame: usize,
    ) -> Result<Self, WireError> {
        let connect_error = |message: String| WireError::Connect { addr: addr.to_owned(), message };
        let reader = FrameReader { addr: addr.to_owned(), max_frame };
        let connect = async {
            let stream = TcpStream::connect(addr).await.map_err(|e| connect_error(e.to_string()))?;
            stream.set_nodelay(true).map_err(|e| connect_error(e.to_string()))?;
            let Some(tls) = tls else { return Ok(Self::start(stream, reader)) };
            let name = server_name(addr).map_err(connect_error)?;
            let stream = tls
                .connector()
                .connect(name, stream)
                .await
                .map_err(|e| connect_error(format!("tls handshake failed: {e}")))?;
            Ok(Self::start(stream, reader))
        };
        tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| connect_error(format!("timed out after {timeout:?}")))?
    }

    fn start<S: AsyncRead + AsyncWrite + Send + 'static>(stream: S, reader: FrameReader) -> Self {
        let (read, write) = tokio::io::split(stream);
        let pending = Arc::new(Pending::default());
        let closed = CancellationToken::new();
        let (outgoing, queue) = mpsc::channel(OUTGOING_CAPACITY);
        tokio::spawn(read_loop(read, reader, pending.clone(), closed.clone()));
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
            rx.await.map_err(|_| WireError::Closed)?
        };
        tokio::time::timeout(timeout, exchange).await.unwrap_or(Err(WireError::Timeout(timeout)))
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.closed.cancel();
    }
}

async fn read_loop(
    mut read: impl AsyncRead + Unpin,
    reader: FrameReader,
    pending: Arc<Pending>,
    closed: CancellationToken,
) {
    loop {
        let frame = tokio::select! {
            () = closed.cancelled() => break,
            frame = reader.read_frame(&mut read) => frame,
        };
        match frame {
            Ok(frame) => {
                let Some(id) = correlation_id(&frame) else {
                    debug!("response frame without a correlation id, closing");
                    break;
                };
                // A missing entry is a caller that gave up; its late answer is dropped.
                if let Some(tx) = pending.lock().remove(&id) {
                    let _ = tx.send(Ok(frame));
                }
            }
            Err(ReadError::Ended(error)) => {
                debug!(%error, "connection read ended");
                break;
            }
            Err(ReadError::Frame(error)) => {
                debug!(%error, "bad response frame, closing");
                // Every caller waiting on this connection learns why it broke.
                for (_, tx) in pending.lock().drain() {
                    let _ = tx.send(Err(error.clone()));
                }
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

/// Why the reader stopped.
#[derive(Debug)]
enum ReadError {
    /// The socket ended or failed between frames (or mid-frame with an I/O error): waiting
    /// callers get `Closed`, as for any connection that goes away.
    Ended(std::io::Error),
    /// The broker sent a frame this client refuses: callers get the error itself.
    Frame(WireError),
}

/// Reads length-prefixed response frames of one broker.
#[derive(Debug, Clone)]
struct FrameReader {
    addr: String,
    max_frame: usize,
}

impl FrameReader {
    /// The next frame without its length prefix, its buffer grown as the bytes arrive.
    async fn read_frame(&self, read: &mut (impl AsyncRead + Unpin)) -> Result<Bytes, ReadError> {
        let announced = read.read_i32().await.map_err(ReadError::Ended)?;
        let len = self.frame_len(announced).map_err(ReadError::Frame)?;
        let mut buf = BytesMut::new();
        while buf.len() < len {
            let want = (len - buf.len()).min(READ_CHUNK);
            buf.reserve(want);
            let got = (&mut *read).take(want as u64).read_buf(&mut buf).await.map_err(ReadError::Ended)?;
            if got == 0 {
                return Err(ReadError::Frame(WireError::Frame {
                    addr: self.addr.clone(),
                    message: format!("connection closed after {} of the {len} bytes of a response frame", buf.len()),
                }));
            }
        }
        Ok(buf.freeze())
    }

    /// The length prefix as a size, if it is one this client accepts.
    fn frame_len(&self, announced: i32) -> Result<usize, WireError> {
        match usize::try_from(announced) {
            Ok(len) if len > self.max_frame => {
                Err(WireError::FrameTooLarge { addr: self.addr.clone(), size: len, max: self.max_frame })
            }
            Ok(len) if len >= 4 => Ok(len),
            _ => Err(WireError::Frame {
                addr: self.addr.clone(),
                message: format!("response frame length {announced} is shorter than a correlation id"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    fn reader(max_frame: usize) -> FrameReader {
        FrameReader { addr: "broker:9092".to_owned(), max_frame }
    }

    #[tokio::test]
    async fn frames_arrive_whole_across_many_reads() {
        let (mut server, mut client) = tokio::io::duplex(1024);
        let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let sent = body.clone();
        let writer = tokio::spawn(async move {
            server.write_all(&i32::try_from(sent.len()).unwrap().to_be_bytes()).await.unwrap();
            server.write_all(&sent).await.unwrap();
        });
        let frame = reader(1 << 20).read_frame(&mut client).await.unwrap();
        assert_eq!(&frame[..], &body[..]);
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn an_oversized_length_is_an_error_naming_broker_and_size() {
        let mut bytes: &[u8] = &[0x7f, 0xff, 0xff, 0xff];
        let Err(ReadError::Frame(error)) = reader(100 * 1024 * 1024).read_frame(&mut bytes).await else {
            panic!("expected a frame error");
        };
        assert_eq!(
            error.to_string(),
            "response frame of 2147483647 bytes from broker broker:9092 exceeds the limit of 104857600 bytes"
        );
        for short in [[0, 0, 0, 3], [0xff, 0xff, 0xff, 0xff]] {
            let mut bytes: &[u8] = &short;
            assert!(matches!(reader(1024).read_frame(&mut bytes).await, Err(ReadError::Frame(_))));
        }
    }

    #[tokio::test]
    async fn a_cut_frame_is_an_error_and_its_buffer_is_what_arrived() {
        // 90 MiB announced, 10 bytes sent: the old reader zero-filled 90 MiB at once.
        let mut bytes: Vec<u8> = (90 * 1024 * 1024_i32).to_be_bytes().to_vec();
        bytes.extend_from_slice(&[7; 10]);
        let Err(ReadError::Frame(error)) = reader(100 * 1024 * 1024).read_frame(&mut &bytes[..]).await else {
            panic!("expected a frame error");
        };
        assert_eq!(
            error.to_string(),
            "broker broker:9092: connection closed after 10 of the 94371840 bytes of a response frame"
        );
    }

    #[tokio::test]
    async fn a_clean_end_between_frames_ends_the_connection() {
        let mut bytes: &[u8] = &[];
        assert!(matches!(reader(1024).read_frame(&mut bytes).await, Err(ReadError::Ended(_))));
    }
}
