//! `lagring ring`: the operator's view of the fleet, read from Redis.

use std::fmt::Write as _;

use anyhow::Context;
use lagring_store::{CoordinationStore, Membership, RedisStore};

use crate::config::Config;

/// Prints live nodes, heartbeat age and owned group counts.
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
    let total: u64 = m.nodes.iter().map(|n| n.owned_groups).sum();
    let _ = writeln!(out, "{} live node(s), {} owned group(s)", m.nodes.len(), total);
    let _ = writeln!(out, "{:<32} {:>14} {:>12}", "NODE", "HEARTBEAT AGE", "OWNED GROUPS");
    for n in &m.nodes {
        let age = format!("{:.1}s", n.heartbeat_age.as_secs_f64());
        let _ = writeln!(out, "{:<32} {:>14} {:>12}", n.id, age, n.owned_groups);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use lagring_store::NodeInfo;

    use super::*;

    #[test]
    fn renders_a_table_with_totals() {
        let m = Membership {
            nodes: vec![
                NodeInfo { id: "lagring-0".into(), heartbeat_age: Duration::from_millis(1200), owned_groups: 340 },
                NodeInfo { id: "lagring-1".into(), heartbeat_age: Duration::from_millis(300), owned_groups: 331 },
            ],
        };
        let text = render(&m);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "2 live node(s), 671 owned group(s)");
        assert!(lines[2].starts_with("lagring-0"));
        assert!(lines[2].ends_with("1.2s          340"));
    }
}
