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

/// Java's `String.hashCode`: `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 code units, wrapping.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The `__consumer_offsets` partition whose leader coordinates `group`:
/// `Utils.abs(groupId.hashCode()) % partitions`, where `Utils.abs(Integer.MIN_VALUE)` is 0
/// (`GroupCoordinatorService.partitionFor`, KAFKA.md 5.4).
pub fn coordinator_partition(group: &str, partitions: u32) -> u32 {
    let h = java_string_hash(group);
    let abs = if h == i32::MIN { 0 } else { h.unsigned_abs() };
    abs % partitions.max(1)
}

/// The iteration order of a Java `HashMap<String, _>` holding `keys` (inserted in this order),
/// as indices into `keys`. The table has capacity 16, doubled while the number of entries ever
/// held (`high_water`, since a `HashMap` never shrinks) exceeds 0.75 of it; iteration walks the
/// buckets in index order (`(h ^ (h >>> 16)) & (capacity - 1)`), and within a bucket keeps
/// insertion order (a resize splits buckets preserving it). Buckets of 8 or more entries turn
/// into trees in a table of 64 or more, which this does not model: it needs dozens of colliding
/// member ids.
pub fn java_hash_map_order(keys: &[&str], high_water: usize) -> Vec<usize> {
    let mut capacity: usize = 16;
    while high_water.max(keys.len()) * 4 > capacity * 3 {
        capacity *= 2;
    }
    let bucket = |k: &str| {
        let h = java_string_hash(k) as u32;
        ((h ^ (h >> 16)) as usize) & (capacity - 1)
    };
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| (bucket(keys[i]), i));
    order
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
    fn java_string_hash_matches_java() {
        // Values from Java: "".hashCode() == 0, "a".hashCode() == 97, "hello".hashCode() == 99162322.
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE, the case Utils.abs maps to 0.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        assert_eq!(coordinator_partition("polygenelubricants", 50), 0);
    }

    #[test]
    fn java_hash_map_order_matches_kafka_md_2_3() {
        // KAFKA.md 2.3: "consumer1".."consumer4" iterate as consumer4, consumer3, consumer2,
        // consumer1 in a default HashMap.
        let keys = ["consumer1", "consumer2", "consumer3", "consumer4"];
        let order = java_hash_map_order(&keys, keys.len());
        let names: Vec<&str> = order.iter().map(|&i| keys[i]).collect();
        assert_eq!(names, ["consumer4", "consumer3", "consumer2", "consumer1"]);
    }

    #[test]
    fn coordinator_partition_is_abs_hash_mod_partitions() {
        // "billing".hashCode() == -109829509 in Java; abs % 50 == 9.
        assert_eq!(java_string_hash("billing"), -109_829_509);
        assert_eq!(coordinator_partition("billing", 50), 9);
    }
}
