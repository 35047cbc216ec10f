//! Cuts one process's route to one loopback port, for partial-partition
//! tests: an iptables rule matching the process's user id (`-m owner`) rejects
//! its TCP connections to that port with a reset, while every other process
//! (and every other port, e.g. Redis) stays reachable. The rule is removed
//! when the guard drops. [`PortBlock`] instead makes one port silent (DROP) or
//! refusing (REJECT with a reset) for every process. Needs root (tests run as
//! root here and in CI).

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
    // `-w`: wait for the xtables lock (other tests may edit their own rules).
    // Output is captured: iptables warns on every call on some hosts.
    let out = Command::new("iptables").args(["-w", "5", op]).args(args).output().context("run iptables")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.success(), "iptables {op} {} failed: {}: {}", args.join(" "), out.status, stderr.trim());
    Ok(())
}

/// What a [`PortBlock`] does to the packets it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortFault {
    /// `-j DROP`: a silent host; connects and requests hang until their timeouts.
    Silent,
    /// `-j REJECT --reject-with tcp-reset`: a refusing host; connects and
    /// requests fail at once.
    Refusing,
}

/// Every TCP packet to or from one loopback port, for every process: a
/// broker that goes silent or refuses while it keeps running. Two rules
/// (`INPUT -i lo --dport`, `OUTPUT -o lo --sport`), each carrying the comment
/// `lagring-test-<pid>` so that deleting them can only ever match rules this
/// process added. Removed on drop.
#[derive(Debug)]
pub struct PortBlock {
    /// Installed and not yet removed.
    rules: Vec<Vec<String>>,
}

impl PortBlock {
    /// Installs `fault` for 127.0.0.1:`port`; on error nothing stays installed.
    pub fn install(port: u16, fault: PortFault) -> Result<Self> {
        let target: &[&str] = match fault {
            PortFault::Silent => &["-j", "DROP"],
            PortFault::Refusing => &["-j", "REJECT", "--reject-with", "tcp-reset"],
        };
        let comment = format!("lagring-test-{}", std::process::id());
        let port = port.to_string();
        let rule = |chain: &str, iface: &str, direction: &str| -> Vec<String> {
            [chain, iface, "lo", "-p", "tcp", direction, &port, "-m", "comment", "--comment", &comment]
                .iter()
                .chain(target)
                .map(|s| (*s).to_owned())
                .collect()
        };
        let mut block = Self { rules: Vec::new() };
        for r in [rule("INPUT", "-i", "--dport"), rule("OUTPUT", "-o", "--sport")] {
            iptables("-I", &r)?;
            block.rules.push(r);
        }
        Ok(block)
    }

    /// Removes the rules now (the port answers again).
    pub fn remove(&mut self) -> Result<()> {
        while let Some(r) = self.rules.last() {
            iptables("-D", r)?;
            self.rules.pop();
        }
        Ok(())
    }
}

impl Drop for PortBlock {
    fn drop(&mut self) {
        let _ = self.remove();
    }
}
