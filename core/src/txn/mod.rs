//! Transactions' coordinator side (KAFKA.md 4.2): the transaction coordinator every broker runs
//! for the `__transaction_state` partitions it leads, and the records it keeps there.
//!
//! A transactional id maps to one `__transaction_state` partition
//! (`Utils.abs(transactionalId.hashCode) % transaction.state.log.num.partitions`), whose
//! leader coordinates it. The latest record of a transactional id is its state, so a new leader
//! rebuilds every transaction by replaying the partition, and finishes those it finds half
//! ended (`TransactionStateManager.loadTransactionsForTxnTopicPartition`).

pub mod coordinator;

use crate::bytes::Bytes;
use crate::ids::{ProducerEpoch, ProducerId, TopicName, TopicPartition};
use crate::json::{self, Json, Value, json_struct};
use crate::record::Record;
use crate::time::{Duration, Instant};
use serde::{Deserialize, Serialize};

/// The internal topic holding the transactions' states.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// The `__transaction_state` partition of a transactional id: the same hash as a group's
/// (`TransactionStateManager.partitionFor`).
pub fn coordinator_partition(transactional_id: &str, partitions: u32) -> u32 {
    crate::group::coordinator_partition(transactional_id, partitions)
}

/// The `__transaction_state` partition (as a topic partition) of a transactional id.
pub fn coordinator_topic_partition(transactional_id: &str, partitions: u32) -> TopicPartition {
    TopicPartition::new(
        TopicName::from(TRANSACTION_STATE_TOPIC),
        coordinator_partition(transactional_id, partitions),
    )
}

/// A transaction's state at its coordinator (`TransactionState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TxnState {
    /// No transaction is open (a fresh id, or one whose producer was just initialised).
    Empty,
    /// Partitions were added: the transaction is open.
    Ongoing,
    /// The commit is decided; markers are being written.
    PrepareCommit,
    /// The abort is decided; markers are being written.
    PrepareAbort,
    /// Every partition has its COMMIT marker.
    CompleteCommit,
    /// Every partition has its ABORT marker.
    CompleteAbort,
}

/// A transactional id's state, as the coordinator holds it and as one `__transaction_state`
/// record keeps it (`TransactionMetadata`, `TransactionLogValue`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnMetadata {
    /// The producer id the transactional id maps to.
    pub producer_id: ProducerId,
    /// The current producer epoch; older ones are fenced.
    pub producer_epoch: ProducerEpoch,
    /// The producer's `transaction.timeout.ms`.
    pub timeout: Duration,
    /// The state.
    pub state: TxnState,
    /// The partitions of the open (or ending) transaction.
    pub partitions: Vec<TopicPartition>,
    /// When the open transaction started (its first AddPartitionsToTxn).
    pub start: Option<Instant>,
    /// When the state last changed.
    pub last_update: Instant,
}

#[derive(Serialize, Deserialize)]
struct TxnKey {
    transactional_id: String,
}

impl TxnMetadata {
    /// The record that stores this state (keyed by the transactional id, like Kafka's
    /// `TransactionLogKey`; the value as JSON, as the group coordinator's records are).
    pub fn encode(&self, transactional_id: &str, timestamp: Instant) -> Record {
        let key = TxnKey {
            transactional_id: transactional_id.to_string(),
        };
        let key = json::to_string(&key);
        let value = json::to_string(self);
        Record {
            key: Some(Bytes::from(key.into_bytes())),
            value: Some(Bytes::from(value.into_bytes())),
            timestamp,
        }
    }

    /// Decodes a record: the transactional id and its state, or `None` for a record that is not
    /// the coordinator's or a tombstone (an expired id).
    pub fn decode(record: &Record) -> Option<(String, Option<TxnMetadata>)> {
        let key: TxnKey = json::from_slice(record.key.as_ref()?.as_slice())?;
        let value = match &record.value {
            Some(v) => Some(json::from_slice(v.as_slice())?),
            None => None,
        };
        Some((key.transactional_id, value))
    }
}

// The JSON of the records, as serde writes them (the tests compare the two).

json_struct!(TxnKey { transactional_id });

impl TxnState {
    const ALL: [TxnState; 6] = [
        TxnState::Empty,
        TxnState::Ongoing,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::CompleteCommit,
        TxnState::CompleteAbort,
    ];

    /// The variant's name, as serde writes it.
    fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
        }
    }
}

impl Json for TxnState {
    fn write(&self, out: &mut String) {
        json::write_str(out, self.name());
    }
    fn read(value: &Value) -> Option<Self> {
        let name = value.as_str()?;
        TxnState::ALL.into_iter().find(|s| s.name() == name)
    }
}

json_struct!(TxnMetadata {
    producer_id,
    producer_epoch,
    timeout,
    state,
    partitions,
    start,
    last_update,
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_record_round_trips_under_its_transactional_id() {
        let m = TxnMetadata {
            producer_id: ProducerId(7),
            producer_epoch: ProducerEpoch(2),
            timeout: Duration::from_millis(60_000),
            state: TxnState::Ongoing,
            partitions: vec![TopicPartition::new("orders", 1)],
            start: Some(Instant(5)),
            last_update: Instant(6),
        };
        let r = m.encode("pipeline-1", Instant(6));
        assert_eq!(
            TxnMetadata::decode(&r),
            Some(("pipeline-1".to_string(), Some(m)))
        );
        // A group's record is not a transaction's.
        let other = Record {
            key: Some(Bytes::from("{\"type\":\"group\",\"group\":\"g\"}")),
            value: None,
            timestamp: Instant(0),
        };
        assert_eq!(TxnMetadata::decode(&other), None);
    }

    /// The record is the JSON serde writes, byte for byte, so records keep their sizes.
    #[test]
    fn a_state_record_is_what_serde_writes() {
        for (state, start) in TxnState::ALL
            .into_iter()
            .zip([None, Some(Instant(3))].into_iter().cycle())
        {
            let m = TxnMetadata {
                producer_id: ProducerId(u64::MAX),
                producer_epoch: ProducerEpoch(u16::MAX),
                timeout: Duration::from_millis(900),
                state,
                partitions: vec![TopicPartition::new("a", 0), TopicPartition::new("b\\", 7)],
                start,
                last_update: Instant(6),
            };
            let r = m.encode("id \"1\"", Instant(6));
            let key = TxnKey {
                transactional_id: "id \"1\"".into(),
            };
            assert_eq!(
                r.key.unwrap().as_slice(),
                serde_json::to_string(&key).unwrap().as_bytes()
            );
            assert_eq!(
                r.value.unwrap().as_slice(),
                serde_json::to_string(&m).unwrap().as_bytes()
            );
        }
    }

    #[test]
    fn a_transactional_id_maps_to_a_partition_like_a_group() {
        assert_eq!(coordinator_partition("billing", 50), 9);
        assert_eq!(
            coordinator_topic_partition("billing", 50),
            TopicPartition::new(TRANSACTION_STATE_TOPIC, 9)
        );
    }
}
