//! A consumer (`KafkaConsumer`): assign mode, or subscribe mode in a consumer group with the
//! classic protocol (`ConsumerCoordinator`, `AbstractCoordinator`; KAFKA.md 2 and 5).
//!
//! The consumer has two halves, as the Java client does. The network half fetches partitions
//! from their leaders (below the high watermark), finds and follows the group coordinator,
//! heartbeats, joins and syncs. The application half is a poll loop: `poll` returns buffered
//! records (at most `max.poll.records`), the application processes them (a scenario sets the
//! time per record), and commits offsets the way the workload says: auto commit (the positions
//! of *earlier* polls, committed at the next poll, KAFKA.md 5.4), after processing
//! (at-least-once) or before processing (at-most-once). A crash while processing loses the work
//! in progress, which is what makes the delivery semantics visible.
//!
//! Rebalancing follows the protocol the assignors allow (KAFKA.md 2.5): EAGER revokes every
//! partition before rejoining, COOPERATIVE revokes only what the new assignment takes away and
//! then rejoins. Joining happens inside `poll`, so a member busy processing rejoins only when it
//! polls again, and one that does not poll within `max.poll.interval.ms` leaves the group.
//!
//! Deliberate simplifications (docs/deviations.md): coordinator requests share the client
//! connection to the broker rather than a separate one; the group leader assigns the topics its
//! own metadata knows; processing a poll's records is atomic (all or none of them are done
//! when the consumer crashes).

use crate::bytes::Bytes;
use crate::client::connections::Connections;
use crate::client::metadata::ClientMetadata;
use crate::config::{ConsumerConfig, OffsetReset};
use crate::error::ErrorCode;
use crate::group::assignor::{self, AssignorName, MemberSubscription, RebalanceProtocol};
use crate::group::{CONSUMER_PROTOCOL_TYPE, Subscription};
use crate::ids::{
    BrokerId, ClientId, LeaderEpoch, NodeId, Offset, ProducerId, TopicName, TopicPartition,
};
use crate::map::{VecMap, VecSet};
use crate::node::{ClientCommand, Deadlines, Event, Input, Node, Outbox, Output};
use crate::protocol::*;
use crate::record::MarkerKind;
use crate::rng::Rng;
use crate::time::{Duration, Instant};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// `max.partition.fetch.bytes` (1 MiB).
const MAX_PARTITION_FETCH_BYTES: u64 = 1_048_576;

/// When the application commits offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommitMode {
    /// `enable.auto.commit=true`: the next poll commits what earlier polls returned.
    Auto,
    /// `commitSync` after processing each poll's records: at-least-once.
    AfterProcessing,
    /// `commitSync` right after each poll, before processing: at-most-once.
    BeforeProcessing,
    /// Never commit.
    Never,
    /// A consume-transform-produce application: after processing a poll's records it writes
    /// their results and commits the consumed offsets in its producer's transaction
    /// (`sendOffsetsToTransaction`, then `commitTransaction`). Only a pipeline node runs it.
    Transactional,
}

/// A processed poll that a consume-transform-produce application hands to its transactional
/// producer: the records to transform and the offsets to commit with them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handoff {
    /// The processed records, per partition: `(offset, value)`.
    pub records: Polled,
    /// The offsets after them: each partition's last processed offset plus one.
    pub offsets: Vec<(TopicPartition, Offset, Option<LeaderEpoch>)>,
    /// `consumer.groupMetadata()`.
    pub group: crate::client::producer::GroupMetadata,
}

/// What the consumer reads and how the application handles it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerWorkload {
    /// `assign` these partitions (no group).
    pub assign: Vec<TopicPartition>,
    /// `subscribe` to these topics (in the group of `group.id`).
    pub subscribe: Vec<TopicName>,
    /// The application's processing time per record.
    pub processing_time: Duration,
    /// When the application commits.
    pub commit: CommitMode,
}

/// Where the consumer is in one partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PartitionPosition {
    /// The next offset to return; `None` until known (committed offset or reset).
    pub position: Option<Offset>,
    /// The leader epoch of the last record returned, for KIP-320 validation.
    pub position_epoch: Option<LeaderEpoch>,
    /// The leader's high watermark from the last fetch; for a `read_committed` consumer its
    /// last stable offset, the end of what it may read (lag counts to it).
    pub high_watermark: Option<Offset>,
    /// Not fetched before this time (after an error).
    pub backoff_until: Option<Instant>,
    /// `auto.offset.reset=none` found no valid position: the partition is not consumed.
    pub stuck: bool,
    /// The position a fetch found out of range (below the log start offset or past the log
    /// end), until `auto.offset.reset` replaces it.
    pub out_of_range: Option<Offset>,
    /// The committed offset has not been fetched yet (group mode).
    pub needs_committed: bool,
    /// The position must be validated against the leader of this epoch (KIP-320).
    pub validate_epoch: Option<LeaderEpoch>,
}

/// A request in flight: where it went, when it times out, and what it was.
#[derive(Clone, Debug)]
struct InFlight {
    broker: BrokerId,
    deadline: Instant,
    what: Pending,
}

/// What a request in flight was for.
#[derive(Clone, Debug)]
enum Pending {
    Metadata,
    Fetch {
        requested: Vec<(TopicPartition, Offset)>,
    },
    ListOffsets {
        partitions: Vec<TopicPartition>,
    },
    Validate {
        partitions: Vec<(TopicPartition, Offset)>,
    },
    FindCoordinator,
    Join,
    Sync,
    /// Sent in this generation (generation id and member id).
    Heartbeat {
        sent: SentGeneration,
    },
    Commit {
        offsets: Vec<(TopicPartition, Offset)>,
        sync: bool,
        sent: SentGeneration,
    },
    OffsetFetch,
    Leave,
}

/// Where the member is in its group (`MemberState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberState {
    /// Not in a generation.
    Unjoined,
    /// A JoinGroup or SyncGroup is under way.
    Rebalancing,
    /// Holds an assignment for the current generation.
    Stable,
    /// A fatal group error (FENCED_INSTANCE_ID, INCONSISTENT_GROUP_PROTOCOL): no more group
    /// work, as the Java consumer would throw.
    Failed,
}

/// The consumer's view of its group membership.
#[derive(Clone, Debug)]
pub struct GroupMembership {
    /// `group.id`.
    pub group_id: String,
    /// The coordinator, once found.
    pub coordinator: Option<BrokerId>,
    /// The member id (empty before the first JoinGroup answer).
    pub member_id: String,
    /// The generation (-1 when none).
    pub generation: i32,
    /// The assignor the group uses.
    pub protocol: Option<String>,
    /// The state.
    pub state: MemberState,
    /// Whether this member leads the generation.
    pub leader: bool,
    /// The rebalance protocol the assignors allow (KAFKA.md 2.5).
    pub rebalance_protocol: RebalanceProtocol,
    rejoin_needed: bool,
    join_after_commit: bool,
    join_commit_done: bool,
    retry_at: Option<Instant>,
    /// An OffsetFetch found unstable offsets: the next one waits until then.
    offset_fetch_retry_at: Option<Instant>,
    next_heartbeat: Option<Instant>,
    last_heartbeat_ok: Instant,
    /// What the sticky assignors remember: the last assignment and its generation.
    sticky_memory: (Vec<TopicPartition>, Option<i32>),
    /// The consumer closed and left the group for good.
    pub left: bool,
}

/// The application's poll loop.
#[derive(Clone, Debug)]
enum App {
    /// Ready to poll.
    Idle,
    /// Processing a poll's records one after another from `started`: `done` of them are
    /// finished. A crash in the middle leaves the rest unprocessed, as it would a real
    /// application's loop over `ConsumerRecords`.
    Processing {
        started: Instant,
        done: usize,
        records: Polled,
    },
    /// Waiting for a synchronous commit; then process (`Some`) or poll again (`None`).
    Committing {
        records: Option<Polled>,
        give_up_at: Instant,
    },
    /// A consume-transform-produce application waits for the transaction that writes a
    /// poll's results and commits its offsets (`handoff` until its producer takes it).
    InTransaction { handoff: Option<Handoff> },
}

/// The generation and member id a request was sent with (`sentGeneration`): an error about a
/// generation the member has since left behind is ignored.
type SentGeneration = (i32, String);

/// `generationUnchanged`: the member is still in the generation a request was sent in.
fn generation_unchanged(g: &GroupMembership, sent: &SentGeneration) -> bool {
    g.generation == sent.0 && g.member_id == sent.1
}

/// What became of an attempt to send an offset commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CommitSend {
    /// The request is on its way.
    Sent,
    /// No coordinator is ready; a synchronous commit waits for one.
    NoCoordinator,
    /// The member is not in a stable generation: `CommitFailedException` without a request.
    Refused,
}

/// What one poll returned: per partition, `(offset, value)` of each record.
pub type Polled = Vec<(TopicPartition, Vec<(Offset, Option<Bytes>)>)>;

/// A partition to validate: current leader epoch, epoch of the position, the position.
type Validation = (TopicPartition, Option<LeaderEpoch>, LeaderEpoch, Offset);

/// A step of a partition's position, fetched and not yet polled: a record, or the end of a
/// batch the log cleaner left without records at its end.
#[derive(Debug)]
struct Buffered {
    /// The position this step continues from: the step is stale unless the position is here.
    from: Offset,
    /// The offset of the record; the position moves past it.
    offset: Offset,
    /// The record's value, or `None` for a skip over offsets that hold no record any more.
    record: Option<Option<Bytes>>,
    /// The leader epoch of the batch.
    epoch: LeaderEpoch,
}

/// A consumer node.
#[derive(Debug)]
pub struct Consumer {
    id: ClientId,
    name: String,
    config: ConsumerConfig,
    workload: ConsumerWorkload,
    topics: Vec<TopicName>,
    positions: VecMap<TopicPartition, PartitionPosition>,
    buffer: VecMap<TopicPartition, VecDeque<Buffered>>,
    group: Option<GroupMembership>,
    app: App,
    idle_since: Instant,
    next_auto_commit: Option<Instant>,
    rng: Rng,
    started: bool,
    consuming: bool,
    closing: bool,
    now: Instant,
    metadata: ClientMetadata,
    pending: VecMap<CorrelationId, InFlight>,
    connections: Connections,
    polled: u64,
    processed: u64,
    next_correlation: CorrelationId,
    outbox: Outbox,
}

impl Consumer {
    /// A consumer with `workload`, bootstrapping from `bootstrap`.
    pub fn new(
        id: ClientId,
        name: impl Into<String>,
        config: ConsumerConfig,
        workload: ConsumerWorkload,
        bootstrap: Vec<BrokerId>,
        seed: u64,
    ) -> Consumer {
        let mut topics: VecSet<TopicName> =
            workload.assign.iter().map(|tp| tp.topic.clone()).collect();
        topics.extend(workload.subscribe.iter().cloned());
        let group = match (&config.group_id, workload.subscribe.is_empty()) {
            (Some(group_id), false) => Some(GroupMembership {
                group_id: group_id.clone(),
                coordinator: None,
                member_id: String::new(),
                generation: -1,
                protocol: None,
                state: MemberState::Unjoined,
                leader: false,
                rebalance_protocol: rebalance_protocol(&config.partition_assignment_strategy),
                rejoin_needed: true,
                join_after_commit: false,
                join_commit_done: false,
                retry_at: None,
                offset_fetch_retry_at: None,
                next_heartbeat: None,
                last_heartbeat_ok: Instant::ZERO,
                sticky_memory: (Vec::new(), None),
                left: false,
            }),
            _ => None,
        };
        Consumer {
            id,
            name: name.into(),
            positions: workload
                .assign
                .iter()
                .map(|tp| (tp.clone(), PartitionPosition::default()))
                .collect(),
            config,
            workload,
            topics: topics.into_iter().collect(),
            buffer: VecMap::new(),
            group,
            app: App::Idle,
            idle_since: Instant::ZERO,
            next_auto_commit: None,
            rng: Rng::new(seed),
            started: false,
            consuming: false,
            closing: false,
            now: Instant::ZERO,
            metadata: ClientMetadata::new(bootstrap),
            pending: VecMap::new(),
            connections: Connections::default(),
            polled: 0,
            processed: 0,
            next_correlation: 0,
            outbox: Outbox::default(),
        }
    }

    /// The processed poll a consume-transform-produce application is to write in a
    /// transaction, once: the caller's producer takes it.
    pub fn take_handoff(&mut self) -> Option<Handoff> {
        match &mut self.app {
            App::InTransaction { handoff } => handoff.take(),
            _ => None,
        }
    }

    /// Whether the application waits for a transaction to end.
    pub fn in_transaction(&self) -> bool {
        matches!(self.app, App::InTransaction { .. })
    }

    /// The transaction of the last handoff ended: committed, the application polls on; not
    /// committed (aborted, or its producer failed), it rewinds every partition to its committed
    /// offset and consumes the records again (`resetToLastCommittedPositions`).
    pub fn transaction_finished(&mut self, now: Instant, committed: bool) {
        if !self.in_transaction() {
            return;
        }
        if !committed {
            self.outbox.event(Event::PositionsRewound {
                partitions: self.positions.keys().cloned().collect(),
            });
            self.buffer.clear();
            for pos in self.positions.values_mut() {
                pos.position = None;
                pos.position_epoch = None;
                pos.validate_epoch = None;
                pos.needs_committed = true;
            }
        }
        self.idle(now);
        self.run_app(now);
    }

    /// The client id.
    pub fn id(&self) -> ClientId {
        self.id
    }

    /// The consumer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The position and last seen high watermark of each assigned partition.
    pub fn positions(&self) -> &VecMap<TopicPartition, PartitionPosition> {
        &self.positions
    }

    /// The partitions the consumer owns now.
    pub fn assignment(&self) -> impl Iterator<Item = &TopicPartition> {
        self.positions.keys()
    }

    /// The client's lag on a partition it owns: the high watermark of its last fetch minus its
    /// position (`SubscriptionState.partitionLag` for read_uncommitted, KAFKA.md 5.4); `None`
    /// until both are known.
    pub fn lag(&self, tp: &TopicPartition) -> Option<u64> {
        let p = self.positions.get(tp)?;
        Some(p.high_watermark?.0.saturating_sub(p.position?.0))
    }

    /// The group membership, in subscribe mode.
    pub fn group(&self) -> Option<&GroupMembership> {
        self.group.as_ref()
    }

    /// The workload.
    pub fn workload(&self) -> &ConsumerWorkload {
        &self.workload
    }

    /// Whether the application has nothing in hand: no records being processed or waiting
    /// for a commit, and nothing fetched that a poll has not returned.
    pub fn is_idle(&self) -> bool {
        matches!(self.app, App::Idle) && self.buffer.values().all(VecDeque::is_empty)
    }

    /// Whether the workload runs (started and not stopped or closed).
    pub fn is_consuming(&self) -> bool {
        self.started && self.consuming
    }

    /// How many records polls have returned.
    pub fn records_polled(&self) -> u64 {
        self.polled
    }

    /// How many records the application has finished processing.
    pub fn records_processed(&self) -> u64 {
        self.processed
    }

    fn correlation(&mut self) -> CorrelationId {
        self.next_correlation += 1;
        self.next_correlation
    }

    fn busy_fetching(&self, broker: BrokerId) -> bool {
        self.pending
            .values()
            .any(|p| p.broker == broker && matches!(p.what, Pending::Fetch { .. }))
    }

    fn has_pending(&self, f: impl Fn(&Pending) -> bool) -> bool {
        self.pending.values().any(|p| f(&p.what))
    }

    fn drive(&mut self, now: Instant) {
        self.maybe_request_metadata(now);
        if !self.consuming {
            return;
        }
        if self.group.is_some() {
            self.drive_group(now);
        }
        self.validate_positions(now);
        self.reset_positions(now);
        self.send_fetches(now);
        self.run_app(now);
        // `KafkaConsumer.poll` sends the next round of fetches before it returns the records
        // ("pipelining"): an application that drained a partition's buffer at once gets its
        // next fetch now, not at some later input.
        self.send_fetches(now);
    }

    fn maybe_request_metadata(&mut self, now: Instant) {
        if self.has_pending(|p| matches!(p, Pending::Metadata)) {
            return;
        }
        if self.metadata.next_update(self.config.metadata_max_age) > now {
            return;
        }
        let Some(broker) = self.least_loaded(now) else {
            return;
        };
        if !self.ensure_connected(broker, now) {
            return;
        }
        let correlation = self.correlation();
        self.request(
            broker,
            now + self.config.request_timeout,
            Pending::Metadata,
            Message::Metadata(MetadataRequest {
                correlation,
                topics: self.topics.clone(),
            }),
        );
    }

    /// `leastLoadedNode`: ready brokers first, then ones being connected to, then others.
    fn least_loaded(&mut self, now: Instant) -> Option<BrokerId> {
        let connections = &self.connections;
        let pending = &self.pending;
        let load = |b: BrokerId| {
            pending.values().filter(|p| p.broker == b).count() + connections.load_penalty(b)
        };
        self.metadata
            .least_loaded(load, |b| connections.is_backing_off(b, now), &mut self.rng)
    }

    /// Sends a request that fails when `request.timeout.ms` passes.
    fn request(&mut self, broker: BrokerId, deadline: Instant, what: Pending, message: Message) {
        let correlation = correlation_of(&message);
        self.pending.insert(
            correlation,
            InFlight {
                broker,
                deadline,
                what,
            },
        );
        self.outbox.send(NodeId::Broker(broker), message);
    }

    // The group (`AbstractCoordinator`, `ConsumerCoordinator`).

    fn drive_group(&mut self, now: Instant) {
        let Some(g) = &self.group else {
            return;
        };
        if g.state == MemberState::Failed || g.left {
            return;
        }
        if g.retry_at.is_some_and(|t| t > now) {
            return;
        }
        let Some(coordinator) = g.coordinator else {
            self.find_coordinator(now);
            return;
        };
        if self.connections.is_backing_off(coordinator, now) {
            // `ensureCoordinatorReady`: the coordinator was found but its connection failed;
            // forget it and back off before asking again (it may have moved).
            let g = self.group.as_mut().expect("group mode");
            g.coordinator = None;
            g.retry_at = Some(now + self.config.retry_backoff);
            return;
        }
        if !self.ensure_connected(coordinator, now) {
            return;
        }
        // The heartbeat thread: poll timeout, then heartbeats.
        let g = self.group.as_ref().expect("group mode");
        if g.state != MemberState::Unjoined
            && !matches!(self.app, App::Idle)
            && now >= self.idle_since + self.config.max_poll_interval
        {
            self.leave_group(now, "consumer poll timeout has expired");
            return;
        }
        if matches!(g.state, MemberState::Rebalancing | MemberState::Stable)
            && g.generation >= 0
            && now >= g.last_heartbeat_ok + self.config.session_timeout
        {
            // No successful heartbeat for a session: the coordinator is presumed dead.
            self.coordinator_unknown(now);
            return;
        }
        self.maybe_heartbeat(now, coordinator);
        self.fetch_committed(now, coordinator);
    }

    fn find_coordinator(&mut self, now: Instant) {
        if self.has_pending(|p| matches!(p, Pending::FindCoordinator)) {
            return;
        }
        let Some(broker) = self.least_loaded(now) else {
            return;
        };
        if !self.ensure_connected(broker, now) {
            return;
        }
        let correlation = self.correlation();
        let group_id = self.group.as_ref().expect("group mode").group_id.clone();
        self.request(
            broker,
            now + self.config.request_timeout,
            Pending::FindCoordinator,
            Message::FindCoordinator(FindCoordinatorRequest {
                correlation,
                group_id,
                key_type: CoordinatorType::Group,
            }),
        );
    }

    /// `markCoordinatorUnknown`: find it again; its connection is closed.
    fn coordinator_unknown(&mut self, now: Instant) {
        let backoff = self.config.retry_backoff;
        let Some(g) = self.group.as_mut() else {
            return;
        };
        if let Some(c) = g.coordinator.take() {
            self.outbox.reset(NodeId::Broker(c), Channel::Client);
            self.fail_connection(now, c);
        }
        let g = self.group.as_mut().expect("group mode");
        g.retry_at = Some(now + backoff);
    }

    fn maybe_heartbeat(&mut self, now: Instant, coordinator: BrokerId) {
        let g = self.group.as_ref().expect("group mode");
        if g.generation < 0 || !matches!(g.state, MemberState::Rebalancing | MemberState::Stable) {
            return;
        }
        if g.next_heartbeat.is_some_and(|t| t > now)
            || self.has_pending(|p| matches!(p, Pending::Heartbeat { .. }))
        {
            return;
        }
        let (group_id, generation_id, member_id) =
            (g.group_id.clone(), g.generation, g.member_id.clone());
        let sent = (generation_id, member_id.clone());
        let message = Message::Heartbeat(HeartbeatRequest {
            correlation: self.correlation(),
            group_id,
            generation_id,
            member_id,
            group_instance_id: self.config.group_instance_id.clone(),
        });
        let interval = self.config.heartbeat_interval;
        self.group.as_mut().expect("group mode").next_heartbeat = Some(now + interval);
        self.request(
            coordinator,
            now + self.config.request_timeout,
            Pending::Heartbeat { sent },
            message,
        );
    }

    /// Starts a JoinGroup, after `onJoinPrepare`: with auto commit, a synchronous commit of
    /// what was consumed; EAGER then revokes every partition.
    fn join_group(&mut self, now: Instant) {
        let Some(coordinator) = self.group.as_ref().and_then(|g| g.coordinator) else {
            return;
        };
        if !self.connections.is_ready(coordinator)
            || self.has_pending(|p| matches!(p, Pending::Join | Pending::Sync | Pending::Leave))
        {
            return;
        }
        let g = self.group.as_ref().expect("group mode");
        if g.join_after_commit {
            return; // the commit of onJoinPrepare is under way
        }
        // `onJoinPrepare`: with auto commit, commit what was consumed once, then join whatever
        // the commit's outcome.
        if self.config.enable_auto_commit
            && !g.join_commit_done
            && g.generation >= 0
            && g.state == MemberState::Stable
            && !self.consumed_offsets().is_empty()
        {
            let offsets = self.consumed_offsets();
            if self.send_commit(now, offsets, true) == CommitSend::Sent {
                self.group.as_mut().expect("group mode").join_after_commit = true;
                return;
            }
        }
        let g = self.group.as_ref().expect("group mode");
        if g.rebalance_protocol == RebalanceProtocol::Eager && !self.positions.is_empty() {
            let revoked: Vec<TopicPartition> = self.positions.keys().cloned().collect();
            self.revoke(&revoked, false, None);
        }
        let correlation = self.correlation();
        let g = self.group.as_ref().expect("group mode");
        let owned: Vec<TopicPartition> = self.positions.keys().cloned().collect();
        let protocols = self
            .config
            .partition_assignment_strategy
            .iter()
            .map(|name| {
                // The sticky assignors carry the last assignment and its generation in their
                // user data; cooperative-sticky and the subscription's ownedPartitions field
                // report what the member owns right now.
                let (owned, generation) = match name.as_str() {
                    "sticky" => (g.sticky_memory.0.clone(), g.sticky_memory.1),
                    "cooperative-sticky" => (owned.clone(), g.sticky_memory.1),
                    _ => (owned.clone(), None),
                };
                GroupProtocol {
                    name: name.clone(),
                    metadata: Subscription {
                        topics: self.workload.subscribe.clone(),
                        owned,
                        generation,
                    },
                }
            })
            .collect();
        let message = Message::JoinGroup(JoinGroupRequest {
            correlation,
            group_id: g.group_id.clone(),
            member_id: g.member_id.clone(),
            group_instance_id: self.config.group_instance_id.clone(),
            client_id: self.name.clone(),
            session_timeout: self.config.session_timeout,
            rebalance_timeout: self.config.max_poll_interval,
            protocol_type: CONSUMER_PROTOCOL_TYPE.into(),
            protocols,
        });
        let g = self.group.as_mut().expect("group mode");
        g.state = MemberState::Rebalancing;
        g.rejoin_needed = false;
        g.join_commit_done = false;
        // The coordinator may hold a JoinGroup for the whole rebalance timeout.
        let deadline = now + self.config.max_poll_interval + Duration(5000);
        self.request(coordinator, deadline, Pending::Join, message);
    }

    fn handle_join_response(&mut self, now: Instant, r: JoinGroupResponse) {
        let Some(g) = self.group.as_mut() else {
            return;
        };
        if let Some(error) = r.error {
            self.outbox.event(Event::GroupError {
                group: g.group_id.clone(),
                api: "JoinGroup".into(),
                error,
            });
            if g.state == MemberState::Rebalancing {
                g.state = MemberState::Unjoined;
            }
            g.rejoin_needed = true;
            match error {
                ErrorCode::MemberIdRequired => g.member_id = r.member_id,
                ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration => {
                    self.reset_generation(Some(error), true);
                }
                ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                    self.coordinator_unknown(now);
                }
                ErrorCode::RebalanceInProgress | ErrorCode::CoordinatorLoadInProgress => {
                    g.retry_at = Some(now + self.config.retry_backoff);
                }
                _ => {
                    // FENCED_INSTANCE_ID, INCONSISTENT_GROUP_PROTOCOL, INVALID_SESSION_TIMEOUT:
                    // the Java consumer throws from poll.
                    g.state = MemberState::Failed;
                }
            }
            return;
        }
        g.member_id = r.member_id.clone();
        g.generation = r.generation_id;
        g.protocol = r.protocol_name.clone();
        g.leader = r.leader == r.member_id;
        g.last_heartbeat_ok = now;
        g.next_heartbeat = Some(now + self.config.heartbeat_interval);
        self.outbox.event(Event::JoinedGroup {
            group: g.group_id.clone(),
            member_id: g.member_id.clone(),
            generation: g.generation,
            leader: g.leader,
            protocol: g.protocol.clone(),
        });
        let assignments = if g.leader && !r.members.is_empty() {
            self.perform_assignment(&r)
        } else {
            Vec::new()
        };
        let correlation = self.correlation();
        let g = self.group.as_ref().expect("group mode");
        let Some(coordinator) = g.coordinator else {
            return;
        };
        let message = Message::SyncGroup(SyncGroupRequest {
            correlation,
            group_id: g.group_id.clone(),
            generation_id: g.generation,
            member_id: g.member_id.clone(),
            group_instance_id: self.config.group_instance_id.clone(),
            protocol_name: g.protocol.clone(),
            assignments,
        });
        let deadline = now + self.config.max_poll_interval + Duration(5000);
        self.request(coordinator, deadline, Pending::Sync, message);
    }

    /// The leader runs the group's assignor (`ConsumerCoordinator.onLeaderElected`).
    fn perform_assignment(&self, r: &JoinGroupResponse) -> Vec<(String, Vec<TopicPartition>)> {
        let Some(name) = r
            .protocol_name
            .as_deref()
            .and_then(AssignorName::from_protocol_name)
        else {
            return Vec::new();
        };
        let mut partitions_per_topic = VecMap::new();
        for m in &r.members {
            for t in &m.metadata.topics {
                if let Some(parts) = self.metadata.partitions(t) {
                    partitions_per_topic.insert(t.clone(), parts.len() as u32);
                }
            }
        }
        let members: Vec<MemberSubscription> = r
            .members
            .iter()
            .map(|m| MemberSubscription {
                member_id: m.member_id.clone(),
                instance_id: m.group_instance_id.clone(),
                topics: m.metadata.topics.clone(),
                owned: m.metadata.owned.clone(),
                generation: m.metadata.generation,
            })
            .collect();
        assignor::assign(name, &partitions_per_topic, &members)
            .members
            .into_iter()
            .collect()
    }

    /// `onJoinComplete`.
    fn handle_sync_response(&mut self, now: Instant, r: SyncGroupResponse) {
        let Some(g) = self.group.as_mut() else {
            return;
        };
        if let Some(error) = r.error {
            self.outbox.event(Event::GroupError {
                group: g.group_id.clone(),
                api: "SyncGroup".into(),
                error,
            });
            g.state = MemberState::Unjoined;
            g.rejoin_needed = true;
            match error {
                ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration => {
                    self.reset_generation(Some(error), true);
                }
                ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                    self.coordinator_unknown(now);
                }
                ErrorCode::RebalanceInProgress => {}
                _ => g.state = MemberState::Failed,
            }
            return;
        }
        if g.generation < 0 || g.state != MemberState::Rebalancing {
            // "Generation data was cleared by heartbeat thread": this rebalance failed; rejoin.
            g.rejoin_needed = true;
            return;
        }
        let assigned: VecSet<TopicPartition> = r.assignment.iter().cloned().collect();
        let owned: VecSet<TopicPartition> = self.positions.keys().cloned().collect();
        g.state = MemberState::Stable;
        g.sticky_memory = (r.assignment.clone(), Some(g.generation));
        let revoked: Vec<TopicPartition> = owned.difference(&assigned).cloned().collect();
        let added: Vec<TopicPartition> = assigned.difference(&owned).cloned().collect();
        if !revoked.is_empty() {
            // COOPERATIVE: give up what moved, then rejoin so it can go to its new owner.
            self.revoke(&revoked, false, None);
            self.group.as_mut().expect("group mode").rejoin_needed = true;
        }
        for tp in &added {
            self.positions.insert(
                tp.clone(),
                PartitionPosition {
                    needs_committed: true,
                    ..PartitionPosition::default()
                },
            );
        }
        let g = self.group.as_ref().expect("group mode");
        self.outbox.event(Event::PartitionsAssigned {
            group: g.group_id.clone(),
            member_id: g.member_id.clone(),
            generation: g.generation,
            partitions: added,
        });
        if self.config.enable_auto_commit && self.workload.commit == CommitMode::Auto {
            self.next_auto_commit = Some(now + self.config.auto_commit_interval);
        }
    }

    /// Drops partitions: `onPartitionsRevoked`, or `onPartitionsLost` when `lost`.
    fn revoke(&mut self, partitions: &[TopicPartition], lost: bool, error: Option<ErrorCode>) {
        for tp in partitions {
            self.positions.remove(tp);
            self.buffer.remove(tp);
        }
        let Some(g) = &self.group else {
            return;
        };
        let (group, member_id, partitions) =
            (g.group_id.clone(), g.member_id.clone(), partitions.to_vec());
        self.outbox.event(if lost {
            Event::PartitionsLost {
                group,
                member_id,
                partitions,
                error,
            }
        } else {
            Event::PartitionsRevoked {
                group,
                member_id,
                partitions,
            }
        });
    }

    /// `resetStateAndGeneration`: the partitions are lost and the member rejoins.
    fn reset_generation(&mut self, error: Option<ErrorCode>, reset_member_id: bool) {
        let owned: Vec<TopicPartition> = self.positions.keys().cloned().collect();
        if !owned.is_empty() {
            self.revoke(&owned, true, error);
        }
        let Some(g) = self.group.as_mut() else {
            return;
        };
        g.generation = -1;
        g.protocol = None;
        g.leader = false;
        g.state = MemberState::Unjoined;
        g.rejoin_needed = true;
        g.next_heartbeat = None;
        if reset_member_id {
            g.member_id.clear();
        }
    }

    fn handle_heartbeat_response(
        &mut self,
        now: Instant,
        r: HeartbeatResponse,
        sent: SentGeneration,
    ) {
        let Some(g) = self.group.as_mut() else {
            return;
        };
        // `HeartbeatResponseHandler`: errors about a generation the member has since left
        // (its JoinGroup answered first) are ignored.
        let stale = !generation_unchanged(g, &sent);
        match r.error {
            None => g.last_heartbeat_ok = now,
            Some(error) => {
                self.outbox.event(Event::GroupError {
                    group: g.group_id.clone(),
                    api: "Heartbeat".into(),
                    error,
                });
                match error {
                    ErrorCode::RebalanceInProgress => {
                        g.last_heartbeat_ok = now;
                        if g.state == MemberState::Stable {
                            g.rejoin_needed = true;
                        }
                    }
                    ErrorCode::IllegalGeneration
                    | ErrorCode::UnknownMemberId
                    | ErrorCode::FencedInstanceId
                        if stale => {}
                    ErrorCode::IllegalGeneration => self.reset_generation(Some(error), false),
                    ErrorCode::UnknownMemberId => self.reset_generation(Some(error), true),
                    ErrorCode::FencedInstanceId => {
                        self.reset_generation(Some(error), true);
                        self.group.as_mut().expect("group mode").state = MemberState::Failed;
                    }
                    ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                        self.coordinator_unknown(now)
                    }
                    _ => {}
                }
            }
        }
    }

    /// `maybeLeaveGroup`: dynamic members send LeaveGroup; static ones only stop heartbeating.
    fn leave_group(&mut self, now: Instant, reason: &str) {
        let Some(g) = self.group.as_ref() else {
            return;
        };
        let (group_id, member_id, coordinator) =
            (g.group_id.clone(), g.member_id.clone(), g.coordinator);
        if self.config.group_instance_id.is_none()
            && !member_id.is_empty()
            && let Some(c) = coordinator
            && self.connections.is_ready(c)
        {
            let correlation = self.correlation();
            self.request(
                c,
                now + self.config.request_timeout,
                Pending::Leave,
                Message::LeaveGroup(LeaveGroupRequest {
                    correlation,
                    group_id: group_id.clone(),
                    members: vec![(member_id.clone(), None)],
                }),
            );
        }
        // `onLeavePrepare`: partitions of a valid generation are revoked (the application may
        // still commit them); with no generation or mid-rebalance they are lost.
        let g = self.group.as_ref().expect("group mode");
        let lost = g.generation < 0 || g.state != MemberState::Stable;
        let owned: Vec<TopicPartition> = self.positions.keys().cloned().collect();
        if !owned.is_empty() {
            self.revoke(&owned, lost, None);
        }
        self.outbox.event(Event::LeftGroup {
            group: group_id,
            member_id,
            reason: reason.to_string(),
        });
        self.reset_generation(None, true);
    }

    /// Asks the coordinator for the committed offsets of partitions that have no position.
    fn fetch_committed(&mut self, now: Instant, coordinator: BrokerId) {
        if self.has_pending(|p| matches!(p, Pending::OffsetFetch)) {
            return;
        }
        let g = self.group.as_ref().expect("group mode");
        if g.offset_fetch_retry_at.is_some_and(|t| t > now) {
            return;
        }
        let partitions: Vec<TopicPartition> = self
            .positions
            .iter()
            .filter(|(_, p)| p.needs_committed)
            .map(|(tp, _)| tp.clone())
            .collect();
        if partitions.is_empty() {
            return;
        }
        let correlation = self.correlation();
        let group_id = self.group.as_ref().expect("group mode").group_id.clone();
        self.request(
            coordinator,
            now + self.config.request_timeout,
            Pending::OffsetFetch,
            Message::OffsetFetch(OffsetFetchRequest {
                correlation,
                group_id,
                partitions,
                // `ConsumerCoordinator.sendOffsetFetchRequest` always asks for stable offsets.
                require_stable: true,
            }),
        );
    }

    fn handle_offset_fetch(&mut self, now: Instant, r: OffsetFetchResponse) {
        if let Some(error) = r.error {
            if matches!(
                error,
                ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable
            ) {
                self.coordinator_unknown(now);
            }
            return;
        }
        // `OffsetFetchResponseHandler`: an unstable offset (a transactional commit waiting for
        // its marker) fails the whole fetch with a retriable error, and the consumer asks
        // again after `retry.backoff.ms`.
        let unstable: Vec<TopicPartition> = r
            .partitions
            .iter()
            .filter(|(_, c)| *c == Err(ErrorCode::UnstableOffsetCommit))
            .map(|(tp, _)| tp.clone())
            .collect();
        if !unstable.is_empty() {
            let g = self.group.as_mut().expect("group mode");
            g.offset_fetch_retry_at = Some(now + self.config.retry_backoff);
            let group = g.group_id.clone();
            self.outbox.event(Event::CommittedOffsetsUnstable {
                group,
                partitions: unstable,
            });
            return;
        }
        for (tp, committed) in r.partitions {
            let Some(pos) = self.positions.get_mut(&tp) else {
                continue;
            };
            if !pos.needs_committed {
                continue;
            }
            pos.needs_committed = false;
            if let Ok(Some((offset, epoch))) = committed {
                pos.position = Some(offset);
                pos.position_epoch = epoch;
                // The committed offset's epoch is validated against the leader (KIP-320).
                pos.validate_epoch = epoch;
            }
        }
    }

    /// The positions consumed so far (what a commit sends): `allConsumed`.
    fn consumed_offsets(&self) -> Vec<(TopicPartition, Offset, Option<LeaderEpoch>)> {
        self.positions
            .iter()
            .filter_map(|(tp, p)| Some((tp.clone(), p.position?, p.position_epoch)))
            .collect()
    }

    fn send_commit(
        &mut self,
        now: Instant,
        offsets: Vec<(TopicPartition, Offset, Option<LeaderEpoch>)>,
        sync: bool,
    ) -> CommitSend {
        let Some(g) = self.group.as_ref() else {
            return CommitSend::Refused;
        };
        let group_id = g.group_id.clone();
        // `generationIfStable`: during a rebalance a commit fails without a request.
        if g.state != MemberState::Stable || g.generation < 0 {
            self.outbox.event(Event::CommitFailed {
                group: group_id,
                error: ErrorCode::RebalanceInProgress,
            });
            return CommitSend::Refused;
        }
        let Some(coordinator) = g.coordinator.filter(|&c| self.connections.is_ready(c)) else {
            return CommitSend::NoCoordinator;
        };
        let (generation_id, member_id) = (g.generation, g.member_id.clone());
        let sent = (generation_id, member_id.clone());
        let message = Message::OffsetCommit(OffsetCommitRequest {
            correlation: self.correlation(),
            group_id,
            generation_id,
            member_id,
            group_instance_id: self.config.group_instance_id.clone(),
            offsets: offsets.clone(),
        });
        self.request(
            coordinator,
            now + self.config.request_timeout,
            Pending::Commit {
                offsets: offsets.into_iter().map(|(tp, o, _)| (tp, o)).collect(),
                sync,
                sent,
            },
            message,
        );
        CommitSend::Sent
    }

    fn handle_commit_response(
        &mut self,
        now: Instant,
        r: OffsetCommitResponse,
        offsets: Vec<(TopicPartition, Offset)>,
        sync: bool,
        sent: SentGeneration,
    ) {
        let Some(g) = self.group.as_ref() else {
            return;
        };
        let group = g.group_id.clone();
        // `OffsetCommitResponseHandler`: a generation error about a generation the member has
        // left, or arriving mid-rebalance, is only a rebalance in progress.
        let stale = !generation_unchanged(g, &sent) || g.state == MemberState::Rebalancing;
        let error = r.partitions.iter().find_map(|(_, e)| *e);
        match error {
            None => self
                .outbox
                .event(Event::OffsetsCommitted { group, offsets }),
            Some(error) => {
                self.outbox.event(Event::CommitFailed { group, error });
                match error {
                    ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration if stale => {}
                    ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration => {
                        self.reset_generation(Some(error), error == ErrorCode::UnknownMemberId)
                    }
                    ErrorCode::RebalanceInProgress => {
                        self.group.as_mut().expect("group mode").rejoin_needed = true
                    }
                    ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                        self.coordinator_unknown(now)
                    }
                    _ => {}
                }
            }
        }
        self.commit_done(now, sync, error);
    }

    /// A commit finished (or failed): continue what waited for it.
    fn commit_done(&mut self, now: Instant, sync: bool, error: Option<ErrorCode>) {
        if let Some(g) = self.group.as_mut()
            && g.join_after_commit
        {
            g.join_after_commit = false;
            g.join_commit_done = true;
            return;
        }
        if !sync {
            return;
        }
        let App::Committing {
            records,
            give_up_at,
        } = std::mem::replace(&mut self.app, App::Idle)
        else {
            return;
        };
        // `commitSync` retries retriable errors until `default.api.timeout.ms`.
        let retriable = error.is_some_and(|e| {
            matches!(
                e,
                ErrorCode::NotCoordinator
                    | ErrorCode::CoordinatorNotAvailable
                    | ErrorCode::CoordinatorLoadInProgress
                    | ErrorCode::RequestTimedOut
                    | ErrorCode::NetworkException
            )
        });
        if retriable && now < give_up_at {
            self.app = App::Committing {
                records,
                give_up_at,
            };
            return;
        }
        match records {
            // At-most-once: the records are processed only once their commit succeeded; when
            // `commitSync` throws, the application skips them (their position is already past).
            Some(records) if error.is_none() => self.start_processing(now, records),
            _ => self.idle(now),
        }
    }

    // The application's poll loop.

    fn idle(&mut self, now: Instant) {
        self.app = App::Idle;
        self.idle_since = now;
    }

    fn run_app(&mut self, now: Instant) {
        match &self.app {
            App::Processing { .. } => self.continue_processing(now),
            App::Committing { give_up_at, .. } if *give_up_at <= now => {
                self.commit_done(now, true, Some(ErrorCode::RequestTimedOut));
            }
            // A synchronous commit waiting for a coordinator: send it when one is ready.
            App::Committing { .. }
                if !self.has_pending(|p| matches!(p, Pending::Commit { sync: true, .. })) =>
            {
                let offsets = self.consumed_offsets();
                if self.send_commit(now, offsets, true) == CommitSend::Refused {
                    self.commit_done(now, true, Some(ErrorCode::RebalanceInProgress));
                }
            }
            _ => {}
        }
        if self.closing && matches!(self.app, App::Idle) {
            self.close(now);
            return;
        }
        // With no processing time, the application polls again at once, until the buffer
        // is drained (each poll returns at most max.poll.records).
        while matches!(self.app, App::Idle) && self.poll(now) {}
    }

    /// `close()`: commit what was consumed when auto commit is on
    /// (`maybeAutoCommitOffsetsSync`), leave the group (dynamic members) and stop. The commit
    /// goes first on the same connection, so the coordinator handles it while the member is
    /// still in its generation.
    fn close(&mut self, now: Instant) {
        self.closing = false;
        if self.config.enable_auto_commit
            && self.workload.commit == CommitMode::Auto
            && !self.consumed_offsets().is_empty()
        {
            let offsets = self.consumed_offsets();
            let _ = self.send_commit(now, offsets, false);
        }
        self.leave_group(now, "the consumer is closing");
        if let Some(g) = self.group.as_mut() {
            g.left = true;
        }
        self.consuming = false;
    }

    /// `KafkaConsumer.poll`: auto commit, rebalance if needed, then return buffered records.
    /// Whether it returned any.
    fn poll(&mut self, now: Instant) -> bool {
        self.idle_since = now;
        if let Some(g) = &self.group {
            if g.state == MemberState::Failed || g.left {
                return false;
            }
            if self.config.enable_auto_commit
                && self.workload.commit == CommitMode::Auto
                && self.next_auto_commit.is_some_and(|t| t <= now)
                && g.state == MemberState::Stable
            {
                self.next_auto_commit = Some(now + self.config.auto_commit_interval);
                let offsets = self.consumed_offsets();
                if !offsets.is_empty() {
                    // An asynchronous commit: with no coordinator, Java's `commitAsync` fails
                    // the callback and the next interval tries again.
                    let _ = self.send_commit(now, offsets, false);
                }
            }
            let g = self.group.as_ref().expect("group mode");
            if g.rejoin_needed || g.state == MemberState::Unjoined {
                self.join_group(now);
            }
            let g = self.group.as_ref().expect("group mode");
            // EAGER blocks in poll until the rebalance is done; COOPERATIVE keeps returning
            // records of the partitions it still owns.
            if g.state != MemberState::Stable && g.rebalance_protocol == RebalanceProtocol::Eager {
                return false;
            }
        }
        let mut records = Vec::new();
        let mut left = self.config.max_poll_records as usize;
        for (tp, buffered) in &mut self.buffer {
            if left == 0 {
                break;
            }
            let Some(pos) = self.positions.get_mut(tp) else {
                continue;
            };
            let mut taken = Vec::new();
            while left > 0
                && let Some(step) = buffered.pop_front()
            {
                if Some(step.from) != pos.position {
                    continue; // stale data from before a seek
                }
                pos.position = Some(step.offset.next());
                pos.position_epoch = Some(step.epoch);
                if let Some(value) = step.record {
                    taken.push((step.offset, value));
                    left -= 1;
                }
            }
            if !taken.is_empty() {
                records.push((tp.clone(), taken));
            }
        }
        self.buffer.retain(|_, b| !b.is_empty());
        if records.is_empty() {
            return false;
        }
        let count: usize = records.iter().map(|(_, r)| r.len()).sum();
        self.polled += count as u64;
        for (tp, r) in &records {
            self.outbox.event(Event::RecordsPolled {
                topic_partition: tp.clone(),
                records: r.clone(),
            });
        }
        if self.group.is_some() && self.workload.commit == CommitMode::BeforeProcessing {
            let offsets = self.consumed_offsets();
            match self.send_commit(now, offsets, true) {
                // `commitSync` blocks until a coordinator answers (or the API timeout).
                CommitSend::Sent | CommitSend::NoCoordinator => {
                    self.app = App::Committing {
                        records: Some(records),
                        give_up_at: now + self.config.default_api_timeout,
                    };
                }
                // CommitFailedException: at-most-once skips the records rather than risk
                // processing them twice.
                CommitSend::Refused => self.idle(now),
            }
            return true;
        }
        self.start_processing(now, records);
        true
    }

    fn start_processing(&mut self, now: Instant, records: Polled) {
        self.app = App::Processing {
            started: now,
            done: 0,
            records,
        };
        self.continue_processing(now);
    }

    /// Finishes the records whose processing time has passed (each takes `processing_time`,
    /// one after another), and what follows the last one.
    fn continue_processing(&mut self, now: Instant) {
        let App::Processing {
            started,
            done,
            records,
        } = &mut self.app
        else {
            return;
        };
        let total: usize = records.iter().map(|(_, r)| r.len()).sum();
        let per_record = self.workload.processing_time.0;
        let due = match now.0.saturating_sub(started.0).checked_div(per_record) {
            Some(n) => (n as usize).min(total),
            None => total,
        };
        if due > *done {
            // Report the newly finished records, one event per partition run.
            let mut index = 0;
            for (tp, r) in records.iter() {
                let from = (*done).max(index).min(index + r.len()) - index;
                let to = due.max(index).min(index + r.len()) - index;
                if to > from {
                    self.processed += (to - from) as u64;
                    self.outbox.event(Event::RecordsProcessed {
                        topic_partition: tp.clone(),
                        records: r[from..to].to_vec(),
                    });
                }
                index += r.len();
            }
            *done = due;
        }
        if *done < total {
            return;
        }
        if self.workload.commit == CommitMode::Transactional {
            let App::Processing { records, .. } = std::mem::replace(&mut self.app, App::Idle)
            else {
                unreachable!("matched above");
            };
            let g = self.group.as_ref();
            // The offsets to commit are those after each partition's last processed record, as
            // an application computes them from its `ConsumerRecords`: a partition revoked
            // meanwhile still commits what was processed of it, and the group coordinator
            // refuses the commit if the generation moved on.
            let offsets = records
                .iter()
                .filter_map(|(tp, r)| {
                    let (last, _) = r.last()?;
                    let epoch = self.positions.get(tp).and_then(|p| p.position_epoch);
                    Some((tp.clone(), last.next(), epoch))
                })
                .collect();
            let handoff = Handoff {
                records,
                offsets,
                group: crate::client::producer::GroupMetadata {
                    group_id: g.map_or_else(String::new, |g| g.group_id.clone()),
                    generation_id: g.map_or(-1, |g| g.generation),
                    member_id: g.map_or_else(String::new, |g| g.member_id.clone()),
                    group_instance_id: self.config.group_instance_id.clone(),
                },
            };
            self.app = App::InTransaction {
                handoff: Some(handoff),
            };
            return;
        }
        self.app = App::Idle;
        if self.group.is_some() && self.workload.commit == CommitMode::AfterProcessing {
            let offsets = self.consumed_offsets();
            if self.send_commit(now, offsets, true) != CommitSend::Refused {
                self.app = App::Committing {
                    records: None,
                    give_up_at: now + self.config.default_api_timeout,
                };
                return;
            }
        }
        self.idle(now);
    }

    // Fetching.

    /// KIP-320: after a leader change, a position is checked against the new leader's end
    /// offset for the epoch of the last consumed record.
    fn validate_positions(&mut self, now: Instant) {
        let validating: VecSet<TopicPartition> = self
            .pending
            .values()
            .flat_map(|p| match &p.what {
                Pending::Validate { partitions } => {
                    partitions.iter().map(|(tp, _)| tp.clone()).collect()
                }
                _ => Vec::new(),
            })
            .collect();
        let mut by_leader: VecMap<BrokerId, Vec<Validation>> = VecMap::new();
        let mut unled = false;
        for (tp, pos) in &mut self.positions {
            let (Some(position), Some(epoch)) = (pos.position, pos.position_epoch) else {
                continue;
            };
            if pos.validate_epoch.is_none() || validating.contains(tp) {
                continue;
            }
            let Some((leader, current)) = self.metadata.leader(tp) else {
                // The leader a validation was due with is gone from the metadata since. Kafka's
                // position still names that leader, which answers NOT_LEADER_OR_FOLLOWER, and
                // the failed validation requests a metadata update
                // (`OffsetFetcherUtils.onSuccessfulResponseForValidatingPositions`); the model
                // asks for the update at once.
                unled = true;
                continue;
            };
            by_leader
                .entry(leader)
                .or_default()
                .push((tp.clone(), Some(current), epoch, position));
        }
        if unled {
            self.metadata.update_requested = true;
        }
        for (broker, parts) in by_leader {
            if !self.ensure_connected(broker, now) {
                continue;
            }
            let correlation = self.correlation();
            self.request(
                broker,
                now + self.config.request_timeout,
                Pending::Validate {
                    partitions: parts.iter().map(|(tp, _, _, o)| (tp.clone(), *o)).collect(),
                },
                Message::OffsetsForLeaderEpoch(OffsetsForLeaderEpochRequest {
                    correlation,
                    partitions: parts.into_iter().map(|(tp, c, e, _)| (tp, c, e)).collect(),
                }),
            );
        }
    }

    fn handle_validation(
        &mut self,
        now: Instant,
        r: OffsetsForLeaderEpochResponse,
        asked: Vec<(TopicPartition, Offset)>,
    ) {
        for (tp, error, end) in r.partitions {
            let Some(&(_, position)) = asked.iter().find(|(t, _)| *t == tp) else {
                continue;
            };
            let Some(pos) = self.positions.get_mut(&tp) else {
                continue;
            };
            if pos.position != Some(position) {
                continue;
            }
            if error.is_some() {
                // NOT_LEADER, FENCED or UNKNOWN_LEADER_EPOCH: refresh metadata, validate again.
                pos.backoff_until = Some(now + self.config.retry_backoff);
                self.metadata.update_requested = true;
                continue;
            }
            pos.validate_epoch = None;
            match end {
                Some((_, end_offset)) if end_offset < position => {
                    // The log was truncated below the position (`maybeCompleteValidation`).
                    self.buffer.remove(&tp);
                    let pos = self.positions.get_mut(&tp).expect("checked");
                    if self.config.auto_offset_reset == OffsetReset::None {
                        pos.stuck = true;
                    } else {
                        pos.position = Some(end_offset);
                    }
                    self.outbox.event(Event::TruncationDetected {
                        topic_partition: tp,
                        position,
                        end_offset,
                    });
                }
                Some(_) => {}
                None => {
                    // The leader does not know the epoch: the reset policy applies.
                    pos.position = None;
                    pos.stuck = self.config.auto_offset_reset == OffsetReset::None;
                    self.buffer.remove(&tp);
                }
            }
        }
    }

    /// Partitions with no position ask their leader for the offset `auto.offset.reset` names.
    fn reset_positions(&mut self, now: Instant) {
        let spec = match self.config.auto_offset_reset {
            OffsetReset::Earliest => OffsetSpec::Earliest,
            OffsetReset::Latest => OffsetSpec::Latest,
            OffsetReset::None => return,
        };
        let resetting: VecSet<TopicPartition> = self
            .pending
            .values()
            .flat_map(|p| match &p.what {
                Pending::ListOffsets { partitions } => partitions.clone(),
                _ => Vec::new(),
            })
            .collect();
        let mut by_leader: VecMap<BrokerId, Vec<TopicPartition>> = VecMap::new();
        let mut unled = false;
        for (tp, pos) in &self.positions {
            if pos.position.is_some()
                || pos.stuck
                || pos.needs_committed
                || resetting.contains(tp)
                || pos.backoff_until.is_some_and(|t| t > now)
            {
                continue;
            }
            match self.metadata.leader(tp) {
                Some((leader, _)) => by_leader.entry(leader).or_default().push(tp.clone()),
                // `OffsetFetcher.resetPositionsIfNeeded`: "Leader for partition is unknown for
                // fetching offset": ask for fresh metadata.
                None => unled = true,
            }
        }
        if unled {
            self.metadata.update_requested = true;
        }
        for (broker, partitions) in by_leader {
            if !self.ensure_connected(broker, now) {
                continue;
            }
            let correlation = self.correlation();
            let request = partitions
                .iter()
                .map(|tp| (tp.clone(), spec, self.metadata.leader_epoch(tp)))
                .collect();
            self.request(
                broker,
                now + self.config.request_timeout,
                Pending::ListOffsets { partitions },
                Message::ListOffsets(ListOffsetsRequest {
                    correlation,
                    partitions: request,
                    isolation_level: self.config.isolation_level,
                }),
            );
        }
    }

    /// One fetch at a time per broker, for every partition it leads that has a position and
    /// nothing buffered (the Java fetcher skips partitions with buffered data).
    fn send_fetches(&mut self, now: Instant) {
        let mut by_leader: VecMap<BrokerId, Vec<FetchPartition>> = VecMap::new();
        let mut unled = false;
        for (tp, pos) in &self.positions {
            let Some(position) = pos.position else {
                continue;
            };
            if pos.backoff_until.is_some_and(|t| t > now)
                || pos.validate_epoch.is_some()
                || self.buffer.get(tp).is_some_and(|b| !b.is_empty())
            {
                continue;
            }
            let Some((leader, epoch)) = self.metadata.leader(tp) else {
                // `Fetcher.prepareFetchRequests`: a position without a known leader asks for
                // fresh metadata.
                unled = true;
                continue;
            };
            if self.busy_fetching(leader) {
                continue;
            }
            by_leader.entry(leader).or_default().push(FetchPartition {
                topic_partition: tp.clone(),
                fetch_offset: position,
                last_fetched_epoch: None,
                current_leader_epoch: Some(epoch),
            });
        }
        if unled {
            self.metadata.update_requested = true;
        }
        for (broker, partitions) in by_leader {
            if !self.ensure_connected(broker, now) {
                continue; // only ready brokers get requests; the fetch waits for the connection
            }
            let correlation = self.correlation();
            let requested = partitions
                .iter()
                .map(|p| (p.topic_partition.clone(), p.fetch_offset))
                .collect();
            // The broker may hold the fetch for fetch.max.wait.ms, so the client waits longer.
            let deadline = now + self.config.request_timeout + self.config.fetch_max_wait;
            self.request(
                broker,
                deadline,
                Pending::Fetch { requested },
                Message::Fetch(FetchRequest {
                    correlation,
                    replica: None,
                    max_wait: self.config.fetch_max_wait,
                    max_bytes: MAX_PARTITION_FETCH_BYTES,
                    isolation_level: self.config.isolation_level,
                    partitions,
                }),
            );
        }
    }

    fn partition_error(&mut self, now: Instant, tp: &TopicPartition, error: ErrorCode) {
        self.outbox.event(Event::ConsumerError {
            topic_partition: tp.clone(),
            error,
        });
        let backoff = self.config.retry_backoff;
        let Some(pos) = self.positions.get_mut(tp) else {
            return;
        };
        match error {
            ErrorCode::OffsetOutOfRange => {
                // The position is outside the log, below its start (retention deleted it) or
                // past its end: `FetchCollector.handleInitializeErrors` asks for a reset with
                // `auto.offset.reset`, or with `none` raises OffsetOutOfRangeException to the
                // application, which consumes the partition no more.
                pos.out_of_range = pos.position;
                pos.position = None;
                pos.stuck = self.config.auto_offset_reset == OffsetReset::None;
            }
            _ => {
                pos.backoff_until = Some(now + backoff);
                self.metadata.update_requested = true;
            }
        }
    }

    fn handle_fetch_response(
        &mut self,
        now: Instant,
        r: FetchResponse,
        requested: Vec<(TopicPartition, Offset)>,
    ) {
        for pr in r.partitions {
            let tp = pr.topic_partition.clone();
            let Some(&(_, fetched_at)) = requested.iter().find(|(t, _)| *t == tp) else {
                continue;
            };
            if self.positions.get(&tp).and_then(|p| p.position) != Some(fetched_at) {
                continue; // the position moved (or the partition went) since the fetch went out
            }
            if let Some(error) = pr.error {
                self.partition_error(now, &tp, error);
                continue;
            }
            let read_committed = self.config.isolation_level == IsolationLevel::ReadCommitted;
            let pos = self.positions.get_mut(&tp).expect("assigned");
            // A `read_committed` consumer's lag counts to the last stable offset
            // (`SubscriptionState.partitionLag`).
            pos.high_watermark = Some(if read_committed {
                pr.last_stable_offset.unwrap_or(pr.high_watermark)
            } else {
                pr.high_watermark
            });
            let buffer = self.buffer.entry(tp).or_default();
            // Offsets the log cleaner removed are skipped (KAFKA.md 6.3: a read from a removed
            // offset returns the next record), and after a batch whose last records were removed
            // the position moves to the batch's end, as `CompletedFetch` sets the next fetch
            // offset from the last batch's header. Control batches hold no record and are
            // skipped the same way.
            let mut next = fetched_at;
            // `CompletedFetch` under read_committed: the aborted transactions, by first
            // offset, and the producers whose aborted transaction the batches are inside.
            let mut aborted = pr.aborted_transactions.clone();
            crate::sort::sort_by_key(&mut aborted, |a| std::cmp::Reverse(a.first_offset));
            let mut aborted_producers: VecSet<ProducerId> = VecSet::new();
            for batch in &pr.batches {
                if let (true, Some(p)) = (read_committed, batch.producer) {
                    while aborted
                        .last()
                        .is_some_and(|a| a.first_offset <= batch.last_offset())
                    {
                        let a = aborted.pop().expect("just seen");
                        aborted_producers.insert(a.producer_id);
                    }
                    let abort_marker = batch.control.is_some_and(|m| m.kind == MarkerKind::Abort);
                    if abort_marker {
                        aborted_producers.remove(&p.producer_id);
                    }
                }
                // "Skipping aborted record batch": none of its records, the position past it.
                let aborted = read_committed
                    && batch.producer.is_some_and(|p| {
                        p.transactional && aborted_producers.contains(&p.producer_id)
                    });
                let records = batch.records_with_offsets().filter(|_| !aborted);
                for (offset, record) in records {
                    if offset < next {
                        continue;
                    }
                    buffer.push_back(Buffered {
                        from: next,
                        offset,
                        record: Some(record.value.clone()),
                        epoch: batch.leader_epoch,
                    });
                    next = offset.next();
                }
                if batch.next_offset() > next {
                    buffer.push_back(Buffered {
                        from: next,
                        offset: batch.last_offset(),
                        record: None,
                        epoch: batch.leader_epoch,
                    });
                    next = batch.next_offset();
                }
            }
        }
    }

    fn handle_list_offsets(&mut self, now: Instant, r: ListOffsetsResponse) {
        for (tp, error, offset) in r.partitions {
            match error {
                Some(e) => self.partition_error(now, &tp, e),
                None => {
                    if let Some(pos) = self.positions.get_mut(&tp)
                        && pos.position.is_none()
                    {
                        pos.position = Some(offset);
                        pos.position_epoch = None;
                        // A reset position carries no epoch, so there is nothing to validate
                        // (KIP-320 validates a position's epoch): a validation a leader change
                        // asked for before the reset is dropped with the old position, or the
                        // partition would wait for it forever without fetching. Regression:
                        // a swarm seed with short retention (an OFFSET_OUT_OF_RANGE during a
                        // leader change) left a group member stuck below the log start.
                        pos.validate_epoch = None;
                        let out_of_range = pos.out_of_range.take();
                        self.outbox.event(Event::OffsetReset {
                            topic_partition: tp,
                            offset,
                            out_of_range,
                        });
                    }
                }
            }
        }
    }

    fn handle_find_coordinator(&mut self, now: Instant, r: FindCoordinatorResponse) {
        let backoff = self.config.retry_backoff;
        let Some(g) = self.group.as_mut() else {
            return;
        };
        match (r.error, r.coordinator) {
            (None, Some(c)) => {
                g.coordinator = Some(c);
                g.retry_at = None;
                g.last_heartbeat_ok = now;
            }
            (error, _) => {
                if let Some(error) = error {
                    self.outbox.event(Event::GroupError {
                        group: g.group_id.clone(),
                        api: "FindCoordinator".into(),
                        error,
                    });
                }
                g.retry_at = Some(now + backoff);
            }
        }
    }

    /// Whether `broker` is ready for requests; if not, starts connecting to it when allowed.
    fn ensure_connected(&mut self, broker: BrokerId, now: Instant) -> bool {
        if self.connections.is_ready(broker) {
            return true;
        }
        if self.connections.can_connect(broker, now) {
            let correlation = self.correlation();
            self.connections.connect(broker, now, correlation);
            self.outbox.send(
                NodeId::Broker(broker),
                Message::ApiVersions(ApiVersionsRequest { correlation }),
            );
        }
        false
    }

    fn fail_connection(&mut self, now: Instant, broker: BrokerId) {
        self.connections.disconnected(broker, now, &mut self.rng);
        let failed: Vec<CorrelationId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.broker == broker)
            .map(|(&c, _)| c)
            .collect();
        for c in failed {
            match self.pending.remove(&c).map(|p| p.what) {
                Some(Pending::Metadata) => {
                    self.metadata.failed(
                        now,
                        (self.config.retry_backoff, Duration(1000)),
                        &mut self.rng,
                    );
                }
                Some(Pending::Join | Pending::Sync) => {
                    if let Some(g) = self.group.as_mut() {
                        // A JoinGroup or SyncGroup in flight is lost with its connection.
                        g.state = MemberState::Unjoined;
                        g.rejoin_needed = true;
                        g.coordinator = None;
                        g.retry_at = Some(now + self.config.retry_backoff);
                    }
                }
                Some(Pending::Heartbeat { .. } | Pending::OffsetFetch) => {
                    if let Some(g) = self.group.as_mut() {
                        g.coordinator = None;
                    }
                }
                Some(Pending::Commit { sync, .. }) => {
                    if let Some(g) = self.group.as_mut() {
                        g.coordinator = None;
                    }
                    self.commit_done(now, sync, Some(ErrorCode::NetworkException));
                }
                _ => {}
            }
        }
        self.metadata.update_requested = true;
    }

    fn handle_message(&mut self, now: Instant, message: Message) {
        let correlation = correlation_of(&message);
        if message.is_request() || !self.pending.contains_key(&correlation) {
            if let Message::ApiVersionsResponse(r) = message {
                self.connections.connected(r.correlation);
            }
            return;
        }
        let InFlight {
            broker,
            deadline,
            what,
        } = self.pending.remove(&correlation).expect("checked");
        match (message, what) {
            (Message::MetadataResponse(r), Pending::Metadata) => {
                self.metadata.update(
                    now,
                    &r,
                    (self.config.retry_backoff, Duration(1000)),
                    &mut self.rng,
                );
                // A new leader epoch means positions must be validated (KIP-320), against a
                // leader the metadata names: `TopicPartitionState.maybeValidatePosition` leaves a
                // position alone while the leader is unknown, so that the fetcher, finding no
                // leader for it, asks for metadata again.
                for (tp, pos) in &mut self.positions {
                    if let (Some((_, current)), Some(epoch)) =
                        (self.metadata.leader(tp), pos.position_epoch)
                        && current > epoch
                        && pos.position.is_some()
                    {
                        pos.validate_epoch = Some(epoch);
                    }
                }
            }
            (Message::FetchResponse(r), Pending::Fetch { requested, .. }) => {
                self.handle_fetch_response(now, r, requested)
            }
            (Message::ListOffsetsResponse(r), Pending::ListOffsets { .. }) => {
                self.handle_list_offsets(now, r)
            }
            (Message::OffsetsForLeaderEpochResponse(r), Pending::Validate { partitions, .. }) => {
                self.handle_validation(now, r, partitions)
            }
            (Message::FindCoordinatorResponse(r), Pending::FindCoordinator) => {
                self.handle_find_coordinator(now, r)
            }
            (Message::JoinGroupResponse(r), Pending::Join) => self.handle_join_response(now, r),
            (Message::SyncGroupResponse(r), Pending::Sync) => self.handle_sync_response(now, r),
            (Message::HeartbeatResponse(r), Pending::Heartbeat { sent }) => {
                self.handle_heartbeat_response(now, r, sent)
            }
            (
                Message::OffsetCommitResponse(r),
                Pending::Commit {
                    offsets,
                    sync,
                    sent,
                },
            ) => self.handle_commit_response(now, r, offsets, sync, sent),
            (Message::OffsetFetchResponse(r), Pending::OffsetFetch) => {
                self.handle_offset_fetch(now, r)
            }
            (Message::LeaveGroupResponse(_), Pending::Leave) => {}
            (_, what) => {
                // A response of the wrong kind for this id: keep waiting.
                self.pending.insert(
                    correlation,
                    InFlight {
                        broker,
                        deadline,
                        what,
                    },
                );
            }
        }
    }
}

/// The rebalance protocol of an assignor list: the highest one every assignor supports
/// (`ConsumerCoordinator` constructor; KAFKA.md 2.5).
fn rebalance_protocol(names: &[String]) -> RebalanceProtocol {
    let all_cooperative = names.iter().all(|n| {
        AssignorName::from_protocol_name(n).is_some_and(|a| {
            a.supported_protocols()
                .contains(&RebalanceProtocol::Cooperative)
        })
    });
    if all_cooperative && !names.is_empty() {
        RebalanceProtocol::Cooperative
    } else {
        RebalanceProtocol::Eager
    }
}

/// The correlation id of a client-side response (or request).
fn correlation_of(message: &Message) -> CorrelationId {
    match message {
        Message::Metadata(r) => r.correlation,
        Message::MetadataResponse(r) => r.correlation,
        Message::Fetch(r) => r.correlation,
        Message::FetchResponse(r) => r.correlation,
        Message::ListOffsets(r) => r.correlation,
        Message::ListOffsetsResponse(r) => r.correlation,
        Message::OffsetsForLeaderEpoch(r) => r.correlation,
        Message::OffsetsForLeaderEpochResponse(r) => r.correlation,
        Message::FindCoordinator(r) => r.correlation,
        Message::FindCoordinatorResponse(r) => r.correlation,
        Message::JoinGroup(r) => r.correlation,
        Message::JoinGroupResponse(r) => r.correlation,
        Message::SyncGroup(r) => r.correlation,
        Message::SyncGroupResponse(r) => r.correlation,
        Message::Heartbeat(r) => r.correlation,
        Message::HeartbeatResponse(r) => r.correlation,
        Message::LeaveGroup(r) => r.correlation,
        Message::LeaveGroupResponse(r) => r.correlation,
        Message::OffsetCommit(r) => r.correlation,
        Message::OffsetCommitResponse(r) => r.correlation,
        Message::OffsetFetch(r) => r.correlation,
        Message::OffsetFetchResponse(r) => r.correlation,
        Message::ApiVersions(r) => r.correlation,
        Message::ApiVersionsResponse(r) => r.correlation,
        _ => 0,
    }
}

impl Node for Consumer {
    fn handle(&mut self, now: Instant, input: Input) {
        self.now = now;
        match input {
            Input::Start => {
                self.started = true;
                self.consuming = true;
                self.idle_since = now;
            }
            _ if !self.started => return,
            Input::Timeout | Input::Writeback => {}
            Input::Command(ClientCommand::StartWorkload) => self.consuming = true,
            Input::Command(ClientCommand::StopWorkload) => self.consuming = false,
            Input::Command(ClientCommand::Send { .. }) => {} // a producer command
            // The application calls `close()` from its poll loop, so it first finishes the
            // records it is processing.
            Input::Command(ClientCommand::LeaveGroup) => {
                if self.consuming && !matches!(self.app, App::Idle) {
                    self.closing = true;
                } else {
                    self.close(now);
                }
            }
            Input::Disconnected { peer, .. } => {
                if let NodeId::Broker(b) = peer {
                    self.fail_connection(now, b);
                }
            }
            Input::Message { message, .. } => self.handle_message(now, message),
        }
        let timed_out: VecSet<BrokerId> = self
            .pending
            .values()
            .filter(|p| p.deadline <= now)
            .map(|p| p.broker)
            .collect();
        for broker in timed_out {
            // request.timeout.ms passed: close the connection and fail what was on it.
            self.outbox.reset(NodeId::Broker(broker), Channel::Client);
            self.fail_connection(now, broker);
        }
        for broker in self.connections.expired(now) {
            self.outbox.reset(NodeId::Broker(broker), Channel::Client);
            self.fail_connection(now, broker);
        }
        self.drive(now);
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.outbox.pop()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if !self.started {
            return None;
        }
        let mut d = Deadlines::after(self.now);
        d.all(self.pending.values().map(|p| p.deadline));
        d.all(self.positions.values().filter_map(|p| p.backoff_until));
        d.all(self.connections.deadlines());
        if !self.has_pending(|p| matches!(p, Pending::Metadata)) {
            d.at(Some(
                self.metadata.next_update(self.config.metadata_max_age),
            ));
        }
        match &self.app {
            App::Processing { started, done, .. } => {
                let next = started.0 + self.workload.processing_time.0 * (*done as u64 + 1);
                d.at(Some(Instant(next)));
                d.at(Some(self.idle_since + self.config.max_poll_interval));
            }
            App::Committing { give_up_at, .. } => d.at(Some(*give_up_at)),
            App::InTransaction { .. } => {
                d.at(Some(self.idle_since + self.config.max_poll_interval))
            }
            App::Idle => {}
        }
        if let Some(g) = &self.group {
            d.at(g.retry_at);
            d.at(g.offset_fetch_retry_at);
            if g.generation >= 0 {
                d.at(g.next_heartbeat);
                d.at(Some(g.last_heartbeat_ok + self.config.session_timeout));
            }
            d.at(self.next_auto_commit);
        }
        d.earliest()
    }
}
