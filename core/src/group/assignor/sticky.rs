//! `AbstractStickyAssignor`, the shared core of `StickyAssignor` (`"sticky"`) and
//! `CooperativeStickyAssignor` (`"cooperative-sticky"`), KAFKA.md 2.3 and 2.4, without racks.
//!
//! Source: `clients/src/main/java/org/apache/kafka/clients/consumer/internals/
//! AbstractStickyAssignor.java` (`assignPartitions`, `allSubscriptionsEqual`,
//! `ConstrainedAssignmentBuilder`, `GeneralAssignmentBuilder`, `PartitionMovements`) and
//! `clients/.../consumer/CooperativeStickyAssignor.java` (`assignPartitions`, `adjustAssignment`,
//! `computePartitionsTransferringOwnership`). The functions here keep Kafka's names and follow its
//! statements one by one; the comments say where the order of a Java `HashMap` decides the result.
//!
//! Both builders are implemented in full: the constrained one for identical subscriptions, and the
//! general one with its balancing loop (`performReassignments`), its partition-movement
//! bookkeeping that prefers undoing earlier moves, and its revert when balancing did not improve
//! the balance score.
//!
//! Where this module differs from Kafka, on purpose:
//! * An owned partition whose number is beyond its topic's partition count is ignored, like a
//!   partition of an unknown topic. Kafka checks only the topic and would keep a partition that
//!   does not exist (partition counts never shrink in Kafka, so a consumer cannot claim one).
//! * Where Kafka would throw (`NullPointerException`, `IllegalStateException`, `/ by zero`) on
//!   inputs it considers impossible, this module carries on without panicking: an empty group gets
//!   an empty assignment, and the general builder's "move back to the previous owner" check is
//!   skipped when that owner is a member whose assignment is fixed (Kafka reads its list from a map
//!   it has just removed it from, and fails).
//! * `maxGeneration` is computed per call. Kafka keeps it in a field of the assignor object that
//!   only grows, across every assignment that leader ever computed.

use super::java::{JavaHashMap, JavaHashSet, string_compare};
use super::{Assignment, Group, MemberSubscription};
use crate::ids::{TopicName, TopicPartition};
use crate::map::{VecMap, VecSet};
use std::cmp::Ordering;
use std::collections::VecDeque;

/// `AbstractStickyAssignor.DEFAULT_GENERATION`.
const DEFAULT_GENERATION: i32 = -1;

/// Which of `AbstractStickyAssignor`'s two builders ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StickyBuilder {
    /// `ConstrainedAssignmentBuilder`: every member subscribes to the same topics.
    Constrained,
    /// `GeneralAssignmentBuilder`: subscriptions differ.
    General,
}

/// What `AbstractStickyAssignor.assignPartitions` computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StickyOutcome {
    /// The assignment `StickyAssignor` returns (before any cooperative withholding).
    pub assignment: Assignment,
    /// The builder that ran.
    pub builder: StickyBuilder,
    /// The assignor's `partitionsTransferringOwnership` field after the call: the partitions the
    /// constrained builder gave to a member other than their previous owner, with that member; `None`
    /// after the general builder, which leaves the field `null`
    /// ([`partitions_transferring_ownership`] computes it the way the cooperative assignor does).
    pub partitions_transferring_ownership: Option<VecMap<TopicPartition, String>>,
    /// The highest generation among the members (`maxGeneration()`), -1 if none.
    pub max_generation: i32,
}

/// What `CooperativeStickyAssignor.assignPartitions` computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CooperativeOutcome {
    /// The assignment with every partition that changes owner withheld.
    pub assignment: Assignment,
    /// The withheld partitions, each with the member it goes to after the follow-up rebalance.
    pub withheld: VecMap<TopicPartition, String>,
    /// The sticky assignment before withholding.
    pub sticky: StickyOutcome,
}

/// `StickyAssignor.assignPartitions`, on subscriptions as the assignor decodes them: `owned` and
/// `generation` are `MemberData.partitions` and `MemberData.generation` (see
/// [`super::MemberSubscription`]; [`super::assign`] applies the wire encoding first).
pub fn sticky(
    partitions_per_topic: &VecMap<TopicName, u32>,
    members: &[MemberSubscription],
) -> StickyOutcome {
    abstract_sticky(&Group::new(partitions_per_topic, members))
}

/// `CooperativeStickyAssignor.assignPartitions`, on subscriptions as the assignor decodes them
/// (`owned` is `ownedPartitions`): the sticky assignment, minus every partition that changes owner
/// (`adjustAssignment`). Those stay unassigned until their old owner has revoked them and rejoined.
pub fn cooperative_sticky(
    partitions_per_topic: &VecMap<TopicName, u32>,
    members: &[MemberSubscription],
) -> CooperativeOutcome {
    let group = Group::new(partitions_per_topic, members);
    let outcome = abstract_sticky(&group);
    let withheld = match &outcome.partitions_transferring_ownership {
        Some(map) => map.clone(),
        None => transferring_from_owned(&group, &outcome.assignment),
    };
    let mut assignment = outcome.assignment.clone();
    for (tp, member) in &withheld {
        if let Some(list) = assignment.members.get_mut(member)
            && let Some(i) = list.iter().position(|x| x == tp)
        {
            list.remove(i);
        }
    }
    CooperativeOutcome {
        assignment,
        withheld,
        sticky: outcome,
    }
}

/// `CooperativeStickyAssignor.computePartitionsTransferringOwnership`: the partitions assigned to
/// a member that did not own them while some member that owned them lost them, each with its new
/// member. `members` as for [`cooperative_sticky`].
pub fn partitions_transferring_ownership(
    partitions_per_topic: &VecMap<TopicName, u32>,
    members: &[MemberSubscription],
    assignment: &Assignment,
) -> VecMap<TopicPartition, String> {
    transferring_from_owned(&Group::new(partitions_per_topic, members), assignment)
}

fn transferring_from_owned(
    group: &Group<'_>,
    assignment: &Assignment,
) -> VecMap<TopicPartition, String> {
    let mut added: VecMap<TopicPartition, String> = VecMap::new();
    let mut revoked: VecSet<TopicPartition> = VecSet::new();
    for (consumer, assigned) in &assignment.members {
        let owned: &[TopicPartition] = match group.subscriptions.get(consumer) {
            Some(sub) => &sub.owned,
            None => &[],
        };
        for tp in assigned {
            if !owned.contains(tp) {
                added.insert(tp.clone(), consumer.clone());
            }
        }
        for tp in owned {
            if !assigned.contains(tp) {
                revoked.insert(tp.clone());
            }
        }
    }
    added.retain(|tp, _| revoked.contains(tp));
    added
}

/// `MemberData` as the assignor reads it: the owned partitions (minus those beyond their topic's
/// partition count, see the module documentation) and the generation.
fn member_data(group: &Group<'_>, sub: &MemberSubscription) -> (Vec<TopicPartition>, Option<i32>) {
    let partitions = sub
        .owned
        .iter()
        .filter(|tp| {
            group
                .partitions_per_topic
                .get(&tp.topic)
                .is_none_or(|&n| tp.partition < n)
        })
        .cloned()
        .collect();
    (partitions, sub.generation.filter(|g| *g >= 0))
}

/// `subscriptions.get(consumer).generationId().orElse(DEFAULT_GENERATION)`.
fn subscription_generation(group: &Group<'_>, consumer: &str) -> i32 {
    group
        .subscriptions
        .get(&consumer.to_string())
        .and_then(|s| s.generation)
        .filter(|g| *g >= 0)
        .unwrap_or(DEFAULT_GENERATION)
}

/// Removes the first occurrence of `tp`, as `List.remove(Object)`.
fn remove_first(list: &mut Vec<TopicPartition>, tp: &TopicPartition) -> bool {
    match list.iter().position(|x| x == tp) {
        Some(i) => {
            list.remove(i);
            true
        }
        None => false,
    }
}

/// `AbstractStickyAssignor.assignPartitions`.
fn abstract_sticky(group: &Group<'_>) -> StickyOutcome {
    let mut consumer_to_owned: JavaHashMap<String, Vec<TopicPartition>> = JavaHashMap::new();
    let mut multiple_owners: VecSet<TopicPartition> = VecSet::new();
    let (all_equal, max_generation) =
        all_subscriptions_equal(group, &mut consumer_to_owned, &mut multiple_owners);
    if group.subscriptions.is_empty() {
        // Kafka divides by the number of members; a group has at least its leader.
        return StickyOutcome {
            assignment: Assignment::default(),
            builder: StickyBuilder::Constrained,
            partitions_transferring_ownership: Some(VecMap::new()),
            max_generation,
        };
    }
    if all_equal {
        let (members, transferring) = constrained(group, &consumer_to_owned, &multiple_owners);
        StickyOutcome {
            assignment: Assignment { members },
            builder: StickyBuilder::Constrained,
            partitions_transferring_ownership: Some(transferring),
            max_generation,
        }
    } else {
        let current: VecMap<String, Vec<TopicPartition>> = consumer_to_owned
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let members = General::new(group, current, max_generation).build();
        StickyOutcome {
            assignment: Assignment { members },
            builder: StickyBuilder::General,
            partitions_transferring_ownership: None,
            max_generation,
        }
    }
}

/// `allSubscriptionsEqual`: whether every member subscribes to the same topics, and each member's
/// valid owned partitions after settling conflicting claims. Returns `maxGeneration` too.
///
/// Members are visited in subscription-map (`HashMap`) order, which decides conflicts among three
/// or more claimants: a partition claimed twice in one generation is dropped from both claimants
/// and remembered in `multiple_owners`, yet a later claimant with a higher generation still takes
/// it. The subscription check compares each member with the first member that has any topics
/// (`subscribedTopics.isEmpty()` re-initializes the set while it is empty), so a member with no
/// topics followed by others does not count as a difference.
fn all_subscriptions_equal(
    group: &Group<'_>,
    consumer_to_owned: &mut JavaHashMap<String, Vec<TopicPartition>>,
    multiple_owners: &mut VecSet<TopicPartition>,
) -> (bool, i32) {
    let mut all_equal = true;
    let mut subscribed_topics: VecSet<&TopicName> = VecSet::new();
    let mut previous_owner: VecMap<TopicPartition, String> = VecMap::new();
    let mut max_generation = DEFAULT_GENERATION;
    for (consumer, sub) in group.subscriptions.iter() {
        if subscribed_topics.is_empty() {
            subscribed_topics.extend(sub.topics.iter());
        } else if all_equal
            && !(sub.topics.len() == subscribed_topics.len()
                && sub.topics.iter().all(|t| subscribed_topics.contains(t)))
        {
            all_equal = false;
        }
        let (partitions, generation) = member_data(group, sub);
        let member_generation = generation.unwrap_or(DEFAULT_GENERATION);
        max_generation = max_generation.max(member_generation);
        consumer_to_owned.insert(consumer.clone(), Vec::new());
        for tp in partitions {
            if !group.partitions_per_topic.contains_key(&tp.topic) {
                continue;
            }
            match previous_owner.get(&tp).cloned() {
                None => {
                    if let Some(list) = consumer_to_owned.get_mut(consumer) {
                        list.push(tp.clone());
                    }
                    previous_owner.insert(tp, consumer.clone());
                }
                Some(other) => {
                    let other_generation = subscription_generation(group, &other);
                    match member_generation.cmp(&other_generation) {
                        Ordering::Equal => {
                            // Two claims in one generation: neither keeps it.
                            multiple_owners.insert(tp.clone());
                            if let Some(list) = consumer_to_owned.get_mut(&other) {
                                remove_first(list, &tp);
                            }
                            previous_owner.insert(tp, consumer.clone());
                        }
                        Ordering::Greater => {
                            if let Some(list) = consumer_to_owned.get_mut(consumer) {
                                list.push(tp.clone());
                            }
                            if let Some(list) = consumer_to_owned.get_mut(&other) {
                                remove_first(list, &tp);
                            }
                            previous_owner.insert(tp, consumer.clone());
                        }
                        Ordering::Less => {}
                    }
                }
            }
        }
    }
    (all_equal, max_generation)
}

/// `ConstrainedAssignmentBuilder.build`, without racks. Returns the assignment and
/// `partitionsTransferringOwnership`.
fn constrained(
    group: &Group<'_>,
    current: &JavaHashMap<String, Vec<TopicPartition>>,
    multiple_owners: &VecSet<TopicPartition>,
) -> (
    VecMap<String, Vec<TopicPartition>>,
    VecMap<TopicPartition, String>,
) {
    let members = current.len();
    let total: usize = group
        .partitions_per_topic
        .iter()
        .map(|(_, &n)| n as usize)
        .sum();
    let min_quota = total / members;
    let max_quota = total.div_ceil(members);
    let expected_over = total % members;
    let mut current_over = 0usize;

    let mut assignment: VecMap<String, Vec<TopicPartition>> =
        current.keys().map(|c| (c.clone(), Vec::new())).collect();
    let mut assigned_partitions: Vec<TopicPartition> = Vec::new();
    let mut maybe_revoked: VecMap<TopicPartition, String> = VecMap::new();
    let mut under_min: Vec<String> = Vec::new();
    let mut exactly_min: VecDeque<String> = VecDeque::new();
    let mut transferring: VecMap<TopicPartition, String> = VecMap::new();

    // assignOwnedPartitions: members in `consumerToOwnedPartitions` (`HashMap`) order, which
    // decides who gets to keep `maxQuota` partitions (KAFKA.md 2.3).
    for (consumer, owned_list) in current.iter() {
        let mut owned = owned_list.clone();
        crate::sort::sort_by(&mut owned, |a, b| {
            a.partition
                .cmp(&b.partition)
                .then_with(|| string_compare(a.topic.as_str(), b.topic.as_str()))
        });
        for doubly_claimed in multiple_owners {
            remove_first(&mut owned, doubly_claimed);
        }
        let Some(consumer_assignment) = assignment.get_mut(consumer) else {
            continue;
        };
        if owned.len() < min_quota {
            consumer_assignment.extend(owned.iter().cloned());
            assigned_partitions.extend(owned);
            under_min.push(consumer.clone());
        } else if owned.len() >= max_quota && current_over < expected_over {
            current_over += 1;
            if current_over == expected_over {
                exactly_min.clear();
            }
            consumer_assignment.extend(owned[..max_quota].iter().cloned());
            assigned_partitions.extend(owned[..max_quota].iter().cloned());
            for tp in &owned[max_quota..] {
                maybe_revoked.insert(tp.clone(), consumer.clone());
            }
        } else {
            consumer_assignment.extend(owned[..min_quota].iter().cloned());
            assigned_partitions.extend(owned[..min_quota].iter().cloned());
            for tp in &owned[min_quota..] {
                maybe_revoked.insert(tp.clone(), consumer.clone());
            }
            if current_over < expected_over {
                exactly_min.push_back(consumer.clone());
            }
        }
    }

    let unassigned = constrained_unassigned(group, assigned_partitions);
    crate::sort::sort_by(&mut under_min, |a, b| string_compare(a, b));
    crate::sort::sort_by(exactly_min.make_contiguous(), |a, b| string_compare(a, b));

    // assignRoundRobin. `cursor` and `last_returned` are the state of the Java iterator over
    // `unfilledMembersWithUnderMinQuotaPartitions`, which survives from one partition to the next.
    let mut cursor = 0usize;
    let mut last_returned: Option<usize> = None;
    for tp in unassigned {
        let consumer = if cursor < under_min.len() {
            last_returned = Some(cursor);
            cursor += 1;
            under_min[cursor - 1].clone()
        } else if under_min.is_empty() && exactly_min.is_empty() {
            // Kafka throws IllegalStateException("No more unfilled consumers to be assigned."),
            // which its quotas make unreachable.
            break;
        } else if under_min.is_empty() {
            match exactly_min.pop_front() {
                Some(c) => c,
                None => break,
            }
        } else {
            last_returned = Some(0);
            cursor = 1;
            under_min[0].clone()
        };

        // assignNewPartition
        let Some(list) = assignment.get_mut(&consumer) else {
            continue;
        };
        list.push(tp.clone());
        let count = list.len();
        if maybe_revoked.get(&tp).is_some_and(|c| *c != consumer) || multiple_owners.contains(&tp) {
            transferring.insert(tp, consumer.clone());
        }

        // A member reaching maxQuota only bumps Kafka's counter of such members, which it reads
        // for a log line; reaching minQuota moves the member to the "exactly min" list.
        if count == min_quota {
            // `unfilledConsumerIter.remove()` removes the member the iterator returned last.
            if let Some(i) = last_returned.take() {
                under_min.remove(i);
                cursor = i;
            }
            exactly_min.push_back(consumer);
        }
    }
    (assignment, transferring)
}

/// `ConstrainedAssignmentBuilder.getUnassignedPartitions`: all partitions, topics in Java string
/// order and partitions ascending, minus the assigned ones (two pointers over both sorted lists).
fn constrained_unassigned(
    group: &Group<'_>,
    mut assigned: Vec<TopicPartition>,
) -> Vec<TopicPartition> {
    let mut topics: Vec<(&TopicName, u32)> = group
        .partitions_per_topic
        .iter()
        .map(|(t, &n)| (t, n))
        .collect();
    crate::sort::sort_by(&mut topics, |a, b| {
        string_compare(a.0.as_str(), b.0.as_str())
    });
    crate::sort::sort_by(&mut assigned, |a, b| {
        string_compare(a.topic.as_str(), b.topic.as_str()).then(a.partition.cmp(&b.partition))
    });
    two_pointer_difference(
        topics
            .iter()
            .flat_map(|(t, n)| (0..*n).map(|p| TopicPartition::new((*t).clone(), p))),
        &assigned,
    )
}

/// The two-pointer difference both builders' `getUnassignedPartitions` compute: walks `all` and
/// skips each element equal to the next one of `sorted_assigned`.
fn two_pointer_difference(
    all: impl Iterator<Item = TopicPartition>,
    sorted_assigned: &[TopicPartition],
) -> Vec<TopicPartition> {
    let mut out = Vec::new();
    let mut rest = sorted_assigned.iter();
    let mut next = rest.next();
    for tp in all {
        match next {
            Some(n) if *n == tp => next = rest.next(),
            _ => out.push(tp),
        }
    }
    out
}

/// A member id ordered as Java's `String.compareTo` orders it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct JavaString(String);

impl PartialOrd for JavaString {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for JavaString {
    fn cmp(&self, other: &Self) -> Ordering {
        string_compare(&self.0, &other.0)
    }
}

/// A previous owner of a partition from an older generation (`ConsumerGenerationPair`).
#[derive(Clone, Debug)]
struct GenerationOwner {
    consumer: String,
    generation: i32,
}

/// `PartitionMovements`: where partitions moved during this rebalance, so that a move can undo an
/// earlier one instead of adding a second hop.
#[derive(Default)]
struct PartitionMovements {
    /// topic -> (source, destination) -> partitions; the innermost set is a Java `HashSet`
    /// because `getTheActualPartitionToBeMoved` takes its first element.
    by_topic: VecMap<TopicName, VecMap<(String, String), JavaHashSet<TopicPartition>>>,
    /// partition -> (source, destination) of its net move so far.
    movements: VecMap<TopicPartition, (String, String)>,
}

impl PartitionMovements {
    /// `removeMovementRecordOfPartition`.
    fn remove_record(&mut self, tp: &TopicPartition) -> Option<(String, String)> {
        let pair = self.movements.remove(tp)?;
        if let Some(pairs) = self.by_topic.get_mut(&tp.topic) {
            if let Some(set) = pairs.get_mut(&pair) {
                set.remove(tp);
                if set.is_empty() {
                    pairs.remove(&pair);
                }
            }
            if pairs.is_empty() {
                self.by_topic.remove(&tp.topic);
            }
        }
        Some(pair)
    }

    /// `addPartitionMovementRecord`.
    fn add_record(&mut self, tp: TopicPartition, pair: (String, String)) {
        self.movements.insert(tp.clone(), pair.clone());
        self.by_topic
            .entry(tp.topic.clone())
            .or_default()
            .entry(pair)
            .or_default()
            .insert(tp);
    }

    /// `movePartition`: records a move, merging it with an earlier move of the same partition
    /// (and forgetting both when it goes back where it started).
    fn move_partition(&mut self, tp: &TopicPartition, old: &str, new: &str) {
        if self.movements.contains_key(tp) {
            if let Some((src, _dst)) = self.remove_record(tp)
                && src != new
            {
                self.add_record(tp.clone(), (src, new.to_string()));
            }
        } else {
            self.add_record(tp.clone(), (old.to_string(), new.to_string()));
        }
    }

    /// `getTheActualPartitionToBeMoved`: if a partition of the same topic already moved the
    /// other way between the two members, move that one back instead.
    fn actual_partition_to_move(
        &self,
        tp: &TopicPartition,
        old: &str,
        new: &str,
    ) -> TopicPartition {
        let Some(pairs) = self.by_topic.get(&tp.topic) else {
            return tp.clone();
        };
        let old = match self.movements.get(tp) {
            Some((src, _)) => src.as_str(),
            None => old,
        };
        match pairs.get(&(new.to_string(), old.to_string())) {
            // `iterator().next()` of a HashSet: the first element in Java's order.
            Some(set) => set.iter().next().cloned().unwrap_or_else(|| tp.clone()),
            None => tp.clone(),
        }
    }
}

/// `GeneralAssignmentBuilder`, without racks.
struct General<'g, 'a> {
    group: &'g Group<'a>,
    /// topic -> partition count, for lookups.
    counts: VecMap<TopicName, u32>,
    total: usize,
    /// `topic2AllPotentialConsumers`.
    topic_consumers: VecMap<TopicName, Vec<String>>,
    /// `consumer2AllPotentialTopics`.
    consumer_topics: VecMap<String, Vec<TopicName>>,
    /// `currentAssignment`.
    current: VecMap<String, Vec<TopicPartition>>,
    /// `currentPartitionConsumer`.
    partition_consumer: VecMap<TopicPartition, String>,
    /// `sortedAllPartitions`.
    sorted_all_partitions: Vec<TopicPartition>,
    /// `sortedCurrentSubscriptions`: members by (assigned count, member id).
    sorted: VecSet<(usize, JavaString)>,
    revocation_required: bool,
    max_generation: i32,
    movements: PartitionMovements,
}

impl<'g, 'a> General<'g, 'a> {
    /// The constructor: potential consumers and topics, the partition owners, and all partitions
    /// with topics by (number of potential consumers, name) (`TopicComparator`).
    fn new(
        group: &'g Group<'a>,
        mut current: VecMap<String, Vec<TopicPartition>>,
        max_generation: i32,
    ) -> Self {
        let counts: VecMap<TopicName, u32> = group
            .partitions_per_topic
            .iter()
            .map(|(t, &n)| (t.clone(), n))
            .collect();
        let total = counts.values().map(|&n| n as usize).sum();
        let mut topic_consumers: VecMap<TopicName, Vec<String>> =
            counts.keys().map(|t| (t.clone(), Vec::new())).collect();
        let mut consumer_topics: VecMap<String, Vec<TopicName>> = VecMap::new();
        for (consumer, sub) in group.subscriptions.iter() {
            let mut topics = Vec::new();
            for topic in &sub.topics {
                if let Some(list) = topic_consumers.get_mut(topic) {
                    topics.push(topic.clone());
                    list.push(consumer.clone());
                }
            }
            consumer_topics.insert(consumer.clone(), topics);
            current.entry(consumer.clone()).or_default();
        }
        let mut partition_consumer = VecMap::new();
        for (consumer, tps) in &current {
            for tp in tps {
                partition_consumer.insert(tp.clone(), consumer.clone());
            }
        }
        let mut sorted_topics: Vec<&TopicName> = topic_consumers.keys().collect();
        crate::sort::sort_by(&mut sorted_topics, |a, b| {
            topic_consumers[*a]
                .len()
                .cmp(&topic_consumers[*b].len())
                .then_with(|| string_compare(a.as_str(), b.as_str()))
        });
        let sorted_all_partitions = sorted_topics
            .iter()
            .flat_map(|t| (0..counts[*t]).map(|p| TopicPartition::new((*t).clone(), p)))
            .collect();
        General {
            group,
            counts,
            total,
            topic_consumers,
            consumer_topics,
            current,
            partition_consumer,
            sorted_all_partitions,
            sorted: VecSet::new(),
            revocation_required: false,
            max_generation,
            movements: PartitionMovements::default(),
        }
    }

    /// The key of `consumer` in `sortedCurrentSubscriptions` (`SubscriptionComparator`).
    fn key(&self, consumer: &str) -> (usize, JavaString) {
        let size = self.current.get(consumer).map_or(0, Vec::len);
        (size, JavaString(consumer.to_string()))
    }

    fn size(&self, consumer: &str) -> usize {
        self.current.get(consumer).map_or(0, Vec::len)
    }

    fn subscribes(&self, consumer: &str, topic: &TopicName) -> bool {
        self.consumer_topics
            .get(consumer)
            .is_some_and(|ts| ts.contains(topic))
    }

    /// `build`.
    fn build(mut self) -> VecMap<String, Vec<TopicPartition>> {
        let prev = self.prepopulate_current_assignments();
        let assigned = self.assign_owned_partitions();
        let unassigned = self.unassigned_partitions(assigned);
        let keys: Vec<(usize, JavaString)> = self.current.keys().map(|c| self.key(c)).collect();
        self.sorted.extend(keys);
        self.balance(&prev, unassigned);
        self.current
    }

    /// `prepopulateCurrentAssignments`: the owners from older generations, keeping for each
    /// partition the highest generation below `maxGeneration` (the first claimant wins a tie, in
    /// subscription-map order).
    fn prepopulate_current_assignments(&self) -> VecMap<TopicPartition, GenerationOwner> {
        let mut prev: VecMap<TopicPartition, GenerationOwner> = VecMap::new();
        for (consumer, sub) in self.group.subscriptions.iter() {
            let (partitions, generation) = member_data(self.group, sub);
            let generation = match generation {
                Some(g) if g < self.max_generation => g,
                None if self.max_generation > DEFAULT_GENERATION => DEFAULT_GENERATION,
                _ => continue,
            };
            for tp in partitions {
                match prev.get(&tp) {
                    Some(owner) if generation <= owner.generation => {}
                    _ => {
                        prev.insert(
                            tp,
                            GenerationOwner {
                                consumer: consumer.clone(),
                                generation,
                            },
                        );
                    }
                }
            }
        }
        prev
    }

    /// `assignOwnedPartitions`: keeps each member's owned partitions of topics it still
    /// subscribes to. Dropping one because the member unsubscribed sets `revocationRequired`.
    fn assign_owned_partitions(&mut self) -> Vec<TopicPartition> {
        let mut assigned = Vec::new();
        for (consumer, tps) in self.current.iter_mut() {
            let Some(sub) = self.group.subscriptions.get(consumer) else {
                for tp in tps.iter() {
                    self.partition_consumer.remove(tp);
                }
                tps.clear();
                continue;
            };
            let mut kept = Vec::with_capacity(tps.len());
            for tp in tps.drain(..) {
                if !self.topic_consumers.contains_key(&tp.topic) {
                    self.partition_consumer.remove(&tp);
                } else if !sub.topics.contains(&tp.topic) {
                    // Kafka leaves `currentPartitionConsumer` pointing at this member.
                    self.revocation_required = true;
                } else {
                    assigned.push(tp.clone());
                    kept.push(tp);
                }
            }
            *tps = kept;
        }
        assigned
    }

    /// `getUnassignedPartitions`, by `PartitionComparator`.
    fn unassigned_partitions(&self, mut assigned: Vec<TopicPartition>) -> Vec<TopicPartition> {
        if assigned.is_empty() {
            return self.sorted_all_partitions.clone();
        }
        let consumers = |t: &TopicName| self.topic_consumers.get(t).map_or(0, Vec::len);
        crate::sort::sort_by(&mut assigned, |a, b| {
            consumers(&a.topic)
                .cmp(&consumers(&b.topic))
                .then_with(|| string_compare(a.topic.as_str(), b.topic.as_str()))
                .then(a.partition.cmp(&b.partition))
        });
        two_pointer_difference(self.sorted_all_partitions.iter().cloned(), &assigned)
    }

    /// `getMaxAssignmentSize`.
    fn max_assignment_size(&self, topics: &[TopicName]) -> usize {
        if topics.len() == self.counts.len() {
            self.total
        } else {
            topics
                .iter()
                .map(|t| self.counts.get(t).map_or(0, |&n| n as usize))
                .sum()
        }
    }

    /// `isBalanced`: counts differ by at most one, or no member short of its maximum could take a
    /// partition from a member with at least two more.
    fn is_balanced(&self) -> bool {
        let (Some(first), Some(last)) = (self.sorted.first(), self.sorted.last()) else {
            return true;
        };
        let min = self.size(&first.1.0);
        let max = self.size(&last.1.0);
        if min + 1 >= max {
            return true;
        }
        let mut owner: VecMap<&TopicPartition, &str> = VecMap::new();
        for (consumer, tps) in &self.current {
            for tp in tps {
                owner.insert(tp, consumer);
            }
        }
        for (_, consumer) in &self.sorted {
            let consumer = consumer.0.as_str();
            let count = self.size(consumer);
            let topics: &[TopicName] = self
                .consumer_topics
                .get(consumer)
                .map_or(&[], Vec::as_slice);
            if count == self.max_assignment_size(topics) {
                continue;
            }
            for topic in topics {
                for p in 0..self.counts.get(topic).copied().unwrap_or(0) {
                    let tp = TopicPartition::new(topic.clone(), p);
                    // Every partition is in exactly one list, so "not in this member's list" is
                    // "owned by another member".
                    if let Some(&other) = owner.get(&tp)
                        && other != consumer
                        && count + 1 < self.size(other)
                    {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// `getBalanceScore`: the sum over all pairs of members of the difference of their counts.
    fn balance_score(assignment: &VecMap<String, Vec<TopicPartition>>) -> usize {
        let sizes: Vec<usize> = assignment.values().map(Vec::len).collect();
        let mut score = 0;
        for (i, a) in sizes.iter().enumerate() {
            for b in &sizes[i + 1..] {
                score += a.abs_diff(*b);
            }
        }
        score
    }

    /// `maybeAssignPartition` without racks: to the first member in `sortedCurrentSubscriptions`
    /// order that subscribes to the topic.
    fn maybe_assign_partition(&mut self, tp: &TopicPartition) {
        let target = self
            .sorted
            .iter()
            .find(|(_, c)| self.subscribes(&c.0, &tp.topic))
            .cloned();
        if let Some(key) = target {
            self.sorted.remove(&key);
            let consumer = key.1.0;
            if let Some(list) = self.current.get_mut(&consumer) {
                list.push(tp.clone());
            }
            self.partition_consumer.insert(tp.clone(), consumer.clone());
            let key = self.key(&consumer);
            self.sorted.insert(key);
        }
    }

    fn can_topic_participate(&self, topic: &TopicName) -> bool {
        self.topic_consumers
            .get(topic)
            .is_some_and(|c| c.len() >= 2)
    }

    /// `canConsumerParticipateInReassignment`.
    fn can_consumer_participate(&self, consumer: &str) -> bool {
        let tps: &[TopicPartition] = self.current.get(consumer).map_or(&[], Vec::as_slice);
        let topics: &[TopicName] = self
            .consumer_topics
            .get(consumer)
            .map_or(&[], Vec::as_slice);
        if tps.len() < self.max_assignment_size(topics) {
            return true;
        }
        tps.iter().any(|tp| self.can_topic_participate(&tp.topic))
    }

    /// `balance` without racks.
    fn balance(
        &mut self,
        prev: &VecMap<TopicPartition, GenerationOwner>,
        mut unassigned: Vec<TopicPartition>,
    ) {
        let initializing = self.sorted.last().is_none_or(|(_, c)| self.size(&c.0) == 0);

        // maybeAssign(unassignedPartitions, null, false)
        for tp in &unassigned {
            if self
                .topic_consumers
                .get(&tp.topic)
                .is_none_or(Vec::is_empty)
            {
                continue;
            }
            self.maybe_assign_partition(tp);
        }

        // Narrow the reassignment down to topics with two or more potential consumers...
        let fixed_topics: VecSet<&TopicName> = self
            .topic_consumers
            .iter()
            .filter(|(_, c)| c.len() < 2)
            .map(|(t, _)| t)
            .collect();
        let movable = |tp: &TopicPartition| !fixed_topics.contains(&tp.topic);
        let sorted_all: Vec<TopicPartition> = self
            .sorted_all_partitions
            .iter()
            .filter(|tp| movable(tp))
            .cloned()
            .collect();
        unassigned.retain(|tp| movable(tp));
        self.sorted_all_partitions = sorted_all;

        // ...and to members that can give or take partitions.
        let mut fixed_assignments: VecMap<String, Vec<TopicPartition>> = VecMap::new();
        let consumers: Vec<String> = self.consumer_topics.keys().cloned().collect();
        for consumer in consumers {
            if !self.can_consumer_participate(&consumer) {
                let key = self.key(&consumer);
                self.sorted.remove(&key);
                if let Some(tps) = self.current.remove(&consumer) {
                    fixed_assignments.insert(consumer, tps);
                }
            }
        }

        let pre_balance = self.current.clone();
        let pre_balance_owners = self.partition_consumer.clone();

        // First try to balance by moving only the partitions that were just assigned.
        if !self.revocation_required {
            self.perform_reassignments(&unassigned, prev);
        }
        let all = self.sorted_all_partitions.clone();
        let performed = self.perform_reassignments(&all, prev);

        // Keep the moves only if they improved the balance score (unless starting from nothing).
        if !initializing
            && performed
            && Self::balance_score(&self.current) >= Self::balance_score(&pre_balance)
        {
            self.current = pre_balance;
            self.partition_consumer = pre_balance_owners;
        }

        for (consumer, tps) in fixed_assignments {
            self.current.insert(consumer.clone(), tps);
            let key = self.key(&consumer);
            self.sorted.insert(key);
        }
    }

    /// `performReassignments`: sweeps the partitions again and again while a sweep moved
    /// something, moving a partition back to its owner from an older generation when that owner
    /// has at least two fewer, or else to the least loaded subscriber when some subscriber has at
    /// least two fewer. Stops a sweep as soon as the assignment is balanced.
    fn perform_reassignments(
        &mut self,
        reassignable: &[TopicPartition],
        prev: &VecMap<TopicPartition, GenerationOwner>,
    ) -> bool {
        let mut performed = false;
        loop {
            let mut modified = false;
            for tp in reassignable {
                if self.is_balanced() {
                    break;
                }
                let Some(consumer) = self.partition_consumer.get(tp).cloned() else {
                    // Kafka logs "Expected partition to be assigned" and then fails on a null
                    // member; every movable partition has an owner here.
                    continue;
                };
                let size = self.size(&consumer);
                if let Some(owner) = prev.get(tp)
                    && self.current.contains_key(&owner.consumer)
                    && size > self.size(&owner.consumer) + 1
                {
                    let to = owner.consumer.clone();
                    self.reassign_partition_to(tp, &to);
                    performed = true;
                    modified = true;
                    continue;
                }
                let better = self.topic_consumers.get(&tp.topic).is_some_and(|others| {
                    others
                        .iter()
                        .any(|o| self.current.contains_key(o) && size > self.size(o) + 1)
                });
                if better {
                    self.reassign_partition(tp);
                    performed = true;
                    modified = true;
                }
            }
            if !modified {
                break;
            }
        }
        performed
    }

    /// `reassignPartition(partition)`: to the least loaded member subscribed to its topic.
    fn reassign_partition(&mut self, tp: &TopicPartition) {
        let target = self
            .sorted
            .iter()
            .find(|(_, c)| self.subscribes(&c.0, &tp.topic))
            .map(|(_, c)| c.0.clone());
        if let Some(to) = target {
            self.reassign_partition_to(tp, &to);
        }
    }

    /// `reassignPartition(partition, newConsumer)`.
    fn reassign_partition_to(&mut self, tp: &TopicPartition, new: &str) {
        let Some(consumer) = self.partition_consumer.get(tp).cloned() else {
            return;
        };
        let to_move = self.movements.actual_partition_to_move(tp, &consumer, new);
        self.process_partition_movement(&to_move, new);
    }

    /// `processPartitionMovement`.
    fn process_partition_movement(&mut self, tp: &TopicPartition, new: &str) {
        let Some(old) = self.partition_consumer.get(tp).cloned() else {
            return;
        };
        let old_key = self.key(&old);
        let new_key = self.key(new);
        self.sorted.remove(&old_key);
        self.sorted.remove(&new_key);
        self.movements.move_partition(tp, &old, new);
        if let Some(list) = self.current.get_mut(&old) {
            remove_first(list, tp);
        }
        if let Some(list) = self.current.get_mut(new) {
            list.push(tp.clone());
        }
        self.partition_consumer.insert(tp.clone(), new.to_string());
        let new_key = self.key(new);
        let old_key = self.key(&old);
        self.sorted.insert(new_key);
        self.sorted.insert(old_key);
    }
}
