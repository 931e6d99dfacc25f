//! The surface every node shares (quinn-proto style): inputs go in with the time, outputs and the
//! next deadline come out.
//!
//! Call protocol: `now` never decreases between calls; after every `handle`, drain
//! `poll_output` until it returns `None`, then ask `poll_timeout` for the next deadline and call
//! `handle(now, Input::Timeout)` when it passes. A node never panics on a message it did not
//! expect: it answers with Kafka's error or ignores it.

use crate::bytes::Bytes;
use crate::error::ErrorCode;
use crate::ids::{
    BrokerEpoch, BrokerId, LeaderEpoch, NodeId, Offset, PartitionEpoch, ProducerEpoch, ProducerId,
    TopicName, TopicPartition,
};
use crate::log::cleaner::Cleaning;
use crate::log::segment::DeletionReason;
use crate::metadata::ChangeReason;
use crate::protocol::{Channel, Message};
use crate::time::Instant;
use serde::{Deserialize, Serialize};

/// An input to a node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "snake_case")]
pub enum Input {
    /// The node's process starts (first boot, or a restart from what survived on its disk).
    Start,
    /// A message arrives.
    Message {
        /// The sender.
        from: NodeId,
        /// The message.
        message: Message,
    },
    /// A deadline reported by `poll_timeout` has passed.
    Timeout,
    /// The connection to `peer` broke: a message reached a node whose process is down, and the
    /// operating system answered with a reset. A crashed Kafka broker is noticed this way at
    /// once, while a partitioned or paused one is noticed only by a request timeout.
    Disconnected {
        /// The node whose connection broke.
        peer: NodeId,
        /// Which of the connections with that node.
        channel: Channel,
    },
    /// The operating system wrote the broker's dirty pages to disk (page-cache writeback).
    /// Kafka does not fsync by default, so this is what makes appended records survive a power
    /// loss (KAFKA.md 9.3, `log.flush.interval.*`).
    Writeback,
    /// A workload command for a client (start or stop producing).
    Command(ClientCommand),
}

/// Workload commands for clients, from the scenario's timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientCommand {
    /// Start (or resume) the workload.
    StartWorkload,
    /// Stop producing new records; records already sent still finish.
    StopWorkload,
    /// A consumer closes: it leaves its group (dynamic members send LeaveGroup) and stops.
    LeaveGroup,
    /// A producer's application calls `send` once, outside its workload, as a person typing a
    /// line into `kafka-console-producer` does.
    Send {
        /// The record's key (`None`: a keyless record, spread by the sticky partitioner).
        key: Option<String>,
        /// Text the value carries after the producer's own `{name}-{i}` prefix, which keeps
        /// every value unique so the history oracle can tell records apart.
        text: Option<String>,
    },
}

/// What a node emits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Output {
    /// Send a message.
    Send {
        /// The receiver.
        to: NodeId,
        /// The message.
        message: Message,
    },
    /// Refuse or close the connection from `to`: it learns at once (an `Input::Disconnected`),
    /// as a client does when a broker's port is not open yet.
    Reset {
        /// The peer whose connection is refused.
        to: NodeId,
        /// Which connection with that peer.
        channel: Channel,
    },
    /// Something worth telling: for the story, the timeline, checkers and the history.
    Event(Event),
}

/// How a leader came to lead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IsrChangeKind {
    /// Replicas leave the ISR.
    Shrink,
    /// Replicas join the ISR.
    Expand,
    /// An unclean leader reports that recovery is done.
    Recovered,
}

/// Events: facts about the run that the world records but that do not drive it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    // Controller.
    /// A broker registered (fenced until it catches up on metadata).
    BrokerRegistered {
        /// The broker.
        broker: BrokerId,
        /// Its new epoch.
        epoch: BrokerEpoch,
    },
    /// A registration was refused.
    BrokerRegistrationRefused {
        /// The broker.
        broker: BrokerId,
        /// Why.
        error: ErrorCode,
    },
    /// The controller fenced a broker.
    BrokerFenced {
        /// The broker.
        broker: BrokerId,
        /// Why, in words.
        reason: String,
    },
    /// The controller unfenced a broker.
    BrokerUnfenced {
        /// The broker.
        broker: BrokerId,
    },
    /// A topic was created.
    TopicCreated {
        /// The topic.
        topic: TopicName,
        /// Its partition count.
        partitions: u32,
    },
    /// A topic config changed.
    TopicConfigChanged {
        /// The topic.
        topic: TopicName,
        /// The config name.
        key: String,
        /// The new value.
        value: String,
    },
    /// The controller committed a partition change.
    PartitionChanged {
        /// The partition.
        topic_partition: TopicPartition,
        /// The leader after the change.
        leader: Option<BrokerId>,
        /// Whether the leader changed.
        leader_changed: bool,
        /// The leader epoch after the change.
        leader_epoch: LeaderEpoch,
        /// The ISR after the change.
        isr: Vec<BrokerId>,
        /// The partition epoch after the change.
        partition_epoch: PartitionEpoch,
        /// Whether the leader was elected from outside the ISR.
        unclean: bool,
        /// Why.
        reason: ChangeReason,
    },

    // Brokers.
    /// This broker became the leader of a partition.
    BecameLeader {
        /// The partition.
        topic_partition: TopicPartition,
        /// The leader epoch.
        leader_epoch: LeaderEpoch,
        /// Its log end offset, where the new epoch starts.
        log_end_offset: Offset,
        /// Its high watermark.
        high_watermark: Offset,
    },
    /// This broker became a follower of a partition.
    BecameFollower {
        /// The partition.
        topic_partition: TopicPartition,
        /// The leader, if any.
        leader: Option<BrokerId>,
        /// The leader epoch.
        leader_epoch: LeaderEpoch,
    },
    /// A follower truncated its log to where it diverges from the leader's.
    Truncated {
        /// The partition.
        topic_partition: TopicPartition,
        /// The log end offset before.
        from: Offset,
        /// The log end offset after.
        to: Offset,
        /// The diverging epoch the leader reported and its end offset.
        diverging_epoch: LeaderEpoch,
        /// Where the leader said that epoch ends.
        leader_end_offset: Offset,
    },
    /// A follower could not append the leader's records: the leader's batch starts below the
    /// follower's log end, so the two logs hold different records at the same offsets. The
    /// fetcher stops fetching the partition until a new leader epoch (Kafka's
    /// `markPartitionFailed`).
    ReplicaFetchFailed {
        /// The partition.
        topic_partition: TopicPartition,
        /// The leader fetched from.
        leader: BrokerId,
        /// The leader epoch fetched in.
        leader_epoch: LeaderEpoch,
        /// The follower's log end offset (the fetch offset).
        log_end_offset: Offset,
        /// The epoch of the follower's last record.
        last_fetched_epoch: Option<LeaderEpoch>,
        /// Where the leader's batch holding that offset starts.
        batch_base_offset: Offset,
    },
    /// A leader proposed an ISR change to the controller.
    IsrChangeProposed {
        /// The partition.
        topic_partition: TopicPartition,
        /// Shrink, expand or recovered.
        kind: IsrChangeKind,
        /// The proposed ISR.
        isr: Vec<BrokerId>,
    },
    /// The controller refused an ISR change.
    IsrChangeRefused {
        /// The partition.
        topic_partition: TopicPartition,
        /// Why.
        error: ErrorCode,
    },
    /// The retention task deleted segments of a log (`UnifiedLog.deleteOldSegments`).
    SegmentsDeleted {
        /// The partition.
        topic_partition: TopicPartition,
        /// Which rule deleted them.
        reason: DeletionReason,
        /// How many segments.
        segments: u64,
        /// Their bytes.
        bytes: u64,
        /// The base offset of the first one deleted.
        from: Offset,
        /// The base offset of the first segment left.
        to: Offset,
        /// Whether every segment qualified and the active one was rolled first.
        rolled: bool,
        /// The log start offset after the deletion.
        log_start_offset: Offset,
    },
    /// The log cleaner cleaned a compacted log (`Cleaner.doClean`, KAFKA.md 6.3).
    LogCleaned {
        /// The partition.
        topic_partition: TopicPartition,
        /// The dirty ratio that chose it, in percent.
        dirty_percent: u64,
        /// What the pass did.
        cleaning: Cleaning,
    },
    /// A follower's fetch was out of range and it moved its log to the leader's
    /// (`AbstractFetcherThread.fetchOffsetAndTruncate`).
    ReplicaOutOfRange {
        /// The partition.
        topic_partition: TopicPartition,
        /// The leader.
        leader: BrokerId,
        /// The follower's log end offset (its fetch offset).
        log_end_offset: Offset,
        /// The leader's log start offset.
        leader_log_start_offset: Offset,
        /// The leader's log end offset.
        leader_log_end_offset: Offset,
        /// The follower's log start offset after.
        log_start_offset_after: Offset,
        /// The follower's log end offset after.
        log_end_offset_after: Offset,
    },
    /// A broker restarted after a power loss and found records missing from its logs.
    UnflushedRecordsLost {
        /// The partition.
        topic_partition: TopicPartition,
        /// How many records were lost.
        records: u64,
        /// The log end offset after recovery.
        log_end_offset: Offset,
    },

    // Producers.
    /// The producer got its id and epoch.
    ProducerIdAssigned {
        /// The id.
        producer_id: ProducerId,
        /// The epoch.
        producer_epoch: ProducerEpoch,
    },
    /// The producer bumped its epoch locally to reset sequences (KIP-360).
    ProducerEpochBumped {
        /// The id.
        producer_id: ProducerId,
        /// The new epoch.
        producer_epoch: ProducerEpoch,
    },
    /// A transactional producer's EndTxn succeeded: its transaction committed or aborted.
    TransactionEnded {
        /// The transactional id.
        transactional_id: String,
        /// The producer id.
        producer_id: ProducerId,
        /// The epoch the transaction ran under.
        producer_epoch: ProducerEpoch,
        /// Committed (true) or aborted.
        committed: bool,
        /// The values the application sent in it.
        values: Vec<Bytes>,
    },
    /// A transactional producer hit a fatal error and was replaced by a new instance; its open
    /// transaction's fate is the coordinator's.
    TransactionFailed {
        /// The transactional id.
        transactional_id: String,
        /// The error.
        error: ErrorCode,
        /// The values the application sent in the open transaction.
        values: Vec<Bytes>,
    },
    /// The application called `send` for a record.
    RecordSent {
        /// The record's value (unique per workload).
        value: Bytes,
        /// The record's key.
        key: Option<Bytes>,
        /// The partition the partitioner chose.
        topic_partition: TopicPartition,
    },
    /// An epoch bump renumbered, under the new epoch, a batch still in flight that an earlier
    /// attempt may already have written (its outcome was unknown). The broker cannot know the
    /// renumbered batch for a retry, so its records may be written twice: Kafka's idempotent
    /// producer does the same (`TransactionManager.bumpIdempotentProducerEpoch`,
    /// `TxnPartitionEntry.startSequencesAtBeginning`).
    InFlightBatchRenumbered {
        /// The partition.
        topic_partition: TopicPartition,
        /// The new epoch.
        producer_epoch: ProducerEpoch,
        /// The batch's records.
        values: Vec<Bytes>,
    },
    /// A record's send completed successfully.
    RecordAcknowledged {
        /// The record's value.
        value: Bytes,
        /// The partition.
        topic_partition: TopicPartition,
        /// Its offset (`None` with acks=0, where Kafka reports -1).
        offset: Option<Offset>,
    },
    /// A record's send failed.
    RecordFailed {
        /// The record's value.
        value: Bytes,
        /// The partition.
        topic_partition: TopicPartition,
        /// The error the callback saw.
        error: ErrorCode,
        /// Whether the record is known not to be in the log (no attempt had an unknown outcome).
        definite: bool,
    },
    /// A broker answered a produce with an error (whether or not the producer retries).
    ProduceError {
        /// The partition.
        topic_partition: TopicPartition,
        /// The error.
        error: ErrorCode,
        /// The broker that answered.
        broker: BrokerId,
    },

    // Consumers.
    /// A consumer's poll returned records from one partition.
    RecordsPolled {
        /// The partition.
        topic_partition: TopicPartition,
        /// `(offset, value)` of each record, in offset order.
        records: Vec<(Offset, Option<Bytes>)>,
    },
    /// A consumer's fetch failed.
    ConsumerError {
        /// The partition.
        topic_partition: TopicPartition,
        /// The error.
        error: ErrorCode,
    },
    /// A consumer reset its position with `auto.offset.reset`.
    OffsetReset {
        /// The partition.
        topic_partition: TopicPartition,
        /// The new position.
        offset: Offset,
        /// The position a fetch found out of range, when that is why it was reset (otherwise
        /// there was no committed offset).
        out_of_range: Option<Offset>,
    },
    /// A consume-transform-produce application's transaction did not commit: it rewinds these
    /// partitions to their committed offsets and consumes from there again
    /// (`resetToLastCommittedPositions`).
    PositionsRewound {
        /// The partitions.
        partitions: Vec<TopicPartition>,
    },
    /// The application finished processing records a poll returned (the records' effects are
    /// done: this is what delivery semantics are about).
    RecordsProcessed {
        /// The partition.
        topic_partition: TopicPartition,
        /// `(offset, value)` of each record, in offset order.
        records: Vec<(Offset, Option<Bytes>)>,
    },
    /// A consumer's JoinGroup completed: it is a member of a generation.
    JoinedGroup {
        /// The group.
        group: String,
        /// The member id.
        member_id: String,
        /// The generation.
        generation: i32,
        /// Whether this member leads the generation (and runs the assignor).
        leader: bool,
        /// The assignor the group chose.
        protocol: Option<String>,
    },
    /// `onPartitionsAssigned`: partitions the consumer now owns.
    PartitionsAssigned {
        /// The group.
        group: String,
        /// The member id.
        member_id: String,
        /// The generation.
        generation: i32,
        /// The newly added partitions.
        partitions: Vec<TopicPartition>,
    },
    /// `onPartitionsRevoked`: partitions the consumer gives up in a rebalance.
    PartitionsRevoked {
        /// The group.
        group: String,
        /// The member id.
        member_id: String,
        /// The partitions.
        partitions: Vec<TopicPartition>,
    },
    /// `onPartitionsLost`: partitions the consumer lost without a chance to commit (its member
    /// id or generation was no longer valid).
    PartitionsLost {
        /// The group.
        group: String,
        /// The member id.
        member_id: String,
        /// The partitions.
        partitions: Vec<TopicPartition>,
        /// The error that told the consumer.
        error: Option<ErrorCode>,
    },
    /// The consumer left its group (`maybeLeaveGroup`).
    LeftGroup {
        /// The group.
        group: String,
        /// The member id it had.
        member_id: String,
        /// Why.
        reason: String,
    },
    /// An offset commit the consumer sent completed.
    OffsetsCommitted {
        /// The group.
        group: String,
        /// `(partition, offset)` committed.
        offsets: Vec<(TopicPartition, Offset)>,
    },
    /// The consumer's OffsetFetch found a transactional offset commit still waiting for its
    /// marker (UNSTABLE_OFFSET_COMMIT): it asks again after a backoff.
    CommittedOffsetsUnstable {
        /// The group.
        group: String,
        /// The partitions whose commit is pending.
        partitions: Vec<TopicPartition>,
    },
    /// An offset commit failed.
    CommitFailed {
        /// The group.
        group: String,
        /// The error.
        error: ErrorCode,
    },
    /// A group request failed with an error the consumer acts on.
    GroupError {
        /// The group.
        group: String,
        /// The API (`JoinGroup`, `Heartbeat`, ...).
        api: String,
        /// The error.
        error: ErrorCode,
    },
    /// The consumer found that the log was truncated below its position (KIP-320).
    TruncationDetected {
        /// The partition.
        topic_partition: TopicPartition,
        /// The position before.
        position: Offset,
        /// The leader's end offset for the consumer's epoch, the new position.
        end_offset: Offset,
    },

    // Group coordinator.
    /// A group changed state (`ClassicGroupState`).
    GroupStateChanged {
        /// The group.
        group: String,
        /// The new state.
        state: crate::group::coordinator::GroupState,
        /// The generation.
        generation: i32,
    },
    /// The coordinator removed a member.
    GroupMemberRemoved {
        /// The group.
        group: String,
        /// The member id.
        member_id: String,
        /// Why (session expiry, leave, rebalance timeout, fencing).
        reason: String,
    },
    /// The coordinator stored a generation's assignment and the group became Stable.
    GroupStabilized {
        /// The group.
        group: String,
        /// The generation.
        generation: i32,
        /// The assignor.
        protocol: Option<String>,
        /// `(member id, partitions)`.
        assignment: Vec<(String, Vec<TopicPartition>)>,
    },
    /// A committed offset reached the offsets partition's high watermark.
    OffsetCommitted {
        /// The group.
        group: String,
        /// The partition.
        topic_partition: TopicPartition,
        /// The offset.
        offset: Offset,
    },
    /// This broker became the coordinator for an offsets partition and loaded its groups.
    CoordinatorLoaded {
        /// The `__consumer_offsets` partition.
        partition: u32,
        /// How many groups it loaded.
        groups: u32,
    },
    /// This broker stopped coordinating an offsets partition.
    CoordinatorUnloaded {
        /// The `__consumer_offsets` partition.
        partition: u32,
    },
    /// This broker became the transaction coordinator for a `__transaction_state` partition.
    TxnCoordinatorLoaded {
        /// The partition.
        partition: u32,
        /// How many transactional ids it loaded.
        transactions: u32,
    },
    /// This broker stopped coordinating a `__transaction_state` partition.
    TxnCoordinatorUnloaded {
        /// The partition.
        partition: u32,
    },
    /// A transactional id's new state reached the `__transaction_state` high watermark.
    TxnStateChanged {
        /// The transactional id.
        transactional_id: String,
        /// Its producer id.
        producer_id: ProducerId,
        /// Its producer epoch.
        producer_epoch: ProducerEpoch,
        /// The new state.
        state: crate::txn::TxnState,
        /// The transaction's partitions.
        partitions: Vec<TopicPartition>,
    },
    /// The coordinator aborts a transaction open longer than its `transaction.timeout.ms`.
    TxnTimedOut {
        /// The transactional id.
        transactional_id: String,
        /// Its producer id.
        producer_id: ProducerId,
        /// The epoch the producer had; the abort bumps it.
        producer_epoch: ProducerEpoch,
    },
}

/// The common surface of every node.
pub trait Node {
    /// Feeds one input.
    fn handle(&mut self, now: Instant, input: Input);
    /// The next output, if any.
    fn poll_output(&mut self) -> Option<Output>;
    /// The next deadline, if any.
    fn poll_timeout(&self) -> Option<Instant>;
}

/// A queue of outputs with the helpers every node uses.
#[derive(Clone, Debug, Default)]
pub struct Outbox {
    queue: std::collections::VecDeque<Output>,
}

impl Outbox {
    /// Queues a message.
    pub fn send(&mut self, to: NodeId, message: Message) {
        self.queue.push_back(Output::Send { to, message });
    }

    /// Queues a closed (or refused) connection.
    pub fn reset(&mut self, to: NodeId, channel: Channel) {
        self.queue.push_back(Output::Reset { to, channel });
    }

    /// Queues an event.
    pub fn event(&mut self, event: Event) {
        self.queue.push_back(Output::Event(event));
    }

    /// Queues an output another node produced (a node made of two clients passes theirs on).
    pub fn push(&mut self, output: Output) {
        self.queue.push_back(output);
    }

    /// The next output.
    pub fn pop(&mut self) -> Option<Output> {
        self.queue.pop_front()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

/// Collects a node's next deadline for `poll_timeout`. Deadlines at or before the node's last
/// input were handled then, or wait for something other than time (an answer, a free slot), so
/// only later ones count; this is what keeps a driver from spinning on a blocked deadline.
#[derive(Clone, Copy, Debug)]
pub struct Deadlines {
    floor: Instant,
    earliest: Option<Instant>,
}

impl Deadlines {
    /// Deadlines strictly after `last_input`.
    pub fn after(last_input: Instant) -> Deadlines {
        Deadlines {
            floor: last_input,
            earliest: None,
        }
    }

    /// Considers one deadline.
    pub fn at(&mut self, deadline: Option<Instant>) {
        if let Some(d) = deadline.filter(|&d| d > self.floor) {
            self.earliest = Some(self.earliest.map_or(d, |e| e.min(d)));
        }
    }

    /// Considers several deadlines.
    pub fn all(&mut self, deadlines: impl IntoIterator<Item = Instant>) {
        for d in deadlines {
            self.at(Some(d));
        }
    }

    /// The earliest deadline considered, if any.
    pub fn earliest(self) -> Option<Instant> {
        self.earliest
    }
}
