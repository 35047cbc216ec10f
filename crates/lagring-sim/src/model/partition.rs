//! Offsets of one partition as pure functions of scenario time: high watermark, log start, last
//! stable offset and the timestamp of any offset. Nothing is stored; a topic recreation starts a
//! new generation whose offsets restart at 0.

use crate::scenario::{Produce, TopicConfig};

/// Offsets of a partition at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    pub log_start: i64,
    pub high_watermark: i64,
    pub last_stable: i64,
}

/// A topic with its per-partition rate multipliers resolved.
#[derive(Debug)]
pub struct TopicModel {
    pub config: TopicConfig,
    /// Sorted recreation times in ms.
    pub recreate_ms: Vec<u64>,
    pub seed: u64,
    pub index: usize,
}

impl TopicModel {
    pub fn new(config: TopicConfig, index: usize, seed: u64) -> Self {
        let mut recreate_ms: Vec<u64> = config.recreate_at.iter().map(|d| crate::clock::duration_ms(**d)).collect();
        recreate_ms.sort_unstable();
        TopicModel { config, recreate_ms, seed, index }
    }

    pub fn partitions(&self) -> i32 {
        i32::try_from(self.config.partitions).unwrap_or(i32::MAX)
    }

    /// (generation, start of that generation in ms) at time `t_ms`.
    pub fn generation(&self, t_ms: u64) -> (u32, u64) {
        let passed = self.recreate_ms.iter().filter(|r| **r <= t_ms).count();
        let start = passed.checked_sub(1).and_then(|i| self.recreate_ms.get(i)).copied();
        (u32::try_from(passed).unwrap_or(u32::MAX), start.unwrap_or(0))
    }

    fn multiplier(&self, partition: i32) -> f64 {
        let jitter = self.config.rate_jitter;
        if jitter == 0.0 {
            return 1.0;
        }
        let u = super::hash::unit(self.seed, &[self.index as u64, partition as u64, 7]);
        1.0 + jitter * (2.0 * u - 1.0)
    }

    /// Messages produced during the first `since_ms` of a generation.
    fn produced(&self, partition: i32, since_ms: u64) -> u64 {
        let m = self.multiplier(partition);
        let secs = since_ms as f64 / 1000.0;
        let count = match &self.config.produce {
            Produce::Idle => 0.0,
            Produce::Constant(rate) => rate * m * secs,
            Produce::Bursts(b) => {
                let every = crate::clock::duration_ms(b.every).max(1);
                let length = crate::clock::duration_ms(b.length);
                let active = (since_ms / every) * length + (since_ms % every).min(length);
                m * (b.base * secs + b.rate * active as f64 / 1000.0)
            }
        };
        count.max(0.0).floor() as u64
    }

    /// First offset of a generation (messages that existed at its start).
    fn base(&self, generation: u32) -> u64 {
        if generation == 0 { self.config.start_offset + self.config.initial_messages } else { 0 }
    }

    fn floor_offset(&self, generation: u32) -> u64 {
        if generation == 0 { self.config.start_offset } else { 0 }
    }

    /// High watermark at `t_ms`.
    pub fn high_watermark(&self, partition: i32, t_ms: u64) -> u64 {
        let (generation, start) = self.generation(t_ms);
        self.base(generation) + self.produced(partition, t_ms - start)
    }

    /// All offsets of a partition at `t_ms`.
    pub fn offsets(&self, partition: i32, t_ms: u64) -> PartitionOffsets {
        let (generation, _) = self.generation(t_ms);
        let hw = self.high_watermark(partition, t_ms);
        let floor = self.floor_offset(generation);
        let start = match self.config.retention_messages {
            Some(keep) => hw.saturating_sub(keep).max(floor),
            None => floor,
        };
        let lso = match &self.config.transactional {
            Some(tx) => hw.saturating_sub(tx.lso_gap).max(start),
            None => hw,
        };
        PartitionOffsets { log_start: to_i64(start), high_watermark: to_i64(hw), last_stable: to_i64(lso) }
    }

    /// Scenario time (ms, may be before 0 for initial messages) at which `offset` was produced,
    /// in the generation current at `t_ms`. Initial messages are 1 ms apart before t = 0.
    pub fn produce_time_ms(&self, partition: i32, offset: u64, t_ms: u64) -> i64 {
        let (generation, start) = self.generation(t_ms);
        let base = self.base(generation);
        if offset < base {
            return to_i64(start) - to_i64(base - offset);
        }
        let k = offset - base;
        // Smallest `since` with produced(since) > k; `produced` is monotone.
        let (mut lo, mut hi) = (0u64, t_ms - start);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.produced(partition, mid) > k { hi = mid } else { lo = mid + 1 }
        }
        to_i64(start + lo)
    }

    /// Earliest offset whose produce time is at or after `at_ms` (scenario ms), with that time;
    /// `None` when no such message exists yet.
    pub fn offset_for_time(&self, partition: i32, at_ms: i64, t_ms: u64) -> Option<(i64, i64)> {
        let offsets = self.offsets(partition, t_ms);
        let (mut lo, mut hi) = (offsets.log_start, offsets.high_watermark);
        let time_of = |o: i64| self.produce_time_ms(partition, o.max(0) as u64, t_ms);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if time_of(mid) >= at_ms { hi = mid } else { lo = mid + 1 }
        }
        (lo < offsets.high_watermark).then(|| (lo, time_of(lo)))
    }
}

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    fn topic(yaml: &str) -> TopicModel {
        let s = Scenario::from_yaml(yaml).unwrap();
        TopicModel::new(s.topics[0].clone(), 0, s.seed)
    }

    #[test]
    fn constant_rate_with_retention_and_lso() {
        let t = topic(
            "topics: [{name: a, partitions: 1, start_offset: 10, initial_messages: 90, \
             produce: {constant: 2.0}, retention_messages: 50, transactional: {lso_gap: 4}}]",
        );
        let o = t.offsets(0, 10_000);
        assert_eq!(o, PartitionOffsets { log_start: 70, high_watermark: 120, last_stable: 116 });
        assert_eq!(t.produce_time_ms(0, 99, 10_000), -1);
        assert_eq!(t.produce_time_ms(0, 100, 10_000), 500);
        assert_eq!(t.offset_for_time(0, 501, 10_000), Some((101, 1000)));
        assert_eq!(t.offset_for_time(0, 20_000, 10_000), None);
    }

    #[test]
    fn bursts_and_recreation() {
        let t = topic(
            "topics: [{name: a, partitions: 1, initial_messages: 5, recreate_at: [10s], \
             produce: {bursts: {base: 1.0, rate: 10.0, every: 4s, length: 1s}}}]",
        );
        // 9 s: base 9 + bursts 3 s × 10 = 39 (+5 initial).
        assert_eq!(t.high_watermark(0, 9_000), 44);
        // after recreation at 10 s: 2 s of base + 1 s burst.
        assert_eq!(t.offsets(0, 12_000).high_watermark, 12);
        assert_eq!(t.offsets(0, 12_000).log_start, 0);
    }
}
