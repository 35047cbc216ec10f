//! Names and help texts of the lag series.
//!
//! Names follow kafka-lag-go so existing dashboards keep working; they are
//! pinned by a golden test because renaming one silently breaks every alert
//! built on it.

pub const PARTITION_LAG_OFFSETS: &str = "kafka_consumer_group_lag_in_offsets";
pub const GROUP_MAX_LAG_OFFSETS: &str = "kafka_consumer_group_max_lag_in_offsets";
pub const GROUP_SUM_LAG_OFFSETS: &str = "kafka_consumer_group_sum_lag_in_offsets";
pub const TOPIC_MAX_LAG_OFFSETS: &str = "kafka_consumer_group_topic_max_lag_in_offsets";
pub const TOPIC_SUM_LAG_OFFSETS: &str = "kafka_consumer_group_topic_sum_lag_in_offsets";
pub const PARTITIONS_WITHOUT_COMMIT: &str = "kafka_consumer_group_partitions_without_commit";
pub const PARTITIONS_UNAVAILABLE: &str = "kafka_consumer_group_partitions_unavailable";
pub const LAG_BEYOND_RETENTION: &str = "kafka_consumer_group_lag_beyond_retention";
pub const LOST_MESSAGES: &str = "kafka_consumer_group_lost_messages";
pub const TOTAL_GROUPS_CHECKED: &str = "kafka_total_groups_checked";
pub const ITERATION_TIME_SECONDS: &str = "kafka_iteration_time_seconds";
pub const PARTITION_LAG_SECONDS: &str = "kafka_consumer_group_lag_in_seconds";
pub const GROUP_MAX_LAG_SECONDS: &str = "kafka_consumer_group_max_lag_in_seconds";
pub const GROUP_SUM_LAG_SECONDS: &str = "kafka_consumer_group_sum_lag_in_seconds";
pub const TOPIC_MAX_LAG_SECONDS: &str = "kafka_consumer_group_topic_max_lag_in_seconds";
pub const TOPIC_SUM_LAG_SECONDS: &str = "kafka_consumer_group_topic_sum_lag_in_seconds";
pub const PARTITIONS_TIME_LAG_EXTRAPOLATED: &str = "kafka_consumer_group_partitions_time_lag_extrapolated";
pub const PARTITIONS_WITHOUT_TIME_LAG: &str = "kafka_consumer_group_partitions_without_time_lag";
pub const PARTITION_PRODUCE_RATE: &str = "kafka_partition_produce_records_per_second";
pub const PARTITION_CONSUME_RATE: &str = "kafka_consumer_group_consume_records_per_second";
pub const CATCH_UP_ETA_SECONDS: &str = "kafka_consumer_group_catch_up_eta_seconds";
pub const GROUP_STATUS: &str = "kafka_consumer_group_status";
pub const GROUP_INFO: &str = "kafka_consumer_group_info";
pub const GROUP_MEMBERS: &str = "kafka_consumer_group_members";
pub const SHARE_GROUP_LAG: &str = "kafka_share_group_lag";
pub const MEMBER_PARTITIONS: &str = "kafka_consumer_group_member_partitions";
pub const PARTITION_END_OFFSET: &str = "kafka_partition_end_offset";

/// Push-only values: what Burrow's `/lag` shows per partition and goRainbow
/// sends (`<partition>.endOffset`, `.startOffset`), carried to push sinks in
/// [`crate::series::SeriesBatch::push_only`], never to Prometheus (they would
/// double the partition series for a figure `lag_in_offsets` already gives).
pub const PUSH_COMMITTED_OFFSET: &str = "kafka_consumer_group_committed_offset";
pub const PUSH_WINDOW_START_OFFSET: &str = "kafka_consumer_group_window_start_offset";
/// Every push-only name.
pub const PUSH_ONLY: &[&str] = &[PUSH_COMMITTED_OFFSET, PUSH_WINDOW_START_OFFSET];

/// The time-lag series of a group and its topics, next to the per-partition
/// time lag: what a time-lag gap keeps and what must never be negative.
pub const TIME_LAG_AGGREGATES: &[&str] = &[
    TOPIC_MAX_LAG_SECONDS,
    TOPIC_SUM_LAG_SECONDS,
    GROUP_MAX_LAG_SECONDS,
    GROUP_SUM_LAG_SECONDS,
    PARTITIONS_TIME_LAG_EXTRAPOLATED,
    PARTITIONS_WITHOUT_TIME_LAG,
];

/// Every lag-series name with its help text, in a stable order.
pub const ALL: &[(&str, &str)] = &[
    (PARTITION_LAG_OFFSETS, "Offset lag of a consumer group on one partition: max(0, end - committed)"),
    (GROUP_MAX_LAG_OFFSETS, "Largest partition offset lag of a consumer group"),
    (GROUP_SUM_LAG_OFFSETS, "Sum of partition offset lags of a consumer group"),
    (TOPIC_MAX_LAG_OFFSETS, "Largest partition offset lag of a consumer group on one topic"),
    (TOPIC_SUM_LAG_OFFSETS, "Sum of partition offset lags of a consumer group on one topic"),
    (PARTITIONS_WITHOUT_COMMIT, "Partitions of topics a group commits on that have no committed offset from the group"),
    (
        PARTITIONS_UNAVAILABLE,
        "Committed partitions of a group whose log offsets could not be fetched this iteration (0 when complete)",
    ),
    (LAG_BEYOND_RETENTION, "1 when the committed offset is below the log-start offset (messages already deleted)"),
    (
        LOST_MESSAGES,
        "Messages deleted by retention before the group consumed them: log-start offset - committed offset",
    ),
    (TOTAL_GROUPS_CHECKED, "Consumer groups whose lag was computed in the last iteration"),
    (ITERATION_TIME_SECONDS, "Wall time of the last fetch-and-compute iteration of a cluster"),
    (PARTITION_LAG_SECONDS, "Time lag of a consumer group on one partition: age of the oldest unconsumed message"),
    (GROUP_MAX_LAG_SECONDS, "Largest partition time lag of a consumer group"),
    (GROUP_SUM_LAG_SECONDS, "Sum of partition time lags of a consumer group"),
    (TOPIC_MAX_LAG_SECONDS, "Largest partition time lag of a consumer group on one topic"),
    (TOPIC_SUM_LAG_SECONDS, "Sum of partition time lags of a consumer group on one topic"),
    (PARTITIONS_TIME_LAG_EXTRAPOLATED, "Partitions whose time lag was extrapolated past the end-offset history"),
    (PARTITIONS_WITHOUT_TIME_LAG, "Partitions with an offset lag but too little end-offset history for a time lag"),
    (PARTITION_PRODUCE_RATE, "Records written to a partition per second, over the rate window"),
    (
        PARTITION_CONSUME_RATE,
        "Records per second by which a consumer group's committed offset advanced on a partition, over the rate window",
    ),
    (CATCH_UP_ETA_SECONDS, "Seconds until a consumer group catches up at its current consume and produce rates"),
    (GROUP_STATUS, "Consumer group status: 0 OK, 1 WARN, 2 REWIND, 3 STALL, 4 STOP"),
    (GROUP_INFO, "1 per group, with its type (classic, consumer, share, streams) and state as labels"),
    (GROUP_MEMBERS, "Members of a group as its type's describe API reports them"),
    (
        SHARE_GROUP_LAG,
        "Records of a share group's partition at or above its share-partition start offset: max(0, end - start)",
    ),
    (MEMBER_PARTITIONS, "Partitions assigned to one member of a group (opt-in: prometheus.member_series)"),
    (PARTITION_END_OFFSET, "Log-end offset of a partition: records ever produced to it"),
];

/// Help text for a lag-series name; a generic text for unknown names.
pub fn help_for(name: &str) -> &'static str {
    ALL.iter().find(|(n, _)| *n == name).map(|(_, h)| *h).unwrap_or("lagring series, see docs/metrics.md")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_pinned() {
        let names: Vec<&str> = ALL.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            vec![
                "kafka_consumer_group_lag_in_offsets",
                "kafka_consumer_group_max_lag_in_offsets",
                "kafka_consumer_group_sum_lag_in_offsets",
                "kafka_consumer_group_topic_max_lag_in_offsets",
                "kafka_consumer_group_topic_sum_lag_in_offsets",
                "kafka_consumer_group_partitions_without_commit",
                "kafka_consumer_group_partitions_unavailable",
                "kafka_consumer_group_lag_beyond_retention",
                "kafka_consumer_group_lost_messages",
                "kafka_total_groups_checked",
                "kafka_iteration_time_seconds",
                "kafka_consumer_group_lag_in_seconds",
                "kafka_consumer_group_max_lag_in_seconds",
                "kafka_consumer_group_sum_lag_in_seconds",
                "kafka_consumer_group_topic_max_lag_in_seconds",
                "kafka_consumer_group_topic_sum_lag_in_seconds",
                "kafka_consumer_group_partitions_time_lag_extrapolated",
                "kafka_consumer_group_partitions_without_time_lag",
                "kafka_partition_produce_records_per_second",
                "kafka_consumer_group_consume_records_per_second",
                "kafka_consumer_group_catch_up_eta_seconds",
                "kafka_consumer_group_status",
                "kafka_consumer_group_info",
                "kafka_consumer_group_members",
                "kafka_share_group_lag",
                "kafka_consumer_group_member_partitions",
                "kafka_partition_end_offset",
            ]
        );
        assert_eq!(PUSH_ONLY, &["kafka_consumer_group_committed_offset", "kafka_consumer_group_window_start_offset"]);
        assert!(PUSH_ONLY.iter().all(|p| ALL.iter().all(|(n, _)| n != p)), "push-only names are no series");
        assert_eq!(help_for(GROUP_MAX_LAG_OFFSETS), "Largest partition offset lag of a consumer group");
    }
}
