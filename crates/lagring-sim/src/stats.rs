//! A tiny stats endpoint for benchmarks: any TCP connection (curl or a raw socket) gets an
//! HTTP/1.0 response whose body is the request counters as one JSON object, then is closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::counters::RequestCounts;

/// How long to wait for an (ignored) HTTP request before answering anyway.
const REQUEST_GRACE: Duration = Duration::from_millis(100);

/// Serve `snapshot()` as JSON on `addr` until `cancel`; returns the bound address.
pub async fn serve_stats(
    addr: SocketAddr,
    snapshot: Arc<dyn Fn() -> RequestCounts + Send + Sync>,
    cancel: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = cancel.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            let Ok((mut stream, _)) = accepted else { continue };
            let snapshot = snapshot.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = tokio::time::timeout(REQUEST_GRACE, stream.read(&mut buf)).await;
                let body = serde_json::to_string(&snapshot()).unwrap_or_else(|_| "{}".into());
                let response = format!(
                    "HTTP/1.0 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                if let Err(error) = stream.write_all(response.as_bytes()).await {
                    tracing::debug!(%error, "stats client went away");
                }
            });
        }
    });
    Ok(local)
}
