//! A lagring node as a real child process, for end-to-end tests: its config
//! is written to a temp dir, its HTTP port is chosen free, and it is killed on
//! drop. `kill()` is SIGKILL (crash), `terminate()` is SIGTERM (graceful).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use tempfile::TempDir;

use crate::metrics_text::{self, TextSample};
use crate::ports::{free_port, wait_for_tcp};
use crate::process::ServerProcess;

#[derive(Debug)]
pub struct LagringNode {
    process: ServerProcess,
    _dir: TempDir,
    port: u16,
    client: reqwest::Client,
}

impl LagringNode {
    /// Starts `bin run` with `config_yaml`, in which `{HTTP_LISTEN}` is
    /// replaced by the node's `127.0.0.1:port`; logs at `info,lagring=debug`.
    pub fn start(bin: &Path, name: &str, config_yaml: &str) -> Result<Self> {
        Self::start_with_log(bin, name, config_yaml, "info,lagring=debug")
    }

    /// Like [`LagringNode::start`] with `rust_log` as the log filter (a
    /// benchmark logs at `warn`, so logging is not what it measures).
    pub fn start_with_log(bin: &Path, name: &str, config_yaml: &str, rust_log: &str) -> Result<Self> {
        Self::start_inner(bin, name, config_yaml, rust_log, None, &[])
    }

    /// Like [`LagringNode::start`] with extra environment variables (say,
    /// libfaketime's `LD_PRELOAD` and `FAKETIME` for a node whose wall clock
    /// is skewed).
    pub fn start_with_env(bin: &Path, name: &str, config_yaml: &str, env: &[(&str, &str)]) -> Result<Self> {
        Self::start_inner(bin, name, config_yaml, "info,lagring=debug", None, env)
    }

    /// Like [`LagringNode::start`], as the unprivileged user `uid` (a test
    /// can then cut this one process's traffic with an iptables owner match).
    /// The binary is copied into the node's world-readable temp dir, so the
    /// user needs no access to the build directory.
    pub fn start_as_uid(bin: &Path, name: &str, config_yaml: &str, uid: u32) -> Result<Self> {
        Self::start_inner(bin, name, config_yaml, "info,lagring=debug", Some(uid), &[])
    }

    fn start_inner(
        bin: &Path,
        name: &str,
        config_yaml: &str,
        rust_log: &str,
        uid: Option<u32>,
        env: &[(&str, &str)],
    ) -> Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().context("create node temp dir")?;
        let port = free_port()?;
        let config = dir.path().join("lagring.yaml");
        std::fs::write(&config, config_yaml.replace("{HTTP_LISTEN}", &format!("127.0.0.1:{port}")))?;
        let mut cmd = match uid {
            None => Command::new(bin),
            Some(uid) => {
                std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
                std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644))?;
                let copy = dir.path().join("lagring");
                std::fs::copy(bin, &copy).context("copy the lagring binary")?;
                std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755))?;
                let mut cmd = Command::new(copy);
                cmd.uid(uid).gid(uid);
                cmd
            }
        };
        cmd.arg("run").arg("--config").arg(&config).env("RUST_LOG", rust_log).envs(env.iter().copied());
        let mut process = ServerProcess::spawn(name, cmd, dir.path())?;
        if let Err(e) = wait_for_tcp(port, Duration::from_secs(30)) {
            process.kill();
            return Err(process.context_for(e));
        }
        Ok(Self { process, _dir: dir, port, client: reqwest::Client::new() })
    }

    /// Process id, while running (for `/proc` CPU and memory figures).
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// GETs `path`, returning status and body.
    pub async fn get(&self, path: &str) -> Result<(u16, String)> {
        let resp = self.client.get(format!("{}{path}", self.base_url())).send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.text().await?))
    }

    /// The parsed `/metrics` of the node.
    pub async fn metrics(&self) -> Result<Vec<TextSample>> {
        let (status, body) = self.get("/metrics").await?;
        anyhow::ensure!(status == 200, "/metrics answered {status}: {body}");
        metrics_text::parse(&body)
    }

    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// SIGKILL: a crash, no deregistration, no flush.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// SIGTERM and wait (up to `timeout`) for a clean exit.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        self.process.terminate(timeout)
    }

    pub fn log_tail(&self) -> String {
        self.process.log_tail(8000)
    }
}
