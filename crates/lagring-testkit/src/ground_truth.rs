//! The ground truth of the single-cluster end-to-end suites: topics, records
//! and commits written into a real broker, and the exact committed offset,
//! end offset and lag of every partition that follows from them. One copy,
//! so `lagring check`, `/metrics`, remote write and Prometheus are all judged
//! against the same numbers.

use anyhow::Result;

use crate::kafka_fixtures::{commit, create_topic, produce};

/// (group, topic, partition, committed, end, lag) of every committed
/// partition, sorted by group, topic and partition.
pub const EXPECTED: [(&str, &str, i32, i64, i64, i64); 6] = [
    ("audit", "orders", 0, 10, 10, 0),
    ("audit", "payments", 0, 1, 5, 4),
    ("audit", "payments", 1, 7, 7, 0),
    ("billing", "orders", 0, 4, 10, 6),
    ("billing", "orders", 1, 20, 20, 0),
    ("billing", "orders", 2, 25, 30, 5),
];

/// A group the suites exclude with `groups: { deny: ['^test-'] }`.
pub const DENIED_GROUP: &str = "test-ignored";

/// Writes the ground truth into the broker at `bootstrap`: topics `orders`
/// (3 partitions: 10, 20, 30 records) and `payments` (2: 5, 7); `billing`
/// lags 6, 0, 5 on orders; `audit` committed orders/0 only (1 and 2 never)
/// and lags 4 and 0 on payments; [`DENIED_GROUP`] committed payments/0.
pub async fn seed(bootstrap: &str) -> Result<()> {
    create_topic(bootstrap, "orders", 3).await?;
    create_topic(bootstrap, "payments", 2).await?;
    for (topic, partition, count) in
        [("orders", 0, 10), ("orders", 1, 20), ("orders", 2, 30), ("payments", 0, 5), ("payments", 1, 7)]
    {
        produce(bootstrap, topic, partition, count).await?;
    }
    commit(bootstrap, "billing", &[("orders", 0, 4), ("orders", 1, 20), ("orders", 2, 25)]).await?;
    commit(bootstrap, "audit", &[("orders", 0, 10), ("payments", 0, 1), ("payments", 1, 7)]).await?;
    commit(bootstrap, DENIED_GROUP, &[("payments", 0, 0)]).await?;
    Ok(())
}
