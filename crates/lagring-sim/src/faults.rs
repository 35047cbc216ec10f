//! Fault injection resolved from the scenario: added latency per API, an error code on a
//! deterministic fraction of requests (seed × broker × API × request sequence), and brokers that
//! stop answering for a period of scenario time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::clock::duration_ms;
use crate::handlers::api_key_by_name;
use crate::model::hash::mix;
use crate::scenario::{BrokerDown, FaultsConfig};

/// Faults ready for the request path.
#[derive(Debug, Default)]
pub struct Faults {
    seed: u64,
    latency: HashMap<i16, Duration>,
    errors: HashMap<i16, (i16, f64)>,
    down: Vec<BrokerDown>,
    /// Requests seen per (broker, api) — the sequence number that drives error choice.
    sequence: HashMap<(i32, i16), AtomicU64>,
}

impl Faults {
    pub fn new(config: &FaultsConfig, seed: u64, brokers: u32) -> Self {
        let latency = config.latency.iter().filter_map(|(api, d)| api_key_by_name(api).map(|k| (k, **d))).collect();
        let errors: HashMap<i16, (i16, f64)> =
            config.errors.iter().filter_map(|e| api_key_by_name(&e.api).map(|k| (k, (e.code, e.fraction)))).collect();
        let brokers = 0..i32::try_from(brokers).unwrap_or(i32::MAX);
        let sequence = brokers.flat_map(|b| errors.keys().map(move |k| ((b, *k), AtomicU64::new(0)))).collect();
        Faults { seed, latency, errors, down: config.broker_down.clone(), sequence }
    }

    /// Added latency for an API.
    pub fn latency(&self, api_key: i16) -> Option<Duration> {
        self.latency.get(&api_key).copied()
    }

    /// Error code to inject into this request, if it is one of the chosen fraction.
    pub fn error(&self, broker: i32, api_key: i16) -> Option<i16> {
        let (code, fraction) = *self.errors.get(&api_key)?;
        let seq = self.sequence.get(&(broker, api_key))?.fetch_add(1, Ordering::Relaxed);
        let words = [broker as u64, api_key as u64, seq];
        let draw = (mix(self.seed, &words) >> 11) as f64 / (1u64 << 53) as f64;
        (draw < fraction).then_some(code)
    }

    /// Whether `broker` is down at scenario time `t_ms`.
    pub fn is_down(&self, broker: i32, t_ms: u64) -> bool {
        self.down.iter().any(|d| d.broker == broker && duration_ms(d.from) <= t_ms && t_ms < duration_ms(d.until))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn error_fraction_is_deterministic() {
        let yaml = "brokers: 1\nfaults: { errors: [ { api: OffsetFetch, code: 15, fraction: 0.5 } ], \
                    broker_down: [ { broker: 0, from: 1s, until: 2s } ] }";
        let s = Scenario::from_yaml(yaml).unwrap();
        let run = || {
            let f = Faults::new(&s.faults, 3, 1);
            (0..1000).filter(|_| f.error(0, 9).is_some()).count()
        };
        let hits = run();
        assert_eq!(hits, run());
        assert!((400..600).contains(&hits), "{hits}");
        let f = Faults::new(&s.faults, 3, 1);
        assert_eq!(f.error(0, 2), None);
        assert!(f.is_down(0, 1500) && !f.is_down(0, 2000));
    }
}
