//! The listeners' TLS: a rustls server config from PEM files, optionally requiring client
//! certificates signed by a given CA (mTLS). Built once at start so a bad file fails `start`.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio_rustls::TlsAcceptor;

use crate::scenario::security::ServerTlsConfig;

/// The acceptor of every listener (a newtype only to be `Debug`).
#[derive(Clone)]
pub(crate) struct ServerTls(pub(crate) TlsAcceptor);

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerTls")
    }
}

pub(crate) fn acceptor(config: &ServerTlsConfig) -> Result<ServerTls, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("security.tls: {e}"))?;
    let builder = match &config.client_ca_file {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certificates(ca, "client_ca_file")? {
                roots.add(cert).map_err(|e| format!("security.tls.client_ca_file: {e}"))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("security.tls.client_ca_file: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let key = PrivateKeyDer::from_pem_file(&config.key_file)
        .map_err(|e| format!("security.tls.key_file: {}: {e}", config.key_file.display()))?;
    let server = builder
        .with_single_cert(certificates(&config.cert_file, "cert_file")?, key)
        .map_err(|e| format!("security.tls: {e}"))?;
    Ok(ServerTls(TlsAcceptor::from(Arc::new(server))))
}

fn certificates(file: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_file_iter(file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("security.tls.{key}: {}: {e}", file.display()))
}
