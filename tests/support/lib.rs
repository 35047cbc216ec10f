//! Support for the cross-crate end-to-end suites in this folder.
//!
//! The suites start the real `lagring` binary. Cargo hands a package's own
//! binaries to its integration tests (`CARGO_BIN_EXE_*`), but this package is
//! not the binary's, so [`lagring_binary`] finds it in the target directory
//! the suite itself was built into (the same profile). `make test` runs
//! `cargo test --workspace`, which builds the binary first (the `lagring`
//! crate's own integration tests need it); alone, run
//! `cargo build -p lagring && cargo test -p lagring-e2e`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

/// The `lagring` binary next to the running test's `deps/` directory.
pub fn lagring_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locate the running test binary")?;
    // <target>/<profile>/deps/<test>-<hash> → <target>/<profile>/lagring
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .with_context(|| format!("no profile directory above {}", exe.display()))?;
    let bin = profile_dir.join(format!("lagring{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        bail!("{} not found: build it first with `cargo build -p lagring` (same profile as the tests)", bin.display());
    }
    Ok(bin)
}

/// Offset lag per (group, topic, partition as text), as the `/metrics` labels name them.
pub type Lags = BTreeMap<(String, String, String), f64>;

/// Exact offset lag (read_uncommitted) of every committed partition of the simulator's model at
/// its current time.
pub fn simulated_lags(sim: &lagring_sim::SimHandle) -> Lags {
    let e = sim.expected_now();
    let mut out = Lags::new();
    for (group, g) in &e.groups {
        for (topic, partition) in g.committed.keys() {
            if let Some(lag) = e.lag(group, topic, *partition, false) {
                out.insert((group.clone(), topic.clone(), partition.to_string()), lag as f64);
            }
        }
    }
    out
}
