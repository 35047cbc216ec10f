//! One broker's accept loop and the per-connection request loop: read a length-prefixed frame,
//! decode the header for its API/version, apply faults (outage, latency, error choice), dispatch,
//! write the response. Requests on one connection are answered in order, as Kafka does. With
//! TLS configured the socket is a rustls stream; with SASL configured every connection must log
//! in first (see `sasl.rs`).

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::Decodable;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Shared;
use super::sasl::{Next, SaslSession};
use crate::handlers::{Ctx, dispatch, with_length};

/// Largest request accepted (Kafka's default socket.request.max.bytes).
const MAX_FRAME: usize = 100 * 1024 * 1024;
/// Poll period while a broker is "down" (it holds the request until the outage ends).
const OUTAGE_POLL: Duration = Duration::from_millis(20);
/// Longest TLS handshake a connection may take.
const TLS_HANDSHAKE: Duration = Duration::from_secs(10);

pub(crate) async fn accept_loop(
    broker: i32,
    listener: TcpListener,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let (shared, cancel) = (shared.clone(), cancel.clone());
                tracker.spawn(async move {
                    let served = match (stream.set_nodelay(true), shared.tls.clone()) {
                        (Err(error), _) => Err(error),
                        (Ok(()), None) => serve(broker, stream, shared, cancel).await,
                        (Ok(()), Some(acceptor)) => {
                            match tokio::time::timeout(TLS_HANDSHAKE, acceptor.0.accept(stream)).await {
                                Ok(Ok(stream)) => serve(broker, stream, shared, cancel).await,
                                Ok(Err(error)) => Err(error),
                                Err(_) => Err(std::io::Error::other("tls handshake timed out")),
                            }
                        }
                    };
                    if let Err(error) = served {
                        tracing::debug!(broker, %peer, %error, "connection closed");
                    }
                });
            }
            Err(error) => {
                tracing::warn!(broker, %error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve(
    broker: i32,
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let mut sasl = SaslSession::new(shared.sasl.as_ref());
    loop {
        let frame = tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            frame = read_frame(&mut stream) => frame?,
        };
        let Some(frame) = frame else { return Ok(()) };
        let api_key = frame.clone().get_i16();
        if !sasl.allows(api_key) {
            tracing::debug!(broker, api_key, "request before sasl authentication, closing");
            return Ok(());
        }
        let (response, next) = if api_key == ApiKey::SaslHandshake as i16 || api_key == ApiKey::SaslAuthenticate as i16
        {
            shared.counters.record(broker, api_key);
            let (version, correlation_id, body) = split_header(api_key, frame);
            match sasl.answer(api_key, version, correlation_id, body) {
                Ok(answer) => answer,
                Err(error) => {
                    tracing::debug!(broker, api_key, %error, "bad sasl request, closing");
                    return Ok(());
                }
            }
        } else {
            let Some(response) = handle(broker, frame, &shared, &cancel).await else { return Ok(()) };
            (response, Next::Continue)
        };
        stream.write_all(&with_length(&response)).await?;
        stream.flush().await?;
        if matches!(next, Next::Close) {
            return Ok(());
        }
    }
}

/// (version, correlation id, body) of a request frame; an undecodable header leaves no body.
fn split_header(api_key: i16, mut frame: Bytes) -> (i16, i32, Bytes) {
    let mut peek = frame.clone();
    let (_, version, correlation_id) = (peek.get_i16(), peek.get_i16(), peek.get_i32());
    let body = match ApiKey::try_from(api_key) {
        Ok(key) => match RequestHeader::decode(&mut frame, key.request_header_version(version)) {
            Ok(_) => frame,
            Err(error) => {
                tracing::debug!(api_key, version, %error, "bad request header");
                Bytes::new()
            }
        },
        Err(()) => Bytes::new(),
    };
    (version, correlation_id, body)
}

async fn read_frame(stream: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Option<Bytes>> {
    let len = match stream.read_i32().await {
        Ok(len) => len,
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = usize::try_from(len)
        .ok()
        .filter(|l| *l >= 8 && *l <= MAX_FRAME)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad frame length"))?;
    let mut buf = BytesMut::zeroed(len);
    stream.read_exact(&mut buf).await?;
    Ok(Some(buf.freeze()))
}

/// Answer one frame; `None` when the simulator is shutting down mid-outage.
async fn handle(broker: i32, frame: Bytes, shared: &Shared, cancel: &CancellationToken) -> Option<BytesMut> {
    let api_key = frame.clone().get_i16();
    shared.counters.record(broker, api_key);
    while shared.faults.is_down(broker, shared.clock.elapsed_ms()) || shared.controls.is_silenced(broker) {
        tokio::select! {
            () = cancel.cancelled() => return None,
            () = tokio::time::sleep(OUTAGE_POLL) => {}
        }
    }
    if let Some(delay) = shared.faults.latency(api_key) {
        tokio::select! {
            () = cancel.cancelled() => return None,
            () = tokio::time::sleep(delay) => {}
        }
    }
    let (version, correlation_id, body) = split_header(api_key, frame);
    let ctx = Ctx {
        model: &shared.model,
        brokers: &shared.brokers,
        broker,
        t_ms: shared.clock.elapsed_ms(),
        version,
        injected: shared.faults.error(broker, api_key),
        controls: &shared.controls,
    };
    Some(dispatch(&ctx, api_key, correlation_id, body))
}
