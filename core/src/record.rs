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
    /// The sequence of the first record; the others follow it. A control batch has none
    /// (Kafka's `NO_SEQUENCE`): it is 0 there and never read.
    pub base_sequence: Sequence,
    /// Whether the batch belongs to a transaction (the attributes' transactional bit).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub transactional: bool,
}

/// How a transaction ended, as its marker says (`ControlRecordType`: ABORT is 0, COMMIT is 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MarkerKind {
    /// The transaction's records are to be skipped by `read_committed` consumers.
    Abort,
    /// The transaction's records are visible.
    Commit,
}

impl MarkerKind {
    /// The word Kafka's tools print for the marker.
    pub fn as_str(self) -> &'static str {
        match self {
            MarkerKind::Abort => "ABORT",
            MarkerKind::Commit => "COMMIT",
        }
    }
}

/// The transaction marker a control batch carries (`EndTransactionMarker`): written by the
/// transaction coordinator's WriteTxnMarkers into every partition of a transaction, where it
/// takes one offset (KAFKA.md 4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlMarker {
    /// Commit or abort.
    pub kind: MarkerKind,
    /// The epoch of the coordinator that wrote it; a marker from an older coordinator is
    /// refused (`TRANSACTION_COORDINATOR_FENCED`).
    pub coordinator_epoch: u32,
    /// The marker record's timestamp.
    pub timestamp: Instant,
}

/// The bytes of a control record's key (version 0 and the type, two `int16`) and value
/// (version 0 and the coordinator epoch, an `int16` and an `int32`).
const CONTROL_KEY_BYTES: usize = 4;
const CONTROL_VALUE_BYTES: usize = 6;

/// A record batch as it sits in a log: records stamped with the leader epoch under which the
/// leader appended them. As appended, its records have consecutive offsets from the base offset.
/// Log compaction may remove records from it (KAFKA.md 6.3): the batch then keeps its offset
/// range (Kafka's header keeps `lastOffsetDelta`, so offsets are never renumbered) and the
/// offsets of the records left, which may be none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordBatch {
    /// The offset of the first record as appended (the header's base offset).
    pub base_offset: Offset,
    /// The leader epoch of the leader that appended the batch.
    pub leader_epoch: LeaderEpoch,
    /// Idempotence fields, when the producer is idempotent.
    pub producer: Option<ProducerFields>,
    /// The records: never empty as appended; after cleaning, those left.
    pub records: Arc<[Record]>,
    /// What the log cleaner changed in the batch, if it rewrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleaned: Option<Arc<CleanedBatch>>,
    /// For a control batch, its transaction marker. Kafka's control batch holds the marker as
    /// its one record; here `records` is empty and the marker is this field, so that nothing
    /// that reads data records (consumers, checkers, views) can take a marker for data. The
    /// batch still spans one offset and has the size of Kafka's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<ControlMarker>,
}

/// The header facts a cleaned batch keeps from the batch as appended, and what cleaning added
/// (`DefaultRecordBatch`'s `lastOffsetDelta`, `maxTimestamp` and, since KIP-534, the delete
/// horizon in its base timestamp).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanedBatch {
    /// The offset delta of each record left, ascending, one per record of the batch.
    pub offset_deltas: Vec<u32>,
    /// The last offset delta as appended: the batch still spans its whole offset range.
    pub last_offset_delta: u32,
    /// The largest timestamp of the records left, or, for a batch left empty, the header's
    /// as appended.
    pub max_timestamp: Instant,
    /// Set by the first cleaning that kept a tombstone of the batch: the time plus
    /// `delete.retention.ms`. A cleaning after it removes the batch's tombstones.
    pub delete_horizon: Option<Instant>,
}

impl RecordBatch {
    /// A batch as appended: records at consecutive offsets from `base_offset`.
    pub fn new(
        base_offset: Offset,
        leader_epoch: LeaderEpoch,
        producer: Option<ProducerFields>,
        records: Arc<[Record]>,
    ) -> RecordBatch {
        RecordBatch {
            base_offset,
            leader_epoch,
            producer,
            records,
            cleaned: None,
            control: None,
        }
    }

    /// A control batch at `base_offset` holding `marker` for the producer's transaction
    /// (`MemoryRecords.withEndTransactionMarker`): transactional, with no sequence.
    pub fn control(
        base_offset: Offset,
        leader_epoch: LeaderEpoch,
        producer_id: ProducerId,
        producer_epoch: ProducerEpoch,
        marker: ControlMarker,
    ) -> RecordBatch {
        RecordBatch {
            base_offset,
            leader_epoch,
            producer: Some(ProducerFields {
                producer_id,
                producer_epoch,
                base_sequence: Sequence(0),
                transactional: true,
            }),
            records: Arc::from(Vec::new()),
            cleaned: None,
            control: Some(marker),
        }
    }

    /// How many offsets the batch spans, records removed by cleaning included.
    pub fn offset_count(&self) -> u64 {
        if self.control.is_some() {
            return 1;
        }
        self.cleaned
            .as_ref()
            .map_or(self.records.len() as u64, |c| {
                c.last_offset_delta as u64 + 1
            })
    }

    /// The last offset of the batch's range (its last record's, as appended).
    pub fn last_offset(&self) -> Offset {
        Offset(self.base_offset.0 + self.offset_count() - 1)
    }

    /// The offset after the batch's range.
    pub fn next_offset(&self) -> Offset {
        Offset(self.base_offset.0 + self.offset_count())
    }

    /// The offset of the `i`th record left in the batch.
    pub fn offset_of(&self, i: usize) -> Offset {
        match &self.cleaned {
            None => self.base_offset.plus(i as u64),
            Some(c) => self.base_offset.plus(c.offset_deltas[i] as u64),
        }
    }

    /// The records with their offsets, in offset order.
    pub fn records_with_offsets(&self) -> impl Iterator<Item = (Offset, &Record)> {
        self.records
            .iter()
            .enumerate()
            .map(|(i, r)| (self.offset_of(i), r))
    }

    /// The record at `offset`, if the batch holds it (cleaning may have removed it).
    pub fn record_at(&self, offset: Offset) -> Option<&Record> {
        if offset < self.base_offset || offset >= self.next_offset() {
            return None;
        }
        let delta = offset.0 - self.base_offset.0;
        match &self.cleaned {
            None => self.records.get(delta as usize),
            Some(c) => c
                .offset_deltas
                .binary_search(&(delta as u32))
                .ok()
                .map(|i| &self.records[i]),
        }
    }

    /// The sequence of the last record as appended, if the batch is idempotent (cleaning keeps
    /// the header's sequences). A control batch has none.
    pub fn last_sequence(&self) -> Option<Sequence> {
        if self.control.is_some() {
            return None;
        }
        self.producer
            .map(|p| p.base_sequence.plus(self.offset_count() as u32 - 1))
    }

    /// The bytes the batch takes on disk and on the wire (v2 format, uncompressed).
    pub fn size_in_bytes(&self) -> u64 {
        if self.control.is_some() {
            return RECORD_BATCH_OVERHEAD
                + record_size_in_bytes(
                    0,
                    0,
                    Some(&[0; CONTROL_KEY_BYTES]),
                    Some(&[0; CONTROL_VALUE_BYTES]),
                );
        }
        match &self.cleaned {
            None => batch_size_in_bytes(&self.records),
            Some(c) => records_size_in_bytes(
                self.records
                    .iter()
                    .zip(&c.offset_deltas)
                    .map(|(r, &d)| (d as u64, r)),
            ),
        }
    }

    /// The largest record timestamp (for a cleaned batch, of the records it kept).
    pub fn max_timestamp(&self) -> Instant {
        if let Some(m) = &self.control {
            return m.timestamp;
        }
        match &self.cleaned {
            Some(c) => c.max_timestamp,
            None => self
                .records
                .iter()
                .map(|r| r.timestamp)
                .max()
                .unwrap_or_default(),
        }
    }

    /// The delete horizon a cleaning stamped on the batch, if any.
    pub fn delete_horizon(&self) -> Option<Instant> {
        self.cleaned.as_ref().and_then(|c| c.delete_horizon)
    }
}

/// The bytes a batch of `records` takes: the batch overhead plus each record's encoding.
pub fn batch_size_in_bytes(records: &[Record]) -> u64 {
    records_size_in_bytes(records.iter().enumerate().map(|(i, r)| (i as u64, r)))
}

/// The bytes a batch takes whose records sit at these offset deltas.
fn records_size_in_bytes<'a>(records: impl Iterator<Item = (u64, &'a Record)>) -> u64 {
    let mut first_ts = None;
    RECORD_BATCH_OVERHEAD
        + records
            .map(|(delta, r)| {
                let first = *first_ts.get_or_insert(r.timestamp.0 as i64);
                record_size_in_bytes(
                    delta,
                    r.timestamp.0 as i64 - first,
                    r.key.as_ref().map(Bytes::as_slice),
                    r.value.as_ref().map(Bytes::as_slice),
                )
            })
            .sum::<u64>()
}
