//! Cuts one process's route to one loopback port, for partial-partition
//! tests: an iptables rule matching the process's user id (`-m owner`) rejects
//! its TCP connections to that port with a reset, while every other process
//! (and every other port, e.g. Redis) stays reachable. The rule is removed
//! when the guard drops. Needs root (tests run as root here and in CI).

use std::process::Command;

use anyhow::{Context, Result, ensure};

/// An installed rule; removed on drop.
#[derive(Debug)]
pub struct OwnerPortBlock {
    args: Vec<String>,
    removed: bool,
}

impl OwnerPortBlock {
    /// Rejects TCP from user `uid` to 127.0.0.1:`port`.
    pub fn install(uid: u32, port: u16) -> Result<Self> {
        let args: Vec<String> = [
            "OUTPUT",
            "-o",
            "lo",
            "-p",
            "tcp",
            "--dport",
            &port.to_string(),
            "-m",
            "owner",
            "--uid-owner",
            &uid.to_string(),
            "-j",
            "REJECT",
            "--reject-with",
            "tcp-reset",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        iptables("-I", &args)?;
        Ok(Self { args, removed: false })
    }

    /// Removes the rule now (the route is back).
    pub fn remove(&mut self) -> Result<()> {
        if !self.removed {
            iptables("-D", &self.args)?;
            self.removed = true;
        }
        Ok(())
    }
}

impl Drop for OwnerPortBlock {
    fn drop(&mut self) {
        let _ = self.remove();
    }
}

fn iptables(op: &str, args: &[String]) -> Result<()> {
    let status = Command::new("iptables").arg(op).args(args).status().context("run iptables")?;
    ensure!(status.success(), "iptables {op} {} failed: {status}", args.join(" "));
    Ok(())
}
