//! The keys the ring places and leases guard. A consumer group is
//! `"{cluster}/{group}"`; the cluster-wide series (groups checked, iteration
//! time) are owned through `"{cluster}/"` — an empty group id, which Kafka
//! does not allow, so it never collides with a group.

pub use lagring_core::ownership::group_key;

/// The key that owns the cluster-wide series of `cluster`.
pub fn cluster_series_key(cluster: &str) -> String {
    format!("{cluster}/")
}

/// The group of a key of `cluster`, or `None` for the cluster-series key or
/// a key of another cluster.
pub fn group_of_key<'k>(cluster: &str, key: &'k str) -> Option<&'k str> {
    key.strip_prefix(cluster)?.strip_prefix('/').filter(|g| !g.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_the_cluster_key_is_no_group() {
        assert_eq!(group_key("prod", "billing"), "prod/billing");
        assert_eq!(group_of_key("prod", "prod/billing"), Some("billing"));
        assert_eq!(group_of_key("prod", "prod/a/b"), Some("a/b"));
        assert_eq!(group_of_key("prod", &cluster_series_key("prod")), None);
        assert_eq!(group_of_key("prod", "production/x"), None);
    }
}
