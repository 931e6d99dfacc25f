//! The messages nodes exchange: Kafka's requests and responses, reduced to the fields the model
//! uses, with Kafka's names.
//!
//! Every message is a plain value that serializes with serde, so traces record them and the
//! madsim driver sends them over its simulated network. Requests from clients carry a
//! correlation id; a client drops a response whose id it no longer waits for (the network may
//! delay, duplicate or reorder messages, so every receiver tolerates the unexpected).

use crate::config::TopicConfig;
use crate::error::ErrorCode;
use crate::ids::{
    BrokerEpoch, BrokerId, LeaderEpoch, NodeId, Offset, PartitionEpoch, ProducerEpoch, ProducerId,
    TopicName, TopicPartition,
};
use crate::metadata::{LeaderRecoveryState, MetadataRecord};
use crate::record::{ControlMarker, Record, RecordBatch};
use crate::time::Duration;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A request's correlation id, unique per sender.
pub type CorrelationId = u64;

/// Which of a node's connections a message travels on. Kafka keeps separate connections for
/// separate uses: a broker has one channel manager each for its heartbeats, its AlterPartition
/// requests and forwarded requests to the controller, plus the Raft client that fetches the
/// metadata log; replication between brokers and client traffic have their own connections.
/// A timeout on one never disturbs another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// A client (producer, consumer, the operator) and a broker or the controller.
    Client,
    /// A follower's replica fetcher and its leader.
    Replication,
    /// A broker's registration and heartbeats (`BrokerLifecycleManager`).
    Heartbeat,
    /// A broker's ISR changes (`AlterPartitionManager`, channel "alter-partition").
    AlterPartition,
    /// A broker's requests forwarded to the controller (producer-id blocks).
    Forwarding,
    /// A broker fetching the metadata log (the Raft client).
    Raft,
}

/// The channel a message between `from` and `to` travels on.
pub fn channel_of(from: NodeId, to: NodeId, message: &Message) -> Channel {
    let broker = |n: NodeId| matches!(n, NodeId::Broker(_));
    if broker(from) && broker(to) {
        return Channel::Replication;
    }
    match message {
        Message::BrokerRegistration(_)
        | Message::BrokerRegistrationResponse(_)
        | Message::BrokerHeartbeat(_)
        | Message::BrokerHeartbeatResponse(_) => Channel::Heartbeat,
        Message::FetchMetadata(_) | Message::FetchMetadataResponse(_) => Channel::Raft,
        Message::AlterPartition(_) | Message::AlterPartitionResponse(_) => Channel::AlterPartition,
        Message::AllocateProducerIds(_) | Message::AllocateProducerIdsResponse(_) => {
            Channel::Forwarding
        }
        _ => Channel::Client,
    }
}

/// Everything one node can send another.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Message {
    // Broker and controller (KRaft).
    /// A broker asks to join the cluster (`BrokerRegistrationRequest`).
    BrokerRegistration(BrokerRegistrationRequest),
    /// The controller's answer to a registration.
    BrokerRegistrationResponse(BrokerRegistrationResponse),
    /// A broker's periodic heartbeat (`BrokerHeartbeatRequest`).
    BrokerHeartbeat(BrokerHeartbeatRequest),
    /// The controller's answer to a heartbeat.
    BrokerHeartbeatResponse(BrokerHeartbeatResponse),
    /// A broker fetches the cluster metadata log (`__cluster_metadata`).
    FetchMetadata(FetchMetadataRequest),
    /// Records of the metadata log.
    FetchMetadataResponse(FetchMetadataResponse),
    /// A partition leader proposes an ISR change (`AlterPartitionRequest`).
    AlterPartition(AlterPartitionRequest),
    /// The controller's decision on an ISR change.
    AlterPartitionResponse(AlterPartitionResponse),
    /// A broker asks for a block of producer ids (`AllocateProducerIdsRequest`).
    AllocateProducerIds(AllocateProducerIdsRequest),
    /// A block of producer ids.
    AllocateProducerIdsResponse(AllocateProducerIdsResponse),

    // Admin and controller.
    /// Create topics.
    CreateTopics(CreateTopicsRequest),
    /// The result of creating topics.
    CreateTopicsResponse(CreateTopicsResponse),
    /// Change a topic config (`IncrementalAlterConfigs`).
    AlterTopicConfig(AlterTopicConfigRequest),
    /// The result of a config change.
    AlterTopicConfigResponse(AlterTopicConfigResponse),
    /// Trigger leader elections (`ElectLeaders`, as `kafka-leader-election.sh` does).
    ElectLeaders(ElectLeadersRequest),
    /// The result per partition.
    ElectLeadersResponse(ElectLeadersResponse),

    // Clients and brokers, brokers and brokers.
    /// Cluster metadata for clients (`MetadataRequest`).
    Metadata(MetadataRequest),
    /// Brokers and partition leaders as one broker knows them.
    MetadataResponse(MetadataResponse),
    /// Records from a producer (`ProduceRequest`).
    Produce(ProduceRequest),
    /// Offsets or errors per partition.
    ProduceResponse(ProduceResponse),
    /// A fetch, from a follower replica or a consumer (`FetchRequest`).
    Fetch(FetchRequest),
    /// Batches, high watermarks, diverging epochs.
    FetchResponse(FetchResponse),
    /// A producer asks for an id and epoch (`InitProducerIdRequest`).
    InitProducerId(InitProducerIdRequest),
    /// A producer id and epoch.
    InitProducerIdResponse(InitProducerIdResponse),
    /// The first request on every new client connection (`ApiVersionsRequest`): the
    /// connection is ready once it is answered.
    ApiVersions(ApiVersionsRequest),
    /// The answer that makes a connection ready.
    ApiVersionsResponse(ApiVersionsResponse),
    /// A consumer asks for the earliest or latest offset (`ListOffsetsRequest`).
    ListOffsets(ListOffsetsRequest),
    /// The offsets asked for.
    ListOffsetsResponse(ListOffsetsResponse),
    /// A consumer asks where a leader's log for an epoch ends (`OffsetsForLeaderEpoch`, KIP-320).
    OffsetsForLeaderEpoch(OffsetsForLeaderEpochRequest),
    /// The end offset of each asked epoch.
    OffsetsForLeaderEpochResponse(OffsetsForLeaderEpochResponse),

    // Consumer groups (the classic protocol, KAFKA.md 5.1).
    /// Which broker coordinates a group (`FindCoordinator`).
    FindCoordinator(FindCoordinatorRequest),
    /// The coordinator, or why there is none.
    FindCoordinatorResponse(FindCoordinatorResponse),
    /// A member joins or rejoins its group (`JoinGroup`).
    JoinGroup(JoinGroupRequest),
    /// The new generation (or an error); the leader also gets every member's subscription.
    JoinGroupResponse(JoinGroupResponse),
    /// The leader sends the assignment; followers ask for theirs (`SyncGroup`).
    SyncGroup(SyncGroupRequest),
    /// The member's assignment.
    SyncGroupResponse(SyncGroupResponse),
    /// A member's liveness signal (`Heartbeat`).
    Heartbeat(HeartbeatRequest),
    /// NONE, or REBALANCE_IN_PROGRESS and friends.
    HeartbeatResponse(HeartbeatResponse),
    /// Members leave the group (`LeaveGroup`).
    LeaveGroup(LeaveGroupRequest),
    /// The result per member.
    LeaveGroupResponse(LeaveGroupResponse),
    /// Commit offsets for a group (`OffsetCommit`).
    OffsetCommit(OffsetCommitRequest),
    /// The result per partition.
    OffsetCommitResponse(OffsetCommitResponse),
    /// Read a group's committed offsets (`OffsetFetch`).
    OffsetFetch(OffsetFetchRequest),
    /// The committed offsets.
    OffsetFetchResponse(OffsetFetchResponse),

    // Transaction coordinator to partition leaders.
    // Transactional producers to the transaction coordinator.
    /// Add partitions to the producer's transaction (`AddPartitionsToTxn`).
    AddPartitionsToTxn(AddPartitionsToTxnRequest),
    /// The result per partition.
    AddPartitionsToTxnResponse(AddPartitionsToTxnResponse),
    /// Commit or abort the producer's transaction (`EndTxn`).
    EndTxn(EndTxnRequest),
    /// The result.
    EndTxnResponse(EndTxnResponse),
    /// Add a group's `__consumer_offsets` partition to the producer's transaction
    /// (`AddOffsetsToTxn`, the first half of `sendOffsetsToTransaction`).
    AddOffsetsToTxn(AddOffsetsToTxnRequest),
    /// The result.
    AddOffsetsToTxnResponse(AddOffsetsToTxnResponse),

    // Transactional producers to a group coordinator.
    /// Commit offsets inside a transaction (`TxnOffsetCommit`, the second half of
    /// `sendOffsetsToTransaction`).
    TxnOffsetCommit(TxnOffsetCommitRequest),
    /// The result per partition.
    TxnOffsetCommitResponse(TxnOffsetCommitResponse),

    /// Write COMMIT or ABORT markers (`WriteTxnMarkers`).
    WriteTxnMarkers(WriteTxnMarkersRequest),
    /// The result per marker and partition.
    WriteTxnMarkersResponse(WriteTxnMarkersResponse),
}

/// The requests a producer or consumer sends, by [`Message::api_name`]: what a scenario may
/// delay (the fault `delay`).
pub const CLIENT_REQUESTS: &[&str] = &[
    "Metadata",
    "ApiVersions",
    "Produce",
    "Fetch",
    "ListOffsets",
    "OffsetsForLeaderEpoch",
    "InitProducerId",
    "FindCoordinator",
    "JoinGroup",
    "SyncGroup",
    "Heartbeat",
    "LeaveGroup",
    "OffsetCommit",
    "OffsetFetch",
    "AddPartitionsToTxn",
    "AddOffsetsToTxn",
    "TxnOffsetCommit",
    "EndTxn",
];

impl Message {
    /// Whether this is a request (sent by a client of the API on its own connection) rather than
    /// a response (sent back on the requester's connection).
    pub fn is_request(&self) -> bool {
        self.is_controller_request()
            || matches!(
                self,
                Message::Metadata(_)
                    | Message::Produce(_)
                    | Message::Fetch(_)
                    | Message::InitProducerId(_)
                    | Message::ApiVersions(_)
                    | Message::ListOffsets(_)
                    | Message::OffsetsForLeaderEpoch(_)
                    | Message::FindCoordinator(_)
                    | Message::JoinGroup(_)
                    | Message::SyncGroup(_)
                    | Message::Heartbeat(_)
                    | Message::LeaveGroup(_)
                    | Message::OffsetCommit(_)
                    | Message::OffsetFetch(_)
                    | Message::WriteTxnMarkers(_)
                    | Message::AddPartitionsToTxn(_)
                    | Message::EndTxn(_)
                    | Message::AddOffsetsToTxn(_)
                    | Message::TxnOffsetCommit(_)
            )
    }

    /// Whether this is a request only the controller serves (brokers' lifecycle, ISR changes,
    /// producer-id blocks, and the operator's admin requests).
    pub fn is_controller_request(&self) -> bool {
        matches!(
            self,
            Message::BrokerRegistration(_)
                | Message::BrokerHeartbeat(_)
                | Message::FetchMetadata(_)
                | Message::AlterPartition(_)
                | Message::AllocateProducerIds(_)
                | Message::CreateTopics(_)
                | Message::AlterTopicConfig(_)
                | Message::ElectLeaders(_)
        )
    }

    /// The correlation id that pairs a request with its response, for the messages that carry
    /// one (the controller's own heartbeat, registration, ISR and id-block exchanges do not).
    pub fn correlation(&self) -> Option<CorrelationId> {
        macro_rules! correlated {
            ($($variant:ident),* $(,)?) => {
                match self {
                    $(Message::$variant(m) => Some(m.correlation),)*
                    _ => None,
                }
            };
        }
        correlated!(
            FetchMetadata,
            FetchMetadataResponse,
            CreateTopics,
            CreateTopicsResponse,
            AlterTopicConfig,
            AlterTopicConfigResponse,
            ElectLeaders,
            ElectLeadersResponse,
            Metadata,
            MetadataResponse,
            Produce,
            ProduceResponse,
            Fetch,
            FetchResponse,
            InitProducerId,
            InitProducerIdResponse,
            ApiVersions,
            ApiVersionsResponse,
            ListOffsets,
            ListOffsetsResponse,
            OffsetsForLeaderEpoch,
            OffsetsForLeaderEpochResponse,
            FindCoordinator,
            FindCoordinatorResponse,
            JoinGroup,
            JoinGroupResponse,
            SyncGroup,
            SyncGroupResponse,
            Heartbeat,
            HeartbeatResponse,
            LeaveGroup,
            LeaveGroupResponse,
            OffsetCommit,
            OffsetCommitResponse,
            OffsetFetch,
            OffsetFetchResponse,
            AddPartitionsToTxn,
            AddPartitionsToTxnResponse,
            EndTxn,
            EndTxnResponse,
            AddOffsetsToTxn,
            AddOffsetsToTxnResponse,
            TxnOffsetCommit,
            TxnOffsetCommitResponse,
            WriteTxnMarkers,
            WriteTxnMarkersResponse,
        )
    }

    /// The Kafka API name, for traces, the story and message counts in the classroom.
    pub fn api_name(&self) -> &'static str {
        match self {
            Message::BrokerRegistration(_) => "BrokerRegistration",
            Message::BrokerRegistrationResponse(_) => "BrokerRegistrationResponse",
            Message::BrokerHeartbeat(_) => "BrokerHeartbeat",
            Message::BrokerHeartbeatResponse(_) => "BrokerHeartbeatResponse",
            Message::FetchMetadata(_) => "FetchMetadata",
            Message::FetchMetadataResponse(_) => "FetchMetadataResponse",
            Message::AlterPartition(_) => "AlterPartition",
            Message::AlterPartitionResponse(_) => "AlterPartitionResponse",
            Message::AllocateProducerIds(_) => "AllocateProducerIds",
            Message::AllocateProducerIdsResponse(_) => "AllocateProducerIdsResponse",
            Message::CreateTopics(_) => "CreateTopics",
            Message::CreateTopicsResponse(_) => "CreateTopicsResponse",
            Message::AlterTopicConfig(_) => "AlterTopicConfig",
            Message::AlterTopicConfigResponse(_) => "AlterTopicConfigResponse",
            Message::ElectLeaders(_) => "ElectLeaders",
            Message::ElectLeadersResponse(_) => "ElectLeadersResponse",
            Message::Metadata(_) => "Metadata",
            Message::MetadataResponse(_) => "MetadataResponse",
            Message::Produce(_) => "Produce",
            Message::ProduceResponse(_) => "ProduceResponse",
            Message::Fetch(_) => "Fetch",
            Message::FetchResponse(_) => "FetchResponse",
            Message::InitProducerId(_) => "InitProducerId",
            Message::InitProducerIdResponse(_) => "InitProducerIdResponse",
            Message::ApiVersions(_) => "ApiVersions",
            Message::ApiVersionsResponse(_) => "ApiVersionsResponse",
            Message::ListOffsets(_) => "ListOffsets",
            Message::ListOffsetsResponse(_) => "ListOffsetsResponse",
            Message::OffsetsForLeaderEpoch(_) => "OffsetsForLeaderEpoch",
            Message::OffsetsForLeaderEpochResponse(_) => "OffsetsForLeaderEpochResponse",
            Message::FindCoordinator(_) => "FindCoordinator",
            Message::FindCoordinatorResponse(_) => "FindCoordinatorResponse",
            Message::JoinGroup(_) => "JoinGroup",
            Message::JoinGroupResponse(_) => "JoinGroupResponse",
            Message::SyncGroup(_) => "SyncGroup",
            Message::SyncGroupResponse(_) => "SyncGroupResponse",
            Message::Heartbeat(_) => "Heartbeat",
            Message::HeartbeatResponse(_) => "HeartbeatResponse",
            Message::LeaveGroup(_) => "LeaveGroup",
            Message::LeaveGroupResponse(_) => "LeaveGroupResponse",
            Message::OffsetCommit(_) => "OffsetCommit",
            Message::OffsetCommitResponse(_) => "OffsetCommitResponse",
            Message::OffsetFetch(_) => "OffsetFetch",
            Message::OffsetFetchResponse(_) => "OffsetFetchResponse",
            Message::AddPartitionsToTxn(_) => "AddPartitionsToTxn",
            Message::AddPartitionsToTxnResponse(_) => "AddPartitionsToTxnResponse",
            Message::EndTxn(_) => "EndTxn",
            Message::EndTxnResponse(_) => "EndTxnResponse",
            Message::AddOffsetsToTxn(_) => "AddOffsetsToTxn",
            Message::AddOffsetsToTxnResponse(_) => "AddOffsetsToTxnResponse",
            Message::TxnOffsetCommit(_) => "TxnOffsetCommit",
            Message::TxnOffsetCommitResponse(_) => "TxnOffsetCommitResponse",
            Message::WriteTxnMarkers(_) => "WriteTxnMarkers",
            Message::WriteTxnMarkersResponse(_) => "WriteTxnMarkersResponse",
        }
    }
}

/// `BrokerRegistrationRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistrationRequest {
    /// The broker's id.
    pub broker_id: BrokerId,
    /// A fresh id per process start (Kafka's incarnation UUID).
    pub incarnation: u64,
    /// The epoch of this broker's previous registration, if it shut down cleanly (KIP-966).
    pub previous_broker_epoch: Option<BrokerEpoch>,
}

/// `BrokerRegistrationResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistrationResponse {
    /// NONE or why the registration was refused.
    pub error: Option<ErrorCode>,
    /// The broker's new epoch.
    pub broker_epoch: BrokerEpoch,
    /// The incarnation whose request this answers. In Kafka a reply to a process that has
    /// since restarted goes down its old TCP connection, which the rebooted host resets; the
    /// echoed incarnation lets the model's new process ignore it the same way.
    #[serde(default)]
    pub incarnation: u64,
}

/// `BrokerHeartbeatRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerHeartbeatRequest {
    /// The broker's id.
    pub broker_id: BrokerId,
    /// The broker's epoch.
    pub broker_epoch: BrokerEpoch,
    /// The offset after the last metadata record the broker has applied.
    pub current_metadata_offset: Offset,
    /// True while the broker is not ready to be unfenced (still starting up).
    pub want_fence: bool,
}

/// `BrokerHeartbeatResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerHeartbeatResponse {
    /// NONE or the error.
    pub error: Option<ErrorCode>,
    /// Whether the broker's metadata has caught up with its registration.
    pub is_caught_up: bool,
    /// Whether the controller has the broker fenced.
    pub is_fenced: bool,
}

/// A fetch of the metadata log (the KRaft `Fetch` of `__cluster_metadata` by an observer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchMetadataRequest {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// The offset of the first record wanted.
    pub fetch_offset: Offset,
}

/// Metadata records from the requested offset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FetchMetadataResponse {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// The offset of the first record returned.
    pub base_offset: Offset,
    /// The records (shared with the controller's log).
    pub records: Vec<Arc<MetadataRecord>>,
}

/// `AlterPartitionRequest` for one partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlterPartitionRequest {
    /// The leader's number for this proposal, echoed in the answer.
    pub proposal: u64,
    /// The proposing leader.
    pub broker_id: BrokerId,
    /// The leader's broker epoch.
    pub broker_epoch: BrokerEpoch,
    /// The partition.
    pub topic_partition: TopicPartition,
    /// The leader epoch the leader is in.
    pub leader_epoch: LeaderEpoch,
    /// The partition epoch the proposal is based on.
    pub partition_epoch: PartitionEpoch,
    /// The proposed ISR, with each member's broker epoch as the leader saw it in its fetches.
    pub new_isr: Vec<(BrokerId, Option<BrokerEpoch>)>,
    /// The leader's recovery state (RECOVERED once an unclean leader finished recovery).
    pub leader_recovery_state: LeaderRecoveryState,
}

/// `AlterPartitionResponse` for one partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlterPartitionResponse {
    /// The proposal answered.
    pub proposal: u64,
    /// The partition.
    pub topic_partition: TopicPartition,
    /// NONE, or why the change was refused.
    pub error: Option<ErrorCode>,
    /// The committed state after the change, when it succeeded.
    pub state: Option<CommittedPartitionState>,
}

/// The ISR, epochs and recovery state of a partition, as the controller committed them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedPartitionState {
    /// The leader.
    pub leader: Option<BrokerId>,
    /// The leader epoch.
    pub leader_epoch: LeaderEpoch,
    /// The ISR.
    pub isr: Vec<BrokerId>,
    /// The partition epoch.
    pub partition_epoch: PartitionEpoch,
    /// The leader recovery state.
    pub leader_recovery_state: LeaderRecoveryState,
}

/// `AllocateProducerIdsRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocateProducerIdsRequest {
    /// The asking broker.
    pub broker_id: BrokerId,
    /// Its epoch.
    pub broker_epoch: BrokerEpoch,
}

/// A block of producer ids `[first, first + len)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocateProducerIdsResponse {
    /// NONE or the error.
    pub error: Option<ErrorCode>,
    /// The first id of the block.
    pub first: ProducerId,
    /// The block's length.
    pub len: u64,
}

/// One topic to create.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTopic {
    /// The name.
    pub name: TopicName,
    /// The replicas of each partition, preferred leader first (`--replica-assignment`).
    pub assignment: Vec<Vec<BrokerId>>,
    /// The topic's configuration.
    pub config: TopicConfig,
}

/// `CreateTopicsRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateTopicsRequest {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// The topics.
    pub topics: Vec<NewTopic>,
}

/// `CreateTopicsResponse`: the result per topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateTopicsResponse {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// `(topic, error and its message)`.
    pub results: Vec<(TopicName, Option<(ErrorCode, String)>)>,
}

/// Set one topic config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlterTopicConfigRequest {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// The topic.
    pub topic: TopicName,
    /// The Kafka config name.
    pub key: String,
    /// The new value.
    pub value: String,
}

/// The result of a config change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlterTopicConfigResponse {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// NONE, or the error and its message.
    pub error: Option<(ErrorCode, String)>,
}

/// The kind of leader election an admin asks for (`ElectionType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ElectionType {
    /// Move leadership to the preferred (first) replica if it is in the ISR and unfenced.
    Preferred,
    /// Elect any live replica when no ISR member can lead (may lose committed records).
    Unclean,
}

/// `ElectLeadersRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElectLeadersRequest {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// The election type.
    pub election: ElectionType,
    /// The partitions.
    pub partitions: Vec<TopicPartition>,
}

/// `ElectLeadersResponse`: the result per partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElectLeadersResponse {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// `(partition, error)`; `None` means the election happened.
    pub results: Vec<(TopicPartition, Option<ErrorCode>)>,
}

/// `MetadataRequest` for some topics.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataRequest {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// The topics wanted.
    pub topics: Vec<TopicName>,
}

/// One partition in a `MetadataResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionMetadata {
    /// The partition number.
    pub partition: u32,
    /// The leader, or none (Kafka sends -1 with LEADER_NOT_AVAILABLE).
    pub leader: Option<BrokerId>,
    /// The leader epoch.
    pub leader_epoch: LeaderEpoch,
    /// The replicas.
    pub replicas: Vec<BrokerId>,
    /// The ISR.
    pub isr: Vec<BrokerId>,
}

/// One topic in a `MetadataResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMetadata {
    /// The topic.
    pub name: TopicName,
    /// NONE or UNKNOWN_TOPIC_OR_PARTITION.
    pub error: Option<ErrorCode>,
    /// Its partitions, in order.
    pub partitions: Vec<PartitionMetadata>,
}

/// `MetadataResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataResponse {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// The unfenced brokers the answering broker knows.
    pub brokers: Vec<BrokerId>,
    /// The topics asked for.
    pub topics: Vec<TopicMetadata>,
}

/// `ProduceRequest`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProduceRequest {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// 0, 1 or -1 (all).
    pub acks: i16,
    /// How long the leader may wait for acks=all (the producer's `request.timeout.ms`).
    pub timeout: Duration,
    /// One batch per partition.
    pub batches: Vec<ProduceBatch>,
}

/// A batch as the producer sends it: records and idempotence fields, no offsets yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProduceBatch {
    /// The partition.
    pub topic_partition: TopicPartition,
    /// Idempotence fields, if the producer is idempotent.
    pub producer: Option<crate::record::ProducerFields>,
    /// The records.
    pub records: Arc<[Record]>,
}

/// The result for one partition of a produce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducePartitionResponse {
    /// The partition.
    pub topic_partition: TopicPartition,
    /// NONE or the error.
    pub error: Option<ErrorCode>,
    /// The offset of the batch's first record, when appended (or a duplicate's original).
    pub base_offset: Option<Offset>,
}

/// `ProduceResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProduceResponse {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// Per partition, in request order.
    pub partitions: Vec<ProducePartitionResponse>,
}

/// One partition of a fetch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchPartition {
    /// The partition.
    pub topic_partition: TopicPartition,
    /// The offset to read from (a follower's LEO).
    pub fetch_offset: Offset,
    /// The epoch of the fetcher's last batch (KIP-320/KIP-595), for divergence detection.
    pub last_fetched_epoch: Option<LeaderEpoch>,
    /// The leader epoch the fetcher believes current (fences stale leaders and fetchers).
    pub current_leader_epoch: Option<LeaderEpoch>,
}

/// What a consumer may read (`IsolationLevel`, the consumer's `isolation.level`; KAFKA.md 4.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IsolationLevel {
    /// Everything below the high watermark, aborted records included (Kafka's default).
    #[default]
    ReadUncommitted,
    /// Only below the last stable offset, without the records of aborted transactions.
    ReadCommitted,
}

impl IsolationLevel {
    /// Whether this is the default, `read_uncommitted` (serialised messages omit it).
    pub fn is_default(&self) -> bool {
        *self == IsolationLevel::ReadUncommitted
    }
}

/// `FetchRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRequest {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// For a follower: its id and broker epoch. None for a consumer.
    pub replica: Option<(BrokerId, BrokerEpoch)>,
    /// How long the leader may hold the fetch when there is nothing to return.
    pub max_wait: Duration,
    /// The most bytes to return per partition.
    pub max_bytes: u64,
    /// A consumer's isolation level; followers read to the log end regardless.
    #[serde(default, skip_serializing_if = "IsolationLevel::is_default")]
    pub isolation_level: IsolationLevel,
    /// The partitions.
    pub partitions: Vec<FetchPartition>,
}

/// An aborted transaction a `read_committed` fetch overlaps (`FetchResponse.AbortedTransaction`):
/// the consumer drops that producer's transactional records from `first_offset` up to the
/// producer's ABORT marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbortedTransaction {
    /// The producer.
    pub producer_id: ProducerId,
    /// The transaction's first offset in the partition.
    pub first_offset: Offset,
}

/// The result for one partition of a fetch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FetchPartitionResponse {
    /// The partition.
    pub topic_partition: TopicPartition,
    /// NONE or the error.
    pub error: Option<ErrorCode>,
    /// The leader's high watermark.
    pub high_watermark: Offset,
    /// The leader's log start offset; a follower's log start follows it.
    pub log_start_offset: Offset,
    /// The leader's log end offset. Kafka's replica fetcher asks for it with ListOffsets after
    /// OFFSET_OUT_OF_RANGE (`fetchOffsetAndTruncate`); the model sends it with the answer
    /// instead (docs/deviations.md).
    pub log_end_offset: Offset,
    /// The leader's last stable offset. Kafka sends it to every fetcher; the model sends it
    /// to `read_committed` consumers, the only readers that use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_stable_offset: Option<Offset>,
    /// For a `read_committed` fetch, the aborted transactions the batches overlap.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aborted_transactions: Vec<AbortedTransaction>,
    /// Where the fetcher's log diverges: `(epoch, end offset)` (KAFKA.md 3.5).
    pub diverging_epoch: Option<(LeaderEpoch, Offset)>,
    /// The batches.
    pub batches: Vec<RecordBatch>,
}

/// `FetchResponse`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FetchResponse {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// Per partition, in request order.
    pub partitions: Vec<FetchPartitionResponse>,
}

/// `InitProducerIdRequest` (non-transactional).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitProducerIdRequest {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// The producer's `transactional.id`; without one any broker hands out a new id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transactional_id: Option<String>,
    /// The producer's `transaction.timeout.ms` (transactional producers only).
    #[serde(default, skip_serializing_if = "Duration::is_zero")]
    pub transaction_timeout: Duration,
}

/// `InitProducerIdResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitProducerIdResponse {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// NONE or the error.
    pub error: Option<ErrorCode>,
    /// The producer id.
    pub producer_id: ProducerId,
    /// The producer epoch.
    pub producer_epoch: ProducerEpoch,
}

/// Which offset a `ListOffsets` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The high watermark (read_uncommitted).
    Latest,
}

/// `ListOffsetsRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListOffsetsRequest {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// The partitions, each with the offset wanted and the asker's leader epoch.
    pub partitions: Vec<(TopicPartition, OffsetSpec, Option<LeaderEpoch>)>,
    /// The asker's isolation level: `Latest` is the LSO for `read_committed`
    /// (`Partition.fetchOffsetForTimestamp`).
    #[serde(default, skip_serializing_if = "IsolationLevel::is_default")]
    pub isolation_level: IsolationLevel,
}

/// `ListOffsetsResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListOffsetsResponse {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// `(partition, error, offset)`.
    pub partitions: Vec<(TopicPartition, Option<ErrorCode>, Offset)>,
}

/// One marker of a `WriteTxnMarkers`: a producer's transaction ends in these partitions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnMarkerEntry {
    /// The producer.
    pub producer_id: ProducerId,
    /// The epoch the marker carries (with transaction version 2, the bumped one).
    pub producer_epoch: ProducerEpoch,
    /// COMMIT or ABORT, with the coordinator's epoch (the leader stamps its own time).
    pub marker: ControlMarker,
    /// Whether the coordinator runs transaction version 2 (KIP-890 part 2), which makes the
    /// leader refuse a marker that does not carry a newer epoch.
    pub transaction_v2: bool,
    /// The partitions to write the marker to.
    pub partitions: Vec<TopicPartition>,
}

/// `WriteTxnMarkersRequest`: sent by a transaction coordinator to a partition leader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteTxnMarkersRequest {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// The markers.
    pub markers: Vec<TxnMarkerEntry>,
}

/// One marker's result in a `WriteTxnMarkersResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnMarkerResult {
    /// The producer.
    pub producer_id: ProducerId,
    /// Each partition's error, or `None`.
    pub partitions: Vec<(TopicPartition, Option<ErrorCode>)>,
}

/// `WriteTxnMarkersResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteTxnMarkersResponse {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// Per marker, in request order.
    pub markers: Vec<TxnMarkerResult>,
}

/// `ApiVersionsRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiVersionsRequest {
    /// Correlation id.
    pub correlation: CorrelationId,
}

/// `ApiVersionsResponse` (the versions themselves do not matter to the model).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiVersionsResponse {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// The finalized `transaction.version` feature (`FinalizedFeatures`): a transactional
    /// producer bumps its own epoch after an abortable batch failure only below 2 (KIP-360's
    /// `needToTriggerEpochBumpFromClient`); at 2 the coordinator bumps at every EndTxn.
    #[serde(default)]
    pub transaction_version: u32,
}

/// `OffsetsForLeaderEpochRequest` from a consumer validating its position (KIP-320).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetsForLeaderEpochRequest {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// `(partition, the consumer's current leader epoch, the epoch of its last consumed record)`.
    pub partitions: Vec<(TopicPartition, Option<LeaderEpoch>, LeaderEpoch)>,
}

/// A leader epoch and the offset where it ends in the leader's log.
pub type EpochEnd = (LeaderEpoch, Offset);

/// A committed offset with the leader epoch of the last consumed record.
pub type CommittedPosition = (Offset, Option<LeaderEpoch>);

/// `OffsetsForLeaderEpochResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetsForLeaderEpochResponse {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// `(partition, error, the largest epoch ≤ the asked one and where it ends)`; `None` when
    /// the leader knows no such epoch.
    pub partitions: Vec<(TopicPartition, Option<ErrorCode>, Option<EpochEnd>)>,
}

/// `FindCoordinatorRequest` for a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindCoordinatorRequest {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// The key: a group id, or a transactional id.
    pub group_id: String,
    /// Which coordinator the key names (`key_type`: 0 group, 1 transaction).
    #[serde(default, skip_serializing_if = "CoordinatorType::is_group")]
    pub key_type: CoordinatorType,
}

/// What a `FindCoordinator` looks for (`CoordinatorType`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoordinatorType {
    /// The group coordinator: the leader of the group's `__consumer_offsets` partition.
    #[default]
    Group,
    /// The transaction coordinator: the leader of the transactional id's
    /// `__transaction_state` partition.
    Transaction,
}

impl CoordinatorType {
    /// Whether this is the group coordinator (serialised requests omit it).
    pub fn is_group(&self) -> bool {
        *self == CoordinatorType::Group
    }
}

/// `AddPartitionsToTxnRequest` (v3, one transaction).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddPartitionsToTxnRequest {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id.
    pub producer_id: ProducerId,
    /// The producer epoch.
    pub producer_epoch: ProducerEpoch,
    /// The partitions to add.
    pub partitions: Vec<TopicPartition>,
}

/// `AddPartitionsToTxnResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddPartitionsToTxnResponse {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// Each partition's error, or `None`.
    pub partitions: Vec<(TopicPartition, Option<ErrorCode>)>,
}

/// `EndTxnRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndTxnRequest {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id.
    pub producer_id: ProducerId,
    /// The producer epoch.
    pub producer_epoch: ProducerEpoch,
    /// Commit (true) or abort.
    pub commit: bool,
}

/// `EndTxnResponse` (v5 carries the producer id and epoch, bumped under transaction version 2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndTxnResponse {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// NONE or the error.
    pub error: Option<ErrorCode>,
    /// The producer id to use from now on.
    pub producer_id: ProducerId,
    /// The producer epoch to use from now on.
    pub producer_epoch: ProducerEpoch,
}

/// `AddOffsetsToTxnRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddOffsetsToTxnRequest {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id.
    pub producer_id: ProducerId,
    /// The producer epoch.
    pub producer_epoch: ProducerEpoch,
    /// The consumer group whose offsets the transaction will commit.
    pub group_id: String,
}

/// `AddOffsetsToTxnResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddOffsetsToTxnResponse {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// NONE or the error.
    pub error: Option<ErrorCode>,
}

/// `TxnOffsetCommitRequest` (v3, KIP-447: it carries the consumer's group metadata, so the
/// group coordinator fences a zombie by its generation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnOffsetCommitRequest {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// The transactional id.
    pub transactional_id: String,
    /// The group.
    pub group_id: String,
    /// The producer id.
    pub producer_id: ProducerId,
    /// The producer epoch.
    pub producer_epoch: ProducerEpoch,
    /// The consumer's generation (-1 outside group management).
    pub generation_id: i32,
    /// The consumer's member id.
    pub member_id: String,
    /// The consumer's `group.instance.id`.
    pub group_instance_id: Option<String>,
    /// `(partition, next offset to consume, leader epoch of the last consumed record)`.
    pub offsets: Vec<(TopicPartition, Offset, Option<LeaderEpoch>)>,
}

/// `TxnOffsetCommitResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnOffsetCommitResponse {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// `(partition, error)`.
    pub partitions: Vec<(TopicPartition, Option<ErrorCode>)>,
}

/// `FindCoordinatorResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindCoordinatorResponse {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// NONE or COORDINATOR_NOT_AVAILABLE.
    pub error: Option<ErrorCode>,
    /// The coordinator.
    pub coordinator: Option<BrokerId>,
}

/// One assignor a member supports, with its subscription (`JoinGroupRequestProtocol`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupProtocol {
    /// The assignor's name (`range`, `cooperative-sticky`, ...).
    pub name: String,
    /// The subscription, as the consumer encodes it for this assignor.
    pub metadata: crate::group::Subscription,
}

/// `JoinGroupRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinGroupRequest {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// The group id.
    pub group_id: String,
    /// The member id; empty on the first join.
    pub member_id: String,
    /// `group.instance.id`, for static members.
    pub group_instance_id: Option<String>,
    /// The client id (member ids start with it).
    pub client_id: String,
    /// `session.timeout.ms`.
    pub session_timeout: Duration,
    /// The rebalance timeout (the consumer's `max.poll.interval.ms`).
    pub rebalance_timeout: Duration,
    /// The protocol type (`consumer`).
    pub protocol_type: String,
    /// The assignors, in the member's order of preference.
    pub protocols: Vec<GroupProtocol>,
}

/// A member as the leader sees it in a JoinGroup response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinGroupMember {
    /// The member id.
    pub member_id: String,
    /// Its `group.instance.id`.
    pub group_instance_id: Option<String>,
    /// Its subscription for the chosen assignor.
    pub metadata: crate::group::Subscription,
}

/// `JoinGroupResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinGroupResponse {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// NONE or the error.
    pub error: Option<ErrorCode>,
    /// The generation.
    pub generation_id: i32,
    /// The chosen assignor.
    pub protocol_name: Option<String>,
    /// The leader's member id.
    pub leader: String,
    /// The member's id (the new one with MEMBER_ID_REQUIRED).
    pub member_id: String,
    /// Every member with its subscription, for the leader only.
    pub members: Vec<JoinGroupMember>,
}

/// `SyncGroupRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncGroupRequest {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// The group id.
    pub group_id: String,
    /// The generation.
    pub generation_id: i32,
    /// The member id.
    pub member_id: String,
    /// Its `group.instance.id`.
    pub group_instance_id: Option<String>,
    /// The assignor the member used.
    pub protocol_name: Option<String>,
    /// The leader's assignment, per member; empty from followers.
    pub assignments: Vec<(String, Vec<TopicPartition>)>,
}

/// `SyncGroupResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncGroupResponse {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// NONE or the error.
    pub error: Option<ErrorCode>,
    /// The assignor.
    pub protocol_name: Option<String>,
    /// The member's partitions.
    pub assignment: Vec<TopicPartition>,
}

/// `HeartbeatRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// The group id.
    pub group_id: String,
    /// The generation.
    pub generation_id: i32,
    /// The member id.
    pub member_id: String,
    /// Its `group.instance.id`.
    pub group_instance_id: Option<String>,
}

/// `HeartbeatResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// NONE or the error.
    pub error: Option<ErrorCode>,
}

/// `LeaveGroupRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaveGroupRequest {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// The group id.
    pub group_id: String,
    /// `(member id, group.instance.id)` of each leaving member.
    pub members: Vec<(String, Option<String>)>,
}

/// `LeaveGroupResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaveGroupResponse {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// A group-level error.
    pub error: Option<ErrorCode>,
    /// `(member id, error)` per member.
    pub members: Vec<(String, Option<ErrorCode>)>,
}

/// `OffsetCommitRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetCommitRequest {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// The group id.
    pub group_id: String,
    /// The generation, or -1 for a consumer outside group management.
    pub generation_id: i32,
    /// The member id (empty outside group management).
    pub member_id: String,
    /// Its `group.instance.id`.
    pub group_instance_id: Option<String>,
    /// `(partition, next offset to consume, leader epoch of the last consumed record)`.
    pub offsets: Vec<(TopicPartition, Offset, Option<LeaderEpoch>)>,
}

/// `OffsetCommitResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetCommitResponse {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// `(partition, error)`.
    pub partitions: Vec<(TopicPartition, Option<ErrorCode>)>,
}

/// `OffsetFetchRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetFetchRequest {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// The group id.
    pub group_id: String,
    /// The partitions.
    pub partitions: Vec<TopicPartition>,
    /// `requireStable` (KIP-447): a partition with a transactional offset commit still pending
    /// answers UNSTABLE_OFFSET_COMMIT instead of an offset. A `read_committed` consumer sets it.
    pub require_stable: bool,
}

/// `OffsetFetchResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetFetchResponse {
    /// Correlation id.
    pub correlation: CorrelationId,
    /// A group-level error (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS).
    pub error: Option<ErrorCode>,
    /// `(partition, committed offset and its leader epoch)`: `None` when nothing is committed,
    /// an error when the partition has one (UNSTABLE_OFFSET_COMMIT).
    pub partitions: Vec<(TopicPartition, Result<Option<CommittedPosition>, ErrorCode>)>,
}
