//! Kafka's error codes, as values.
//!
//! The model answers with the error Kafka would return (`NOT_ENOUGH_REPLICAS`, `FENCED_LEADER_EPOCH`,
//! ...), never with a panic. Names and numeric codes follow
//! `clients/src/main/java/org/apache/kafka/common/protocol/Errors.java`. Two client-side
//! outcomes that are not wire errors are included so that producers can report them the way the
//! Java client does: a delivery timeout (`TimeoutException`) and a broken connection.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! errors {
    ($($(#[$doc:meta])* $variant:ident = $code:expr, $name:literal, $retriable:expr;)*) => {
        /// A Kafka error code (or one of two client-side outcomes, see the module doc).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorCode {
            /// Kafka's numeric code (negative for the client-side outcomes).
            pub fn code(self) -> i16 {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            /// Kafka's name for the error, as printed by its tools and logs.
            pub fn name(self) -> &'static str {
                match self { $(ErrorCode::$variant => $name,)* }
            }

            /// Whether the Java client treats it as retriable (a `RetriableException`).
            pub fn is_retriable(self) -> bool {
                match self { $(ErrorCode::$variant => $retriable,)* }
            }

            /// Every error, for parsing names.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];
        }
    };
}

errors! {
    /// The producer's `delivery.timeout.ms` expired (Java `TimeoutException`; not a wire error).
    DeliveryTimeout = -2, "DELIVERY_TIMEOUT", false;
    /// A transactional producer aborted the transaction before the batch was sent (Java
    /// `TransactionAbortedException`; not a wire error).
    TransactionAborted = -3, "TRANSACTION_ABORTED", false;
    /// No answer within `request.timeout.ms`, or the connection broke; the outcome is unknown.
    NetworkException = 13, "NETWORK_EXCEPTION", true;
    /// The fetch offset is outside the log.
    OffsetOutOfRange = 1, "OFFSET_OUT_OF_RANGE", false;
    /// The group coordinator is not available (loading, or its offsets partition has no leader).
    CoordinatorNotAvailable = 15, "COORDINATOR_NOT_AVAILABLE", true;
    /// This broker is not the coordinator of the group.
    NotCoordinator = 16, "NOT_COORDINATOR", true;
    /// The generation in the request is not the group's current one.
    IllegalGeneration = 22, "ILLEGAL_GENERATION", false;
    /// The member's protocol type or assignors do not match the group's.
    InconsistentGroupProtocol = 23, "INCONSISTENT_GROUP_PROTOCOL", false;
    /// The group id is empty.
    InvalidGroupId = 24, "INVALID_GROUP_ID", false;
    /// The member id is not known to the coordinator.
    UnknownMemberId = 25, "UNKNOWN_MEMBER_ID", false;
    /// The session timeout is outside the broker's allowed range.
    InvalidSessionTimeout = 26, "INVALID_SESSION_TIMEOUT", false;
    /// The group is rebalancing: the member must rejoin.
    RebalanceInProgress = 27, "REBALANCE_IN_PROGRESS", false;
    /// A dynamic member must rejoin with the member id the coordinator handed out (KIP-394).
    MemberIdRequired = 79, "MEMBER_ID_REQUIRED", false;
    /// Another live instance with the same `group.instance.id` replaced this one (KIP-345).
    FencedInstanceId = 82, "FENCED_INSTANCE_ID", false;
    /// The broker has no producer-id block yet (the first InitProducerId on a broker).
    CoordinatorLoadInProgress = 14, "COORDINATOR_LOAD_IN_PROGRESS", true;
    /// The topic or partition does not exist (yet) in this broker's metadata.
    UnknownTopicOrPartition = 3, "UNKNOWN_TOPIC_OR_PARTITION", true;
    /// The partition has no leader right now.
    LeaderNotAvailable = 5, "LEADER_NOT_AVAILABLE", true;
    /// The broker is not the leader (or a follower) of the partition.
    NotLeaderOrFollower = 6, "NOT_LEADER_OR_FOLLOWER", true;
    /// The leader did not complete the request within its timeout (acks=all waited too long).
    RequestTimedOut = 7, "REQUEST_TIMED_OUT", true;
    /// The ISR is smaller than `min.insync.replicas`; nothing was appended.
    NotEnoughReplicas = 19, "NOT_ENOUGH_REPLICAS", true;
    /// The record was appended, but the ISR shrank below `min.insync.replicas` before the ack.
    NotEnoughReplicasAfterAppend = 20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", true;
    /// `acks` is not 0, 1 or -1.
    InvalidRequiredAcks = 21, "INVALID_REQUIRED_ACKS", false;
    /// The topic already exists.
    TopicAlreadyExists = 36, "TOPIC_ALREADY_EXISTS", false;
    /// The partition count is invalid.
    InvalidPartitions = 37, "INVALID_PARTITIONS", false;
    /// The replication factor is invalid.
    InvalidReplicationFactor = 38, "INVALID_REPLICATION_FACTOR", false;
    /// A manual replica assignment names unknown or unusable brokers.
    InvalidReplicaAssignment = 39, "INVALID_REPLICA_ASSIGNMENT", false;
    /// A configuration value is invalid.
    InvalidConfig = 40, "INVALID_CONFIG", false;
    /// The request reached a node that is not the active controller, or one behind the sender.
    NotController = 41, "NOT_CONTROLLER", true;
    /// The request is malformed or not allowed in this state.
    InvalidRequest = 42, "INVALID_REQUEST", false;
    /// A record the broker refuses as invalid: a record without a key on a compacted topic
    /// (`LogValidator.validateKey`).
    InvalidRecord = 87, "INVALID_RECORD", false;
    /// The producer's sequence number is not the one the broker expects.
    OutOfOrderSequenceNumber = 45, "OUT_OF_ORDER_SEQUENCE_NUMBER", false;
    /// The producer's epoch is older than the broker's.
    InvalidProducerEpoch = 47, "INVALID_PRODUCER_EPOCH", false;
    /// A transactional producer's request does not fit its transaction's state: a
    /// non-transactional write while its transaction is open (`InvalidTxnStateException`).
    InvalidTxnState = 48, "INVALID_TXN_STATE", false;
    /// The producer id does not belong to the transactional id (or the coordinator knows no
    /// such transactional id).
    InvalidProducerIdMapping = 49, "INVALID_PRODUCER_ID_MAPPING", false;
    /// `transaction.timeout.ms` is larger than the broker's `transaction.max.timeout.ms`.
    InvalidTransactionTimeout = 50, "INVALID_TRANSACTION_TIMEOUT", false;
    /// The transactional id has a state change in progress (a commit or abort being
    /// completed, or a write in flight): retry.
    ConcurrentTransactions = 51, "CONCURRENT_TRANSACTIONS", true;
    /// A transactional offset commit for the partition is still pending: the committed offset
    /// is not known yet (an OffsetFetch with `requireStable`, KIP-447). Retry.
    UnstableOffsetCommit = 88, "UNSTABLE_OFFSET_COMMIT", true;
    /// A newer producer with the same transactional id exists: this one is a zombie.
    ProducerFenced = 90, "PRODUCER_FENCED", false;
    /// A transaction marker from a coordinator older than the last one the partition saw.
    TransactionCoordinatorFenced = 52, "TRANSACTION_COORDINATOR_FENCED", false;
    /// The broker has no state for this producer id.
    UnknownProducerId = 59, "UNKNOWN_PRODUCER_ID", false;
    /// The request's leader epoch is older than the partition's.
    FencedLeaderEpoch = 74, "FENCED_LEADER_EPOCH", true;
    /// The request's leader epoch is newer than this broker knows.
    UnknownLeaderEpoch = 75, "UNKNOWN_LEADER_EPOCH", true;
    /// The broker epoch in the request is not the broker's current one.
    StaleBrokerEpoch = 77, "STALE_BROKER_EPOCH", false;
    /// The leader's high watermark has not reached the offset yet.
    OffsetNotAvailable = 78, "OFFSET_NOT_AVAILABLE", true;
    /// The preferred replica cannot lead now.
    PreferredLeaderNotAvailable = 80, "PREFERRED_LEADER_NOT_AVAILABLE", false;
    /// No replica may lead the partition under the requested election type.
    EligibleLeadersNotAvailable = 83, "ELIGIBLE_LEADERS_NOT_AVAILABLE", false;
    /// The requested leader already leads.
    ElectionNotNeeded = 84, "ELECTION_NOT_NEEDED", false;
    /// The AlterPartition's partition epoch is stale.
    InvalidUpdateVersion = 95, "INVALID_UPDATE_VERSION", false;
    /// Another incarnation of this broker id still holds a live session.
    DuplicateBrokerRegistration = 101, "DUPLICATE_BROKER_REGISTRATION", false;
    /// The broker is not registered with the controller.
    BrokerIdNotRegistered = 102, "BROKER_ID_NOT_REGISTERED", false;
    /// A proposed ISR member is fenced, shutting down or of a stale broker epoch.
    IneligibleReplica = 107, "INELIGIBLE_REPLICA", false;
}

impl ErrorCode {
    /// Finds an error by its Kafka name (`NOT_ENOUGH_REPLICAS`), as scenario files write it.
    pub fn from_name(name: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|e| e.name() == name)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_codes_match_errors_java() {
        for &e in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_name(e.name()), Some(e));
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(json, format!("\"{}\"", e.name()));
        }
        assert_eq!(ErrorCode::NotEnoughReplicas.code(), 19);
        assert_eq!(ErrorCode::FencedLeaderEpoch.code(), 74);
        assert!(ErrorCode::NotEnoughReplicasAfterAppend.is_retriable());
        assert!(!ErrorCode::OutOfOrderSequenceNumber.is_retriable());
        assert_eq!(ErrorCode::from_name("NOT_A_KAFKA_ERROR"), None);
    }
}
