//! What the kernel knows about a process: CPU time (utime + stime from
//! `/proc/<pid>/stat`) and peak resident memory (`VmHWM` from
//! `/proc/<pid>/status`). The benchmark reads these for the lagring child, so
//! the figures are the node's own, not the simulator's that shares the host.

use anyhow::{Context, Result};

/// Clock ticks per second, for converting `/proc/<pid>/stat` times.
#[derive(Debug, Clone, Copy)]
pub struct Ticks(f64);

impl Ticks {
    /// `getconf CLK_TCK`; 100 (the Linux default) when that fails.
    pub fn detect() -> Self {
        let out = std::process::Command::new("getconf").arg("CLK_TCK").output().ok();
        let hz = out.and_then(|o| String::from_utf8(o.stdout).ok()).and_then(|s| s.trim().parse::<f64>().ok());
        Self(hz.filter(|h| *h > 0.0).unwrap_or(100.0))
    }

    /// User + system CPU seconds the process has used so far.
    pub fn cpu_seconds(self, pid: u32) -> Result<f64> {
        let stat =
            std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("read stat of {pid}"))?;
        // The command name may contain spaces; fields are counted after its ')'.
        let (_, rest) = stat.rsplit_once(')').context("malformed /proc stat")?;
        let mut fields = rest.split_whitespace();
        // rest starts at field 3 (state); utime and stime are fields 14 and 15.
        let utime: f64 = fields.nth(11).context("no utime")?.parse()?;
        let stime: f64 = fields.next().context("no stime")?.parse()?;
        Ok((utime + stime) / self.0)
    }
}

/// Peak resident set size (`VmHWM`) in bytes.
pub fn peak_rss_bytes(pid: u32) -> Result<u64> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("read status of {pid}"))?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).context("no VmHWM")?;
    let kb: u64 = line.split_whitespace().nth(1).context("no VmHWM value")?.parse()?;
    Ok(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let pid = std::process::id();
        let ticks = Ticks::detect();
        assert!(ticks.cpu_seconds(pid).unwrap() >= 0.0);
        assert!(peak_rss_bytes(pid).unwrap() > 0);
    }
}
