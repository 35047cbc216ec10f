//! Counters of admin requests issued and failed, per Kafka API, for the
//! `lagring_*` self metrics.
//!
//! Counters are cumulative since the client was created; the metrics layer
//! exports them as counters. For the librdkafka client a "request" is one admin
//! call handed to librdkafka (librdkafka may split a ListOffsets call into one
//! wire request per partition leader; OffsetFetch counts one per group, and the
//! FindCoordinator and ApiVersions requests librdkafka makes are not seen).
//! For the native client a "request" is one wire request, every API counted.
//! An "error" is a request that failed as a whole; partial per-group or
//! per-partition failures are returned to the caller, not counted here.

use std::sync::atomic::{AtomicU64, Ordering};

/// Snapshot of the request counters of one client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestStats {
    pub list_groups: ApiCounts,
    /// ListConsumerGroupOffsets (OffsetFetch), one per group.
    pub offset_fetch: ApiCounts,
    pub list_offsets: ApiCounts,
    pub metadata: ApiCounts,
    /// Native client only (librdkafka's own lookups are not seen).
    pub find_coordinator: ApiCounts,
    /// Native client only: one per connection handshake.
    pub api_versions: ApiCounts,
    /// Native client only: Fetch requests reading record-batch headers for exact time lag.
    pub fetch: ApiCounts,
    /// Native client only: record bytes received in Fetch responses.
    pub fetch_bytes: u64,
    /// Native client only: DescribeGroups, ConsumerGroupDescribe, ShareGroupDescribe and
    /// StreamsGroupDescribe requests (one per coordinator and batch of each).
    pub describe_groups: ApiCounts,
    /// Native client only: DescribeShareGroupOffsets requests.
    pub share_group_offsets: ApiCounts,
}

/// Requests issued and requests failed for one API.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApiCounts {
    pub requests: u64,
    pub errors: u64,
}

/// The Kafka APIs the client counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Api {
    ListGroups,
    OffsetFetch,
    ListOffsets,
    Metadata,
    FindCoordinator,
    /// ApiVersions.
    Versions,
    Fetch,
    /// DescribeGroups, ConsumerGroupDescribe, ShareGroupDescribe, StreamsGroupDescribe.
    DescribeGroups,
    /// DescribeShareGroupOffsets.
    ShareGroupOffsets,
}

impl Api {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Api::ListGroups => "list groups",
            Api::OffsetFetch => "offset fetch",
            Api::ListOffsets => "list offsets",
            Api::Metadata => "metadata",
            Api::FindCoordinator => "find coordinator",
            Api::Versions => "api versions",
            Api::Fetch => "fetch",
            Api::DescribeGroups => "describe groups",
            Api::ShareGroupOffsets => "describe share group offsets",
        }
    }
}

#[derive(Debug, Default)]
struct AtomicCounts {
    requests: AtomicU64,
    errors: AtomicU64,
}

impl AtomicCounts {
    fn snapshot(&self) -> ApiCounts {
        ApiCounts { requests: self.requests.load(Ordering::Relaxed), errors: self.errors.load(Ordering::Relaxed) }
    }
}

/// Live counters shared by all clones of a client.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    list_groups: AtomicCounts,
    offset_fetch: AtomicCounts,
    list_offsets: AtomicCounts,
    metadata: AtomicCounts,
    find_coordinator: AtomicCounts,
    api_versions: AtomicCounts,
    fetch: AtomicCounts,
    fetch_bytes: AtomicU64,
    describe_groups: AtomicCounts,
    share_group_offsets: AtomicCounts,
}

impl Counters {
    fn of(&self, api: Api) -> &AtomicCounts {
        match api {
            Api::ListGroups => &self.list_groups,
            Api::OffsetFetch => &self.offset_fetch,
            Api::ListOffsets => &self.list_offsets,
            Api::Metadata => &self.metadata,
            Api::FindCoordinator => &self.find_coordinator,
            Api::Versions => &self.api_versions,
            Api::Fetch => &self.fetch,
            Api::DescribeGroups => &self.describe_groups,
            Api::ShareGroupOffsets => &self.share_group_offsets,
        }
    }

    pub(crate) fn requests(&self, api: Api, n: u64) {
        self.of(api).requests.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn errors(&self, api: Api, n: u64) {
        self.of(api).errors.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn fetch_bytes(&self, n: u64) {
        self.fetch_bytes.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> RequestStats {
        RequestStats {
            list_groups: self.list_groups.snapshot(),
            offset_fetch: self.offset_fetch.snapshot(),
            list_offsets: self.list_offsets.snapshot(),
            metadata: self.metadata.snapshot(),
            find_coordinator: self.find_coordinator.snapshot(),
            api_versions: self.api_versions.snapshot(),
            fetch: self.fetch.snapshot(),
            fetch_bytes: self.fetch_bytes.load(Ordering::Relaxed),
            describe_groups: self.describe_groups.snapshot(),
            share_group_offsets: self.share_group_offsets.snapshot(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_api() {
        let c = Counters::default();
        c.requests(Api::OffsetFetch, 3);
        c.errors(Api::OffsetFetch, 1);
        c.requests(Api::Metadata, 1);
        let s = c.snapshot();
        assert_eq!(s.offset_fetch, ApiCounts { requests: 3, errors: 1 });
        assert_eq!(s.metadata, ApiCounts { requests: 1, errors: 0 });
        assert_eq!(s.list_groups, ApiCounts::default());
        assert_eq!(s.list_offsets, ApiCounts::default());
    }
}
