//! TLS to the receiver: a custom CA and a client certificate work, and
//! server verification is on unless explicitly disabled.
//!
//! Certificates are made with the `openssl` command line tool; the receiver
//! is a minimal HTTPS endpoint (rustls) that requires a client certificate
//! signed by the same CA and answers every request 204.

// Marks the helpers as test code so clippy's allow-*-in-tests applies.
#![cfg(test)]

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const REQUESTS: &str = "lagring_remote_write_requests_total";

/// Starts the HTTPS receiver; returns its port and the number of requests
/// served over a mutually authenticated connection.
async fn https_receiver(dir: &Path) -> (u16, Arc<Mutex<usize>>) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(dir.join("ca.crt")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider)).build().unwrap();
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(dir.join("server.crt")).unwrap().map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = Arc::new(Mutex::new(0usize));
    let counter = Arc::clone(&served);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let acceptor = acceptor.clone();
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                // Handshake failures (unknown client) simply close the connection.
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let client_cert = tls.get_ref().1.peer_certificates().is_some_and(|c| !c.is_empty());
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !request_complete(&buf) {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                if client_cert {
                    *counter.lock().unwrap() += 1;
                }
                let _ = tls.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n").await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, served)
}

/// True once the headers and a `Content-Length` body have arrived.
fn request_complete(buf: &[u8]) -> bool {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { return false };
    let headers = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let length: usize = headers
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    buf.len() >= end + 4 + length
}

fn sample() -> lagring_core::series::SeriesBatch {
    batch(1000, &[(key("m", &[("group", "g")]), 1.0)], &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_ca_and_client_certificate_are_used_and_verification_is_on_by_default() {
    let dir = tempfile::tempdir().unwrap();
    lagring_testkit::certs::make_certificates(dir.path()).unwrap();
    let (port, served) = https_receiver(dir.path()).await;
    let url = format!("https://127.0.0.1:{port}/api/v1/write");
    let identity = |cfg: &mut lagring_sink::RemoteWriteConfig| {
        cfg.tls.cert_file = Some(dir.path().join("client.crt"));
        cfg.tls.key_file = Some(dir.path().join("client.key"));
    };

    // Trusting the test CA and presenting the client certificate: delivered.
    let mut cfg = fast_config(url.clone());
    cfg.tls.ca_file = Some(dir.path().join("ca.crt"));
    identity(&mut cfg);
    let run = start(&cfg, &[], Duration::from_secs(5));
    run.handle.enqueue(sample());
    wait_metric(&run.registry, "lagring_remote_write_samples_sent_total", None, 1.0).await;
    assert_eq!(*served.lock().unwrap(), 1);
    run.shutdown.cancel();
    run.task.await.unwrap();

    // Without the CA the server certificate is not trusted: nothing is sent.
    let mut cfg = fast_config(url.clone());
    identity(&mut cfg);
    let run = start(&cfg, &[], Duration::from_millis(100));
    run.handle.enqueue(sample());
    wait_metric_at_least(&run.registry, REQUESTS, Some(("status", "error")), 2.0).await;
    run.shutdown.cancel();
    run.task.await.unwrap();
    assert_eq!(metric(&run.registry, "lagring_remote_write_samples_sent_total", None), 0.0);
    assert_eq!(*served.lock().unwrap(), 1);

    // Verification explicitly disabled: delivered without the CA.
    let mut cfg = fast_config(url);
    identity(&mut cfg);
    cfg.tls.insecure_skip_verify = true;
    let run = start(&cfg, &[], Duration::from_secs(5));
    run.handle.enqueue(sample());
    wait_metric(&run.registry, "lagring_remote_write_samples_sent_total", None, 1.0).await;
    assert_eq!(*served.lock().unwrap(), 2);
    run.shutdown.cancel();
    run.task.await.unwrap();
}
