//! Support for the cross-crate end-to-end suites in this folder.
//!
//! The suites start the real `lagring` binary. Cargo hands a package's own
//! binaries to its integration tests (`CARGO_BIN_EXE_*`), but this package is
//! not the binary's, so [`lagring_binary`] finds it in the target directory
//! the suite itself was built into (the same profile). `make test` runs
//! `cargo test --workspace`, which builds the binary first (the `lagring`
//! crate's own integration tests need it); alone, run
//! `cargo build -p lagring && cargo test -p lagring-e2e`.

pub mod fleet;
pub mod sim_fleet;

use std::collections::BTreeMap;
use std::path::PathBuf;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

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

/// The offset lag of every partition of `cluster` in a `/metrics` scrape.
pub fn scraped_lags(samples: &[lagring_testkit::metrics_text::TextSample], cluster: &str) -> Lags {
    lagring_testkit::metrics_text::select(samples, "kafka_consumer_group_lag_in_offsets", &[("clustername", cluster)])
        .into_iter()
        .map(|s| {
            let label = |name: &str| s.labels.get(name).cloned().unwrap_or_default();
            ((label("group"), label("topic"), label("partition")), s.value)
        })
        .collect()
}

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

/// The answer to one request (after its correlation id), by connection number.
fn malformed_answer(connection: usize, correlation_id: i32) -> Vec<u8> {
    let id = correlation_id.to_be_bytes();
    let framed = |body: &[u8]| {
        let mut frame = ((body.len() + 4) as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&id);
        frame.extend_from_slice(body);
        frame
    };
    match connection % 3 {
        // ApiVersions v3: error 0, then a compact array of 2^31 elements.
        0 => framed(&[0, 0, 0x81, 0x80, 0x80, 0x80, 0x08, 0, 0, 0]),
        // A frame length of 2 GiB − 1 and nothing after it.
        1 => 0x7fff_ffff_i32.to_be_bytes().to_vec(),
        _ => framed(&[0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff, 0x0f]),
    }
}

/// A TCP server on 127.0.0.1 that answers every request frame with malformed
/// bytes (an array of 2^31 elements, a 2 GiB frame length, garbage, in turn
/// per connection); returns its address and a count of connections.
pub async fn malformed_broker() -> Result<(String, Arc<AtomicUsize>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let n = count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                loop {
                    let Ok(len) = socket.read_i32().await else { return };
                    let mut request = vec![0; usize::try_from(len).unwrap_or(0).min(1 << 20)];
                    if socket.read_exact(&mut request).await.is_err() || request.len() < 8 {
                        return;
                    }
                    let Some(id) = request.get(4..8).and_then(|b| <[u8; 4]>::try_from(b).ok()) else { return };
                    let correlation_id = i32::from_be_bytes(id);
                    if socket.write_all(&malformed_answer(n, correlation_id)).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok((addr, connections))
}
