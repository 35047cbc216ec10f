//! One decoder for the committed offsets (or share-partition start offsets)
//! of one group in an answer: OffsetFetch below v8 (one group per answer),
//! OffsetFetch v8+ (many groups) and DescribeShareGroupOffsets all carry a
//! group error code and, per topic, (partition, error code, offset).

use super::error::WireError;
use crate::commits::RawCommit;
use crate::error::BrokerError;

/// The group's entries, or its error when `group_error_code` is not 0.
pub(super) fn group_entries<'a, P>(
    group_error_code: i16,
    topics: impl IntoIterator<Item = (&'a str, P)>,
) -> Result<Vec<RawCommit>, WireError>
where
    P: IntoIterator<Item = (i32, i16, i64)>,
{
    if group_error_code != 0 {
        return Err(WireError::broker(group_error_code));
    }
    let mut entries = Vec::new();
    for (topic, partitions) in topics {
        for (partition, error_code, offset) in partitions {
            let offset = match error_code {
                0 => Ok(offset),
                code => Err(BrokerError::from(WireError::broker(code))),
            };
            entries.push((topic.to_owned(), partition, offset));
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_keep_their_own_errors_and_a_group_error_wins() {
        let topics = [("a", vec![(0, 0, 5), (1, 3, -1)]), ("b", vec![(0, 0, 7)])];
        let entries = group_entries(0, topics.clone()).unwrap();
        let offsets: Vec<(&str, i32, Option<i64>)> =
            entries.iter().map(|(t, p, o)| (t.as_str(), *p, o.as_ref().ok().copied())).collect();
        assert_eq!(offsets, vec![("a", 0, Some(5)), ("a", 1, None), ("b", 0, Some(7))]);
        assert!(matches!(group_entries(16, topics), Err(WireError::Broker { code: 16, .. })));
    }
}
