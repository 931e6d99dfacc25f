//! Records and record batches, the unit a producer sends, a leader appends and a follower copies.
//!
//! A batch is immutable once the leader has assigned its offsets and stamped its leader epoch;
//! its records sit behind an `Arc`, so a fetch response or a follower's log shares them instead
//! of copying.

use crate::bytes::Bytes;
use crate::ids::{LeaderEpoch, Offset, ProducerEpoch, ProducerId, Sequence};
use crate::partitioner::{RECORD_BATCH_OVERHEAD, record_size_in_bytes};
use crate::time::Instant;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One record: key, value and the producer's timestamp (CreateTime).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The key; `None` is a null key, which the partitioner does not hash.
    pub key: Option<Bytes>,
    /// The value; `None` is a tombstone.
    pub value: Option<Bytes>,
    /// When the producer created the record.
    pub timestamp: Instant,
}

/// The idempotence fields of a batch (KAFKA.md 4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerFields {
    /// The producer id.
    pub producer_id: ProducerId,
    /// The producer epoch.
    pub producer_epoch: ProducerEpoch,
    /// The sequence of the first record; the others follow it.
    pub base_sequence: Sequence,
}

/// A record batch as it sits in a log: records with consecutive offsets, stamped with the
/// leader epoch under which the leader appended them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordBatch {
    /// The offset of the first record.
    pub base_offset: Offset,
    /// The leader epoch of the leader that appended the batch.
    pub leader_epoch: LeaderEpoch,
    /// Idempotence fields, when the producer is idempotent.
    pub producer: Option<ProducerFields>,
    /// The records (never empty).
    pub records: Arc<[Record]>,
}

impl RecordBatch {
    /// The offset of the last record.
    pub fn last_offset(&self) -> Offset {
        Offset(self.base_offset.0 + self.records.len() as u64 - 1)
    }

    /// The offset after the last record.
    pub fn next_offset(&self) -> Offset {
        Offset(self.base_offset.0 + self.records.len() as u64)
    }

    /// The sequence of the last record, if the batch is idempotent.
    pub fn last_sequence(&self) -> Option<Sequence> {
        self.producer
            .map(|p| p.base_sequence.plus(self.records.len() as u32 - 1))
    }

    /// The bytes the batch takes on disk and on the wire (v2 format, uncompressed).
    pub fn size_in_bytes(&self) -> u64 {
        batch_size_in_bytes(&self.records)
    }

    /// The largest record timestamp.
    pub fn max_timestamp(&self) -> Instant {
        self.records
            .iter()
            .map(|r| r.timestamp)
            .max()
            .unwrap_or_default()
    }
}

/// The bytes a batch of `records` takes: the batch overhead plus each record's encoding.
pub fn batch_size_in_bytes(records: &[Record]) -> u64 {
    let first_ts = records.first().map_or(0, |r| r.timestamp.0 as i64);
    RECORD_BATCH_OVERHEAD
        + records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                record_size_in_bytes(
                    i as u64,
                    r.timestamp.0 as i64 - first_ts,
                    r.key.as_ref().map(Bytes::as_slice),
                    r.value.as_ref().map(Bytes::as_slice),
                )
            })
            .sum::<u64>()
}
