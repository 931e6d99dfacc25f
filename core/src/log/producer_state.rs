//! The broker's idempotence state per producer id: its epoch and the metadata of its last five
//! batches in this partition (`ProducerStateEntry.NUM_BATCHES_TO_RETAIN = 5`, KAFKA.md 4.1),
//! and the partition's transactions (KAFKA.md 4.2): the ones still open, the ones whose marker
//! the high watermark has not passed, and the index of aborted ones that `read_committed`
//! fetches return (`ProducerStateManager`, `TransactionIndex`).
//!
//! The leader validates client appends against it (duplicate, epoch, sequence); followers update
//! it from the batches they copy, so that a follower elected leader deduplicates retries of
//! batches it replicated. It is rebuilt from the log after a restart or a truncation, as Kafka
//! rebuilds it from the log and its snapshots.

use crate::error::ErrorCode;
use crate::ids::{Offset, ProducerEpoch, ProducerId, Sequence};
use crate::map::VecMap;
use crate::record::{MarkerKind, RecordBatch};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// How many batches per producer the broker remembers for duplicate detection.
pub const NUM_BATCHES_TO_RETAIN: usize = 5;

/// What the broker remembers of one appended batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchMetadata {
    /// The first sequence of the batch.
    pub first_seq: Sequence,
    /// The last sequence of the batch.
    pub last_seq: Sequence,
    /// The offset of the batch's first record.
    pub first_offset: Offset,
    /// The offset of the batch's last record.
    pub last_offset: Offset,
}

/// One producer's state in one partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerStateEntry {
    /// The producer's current epoch.
    pub epoch: ProducerEpoch,
    /// The last batches, oldest first, at most five.
    pub batches: VecDeque<BatchMetadata>,
    /// The epoch of the transaction coordinator whose marker the partition saw last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinator_epoch: Option<u32>,
    /// The first offset of the producer's open transaction in this partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_txn_first_offset: Option<Offset>,
}

/// A transaction of one producer in this partition, from its first record to its marker
/// (`TxnMetadata`, `CompletedTxn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    /// The producer.
    pub producer_id: ProducerId,
    /// The offset of its first record here.
    pub first_offset: Offset,
    /// The offset of its marker, once written.
    pub last_offset: Option<Offset>,
}

/// An aborted transaction as the partition's transaction index keeps it (`AbortedTxn`): a
/// `read_committed` fetch returns those it overlaps, and the consumer drops their records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbortedTxn {
    /// The producer.
    pub producer_id: ProducerId,
    /// The offset of the transaction's first record here.
    pub first_offset: Offset,
    /// The offset of its ABORT marker.
    pub last_offset: Offset,
    /// The last stable offset once the marker was written (`lastStableOffset`): the first
    /// offset of another producer's open transaction, or the one after the marker.
    pub last_stable_offset: Offset,
}

/// The result of validating a client append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validation {
    /// Append the batch.
    Append,
    /// The batch repeats a cached one: do not append, answer with the original offsets.
    Duplicate {
        /// The original first offset.
        first_offset: Offset,
        /// The original last offset.
        last_offset: Offset,
    },
}

/// `inSequence`: the next sequence follows the last one, wrapping at `Integer.MAX_VALUE`.
fn in_sequence(last: Sequence, next: Sequence) -> bool {
    last.plus(1) == next
}

/// Every producer's state in one partition.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerStateManager {
    producers: VecMap<ProducerId, ProducerStateEntry>,
    /// Open transactions by first offset (`ongoingTxns`).
    #[serde(default, skip_serializing_if = "VecMap::is_empty")]
    ongoing: VecMap<Offset, Txn>,
    /// Ended transactions whose marker is not below the high watermark yet, by first offset
    /// (`unreplicatedTxns`): they still hold the last stable offset back.
    #[serde(default, skip_serializing_if = "VecMap::is_empty")]
    unreplicated: VecMap<Offset, Txn>,
    /// The aborted transactions, in marker order (the segments' `TransactionIndex` files).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    aborted: Vec<AbortedTxn>,
}

impl ProducerStateManager {
    /// The state of one producer, if the partition has any.
    pub fn entry(&self, id: ProducerId) -> Option<&ProducerStateEntry> {
        self.producers.get(&id)
    }

    /// Validates a client append of `count` records, in Kafka's order: the duplicate check
    /// first (same epoch, exactly the same sequence range as a cached batch), then the epoch
    /// (`INVALID_PRODUCER_EPOCH` when older), then the sequence (`OUT_OF_ORDER_SEQUENCE_NUMBER`
    /// unless it follows the last one; a new epoch must start at 0; a producer id with no state
    /// here may start anywhere). Sources: `UnifiedLog.analyzeAndValidateProducerState`,
    /// `ProducerAppendInfo.checkProducerEpoch` and `checkSequence`.
    ///
    /// A non-transactional batch from a producer with an open transaction here is refused
    /// with `INVALID_TXN_STATE` (`ProducerAppendInfo.appendDataBatch`).
    pub fn validate(
        &self,
        id: ProducerId,
        epoch: ProducerEpoch,
        first_seq: Sequence,
        count: u32,
        transactional: bool,
    ) -> Result<Validation, ErrorCode> {
        let Some(entry) = self.producers.get(&id) else {
            return Ok(Validation::Append);
        };
        let last_seq = first_seq.plus(count - 1);
        if entry.epoch == epoch
            && let Some(b) = entry
                .batches
                .iter()
                .find(|b| b.first_seq == first_seq && b.last_seq == last_seq)
        {
            return Ok(Validation::Duplicate {
                first_offset: b.first_offset,
                last_offset: b.last_offset,
            });
        }
        if epoch < entry.epoch {
            return Err(ErrorCode::InvalidProducerEpoch);
        }
        if epoch != entry.epoch {
            return if first_seq == Sequence(0) {
                Ok(Validation::Append)
            } else {
                Err(ErrorCode::OutOfOrderSequenceNumber)
            };
        }
        // An entry with no batches (a marker moved it to a new epoch) expects sequence 0:
        // Kafka compares with `NO_SEQUENCE`, -1.
        let in_order = entry
            .batches
            .back()
            .map_or(first_seq == Sequence(0), |last| {
                in_sequence(last.last_seq, first_seq)
            });
        if !in_order {
            return Err(ErrorCode::OutOfOrderSequenceNumber);
        }
        if entry.current_txn_first_offset.is_some() && !transactional {
            return Err(ErrorCode::InvalidTxnState);
        }
        Ok(Validation::Append)
    }

    /// Validates a transaction marker the coordinator writes (`appendEndTxnMarker`): its epoch
    /// may not be older than the producer's (with transaction version 2, KIP-890, it must be
    /// newer, except for a retry of the marker that ended the producer's last transaction),
    /// and its coordinator epoch may not be older than the last marker's.
    pub fn validate_marker(
        &self,
        id: ProducerId,
        epoch: ProducerEpoch,
        coordinator_epoch: u32,
        transaction_v2: bool,
    ) -> Result<(), ErrorCode> {
        let Some(entry) = self.producers.get(&id) else {
            return Ok(());
        };
        let stale = if transaction_v2 {
            epoch <= entry.epoch
        } else {
            epoch < entry.epoch
        };
        // KAFKA-19999: a TV2 marker at the current epoch with no open transaction is a
        // retry of the marker already written.
        let retry =
            transaction_v2 && epoch == entry.epoch && entry.current_txn_first_offset.is_none();
        if stale && !retry {
            return Err(ErrorCode::InvalidProducerEpoch);
        }
        if entry
            .coordinator_epoch
            .is_some_and(|c| c > coordinator_epoch)
        {
            return Err(ErrorCode::TransactionCoordinatorFenced);
        }
        Ok(())
    }

    /// Records an appended batch (leader or follower). A newer epoch starts a fresh entry. A
    /// transactional batch opens its producer's transaction here if none is open; a marker
    /// ends it (the aborted index gains it if it aborts) and returns it.
    pub fn update(&mut self, batch: &RecordBatch) -> Option<Txn> {
        let p = batch.producer?;
        if let Some(marker) = batch.control {
            return self.end_txn(p.producer_id, p.producer_epoch, batch.base_offset, marker);
        }
        let meta = BatchMetadata {
            first_seq: p.base_sequence,
            last_seq: p.base_sequence.plus(batch.offset_count() as u32 - 1),
            first_offset: batch.base_offset,
            last_offset: batch.last_offset(),
        };
        let entry = self
            .producers
            .entry(p.producer_id)
            .or_insert_with(|| ProducerStateEntry::new(p.producer_epoch));
        entry.maybe_update_epoch(p.producer_epoch);
        entry.batches.push_back(meta);
        while entry.batches.len() > NUM_BATCHES_TO_RETAIN {
            entry.batches.pop_front();
        }
        if p.transactional && entry.current_txn_first_offset.is_none() {
            entry.current_txn_first_offset = Some(batch.base_offset);
            self.ongoing.insert(
                batch.base_offset,
                Txn {
                    producer_id: p.producer_id,
                    first_offset: batch.base_offset,
                    last_offset: None,
                },
            );
        }
        None
    }

    /// A marker at `offset` ends the producer's open transaction, if it has one (a marker
    /// with no data before it changes only the producer's epochs).
    fn end_txn(
        &mut self,
        id: ProducerId,
        epoch: ProducerEpoch,
        offset: Offset,
        marker: crate::record::ControlMarker,
    ) -> Option<Txn> {
        let entry = self
            .producers
            .entry(id)
            .or_insert_with(|| ProducerStateEntry::new(epoch));
        entry.maybe_update_epoch(epoch);
        entry.coordinator_epoch = Some(marker.coordinator_epoch);
        let first_offset = entry.current_txn_first_offset.take()?;
        self.ongoing.remove(&first_offset);
        let txn = Txn {
            producer_id: id,
            first_offset,
            last_offset: Some(offset),
        };
        if marker.kind == MarkerKind::Abort {
            // `ProducerStateManager.lastStableOffset`: the first open transaction of
            // another producer, or the offset after the marker.
            let last_stable_offset = self
                .ongoing
                .values()
                .find(|t| t.producer_id != id)
                .map_or(offset.next(), |t| t.first_offset);
            self.aborted.push(AbortedTxn {
                producer_id: id,
                first_offset,
                last_offset: offset,
                last_stable_offset,
            });
        }
        self.unreplicated.insert(first_offset, txn);
        Some(txn)
    }

    /// The first offset of an open transaction, or of an ended one whose marker the high
    /// watermark has not passed (`firstUnstableOffset`).
    pub fn first_unstable_offset(&self) -> Option<Offset> {
        let ongoing = self.ongoing.keys().next().copied();
        let unreplicated = self.unreplicated.keys().next().copied();
        ongoing.into_iter().chain(unreplicated).min()
    }

    /// The high watermark moved to `hw`: ended transactions whose marker is below it no longer
    /// hold the last stable offset back (`onHighWatermarkUpdated`).
    pub fn on_high_watermark_updated(&mut self, hw: Offset) {
        self.unreplicated
            .retain(|_, t| t.last_offset.is_none_or(|last| last >= hw));
    }

    /// The aborted transactions a read from `from` up to `upper` overlaps
    /// (`TransactionIndex.collectAbortedTxns`: marker at or after `from`, first record before
    /// `upper`), in marker order.
    pub fn aborted_between(&self, from: Offset, upper: Offset) -> Vec<AbortedTxn> {
        self.aborted
            .iter()
            .filter(|a| a.last_offset >= from && a.first_offset < upper)
            .copied()
            .collect()
    }

    /// Forgets aborted transactions whose marker is below `offset` (the log start moved past
    /// them: Kafka deletes a segment's transaction index with the segment).
    pub fn forget_aborted_below(&mut self, offset: Offset) {
        self.aborted.retain(|a| a.last_offset >= offset);
    }
}

impl ProducerStateEntry {
    fn new(epoch: ProducerEpoch) -> ProducerStateEntry {
        ProducerStateEntry {
            epoch,
            batches: VecDeque::new(),
            coordinator_epoch: None,
            current_txn_first_offset: None,
        }
    }

    /// `maybeUpdateProducerEpoch`: a new epoch forgets the old epoch's batches.
    fn maybe_update_epoch(&mut self, epoch: ProducerEpoch) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
    }
}
