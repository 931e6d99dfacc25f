//! Kafka's four classic client-side assignors, bit-exact: `range`, `roundrobin`, `sticky` and
//! `cooperative-sticky` (KAFKA.md 2).
//!
//! In the classic group protocol the group leader, a consumer, runs the assignor named by the
//! group's protocol on the subscriptions the JoinGroup response hands it, and sends the result back
//! in SyncGroup. [`assign`] is that computation: the same partitions, for the same members, in the
//! same order in each member's list as Kafka's Java client (the apache/kafka sources of late 2024,
//! `clients/src/main/java/org/apache/kafka/clients/consumer/`). Where Kafka's result depends on the
//! iteration order of a `java.util.HashMap`, the order is replayed by [`java::JavaHashMap`].
//!
//! What it deliberately leaves out:
//! * rack awareness (`client.rack`, KIP-881): the model has no racks, so every assignor takes the
//!   path Kafka takes when no consumer announces a rack (no `RackInfo` matching);
//! * the group coordinator's choice of the assignor and of the rebalance protocol (KAFKA.md 2.5),
//!   which belong to the coordinator and the consumer; [`AssignorName::supported_protocols`] gives
//!   what that choice needs.
//!
//! The rest of Kafka's behaviour is kept, including its quirks; the module of each assignor says
//! which, and where the model could not follow Kafka (it never panics where Kafka would throw).

pub mod java;
mod range;
mod round_robin;
mod sticky;

pub use sticky::{
    CooperativeOutcome, StickyBuilder, StickyOutcome, cooperative_sticky,
    partitions_transferring_ownership, sticky,
};

use crate::ids::{TopicName, TopicPartition};
use crate::map::VecMap;
use java::{JavaHashMap, JavaHashSet, string_compare};
use std::cmp::Ordering;

/// The assignor names Kafka's consumers announce in JoinGroup ("range", "roundrobin", "sticky",
/// "cooperative-sticky").
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum AssignorName {
    /// `RangeAssignor` (`"range"`).
    #[serde(rename = "range")]
    Range,
    /// `RoundRobinAssignor` (`"roundrobin"`).
    #[serde(rename = "roundrobin")]
    RoundRobin,
    /// `StickyAssignor` (`"sticky"`).
    #[serde(rename = "sticky")]
    Sticky,
    /// `CooperativeStickyAssignor` (`"cooperative-sticky"`).
    #[serde(rename = "cooperative-sticky")]
    CooperativeSticky,
}

impl AssignorName {
    /// The four assignors, in the order of this enum.
    pub const ALL: [AssignorName; 4] = [
        AssignorName::Range,
        AssignorName::RoundRobin,
        AssignorName::Sticky,
        AssignorName::CooperativeSticky,
    ];

    /// The name the consumer announces in JoinGroup (each assignor's `name()`).
    pub fn protocol_name(self) -> &'static str {
        match self {
            AssignorName::Range => "range",
            AssignorName::RoundRobin => "roundrobin",
            AssignorName::Sticky => "sticky",
            AssignorName::CooperativeSticky => "cooperative-sticky",
        }
    }

    /// The assignor with this JoinGroup name, if it is one of the four.
    pub fn from_protocol_name(s: &str) -> Option<AssignorName> {
        AssignorName::ALL
            .into_iter()
            .find(|a| a.protocol_name() == s)
    }

    /// `supportedProtocols()`: every assignor supports EAGER (the interface's default); only
    /// `CooperativeStickyAssignor` overrides it to `[COOPERATIVE, EAGER]`. This returns them in
    /// ascending order.
    pub fn supported_protocols(self) -> &'static [RebalanceProtocol] {
        match self {
            AssignorName::CooperativeSticky => {
                &[RebalanceProtocol::Eager, RebalanceProtocol::Cooperative]
            }
            _ => &[RebalanceProtocol::Eager],
        }
    }
}

/// `ConsumerPartitionAssignor.RebalanceProtocol`. The order is Kafka's: COOPERATIVE is newer and
/// wins when every configured assignor supports it (KAFKA.md 2.5).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum RebalanceProtocol {
    /// Revoke everything before rejoining (`onJoinPrepare` revokes all owned partitions).
    #[serde(rename = "eager")]
    Eager,
    /// Keep owned partitions while rebalancing; revoke only what moves (KIP-429).
    #[serde(rename = "cooperative")]
    Cooperative,
}

/// One member's subscription as the group leader sees it in the JoinGroup response.
///
/// `owned` and `generation` stand for what the member's consumer encodes about its previous
/// assignment, which differs by assignor:
/// * `cooperative-sticky`: `owned` is the subscription's `ownedPartitions` (the partitions the
///   member owns now; the cooperative protocol keeps them while rejoining) and `generation` the
///   subscription's `generationId` (ConsumerProtocolSubscription v1+; `CooperativeStickyAssignor`
///   also writes it into its user data, `memberData` prefers the field);
/// * `sticky`: `StickyAssignor` is eager, so `ownedPartitions` is empty by the time the member
///   rejoins; `owned` is the partition list in its user data (the assignment it last received in
///   `onAssignment`) and `generation` the generation written next to it (V1 user data). `owned`
///   non-empty with no `generation` is V0 user data; both empty is a member that never had an
///   assignment (no user data at all);
/// * `range`, `roundrobin`: ignored.
///
/// Kafka reads the generation in two places: from the member data (above) for the member itself,
/// and from the subscription's `generationId` field for the *other* claimant of a partition
/// (`AbstractStickyAssignor.allSubscriptionsEqual`). A consumer sends the same number in both, so
/// the model has one `generation`. A negative generation means unknown, as Kafka's
/// `DEFAULT_GENERATION` (-1) does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberSubscription {
    /// The member id the coordinator gave the member.
    pub member_id: String,
    /// `group.instance.id`, for static members.
    pub instance_id: Option<String>,
    /// The subscribed topics.
    pub topics: Vec<TopicName>,
    /// The partitions owned before this rebalance (see the type's documentation).
    pub owned: Vec<TopicPartition>,
    /// The generation of `owned`; `None` is unknown (Kafka's `DEFAULT_GENERATION`, -1).
    pub generation: Option<i32>,
}

/// member id -> partitions, each member's list in the exact order Kafka's assignor returns it;
/// every subscribed member present (maybe empty).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Assignment {
    /// The partitions of each member.
    pub members: VecMap<String, Vec<TopicPartition>>,
}

impl Assignment {
    /// The member a partition is assigned to, if any.
    pub fn owner_of(&self, tp: &TopicPartition) -> Option<&str> {
        self.members
            .iter()
            .find(|(_, tps)| tps.contains(tp))
            .map(|(m, _)| m.as_str())
    }
}

/// Runs the assignor `name` as the group leader would: the subscriptions go through the wire
/// encoding first ([`leader_view`]), then through `AbstractPartitionAssignor.assign`'s
/// preparation (only subscribed topics with at least one partition count), then the assignor.
///
/// `partitions_per_topic`: topic -> partition count (topics absent or with 0 partitions are
/// ignored, as `AbstractPartitionAssignor` does). `members` in the order of the JoinGroup
/// response, which is the order Kafka's leader inserts them into its `HashMap`; a repeated member
/// id replaces the earlier subscription in its place, as `HashMap.put` does.
///
/// For the sticky assignors, [`sticky`] and [`cooperative_sticky`] return more detail and take
/// the subscriptions as the assignor sees them, without the wire encoding.
pub fn assign(
    name: AssignorName,
    partitions_per_topic: &VecMap<TopicName, u32>,
    members: &[MemberSubscription],
) -> Assignment {
    let decoded: Vec<MemberSubscription> = members.iter().map(|m| leader_view(name, m)).collect();
    match name {
        AssignorName::Range => range::assign(&Group::new(partitions_per_topic, &decoded)),
        AssignorName::RoundRobin => {
            round_robin::assign(&Group::new(partitions_per_topic, &decoded))
        }
        AssignorName::Sticky => sticky(partitions_per_topic, &decoded).assignment,
        AssignorName::CooperativeSticky => {
            cooperative_sticky(partitions_per_topic, &decoded).assignment
        }
    }
}

/// A member's subscription as the leader's assignor decodes it from the JoinGroup metadata.
///
/// * `ConsumerProtocol.serializeSubscription` sorts the topics (`Collections.sort`, Java string
///   order); a consumer subscribes to a set, so a topic appears once.
/// * The same method sorts `ownedPartitions` by topic, then partition. That is the owned list of
///   `cooperative-sticky` (and of `range` and `roundrobin`, which ignore it).
/// * `StickyAssignor` writes its owned partitions into its user data grouped by topic, through
///   `CollectionUtils.groupPartitionsByTopic`, a `HashMap`: topics in Java `HashMap` order, each
///   topic's partitions in their original order.
/// * A negative generation becomes `None` (`Subscription`'s constructor maps `generationId < 0` to
///   empty; every negative value behaves as `DEFAULT_GENERATION` in the assignors).
pub fn leader_view(name: AssignorName, member: &MemberSubscription) -> MemberSubscription {
    let mut topics: Vec<TopicName> = Vec::new();
    for t in &member.topics {
        if !topics.contains(t) {
            topics.push(t.clone());
        }
    }
    crate::sort::sort_by(&mut topics, |a, b| string_compare(a.as_str(), b.as_str()));
    let owned = match name {
        AssignorName::Sticky => group_partitions_by_topic(&member.owned),
        _ => {
            let mut owned = member.owned.clone();
            crate::sort::sort_by(&mut owned, |a, b| {
                string_compare(a.topic.as_str(), b.topic.as_str())
                    .then(a.partition.cmp(&b.partition))
            });
            owned
        }
    };
    MemberSubscription {
        member_id: member.member_id.clone(),
        instance_id: member.instance_id.clone(),
        topics,
        owned,
        generation: member.generation.filter(|g| *g >= 0),
    }
}

/// `CollectionUtils.groupPartitionsByTopic`, flattened back into a list: what the partitions look
/// like after a round trip through `StickyAssignor`'s user data.
pub fn group_partitions_by_topic(partitions: &[TopicPartition]) -> Vec<TopicPartition> {
    let mut by_topic: JavaHashMap<TopicName, Vec<u32>> = JavaHashMap::new();
    for tp in partitions {
        by_topic.compute_if_absent(tp.topic.clone(), Vec::new);
        if let Some(list) = by_topic.get_mut(&tp.topic) {
            list.push(tp.partition);
        }
    }
    by_topic
        .iter()
        .flat_map(|(topic, ps)| ps.iter().map(|p| TopicPartition::new(topic.clone(), *p)))
        .collect()
}

/// The input every assignor starts from, prepared as `AbstractPartitionAssignor.assign(Cluster,
/// GroupSubscription)` and `ConsumerCoordinator.onLeaderElected` prepare it.
pub(crate) struct Group<'a> {
    /// member id -> subscription, a `HashMap` filled in JoinGroup response order.
    pub subscriptions: JavaHashMap<String, &'a MemberSubscription>,
    /// topic -> partition count, only subscribed topics with partitions, as the `HashMap` that
    /// `AbstractPartitionAssignor.assign` fills from the `HashSet` of all subscribed topics.
    pub partitions_per_topic: JavaHashMap<TopicName, u32>,
}

impl<'a> Group<'a> {
    pub(crate) fn new(
        partitions_per_topic: &VecMap<TopicName, u32>,
        members: &'a [MemberSubscription],
    ) -> Group<'a> {
        let mut subscriptions = JavaHashMap::new();
        for m in members {
            subscriptions.insert(m.member_id.clone(), m);
        }
        let mut all_subscribed = JavaHashSet::new();
        for (_, sub) in subscriptions.iter() {
            for topic in &sub.topics {
                all_subscribed.insert(topic.clone());
            }
        }
        let mut counts = JavaHashMap::new();
        for topic in all_subscribed.iter() {
            if let Some(&n) = partitions_per_topic.get(topic)
                && n > 0
            {
                counts.insert(topic.clone(), n);
            }
        }
        Group {
            subscriptions,
            partitions_per_topic: counts,
        }
    }

    /// An empty assignment with an entry for every member.
    pub(crate) fn empty_assignment(&self) -> VecMap<String, Vec<TopicPartition>> {
        self.subscriptions
            .keys()
            .map(|m| (m.clone(), Vec::new()))
            .collect()
    }
}

/// `AbstractPartitionAssignor.MemberInfo.compareTo`: static members (with a `group.instance.id`)
/// first, by instance id; then dynamic members by member id; Java string order throughout.
pub(crate) fn member_info_cmp(a: &MemberSubscription, b: &MemberSubscription) -> Ordering {
    match (&a.instance_id, &b.instance_id) {
        (Some(x), Some(y)) => string_compare(x, y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => string_compare(&a.member_id, &b.member_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, instance: Option<&str>) -> MemberSubscription {
        MemberSubscription {
            member_id: id.to_string(),
            instance_id: instance.map(str::to_string),
            topics: vec![TopicName::from("t")],
            owned: vec![],
            generation: None,
        }
    }

    #[test]
    fn protocol_names_round_trip() {
        for a in AssignorName::ALL {
            assert_eq!(AssignorName::from_protocol_name(a.protocol_name()), Some(a));
        }
        assert_eq!(AssignorName::from_protocol_name("Range"), None);
        assert_eq!(
            AssignorName::CooperativeSticky.supported_protocols(),
            [RebalanceProtocol::Eager, RebalanceProtocol::Cooperative]
        );
        assert_eq!(
            AssignorName::Sticky.supported_protocols(),
            [RebalanceProtocol::Eager]
        );
        assert!(RebalanceProtocol::Cooperative > RebalanceProtocol::Eager);
    }

    #[test]
    fn static_members_sort_first_by_instance_id() {
        let mut ms = [
            member("a", None),
            member("z", Some("i2")),
            member("b", Some("i1")),
            member("0", None),
        ];
        crate::sort::sort_by(&mut ms, member_info_cmp);
        let ids: Vec<&str> = ms.iter().map(|m| m.member_id.as_str()).collect();
        assert_eq!(ids, ["b", "z", "0", "a"]);
    }

    #[test]
    fn the_leader_sees_sorted_topics_and_encoded_owned_partitions() {
        let m = MemberSubscription {
            member_id: "c".into(),
            instance_id: None,
            topics: vec!["b".into(), "a".into(), "b".into()],
            owned: vec![
                TopicPartition::new("topic2", 1),
                TopicPartition::new("topic1", 2),
                TopicPartition::new("topic2", 0),
            ],
            generation: Some(-3),
        };
        let coop = leader_view(AssignorName::CooperativeSticky, &m);
        assert_eq!(
            coop.topics,
            vec![TopicName::from("a"), TopicName::from("b")]
        );
        assert_eq!(
            coop.owned,
            vec![
                TopicPartition::new("topic1", 2),
                TopicPartition::new("topic2", 0),
                TopicPartition::new("topic2", 1)
            ]
        );
        assert_eq!(coop.generation, None);
        // Grouped by topic in HashMap order ("topic1" before "topic2", as Java prints), each
        // topic's partitions in their original order.
        let sticky = leader_view(AssignorName::Sticky, &m);
        assert_eq!(
            sticky.owned,
            vec![
                TopicPartition::new("topic1", 2),
                TopicPartition::new("topic2", 1),
                TopicPartition::new("topic2", 0)
            ]
        );
    }

    #[test]
    fn no_members_means_an_empty_assignment() {
        let ppt = VecMap::from([(TopicName::from("t"), 3)]);
        for a in AssignorName::ALL {
            assert_eq!(assign(a, &ppt, &[]), Assignment::default());
        }
    }
}
