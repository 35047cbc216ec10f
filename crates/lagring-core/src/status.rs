//! Consumer status per partition and per group, after Burrow's evaluation
//! rules, restated for what lagring observes.
//!
//! Burrow sees every commit with its timestamp. lagring sees, once per
//! iteration, the committed offset (OffsetFetch), the end offset (ListOffsets)
//! and the group state (ListGroups); the committed- and end-offset histories
//! ([`OffsetHistory`]) keep those observations, shared by the fleet, over the
//! status window `W` (default 10 minutes). From them, at observation time
//! `now` with committed offset `c`, end offset `e` and lag `e − c`, the first
//! rule that holds decides:
//!
//! 1. **OK** when the lag is 0. A caught-up consumer is never in trouble,
//!    however long its committed offset has not moved: a consumer of a topic
//!    that gets one message a minute is OK (Burrow #38).
//! 2. **STOP** / **STALL** when the consumer has made no progress with work
//!    waiting for the whole window: the committed offset has been `c` since
//!    `t_move` (the first point of its current flat run in the committed
//!    history) and the end offset has been beyond `c` since `t_wait` (the
//!    first end-history point above `c`), and `now − max(t_move, t_wait) ≥ W`.
//!    **STOP** when the group has no active member (ListGroups state
//!    `Empty`): nobody is consuming. **STALL** otherwise: members exist (or
//!    their state is unknown) but the offset does not move. OffsetFetch
//!    cannot tell a consumer re-committing the same offset from one that
//!    stopped committing, so the group state is what separates the two. A
//!    message that arrives after a long quiet period gets a full window
//!    before it counts, since `t_wait` is when it arrived.
//! 3. **REWIND** when the committed offset went down within the window (the
//!    committed history reset at or after `now − W`) and has not yet come
//!    back to the offset it went down from.
//! 4. **WARN** when the consumer moved within the window (`t_move` after
//!    `now − W`), the committed history covers the whole window, and over the
//!    window's observations the lag was above 0 every time, never lower than
//!    at the observation before, and is now higher than at the first: the
//!    consumer moves but falls further behind. Observations are the
//!    committed-history points inside the window plus the current one, and
//!    the window start itself when a flat run spans it; inside a flat run
//!    the lag can only grow, so its two kept points bound every observation
//!    between them. The lag at a past observation uses the end offset of
//!    the end history at that time.
//! 5. **OK** otherwise.
//!
//! A group's status is the worst of its partitions, in the order
//! OK < WARN < REWIND < STALL < STOP (a rewinding consumer is working; a
//! stalled one has members that do not progress; a stopped one has none).
//! Burrow's group status ERR is not a separate state: it is a group whose
//! worst partition is REWIND, STALL or STOP, i.e. [`Status::code`] ≥ 2.

use crate::history::OffsetHistory;
use crate::model::Offset;

/// Default status window: ten minutes, twenty observations at the default
/// 30 s interval, about Burrow's default of ten commits a minute apart.
pub const DEFAULT_STATUS_WINDOW_MS: i64 = 600_000;

/// Status of a partition or group, ordered from best to worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Ok,
    Warn,
    Rewind,
    Stall,
    Stop,
}

impl Status {
    /// Value of the status series: 0 OK, 1 WARN, 2 REWIND, 3 STALL, 4 STOP,
    /// so `max` is the worst and `≥ 2` is Burrow's ERR.
    pub fn code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Warn => 1,
            Self::Rewind => 2,
            Self::Stall => 3,
            Self::Stop => 4,
        }
    }

    /// Burrow's name for the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Warn => "WARN",
            Self::Rewind => "REWIND",
            Self::Stall => "STALL",
            Self::Stop => "STOP",
        }
    }
}

/// Whether a group has active members, from its ListGroups state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Members {
    /// Consumers are connected (Stable, rebalancing, assigning, reconciling).
    Active,
    /// No consumer is connected (state `Empty`). A consumer that assigns
    /// partitions itself and only commits also shows as `Empty`.
    Empty,
    /// State unknown (`Unknown`, `Dead`, or not fetched).
    Unknown,
}

impl Members {
    /// From Kafka's group state name.
    pub fn from_group_state(state: &str) -> Self {
        match state {
            "Empty" => Self::Empty,
            "Stable" | "PreparingRebalance" | "CompletingRebalance" | "Assigning" | "Reconciling" => Self::Active,
            _ => Self::Unknown,
        }
    }
}

/// Parameters of the status rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusPolicy {
    /// The window `W`, in milliseconds. The committed-offset history must
    /// reach back at least this far (its max age ≥ `W`).
    pub window_ms: i64,
}

impl Default for StatusPolicy {
    fn default() -> Self {
        Self { window_ms: DEFAULT_STATUS_WINDOW_MS }
    }
}

/// What the rules read for one group on one partition at one observation.
#[derive(Clone, Copy, Debug)]
pub struct StatusInput<'a> {
    pub committed: Offset,
    pub end: Offset,
    pub now_ms: i64,
    /// The group's committed-offset history of the partition.
    pub committed_history: &'a OffsetHistory,
    /// The partition's end-offset history.
    pub end_history: &'a OffsetHistory,
    pub members: Members,
}

/// The status of one partition; see the module docs for the rules.
pub fn partition_status(input: &StatusInput<'_>, policy: StatusPolicy) -> Status {
    let lag = input.end.saturating_sub(input.committed);
    if lag <= 0 {
        return Status::Ok;
    }
    let window_start = input.now_ms.saturating_sub(policy.window_ms);
    let t_move = run_start(input);
    let t_wait = first_beyond(input.end_history, input.committed).unwrap_or(input.now_ms);
    if input.now_ms.saturating_sub(t_move.max(t_wait)) >= policy.window_ms {
        return match input.members {
            Members::Empty => Status::Stop,
            Members::Active | Members::Unknown => Status::Stall,
        };
    }
    let rewound = input
        .committed_history
        .last_reset()
        .is_some_and(|r| r.at_ms >= window_start && input.committed < r.from_offset);
    if rewound {
        return Status::Rewind;
    }
    if t_move > window_start && lag_rising(input, window_start) {
        return Status::Warn;
    }
    Status::Ok
}

/// The worst status, `None` for no partitions.
pub fn group_status(partitions: impl IntoIterator<Item = Status>) -> Option<Status> {
    partitions.into_iter().max()
}

/// Since when the committed offset has been `input.committed`: the first
/// point of the history's trailing run at that offset (the oldest point when
/// the run fills the history, a lower bound), or now when the history does
/// not end at it.
fn run_start(input: &StatusInput<'_>) -> i64 {
    let points = input.committed_history.points();
    let run = points.iter().rev().take_while(|p| p.offset == input.committed).last();
    run.map_or(input.now_ms, |p| p.at_ms)
}

/// When the end offset was first seen beyond `committed`.
fn first_beyond(end_history: &OffsetHistory, committed: Offset) -> Option<i64> {
    let points = end_history.points();
    points.get(points.partition_point(|p| p.offset <= committed)).map(|p| p.at_ms)
}

/// Rule 4's lag test over the window's observations.
fn lag_rising(input: &StatusInput<'_>, window_start: i64) -> bool {
    let points = input.committed_history.points();
    if points.first().is_none_or(|p| p.at_ms > window_start) {
        return false;
    }
    let inside = points.partition_point(|p| p.at_ms < window_start);
    let before = inside.checked_sub(1).and_then(|i| points.get(i));
    let flat_across_start = match (before, points.get(inside)) {
        (Some(b), Some(a)) => b.offset == a.offset && a.at_ms > window_start,
        _ => false,
    };
    let start = before.filter(|_| flat_across_start).map(|b| (b.offset, window_start));
    let kept = points.get(inside..).unwrap_or_default().iter().filter(|p| p.at_ms < input.now_ms);
    let past = start.into_iter().chain(kept.map(|p| (p.offset, p.at_ms)));

    let mut first: Option<f64> = None;
    let mut prev = f64::NEG_INFINITY;
    for (committed, at_ms) in past {
        let Some(end) = input.end_history.offset_at(at_ms) else { return false };
        let lag = end - committed as f64;
        if lag <= 0.0 || lag < prev {
            return false;
        }
        first.get_or_insert(lag);
        prev = lag;
    }
    let now_lag = (input.end - input.committed) as f64;
    now_lag >= prev && first.is_some_and(|f| now_lag > f)
}

#[cfg(test)]
mod tests;
