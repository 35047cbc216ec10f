//! `lagring check`: one iteration per cluster with the node's fetch code
//! (metadata, group listing, committed offsets *before* log offsets), lag
//! computed by `lagring_core::lag::compute`, printed per group like
//! `kafka-consumer-groups --describe`, or as JSON. No leases, no remote
//! write; with `redis.mode: sentinel` it also asks the master whether it
//! accepts writes without replicas ([`redis_warnings`], printed to stderr).

use std::sync::Arc;
use std::time::Instant;

use lagring_core::filter::NameFilter;
use lagring_core::lag::{self, GroupLag};
use lagring_kafka::KafkaClient;
use lagring_store::{RedisConfig, RedisMode, RedisStore, ReplicaWrites};
use serde::Serialize;

use crate::config::{ClusterConfig, Config};
use crate::pipeline::fetch::{ClusterFetcher, Selection};

/// How `check` prints its result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    #[default]
    Table,
    Json,
}

/// What to check: every cluster and group of the config, or a subset.
#[derive(Debug, Default)]
pub struct CheckOptions {
    /// Only the cluster with this name.
    pub cluster: Option<String>,
    /// Only groups matching this regex (unanchored), on top of the config filters.
    pub group: Option<String>,
}

/// Options that cannot apply to the config: exit code 2, like a config error.
#[derive(Debug, thiserror::Error)]
pub enum CheckUsageError {
    #[error("--cluster: no cluster named {0:?} in the config")]
    UnknownCluster(String),
    #[error("--group: {0}")]
    GroupRegex(String),
}

/// One cluster's answer.
#[derive(Debug, Serialize)]
pub struct ClusterReport {
    pub cluster: String,
    /// Set when the cluster could not be checked; `groups` is then empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub groups: Vec<GroupReport>,
    /// Partial failures (a group whose offsets failed, an incomplete listing).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct GroupReport {
    pub group: String,
    pub sum_lag: i64,
    pub max_lag: i64,
    /// Partitions of the group's topics that have no commit.
    pub partitions_without_commit: u32,
    pub partitions: Vec<PartitionReport>,
}

#[derive(Debug, Serialize)]
pub struct PartitionReport {
    pub topic: String,
    pub partition: i32,
    pub committed: i64,
    pub start: i64,
    pub end: i64,
    pub lag: i64,
    /// The commit is below the log start: records were lost to retention.
    pub beyond_retention: bool,
}

/// Checks the selected clusters concurrently; reports come in config order.
pub async fn check(cfg: &Config, opts: &CheckOptions) -> Result<Vec<ClusterReport>, CheckUsageError> {
    let selected: Vec<&ClusterConfig> =
        cfg.clusters.iter().filter(|c| opts.cluster.as_ref().is_none_or(|name| &c.name == name)).collect();
    if let Some(name) = &opts.cluster
        && selected.is_empty()
    {
        return Err(CheckUsageError::UnknownCluster(name.clone()));
    }
    let only = NameFilter::new(opts.group.as_slice(), &[]).map_err(|e| CheckUsageError::GroupRegex(e.to_string()))?;
    let only = Arc::new(only);
    let timeout = cfg.iteration_timeout();
    let mut tasks = Vec::with_capacity(selected.len());
    for c in selected {
        let (c, only) = (c.clone(), only.clone());
        tasks.push((c.name.clone(), tokio::spawn(async move { check_cluster(&c, &only, timeout).await })));
    }
    for warning in redis_warnings(cfg).await {
        eprintln!("warning: redis: {warning}");
    }
    let mut reports = Vec::with_capacity(tasks.len());
    for (name, task) in tasks {
        let report = match task.await {
            Ok(Ok(report)) => report,
            Ok(Err(e)) => failed(&name, e),
            Err(e) => failed(&name, format!("check task failed: {e}")),
        };
        reports.push(report);
    }
    Ok(reports)
}

/// Why a Sentinel master must refuse writes without replicas.
const SPLIT_FLEET: &str = "an old master cut off from the sentinels together with some nodes keeps its run id, \
so those nodes see no new epoch and keep claiming leases on it while the others claim on the promoted replica: \
two emitters per group (set min-replicas-to-write 1, see docs/operations.md)";

/// Warnings about the fleet's Redis: in Sentinel mode, a master that accepts
/// writes with no replica in sync, or that does not say.
pub async fn redis_warnings(cfg: &Config) -> Vec<String> {
    match &cfg.redis {
        Some(redis) if redis.mode == RedisMode::Sentinel => replica_writes_warning(redis).await.into_iter().collect(),
        _ => Vec::new(),
    }
}

/// The warning for the server `redis` writes to, if it accepts writes
/// without replicas or cannot be asked.
pub async fn replica_writes_warning(redis: &RedisConfig) -> Option<String> {
    let answer = match RedisStore::connect(redis).await {
        Ok(store) => store.replica_writes().await,
        Err(e) => Err(e),
    };
    match answer {
        Ok(ReplicaWrites::Required(_)) => None,
        Ok(ReplicaWrites::NotRequired) => Some(format!(
            "the master accepts writes with no replica in sync (min-replicas-to-write is 0): {SPLIT_FLEET}"
        )),
        Ok(ReplicaWrites::NotPermitted(why)) => Some(format!(
            "cannot tell whether the master accepts writes with no replica in sync (config get min-replicas-to-write is not permitted: {why}): {SPLIT_FLEET}"
        )),
        Err(e) => Some(format!("cannot check min-replicas-to-write on the master: {e}")),
    }
}

fn failed(cluster: &str, error: String) -> ClusterReport {
    ClusterReport { cluster: cluster.to_owned(), error: Some(error), groups: Vec::new(), warnings: Vec::new() }
}

async fn check_cluster(
    c: &ClusterConfig,
    only: &NameFilter,
    timeout: std::time::Duration,
) -> Result<ClusterReport, String> {
    let client = KafkaClient::new(&c.name, &c.kafka_connection(), c.client_kind())
        .map_err(|e| format!("cannot create kafka client: {e}"))?;
    let groups = NameFilter::new(&c.groups.allow, &c.groups.deny).map_err(|e| format!("groups filter: {e}"))?;
    let topics = NameFilter::new(&c.topics.allow, &c.topics.deny).map_err(|e| format!("topics filter: {e}"))?;
    let fetcher = ClusterFetcher::new(Arc::from(c.name.as_str()), client)
        .with_filters(groups, topics)
        .with_max_in_flight(c.max_in_flight_offset_fetches);
    let started = Instant::now();
    let deadline = started + timeout;
    let discovery = fetcher.discover(deadline).await.map_err(|e| e.to_string())?;
    let owned = discovery.matched.iter().filter(|g| only.matches(g)).cloned().collect();
    let selection = Selection { owned, owns_cluster_series: false };
    let outcome = fetcher.fetch_owned(discovery, selection, 0, started, deadline).await.map_err(|e| e.to_string())?;
    if !outcome.reached_cluster() {
        let why = outcome.groups.partial.map(|e| e.to_string()).unwrap_or_default();
        return Err(format!("cannot list groups: {why}"));
    }
    let mut warnings = Vec::new();
    if let Some(e) = &outcome.groups.partial {
        warnings.push(format!("group listing incomplete: {e}"));
    }
    warnings.extend(outcome.failures.groups.iter().map(|(g, e)| format!("group {g}: offset fetch failed: {e}")));
    warnings.extend(
        outcome
            .failures
            .partitions
            .iter()
            .map(|(tp, e)| format!("partition {}/{}: log offsets failed: {e}", tp.topic, tp.partition)),
    );
    let mut groups: Vec<GroupReport> = lag::compute(&outcome.observation).groups.iter().map(group_report).collect();
    groups.sort_by(|a, b| a.group.cmp(&b.group));
    Ok(ClusterReport { cluster: c.name.clone(), error: None, groups, warnings })
}

fn group_report(g: &GroupLag) -> GroupReport {
    let mut partitions: Vec<PartitionReport> = g
        .partitions
        .iter()
        .map(|p| PartitionReport {
            topic: p.tp.topic.to_string(),
            partition: p.tp.partition,
            committed: p.committed,
            start: p.offsets.start,
            end: p.offsets.end,
            lag: p.lag,
            beyond_retention: p.beyond_retention,
        })
        .collect();
    partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    GroupReport {
        group: g.group.to_string(),
        sum_lag: g.sum_lag,
        max_lag: g.max_lag,
        partitions_without_commit: g.partitions_without_commit,
        partitions,
    }
}

/// Renders the reports as tables: per cluster a heading, then per group the
/// `kafka-consumer-groups --describe` columns and a `TOTAL` row.
pub fn render_table(reports: &[ClusterReport]) -> String {
    let mut out = String::new();
    for r in reports.iter().filter(|r| r.error.is_none()) {
        out.push_str(&format!("cluster {}\n", r.cluster));
        if r.groups.is_empty() {
            out.push_str("no consumer groups\n");
        }
        for g in &r.groups {
            out.push('\n');
            out.push_str(&group_table(g));
        }
        out.push('\n');
    }
    out
}

const HEADER: [&str; 6] = ["GROUP", "TOPIC", "PARTITION", "COMMITTED", "END", "LAG"];

fn group_table(g: &GroupReport) -> String {
    let mut rows: Vec<[String; 6]> = vec![HEADER.map(str::to_owned)];
    for p in &g.partitions {
        let lag = if p.beyond_retention { format!("{} (beyond retention)", p.lag) } else { p.lag.to_string() };
        rows.push([
            g.group.clone(),
            p.topic.clone(),
            p.partition.to_string(),
            p.committed.to_string(),
            p.end.to_string(),
            lag,
        ]);
    }
    let dash = || "-".to_owned();
    rows.push([g.group.clone(), "TOTAL".to_owned(), dash(), dash(), dash(), g.sum_lag.to_string()]);
    let mut widths = [0usize; HEADER.len()];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    if g.partitions_without_commit > 0 {
        out.push_str(&format!(
            "{}: {} partition(s) of its topics without commit\n",
            g.group, g.partitions_without_commit
        ));
    }
    out
}

/// Renders the reports as one JSON document `{"clusters": [...]}`.
pub fn render_json(reports: &[ClusterReport]) -> serde_json::Result<String> {
    #[derive(Serialize)]
    struct Doc<'a> {
        clusters: &'a [ClusterReport],
    }
    serde_json::to_string_pretty(&Doc { clusters: reports })
}

#[cfg(test)]
mod tests {
    use lagring_testkit::redis::RedisServer;
    use lagring_testkit::redis_ha::RedisSentinelSet;

    use super::*;

    fn partition(topic: &str, partition: i32, committed: i64, end: i64) -> PartitionReport {
        let lag = (end - committed).max(0);
        PartitionReport { topic: topic.to_owned(), partition, committed, start: 0, end, lag, beyond_retention: false }
    }

    #[test]
    fn table_aligns_columns_and_ends_each_group_with_its_total() {
        let report = ClusterReport {
            cluster: "local".to_owned(),
            error: None,
            warnings: Vec::new(),
            groups: vec![GroupReport {
                group: "audit".to_owned(),
                sum_lag: 4,
                max_lag: 4,
                partitions_without_commit: 2,
                partitions: vec![partition("orders", 0, 10, 10), partition("payments", 0, 1, 5)],
            }],
        };
        let failed = failed("dead", "metadata: timed out".to_owned());
        let expected = "cluster local\n\n\
                        GROUP  TOPIC     PARTITION  COMMITTED  END  LAG\n\
                        audit  orders    0          10         10   0\n\
                        audit  payments  0          1          5    4\n\
                        audit  TOTAL     -          -          -    4\n\
                        audit: 2 partition(s) of its topics without commit\n\n";
        assert_eq!(render_table(&[report, failed]), expected);
    }

    #[tokio::test]
    async fn a_master_that_writes_without_replicas_is_warned_about() -> anyhow::Result<()> {
        let open = RedisServer::start()?;
        let warning = replica_writes_warning(&RedisConfig::new(open.url())).await;
        let want =
            format!("the master accepts writes with no replica in sync (min-replicas-to-write is 0): {SPLIT_FLEET}");
        assert_eq!(warning, Some(want));

        let guarded = RedisServer::start_with_args(&["--min-replicas-to-write", "1"])?;
        assert_eq!(replica_writes_warning(&RedisConfig::new(guarded.url())).await, None);

        let acl = ["ACL", "SETUSER", "lagring", "on", ">s3cret", "~*", "+@all", "-config"];
        assert_eq!(open.cli(&acl)?.trim(), "OK");
        let mut restricted = RedisConfig::new(open.url());
        restricted.username = Some("lagring".into());
        restricted.password = Some("s3cret".into());
        let warning = replica_writes_warning(&restricted).await;
        let want = format!(
            "cannot tell whether the master accepts writes with no replica in sync (config get min-replicas-to-write \
             is not permitted: NoPerm: this user has no permissions to run the 'config|get' command): {SPLIT_FLEET}"
        );
        assert_eq!(warning, Some(want));
        Ok(())
    }

    #[tokio::test]
    async fn in_sentinel_mode_the_master_the_sentinels_name_is_asked() -> anyhow::Result<()> {
        let set = RedisSentinelSet::start()?;
        let mut cfg: Config = serde_norway::from_str("clusters: []")?;
        cfg.redis = Some(RedisConfig::sentinel(set.sentinel_urls(), RedisSentinelSet::MASTER_NAME));
        let want =
            format!("the master accepts writes with no replica in sync (min-replicas-to-write is 0): {SPLIT_FLEET}");
        assert_eq!(redis_warnings(&cfg).await, [want]);
        // Set on the master only: the replica still says 0.
        assert_eq!(set.master.cli(&["CONFIG", "SET", "min-replicas-to-write", "1"])?.trim(), "OK");
        assert_eq!(redis_warnings(&cfg).await, Vec::<String>::new());
        Ok(())
    }

    #[tokio::test]
    async fn only_sentinel_mode_is_checked() {
        let mut cfg: Config = serde_norway::from_str("clusters: []").unwrap_or_else(|e| panic!("{e}"));
        cfg.redis = Some(RedisConfig::new("redis://127.0.0.1:1"));
        assert!(redis_warnings(&cfg).await.is_empty(), "standalone: no replicas, no failover");
    }
}
