//! Which missing time-lag series have ended (staleness marker) and which
//! merely have no sample this iteration (kept, no marker).
//!
//! A time-lag series can be missing while its group and partition are fine:
//! too little history for a time lag, a committed history too short for a
//! rate, or a history store that failed this iteration. Those are gaps, not
//! ends: the series is kept as long as the offset series it belongs to is
//! (same group, and the same topic and partition where it has them). The
//! catch-up ETA is the exception: it exists only while the group is catching
//! up, so when it disappears after a successful iteration it has ended, and
//! the marker keeps dashboards from showing a stale ETA for a caught-up group.
//! Series of groups that moved to another node never get here: the compute
//! stage forgets them first.

use std::cell::OnceCell;
use std::collections::HashMap;

use lagring_core::lag::{ClusterLag, GroupLag};
use lagring_core::metric_names as m;
use lagring_core::series::SeriesKey;

/// Time-lag series that are kept while their offset series exist (the
/// push-only window start too: it comes from the committed history).
fn kept(name: &str) -> bool {
    [m::PARTITION_LAG_SECONDS, m::PARTITION_CONSUME_RATE, m::GROUP_STATUS, m::PUSH_WINDOW_START_OFFSET].contains(&name)
        || m::TIME_LAG_AGGREGATES.contains(&name)
}

/// The keep rule for one iteration.
#[derive(Debug)]
pub struct Gaps<'a> {
    /// The time-lag step ran (the history store answered).
    complete: bool,
    lag: &'a ClusterLag,
    /// Built on the first missing series only.
    groups: OnceCell<HashMap<&'a str, &'a GroupLag>>,
}

impl<'a> Gaps<'a> {
    pub fn new(complete: bool, lag: &'a ClusterLag) -> Self {
        Self { complete, lag, groups: OnceCell::new() }
    }

    /// True when `key`, missing this iteration, is a time-lag series that
    /// has not ended (see the module docs).
    pub fn keeps(&self, key: &SeriesKey) -> bool {
        let name = key.name();
        if name == m::CATCH_UP_ETA_SECONDS {
            return !self.complete;
        }
        if !kept(name) {
            return false;
        }
        if !self.complete {
            return true;
        }
        let Some(group) = key.label("group").and_then(|g| self.group(g)) else { return false };
        match (key.label("topic"), key.label("partition")) {
            (Some(topic), Some(partition)) => partition
                .parse::<i32>()
                .is_ok_and(|p| group.partitions.iter().any(|x| x.tp.partition == p && &*x.tp.topic == topic)),
            (Some(topic), None) => group.topics.iter().any(|t| &*t.topic == topic),
            (None, _) => !group.partitions.is_empty(),
        }
    }

    fn group(&self, name: &str) -> Option<&'a GroupLag> {
        let groups = self.groups.get_or_init(|| self.lag.groups.iter().map(|g| (&*g.group, g)).collect());
        groups.get(name).copied()
    }
}
