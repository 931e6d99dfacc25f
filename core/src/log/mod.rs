//! A replica's log of one partition: batches, log start offset, log end offset (LEO), high
//! watermark (HW), leader-epoch cache, idempotence state, and what has reached the disk.
//!
//! The log is the durable part of a broker. What survives a crash depends on the crash: a
//! process crash keeps everything the OS has (the page cache is not lost); a power loss keeps only
//! what was flushed (`recovery_point`) and then recovers the way Kafka's log recovery does
//! (truncate the log, then the epoch cache, then rebuild producer state). The HW survives through
//! its checkpoint file, written every `replica.high.watermark.checkpoint.interval.ms`.

pub mod epoch_cache;
pub mod producer_state;

use crate::error::ErrorCode;
use crate::ids::{LeaderEpoch, Offset};
use crate::record::{ProducerFields, Record, RecordBatch};
use epoch_cache::LeaderEpochCache;
use producer_state::{ProducerStateManager, Validation};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The result of a leader append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaderAppend {
    /// The batch was appended at these offsets.
    Appended {
        /// The first offset.
        first: Offset,
        /// The last offset.
        last: Offset,
    },
    /// The batch repeated a recent one and was not appended; these are the original offsets.
    Duplicate {
        /// The original first offset.
        first: Offset,
        /// The original last offset.
        last: Offset,
    },
}

/// One replica's log of one partition.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionLog {
    batches: Vec<RecordBatch>,
    log_start_offset: Offset,
    log_end_offset: Offset,
    high_watermark: Offset,
    hw_checkpoint: Offset,
    epoch_cache: LeaderEpochCache,
    recovery_point: Offset,
    unflushed_records: u64,
    producers: ProducerStateManager,
    truncations: u64,
}

impl PartitionLog {
    /// An empty log.
    pub fn new() -> PartitionLog {
        PartitionLog::default()
    }

    /// The batches, in offset order.
    pub fn batches(&self) -> &[RecordBatch] {
        &self.batches
    }

    /// The first offset still in the log.
    pub fn log_start_offset(&self) -> Offset {
        self.log_start_offset
    }

    /// The offset the next appended record will get.
    pub fn log_end_offset(&self) -> Offset {
        self.log_end_offset
    }

    /// The first offset not known to be committed (this replica's view).
    pub fn high_watermark(&self) -> Offset {
        self.high_watermark
    }

    /// The leader-epoch cache.
    pub fn epoch_cache(&self) -> &LeaderEpochCache {
        &self.epoch_cache
    }

    /// Everything below this offset has been flushed to disk and survives a power loss.
    pub fn recovery_point(&self) -> Offset {
        self.recovery_point
    }

    /// How many times the log was truncated (checkers use it to notice rewritten suffixes).
    pub fn truncations(&self) -> u64 {
        self.truncations
    }

    /// The idempotence state.
    pub fn producers(&self) -> &ProducerStateManager {
        &self.producers
    }

    /// Records appended but not yet flushed.
    pub fn unflushed_records(&self) -> u64 {
        self.unflushed_records
    }

    /// The latest leader epoch of the log (Kafka's `latestEpoch`), used as a follower's
    /// `lastFetchedEpoch`.
    pub fn latest_epoch(&self) -> Option<LeaderEpoch> {
        self.epoch_cache.latest_epoch()
    }

    /// The batch holding `offset`, if the log has it.
    pub fn batch_at(&self, offset: Offset) -> Option<&RecordBatch> {
        let i = self.batches.partition_point(|b| b.next_offset() <= offset);
        self.batches.get(i).filter(|b| b.base_offset <= offset)
    }

    /// The record at `offset` with its batch's leader epoch, if the log has it.
    pub fn record_at(&self, offset: Offset) -> Option<(&Record, LeaderEpoch)> {
        let b = self.batch_at(offset)?;
        Some((
            &b.records[(offset.0 - b.base_offset.0) as usize],
            b.leader_epoch,
        ))
    }

    /// Appends a client's batch as leader in `epoch` (`UnifiedLog.appendAsLeader`): validates
    /// idempotence, assigns offsets from the LEO, stamps the epoch.
    pub fn append_as_leader(
        &mut self,
        records: Arc<[Record]>,
        producer: Option<ProducerFields>,
        epoch: LeaderEpoch,
    ) -> Result<LeaderAppend, ErrorCode> {
        if records.is_empty() {
            return Err(ErrorCode::InvalidRequest);
        }
        if let Some(p) = producer {
            match self.producers.validate(
                p.producer_id,
                p.producer_epoch,
                p.base_sequence,
                records.len() as u32,
            )? {
                Validation::Duplicate {
                    first_offset,
                    last_offset,
                } => {
                    return Ok(LeaderAppend::Duplicate {
                        first: first_offset,
                        last: last_offset,
                    });
                }
                Validation::Append => {}
            }
        }
        let batch = RecordBatch {
            base_offset: self.log_end_offset,
            leader_epoch: epoch,
            producer,
            records,
        };
        let (first, last) = (batch.base_offset, batch.last_offset());
        self.epoch_cache.assign(epoch, first);
        self.push(batch);
        Ok(LeaderAppend::Appended { first, last })
    }

    /// Appends a batch copied from the leader, with the leader's offsets and epoch
    /// (`UnifiedLog.appendAsFollower`). The batch must start at this log's end.
    pub fn append_as_follower(&mut self, batch: RecordBatch) -> Result<(), ErrorCode> {
        if batch.base_offset != self.log_end_offset || batch.records.is_empty() {
            return Err(ErrorCode::InvalidRequest);
        }
        self.epoch_cache
            .assign(batch.leader_epoch, batch.base_offset);
        self.push(batch);
        Ok(())
    }

    fn push(&mut self, batch: RecordBatch) {
        self.producers.update(&batch);
        self.unflushed_records += batch.records.len() as u64;
        self.log_end_offset = batch.next_offset();
        self.batches.push(batch);
    }

    /// Records that a new leader epoch starts at this log's end (a replica becoming leader does
    /// this at once, KAFKA.md 3.5 step 4).
    pub fn assign_epoch_start(&mut self, epoch: LeaderEpoch) {
        self.epoch_cache.assign(epoch, self.log_end_offset);
    }

    /// Removes every batch holding an offset at or after `offset`. Kafka truncates whole
    /// batches, so the new end may be below `offset` when it falls inside a batch. The HW, the
    /// recovery point and the epoch cache follow; idempotence state is rebuilt. Returns the new
    /// log end offset.
    pub fn truncate_to(&mut self, offset: Offset) -> Offset {
        if offset >= self.log_end_offset {
            // `UnifiedLog.truncateTo` truncates the epoch cache even when the log is not cut: a
            // replica that became leader and wrote nothing keeps an epoch entry starting at its
            // log end, which would make it report that epoch as its last fetched one forever.
            self.epoch_cache.truncate_from_end(self.log_end_offset);
            return self.log_end_offset;
        }
        let keep = self.batches.partition_point(|b| b.next_offset() <= offset);
        self.batches.truncate(keep);
        self.log_end_offset = self
            .batches
            .last()
            .map_or(self.log_start_offset, |b| b.next_offset());
        self.high_watermark = self.high_watermark.min(self.log_end_offset);
        self.hw_checkpoint = self.hw_checkpoint.min(self.log_end_offset);
        self.recovery_point = self.recovery_point.min(self.log_end_offset);
        // Kafka counts the unflushed records as `logEndOffset - recoveryPoint`
        // (`LocalLog.unflushedMessages`): records truncated away are no longer unflushed.
        self.unflushed_records = self.log_end_offset.0 - self.recovery_point.0;
        self.epoch_cache.truncate_from_end(self.log_end_offset);
        self.producers = ProducerStateManager::rebuild(&self.batches);
        self.truncations += 1;
        self.log_end_offset
    }

    /// Reads whole batches from the one holding `from`, stopping before `upper` (the HW for a
    /// consumer, the LEO for a follower) and once `max_bytes` is reached; at least one batch is
    /// returned when any is readable, as Kafka does so that a large batch cannot block a fetch.
    pub fn read(&self, from: Offset, upper: Offset, max_bytes: u64) -> Vec<RecordBatch> {
        let start = self.batches.partition_point(|b| b.next_offset() <= from);
        let mut out = Vec::new();
        let mut bytes = 0;
        for b in &self.batches[start..] {
            if b.next_offset() > upper {
                break;
            }
            let size = b.size_in_bytes();
            if !out.is_empty() && bytes + size > max_bytes {
                break;
            }
            bytes += size;
            out.push(b.clone());
        }
        out
    }

    /// Where `epoch` ends in this log (see [`LeaderEpochCache::end_offset_for`]).
    pub fn end_offset_for_epoch(&self, epoch: LeaderEpoch) -> Option<(LeaderEpoch, Offset)> {
        self.epoch_cache.end_offset_for(epoch, self.log_end_offset)
    }

    /// Sets the HW, clamped to `[log start, LEO]` as `UnifiedLog.updateHighWatermark` does.
    pub fn set_high_watermark(&mut self, hw: Offset) {
        self.high_watermark = hw.max(self.log_start_offset).min(self.log_end_offset);
    }

    /// Writes the HW checkpoint file.
    pub fn checkpoint_high_watermark(&mut self) {
        self.hw_checkpoint = self.high_watermark;
    }

    /// Flushes the log: everything appended so far is on disk.
    pub fn flush(&mut self) {
        self.recovery_point = self.log_end_offset;
        self.unflushed_records = 0;
    }

    /// What a power loss leaves: the log cut back to its recovery point (whole batches), the
    /// epoch cache truncated to the recovered end. Returns how many records were lost.
    pub fn lose_unflushed(&mut self) -> u64 {
        let before = self.log_end_offset;
        if self.recovery_point < before {
            self.truncate_to(self.recovery_point);
        }
        self.unflushed_records = 0;
        before.0 - self.log_end_offset.0
    }

    /// What a restarting broker loads: the HW comes from its checkpoint, clamped to the log
    /// (`UnifiedLog` initialisation). Nothing is flushed by the restart: records the OS had not
    /// written back stay in its page cache, unflushed (`LogLoader.recoverLog` keeps the
    /// recovery point), so a later power loss can still take them.
    pub fn recover_on_start(&mut self) {
        self.high_watermark = self
            .hw_checkpoint
            .max(self.log_start_offset)
            .min(self.log_end_offset);
        self.recovery_point = self.recovery_point.min(self.log_end_offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::Bytes;
    use crate::ids::{ProducerEpoch, ProducerId, Sequence};
    use crate::time::Instant;

    fn records(n: usize) -> Arc<[Record]> {
        (0..n)
            .map(|i| Record {
                key: None,
                value: Some(Bytes::from(format!("v{i}"))),
                timestamp: Instant(0),
            })
            .collect()
    }

    fn idem(epoch: u16, seq: u32) -> Option<ProducerFields> {
        Some(ProducerFields {
            producer_id: ProducerId(1),
            producer_epoch: ProducerEpoch(epoch),
            base_sequence: Sequence(seq),
        })
    }

    fn appended(first: u64, last: u64) -> Result<LeaderAppend, ErrorCode> {
        Ok(LeaderAppend::Appended {
            first: Offset(first),
            last: Offset(last),
        })
    }

    fn duplicate(first: u64, last: u64) -> Result<LeaderAppend, ErrorCode> {
        Ok(LeaderAppend::Duplicate {
            first: Offset(first),
            last: Offset(last),
        })
    }

    #[test]
    fn duplicate_appends_follow_unified_log_test() {
        // UnifiedLogTest.testDuplicateAppends (KAFKA.md 4.1), producer 1, epoch 0.
        let e = LeaderEpoch(0);
        let mut log = PartitionLog::new();
        for seq in 0..6 {
            assert_eq!(
                log.append_as_leader(records(1), idem(0, seq), e),
                appended(seq as u64, seq as u64)
            );
        }
        assert_eq!(
            log.append_as_leader(records(3), idem(0, 6), e),
            appended(6, 8)
        );
        // The same 3-record batch again: the original offsets, nothing appended.
        assert_eq!(
            log.append_as_leader(records(3), idem(0, 6), e),
            duplicate(6, 8)
        );
        assert_eq!(log.log_end_offset(), Offset(9));
        // A partial overlap is out of order.
        assert_eq!(
            log.append_as_leader(records(2), idem(0, 7), e),
            Err(ErrorCode::OutOfOrderSequenceNumber)
        );
        // Seq 2 is among the last five batches (2, 3, 4, 5, 6-8): a silent duplicate.
        assert_eq!(
            log.append_as_leader(records(1), idem(0, 2), e),
            duplicate(2, 2)
        );
        // Seq 1 is older than the last five: out of order.
        assert_eq!(
            log.append_as_leader(records(1), idem(0, 1), e),
            Err(ErrorCode::OutOfOrderSequenceNumber)
        );
        assert_eq!(
            log.append_as_leader(records(1), idem(0, 9), e),
            appended(9, 9)
        );
        assert_eq!(
            log.append_as_leader(records(1), idem(0, 9), e),
            duplicate(9, 9)
        );
    }

    #[test]
    fn an_older_producer_epoch_is_rejected_and_a_new_one_starts_at_zero() {
        // UnifiedLogTest.testOldProducerEpoch.
        let e = LeaderEpoch(0);
        let mut log = PartitionLog::new();
        assert_eq!(
            log.append_as_leader(records(1), idem(1, 0), e),
            appended(0, 0)
        );
        assert_eq!(
            log.append_as_leader(records(1), idem(0, 1), e),
            Err(ErrorCode::InvalidProducerEpoch)
        );
        assert_eq!(
            log.append_as_leader(records(1), idem(2, 5), e),
            Err(ErrorCode::OutOfOrderSequenceNumber),
            "a new epoch must start at sequence 0"
        );
        assert_eq!(
            log.append_as_leader(records(1), idem(2, 0), e),
            appended(1, 1)
        );
    }

    #[test]
    fn a_producer_without_state_may_start_at_any_sequence() {
        let mut log = PartitionLog::new();
        assert_eq!(
            log.append_as_leader(records(1), idem(0, 17), LeaderEpoch(0)),
            appended(0, 0)
        );
    }

    #[test]
    fn truncation_removes_whole_batches_and_the_epochs_after_them() {
        let mut log = PartitionLog::new();
        log.append_as_leader(records(2), None, LeaderEpoch(0))
            .unwrap(); // 0-1
        log.append_as_leader(records(3), None, LeaderEpoch(1))
            .unwrap(); // 2-4
        log.set_high_watermark(Offset(5));
        // Offset 3 is inside the second batch: the whole batch goes.
        assert_eq!(log.truncate_to(Offset(3)), Offset(2));
        assert_eq!(log.high_watermark(), Offset(2));
        assert_eq!(log.latest_epoch(), Some(LeaderEpoch(0)));
        assert_eq!(log.truncations(), 1);
        assert!(log.record_at(Offset(2)).is_none());
        assert_eq!(
            log.record_at(Offset(1)).map(|(_, e)| e),
            Some(LeaderEpoch(0))
        );
    }

    /// Regression: a follower that once led an epoch without writing kept an epoch entry at its
    /// log end; its fetches named that epoch, the leader answered with a diverging epoch ending
    /// at that same offset, the follower "truncated" to where it already was, and fetched again,
    /// forever, never rejoining the ISR (found by a 150-seed stress run). Kafka truncates the
    /// epoch cache even when truncating the log has no effect.
    #[test]
    fn truncating_at_the_log_end_drops_an_empty_epoch_at_the_end() {
        let mut log = PartitionLog::new();
        log.append_as_leader(records(2), None, LeaderEpoch(0))
            .unwrap();
        log.assign_epoch_start(LeaderEpoch(2)); // became leader of epoch 2, wrote nothing
        assert_eq!(log.latest_epoch(), Some(LeaderEpoch(2)));
        assert_eq!(log.truncate_to(Offset(2)), Offset(2));
        assert_eq!(
            log.latest_epoch(),
            Some(LeaderEpoch(0)),
            "the empty epoch is gone"
        );
    }

    #[test]
    fn power_loss_keeps_only_what_was_flushed() {
        let mut log = PartitionLog::new();
        log.append_as_leader(records(2), None, LeaderEpoch(0))
            .unwrap();
        log.flush();
        log.append_as_leader(records(1), None, LeaderEpoch(1))
            .unwrap();
        assert_eq!(log.lose_unflushed(), 1);
        assert_eq!(log.log_end_offset(), Offset(2));
        assert_eq!(
            log.latest_epoch(),
            Some(LeaderEpoch(0)),
            "epoch 1 had nothing left"
        );
    }

    #[test]
    fn restart_takes_the_hw_from_its_checkpoint() {
        let mut log = PartitionLog::new();
        log.append_as_leader(records(4), None, LeaderEpoch(0))
            .unwrap();
        log.set_high_watermark(Offset(2));
        log.checkpoint_high_watermark();
        log.set_high_watermark(Offset(4));
        log.recover_on_start();
        assert_eq!(log.high_watermark(), Offset(2));
    }

    #[test]
    fn read_stops_at_the_upper_bound_and_returns_whole_batches() {
        let mut log = PartitionLog::new();
        log.append_as_leader(records(2), None, LeaderEpoch(0))
            .unwrap(); // 0-1
        log.append_as_leader(records(2), None, LeaderEpoch(0))
            .unwrap(); // 2-3
        log.append_as_leader(records(2), None, LeaderEpoch(0))
            .unwrap(); // 4-5
        let got = log.read(Offset(3), Offset(4), u64::MAX);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].base_offset, Offset(2), "the batch holding offset 3");
        assert!(
            log.read(Offset(0), Offset(1), u64::MAX).is_empty(),
            "no whole batch below 1"
        );
        assert_eq!(
            log.read(Offset(0), Offset(6), 1).len(),
            1,
            "at least one batch"
        );
    }
}
