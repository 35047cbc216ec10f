//! A real `redis-server` (Debian package, on PATH) on a free loopback port,
//! without persistence, for store integration tests. `restart()` keeps the
//! port so clients see an outage and then the same address come back.
//! `start_tls()` serves TLS only, with a throwaway CA made by the `openssl` CLI.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use crate::ports::{free_port, wait_for_tcp};
use crate::process::ServerProcess;

/// How long a fresh redis-server may take to answer PING.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running redis-server, killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: TempDir,
    tls: bool,
    /// Extra `redis-server` arguments (replication, cluster mode), kept across restarts.
    extra_args: Vec<String>,
    process: Option<ServerProcess>,
}

impl RedisServer {
    /// Starts redis-server on a free port and waits until it answers PING.
    pub fn start() -> Result<Self> {
        Self::start_with_args(&[])
    }

    /// Like [`RedisServer::start`] with extra `redis-server` arguments
    /// (`--replicaof ...`, `--cluster-enabled yes`, ...), kept across
    /// restarts; so is the directory (a cluster node keeps its `nodes.conf`).
    pub fn start_with_args(args: &[&str]) -> Result<Self> {
        let dir = tempfile::tempdir().context("create redis temp dir")?;
        let port = free_port()?;
        let extra_args = args.iter().map(|a| (*a).to_owned()).collect();
        let mut server = Self { port, dir, tls: false, extra_args, process: None };
        server.spawn()?;
        Ok(server)
    }

    /// Starts a TLS-only redis-server whose certificate (for `127.0.0.1` and
    /// `localhost`) is signed by a fresh CA; see [`RedisServer::ca_file`].
    pub fn start_tls() -> Result<Self> {
        let dir = tempfile::tempdir().context("create redis temp dir")?;
        crate::certs::make_certificates(dir.path())?;
        let port = free_port()?;
        let mut server = Self { port, dir, tls: true, extra_args: Vec::new(), process: None };
        server.spawn()?;
        Ok(server)
    }

    /// PEM file of the CA that signed a TLS server's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// Its directory (config, logs, a cluster node's `nodes.conf`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The port it listens on (stable across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>` (`rediss://` for a TLS server).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL): clients see connection errors.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// Stops the server if running and starts a fresh, empty one on the same port.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.spawn()
    }

    /// Deletes every key (`FLUSHALL` through `redis-cli`), as an operator
    /// mistake or an eviction storm would.
    pub fn flush_all(&self) -> Result<()> {
        let out = self.cli(&["FLUSHALL"])?;
        anyhow::ensure!(out.starts_with("OK"), "FLUSHALL failed: {out}");
        Ok(())
    }

    /// Runs `redis-cli -p <port> <args>` and returns its stdout.
    pub fn cli(&self, args: &[&str]) -> Result<String> {
        redis_cli(self.port, args)
    }

    /// True while the server process runs.
    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(ServerProcess::is_running)
    }

    fn spawn(&mut self) -> Result<()> {
        let mut cmd = Command::new("redis-server");
        let port = self.port.to_string();
        if self.tls {
            cmd.args(["--port", "0", "--tls-port", &port, "--tls-auth-clients", "no"]);
            cmd.args(["--tls-cert-file", "server.crt", "--tls-key-file", "server.key", "--tls-ca-cert-file", "ca.crt"]);
        } else {
            cmd.args(["--port", &port]);
        }
        cmd.args(&self.extra_args);
        cmd.current_dir(self.dir.path()).args([
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ]);
        let process = ServerProcess::spawn("redis-server", cmd, self.dir.path())?;
        let process = self.process.insert(process);
        let deadline = Instant::now() + START_TIMEOUT;
        if self.tls {
            // No TLS client here: a listening TLS port means the server is up.
            return wait_for_tcp(self.port, START_TIMEOUT).map_err(|e| process.context_for(e));
        }
        loop {
            if ping(self.port).is_ok() {
                return Ok(());
            }
            if !process.is_running() {
                return Err(process.context_for(anyhow::anyhow!("redis-server exited during start")));
            }
            if Instant::now() >= deadline {
                let err =
                    anyhow::anyhow!("redis-server on port {} did not answer PING in {START_TIMEOUT:?}", self.port);
                return Err(process.context_for(err));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Runs `redis-cli -p <port> <args>`; fails if the command cannot run.
pub fn redis_cli(port: u16, args: &[&str]) -> Result<String> {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .with_context(|| format!("run redis-cli -p {port} {args:?}"))?;
    anyhow::ensure!(out.status.success(), "redis-cli -p {port} {args:?} failed: {out:?}");
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Sends an inline PING and expects `+PONG`.
fn ping(port: u16) -> Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    stream.write_all(b"PING\r\n")?;
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply)?;
    if &reply != b"+PONG\r\n" {
        bail!("unexpected PING reply {:?}", String::from_utf8_lossy(&reply));
    }
    Ok(())
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
