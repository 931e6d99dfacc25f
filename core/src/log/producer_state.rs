//! The broker's idempotence state per producer id: its epoch and the metadata of its last five
//! batches in this partition (`ProducerStateEntry.NUM_BATCHES_TO_RETAIN = 5`, KAFKA.md 4.1).
//!
//! The leader validates client appends against it (duplicate, epoch, sequence); followers update
//! it from the batches they copy, so that a follower elected leader deduplicates retries of
//! batches it replicated. It is rebuilt from the log after a restart or a truncation, as Kafka
//! rebuilds it from the log and its snapshots.

use crate::error::ErrorCode;
use crate::ids::{Offset, ProducerEpoch, ProducerId, Sequence};
use crate::map::VecMap;
use crate::record::RecordBatch;
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
    pub fn validate(
        &self,
        id: ProducerId,
        epoch: ProducerEpoch,
        first_seq: Sequence,
        count: u32,
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
        match entry.batches.back() {
            Some(last) if !in_sequence(last.last_seq, first_seq) => {
                Err(ErrorCode::OutOfOrderSequenceNumber)
            }
            _ => Ok(Validation::Append),
        }
    }

    /// Records an appended batch (leader or follower). A newer epoch starts a fresh entry.
    pub fn update(&mut self, batch: &RecordBatch) {
        let Some(p) = batch.producer else { return };
        let meta = BatchMetadata {
            first_seq: p.base_sequence,
            last_seq: p.base_sequence.plus(batch.offset_count() as u32 - 1),
            first_offset: batch.base_offset,
            last_offset: batch.last_offset(),
        };
        let entry = self
            .producers
            .entry(p.producer_id)
            .or_insert_with(|| ProducerStateEntry {
                epoch: p.producer_epoch,
                batches: VecDeque::new(),
            });
        if p.producer_epoch != entry.epoch {
            entry.epoch = p.producer_epoch;
            entry.batches.clear();
        }
        entry.batches.push_back(meta);
        while entry.batches.len() > NUM_BATCHES_TO_RETAIN {
            entry.batches.pop_front();
        }
    }

    /// Rebuilds the state from a log's batches, as after a restart or a truncation.
    pub fn rebuild<'a>(batches: impl IntoIterator<Item = &'a RecordBatch>) -> ProducerStateManager {
        let mut m = ProducerStateManager::default();
        for b in batches {
            m.update(b);
        }
        m
    }
}
