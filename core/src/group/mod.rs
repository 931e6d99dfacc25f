//! Consumer groups: the classic group protocol's client-side assignors, the group coordinator
//! that runs in every broker, and the records it keeps in `__consumer_offsets`.

pub mod assignor;
pub mod coordinator;
pub mod records;

use crate::ids::{TopicName, TopicPartition};
use serde::{Deserialize, Serialize};

/// The internal topic holding committed offsets and group metadata (KAFKA.md 5.4).
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// The protocol type consumers announce in JoinGroup.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// The `__consumer_offsets` partition whose leader coordinates `group`:
/// `Utils.abs(groupId.hashCode()) % partitions`, where `Utils.abs(Integer.MIN_VALUE)` is 0
/// (`GroupCoordinatorService.partitionFor`, KAFKA.md 5.4).
pub fn coordinator_partition(group: &str, partitions: u32) -> u32 {
    let h = assignor::java::string_hash_code(group);
    let abs = if h == i32::MIN { 0 } else { h.unsigned_abs() };
    abs % partitions.max(1)
}

/// The `__consumer_offsets` partition (as a topic partition) whose leader coordinates `group`.
pub fn coordinator_topic_partition(group: &str, partitions: u32) -> TopicPartition {
    TopicPartition::new(
        TopicName::from(OFFSETS_TOPIC),
        coordinator_partition(group, partitions),
    )
}

/// What a consumer puts in its JoinGroup protocol metadata (`ConsumerProtocolSubscription`):
/// the topics it subscribes to, the partitions it owns and, in the sticky assignors' user data,
/// the generation of that ownership.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// The subscribed topics.
    pub topics: Vec<TopicName>,
    /// The partitions the member owns (cooperative) or owned in its last generation (sticky).
    pub owned: Vec<TopicPartition>,
    /// The generation of `owned`, if known.
    pub generation: Option<i32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinator_partition_is_abs_hash_mod_partitions() {
        // "billing".hashCode() == -109829509 in Java; abs % 50 == 9.
        assert_eq!(coordinator_partition("billing", 50), 9);
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE, which Utils.abs maps to 0 where
        // Math.abs would stay negative.
        assert_eq!(
            assignor::java::string_hash_code("polygenelubricants"),
            i32::MIN
        );
        assert_eq!(coordinator_partition("polygenelubricants", 50), 0);
    }
}
