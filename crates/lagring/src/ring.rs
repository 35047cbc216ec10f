//! `lagring ring`: the operator's view of the fleet, read from Redis.

use std::fmt::Write as _;

use anyhow::Context;
use lagring_store::{CoordinationStore, Membership, RedisStore};

use crate::config::Config;

/// Prints live nodes, heartbeat age, owned group counts, state and labels.
pub fn print(cfg: &Config) -> anyhow::Result<()> {
    let Some(redis) = &cfg.redis else {
        println!("single-node mode (no redis configured): node {} owns every group", cfg.node_id());
        return Ok(());
    };
    lagring_store::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let membership = rt.block_on(async {
        let store = RedisStore::connect(redis).await.with_context(|| format!("connect to {}", redis.display_url()))?;
        store.membership().await.context("read the live set")
    })?;
    print!("{}", render(&membership));
    Ok(())
}

fn render(m: &Membership) -> String {
    let mut out = String::new();
    let total: u64 = m.nodes.iter().map(|n| n.status.owned_groups).sum();
    let _ = writeln!(out, "{} live node(s), {} owned group(s)", m.nodes.len(), total);
    let _ = writeln!(out, "{:<32} {:>14} {:>12}  STATE", "NODE", "HEARTBEAT AGE", "OWNED GROUPS");
    for n in &m.nodes {
        let age = format!("{:.1}s", n.heartbeat_age.as_secs_f64());
        let mut state = match (n.status.leaving, n.status.restarting) {
            (true, _) => "leaving".to_owned(),
            (false, true) => "restarting".to_owned(),
            (false, false) => "active".to_owned(),
        };
        if !n.status.unhealthy_clusters.is_empty() {
            state.push_str(&format!(", off the ring of: {}", n.status.unhealthy_clusters.join(", ")));
        }
        if n.status.undeliverable {
            state.push_str(", undeliverable");
        }
        for (cluster, brokers) in &n.status.unreachable_brokers {
            let ids: Vec<String> = brokers.iter().map(i32::to_string).collect();
            let blocked = n.status.blocked_groups.get(cluster).map_or(0, Vec::len);
            state.push_str(&format!(
                ", {cluster}: broker(s) {} unreachable, {blocked} group(s) given to peers",
                ids.join(" ")
            ));
        }
        if !n.status.labels.is_empty() {
            let labels: Vec<String> = n.status.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            state.push_str(&format!(", labels {}", labels.join(",")));
        }
        let _ = writeln!(out, "{:<32} {:>14} {:>12}  {state}", n.id, age, n.status.owned_groups);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use lagring_store::{NodeInfo, NodeStatus};

    use super::*;

    #[test]
    fn renders_a_table_with_totals() {
        let node = |id: &str, age_ms: u64, owned: u64, leaving: bool, off: &[&str]| NodeInfo {
            id: id.into(),
            incarnation: "i".into(),
            heartbeat_age: Duration::from_millis(age_ms),
            status: NodeStatus {
                owned_groups: owned,
                leaving,
                unhealthy_clusters: off.iter().map(|c| (*c).to_owned()).collect(),
                undeliverable: leaving,
                ..NodeStatus::default()
            },
        };
        let mut labelled = node("lagring-2", 50, 0, false, &[]);
        labelled.status.labels = [("region", "eu"), ("zone", "eu-1a")].map(|(k, v)| (k.into(), v.into())).into();
        labelled.status.restarting = true;
        let m = Membership {
            nodes: vec![
                node("lagring-0", 1200, 340, false, &[]),
                node("lagring-1", 300, 331, true, &["east"]),
                labelled,
            ],
            ..Membership::default()
        };
        let text = render(&m);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "3 live node(s), 671 owned group(s)");
        assert!(lines[2].starts_with("lagring-0"));
        assert!(lines[2].ends_with("1.2s          340  active"), "{}", lines[2]);
        assert!(lines[3].ends_with("0.3s          331  leaving, off the ring of: east, undeliverable"), "{}", lines[3]);
        assert!(lines[4].ends_with("0.1s            0  restarting, labels region=eu,zone=eu-1a"), "{}", lines[4]);
    }
}
