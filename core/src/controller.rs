//! The active KRaft controller (one for now): broker registration and heartbeats, fencing,
//! leader elections, ISR changes, topic creation, and the metadata log brokers fetch.
//!
//! Every decision is a record appended to the metadata log (`__cluster_metadata`) and replayed
//! into the controller's own image, exactly as brokers replay it; a single controller commits a
//! record as soon as it writes it. The log is the controller's disk (KRaft fsyncs it), so a
//! restarted controller replays it and gives every unfenced broker a fresh session, as a newly
//! active controller does. Sources: `ClusterControlManager`, `BrokerHeartbeatManager`,
//! `ReplicationControlManager`, `PartitionChangeBuilder` (KAFKA.md 3.3, 3.7, 3.10).

use crate::config::{BrokerConfig, TopicConfig};
use crate::error::ErrorCode;
use crate::ids::{BrokerEpoch, BrokerId, NodeId, Offset, ProducerId, TopicName, TopicPartition};
use crate::map::VecMap;
use crate::metadata::{
    ChangeReason, Election, LeaderRecoveryState, MetadataImage, MetadataRecord,
    PartitionRegistration, partition_change,
};
use crate::node::{Deadlines, Event, Input, Node, Outbox, Output};
use crate::protocol::*;
use crate::time::{Duration, Instant};
use std::sync::Arc;

/// How many producer ids the controller hands a broker at once (`ProducerIdsBlock` size).
pub const PRODUCER_ID_BLOCK_SIZE: u64 = 1000;

/// How long the controller holds a metadata fetch that has nothing new (the KRaft fetch wait).
pub const METADATA_FETCH_MAX_WAIT: Duration = Duration(500);

/// The most records one metadata fetch returns.
const METADATA_FETCH_MAX_RECORDS: usize = 2000;

/// The controller's durable state: its metadata log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ControllerDisk {
    /// Every record written, in order.
    pub log: Vec<Arc<MetadataRecord>>,
}

/// A broker's heartbeat session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Session {
    last_contact: Instant,
    metadata_offset: Offset,
}

#[derive(Clone, Debug)]
struct ParkedFetch {
    from: NodeId,
    correlation: CorrelationId,
    fetch_offset: Offset,
    deadline: Instant,
}

/// The controller node.
#[derive(Debug)]
pub struct Controller {
    config: BrokerConfig,
    disk: ControllerDisk,
    image: MetadataImage,
    sessions: VecMap<BrokerId, Session>,
    parked_fetches: Vec<ParkedFetch>,
    next_unclean_check: Option<Instant>,
    next_balance_check: Option<Instant>,
    started: bool,
    /// The time of the last input.
    now: Instant,
    outbox: Outbox,
}

impl Controller {
    /// A controller with the given config and disk; it does nothing until `Input::Start`.
    pub fn new(config: BrokerConfig, disk: ControllerDisk) -> Controller {
        Controller {
            config,
            disk,
            image: MetadataImage::default(),
            sessions: VecMap::new(),
            parked_fetches: Vec::new(),
            next_unclean_check: None,
            next_balance_check: None,
            started: false,
            now: Instant::ZERO,
            outbox: Outbox::default(),
        }
    }

    /// The durable part, for a crash: everything else is lost.
    pub fn into_disk(self) -> ControllerDisk {
        self.disk
    }

    /// The durable part.
    pub fn disk(&self) -> &ControllerDisk {
        &self.disk
    }

    /// The committed metadata image.
    pub fn image(&self) -> &MetadataImage {
        &self.image
    }

    /// The configuration.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// Whether the controller considers a broker's session alive at `now`.
    /// `BrokerHeartbeatManager.hasValidSession`: never for a fenced broker; otherwise while
    /// `lastContact + broker.session.timeout.ms >= now` (the session ends strictly after).
    fn has_valid_session(&self, broker: BrokerId, now: Instant) -> bool {
        self.image.is_active(broker)
            && self
                .sessions
                .get(&broker)
                .is_some_and(|s| s.last_contact + self.config.broker_session_timeout >= now)
    }

    fn start(&mut self, now: Instant) {
        self.image = MetadataImage::default();
        for record in &self.disk.log {
            self.image.apply(record);
        }
        // A newly active controller gives every unfenced broker a fresh session.
        self.sessions = self
            .image
            .brokers
            .iter()
            .filter(|(_, b)| !b.fenced)
            .map(|(&id, _)| {
                (
                    id,
                    Session {
                        last_contact: now,
                        metadata_offset: Offset(0),
                    },
                )
            })
            .collect();
        self.parked_fetches.clear();
        self.next_unclean_check = None;
        self.next_balance_check = None;
        self.started = true;
        self.schedule_tasks(now);
    }

    /// Appends records, applies each to the image, and tells the story of each.
    fn commit(&mut self, records: Vec<MetadataRecord>) {
        if records.is_empty() {
            return;
        }
        for record in records {
            self.image.apply(&record);
            self.describe(&record);
            self.disk.log.push(Arc::new(record));
        }
    }

    fn describe(&mut self, record: &MetadataRecord) {
        let event = match record {
            MetadataRecord::RegisterBroker {
                broker_id,
                broker_epoch,
                ..
            } => Event::BrokerRegistered {
                broker: *broker_id,
                epoch: *broker_epoch,
            },
            MetadataRecord::UnfenceBroker { broker_id, .. } => {
                Event::BrokerUnfenced { broker: *broker_id }
            }
            MetadataRecord::PartitionChange(change) => {
                let Some(p) = self.image.partition(&change.topic_partition) else {
                    return;
                };
                Event::PartitionChanged {
                    topic_partition: change.topic_partition.clone(),
                    leader: p.leader,
                    leader_changed: change.leader.is_some(),
                    leader_epoch: p.leader_epoch,
                    isr: p.isr.clone(),
                    partition_epoch: p.partition_epoch,
                    unclean: change.unclean,
                    reason: change.reason.clone(),
                }
            }
            // A topic is told once, with its partition count, by `create_topic`.
            _ => return,
        };
        self.outbox.event(event);
    }

    fn election_for(&self, topic: &TopicName) -> Election {
        election_for(&self.image, topic)
    }

    /// `handleBrokerFenced`: fence the broker, remove it from every ISR it is in and elect new
    /// leaders where it led (unclean where the topic allows it).
    fn fence_broker(&mut self, broker: BrokerId, reason: String) {
        let Some(reg) = self.image.brokers.get(&broker).copied() else {
            return;
        };
        if reg.fenced {
            return;
        }
        self.sessions.remove(&broker);
        self.commit(vec![MetadataRecord::FenceBroker {
            broker_id: broker,
            broker_epoch: reg.epoch,
        }]);
        self.outbox.event(Event::BrokerFenced { broker, reason });
        let affected: Vec<(TopicPartition, PartitionRegistration)> = self
            .image
            .partitions()
            .filter(|(_, p)| p.isr.contains(&broker) || p.leader == Some(broker))
            .map(|(tp, p)| (tp, p.clone()))
            .collect();
        let mut records = Vec::new();
        for (tp, p) in affected {
            let target: Vec<BrokerId> = p.isr.iter().copied().filter(|&b| b != broker).collect();
            let election = self.election_for(&tp.topic);
            if let Some(r) = partition_change(
                &tp,
                &p,
                &target,
                election,
                |b| b != broker && self.image.is_active(b),
                ChangeReason::BrokerFenced { broker },
            ) {
                records.push(MetadataRecord::PartitionChange(r));
            }
        }
        self.commit(records);
    }

    /// `handleBrokerUnfenced`: unfence the broker, then try to elect a leader for every
    /// leaderless partition (the broker may be the ISR member they wait for).
    fn unfence_broker(&mut self, broker: BrokerId, epoch: BrokerEpoch) {
        self.commit(vec![MetadataRecord::UnfenceBroker {
            broker_id: broker,
            broker_epoch: epoch,
        }]);
        self.elect_leaderless(
            |image, t| Some(election_for(image, t)),
            ChangeReason::BrokerUnfenced { broker },
        );
    }

    /// Runs an election for each leaderless partition; `election` picks the kind per topic, or
    /// skips the topic with `None`.
    fn elect_leaderless(
        &mut self,
        election: impl Fn(&MetadataImage, &TopicName) -> Option<Election>,
        reason: ChangeReason,
    ) {
        let mut records = Vec::new();
        for (tp, p) in self.image.partitions().filter(|(_, p)| p.leader.is_none()) {
            let Some(kind) = election(&self.image, &tp.topic) else {
                continue;
            };
            if let Some(r) = partition_change(
                &tp,
                p,
                &p.isr,
                kind,
                |b| self.image.is_active(b),
                reason.clone(),
            ) {
                records.push(MetadataRecord::PartitionChange(r));
            }
        }
        self.commit(records);
    }

    /// `ClusterControlManager.registerBroker`. An unfenced broker whose session is still valid
    /// holds its id: another incarnation gets DUPLICATE_BROKER_REGISTRATION and retries. The same
    /// incarnation registering again keeps its epoch. A new incarnation otherwise gets a new
    /// epoch and starts fenced. Kafka does not run `handleBrokerFenced` for the old incarnation
    /// here (with eligible leader replicas off), so partitions keep it in their ISR until the new
    /// incarnation is unfenced or fenced again (docs/kafka-source-notes.md, question 1).
    fn handle_registration(&mut self, now: Instant, from: NodeId, req: BrokerRegistrationRequest) {
        if from != NodeId::Broker(req.broker_id) {
            return self.refuse_registration(
                from,
                req.broker_id,
                req.incarnation,
                ErrorCode::InvalidRequest,
            );
        }
        if let Some(existing) = self.image.brokers.get(&req.broker_id).copied() {
            if existing.incarnation == req.incarnation {
                self.sessions.insert(
                    req.broker_id,
                    Session {
                        last_contact: now,
                        metadata_offset: Offset(0),
                    },
                );
                self.outbox.send(
                    from,
                    Message::BrokerRegistrationResponse(BrokerRegistrationResponse {
                        error: None,
                        broker_epoch: existing.epoch,
                        incarnation: req.incarnation,
                    }),
                );
                return;
            }
            if self.has_valid_session(req.broker_id, now) {
                return self.refuse_registration(
                    from,
                    req.broker_id,
                    req.incarnation,
                    ErrorCode::DuplicateBrokerRegistration,
                );
            }
            // A new incarnation of a broker the controller has not fenced yet (its session just
            // expired, or the controller has not run its timers since): since Kafka 4.0,
            // `registerBroker` calls `ReplicationControlManager.handleBrokerShutdown`, which
            // without eligible leader replicas treats the broker as if it was fenced, moving its
            // leaderships away before the new incarnation is registered (KAFKA-18106). Before,
            // the restarted broker kept leading in the old epoch with whatever its disk kept.
            if !existing.fenced {
                self.fence_broker(
                    req.broker_id,
                    "a new incarnation registered (Kafka 4.0 handles it as a fencing)".into(),
                );
            }
        }
        let epoch = BrokerEpoch(self.image.next_offset.0);
        self.commit(vec![MetadataRecord::RegisterBroker {
            broker_id: req.broker_id,
            broker_epoch: epoch,
            incarnation: req.incarnation,
        }]);
        self.sessions.insert(
            req.broker_id,
            Session {
                last_contact: now,
                metadata_offset: Offset(0),
            },
        );
        self.outbox.send(
            from,
            Message::BrokerRegistrationResponse(BrokerRegistrationResponse {
                error: None,
                broker_epoch: epoch,
                incarnation: req.incarnation,
            }),
        );
    }

    fn refuse_registration(
        &mut self,
        to: NodeId,
        broker: BrokerId,
        incarnation: u64,
        error: ErrorCode,
    ) {
        self.outbox
            .event(Event::BrokerRegistrationRefused { broker, error });
        self.outbox.send(
            to,
            Message::BrokerRegistrationResponse(BrokerRegistrationResponse {
                error: Some(error),
                broker_epoch: BrokerEpoch(0),
                incarnation,
            }),
        );
    }

    fn handle_heartbeat(&mut self, now: Instant, from: NodeId, req: BrokerHeartbeatRequest) {
        let reply =
            |c: &mut Controller, error: Option<ErrorCode>, caught_up: bool, fenced: bool| {
                c.outbox.send(
                    from,
                    Message::BrokerHeartbeatResponse(BrokerHeartbeatResponse {
                        error,
                        is_caught_up: caught_up,
                        is_fenced: fenced,
                    }),
                );
            };
        let Some(reg) = self.image.brokers.get(&req.broker_id).copied() else {
            return reply(self, Some(ErrorCode::BrokerIdNotRegistered), false, true);
        };
        if reg.epoch != req.broker_epoch {
            return reply(self, Some(ErrorCode::StaleBrokerEpoch), false, true);
        }
        self.sessions.insert(
            req.broker_id,
            Session {
                last_contact: now,
                metadata_offset: req.current_metadata_offset,
            },
        );
        // BrokerHeartbeatManager: a fenced broker is unfenced once its metadata has caught up
        // with its own registration record and it no longer asks to stay fenced.
        let caught_up = req.current_metadata_offset.0 > reg.epoch.0;
        if reg.fenced && caught_up && !req.want_fence {
            self.unfence_broker(req.broker_id, reg.epoch);
        }
        let fenced = self
            .image
            .brokers
            .get(&req.broker_id)
            .is_none_or(|b| b.fenced);
        reply(self, None, caught_up, fenced);
    }

    fn handle_fetch_metadata(&mut self, now: Instant, from: NodeId, req: FetchMetadataRequest) {
        if (req.fetch_offset.0 as usize) < self.disk.log.len() {
            self.answer_fetch(from, req.correlation, req.fetch_offset);
        } else {
            self.parked_fetches.retain(|p| p.from != from);
            self.parked_fetches.push(ParkedFetch {
                from,
                correlation: req.correlation,
                fetch_offset: req.fetch_offset,
                deadline: now + METADATA_FETCH_MAX_WAIT,
            });
        }
    }

    fn answer_fetch(&mut self, to: NodeId, correlation: CorrelationId, fetch_offset: Offset) {
        let start = (fetch_offset.0 as usize).min(self.disk.log.len());
        let end = (start + METADATA_FETCH_MAX_RECORDS).min(self.disk.log.len());
        self.outbox.send(
            to,
            Message::FetchMetadataResponse(FetchMetadataResponse {
                correlation,
                base_offset: Offset(start as u64),
                records: self.disk.log[start..end].to_vec(),
            }),
        );
    }

    /// Answers parked metadata fetches that have something new, or whose wait is over.
    fn serve_parked_fetches(&mut self, now: Instant) {
        let log_len = self.disk.log.len() as u64;
        let (ready, waiting): (Vec<ParkedFetch>, Vec<ParkedFetch>) =
            std::mem::take(&mut self.parked_fetches)
                .into_iter()
                .partition(|p| p.fetch_offset.0 < log_len || p.deadline <= now);
        self.parked_fetches = waiting;
        for p in ready {
            self.answer_fetch(p.from, p.correlation, p.fetch_offset);
        }
    }

    fn handle_alter_partition(&mut self, from: NodeId, req: AlterPartitionRequest) {
        let tp = req.topic_partition.clone();
        let respond = |c: &mut Controller, error: Option<ErrorCode>| {
            let state = match error {
                None => c.image.partition(&tp).map(|p| CommittedPartitionState {
                    leader: p.leader,
                    leader_epoch: p.leader_epoch,
                    isr: p.isr.clone(),
                    partition_epoch: p.partition_epoch,
                    leader_recovery_state: p.leader_recovery_state,
                }),
                Some(_) => None,
            };
            c.outbox.send(
                from,
                Message::AlterPartitionResponse(AlterPartitionResponse {
                    proposal: req.proposal,
                    topic_partition: tp.clone(),
                    error,
                    state,
                }),
            );
        };
        if self.image.brokers.get(&req.broker_id).map(|b| b.epoch) != Some(req.broker_epoch) {
            return respond(self, Some(ErrorCode::StaleBrokerEpoch));
        }
        let Some(p) = self.image.partition(&tp).cloned() else {
            return respond(self, Some(ErrorCode::UnknownTopicOrPartition));
        };
        if let Err(error) = validate_alter_partition(&self.image, &p, &req) {
            return respond(self, Some(error));
        }
        let target: Vec<BrokerId> = req.new_isr.iter().map(|(b, _)| *b).collect();
        let election = self.election_for(&tp.topic);
        let mut change = partition_change(
            &tp,
            &p,
            &target,
            election,
            |b| self.image.is_active(b),
            ChangeReason::AlterPartition,
        );
        if req.leader_recovery_state != p.leader_recovery_state {
            let r = change.get_or_insert_with(|| crate::metadata::PartitionChangeRecord {
                topic_partition: tp.clone(),
                leader: None,
                isr: None,
                leader_recovery_state: None,
                unclean: false,
                reason: ChangeReason::AlterPartition,
            });
            r.leader_recovery_state = Some(req.leader_recovery_state);
        }
        if let Some(r) = change {
            self.commit(vec![MetadataRecord::PartitionChange(r)]);
        }
        respond(self, None);
    }

    fn handle_allocate_producer_ids(&mut self, from: NodeId, req: AllocateProducerIdsRequest) {
        if self.image.brokers.get(&req.broker_id).map(|b| b.epoch) != Some(req.broker_epoch) {
            self.outbox.send(
                from,
                Message::AllocateProducerIdsResponse(AllocateProducerIdsResponse {
                    error: Some(ErrorCode::StaleBrokerEpoch),
                    first: ProducerId(0),
                    len: 0,
                }),
            );
            return;
        }
        let first = self.image.next_producer_id;
        self.commit(vec![MetadataRecord::ProducerIds {
            broker_id: req.broker_id,
            next_producer_id: ProducerId(first.0 + PRODUCER_ID_BLOCK_SIZE),
        }]);
        self.outbox.send(
            from,
            Message::AllocateProducerIdsResponse(AllocateProducerIdsResponse {
                error: None,
                first,
                len: PRODUCER_ID_BLOCK_SIZE,
            }),
        );
    }

    fn handle_create_topics(&mut self, from: NodeId, req: CreateTopicsRequest) {
        let mut results = Vec::new();
        for topic in req.topics {
            let result = self.create_topic(&topic);
            results.push((topic.name.clone(), result.err()));
        }
        self.outbox.send(
            from,
            Message::CreateTopicsResponse(CreateTopicsResponse {
                correlation: req.correlation,
                results,
            }),
        );
    }

    /// `ReplicationControlManager.createTopic` with a manual assignment: every replica must be a
    /// registered broker, each partition needs an unfenced replica, and the first unfenced
    /// replica leads.
    fn create_topic(&mut self, topic: &NewTopic) -> Result<(), (ErrorCode, String)> {
        if self.image.topics.contains_key(&topic.name) {
            return Err((
                ErrorCode::TopicAlreadyExists,
                format!("Topic '{}' already exists.", topic.name),
            ));
        }
        if topic.assignment.is_empty() {
            return Err((
                ErrorCode::InvalidPartitions,
                "Number of partitions must be at least 1.".into(),
            ));
        }
        let mut partitions = Vec::new();
        for (i, replicas) in topic.assignment.iter().enumerate() {
            if replicas.is_empty() {
                return Err((
                    ErrorCode::InvalidReplicationFactor,
                    "Replication factor must be at least 1.".into(),
                ));
            }
            let mut seen = replicas.clone();
            crate::sort::sort(&mut seen);
            seen.dedup();
            if seen.len() != replicas.len() {
                return Err((
                    ErrorCode::InvalidReplicaAssignment,
                    format!(
                        "The manual partition assignment for partition {i} includes a broker twice."
                    ),
                ));
            }
            if let Some(b) = replicas
                .iter()
                .find(|b| !self.image.brokers.contains_key(b))
            {
                return Err((
                    ErrorCode::InvalidReplicaAssignment,
                    format!(
                        "The manual partition assignment includes broker {b}, but no broker with that id is registered."
                    ),
                ));
            }
            let isr: Vec<BrokerId> = replicas
                .iter()
                .copied()
                .filter(|&b| self.image.is_active(b))
                .collect();
            if isr.is_empty() {
                return Err((
                    ErrorCode::InvalidReplicaAssignment,
                    format!(
                        "All brokers specified in the manual partition assignment for partition {i} are fenced or in controlled shutdown."
                    ),
                ));
            }
            partitions.push(PartitionRegistration {
                replicas: replicas.clone(),
                leader: Some(isr[0]),
                isr,
                leader_recovery_state: LeaderRecoveryState::Recovered,
                leader_epoch: crate::ids::LeaderEpoch(0),
                partition_epoch: crate::ids::PartitionEpoch(0),
            });
        }
        let topic_id = self.image.topics.len() as u64 + 1;
        let mut records = vec![MetadataRecord::Topic {
            name: topic.name.clone(),
            topic_id,
            config: topic.config.clone(),
        }];
        let count = partitions.len() as u32;
        for (i, registration) in partitions.into_iter().enumerate() {
            records.push(MetadataRecord::Partition {
                topic_partition: TopicPartition {
                    topic: topic.name.clone(),
                    partition: i as u32,
                },
                registration,
            });
        }
        self.commit(records);
        self.outbox.event(Event::TopicCreated {
            topic: topic.name.clone(),
            partitions: count,
        });
        Ok(())
    }

    fn handle_alter_config(&mut self, from: NodeId, req: AlterTopicConfigRequest) {
        let result = match self.image.topic_config(&req.topic) {
            None => Err((
                ErrorCode::UnknownTopicOrPartition,
                format!("Topic {} does not exist.", req.topic),
            )),
            Some(config) => {
                let mut config: TopicConfig = config.clone();
                match config.set(&req.key, &req.value) {
                    Ok(()) => Ok(config),
                    Err(e) => Err((ErrorCode::InvalidConfig, e.to_string())),
                }
            }
        };
        let error = match result {
            Ok(config) => {
                self.commit(vec![MetadataRecord::TopicConfig {
                    topic: req.topic.clone(),
                    config,
                }]);
                self.outbox.event(Event::TopicConfigChanged {
                    topic: req.topic.clone(),
                    key: req.key.clone(),
                    value: req.value.clone(),
                });
                None
            }
            Err(e) => Some(e),
        };
        self.outbox.send(
            from,
            Message::AlterTopicConfigResponse(AlterTopicConfigResponse {
                correlation: req.correlation,
                error,
            }),
        );
    }

    /// `ReplicationControlManager.electLeaders`: a preferred election is not needed when the
    /// preferred replica leads, an unclean one when the partition has a leader.
    fn handle_elect_leaders(&mut self, from: NodeId, req: ElectLeadersRequest) {
        let mut results = Vec::new();
        for tp in req.partitions {
            let error = self.elect_one(&tp, req.election);
            results.push((tp, error));
        }
        self.outbox.send(
            from,
            Message::ElectLeadersResponse(ElectLeadersResponse {
                correlation: req.correlation,
                results,
            }),
        );
    }

    fn elect_one(&mut self, tp: &TopicPartition, election: ElectionType) -> Option<ErrorCode> {
        let Some(p) = self.image.partition(tp).cloned() else {
            return Some(ErrorCode::UnknownTopicOrPartition);
        };
        let (kind, reason) = match election {
            ElectionType::Preferred => {
                if p.leader.is_some() && p.leader == p.replicas.first().copied() {
                    return Some(ErrorCode::ElectionNotNeeded);
                }
                (Election::Preferred, ChangeReason::PreferredElection)
            }
            ElectionType::Unclean => {
                if p.leader.is_some() {
                    return Some(ErrorCode::ElectionNotNeeded);
                }
                (Election::Unclean, ChangeReason::UncleanElection)
            }
        };
        match partition_change(tp, &p, &p.isr, kind, |b| self.image.is_active(b), reason) {
            Some(r) if r.leader.is_some() => {
                self.commit(vec![MetadataRecord::PartitionChange(r)]);
                None
            }
            _ => Some(match election {
                ElectionType::Preferred => ErrorCode::PreferredLeaderNotAvailable,
                ElectionType::Unclean => ErrorCode::EligibleLeadersNotAvailable,
            }),
        }
    }

    fn handle_timers(&mut self, now: Instant) {
        // Fence brokers whose sessions expired, oldest contact first, one at a time as
        // `maybeFenceOneStaleBroker` does.
        loop {
            let stale = self
                .sessions
                .iter()
                .filter(|(id, s)| {
                    s.last_contact + self.config.broker_session_timeout < now
                        && self.image.brokers.get(id).is_some_and(|b| !b.fenced)
                })
                .min_by_key(|(id, s)| (s.last_contact, **id))
                .map(|(id, _)| *id);
            let Some(broker) = stale else { break };
            self.fence_broker(
                broker,
                format!(
                    "no heartbeat for broker.session.timeout.ms ({})",
                    self.config.broker_session_timeout
                ),
            );
        }
        if self.next_unclean_check.is_some_and(|t| t <= now) {
            self.next_unclean_check = None;
            // `maybeElectUncleanLeaders`: only topics that allow it, and only uncleanly.
            self.elect_leaderless(
                |image, t| {
                    (election_for(image, t) == Election::Unclean).then_some(Election::Unclean)
                },
                ChangeReason::UncleanElection,
            );
        }
        if self.next_balance_check.is_some_and(|t| t <= now) {
            self.next_balance_check = None;
            self.balance_leaders();
        }
        self.serve_parked_fetches(now);
    }

    /// `QuorumController.maybeScheduleNextElectUncleanLeaders` and the leader-imbalance schedule:
    /// after every write, a periodic task is armed when there is work for it (a leaderless
    /// partition; a partition not led by its preferred replica) and it is not armed already.
    fn schedule_tasks(&mut self, now: Instant) {
        if self.next_unclean_check.is_none()
            && self.image.partitions().any(|(_, p)| p.leader.is_none())
        {
            self.next_unclean_check = Some(now + self.config.unclean_leader_election_interval);
        }
        if self.next_balance_check.is_none()
            && self.config.auto_leader_rebalance_enable
            && self
                .image
                .partitions()
                .any(|(_, p)| p.leader != p.replicas.first().copied())
        {
            self.next_balance_check = Some(now + self.config.leader_imbalance_check_interval);
        }
    }

    /// `maybeBalancePartitionLeaders`: a preferred election for every partition whose leader is
    /// not its preferred replica while the preferred replica could lead.
    fn balance_leaders(&mut self) {
        let imbalanced: Vec<(TopicPartition, PartitionRegistration)> = self
            .image
            .partitions()
            .filter(|(_, p)| p.leader != p.replicas.first().copied())
            .map(|(tp, p)| (tp, p.clone()))
            .collect();
        let mut records = Vec::new();
        for (tp, p) in imbalanced {
            if let Some(r) = partition_change(
                &tp,
                &p,
                &p.isr,
                Election::Preferred,
                |b| self.image.is_active(b),
                ChangeReason::PreferredElection,
            ) {
                records.push(MetadataRecord::PartitionChange(r));
            }
        }
        self.commit(records);
    }
}

/// The election a topic allows when its leader must change: unclean where
/// `unclean.leader.election.enable` is true (KRaft honours it from Kafka 3.9, KAFKA-12670).
fn election_for(image: &MetadataImage, topic: &TopicName) -> Election {
    if image
        .topic_config(topic)
        .is_some_and(|c| c.unclean_leader_election_enable)
    {
        Election::Unclean
    } else {
        Election::Online
    }
}

/// The checks of `ReplicationControlManager.validateAlterPartitionData`, in Kafka's order
/// (docs/kafka-source-notes.md, question 5). It never answers NOT_LEADER_OR_FOLLOWER: a request
/// from a non-leader is INVALID_REQUEST, and one ahead of the controller is NOT_CONTROLLER.
fn validate_alter_partition(
    image: &MetadataImage,
    p: &PartitionRegistration,
    req: &AlterPartitionRequest,
) -> Result<(), ErrorCode> {
    if req.leader_epoch > p.leader_epoch || req.partition_epoch > p.partition_epoch {
        return Err(ErrorCode::NotController);
    }
    if req.leader_epoch < p.leader_epoch {
        return Err(ErrorCode::FencedLeaderEpoch);
    }
    if p.leader != Some(req.broker_id) {
        return Err(ErrorCode::InvalidRequest);
    }
    if req.partition_epoch < p.partition_epoch {
        return Err(ErrorCode::InvalidUpdateVersion);
    }
    let mut members: Vec<BrokerId> = req.new_isr.iter().map(|(b, _)| *b).collect();
    crate::sort::sort(&mut members);
    members.dedup();
    if members.len() != req.new_isr.len() || members.iter().any(|b| !p.replicas.contains(b)) {
        return Err(ErrorCode::InvalidRequest);
    }
    if !members.contains(&req.broker_id) {
        return Err(ErrorCode::InvalidRequest);
    }
    if req.leader_recovery_state == LeaderRecoveryState::Recovering && req.new_isr.len() > 1 {
        return Err(ErrorCode::InvalidRequest);
    }
    if p.leader_recovery_state == LeaderRecoveryState::Recovered
        && req.leader_recovery_state == LeaderRecoveryState::Recovering
    {
        return Err(ErrorCode::InvalidRequest);
    }
    for (b, epoch) in &req.new_isr {
        match image.brokers.get(b) {
            Some(reg) if !reg.fenced && epoch.is_none_or(|e| e == reg.epoch) => {}
            _ => return Err(ErrorCode::IneligibleReplica),
        }
    }
    Ok(())
}

impl Node for Controller {
    fn handle(&mut self, now: Instant, input: Input) {
        self.now = now;
        match input {
            Input::Start => self.start(now),
            _ if !self.started => return,
            Input::Message { from, message } => match message {
                Message::BrokerRegistration(r) => self.handle_registration(now, from, r),
                Message::BrokerHeartbeat(r) => self.handle_heartbeat(now, from, r),
                Message::FetchMetadata(r) => self.handle_fetch_metadata(now, from, r),
                Message::AlterPartition(r) => self.handle_alter_partition(from, r),
                Message::AllocateProducerIds(r) => self.handle_allocate_producer_ids(from, r),
                Message::CreateTopics(r) => self.handle_create_topics(from, r),
                Message::AlterTopicConfig(r) => self.handle_alter_config(from, r),
                Message::ElectLeaders(r) => self.handle_elect_leaders(from, r),
                _ => {} // not a controller API; a real controller would close the connection
            },
            Input::Timeout | Input::Writeback | Input::Command(_) | Input::Disconnected { .. } => {}
        }
        // Every input also runs what is due, so `poll_timeout` only reports later deadlines.
        self.handle_timers(now);
        self.schedule_tasks(now);
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.outbox.pop()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if !self.started {
            return None;
        }
        let mut d = Deadlines::after(self.now);
        d.all(
            self.sessions
                .iter()
                .filter(|(id, _)| self.image.brokers.get(id).is_some_and(|b| !b.fenced))
                .map(|(_, s)| s.last_contact + self.config.broker_session_timeout + Duration(1)),
        );
        d.all(self.parked_fetches.iter().map(|p| p.deadline));
        d.at(self.next_unclean_check);
        d.at(self.next_balance_check);
        d.earliest()
    }
}
