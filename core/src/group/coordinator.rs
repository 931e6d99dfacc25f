//! The group coordinator of the classic protocol, as every broker runs it for the
//! `__consumer_offsets` partitions it leads (`GroupMetadataManager`, `ClassicGroup`,
//! `OffsetMetadataManager` in Kafka's `group-coordinator` module; KAFKA.md 5.1 and 5.4).
//!
//! The coordinator is a pure state machine beside the broker's partitions. Requests come in
//! with the time; answers and events go to the broker's outbox; writes go through
//! [`OffsetsLog`], which appends to the offsets partition as its leader with acks=1, the way
//! `CoordinatorPartitionWriter.append` does. A write's answer waits until the partition's high
//! watermark passes it (the coordinator runtime's deferred events), so a committed offset or
//! an assignment is acknowledged only once it is replicated as far as the HW rule demands;
//! it fails after `offsets.commit.timeout.ms` with COORDINATOR_NOT_AVAILABLE.
//!
//! Deliberate simplifications, each documented in `docs/deviations.md`:
//! - loading a partition is instant (Kafka answers COORDINATOR_LOAD_IN_PROGRESS meanwhile);
//! - state changes apply when the record is appended and are not rolled back when a write
//!   times out (Kafka's runtime reverts to the last committed snapshot); leadership loss unloads
//!   the whole partition, which is where a rollback would matter most;
//! - only the classic protocol; KIP-848's consumer protocol is not modelled.

use crate::error::ErrorCode;
use crate::group::assignor::java::JavaHashMap;
use crate::group::records::{GroupValue, MemberValue, OffsetValue, OffsetsRecord};
use crate::group::{CONSUMER_PROTOCOL_TYPE, coordinator_partition};
use crate::ids::{LeaderEpoch, NodeId, Offset, ProducerEpoch, ProducerId, TopicPartition};
use crate::map::{VecMap, VecSet};
use crate::node::{Event, Outbox};
use crate::protocol::*;
use crate::record::{MarkerKind, Record, RecordBatch};
use crate::rng::Rng;
use crate::time::{Duration, Instant};
use serde::{Deserialize, Serialize};

/// Appends to `__consumer_offsets` partitions this broker leads.
pub trait OffsetsLog {
    /// Appends `records` to offsets partition `partition` as its leader, without the min-ISR
    /// check (acks=1); returns the offset after the last record.
    fn append(&mut self, partition: u32, records: Vec<Record>) -> Result<Offset, ErrorCode>;

    /// Appends `records` as one transactional batch of producer `producer_id` at
    /// `producer_epoch` (origin COORDINATOR: the epoch is checked, sequences are not), as the
    /// runtime writes a TxnOffsetCommit; returns the offset after the last record.
    fn append_transactional(
        &mut self,
        partition: u32,
        records: Vec<Record>,
        producer_id: ProducerId,
        producer_epoch: ProducerEpoch,
    ) -> Result<Offset, ErrorCode>;
}

/// The coordinator's settings (from the broker's configuration, KAFKA.md 9.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoordinatorConfig {
    /// `offsets.topic.num.partitions`.
    pub partitions: u32,
    /// `group.initial.rebalance.delay.ms`.
    pub initial_rebalance_delay: Duration,
    /// `group.min.session.timeout.ms`.
    pub min_session_timeout: Duration,
    /// `group.max.session.timeout.ms`.
    pub max_session_timeout: Duration,
    /// `classicGroupNewMemberJoinTimeoutMs`.
    pub new_member_join_timeout: Duration,
    /// `offsets.commit.timeout.ms`.
    pub commit_timeout: Duration,
}

impl CoordinatorConfig {
    /// The settings a broker configuration names.
    pub fn from_broker(c: &crate::config::BrokerConfig) -> CoordinatorConfig {
        CoordinatorConfig {
            partitions: c.offsets_topic_num_partitions,
            initial_rebalance_delay: c.group_initial_rebalance_delay,
            min_session_timeout: c.group_min_session_timeout,
            max_session_timeout: c.group_max_session_timeout,
            new_member_join_timeout: c.group_new_member_join_timeout,
            commit_timeout: c.offsets_commit_timeout,
        }
    }
}

/// `ClassicGroupState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum GroupState {
    /// No members; committed offsets may remain.
    Empty,
    /// Collecting JoinGroups for the next generation.
    PreparingRebalance,
    /// Waiting for the leader's assignment.
    CompletingRebalance,
    /// The assignment is out.
    Stable,
    /// Removed.
    Dead,
}

impl GroupState {
    /// Kafka's name, as `kafka-consumer-groups --describe --state` prints it.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// A committed offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The next offset to consume.
    pub offset: Offset,
    /// The leader epoch of the last consumed record.
    pub leader_epoch: Option<LeaderEpoch>,
    /// Where the record that holds it sits in `__consumer_offsets`: when plain and
    /// transactional commits mix, the later record wins (`OffsetAndMetadata.recordOffset`).
    pub record_offset: Offset,
}

/// A transactional offset commit waiting for its transaction's marker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingTxnOffset {
    /// The group.
    pub group: String,
    /// The partition whose offset is committed.
    pub topic_partition: TopicPartition,
    /// The offset, once the transaction commits.
    pub offset: CommittedOffset,
}

/// A member of a classic group (`ClassicGroupMember`).
#[derive(Clone, Debug)]
pub struct Member {
    /// The member id.
    pub member_id: String,
    /// Its `group.instance.id`.
    pub group_instance_id: Option<String>,
    /// Its client id.
    pub client_id: String,
    /// The node answers go to (the member's latest request came from it).
    pub node: NodeId,
    /// Its rebalance timeout.
    pub rebalance_timeout: Duration,
    /// Its session timeout.
    pub session_timeout: Duration,
    /// Its assignors with their subscriptions, in its order of preference.
    pub protocols: Vec<GroupProtocol>,
    /// Its assignment in the current generation.
    pub assignment: Vec<TopicPartition>,
    awaiting_join: Option<(NodeId, CorrelationId)>,
    awaiting_sync: Option<(NodeId, CorrelationId)>,
    is_new: bool,
    heartbeat_deadline: Option<Instant>,
}

impl Member {
    /// `hasSatisfiedHeartbeat`: a member waiting in a rebalance counts as alive, a new one not.
    fn has_satisfied_heartbeat(&self) -> bool {
        !self.is_new && (self.awaiting_join.is_some() || self.awaiting_sync.is_some())
    }

    fn matches(&self, protocols: &[GroupProtocol]) -> bool {
        self.protocols == protocols
    }

    /// `vote`: the first of its protocols among the candidates.
    fn vote<'a>(&'a self, candidates: &VecSet<&str>) -> Option<&'a str> {
        self.protocols
            .iter()
            .map(|p| p.name.as_str())
            .find(|n| candidates.contains(n))
    }

    /// Its subscription for `protocol`.
    pub fn subscription(&self, protocol: Option<&str>) -> Option<&GroupProtocol> {
        self.protocols
            .iter()
            .find(|p| Some(p.name.as_str()) == protocol)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JoinTimer {
    /// The initial rebalance delay (`tryCompleteInitialRebalanceElseSchedule`).
    Initial {
        delay: Duration,
        remaining: Duration,
    },
    /// The rebalance timeout.
    Rebalance,
}

/// A classic group (`ClassicGroup`).
#[derive(Clone, Debug)]
pub struct Group {
    /// The group id.
    pub group_id: String,
    /// The state.
    pub state: GroupState,
    previous_state: GroupState,
    /// The generation.
    pub generation: i32,
    /// The protocol type (`consumer`).
    pub protocol_type: Option<String>,
    /// The chosen assignor.
    pub protocol_name: Option<String>,
    /// The leader's member id.
    pub leader: Option<String>,
    /// The members, in the iteration order of Kafka's `HashMap` of members (kept by
    /// `member_map`). That order decides who becomes leader when the leader leaves, the order of
    /// the members in the leader's JoinGroup response (which the assignors see) and ties in the
    /// protocol vote.
    pub members: Vec<Member>,
    /// Kafka's `members` map replayed with the same `put` and `remove` calls.
    member_map: JavaHashMap<String, ()>,
    pending_members: VecMap<String, Instant>,
    pending_sync: VecSet<String>,
    new_member_added: bool,
    join_timer: Option<(Instant, JoinTimer)>,
    sync_deadline: Option<(Instant, i32)>,
    /// Committed offsets.
    pub offsets: VecMap<TopicPartition, CommittedOffset>,
}

impl Group {
    fn new(group_id: &str) -> Group {
        Group {
            group_id: group_id.to_string(),
            state: GroupState::Empty,
            previous_state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: Vec::new(),
            member_map: JavaHashMap::new(),
            pending_members: VecMap::new(),
            pending_sync: VecSet::new(),
            new_member_added: false,
            join_timer: None,
            sync_deadline: None,
            offsets: VecMap::new(),
        }
    }

    /// A member by id.
    pub fn member(&self, member_id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.member_id == member_id)
    }

    fn member_mut(&mut self, member_id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.member_id == member_id)
    }

    fn has_member(&self, member_id: &str) -> bool {
        self.member(member_id).is_some()
    }

    fn static_member_id(&self, instance: &str) -> Option<&str> {
        self.members
            .iter()
            .find(|m| m.group_instance_id.as_deref() == Some(instance))
            .map(|m| m.member_id.as_str())
    }

    /// `members.put`: adds a member and puts the list back in the map's order.
    fn put_member(&mut self, member: Member) {
        self.member_map.insert(member.member_id.clone(), ());
        self.members.push(member);
        let order: Vec<&String> = self.member_map.keys().collect();
        crate::sort::sort_by_key(&mut self.members, |m| {
            order.iter().position(|k| **k == m.member_id)
        });
    }

    /// `members.remove`: the others keep their order.
    fn take_member(&mut self, member_id: &str) -> Option<Member> {
        self.member_map.remove(&member_id.to_string());
        let i = self.members.iter().position(|m| m.member_id == member_id)?;
        Some(self.members.remove(i))
    }

    fn transition(&mut self, state: GroupState, out: &mut Outbox) {
        self.previous_state = self.state;
        self.state = state;
        out.event(Event::GroupStateChanged {
            group: self.group_id.clone(),
            state,
            generation: self.generation,
        });
    }

    fn rebalance_timeout(&self) -> Duration {
        self.members
            .iter()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or(Duration(0))
    }

    fn awaiting_join_count(&self) -> usize {
        self.members
            .iter()
            .filter(|m| m.awaiting_join.is_some())
            .count()
    }

    /// `hasAllMembersJoined`.
    fn all_members_joined(&self) -> bool {
        self.members.len() == self.awaiting_join_count() && self.pending_members.is_empty()
    }

    /// `candidateProtocols`: the assignors every member supports.
    fn candidate_protocols(&self) -> VecSet<&str> {
        let Some(first) = self.members.first() else {
            return VecSet::new();
        };
        first
            .protocols
            .iter()
            .map(|p| p.name.as_str())
            .filter(|n| {
                self.members
                    .iter()
                    .all(|m| m.protocols.iter().any(|p| p.name == *n))
            })
            .collect()
    }

    /// `supportsProtocols`: an empty group takes any non-empty list; otherwise the type must
    /// match and one of the member's assignors must be supported by every member.
    fn supports_protocols(&self, protocol_type: &str, protocols: &[GroupProtocol]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|p| {
                self.members
                    .iter()
                    .all(|m| m.protocols.iter().any(|q| q.name == p.name))
            })
    }

    /// `selectProtocol`: each member votes for its first candidate; the most votes win, ties
    /// going to the first in Java `HashMap` order of the names (`Stream.max` keeps the first).
    fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: JavaHashMap<String, u32> = JavaHashMap::new();
        for vote in self.members.iter().filter_map(|m| m.vote(&candidates)) {
            let vote = vote.to_string();
            let count = votes.get(&vote).copied().unwrap_or(0);
            votes.insert(vote, count + 1);
        }
        let mut best: Option<(&String, u32)> = None;
        for (name, &count) in votes.iter() {
            if best.is_none_or(|(_, b)| count > b) {
                best = Some((name, count));
            }
        }
        best.map(|(n, _)| n.clone())
    }

    /// `validateMember`: a static member's instance must map to this member id.
    fn validate_member(&self, member_id: &str, instance: Option<&str>) -> Result<(), ErrorCode> {
        if let Some(instance) = instance {
            match self.static_member_id(instance) {
                None => return Err(ErrorCode::UnknownMemberId),
                Some(existing) if existing != member_id => {
                    return Err(ErrorCode::FencedInstanceId);
                }
                Some(_) => {}
            }
        }
        if self.has_member(member_id) {
            Ok(())
        } else {
            Err(ErrorCode::UnknownMemberId)
        }
    }

    fn add_member(&mut self, member: Member) {
        if self.members.is_empty() {
            self.protocol_type = Some(CONSUMER_PROTOCOL_TYPE.to_string());
        }
        if self.leader.is_none() {
            self.leader = Some(member.member_id.clone());
        }
        self.pending_members.remove(&member.member_id);
        self.put_member(member);
    }

    /// `ClassicGroup.remove`: a removed leader is replaced by the first member in map order.
    fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        let removed = self.take_member(member_id);
        if self.leader.as_deref() == Some(member_id) {
            self.leader = self.members.first().map(|m| m.member_id.clone());
        }
        self.pending_members.remove(member_id);
        self.pending_sync.remove(member_id);
        removed
    }

    /// `maybeElectNewJoinedLeader`.
    fn elect_joined_leader(&mut self) -> bool {
        let Some(leader) = self.leader.clone() else {
            return false;
        };
        if self
            .member(&leader)
            .is_some_and(|m| m.awaiting_join.is_some())
        {
            return true;
        }
        let next = self.members.iter().find(|m| m.awaiting_join.is_some());
        match next {
            Some(m) => {
                self.leader = Some(m.member_id.clone());
                true
            }
            None => false,
        }
    }

    /// The group's metadata record.
    fn metadata_record(&self) -> OffsetsRecord {
        OffsetsRecord::Group(
            self.group_id.clone(),
            Some(GroupValue {
                protocol_type: self.protocol_type.clone(),
                generation: self.generation,
                protocol: self.protocol_name.clone(),
                leader: self.leader.clone(),
                members: self
                    .members
                    .iter()
                    .map(|m| MemberValue {
                        member_id: m.member_id.clone(),
                        group_instance_id: m.group_instance_id.clone(),
                        client_id: m.client_id.clone(),
                        rebalance_timeout: m.rebalance_timeout,
                        session_timeout: m.session_timeout,
                        subscription: m.subscription(self.protocol_name.as_deref()).cloned(),
                        assignment: m.assignment.clone(),
                    })
                    .collect(),
            }),
        )
    }

    fn join_response(&self, member_id: &str, correlation: CorrelationId) -> JoinGroupResponse {
        let leader = self.leader.clone().unwrap_or_default();
        let members = if leader == member_id {
            self.current_members()
        } else {
            Vec::new()
        };
        JoinGroupResponse {
            correlation,
            error: None,
            generation_id: self.generation,
            protocol_name: self.protocol_name.clone(),
            leader,
            member_id: member_id.to_string(),
            members,
        }
    }

    /// `currentClassicGroupMembers`: every member with its subscription for the chosen
    /// assignor, static ones included even if they have not rejoined.
    fn current_members(&self) -> Vec<JoinGroupMember> {
        self.members
            .iter()
            .filter_map(|m| {
                Some(JoinGroupMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    metadata: m
                        .subscription(self.protocol_name.as_deref())?
                        .metadata
                        .clone(),
                })
            })
            .collect()
    }
}

/// What to do when a write reaches the high watermark (or fails).
#[derive(Clone, Debug)]
enum Deferred {
    /// Answer an offset commit (a TxnOffsetCommit when `transactional`).
    Commit {
        to: NodeId,
        correlation: CorrelationId,
        group: String,
        offsets: Vec<(TopicPartition, Offset)>,
        transactional: bool,
    },
    /// The leader's SyncGroup: hand out the assignment and become Stable.
    Sync {
        group: String,
        generation: i32,
        assignment: VecMap<String, Vec<TopicPartition>>,
    },
    /// A static member replaced its old id in a Stable group: answer its JoinGroup.
    StaticRejoin {
        group: String,
        member_id: String,
        to: NodeId,
        correlation: CorrelationId,
    },
}

#[derive(Clone, Debug)]
struct PendingWrite {
    required: Offset,
    deadline: Instant,
    action: Deferred,
}

/// The groups of one `__consumer_offsets` partition.
#[derive(Clone, Debug, Default)]
pub struct Shard {
    /// The groups, by id.
    pub groups: VecMap<String, Group>,
    /// Transactional offset commits whose transaction has no marker here yet, by producer id
    /// (`OffsetMetadataManager.pendingTransactionalOffsets`).
    pub pending_txn_offsets: VecMap<ProducerId, Vec<PendingTxnOffset>>,
    writes: Vec<PendingWrite>,
}

impl Shard {
    /// Applies one record of the partition, at `record_offset`, written in the transaction of
    /// `txn` if it is transactional (`GroupMetadataManager.replay`,
    /// `OffsetMetadataManager.replay`).
    fn replay(&mut self, record_offset: Offset, record: OffsetsRecord, txn: Option<ProducerId>) {
        match record {
            OffsetsRecord::Offset(group, tp, Some(v)) => {
                let offset = CommittedOffset {
                    offset: v.offset,
                    leader_epoch: v.leader_epoch,
                    record_offset,
                };
                match txn {
                    Some(producer_id) => self
                        .pending_txn_offsets
                        .entry(producer_id)
                        .or_default()
                        .push(PendingTxnOffset {
                            group,
                            topic_partition: tp,
                            offset,
                        }),
                    None => {
                        self.group_or_new(&group).offsets.insert(tp, offset);
                    }
                }
            }
            OffsetsRecord::Offset(group, tp, None) => {
                // A tombstone also drops the partition's pending transactional commits.
                for pending in self.pending_txn_offsets.values_mut() {
                    pending.retain(|p| p.group != group || p.topic_partition != tp);
                }
                self.group_or_new(&group).offsets.remove(&tp);
            }
            OffsetsRecord::Group(group, Some(value)) => {
                replay_group(self.group_or_new(&group), value)
            }
            OffsetsRecord::Group(group, None) => {
                self.groups.remove(&group);
            }
        }
    }

    fn group_or_new(&mut self, group: &str) -> &mut Group {
        self.groups
            .entry(group.to_owned())
            .or_insert_with(|| Group::new(group))
    }

    /// A transaction's marker: its pending offsets become the committed ones (each only if
    /// no later record committed the partition) or are dropped
    /// (`OffsetMetadataManager.replayEndTransactionMarker`).
    fn end_transaction(&mut self, producer_id: ProducerId, commit: bool) -> Vec<PendingTxnOffset> {
        let Some(pending) = self.pending_txn_offsets.remove(&producer_id) else {
            return Vec::new();
        };
        if !commit {
            return Vec::new();
        }
        let mut applied = Vec::new();
        for p in pending {
            let g = self.group_or_new(&p.group);
            let newer = g
                .offsets
                .get(&p.topic_partition)
                .is_none_or(|c| p.offset.record_offset > c.record_offset);
            if newer {
                g.offsets.insert(p.topic_partition.clone(), p.offset);
                applied.push(p);
            }
        }
        applied
    }

    /// Whether a transactional commit of `tp` for `group` waits for its marker
    /// (`hasPendingTransactionalOffsets`).
    fn has_pending(&self, group: &str, tp: &TopicPartition) -> bool {
        self.pending_txn_offsets
            .values()
            .flatten()
            .any(|p| p.group == group && &p.topic_partition == tp)
    }
}

/// The group coordinator of one broker.
#[derive(Clone, Debug)]
pub struct GroupCoordinator {
    config: CoordinatorConfig,
    shards: VecMap<u32, Shard>,
    rng: Rng,
}

impl GroupCoordinator {
    /// A coordinator with no partitions loaded.
    pub fn new(config: CoordinatorConfig, seed: u64) -> GroupCoordinator {
        GroupCoordinator {
            config,
            shards: VecMap::new(),
            rng: Rng::new(seed),
        }
    }

    /// The loaded shards, by offsets partition.
    pub fn shards(&self) -> &VecMap<u32, Shard> {
        &self.shards
    }

    /// A group this broker coordinates.
    pub fn group(&self, group_id: &str) -> Option<&Group> {
        self.shards
            .get(&self.partition_for(group_id))?
            .groups
            .get(group_id)
    }

    /// The offsets partition of `group_id`.
    pub fn partition_for(&self, group_id: &str) -> u32 {
        coordinator_partition(group_id, self.config.partitions)
    }

    /// Whether this broker coordinates offsets partition `partition`.
    pub fn is_loaded(&self, partition: u32) -> bool {
        self.shards.contains_key(&partition)
    }

    /// Becomes the coordinator of `partition`: replays its records (`GroupMetadataManager.replay`)
    /// and starts every member's session timer (`onLoaded`).
    pub fn load<'a>(
        &mut self,
        now: Instant,
        partition: u32,
        batches: impl Iterator<Item = &'a RecordBatch>,
        out: &mut Outbox,
    ) {
        let mut shard = Shard::default();
        for batch in batches {
            if let (Some(marker), Some(p)) = (batch.control, batch.producer) {
                shard.end_transaction(p.producer_id, marker.kind == MarkerKind::Commit);
                continue;
            }
            let txn = batch
                .producer
                .filter(|p| p.transactional)
                .map(|p| p.producer_id);
            for (record_offset, record) in batch.records_with_offsets() {
                if let Some(r) = OffsetsRecord::decode(record) {
                    shard.replay(record_offset, r, txn);
                }
            }
        }
        for g in shard.groups.values_mut() {
            for m in &mut g.members {
                m.heartbeat_deadline = Some(now + m.session_timeout);
            }
        }
        out.event(Event::CoordinatorLoaded {
            partition,
            groups: shard.groups.len() as u32,
        });
        self.shards.insert(partition, shard);
    }

    /// Stops coordinating `partition` (leadership moved): every parked request is answered
    /// NOT_COORDINATOR, so that its member finds the new coordinator.
    pub fn unload(&mut self, partition: u32, out: &mut Outbox) {
        let Some(shard) = self.shards.remove(&partition) else {
            return;
        };
        for w in shard.writes {
            fail_write(w.action, ErrorCode::NotCoordinator, &mut VecMap::new(), out);
        }
        for g in shard.groups.into_values() {
            for m in g.members {
                if let Some((to, correlation)) = m.awaiting_join {
                    out.send(
                        to,
                        Message::JoinGroupResponse(join_error(
                            correlation,
                            &m.member_id,
                            ErrorCode::NotCoordinator,
                        )),
                    );
                }
                if let Some((to, correlation)) = m.awaiting_sync {
                    out.send(
                        to,
                        Message::SyncGroupResponse(sync_error(
                            correlation,
                            ErrorCode::NotCoordinator,
                        )),
                    );
                }
            }
        }
        out.event(Event::CoordinatorUnloaded { partition });
    }

    /// The next time a timer fires.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut earliest: Option<Instant> = None;
        let mut at = |t: Instant| earliest = Some(earliest.map_or(t, |e| e.min(t)));
        for shard in self.shards.values() {
            for w in &shard.writes {
                at(w.deadline);
            }
            for g in shard.groups.values() {
                if let Some((t, _)) = g.join_timer {
                    at(t);
                }
                if let Some((t, _)) = g.sync_deadline {
                    at(t);
                }
                for &t in g.pending_members.values() {
                    at(t);
                }
                for m in &g.members {
                    if let Some(t) = m.heartbeat_deadline {
                        at(t);
                    }
                }
            }
        }
        earliest
    }

    /// Runs every timer due at `now`.
    pub fn on_timers(&mut self, now: Instant, log: &mut dyn OffsetsLog, out: &mut Outbox) {
        let partitions: Vec<u32> = self.shards.keys().copied().collect();
        for p in partitions {
            // Writes that waited too long for the high watermark.
            let shard = self.shards.get_mut(&p).expect("listed");
            let (expired, kept): (Vec<PendingWrite>, Vec<PendingWrite>) =
                std::mem::take(&mut shard.writes)
                    .into_iter()
                    .partition(|w| w.deadline <= now);
            shard.writes = kept;
            for w in expired {
                let shard = self.shards.get_mut(&p).expect("listed");
                fail_write(
                    w.action,
                    ErrorCode::CoordinatorNotAvailable,
                    &mut shard.groups,
                    out,
                );
            }
            let ids: Vec<String> = self.shards[&p].groups.keys().cloned().collect();
            for id in ids {
                self.group_timers(now, p, &id, log, out);
            }
        }
    }

    fn group_timers(
        &mut self,
        now: Instant,
        p: u32,
        id: &str,
        log: &mut dyn OffsetsLog,
        out: &mut Outbox,
    ) {
        let Some(g) = self.group_mut(p, id) else {
            return;
        };
        // Session expiry of pending (MEMBER_ID_REQUIRED) members.
        let expired: Vec<String> = g
            .pending_members
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(m, _)| m.clone())
            .collect();
        for m in expired {
            let g = self.group_mut(p, id).expect("present");
            g.pending_members.remove(&m);
            if g.state == GroupState::PreparingRebalance && g.all_members_joined() {
                self.complete_join(now, p, id, log, out);
            }
        }
        // Session expiry of members (`expireClassicGroupMemberHeartbeat`).
        let due: Vec<String> = self
            .group_mut(p, id)
            .map(|g| {
                g.members
                    .iter()
                    .filter(|m| m.heartbeat_deadline.is_some_and(|t| t <= now))
                    .map(|m| m.member_id.clone())
                    .collect()
            })
            .unwrap_or_default();
        for m in due {
            let Some(g) = self.group_mut(p, id) else {
                return;
            };
            let Some(member) = g.member_mut(&m) else {
                continue;
            };
            member.heartbeat_deadline = None;
            if member.has_satisfied_heartbeat() {
                continue;
            }
            self.remove_member_and_update(now, p, id, &m, "session timeout expired", log, out);
        }
        // The join phase's timer.
        if let Some((t, kind)) = self.group_mut(p, id).and_then(|g| g.join_timer)
            && t <= now
        {
            let initial_delay = self.config.initial_rebalance_delay;
            let g = self.group_mut(p, id).expect("present");
            g.join_timer = None;
            match kind {
                JoinTimer::Initial { delay, remaining }
                    if g.new_member_added && remaining > Duration(0) =>
                {
                    g.new_member_added = false;
                    let new_delay = initial_delay.min(remaining);
                    let new_remaining = Duration(remaining.0.saturating_sub(delay.0));
                    g.join_timer = Some((
                        now + new_delay,
                        JoinTimer::Initial {
                            delay: new_delay,
                            remaining: new_remaining,
                        },
                    ));
                }
                _ => self.complete_join(now, p, id, log, out),
            }
        }
        // Members that never sent their SyncGroup (`expirePendingSync`).
        if let Some((t, generation)) = self.group_mut(p, id).and_then(|g| g.sync_deadline)
            && t <= now
        {
            let g = self.group_mut(p, id).expect("present");
            g.sync_deadline = None;
            if generation == g.generation
                && matches!(
                    g.state,
                    GroupState::CompletingRebalance | GroupState::Stable
                )
                && !g.pending_sync.is_empty()
            {
                let pending: Vec<String> = g.pending_sync.iter().cloned().collect();
                for m in &pending {
                    let g = self.group_mut(p, id).expect("present");
                    g.remove_member(m);
                    out.event(Event::GroupMemberRemoved {
                        group: id.to_string(),
                        member_id: m.clone(),
                        reason: "no SyncGroup before the rebalance timeout".into(),
                    });
                }
                self.prepare_rebalance(now, p, id, log, out);
            }
        }
    }

    fn group_mut(&mut self, p: u32, id: &str) -> Option<&mut Group> {
        self.shards.get_mut(&p)?.groups.get_mut(id)
    }

    /// The shard a group's requests go to, or the error to answer with.
    fn shard_for(&self, group_id: &str) -> Result<u32, ErrorCode> {
        if group_id.is_empty() {
            return Err(ErrorCode::InvalidGroupId);
        }
        let p = self.partition_for(group_id);
        if self.shards.contains_key(&p) {
            Ok(p)
        } else {
            Err(ErrorCode::NotCoordinator)
        }
    }

    /// Appends records for a group; the error is Kafka's mapping of append errors
    /// (`appendGroupMetadataErrorToResponseError`).
    ///
    /// Returns the offset after the last record once appended. With `txn` the records form
    /// that producer's transactional batch.
    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        now: Instant,
        p: u32,
        records: &[OffsetsRecord],
        txn: Option<(ProducerId, ProducerEpoch)>,
        action: Option<Deferred>,
        log: &mut dyn OffsetsLog,
        out: &mut Outbox,
    ) -> Option<Offset> {
        let encoded = records.iter().map(|r| r.encode(now)).collect();
        let appended = match txn {
            None => log.append(p, encoded),
            Some((id, epoch)) => log.append_transactional(p, encoded, id, epoch),
        };
        match appended {
            Ok(end) => {
                if let Some(action) = action {
                    let deadline = now + self.config.commit_timeout;
                    if let Some(shard) = self.shards.get_mut(&p) {
                        shard.writes.push(PendingWrite {
                            required: end,
                            deadline,
                            action,
                        });
                    }
                }
                Some(end)
            }
            Err(e) => {
                let error = match e {
                    ErrorCode::NotLeaderOrFollower => ErrorCode::NotCoordinator,
                    // A fenced producer learns it (`TransactionManager` makes it fatal).
                    ErrorCode::InvalidProducerEpoch | ErrorCode::InvalidTxnState => e,
                    _ => ErrorCode::CoordinatorNotAvailable,
                };
                if let Some(action) = action {
                    let mut none = VecMap::new();
                    let groups = self.shards.get_mut(&p).map_or(&mut none, |s| &mut s.groups);
                    fail_write(action, error, groups, out);
                }
                None
            }
        }
    }

    /// A transaction marker was appended to offsets partition `partition`: the producer's
    /// pending offsets there become committed, or are dropped (`onTransactionCompleted`).
    pub fn on_marker(
        &mut self,
        partition: u32,
        producer_id: ProducerId,
        commit: bool,
        out: &mut Outbox,
    ) {
        let Some(shard) = self.shards.get_mut(&partition) else {
            return;
        };
        for p in shard.end_transaction(producer_id, commit) {
            out.event(Event::OffsetCommitted {
                group: p.group,
                topic_partition: p.topic_partition,
                offset: p.offset.offset,
            });
        }
    }

    /// The offsets partition's high watermark moved: writes below it are committed.
    pub fn on_high_watermark(
        &mut self,
        now: Instant,
        partition: u32,
        hw: Offset,
        out: &mut Outbox,
    ) {
        let Some(shard) = self.shards.get_mut(&partition) else {
            return;
        };
        if shard.writes.iter().all(|w| w.required > hw) {
            return;
        }
        let (done, kept): (Vec<PendingWrite>, Vec<PendingWrite>) =
            std::mem::take(&mut shard.writes)
                .into_iter()
                .partition(|w| w.required <= hw);
        shard.writes = kept;
        for w in done {
            self.complete_write(now, partition, w.action, out);
        }
    }

    fn complete_write(&mut self, now: Instant, p: u32, action: Deferred, out: &mut Outbox) {
        match action {
            Deferred::Commit {
                to,
                correlation,
                group,
                offsets,
                transactional,
            } => {
                // A transactional commit takes effect with its transaction's marker.
                if !transactional {
                    for (tp, offset) in &offsets {
                        out.event(Event::OffsetCommitted {
                            group: group.clone(),
                            topic_partition: tp.clone(),
                            offset: *offset,
                        });
                    }
                }
                let partitions = offsets.into_iter().map(|(tp, _)| (tp, None)).collect();
                out.send(to, commit_response(transactional, correlation, partitions));
            }
            Deferred::Sync {
                group,
                generation,
                assignment,
            } => {
                let Some(g) = self.group_mut(p, &group) else {
                    return;
                };
                if g.state != GroupState::CompletingRebalance || g.generation != generation {
                    return; // another rebalance started meanwhile
                }
                for m in &mut g.members {
                    m.assignment = assignment.get(&m.member_id).cloned().unwrap_or_default();
                }
                propagate_assignment(now, g, None, out);
                g.transition(GroupState::Stable, out);
                out.event(Event::GroupStabilized {
                    group: group.clone(),
                    generation,
                    protocol: g.protocol_name.clone(),
                    assignment: g
                        .members
                        .iter()
                        .map(|m| (m.member_id.clone(), m.assignment.clone()))
                        .collect(),
                });
            }
            Deferred::StaticRejoin {
                group,
                member_id,
                to,
                correlation,
            } => {
                let Some(g) = self.group_mut(p, &group) else {
                    return;
                };
                if !g.has_member(&member_id) {
                    return;
                }
                // JoinGroup v9+: the leader skips the assignment (`skipAssignment`), so the
                // rejoined static member gets its old assignment back without a rebalance.
                let response = g.join_response(&member_id, correlation);
                if let Some(m) = g.member_mut(&member_id) {
                    m.awaiting_join = None;
                }
                out.send(to, Message::JoinGroupResponse(response));
            }
        }
    }

    // Requests.

    /// FindCoordinator is answered by the broker (it needs the metadata image); this is the
    /// handler for everything the coordinator itself answers.
    pub fn handle(
        &mut self,
        now: Instant,
        from: NodeId,
        message: Message,
        log: &mut dyn OffsetsLog,
        out: &mut Outbox,
    ) {
        match message {
            Message::JoinGroup(r) => self.join_group(now, from, r, log, out),
            Message::SyncGroup(r) => self.sync_group(now, from, r, log, out),
            Message::Heartbeat(r) => {
                let error = self.heartbeat(now, &r).err();
                out.send(
                    from,
                    Message::HeartbeatResponse(HeartbeatResponse {
                        correlation: r.correlation,
                        error,
                    }),
                );
            }
            Message::LeaveGroup(r) => self.leave_group(now, from, r, log, out),
            Message::OffsetCommit(r) => self.offset_commit(now, from, r, log, out),
            Message::TxnOffsetCommit(r) => self.txn_offset_commit(now, from, r, log, out),
            Message::OffsetFetch(r) => {
                let response = self.offset_fetch(&r);
                out.send(from, Message::OffsetFetchResponse(response));
            }
            _ => {}
        }
    }

    fn join_group(
        &mut self,
        now: Instant,
        from: NodeId,
        r: JoinGroupRequest,
        log: &mut dyn OffsetsLog,
        out: &mut Outbox,
    ) {
        let p = match self.shard_for(&r.group_id) {
            Ok(p) => p,
            Err(e) => {
                return out.send(from, join_reply(join_error(r.correlation, &r.member_id, e)));
            }
        };
        if r.session_timeout < self.config.min_session_timeout
            || r.session_timeout > self.config.max_session_timeout
        {
            let e = ErrorCode::InvalidSessionTimeout;
            return out.send(from, join_reply(join_error(r.correlation, &r.member_id, e)));
        }
        let unknown = r.member_id.is_empty();
        let shard = self.shards.get_mut(&p).expect("loaded");
        if !shard.groups.contains_key(&r.group_id) {
            if !unknown {
                let e = ErrorCode::UnknownMemberId;
                return out.send(from, join_reply(join_error(r.correlation, &r.member_id, e)));
            }
            shard
                .groups
                .insert(r.group_id.clone(), Group::new(&r.group_id));
        }
        let g = shard.groups.get_mut(&r.group_id).expect("present");
        if unknown {
            if !g.supports_protocols(&r.protocol_type, &r.protocols) {
                let e = ErrorCode::InconsistentGroupProtocol;
                return out.send(from, join_reply(join_error(r.correlation, "", e)));
            }
            let new_id = format!(
                "{}-{}",
                r.group_instance_id.as_deref().unwrap_or(&r.client_id),
                uuid(&mut self.rng)
            );
            match r.group_instance_id.clone() {
                Some(instance) => {
                    let existing = g.static_member_id(&instance).map(str::to_string);
                    match existing {
                        Some(old) => {
                            self.replace_static_member(now, p, from, &r, &old, &new_id, log, out)
                        }
                        None => self.add_member_and_rebalance(now, p, from, &r, new_id, log, out),
                    }
                }
                None => {
                    // KIP-394: a dynamic member must come back with the id it is given.
                    g.pending_members
                        .insert(new_id.clone(), now + r.session_timeout);
                    out.send(
                        from,
                        join_reply(join_error(
                            r.correlation,
                            &new_id,
                            ErrorCode::MemberIdRequired,
                        )),
                    );
                }
            }
            return;
        }
        // A known (or pending) member id.
        if !g.supports_protocols(&r.protocol_type, &r.protocols) {
            let e = ErrorCode::InconsistentGroupProtocol;
            return out.send(from, join_reply(join_error(r.correlation, &r.member_id, e)));
        }
        if g.pending_members.contains_key(&r.member_id) {
            let id = r.member_id.clone();
            return self.add_member_and_rebalance(now, p, from, &r, id, log, out);
        }
        if let Err(e) = g.validate_member(&r.member_id, r.group_instance_id.as_deref()) {
            return out.send(from, join_reply(join_error(r.correlation, &r.member_id, e)));
        }
        let is_leader = g.leader.as_deref() == Some(r.member_id.as_str());
        let matches = g
            .member(&r.member_id)
            .is_some_and(|m| m.matches(&r.protocols));
        match g.state {
            GroupState::PreparingRebalance => {
                self.update_member_and_rebalance(now, p, from, &r, log, out)
            }
            GroupState::CompletingRebalance if matches => {
                // It missed the JoinGroup response: send the current generation again.
                let response = g.join_response(&r.member_id, r.correlation);
                out.send(from, Message::JoinGroupResponse(response));
            }
            GroupState::CompletingRebalance => {
                self.update_member_and_rebalance(now, p, from, &r, log, out)
            }
            GroupState::Stable if is_leader || !matches => {
                // The leader rejoining forces a rebalance (it may have seen new metadata).
                self.update_member_and_rebalance(now, p, from, &r, log, out)
            }
            GroupState::Stable => {
                let mut response = g.join_response(&r.member_id, r.correlation);
                response.members.clear();
                out.send(from, Message::JoinGroupResponse(response));
            }
            GroupState::Empty | GroupState::Dead => {
                let e = ErrorCode::UnknownMemberId;
                out.send(from, join_reply(join_error(r.correlation, &r.member_id, e)));
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn add_member_and_rebalance(
        &mut self,
        now: Instant,
        p: u32,
        from: NodeId,
        r: &JoinGroupRequest,
        member_id: String,
        log: &mut dyn OffsetsLog,
        out: &mut Outbox,
    ) {
        let new_member_timeout = self.config.new_member_join_timeout;
        let g = self.group_mut(p, &r.group_id).expect("present");
        if g.state == GroupState::PreparingRebalance && g.previous_state == GroupState::Empty {
            g.new_member_added = true;
        }
        g.add_member(Member {
            member_id,
            group_instance_id: r.group_instance_id.clone(),
            client_id: r.client_id.clone(),
            node: from,
            rebalance_timeout: r.rebalance_timeout,
            session_timeout: r.session_timeout,
            protocols: r.protocols.clone(),
            assignment: Vec::new(),
            awaiting_join: Some((from, r.correlation)),
            awaiting_sync: None,
            is_new: true,
            // New members cannot heartbeat yet; their JoinGroup times out instead.
            heartbeat_deadline: Some(now + new_member_timeout),
        });
        self.maybe_prepare_rebalance_or_complete_join(now, p, &r.group_id, log, out);
    }

    fn update_member_and_rebalance(
        &mut self,
        now: Instant,
        p: u32,
        from: NodeId,
        r: &JoinGroupRequest,
        log: &mut dyn OffsetsLog,
        out: &mut Outbox,
    ) {
        let g = self.group_mut(p, &r.group_id).expect("present");
        let m = g.member_mut(&r.member_id).expect("validated");
        m.protocols = r.protocols.clone();
        m.rebalance_timeout = r.rebalance_timeout;
        m.session_timeout = r.session_timeout;
        m.node = from;
        m.awaiting_join = Some((from, r.correlation));
        self.maybe_prepare_rebalance_or_complete_join(now, p, &r.group_id, log, out);
    }

    /// `updateStaticMemberThenRebalanceOrCompleteJoin` (KIP-345).
    #[allow(clippy::too_many_arguments)]
    fn replace_static_member(
        &mut self,
        now: Instant,
        p: u32,
        from: NodeId,
        r: &JoinGroupRequest,
        old_id: &str,
        new_id: &str,
        log: &mut dyn OffsetsLog,
        out: &mut Outbox,
    ) {
        let g = self.group_mut(p, &r.group_id).expect("present");
        // `replaceStaticMember`: the old id leaves Kafka's member map and the new one is put.
        let Some(mut old) = g.take_member(old_id) else {
            return;
        };
        // The old incarnation, if it still waits for an answer, is fenced.
        if let Some((to, c)) = old.awaiting_join.take() {
            let e = ErrorCode::FencedInstanceId;
            out.send(to, join_reply(join_error(c, old_id, e)));
        }
        if let Some((to, c)) = old.awaiting_sync.take() {
            out.send(
                to,
                Message::SyncGroupResponse(sync_error(c, ErrorCode::FencedInstanceId)),
            );
        }
        old.member_id = new_id.to_string();
        old.node = from;
        old.protocols = r.protocols.clone();
        old.rebalance_timeout = r.rebalance_timeout;
        old.session_timeout = r.session_timeout;
        old.heartbeat_deadline = Some(now + r.session_timeout);
        old.awaiting_join = Some((from, r.correlation));
        g.put_member(old);
        if g.leader.as_deref() == Some(old_id) {
            g.leader = Some(new_id.to_string());
        }
        out.event(Event::GroupMemberRemoved {
            group: r.group_id.clone(),
            member_id: old_id.to_string(),
            reason: format!("replaced by {new_id} (same group.instance.id)"),
        });
        match g.state {
            GroupState::Stable => {
                if g.protocol_name == g.select_protocol() {
                    let record = g.metadata_record();
                    let action = Deferred::StaticRejoin {
                        group: r.group_id.clone(),
                        member_id: new_id.to_string(),
                        to: from,
                        correlation: r.correlation,
                    };
                    self.write(now, p, &[record], None, Some(action), log, out);
                } else {
                    self.maybe_prepare_rebalance_or_complete_join(now, p, &r.group_id, log, out);
                }
            }
            GroupState::CompletingRebalance => {
                self.prepare_rebalance(now, p, &r.group_id, log, out)
            }
            _ => self.maybe_complete_join_phase(now, p, &r.group_id, log, out),
        }
    }

    fn maybe_prepare_rebalance_or_complete_join(
        &mut self,
        now: Instant,
        p: u32,
        id: &str,
        log: &mut dyn OffsetsLog,
        out: &mut Outbox,
    ) {
        let Some(g) = self.group_mut(p, id) else {
            return;
        };
        // `canRebalance`: PreparingRebalance can be entered from Stable, CompletingRebalance
        // and Empty.
        if matches!(
            g.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        ) {
            self.prepare_rebalance(now, p, id, log, out);
        } else {
            self.maybe_complete_join_phase(now, p, id, log, out);
        }
    }

    fn prepare_rebalance(
        &mut self,
        now: Instant,
        p: u32,
        id: &str,
        log: &mut dyn OffsetsLog,
        out: &mut Outbox,
    ) {
        let initial_delay = self.config.initial_rebalance_delay;
        let Some(g) = self.group_mut(p, id) else {
            return;
        };
        if g.state == GroupState::CompletingRebalance {
            // Members waiting for their assignment are told to rejoin.
            for m in &mut g.members {
                m.assignment.clear();
            }
            propagate_assignment(now, g, Some(ErrorCode::RebalanceInProgress), out);
        }
        g.pending_sync.clear();
        g.sync_deadline = None;
        let initial = g.state == GroupState::Empty;
        if initial {
            let remaining = Duration(g.rebalance_timeout().0.saturating_sub(initial_delay.0));
            g.join_timer = Some((
                now + initial_delay,
                JoinTimer::Initial {
                    delay: initial_delay,
                    remaining,
                },
            ));
        }
        g.transition(GroupState::PreparingRebalance, out);
        if !initial {
            if g.all_members_joined() {
                self.complete_join(now, p, id, log, out);
            } else {
                let t = now + g.rebalance_timeout();
                g.join_timer = Some((t, JoinTimer::Rebalance));
            }
        }
    }

    fn maybe_complete_join_phase(
        &mut self,
        now: Instant,
        p: u32,
        id: &str,
        log: &mut dyn OffsetsLog,
        out: &mut Outbox,
    ) {
        let Some(g) = self.group_mut(p, id) else {
            return;
        };
        if g.state == GroupState::PreparingRebalance
            && g.previous_state != GroupState::Empty
            && g.all_members_joined()
        {
            self.complete_join(now, p, id, log, out);
        }
    }

    /// `completeClassicGroupJoin`.
    fn complete_join(
        &mut self,
        now: Instant,
        p: u32,
        id: &str,
        log: &mut dyn OffsetsLog,
        out: &mut Outbox,
    ) {
        let Some(g) = self.group_mut(p, id) else {
            return;
        };
        g.join_timer = None;
        // Dynamic members that did not rejoin in time are removed; static ones stay.
        let gone: Vec<String> = g
            .members
            .iter()
            .filter(|m| m.awaiting_join.is_none() && m.group_instance_id.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for m in gone {
            g.remove_member(&m);
            out.event(Event::GroupMemberRemoved {
                group: id.to_string(),
                member_id: m,
                reason: "did not rejoin before the rebalance timeout".into(),
            });
        }
        if g.state == GroupState::Dead {
            return;
        }
        if !g.elect_joined_leader() && !g.members.is_empty() {
            // Nobody rejoined: wait for the session timeouts to remove the silent members.
            g.join_timer = Some((now + g.rebalance_timeout(), JoinTimer::Rebalance));
            return;
        }
        // `initNextGeneration`.
        g.generation += 1;
        g.pending_sync.clear();
        if g.members.is_empty() {
            g.protocol_name = None;
            g.leader = None;
            g.transition(GroupState::Empty, out);
            let record = g.metadata_record();
            self.write(now, p, &[record], None, None, log, out);
            return;
        }
        g.protocol_name = g.select_protocol();
        g.transition(GroupState::CompletingRebalance, out);
        let generation = g.generation;
        let responses: Vec<(NodeId, JoinGroupResponse)> = g
            .members
            .iter()
            .filter_map(|m| {
                let (to, c) = m.awaiting_join?;
                Some((to, g.join_response(&m.member_id, c)))
            })
            .collect();
        for m in &mut g.members {
            m.awaiting_join = None;
            m.heartbeat_deadline = Some(now + m.session_timeout);
            m.is_new = false;
        }
        g.pending_sync = g.members.iter().map(|m| m.member_id.clone()).collect();
        g.sync_deadline = Some((now + g.rebalance_timeout(), generation));
        for (to, response) in responses {
            out.send(to, Message::JoinGroupResponse(response));
        }
    }

    /// `removeMemberAndUpdateClassicGroup`.
    #[allow(clippy::too_many_arguments)]
    fn remove_member_and_update(
        &mut self,
        now: Instant,
        p: u32,
        id: &str,
        member_id: &str,
        reason: &str,
        log: &mut dyn OffsetsLog,
        out: &mut Outbox,
    ) {
        let Some(g) = self.group_mut(p, id) else {
            return;
        };
        if let Some(m) = g.member(member_id)
            && let Some((to, c)) = m.awaiting_join
        {
            let e = ErrorCode::UnknownMemberId;
            out.send(to, join_reply(join_error(c, "", e)));
        }
        g.remove_member(member_id);
        out.event(Event::GroupMemberRemoved {
            group: id.to_string(),
            member_id: member_id.to_string(),
            reason: reason.to_string(),
        });
        match g.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance_or_complete_join(now, p, id, log, out)
            }
            GroupState::PreparingRebalance if g.all_members_joined() => {
                self.complete_join(now, p, id, log, out)
            }
            _ => {}
        }
    }

    fn sync_group(
        &mut self,
        now: Instant,
        from: NodeId,
        r: SyncGroupRequest,
        log: &mut dyn OffsetsLog,
        out: &mut Outbox,
    ) {
        let reply = |out: &mut Outbox, e: ErrorCode| {
            out.send(
                from,
                Message::SyncGroupResponse(sync_error(r.correlation, e)),
            )
        };
        let p = match self.shard_for(&r.group_id) {
            Ok(p) => p,
            Err(e) => return reply(out, e),
        };
        let Some(g) = self.group_mut(p, &r.group_id) else {
            return reply(out, ErrorCode::UnknownMemberId);
        };
        if g.members.is_empty() {
            return reply(out, ErrorCode::UnknownMemberId);
        }
        if g.state == GroupState::Dead {
            return reply(out, ErrorCode::CoordinatorNotAvailable);
        }
        if let Err(e) = g.validate_member(&r.member_id, r.group_instance_id.as_deref()) {
            return reply(out, e);
        }
        if r.generation_id != g.generation {
            return reply(out, ErrorCode::IllegalGeneration);
        }
        if r.protocol_name.is_some() && r.protocol_name != g.protocol_name {
            return reply(out, ErrorCode::InconsistentGroupProtocol);
        }
        match g.state {
            GroupState::PreparingRebalance => reply(out, ErrorCode::RebalanceInProgress),
            GroupState::CompletingRebalance => {
                let m = g.member_mut(&r.member_id).expect("validated");
                m.awaiting_sync = Some((from, r.correlation));
                m.node = from;
                g.pending_sync.remove(&r.member_id);
                if g.pending_sync.is_empty() {
                    g.sync_deadline = None;
                }
                if g.leader.as_deref() == Some(r.member_id.as_str()) {
                    // Members the leader left out get an empty assignment.
                    let mut assignment: VecMap<String, Vec<TopicPartition>> =
                        r.assignments.iter().cloned().collect();
                    for m in &g.members {
                        assignment.entry(m.member_id.clone()).or_default();
                    }
                    let mut staged = g.clone();
                    for m in &mut staged.members {
                        m.assignment = assignment.get(&m.member_id).cloned().unwrap_or_default();
                    }
                    let record = staged.metadata_record();
                    let action = Deferred::Sync {
                        group: r.group_id.clone(),
                        generation: g.generation,
                        assignment,
                    };
                    self.write(now, p, &[record], None, Some(action), log, out);
                }
            }
            GroupState::Stable => {
                g.pending_sync.remove(&r.member_id);
                let m = g.member(&r.member_id).expect("validated");
                out.send(
                    from,
                    Message::SyncGroupResponse(SyncGroupResponse {
                        correlation: r.correlation,
                        error: None,
                        protocol_name: g.protocol_name.clone(),
                        assignment: m.assignment.clone(),
                    }),
                );
            }
            GroupState::Empty | GroupState::Dead => reply(out, ErrorCode::UnknownMemberId),
        }
    }

    fn heartbeat(&mut self, now: Instant, r: &HeartbeatRequest) -> Result<(), ErrorCode> {
        let p = self.shard_for(&r.group_id)?;
        let g = self
            .group_mut(p, &r.group_id)
            .ok_or(ErrorCode::UnknownMemberId)?;
        if g.state == GroupState::Dead {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        g.validate_member(&r.member_id, r.group_instance_id.as_deref())?;
        if r.generation_id != g.generation {
            return Err(ErrorCode::IllegalGeneration);
        }
        let state = g.state;
        if state == GroupState::Empty {
            return Err(ErrorCode::UnknownMemberId);
        }
        let m = g.member_mut(&r.member_id).expect("validated");
        m.heartbeat_deadline = Some(now + m.session_timeout);
        if state == GroupState::PreparingRebalance {
            Err(ErrorCode::RebalanceInProgress)
        } else {
            Ok(())
        }
    }

    fn leave_group(
        &mut self,
        now: Instant,
        from: NodeId,
        r: LeaveGroupRequest,
        log: &mut dyn OffsetsLog,
        out: &mut Outbox,
    ) {
        let reply = |out: &mut Outbox, error: Option<ErrorCode>, members| {
            out.send(
                from,
                Message::LeaveGroupResponse(LeaveGroupResponse {
                    correlation: r.correlation,
                    error,
                    members,
                }),
            )
        };
        let p = match self.shard_for(&r.group_id) {
            Ok(p) => p,
            Err(e) => return reply(out, Some(e), Vec::new()),
        };
        let Some(g) = self.group_mut(p, &r.group_id) else {
            return reply(out, Some(ErrorCode::UnknownMemberId), Vec::new());
        };
        if g.state == GroupState::Dead {
            return reply(out, Some(ErrorCode::CoordinatorNotAvailable), Vec::new());
        }
        let mut results = Vec::new();
        let mut removed_any = false;
        for (member_id, instance) in &r.members {
            let target = if member_id.is_empty() {
                // Admin removal of a static member by instance id.
                instance
                    .as_deref()
                    .and_then(|i| g.static_member_id(i))
                    .map(str::to_string)
                    .ok_or(ErrorCode::UnknownMemberId)
            } else if g.pending_members.remove(member_id).is_some() {
                results.push((member_id.clone(), None));
                continue;
            } else {
                g.validate_member(member_id, instance.as_deref())
                    .map(|_| member_id.clone())
            };
            match target {
                Ok(id) => {
                    if let Some((to, c)) = g.member(&id).and_then(|m| m.awaiting_join) {
                        let e = ErrorCode::UnknownMemberId;
                        out.send(to, join_reply(join_error(c, "", e)));
                    }
                    g.remove_member(&id);
                    out.event(Event::GroupMemberRemoved {
                        group: r.group_id.clone(),
                        member_id: id,
                        reason: "LeaveGroup".into(),
                    });
                    removed_any = true;
                    results.push((member_id.clone(), None));
                }
                Err(e) => results.push((member_id.clone(), Some(e))),
            }
        }
        let state = g.state;
        reply(out, None, results);
        if removed_any {
            match state {
                GroupState::Stable | GroupState::CompletingRebalance => {
                    self.maybe_prepare_rebalance_or_complete_join(now, p, &r.group_id, log, out)
                }
                GroupState::PreparingRebalance => {
                    self.maybe_complete_join_phase(now, p, &r.group_id, log, out)
                }
                _ => {}
            }
        }
    }

    fn offset_commit(
        &mut self,
        now: Instant,
        from: NodeId,
        r: OffsetCommitRequest,
        log: &mut dyn OffsetsLog,
        out: &mut Outbox,
    ) {
        let commit = Commit {
            correlation: r.correlation,
            group_id: &r.group_id,
            generation_id: r.generation_id,
            member_id: &r.member_id,
            group_instance_id: r.group_instance_id.as_deref(),
            offsets: &r.offsets,
            txn: None,
        };
        self.commit(now, from, commit, log, out);
    }

    /// `OffsetMetadataManager.commitTransactionalOffset`: the offsets are written as the
    /// producer's transactional batch and wait, pending, for its transaction's marker.
    fn txn_offset_commit(
        &mut self,
        now: Instant,
        from: NodeId,
        r: TxnOffsetCommitRequest,
        log: &mut dyn OffsetsLog,
        out: &mut Outbox,
    ) {
        let commit = Commit {
            correlation: r.correlation,
            group_id: &r.group_id,
            generation_id: r.generation_id,
            member_id: &r.member_id,
            group_instance_id: r.group_instance_id.as_deref(),
            offsets: &r.offsets,
            txn: Some((r.producer_id, r.producer_epoch)),
        };
        self.commit(now, from, commit, log, out);
    }

    /// Validates and writes an offset commit, plain or transactional; the answer waits for the
    /// high watermark.
    fn commit(
        &mut self,
        now: Instant,
        from: NodeId,
        r: Commit<'_>,
        log: &mut dyn OffsetsLog,
        out: &mut Outbox,
    ) {
        let transactional = r.txn.is_some();
        let reply = |out: &mut Outbox, e: ErrorCode| {
            let partitions = r.offsets.iter().map(|(tp, _, _)| (tp.clone(), Some(e)));
            out.send(
                from,
                commit_response(transactional, r.correlation, partitions.collect()),
            )
        };
        let p = match self.shard_for(r.group_id) {
            Ok(p) => p,
            Err(e) => return reply(out, e),
        };
        let shard = self.shards.get_mut(&p).expect("loaded");
        if !shard.groups.contains_key(r.group_id) {
            if r.generation_id >= 0 {
                // OffsetCommit before v9 answers ILLEGAL_GENERATION for an unknown group, and
                // so does TxnOffsetCommit (`validateTransactionalOffsetCommit`).
                return reply(out, ErrorCode::IllegalGeneration);
            }
            // A "simple" group: a consumer outside group management.
            shard
                .groups
                .insert(r.group_id.to_owned(), Group::new(r.group_id));
        }
        let g = shard.groups.get_mut(r.group_id).expect("present");
        if let Err(e) = validate_offset_commit(g, &r) {
            return reply(out, e);
        }
        let records: Vec<OffsetsRecord> = r
            .offsets
            .iter()
            .map(|(tp, offset, epoch)| {
                OffsetsRecord::Offset(
                    r.group_id.to_owned(),
                    tp.clone(),
                    Some(OffsetValue {
                        offset: *offset,
                        leader_epoch: *epoch,
                        commit_time: now,
                    }),
                )
            })
            .collect();
        let action = Deferred::Commit {
            to: from,
            correlation: r.correlation,
            group: r.group_id.to_owned(),
            offsets: r
                .offsets
                .iter()
                .map(|(tp, o, _)| (tp.clone(), *o))
                .collect(),
            transactional,
        };
        let Some(end) = self.write(now, p, &records, r.txn, Some(action), log, out) else {
            return;
        };
        // The records are in the log: replay them, as the runtime does on append.
        let shard = self.shards.get_mut(&p).expect("loaded");
        let first = end.0 - records.len() as u64;
        for (i, record) in records.into_iter().enumerate() {
            shard.replay(Offset(first + i as u64), record, r.txn.map(|(id, _)| id));
        }
    }

    fn offset_fetch(&self, r: &OffsetFetchRequest) -> OffsetFetchResponse {
        let error = |e| OffsetFetchResponse {
            correlation: r.correlation,
            error: Some(e),
            partitions: Vec::new(),
        };
        let p = match self.shard_for(&r.group_id) {
            Ok(p) => p,
            Err(e) => return error(e),
        };
        let shard = &self.shards[&p];
        let group = shard.groups.get(&r.group_id);
        OffsetFetchResponse {
            correlation: r.correlation,
            error: None,
            partitions: r
                .partitions
                .iter()
                .map(|tp| {
                    if r.require_stable && shard.has_pending(&r.group_id, tp) {
                        return (tp.clone(), Err(ErrorCode::UnstableOffsetCommit));
                    }
                    let committed = group
                        .and_then(|g| g.offsets.get(tp))
                        .map(|c| (c.offset, c.leader_epoch));
                    (tp.clone(), Ok(committed))
                })
                .collect(),
        }
    }
}

/// An offset commit as the coordinator validates and writes it: OffsetCommit, or TxnOffsetCommit
/// with its producer.
struct Commit<'a> {
    correlation: CorrelationId,
    group_id: &'a str,
    generation_id: i32,
    member_id: &'a str,
    group_instance_id: Option<&'a str>,
    offsets: &'a [(TopicPartition, Offset, Option<LeaderEpoch>)],
    txn: Option<(ProducerId, ProducerEpoch)>,
}

/// The answer to an offset commit, plain or transactional.
fn commit_response(
    transactional: bool,
    correlation: CorrelationId,
    partitions: Vec<(TopicPartition, Option<ErrorCode>)>,
) -> Message {
    if transactional {
        Message::TxnOffsetCommitResponse(TxnOffsetCommitResponse {
            correlation,
            partitions,
        })
    } else {
        Message::OffsetCommitResponse(OffsetCommitResponse {
            correlation,
            partitions,
        })
    }
}

/// `ClassicGroup.validateOffsetCommit` (KAFKA.md 5.1). A transactional commit without a member
/// id is accepted in any state, and one during CompletingRebalance too: the old TxnOffsetCommit
/// versions carried no member, and the producer's transaction, not the generation, orders it.
fn validate_offset_commit(g: &Group, r: &Commit<'_>) -> Result<(), ErrorCode> {
    let transactional = r.txn.is_some();
    if g.state == GroupState::Dead {
        return Err(ErrorCode::CoordinatorNotAvailable);
    }
    if r.generation_id < 0 && g.state == GroupState::Empty {
        return Ok(());
    }
    if r.generation_id >= 0 || !r.member_id.is_empty() || r.group_instance_id.is_some() {
        g.validate_member(r.member_id, r.group_instance_id)?;
        if r.generation_id != g.generation {
            return Err(ErrorCode::IllegalGeneration);
        }
    } else if !transactional && g.state != GroupState::Empty {
        return Err(ErrorCode::UnknownMemberId);
    }
    if !transactional && g.state == GroupState::CompletingRebalance {
        return Err(ErrorCode::RebalanceInProgress);
    }
    Ok(())
}

/// Rebuilds a group from its metadata record (`ClassicGroup.fromRecord`): Empty without
/// members, Stable with them.
fn replay_group(g: &mut Group, v: GroupValue) {
    g.generation = v.generation;
    g.protocol_type = v.protocol_type;
    g.protocol_name = v.protocol;
    g.leader = v.leader;
    // `ClassicGroup.fromRecord` puts the members in the record's order.
    g.members.clear();
    g.member_map = JavaHashMap::new();
    for m in v.members {
        g.put_member(Member {
            member_id: m.member_id,
            group_instance_id: m.group_instance_id,
            client_id: m.client_id,
            node: NodeId::Controller,
            rebalance_timeout: m.rebalance_timeout,
            session_timeout: m.session_timeout,
            protocols: m.subscription.into_iter().collect(),
            assignment: m.assignment,
            awaiting_join: None,
            awaiting_sync: None,
            is_new: false,
            heartbeat_deadline: None,
        });
    }
    g.state = if g.members.is_empty() {
        GroupState::Empty
    } else {
        GroupState::Stable
    };
    g.previous_state = g.state;
    g.pending_members.clear();
    g.pending_sync.clear();
    g.join_timer = None;
    g.sync_deadline = None;
}

/// `propagateAssignment`: answers every waiting SyncGroup.
fn propagate_assignment(now: Instant, g: &mut Group, error: Option<ErrorCode>, out: &mut Outbox) {
    let protocol = if error.is_none() {
        g.protocol_name.clone()
    } else {
        None
    };
    for m in &mut g.members {
        if let Some((to, c)) = m.awaiting_sync.take() {
            out.send(
                to,
                Message::SyncGroupResponse(SyncGroupResponse {
                    correlation: c,
                    error,
                    protocol_name: protocol.clone(),
                    assignment: m.assignment.clone(),
                }),
            );
            m.heartbeat_deadline = Some(now + m.session_timeout);
        }
    }
}

/// A write failed or timed out: answer what waited for it.
fn fail_write(
    action: Deferred,
    error: ErrorCode,
    groups: &mut VecMap<String, Group>,
    out: &mut Outbox,
) {
    match action {
        Deferred::Commit {
            to,
            correlation,
            offsets,
            transactional,
            ..
        } => {
            let partitions = offsets.into_iter().map(|(tp, _)| (tp, Some(error)));
            out.send(
                to,
                commit_response(transactional, correlation, partitions.collect()),
            )
        }
        Deferred::Sync {
            group, generation, ..
        } => {
            // `resetAndPropagateAssignmentWithError`; the members rejoin.
            if let Some(g) = groups.get_mut(&group)
                && g.state == GroupState::CompletingRebalance
                && g.generation == generation
            {
                for m in &mut g.members {
                    m.assignment.clear();
                    if let Some((to, c)) = m.awaiting_sync.take() {
                        out.send(to, Message::SyncGroupResponse(sync_error(c, error)));
                    }
                }
            }
        }
        Deferred::StaticRejoin {
            member_id,
            to,
            correlation,
            ..
        } => out.send(to, join_reply(join_error(correlation, &member_id, error))),
    }
}

fn join_error(correlation: CorrelationId, member_id: &str, error: ErrorCode) -> JoinGroupResponse {
    JoinGroupResponse {
        correlation,
        error: Some(error),
        generation_id: -1,
        protocol_name: None,
        leader: String::new(),
        member_id: member_id.to_string(),
        members: Vec::new(),
    }
}

fn join_reply(r: JoinGroupResponse) -> Message {
    Message::JoinGroupResponse(r)
}

fn sync_error(correlation: CorrelationId, error: ErrorCode) -> SyncGroupResponse {
    SyncGroupResponse {
        correlation,
        error: Some(error),
        protocol_name: None,
        assignment: Vec::new(),
    }
}

/// A random (version 4) UUID from the coordinator's seeded generator.
fn uuid(rng: &mut Rng) -> String {
    let a = rng.next_u64();
    let b = rng.next_u64();
    let a = (a & !0xF000) | 0x4000;
    let b = (b & !(0xC << 60)) | (0x8 << 60);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xFFFF,
        a & 0xFFFF,
        b >> 48,
        b & 0xFFFF_FFFF_FFFF
    )
}

#[cfg(test)]
mod tests {
    //! Coordinator state-machine tests, after `GroupMetadataManagerTest` (KAFKA.md 5.1).
    use super::*;
    use crate::config::BrokerConfig;
    use crate::group::Subscription;
    use crate::ids::ClientId;
    use crate::node::Output;
    use crate::record::{ControlMarker, ProducerFields};

    /// An offsets partition held in memory; the high watermark moves only when a test says so.
    #[derive(Default)]
    struct MemLog {
        batches: Vec<RecordBatch>,
    }

    impl MemLog {
        fn end(&self) -> Offset {
            self.batches
                .last()
                .map_or(Offset(0), RecordBatch::next_offset)
        }

        fn push(&mut self, producer: Option<ProducerFields>, records: Vec<Record>) -> Offset {
            let batch = RecordBatch::new(self.end(), LeaderEpoch(0), producer, records.into());
            self.batches.push(batch);
            self.end()
        }

        /// A transaction marker, as WriteTxnMarkers appends it.
        fn marker(&mut self, producer_id: ProducerId, kind: MarkerKind) {
            let marker = ControlMarker {
                kind,
                coordinator_epoch: 0,
                timestamp: Instant(0),
            };
            let batch = RecordBatch::control(
                self.end(),
                LeaderEpoch(0),
                producer_id,
                ProducerEpoch(1),
                marker,
            );
            self.batches.push(batch);
        }
    }

    impl OffsetsLog for MemLog {
        fn append(&mut self, _: u32, records: Vec<Record>) -> Result<Offset, ErrorCode> {
            Ok(self.push(None, records))
        }

        fn append_transactional(
            &mut self,
            _: u32,
            records: Vec<Record>,
            producer_id: ProducerId,
            producer_epoch: ProducerEpoch,
        ) -> Result<Offset, ErrorCode> {
            let producer = ProducerFields {
                producer_id,
                producer_epoch,
                base_sequence: crate::ids::Sequence(0),
                transactional: true,
            };
            Ok(self.push(Some(producer), records))
        }
    }

    struct Harness {
        c: GroupCoordinator,
        log: MemLog,
        out: Outbox,
        now: Instant,
        next: CorrelationId,
    }

    const GROUP: &str = "billing";

    fn client(n: u32) -> NodeId {
        NodeId::Client(ClientId(n))
    }

    fn protocols(names: &[&str]) -> Vec<GroupProtocol> {
        names
            .iter()
            .map(|n| GroupProtocol {
                name: n.to_string(),
                metadata: Subscription {
                    topics: vec!["orders".into()],
                    owned: vec![],
                    generation: None,
                },
            })
            .collect()
    }

    impl Harness {
        fn new() -> Harness {
            let config = CoordinatorConfig::from_broker(&BrokerConfig::default());
            let mut c = GroupCoordinator::new(config, 7);
            let mut out = Outbox::default();
            let p = c.partition_for(GROUP);
            c.load(Instant::ZERO, p, std::iter::empty(), &mut out);
            Harness {
                c,
                log: MemLog::default(),
                out,
                now: Instant::ZERO,
                next: 0,
            }
        }

        fn send(&mut self, from: NodeId, m: Message) {
            self.c
                .handle(self.now, from, m, &mut self.log, &mut self.out);
        }

        /// Advances time to `t`, running timers on the way.
        fn advance_to(&mut self, t: u64) {
            while let Some(d) = self.c.next_deadline().filter(|d| d.0 <= t) {
                self.now = d.max(self.now);
                self.c.on_timers(self.now, &mut self.log, &mut self.out);
            }
            self.now = Instant(t);
        }

        /// The high watermark catches up with the log.
        fn commit(&mut self) {
            let hw = self.log.end();
            let p = self.c.partition_for(GROUP);
            self.c.on_high_watermark(self.now, p, hw, &mut self.out);
        }

        fn replies(&mut self) -> Vec<(NodeId, Message)> {
            let mut v = Vec::new();
            while let Some(o) = self.out.pop() {
                if let Output::Send { to, message } = o {
                    v.push((to, message));
                }
            }
            v
        }

        fn join(&mut self, from: NodeId, member_id: &str, instance: Option<&str>) {
            self.next += 1;
            let m = Message::JoinGroup(JoinGroupRequest {
                correlation: self.next,
                group_id: GROUP.into(),
                member_id: member_id.into(),
                group_instance_id: instance.map(str::to_string),
                client_id: format!("consumer-{from:?}"),
                session_timeout: Duration(10_000),
                rebalance_timeout: Duration(60_000),
                protocol_type: "consumer".into(),
                protocols: protocols(&["range"]),
            });
            self.send(from, m);
        }

        /// The JoinGroup responses sent so far, by receiver.
        fn join_responses(&mut self) -> Vec<(NodeId, JoinGroupResponse)> {
            self.replies()
                .into_iter()
                .filter_map(|(to, m)| match m {
                    Message::JoinGroupResponse(r) => Some((to, r)),
                    _ => None,
                })
                .collect()
        }

        /// A dynamic member joins with the two-step KIP-394 handshake; returns its id.
        fn join_dynamic(&mut self, from: NodeId) -> String {
            self.join(from, "", None);
            let r = self.join_responses();
            assert_eq!(r.len(), 1);
            assert_eq!(r[0].1.error, Some(ErrorCode::MemberIdRequired));
            let id = r[0].1.member_id.clone();
            self.join(from, &id, None);
            id
        }

        fn sync(
            &mut self,
            from: NodeId,
            member: &str,
            generation: i32,
            assignments: Vec<(String, Vec<TopicPartition>)>,
        ) {
            self.next += 1;
            let m = Message::SyncGroup(SyncGroupRequest {
                correlation: self.next,
                group_id: GROUP.into(),
                generation_id: generation,
                member_id: member.into(),
                group_instance_id: None,
                protocol_name: Some("range".into()),
                assignments,
            });
            self.send(from, m);
        }

        fn heartbeat(&mut self, from: NodeId, member: &str, generation: i32) -> Option<ErrorCode> {
            self.next += 1;
            let m = Message::Heartbeat(HeartbeatRequest {
                correlation: self.next,
                group_id: GROUP.into(),
                generation_id: generation,
                member_id: member.into(),
                group_instance_id: None,
            });
            self.send(from, m);
            match self.replies().pop() {
                Some((_, Message::HeartbeatResponse(r))) => r.error,
                other => panic!("expected a heartbeat response, got {other:?}"),
            }
        }

        fn commit_offset(&mut self, member: &str, generation: i32) -> Option<ErrorCode> {
            self.next += 1;
            let m = Message::OffsetCommit(OffsetCommitRequest {
                correlation: self.next,
                group_id: GROUP.into(),
                generation_id: generation,
                member_id: member.into(),
                group_instance_id: None,
                offsets: vec![(TopicPartition::new("orders", 0), Offset(5), None)],
            });
            self.commit_answer(m)
        }

        /// Sends an offset commit, plain or transactional, lets the high watermark pass it and
        /// returns the error its answer gives the first partition.
        fn commit_answer(&mut self, m: Message) -> Option<ErrorCode> {
            self.send(client(9), m);
            self.commit();
            let r = self.replies();
            r.iter()
                .find_map(|(_, m)| match m {
                    Message::OffsetCommitResponse(r) => Some(r.partitions[0].1),
                    Message::TxnOffsetCommitResponse(r) => Some(r.partitions[0].1),
                    _ => None,
                })
                .unwrap_or_else(|| panic!("no commit answer in {r:?}"))
        }

        fn state(&self) -> GroupState {
            self.c.group(GROUP).expect("group").state
        }

        /// A TxnOffsetCommit of `orders-0` at `offset` by producer `pid`, answered once the
        /// high watermark passes it.
        fn txn_commit(
            &mut self,
            pid: u64,
            member: &str,
            generation: i32,
            offset: u64,
        ) -> Option<ErrorCode> {
            self.next += 1;
            let m = Message::TxnOffsetCommit(TxnOffsetCommitRequest {
                correlation: self.next,
                transactional_id: format!("tx-{pid}"),
                group_id: GROUP.into(),
                producer_id: ProducerId(pid),
                producer_epoch: ProducerEpoch(0),
                generation_id: generation,
                member_id: member.into(),
                group_instance_id: None,
                offsets: vec![(TopicPartition::new("orders", 0), Offset(offset), None)],
            });
            self.commit_answer(m)
        }

        /// A marker for producer `pid`, appended and handed to the coordinator as the broker
        /// does.
        fn marker(&mut self, pid: u64, commit: bool) {
            let kind = if commit {
                MarkerKind::Commit
            } else {
                MarkerKind::Abort
            };
            self.log.marker(ProducerId(pid), kind);
            let p = self.c.partition_for(GROUP);
            self.c.on_marker(p, ProducerId(pid), commit, &mut self.out);
        }

        /// What OffsetFetch answers for `orders-0`.
        fn fetch(&mut self, require_stable: bool) -> Result<Option<Offset>, ErrorCode> {
            self.next += 1;
            let m = Message::OffsetFetch(OffsetFetchRequest {
                correlation: self.next,
                group_id: GROUP.into(),
                partitions: vec![TopicPartition::new("orders", 0)],
                require_stable,
            });
            self.send(client(9), m);
            match self.replies().pop() {
                Some((_, Message::OffsetFetchResponse(r))) => {
                    r.partitions[0].1.map(|c| c.map(|(o, _)| o))
                }
                r => panic!("no OffsetFetch response: {r:?}"),
            }
        }

        /// Another coordinator that loads the offsets partition as it is now, and the partition.
        fn reloaded(&self) -> (GroupCoordinator, u32) {
            let config = CoordinatorConfig::from_broker(&BrokerConfig::default());
            let p = self.c.partition_for(GROUP);
            let mut other = GroupCoordinator::new(config, 8);
            other.load(
                Instant(4000),
                p,
                self.log.batches.iter(),
                &mut Outbox::default(),
            );
            (other, p)
        }

        /// A group with one member in generation 1; returns the member id.
        fn stable_group(&mut self) -> String {
            let id = self.join_dynamic(client(1));
            self.advance_to(3000);
            self.join_responses();
            self.sync(
                client(1),
                &id,
                1,
                vec![(id.clone(), vec![TopicPartition::new("orders", 0)])],
            );
            self.commit();
            self.replies();
            id
        }
    }

    /// `testDelayInitialRebalanceByGroupInitialRebalanceDelayOnEmptyGroup`: the first join
    /// completes after the initial delay (3000 ms), not before; the first generation is 1.
    #[test]
    fn first_join_waits_for_the_initial_rebalance_delay() {
        let mut h = Harness::new();
        let id = h.join_dynamic(client(1));
        assert_eq!(h.state(), GroupState::PreparingRebalance);
        h.advance_to(2999);
        assert!(h.join_responses().is_empty(), "no answer before the delay");
        h.advance_to(3000);
        let r = h.join_responses();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].1.error, None);
        assert_eq!(r[0].1.generation_id, 1);
        assert_eq!(r[0].1.leader, id);
        assert_eq!(r[0].1.members.len(), 1, "the leader gets the subscriptions");
        assert_eq!(h.state(), GroupState::CompletingRebalance);
    }

    /// `testResetRebalanceDelayWhenNewMemberJoinsGroupDuringInitialRebalance`: a member joining
    /// during the delay extends it by another delay.
    #[test]
    fn a_member_joining_during_the_delay_extends_it() {
        let mut h = Harness::new();
        h.join_dynamic(client(1));
        h.advance_to(2000);
        h.join_dynamic(client(2));
        h.advance_to(5999);
        assert!(h.join_responses().is_empty());
        h.advance_to(6000);
        assert_eq!(h.join_responses().len(), 2);
    }

    /// The leader's SyncGroup is answered only once the group record is committed; then every
    /// member gets its assignment and the group is Stable.
    #[test]
    fn sync_answers_after_the_assignment_is_committed() {
        let mut h = Harness::new();
        let a = h.join_dynamic(client(1));
        let b = h.join_dynamic(client(2));
        // The second join extended the initial delay by another 3000 ms.
        h.advance_to(6000);
        let r = h.join_responses();
        let leader = r[0].1.leader.clone();
        let (leader_node, follower, follower_node) = if leader == a {
            (client(1), b.clone(), client(2))
        } else {
            (client(2), a.clone(), client(1))
        };
        h.sync(follower_node, &follower, 1, vec![]);
        let assignment = vec![
            (leader.clone(), vec![TopicPartition::new("orders", 0)]),
            (follower.clone(), vec![TopicPartition::new("orders", 1)]),
        ];
        // Offset commits are refused while the assignment is not out (KAFKA.md 5.1).
        assert_eq!(
            h.commit_offset(&leader, 1),
            Some(ErrorCode::RebalanceInProgress)
        );
        h.sync(leader_node, &leader, 1, assignment);
        assert!(
            h.replies().is_empty(),
            "nothing before the HW passes the write"
        );
        assert_eq!(h.state(), GroupState::CompletingRebalance);
        h.commit();
        let replies = h.replies();
        let syncs: Vec<_> = replies
            .iter()
            .filter_map(|(to, m)| match m {
                Message::SyncGroupResponse(r) => Some((*to, r.assignment.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(syncs.len(), 2);
        assert!(syncs.contains(&(follower_node, vec![TopicPartition::new("orders", 1)])));
        assert_eq!(h.state(), GroupState::Stable);
        assert_eq!(h.heartbeat(follower_node, &follower, 1), None);
    }

    /// Offset commit validation (`ClassicGroup.validateOffsetCommit`, KAFKA.md 5.1).
    #[test]
    fn offset_commits_are_validated_against_member_and_generation() {
        let mut h = Harness::new();
        // Generation -1 on an unknown group: a simple group is created and the commit accepted.
        assert_eq!(h.commit_offset("", -1), None);
        let id = h.join_dynamic(client(1));
        h.advance_to(3000);
        h.join_responses();
        h.sync(client(1), &id, 1, vec![(id.clone(), vec![])]);
        h.commit();
        h.replies();
        assert_eq!(h.commit_offset(&id, 1), None);
        assert_eq!(h.commit_offset(&id, 2), Some(ErrorCode::IllegalGeneration));
        assert_eq!(
            h.commit_offset("stranger", 1),
            Some(ErrorCode::UnknownMemberId)
        );
        assert_eq!(
            h.commit_offset("", -1),
            Some(ErrorCode::UnknownMemberId),
            "not Empty"
        );
        let committed = h.c.group(GROUP).unwrap().offsets[&TopicPartition::new("orders", 0)];
        assert_eq!(committed.offset, Offset(5));
    }

    /// `testClassicGroupMemberSessionTimeout`: a silent member is removed after its session
    /// timeout and later heartbeats get UNKNOWN_MEMBER_ID; heartbeats keep it alive.
    #[test]
    fn a_silent_member_expires_and_a_heartbeating_one_stays() {
        let mut h = Harness::new();
        let id = h.join_dynamic(client(1));
        h.advance_to(3000);
        h.join_responses();
        h.sync(client(1), &id, 1, vec![]);
        h.commit();
        h.replies();
        for t in [5_000, 10_000, 15_000, 20_000] {
            h.advance_to(t);
            assert_eq!(h.heartbeat(client(1), &id, 1), None, "at {t}");
        }
        h.advance_to(30_001);
        assert_eq!(h.state(), GroupState::Empty, "the only member expired");
        assert_eq!(
            h.heartbeat(client(1), &id, 1),
            Some(ErrorCode::UnknownMemberId)
        );
    }

    /// A new member makes the Stable group rebalance: the others' heartbeats answer
    /// REBALANCE_IN_PROGRESS, and a member that does not rejoin within the rebalance timeout
    /// is removed from the next generation.
    #[test]
    fn a_rebalance_drops_members_that_do_not_rejoin() {
        let mut h = Harness::new();
        let a = h.join_dynamic(client(1));
        h.advance_to(3000);
        h.join_responses();
        h.sync(client(1), &a, 1, vec![]);
        h.commit();
        h.replies();
        h.join_dynamic(client(2));
        assert_eq!(h.state(), GroupState::PreparingRebalance);
        assert_eq!(
            h.heartbeat(client(1), &a, 1),
            Some(ErrorCode::RebalanceInProgress)
        );
        // The old member never rejoins but keeps heartbeating (each answered
        // REBALANCE_IN_PROGRESS), so only the rebalance timeout, 60 s after the rebalance began
        // at 3 s, ends the join phase without it.
        for t in (8_000..=58_000).step_by(5_000) {
            h.advance_to(t);
            assert_eq!(
                h.heartbeat(client(1), &a, 1),
                Some(ErrorCode::RebalanceInProgress)
            );
            assert!(
                h.join_responses().is_empty(),
                "the join phase still waits at {t}"
            );
        }
        h.advance_to(62_999);
        assert!(
            h.join_responses().is_empty(),
            "no answer before the rebalance timeout"
        );
        h.advance_to(63_000);
        let r = h.join_responses();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0, client(2));
        assert_eq!(r[0].1.generation_id, 2);
        assert!(h.c.group(GROUP).unwrap().member(&a).is_none());
    }

    /// `ClassicGroup.remove`: when the leader leaves, the first member in Kafka's `HashMap`
    /// order leads, not the next one to have joined. For "consumer1".."consumer4" that order is
    /// consumer4, consumer3, consumer2, consumer1 (KAFKA.md 2.3).
    #[test]
    fn a_departed_leader_is_replaced_in_java_hash_map_order() {
        let mut g = Group::new(GROUP);
        for i in 1..=4 {
            g.add_member(Member {
                member_id: format!("consumer{i}"),
                group_instance_id: None,
                client_id: "c".into(),
                node: client(i),
                rebalance_timeout: Duration(60_000),
                session_timeout: Duration(10_000),
                protocols: protocols(&["range"]),
                assignment: vec![],
                awaiting_join: None,
                awaiting_sync: None,
                is_new: false,
                heartbeat_deadline: None,
            });
        }
        assert_eq!(
            g.leader.as_deref(),
            Some("consumer1"),
            "the first to join leads"
        );
        g.remove_member("consumer1");
        assert_eq!(g.leader.as_deref(), Some("consumer4"));
        let order: Vec<&str> = g.members.iter().map(|m| m.member_id.as_str()).collect();
        assert_eq!(order, ["consumer4", "consumer3", "consumer2"]);
    }

    /// KIP-345: a static member that restarts within its session timeout gets its old
    /// assignment without a rebalance; the old incarnation is fenced.
    #[test]
    fn a_static_member_rejoins_without_a_rebalance() {
        let mut h = Harness::new();
        h.join(client(1), "", Some("instance-a"));
        h.advance_to(3000);
        let r = h.join_responses();
        let old = r[0].1.member_id.clone();
        h.sync(
            client(1),
            &old,
            1,
            vec![(old.clone(), vec![TopicPartition::new("orders", 0)])],
        );
        h.commit();
        h.replies();
        // The process restarts and joins with no member id.
        h.join(client(3), "", Some("instance-a"));
        h.commit();
        let r = h.join_responses();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].1.error, None);
        assert_eq!(r[0].1.generation_id, 1, "no new generation");
        let new = r[0].1.member_id.clone();
        assert_ne!(new, old);
        assert_eq!(h.state(), GroupState::Stable);
        h.sync(client(3), &new, 1, vec![]);
        let r = h.replies();
        match &r[0].1 {
            Message::SyncGroupResponse(s) => {
                assert_eq!(s.assignment, vec![TopicPartition::new("orders", 0)])
            }
            m => panic!("{m:?}"),
        }
        // The old incarnation is fenced.
        h.next += 1;
        let hb = Message::Heartbeat(HeartbeatRequest {
            correlation: h.next,
            group_id: GROUP.into(),
            generation_id: 1,
            member_id: old,
            group_instance_id: Some("instance-a".into()),
        });
        h.send(client(1), hb);
        match h.replies().pop() {
            Some((_, Message::HeartbeatResponse(r))) => {
                assert_eq!(r.error, Some(ErrorCode::FencedInstanceId))
            }
            m => panic!("{m:?}"),
        }
    }

    /// A coordinator that takes over the offsets partition rebuilds the group from its records:
    /// Stable with its members and committed offsets; members keep heartbeating.
    #[test]
    fn a_new_coordinator_loads_groups_and_offsets_from_the_log() {
        let mut h = Harness::new();
        let id = h.join_dynamic(client(1));
        h.advance_to(3000);
        h.join_responses();
        h.sync(
            client(1),
            &id,
            1,
            vec![(id.clone(), vec![TopicPartition::new("orders", 0)])],
        );
        h.commit();
        h.replies();
        assert_eq!(h.commit_offset(&id, 1), None);
        let (other, _) = h.reloaded();
        let g = other.group(GROUP).expect("loaded");
        assert_eq!(g.state, GroupState::Stable);
        assert_eq!(g.generation, 1);
        assert_eq!(
            g.member(&id).unwrap().assignment,
            vec![TopicPartition::new("orders", 0)]
        );
        assert_eq!(
            g.offsets[&TopicPartition::new("orders", 0)].offset,
            Offset(5)
        );
    }

    /// The offset `orders-0` has committed at a coordinator.
    fn committed_orders_0(c: &GroupCoordinator) -> Offset {
        c.group(GROUP).unwrap().offsets[&TopicPartition::new("orders", 0)].offset
    }

    /// KIP-447 (KAFKA.md 4.2): a transactional offset commit is pending until its transaction's
    /// marker reaches the offsets partition. Meanwhile an OffsetFetch with `requireStable`
    /// answers UNSTABLE_OFFSET_COMMIT and one without it the old offset; the COMMIT marker makes
    /// it the committed offset, and a coordinator that loads the partition replays the same.
    #[test]
    fn a_transactional_offset_commit_waits_for_its_commit_marker() {
        let mut h = Harness::new();
        let id = h.stable_group();
        assert_eq!(h.txn_commit(7, &id, 1, 5), None);
        assert_eq!(h.fetch(true), Err(ErrorCode::UnstableOffsetCommit));
        assert_eq!(h.fetch(false), Ok(None));
        // Another coordinator loading the log now sees the commit pending too.
        let (other, p) = h.reloaded();
        assert_eq!(other.shards()[&p].pending_txn_offsets.len(), 1);
        h.marker(7, true);
        assert_eq!(h.fetch(true), Ok(Some(Offset(5))));
        let (other, p) = h.reloaded();
        assert!(other.shards()[&p].pending_txn_offsets.is_empty());
        assert_eq!(committed_orders_0(&other), Offset(5));
    }

    /// An ABORT marker drops the pending offsets; of a transactional and a plain commit of the
    /// same partition the later record wins (`replayEndTransactionMarker` compares record
    /// offsets), on the live coordinator and on one that loads the log.
    #[test]
    fn aborted_transactional_commits_are_dropped_and_the_later_record_wins() {
        let mut h = Harness::new();
        let id = h.stable_group();
        assert_eq!(h.txn_commit(7, &id, 1, 9), None);
        h.marker(7, false);
        assert_eq!(h.fetch(true), Ok(None));
        assert_eq!(h.txn_commit(8, &id, 1, 9), None);
        assert_eq!(h.commit_offset(&id, 1), None); // plain commit of offset 5, written later
        h.marker(8, true);
        assert_eq!(h.fetch(true), Ok(Some(Offset(5))));
        let (other, _) = h.reloaded();
        assert_eq!(committed_orders_0(&other), Offset(5));
    }

    /// `validateTransactionalOffsetCommit`: an unknown group with a generation, or a stale
    /// generation, is ILLEGAL_GENERATION; a member id the group does not know is
    /// UNKNOWN_MEMBER_ID. Nothing is written for a refused commit.
    #[test]
    fn transactional_offset_commits_are_fenced_by_the_group_generation() {
        let mut h = Harness::new();
        assert_eq!(
            h.txn_commit(7, "m", 3, 5),
            Some(ErrorCode::IllegalGeneration)
        );
        let id = h.stable_group();
        let end = h.log.end();
        assert_eq!(
            h.txn_commit(7, &id, 0, 5),
            Some(ErrorCode::IllegalGeneration)
        );
        assert_eq!(
            h.txn_commit(7, "stranger", 1, 5),
            Some(ErrorCode::UnknownMemberId)
        );
        assert_eq!(h.log.end(), end);
        assert_eq!(h.fetch(true), Ok(None));
    }
}
