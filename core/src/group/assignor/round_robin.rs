//! `RoundRobinAssignor` (`"roundrobin"`, KAFKA.md 2.2).
//!
//! Source: `clients/src/main/java/org/apache/kafka/clients/consumer/RoundRobinAssignor.java`,
//! `assign` and `allPartitionsSorted`, with `common/utils/CircularIterator.java`. All partitions
//! of all subscribed topics (topics in a `TreeSet`, so Java string order; partitions ascending)
//! are dealt to the members in `MemberInfo` order by one circular iterator, which skips members
//! not subscribed to the partition's topic and moves on after every assignment.

use super::java::string_compare;
use super::{Assignment, Group, MemberSubscription, member_info_cmp};
use crate::ids::{TopicName, TopicPartition};

/// `RoundRobinAssignor.assign`.
pub(super) fn assign(group: &Group<'_>) -> Assignment {
    let mut members = group.empty_assignment();
    let mut order: Vec<&MemberSubscription> = group.subscriptions.iter().map(|(_, s)| *s).collect();
    if order.is_empty() {
        // Kafka's `CircularIterator` throws on an empty group; a group has at least its leader.
        return Assignment { members };
    }
    crate::sort::sort_by(&mut order, |a, b| member_info_cmp(a, b));

    let mut topics: Vec<&TopicName> = order.iter().flat_map(|s| s.topics.iter()).collect();
    crate::sort::sort_by(&mut topics, |a, b| string_compare(a.as_str(), b.as_str()));
    topics.dedup();

    let mut next = 0usize;
    for topic in topics {
        let Some(&count) = group.partitions_per_topic.get(topic) else {
            continue;
        };
        for p in 0..count {
            // `while (!subscriptions.get(assigner.peek().memberId).topics().contains(topic))
            // assigner.next();` ends, because someone subscribes to every listed topic; the
            // bound only keeps a broken input from looping.
            let mut skipped = 0;
            while !order[next].topics.contains(topic) && skipped < order.len() {
                next = (next + 1) % order.len();
                skipped += 1;
            }
            if let Some(list) = members.get_mut(&order[next].member_id) {
                list.push(TopicPartition::new(topic.clone(), p));
            }
            next = (next + 1) % order.len();
        }
    }
    Assignment { members }
}
