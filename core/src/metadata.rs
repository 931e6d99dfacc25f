//! Cluster metadata as KRaft keeps it: a log of records (`__cluster_metadata`) written by the
//! controller, and the image every broker builds by replaying it.
//!
//! Records change state the way Kafka's do. A `PartitionChange` does not carry epochs: replaying it
//! bumps the leader epoch when the leader changes and the partition epoch on every change
//! (`PartitionRegistration.merge`), which is how KAFKA.md 3.5 says epochs move in KRaft (ISR
//! changes never bump the leader epoch with metadata version 3.6 or later, which is what is
//! modelled).

use crate::config::TopicConfig;
use crate::ids::{
    BrokerEpoch, BrokerId, LeaderEpoch, Offset, PartitionEpoch, ProducerId, TopicName,
    TopicPartition,
};
use crate::map::VecMap;
use serde::{Deserialize, Serialize};

/// Whether a leader elected uncleanly has finished recovering (KIP-704).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LeaderRecoveryState {
    /// Normal.
    #[default]
    Recovered,
    /// The leader was elected uncleanly and has not yet confirmed recovery; the ISR may not grow.
    Recovering,
}

/// A partition as the controller registered it (`PartitionRegistration`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionRegistration {
    /// The replicas, preferred leader first.
    pub replicas: Vec<BrokerId>,
    /// The in-sync replicas.
    pub isr: Vec<BrokerId>,
    /// The leader, if any (Kafka's -1 is `None`).
    pub leader: Option<BrokerId>,
    /// The leader recovery state.
    pub leader_recovery_state: LeaderRecoveryState,
    /// The leader epoch.
    pub leader_epoch: LeaderEpoch,
    /// The partition epoch.
    pub partition_epoch: PartitionEpoch,
}

/// A new leader in a partition change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaderChange {
    /// The partition has no leader now (Kafka's NO_LEADER, -1).
    NoLeader,
    /// This broker leads now.
    Elect(BrokerId),
}

impl LeaderChange {
    /// The leader after the change.
    pub fn leader(self) -> Option<BrokerId> {
        match self {
            LeaderChange::NoLeader => None,
            LeaderChange::Elect(b) => Some(b),
        }
    }
}

/// Why the controller changed a partition, for the story and the checkers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ChangeReason {
    /// A broker was fenced (missed heartbeats for `broker.session.timeout.ms`).
    BrokerFenced {
        /// The broker.
        broker: BrokerId,
    },
    /// A broker was unfenced, so a leaderless partition could elect it.
    BrokerUnfenced {
        /// The broker.
        broker: BrokerId,
    },
    /// The leader's AlterPartition was accepted.
    AlterPartition,
    /// A preferred election (admin request or the auto leader rebalance).
    PreferredElection,
    /// An unclean election (admin request, or the periodic unclean election task).
    UncleanElection,
}

/// `PartitionChangeRecord`: only what changes is set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionChangeRecord {
    /// The partition.
    pub topic_partition: TopicPartition,
    /// The new leader, if it changes.
    pub leader: Option<LeaderChange>,
    /// The new ISR, if it changes.
    pub isr: Option<Vec<BrokerId>>,
    /// The new recovery state, if it changes.
    pub leader_recovery_state: Option<LeaderRecoveryState>,
    /// Whether the new leader was elected from outside the ISR.
    pub unclean: bool,
    /// Why the controller made the change.
    pub reason: ChangeReason,
}

/// A record of the metadata log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MetadataRecord {
    /// `RegisterBrokerRecord`: a broker registered; it starts fenced. Its epoch is the offset
    /// of this record.
    RegisterBroker {
        /// The broker.
        broker_id: BrokerId,
        /// Its new epoch.
        broker_epoch: BrokerEpoch,
        /// The incarnation that registered.
        incarnation: u64,
    },
    /// `FenceBrokerRecord` (or `BrokerRegistrationChangeRecord` with fenced = true).
    FenceBroker {
        /// The broker.
        broker_id: BrokerId,
        /// Its epoch.
        broker_epoch: BrokerEpoch,
    },
    /// `UnfenceBrokerRecord`.
    UnfenceBroker {
        /// The broker.
        broker_id: BrokerId,
        /// Its epoch.
        broker_epoch: BrokerEpoch,
    },
    /// `TopicRecord` with the topic's configs (Kafka writes `ConfigRecord`s beside it).
    Topic {
        /// The topic.
        name: TopicName,
        /// The topic id.
        topic_id: u64,
        /// Its configuration.
        config: TopicConfig,
    },
    /// `PartitionRecord`: a new partition.
    Partition {
        /// The partition.
        topic_partition: TopicPartition,
        /// Its registration.
        registration: PartitionRegistration,
    },
    /// `PartitionChangeRecord`.
    PartitionChange(PartitionChangeRecord),
    /// `ConfigRecord` for a topic.
    TopicConfig {
        /// The topic.
        topic: TopicName,
        /// The new configuration.
        config: TopicConfig,
    },
    /// `ProducerIdsRecord`: the next block of producer ids starts here.
    ProducerIds {
        /// The broker the block went to.
        broker_id: BrokerId,
        /// The first id not yet handed out.
        next_producer_id: ProducerId,
    },
}

/// A broker as registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    /// Its epoch.
    pub epoch: BrokerEpoch,
    /// The incarnation that registered.
    pub incarnation: u64,
    /// Whether it is fenced.
    pub fenced: bool,
}

/// A topic in the image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicImage {
    /// The topic id.
    pub id: u64,
    /// Its partitions, by number.
    pub partitions: Vec<PartitionRegistration>,
    /// Its configuration.
    pub config: TopicConfig,
}

/// The state the metadata log describes: brokers, topics, partitions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataImage {
    /// Registered brokers.
    pub brokers: VecMap<BrokerId, BrokerRegistration>,
    /// Topics by name.
    pub topics: VecMap<TopicName, TopicImage>,
    /// The next producer id the controller hands out.
    pub next_producer_id: ProducerId,
    /// The offset of the next record to apply.
    pub next_offset: Offset,
}

impl MetadataImage {
    /// The registration of a partition.
    pub fn partition(&self, tp: &TopicPartition) -> Option<&PartitionRegistration> {
        self.topics
            .get(&tp.topic)?
            .partitions
            .get(tp.partition as usize)
    }

    /// The configuration of a topic.
    pub fn topic_config(&self, topic: &TopicName) -> Option<&TopicConfig> {
        self.topics.get(topic).map(|t| &t.config)
    }

    /// Whether a broker is registered and unfenced (an "acceptable" leader, KAFKA.md 3.7).
    pub fn is_active(&self, broker: BrokerId) -> bool {
        self.brokers.get(&broker).is_some_and(|b| !b.fenced)
    }

    /// Every partition, in topic and partition order.
    pub fn partitions(&self) -> impl Iterator<Item = (TopicPartition, &PartitionRegistration)> {
        self.topics.iter().flat_map(|(name, t)| {
            t.partitions.iter().enumerate().map(move |(i, p)| {
                (
                    TopicPartition {
                        topic: name.clone(),
                        partition: i as u32,
                    },
                    p,
                )
            })
        })
    }

    /// Applies one record at the next offset.
    pub fn apply(&mut self, record: &MetadataRecord) {
        match record {
            MetadataRecord::RegisterBroker {
                broker_id,
                broker_epoch,
                incarnation,
            } => {
                self.brokers.insert(
                    *broker_id,
                    BrokerRegistration {
                        epoch: *broker_epoch,
                        incarnation: *incarnation,
                        fenced: true,
                    },
                );
            }
            MetadataRecord::FenceBroker {
                broker_id,
                broker_epoch,
            } => {
                if let Some(b) = self.brokers.get_mut(broker_id)
                    && b.epoch == *broker_epoch
                {
                    b.fenced = true;
                }
            }
            MetadataRecord::UnfenceBroker {
                broker_id,
                broker_epoch,
            } => {
                if let Some(b) = self.brokers.get_mut(broker_id)
                    && b.epoch == *broker_epoch
                {
                    b.fenced = false;
                }
            }
            MetadataRecord::Topic {
                name,
                topic_id,
                config,
            } => {
                self.topics.insert(
                    name.clone(),
                    TopicImage {
                        id: *topic_id,
                        partitions: Vec::new(),
                        config: config.clone(),
                    },
                );
            }
            MetadataRecord::Partition {
                topic_partition,
                registration,
            } => {
                if let Some(t) = self.topics.get_mut(&topic_partition.topic) {
                    let i = topic_partition.partition as usize;
                    if i == t.partitions.len() {
                        t.partitions.push(registration.clone());
                    } else if i < t.partitions.len() {
                        t.partitions[i] = registration.clone();
                    }
                }
            }
            MetadataRecord::PartitionChange(change) => {
                if let Some(p) = self
                    .topics
                    .get_mut(&change.topic_partition.topic)
                    .and_then(|t| {
                        t.partitions
                            .get_mut(change.topic_partition.partition as usize)
                    })
                {
                    merge(p, change);
                }
            }
            MetadataRecord::TopicConfig { topic, config } => {
                if let Some(t) = self.topics.get_mut(topic) {
                    t.config = config.clone();
                }
            }
            MetadataRecord::ProducerIds {
                next_producer_id, ..
            } => {
                self.next_producer_id = *next_producer_id;
            }
        }
        self.next_offset = self.next_offset.next();
    }
}

/// `PartitionRegistration.merge`: the leader epoch bumps when the leader changes; the partition
/// epoch bumps on every change.
fn merge(p: &mut PartitionRegistration, change: &PartitionChangeRecord) {
    if let Some(leader) = change.leader {
        p.leader = leader.leader();
        p.leader_epoch = p.leader_epoch.next();
    }
    if let Some(isr) = &change.isr {
        p.isr = isr.clone();
    }
    if let Some(state) = change.leader_recovery_state {
        p.leader_recovery_state = state;
    }
    p.partition_epoch = p.partition_epoch.next();
}

/// The kind of election a partition change may run (`PartitionChangeBuilder.Election`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Election {
    /// Prefer the first replica.
    Preferred,
    /// Keep a valid leader, else the first valid replica in assignment order.
    Online,
    /// As online, then any acceptable replica if no ISR member can lead.
    Unclean,
}

/// `PartitionChangeBuilder` with eligible leader replicas off (the 4.0 default, KAFKA.md 3.7 and
/// 3.8): computes the record that moves a partition to a target ISR under an election type, or
/// `None` when nothing would change.
///
/// * A valid leader is in the target ISR and acceptable (registered, unfenced).
/// * Online: keep the current leader if valid, else the first valid replica in assignment order,
///   else no leader.
/// * Preferred: the first replica if valid, else the current leader if valid, else the next valid
///   replica in assignment order.
/// * Unclean: as online, then the first acceptable replica even outside the ISR; the ISR is then
///   forced to that one leader and the recovery state to RECOVERING.
/// * The ISR is never set empty: removing its last member leaves it as it is ("last replica
///   standing", KAFKA.md 3.3).
pub fn partition_change(
    tp: &TopicPartition,
    current: &PartitionRegistration,
    target_isr: &[BrokerId],
    election: Election,
    is_acceptable: impl Fn(BrokerId) -> bool,
    reason: ChangeReason,
) -> Option<PartitionChangeRecord> {
    let is_valid = |b: BrokerId| target_isr.contains(&b) && is_acceptable(b);
    let current_valid = current.leader.is_some_and(is_valid);
    let (leader, unclean) = match election {
        Election::Preferred => {
            let preferred = current.replicas.first().copied().filter(|&b| is_valid(b));
            if let Some(p) = preferred {
                (Some(p), false)
            } else if current_valid {
                (current.leader, false)
            } else {
                (
                    current
                        .replicas
                        .iter()
                        .skip(1)
                        .copied()
                        .find(|&b| is_valid(b)),
                    false,
                )
            }
        }
        Election::Online | Election::Unclean => {
            if current_valid {
                (current.leader, false)
            } else if let Some(b) = current.replicas.iter().copied().find(|&b| is_valid(b)) {
                (Some(b), false)
            } else if election == Election::Unclean {
                match current.replicas.iter().copied().find(|&b| is_acceptable(b)) {
                    Some(b) => (Some(b), true),
                    None => (None, false),
                }
            } else {
                (None, false)
            }
        }
    };
    let mut record = PartitionChangeRecord {
        topic_partition: tp.clone(),
        leader: None,
        isr: None,
        leader_recovery_state: None,
        unclean: false,
        reason,
    };
    if leader != current.leader {
        record.leader = Some(match leader {
            Some(b) => LeaderChange::Elect(b),
            None => LeaderChange::NoLeader,
        });
        if unclean {
            let new_leader = leader.expect("an unclean election always names a leader");
            record.isr = Some(vec![new_leader]);
            record.unclean = true;
            if current.leader_recovery_state != LeaderRecoveryState::Recovering {
                record.leader_recovery_state = Some(LeaderRecoveryState::Recovering);
            }
        }
    }
    if record.isr.is_none() && !target_isr.is_empty() && target_isr != current.isr.as_slice() {
        record.isr = Some(target_isr.to_vec());
    }
    if record.leader.is_none() && record.isr.is_none() && record.leader_recovery_state.is_none() {
        None
    } else {
        Some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(ids: &[u32]) -> Vec<BrokerId> {
        ids.iter().map(|&i| BrokerId(i)).collect()
    }

    fn foo() -> (TopicPartition, PartitionRegistration) {
        // PartitionChangeBuilderTest "FOO": replicas [2,1,3], ISR [2,1,3], leader 1.
        (
            TopicPartition::new("foo", 0),
            PartitionRegistration {
                replicas: b(&[2, 1, 3]),
                isr: b(&[2, 1, 3]),
                leader: Some(BrokerId(1)),
                leader_recovery_state: LeaderRecoveryState::Recovered,
                leader_epoch: LeaderEpoch(100),
                partition_epoch: PartitionEpoch(200),
            },
        )
    }

    fn elect(
        p: &PartitionRegistration,
        isr: &[u32],
        election: Election,
        acceptable: &[u32],
    ) -> (Option<BrokerId>, bool) {
        let tp = TopicPartition::new("foo", 0);
        let acceptable = b(acceptable);
        match partition_change(
            &tp,
            p,
            &b(isr),
            election,
            |x| acceptable.contains(&x),
            ChangeReason::AlterPartition,
        ) {
            Some(r) => (r.leader.map_or(p.leader, LeaderChange::leader), r.unclean),
            None => (p.leader, false),
        }
    }

    #[test]
    fn elect_leader_matches_partition_change_builder_test() {
        // testElectLeader: broker 3 is not acceptable (KAFKA.md 3.7 table).
        let (_, p) = foo();
        let ok = [1, 2, 4];
        assert_eq!(
            elect(&p, &[2, 1, 3], Election::Preferred, &ok),
            (Some(BrokerId(2)), false)
        );
        assert_eq!(
            elect(&p, &[2, 1, 3], Election::Online, &ok),
            (Some(BrokerId(1)), false)
        );
        assert_eq!(
            elect(&p, &[2, 1, 3], Election::Unclean, &ok),
            (Some(BrokerId(1)), false)
        );
        assert_eq!(
            elect(&p, &[1, 3], Election::Online, &ok),
            (Some(BrokerId(1)), false)
        );
        assert_eq!(elect(&p, &[3], Election::Online, &ok), (None, false));
        assert_eq!(
            elect(&p, &[3], Election::Unclean, &ok),
            (Some(BrokerId(2)), true)
        );
        let mut p4 = p.clone();
        p4.replicas = b(&[2, 1, 3, 4]);
        assert_eq!(
            elect(&p4, &[4], Election::Unclean, &ok),
            (Some(BrokerId(4)), false)
        );
    }

    #[test]
    fn unclean_election_forces_the_isr_to_the_new_leader_and_marks_recovery() {
        // testUncleanLeaderElection: {leader: 2, isr: [2], leaderRecoveryState: RECOVERING}.
        let (tp, p) = foo();
        let r = partition_change(
            &tp,
            &p,
            &b(&[3]),
            Election::Unclean,
            |x| x == BrokerId(2),
            ChangeReason::UncleanElection,
        )
        .unwrap();
        assert_eq!(r.leader, Some(LeaderChange::Elect(BrokerId(2))));
        assert_eq!(r.isr, Some(b(&[2])));
        assert_eq!(
            r.leader_recovery_state,
            Some(LeaderRecoveryState::Recovering)
        );
        let mut image = p.clone();
        merge(&mut image, &r);
        assert_eq!(image.leader_epoch, LeaderEpoch(101));
        assert_eq!(image.partition_epoch, PartitionEpoch(201));
    }

    #[test]
    fn the_last_isr_member_stays_when_it_is_removed() {
        // KAFKA.md 3.3: target ISR empty -> ISR unchanged, leader none.
        let tp = TopicPartition::new("foo", 0);
        let p = PartitionRegistration {
            replicas: b(&[1, 2, 3]),
            isr: b(&[1]),
            leader: Some(BrokerId(1)),
            leader_recovery_state: LeaderRecoveryState::Recovered,
            leader_epoch: LeaderEpoch(3),
            partition_epoch: PartitionEpoch(7),
        };
        let r = partition_change(
            &tp,
            &p,
            &[],
            Election::Online,
            |x| x != BrokerId(1),
            ChangeReason::BrokerFenced {
                broker: BrokerId(1),
            },
        )
        .unwrap();
        assert_eq!(r.leader, Some(LeaderChange::NoLeader));
        assert_eq!(r.isr, None, "the ISR keeps its last member");
        let mut image = p.clone();
        merge(&mut image, &r);
        assert_eq!(image.isr, b(&[1]));
        assert_eq!(image.leader, None);
        assert_eq!(
            image.leader_epoch,
            LeaderEpoch(4),
            "a leader change to none bumps the epoch"
        );
    }

    #[test]
    fn isr_shrink_bumps_only_the_partition_epoch() {
        let (tp, p) = foo();
        let r = partition_change(
            &tp,
            &p,
            &b(&[2, 1]),
            Election::Online,
            |_| true,
            ChangeReason::AlterPartition,
        )
        .unwrap();
        assert_eq!(r.leader, None);
        let mut image = p.clone();
        merge(&mut image, &r);
        assert_eq!(image.leader_epoch, LeaderEpoch(100));
        assert_eq!(image.partition_epoch, PartitionEpoch(201));
        assert_eq!(image.isr, b(&[2, 1]));
    }

    #[test]
    fn nothing_to_change_is_no_record() {
        let (tp, p) = foo();
        assert!(
            partition_change(
                &tp,
                &p,
                &b(&[2, 1, 3]),
                Election::Online,
                |_| true,
                ChangeReason::AlterPartition
            )
            .is_none()
        );
    }
}
