//! `RangeAssignor` (`"range"`, KAFKA.md 2.1), without its rack-aware pass.
//!
//! Source: `clients/src/main/java/org/apache/kafka/clients/consumer/RangeAssignor.java`,
//! `assignPartitions` and `TopicAssignmentState`. Each topic is split on its own: its subscribers
//! sorted by `MemberInfo` order, then contiguous ranges, one partition longer for the first
//! `partitions % subscribers` members.
//!
//! The order in which topics are processed is the iteration order of `partitionsPerTopic`, a
//! `HashMap`, so a member's list holds its topics in Java `HashMap` order, not sorted. (Kafka's
//! `RangeAssignorTest` compares the lists as sets; the order matters to anyone comparing lists.)

use super::{Assignment, Group, MemberSubscription, member_info_cmp};
use crate::ids::{TopicName, TopicPartition};
use crate::map::VecMap;

/// `RangeAssignor.assignPartitions` with no consumer racks.
pub(super) fn assign(group: &Group<'_>) -> Assignment {
    // `consumersPerTopic`: the subscribers of each topic, in subscription-map order.
    let mut consumers_per_topic: VecMap<&TopicName, Vec<&MemberSubscription>> = VecMap::new();
    for (_, sub) in group.subscriptions.iter() {
        for topic in &sub.topics {
            consumers_per_topic.entry(topic).or_default().push(*sub);
        }
    }
    let mut members = group.empty_assignment();
    for (topic, &count) in group.partitions_per_topic.iter() {
        let mut subscribers = consumers_per_topic.remove(topic).unwrap_or_default();
        // `Collections.sort(members)`, a stable sort by `MemberInfo.compareTo`.
        crate::sort::sort_by(&mut subscribers, |a, b| member_info_cmp(a, b));
        // The `LinkedHashMap` of consumers keeps the first of any repeated member id.
        let mut consumers: Vec<&str> = Vec::new();
        for s in subscribers {
            if !consumers.contains(&s.member_id.as_str()) {
                consumers.push(&s.member_id);
            }
        }
        if consumers.is_empty() {
            continue;
        }
        let n = consumers.len() as u32;
        let per_consumer = count / n;
        let mut with_extra = count % n;
        let mut next = 0u32;
        // `assignRanges`: each consumer takes the next `maxAssignable` unassigned partitions;
        // a consumer that took more than `numPartitionsPerConsumer` uses up one extra.
        for consumer in consumers {
            if next >= count {
                break;
            }
            let max_assignable = per_consumer + u32::from(with_extra > 0);
            let take = max_assignable.min(count - next);
            if take == 0 {
                continue;
            }
            if let Some(list) = members.get_mut(consumer) {
                list.extend((next..next + take).map(|p| TopicPartition::new(topic.clone(), p)));
            }
            next += take;
            if take > per_consumer {
                with_extra -= 1;
            }
        }
    }
    Assignment { members }
}
