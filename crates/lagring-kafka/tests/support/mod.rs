//! What the authentication suites share: once a client has logged in to the
//! simulator, it must read exactly what the simulator's model holds. Every
//! mechanism is judged by the same reading.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::sync::Arc;

use lagring_kafka::KafkaClient;
use lagring_sim::SimHandle;

/// Lists the groups (`g0`, `g1`, `g2`) and reads their committed offsets;
/// both must match the model exactly. An error is the client's, as text.
pub async fn reads_everything(sim: &SimHandle, client: &KafkaClient) -> Result<(), String> {
    let expected = sim.expected_now();
    let listing = client.list_groups().await.map_err(|e| e.to_string())?;
    let mut names: Vec<String> = listing.iter().map(|g| g.group.to_string()).collect();
    names.sort_unstable();
    assert_eq!(names, vec!["g0", "g1", "g2"]);
    let groups: Vec<Arc<str>> = names.iter().map(|n| Arc::from(n.as_str())).collect();
    for (group, result) in client.committed_offsets(groups, 3).await {
        let commits = result.map_err(|e| e.to_string())?;
        let want = &expected.groups[&*group].committed;
        assert_eq!(commits.len(), want.len(), "group {group}");
        for (tp, offset) in commits {
            assert_eq!(Some(offset), want[&(tp.topic.to_string(), tp.partition)], "{group} {tp:?}");
        }
    }
    Ok(())
}
