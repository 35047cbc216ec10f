//! A real tansu broker (Apache-Kafka-API compatible, in Rust) for integration
//! tests, on a free loopback port with its sqlite store in a fresh temp dir.
//!
//! The binary comes from `scripts/setup.sh` (a 20+ minute `cargo install`,
//! cached outside the repo): `$LAGRING_TANSU`, else the path written in
//! `~/.cache/lagring/tansu-path`, else
//! `~/.cache/lagring/tansu-0.6.0-libsql/bin/tansu`.
//!
//! Quirks of tansu 0.6.0 with `sqlite://` storage (see docs TESTBED.md);
//! tests must work around them, lagring must not bend to them:
//! - the sqlite URL must be *relative* with the broker's cwd set to the temp
//!   dir; an absolute path gets doubled;
//! - ListGroups works but reports every group's state as "Unknown";
//! - DescribeGroups fails server-side (JSON error) and the connection then
//!   misbehaves: never call it against tansu;
//! - `memory://` storage reports a wrong high watermark for multi-record
//!   batches, which is why sqlite is used.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::ports::{free_port, wait_for_tcp};
use crate::process::ServerProcess;

/// How long a fresh broker may take to answer metadata (about 2 s observed).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running tansu broker, killed on drop.
#[derive(Debug)]
pub struct TansuBroker {
    process: ServerProcess,
    port: u16,
    // Dropped after the process (field order): the sqlite file lives here.
    _dir: tempfile::TempDir,
}

impl TansuBroker {
    /// Starts a broker and waits until it answers a metadata request.
    pub fn start() -> Result<Self> {
        let binary = binary_path()?;
        let dir = tempfile::Builder::new().prefix("lagring-tansu-").tempdir().context("create tansu temp dir")?;
        let port = free_port()?;
        let url = format!("tcp://127.0.0.1:{port}");
        let mut cmd = Command::new(&binary);
        cmd.arg("broker")
            .args(["--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(dir.path());
        let mut process = ServerProcess::spawn("tansu", cmd, dir.path())?;
        let ready = wait_ready(&mut process, port);
        if let Err(e) = ready {
            return Err(process.context_for(e));
        }
        Ok(Self { process, port, _dir: dir })
    }

    /// `host:port` for `bootstrap.servers`.
    /// Process id while running (a test can SIGSTOP it: a broker that hangs).
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The last `max_bytes` of the broker log, for failure messages.
    pub fn log_tail(&self, max_bytes: usize) -> String {
        self.process.log_tail(max_bytes)
    }
}

fn binary_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("LAGRING_TANSU") {
        return Ok(PathBuf::from(p));
    }
    let home = PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?);
    let cache = home.join(".cache/lagring");
    let candidate = match std::fs::read_to_string(cache.join("tansu-path")) {
        Ok(text) => PathBuf::from(text.trim()),
        Err(_) => cache.join("tansu-0.6.0-libsql/bin/tansu"),
    };
    if !candidate.is_file() {
        bail!("tansu binary not found at {} (set LAGRING_TANSU or run scripts/setup.sh)", candidate.display());
    }
    Ok(candidate)
}

fn wait_ready(process: &mut ServerProcess, port: u16) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    wait_for_tcp(port, START_TIMEOUT)?;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", format!("127.0.0.1:{port}"))
        .set("log_level", "3")
        .create()
        .context("create metadata probe client")?;
    loop {
        if !process.is_running() {
            bail!("tansu exited during start-up");
        }
        match consumer.fetch_metadata(None, Duration::from_secs(2)) {
            Ok(md) if !md.brokers().is_empty() => return Ok(()),
            Ok(_) => {}
            Err(e) if Instant::now() >= deadline => bail!("tansu does not answer metadata: {e}"),
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            bail!("tansu metadata lists no broker after {START_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
