//! Throwaway certificates for TLS tests, made with the `openssl` command line tool (Debian's
//! `openssl` package): a CA, a server certificate for `localhost` and `127.0.0.1` and a client
//! certificate, both signed by it, and an unrelated second CA for "wrong CA" tests. EC P-256
//! keys, unencrypted PEM, valid for two days.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The PEM files written by [`make_certificates`].
#[derive(Debug, Clone)]
pub struct TestCertificates {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA that signed nothing here.
    pub other_ca: PathBuf,
}

const EC: [&str; 5] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/// Writes `ca.crt`, `server.crt`/`server.key`, `client.crt`/`client.key` and `other-ca.crt`
/// (plus their keys and requests) into `dir`.
pub fn make_certificates(dir: &Path) -> Result<TestCertificates> {
    for ca in ["ca", "other-ca"] {
        let (key, crt, subj) = (format!("{ca}.key"), format!("{ca}.crt"), format!("/CN=lagring-test-{ca}"));
        let args = [&["req", "-x509"][..], &EC, &["-keyout", &key, "-out", &crt, "-days", "2", "-subj", &subj]];
        openssl(dir, &args.concat())?;
    }
    for (name, ext) in [
        (
            "server",
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        ),
        ("client", "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n"),
    ] {
        let [key, csr, crt, extfile] = ["key", "csr", "crt", "ext"].map(|e| format!("{name}.{e}"));
        std::fs::write(dir.join(&extfile), ext).with_context(|| format!("write {extfile}"))?;
        let subj = format!("/CN=lagring-test-{name}");
        openssl(dir, &[&["req"][..], &EC, &["-keyout", &key, "-out", &csr, "-subj", &subj]].concat())?;
        let sign = ["x509", "-req", "-in", &csr, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial"];
        openssl(dir, &[&sign[..], &["-out", &crt, "-days", "2", "-extfile", &extfile]].concat())?;
    }
    Ok(TestCertificates {
        ca: dir.join("ca.crt"),
        server_cert: dir.join("server.crt"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.crt"),
        client_key: dir.join("client.key"),
        other_ca: dir.join("other-ca.crt"),
    })
}

fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("openssl").current_dir(dir).args(args).output().context("run openssl")?;
    if !out.status.success() {
        bail!("openssl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}
