//! TLS of the native client through rustls, from the same `tls` keys as the librdkafka path:
//! `ca_file` (PEM; the system roots when absent), `cert_file` + `key_file` (PEM, for mTLS) and
//! `verify` (on by default: the broker's certificate chain and its host name or IP address).
//!
//! Built once per cluster, so a bad file is a configuration error at start, not a failure on
//! every connection. Encrypted keys (`key_password`) are refused: rustls reads only plain PEM
//! keys, and the librdkafka client remains for them.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_rustls::TlsConnector;

use crate::config::Tls;

/// A connector plus nothing else: the server name comes from each broker's address.
#[derive(Clone)]
pub(crate) struct TlsSettings {
    connector: TlsConnector,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings").finish_non_exhaustive()
    }
}

impl TlsSettings {
    /// Reads the files named by `tls`; the error says which key and why.
    pub(crate) fn new(tls: &Tls) -> Result<Self, String> {
        if tls.key_password.is_some() {
            return Err("tls.key_password: encrypted keys are not supported by the native client; \
                        use an unencrypted PEM key or client: librdkafka"
                .to_owned());
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("tls: {e}"))?;
        let builder = if tls.verify {
            builder.with_root_certificates(roots(tls.ca_file.as_deref())?)
        } else {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
        };
        let config = match (&tls.cert_file, &tls.key_file) {
            (Some(cert), Some(key)) => {
                let chain = certificates(cert, "tls.cert_file")?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| format!("tls.key_file: cannot read a PEM private key from {}: {e}", key.display()))?;
                builder.with_client_auth_cert(chain, key).map_err(|e| format!("tls.cert_file/key_file: {e}"))?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => return Err("tls: cert_file and key_file must be given together".to_owned()),
        };
        Ok(TlsSettings { connector: TlsConnector::from(Arc::new(config)) })
    }

    pub(crate) fn connector(&self) -> &TlsConnector {
        &self.connector
    }
}

/// The server name to verify for a `host:port` address: an IP address or a DNS name.
pub(crate) fn server_name(addr: &str) -> Result<ServerName<'static>, String> {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).map_err(|e| format!("tls: {host:?} is not a valid server name: {e}"))
}

fn roots(ca_file: Option<&Path>) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match ca_file {
        Some(file) => {
            for cert in certificates(file, "tls.ca_file")? {
                store.add(cert).map_err(|e| format!("tls.ca_file: {}: {e}", file.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err("tls: no ca_file given and no system root certificates found".to_owned());
            }
        }
    }
    Ok(store)
}

fn certificates(file: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{key}: cannot read PEM certificates from {}: {e}", file.display()))?;
    if certs.is_empty() {
        return Err(format!("{key}: no certificate in {}", file.display()));
    }
    Ok(certs)
}

/// `tls.verify: false`: any certificate and name is accepted (signatures are still checked, so
/// the handshake itself stays sound). Off by default; for test clusters only.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_come_from_the_host_part() {
        assert_eq!(server_name("127.0.0.1:9093").unwrap(), ServerName::try_from("127.0.0.1").unwrap());
        assert_eq!(server_name("[::1]:9093").unwrap(), ServerName::try_from("::1").unwrap());
        assert_eq!(server_name("kafka-0.example:9093").unwrap(), ServerName::try_from("kafka-0.example").unwrap());
        assert!(server_name("bad host:1").is_err());
    }

    #[test]
    fn missing_files_and_encrypted_keys_are_clear_errors() {
        let tls = Tls { ca_file: Some("/nonexistent/ca.pem".into()), ..Tls::default() };
        let err = TlsSettings::new(&tls).unwrap_err();
        assert!(err.starts_with("tls.ca_file: cannot read PEM certificates from /nonexistent/ca.pem"), "{err}");
        let tls = Tls { key_password: Some("x".into()), ..Tls::default() };
        assert!(TlsSettings::new(&tls).unwrap_err().starts_with("tls.key_password: encrypted keys"));
        let tls = Tls { cert_file: Some("/a".into()), ..Tls::default() };
        assert_eq!(TlsSettings::new(&tls).unwrap_err(), "tls: cert_file and key_file must be given together");
    }
}
