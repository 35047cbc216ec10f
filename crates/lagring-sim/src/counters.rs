//! Request counters per broker and API key. Lock-free atomics because every connection task bumps
//! them; benchmarks read snapshots to report "Kafka requests per iteration by API".

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use kafka_protocol::messages::ApiKey;
use serde::Serialize;

/// API keys are small integers; anything at or above this bound is counted as "Unknown".
const API_KEY_SLOTS: usize = 128;

/// Live counters.
#[derive(Debug)]
pub struct Counters {
    per_broker: Vec<Vec<AtomicU64>>,
}

/// A snapshot: broker id → API name → requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RequestCounts {
    pub by_broker: BTreeMap<i32, BTreeMap<String, u64>>,
}

impl RequestCounts {
    /// Requests per API summed over brokers.
    pub fn by_api(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for apis in self.by_broker.values() {
            for (api, n) in apis {
                *out.entry(api.clone()).or_insert(0) += n;
            }
        }
        out
    }

    /// Requests of one API (by name, e.g. `ListOffsets`) over all brokers.
    pub fn api(&self, name: &str) -> u64 {
        self.by_api().get(name).copied().unwrap_or(0)
    }

    /// All requests.
    pub fn total(&self) -> u64 {
        self.by_api().values().sum()
    }
}

/// Display name of an API key (`ListOffsets`), or `Unknown(n)`.
pub fn api_name(key: i16) -> String {
    match ApiKey::try_from(key) {
        Ok(api) => format!("{api:?}"),
        Err(()) => format!("Unknown({key})"),
    }
}

impl Counters {
    pub fn new(brokers: u32) -> Self {
        let per_broker = (0..brokers).map(|_| (0..=API_KEY_SLOTS).map(|_| AtomicU64::new(0)).collect()).collect();
        Counters { per_broker }
    }

    /// Count one request.
    pub fn record(&self, broker: i32, api_key: i16) {
        let slot = usize::try_from(api_key).unwrap_or(API_KEY_SLOTS).min(API_KEY_SLOTS);
        let counter = usize::try_from(broker).ok().and_then(|b| self.per_broker.get(b)).and_then(|apis| apis.get(slot));
        if let Some(counter) = counter {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Current values (non-zero entries only).
    pub fn snapshot(&self) -> RequestCounts {
        let mut by_broker = BTreeMap::new();
        for (b, apis) in self.per_broker.iter().enumerate() {
            let mut counts = BTreeMap::new();
            for (key, counter) in apis.iter().enumerate() {
                let n = counter.load(Ordering::Relaxed);
                if n > 0 {
                    let name = i16::try_from(key).map(api_name).unwrap_or_else(|_| "Unknown".into());
                    counts.insert(name, n);
                }
            }
            by_broker.insert(i32::try_from(b).unwrap_or(i32::MAX), counts);
        }
        RequestCounts { by_broker }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_broker_and_api() {
        let c = Counters::new(2);
        c.record(0, 2);
        c.record(1, 2);
        c.record(1, 9);
        c.record(5, 9);
        c.record(0, -3);
        let s = c.snapshot();
        assert_eq!(s.api("ListOffsets"), 2);
        assert_eq!(s.api("OffsetFetch"), 1);
        assert_eq!(s.total(), 4);
    }
}
