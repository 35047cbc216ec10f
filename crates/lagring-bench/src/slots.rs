//! Wall-clock helpers matching lagring's slots: a node starts each iteration
//! at a multiple of its interval since the Unix epoch.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

/// Sleeps until the wall clock reads `at_ms` (returns at once if it has).
pub async fn sleep_until_ms(at_ms: u64) {
    tokio::time::sleep(Duration::from_millis(at_ms.saturating_sub(now_ms()))).await;
}

/// The slot `ms` falls in.
pub fn slot_of(ms: u64, interval_ms: u64) -> i64 {
    i64::try_from(ms / interval_ms.max(1)).unwrap_or(i64::MAX)
}
