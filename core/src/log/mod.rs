//! A replica's log of one partition: batches cut into segments, log start offset, log end
//! offset (LEO), high watermark (HW), leader-epoch cache, idempotence state, and what has reached
//! the disk.
//!
//! The log is the durable part of a broker. What survives a crash depends on the crash: a
//! process crash keeps everything the OS has (the page cache is not lost); a power loss keeps only
//! what was flushed (`recovery_point`) and then recovers the way Kafka's log recovery does
//! (truncate the log, then the epoch cache, then rebuild producer state). The HW survives through
//! its checkpoint file, written every `replica.high.watermark.checkpoint.interval.ms`.
//!
//! Segments (KAFKA.md 6.1, 6.2): an append rolls a new active segment when `segment.bytes` or
//! `segment.ms` says so, and a roll flushes everything before the new segment, as Kafka's
//! `UnifiedLog.roll` schedules at once. Retention deletes whole segments, oldest first, never
//! past the HW, and moves the log start offset to the first segment left. What a power loss does
//! to segments, in this model:
//!
//! * a freshly rolled segment's file exists once the roll's flush has run, and everything before
//!   it is flushed: a power loss takes at most the active segment's unflushed records and leaves
//!   an empty active segment where the roll put it;
//! * a deleted segment stays deleted, and the log start offset stays where the deletion moved
//!   it. Kafka renames a deleted segment's files without syncing the directory and checkpoints
//!   the log start offset every minute, so a power loss may bring a deleted segment back for a
//!   while; its records are below the log start offset, which no reader may go below, and the
//!   next retention check deletes it again (docs/deviations.md);
//! * when a power loss cuts a log below its log start offset (a follower whose log start came
//!   from its leader, ahead of what it had flushed), the log starts again empty at the log start
//!   offset, as `LogLoader` does when it finds the log end below the checkpointed log start.

pub mod cleaner;
pub mod epoch_cache;
pub mod producer_state;
pub mod segment;
pub mod transactions;

use crate::config::TopicConfig;
use crate::error::ErrorCode;
use crate::ids::{LeaderEpoch, Offset, ProducerEpoch, ProducerId, Sequence};
use crate::record::{ProducerFields, Record, RecordBatch};
use crate::time::{Duration, Instant};
use epoch_cache::LeaderEpochCache;
use producer_state::{ProducerStateManager, Validation};
use segment::{DeletionReason, Segment, SegmentDeletion};
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionLog {
    batches: Vec<RecordBatch>,
    /// The segments, oldest first; never empty. Each covers the next `batches` of `batches`.
    segments: Vec<Segment>,
    /// The topic's configuration as the log applies it (Kafka's `UnifiedLog.config`): segment
    /// sizes and times, retention, cleanup policy. The broker sets it from the metadata.
    config: TopicConfig,
    log_start_offset: Offset,
    log_end_offset: Offset,
    high_watermark: Offset,
    hw_checkpoint: Offset,
    epoch_cache: LeaderEpochCache,
    recovery_point: Offset,
    unflushed_records: u64,
    producers: ProducerStateManager,
    /// The idempotence state of the batches retention deleted: Kafka keeps it in its producer
    /// snapshots, so rebuilding the state after a truncation starts from it.
    retained_producers: ProducerStateManager,
    /// Where the log cleaner's last pass ended (`cleaner-offset-checkpoint`): the log below it
    /// is clean. `None` until the first pass.
    cleaner_checkpoint: Option<Offset>,
    truncations: u64,
}

impl Default for PartitionLog {
    fn default() -> PartitionLog {
        PartitionLog {
            batches: Vec::new(),
            segments: vec![Segment::empty(Offset(0))],
            config: TopicConfig::default(),
            log_start_offset: Offset(0),
            log_end_offset: Offset(0),
            high_watermark: Offset(0),
            hw_checkpoint: Offset(0),
            epoch_cache: LeaderEpochCache::default(),
            recovery_point: Offset(0),
            unflushed_records: 0,
            producers: ProducerStateManager::default(),
            retained_producers: ProducerStateManager::default(),
            cleaner_checkpoint: None,
            truncations: 0,
        }
    }
}

impl PartitionLog {
    /// An empty log: one empty segment at offset 0, with Kafka's default configuration.
    pub fn new() -> PartitionLog {
        PartitionLog::default()
    }

    /// An empty log with this configuration.
    pub fn with_config(config: &TopicConfig) -> PartitionLog {
        let mut log = PartitionLog::default();
        log.set_config(config);
        log
    }

    /// Applies the topic's configuration (`UnifiedLog.updateConfig`); it takes effect from the
    /// next append or retention check.
    pub fn set_config(&mut self, config: &TopicConfig) {
        if &self.config != config {
            self.config = config.clone();
        }
    }

    /// The configuration the log applies.
    pub fn config(&self) -> &TopicConfig {
        &self.config
    }

    /// The batches, in offset order. A follower may still hold batches below its log start
    /// offset, in a segment retention has not deleted yet.
    pub fn batches(&self) -> &[RecordBatch] {
        &self.batches
    }

    /// The segments, oldest first; the last is the active one.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The log's size in bytes: its segments' sizes (`UnifiedLog.size`).
    pub fn size_in_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
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

    /// The record at `offset` with its batch's leader epoch, if the log has it (cleaning may
    /// have removed it: see [`Self::cleaned_away`]).
    pub fn record_at(&self, offset: Offset) -> Option<(&Record, LeaderEpoch)> {
        let b = self.batch_at(offset)?;
        Some((b.record_at(offset)?, b.leader_epoch))
    }

    /// How many records the log holds from its log start on. Below the log end it spans
    /// `log_end_offset - log_start_offset` offsets; on a compacted topic the cleaner leaves some
    /// of them empty, so this is smaller.
    pub fn record_count(&self) -> u64 {
        self.batches
            .iter()
            .flat_map(RecordBatch::records_with_offsets)
            .filter(|(o, _)| *o >= self.log_start_offset)
            .count() as u64
    }

    /// Whether the log cleaner removed the record at `offset`: the log covers the offset (at or
    /// above its log start, below its end) but holds no record there. Offsets are never
    /// renumbered, so a reader simply skips it (KAFKA.md 6.3, guarantee 3).
    pub fn cleaned_away(&self, offset: Offset) -> bool {
        offset >= self.log_start_offset
            && offset < self.log_end_offset
            && self.record_at(offset).is_none()
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
        // KAFKA.md 6.3, `LogValidator.validateKey`: "Compacted topic cannot accept message
        // without key". Kafka validates records before it looks at the producer's sequences,
        // so such a batch is refused even as a duplicate.
        if self.config.cleanup_policy.compact && records.iter().any(|r| r.key.is_none()) {
            return Err(ErrorCode::InvalidRecord);
        }
        if let Some(p) = producer {
            match self.producers.validate(
                p.producer_id,
                p.producer_epoch,
                p.base_sequence,
                records.len() as u32,
                p.transactional,
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
        let batch = RecordBatch::new(self.log_end_offset, epoch, producer, records);
        let (first, last) = (batch.base_offset, batch.last_offset());
        self.epoch_cache.assign(epoch, first);
        self.push(batch);
        Ok(LeaderAppend::Appended { first, last })
    }

    /// Appends a coordinator's transactional batch as the leader (origin COORDINATOR, as the
    /// group coordinator writes a TxnOffsetCommit): `ProducerAppendInfo` checks the producer
    /// epoch but not sequences for that origin, so the batch carries sequence 0 and is never
    /// taken for a duplicate. Returns the first and last offsets.
    pub fn append_as_coordinator(
        &mut self,
        records: Arc<[Record]>,
        producer_id: ProducerId,
        producer_epoch: ProducerEpoch,
        epoch: LeaderEpoch,
    ) -> Result<(Offset, Offset), ErrorCode> {
        if records.is_empty() {
            return Err(ErrorCode::InvalidRequest);
        }
        if self
            .producers
            .entry(producer_id)
            .is_some_and(|e| e.epoch > producer_epoch)
        {
            return Err(ErrorCode::InvalidProducerEpoch);
        }
        let producer = ProducerFields {
            producer_id,
            producer_epoch,
            base_sequence: Sequence(0),
            transactional: true,
        };
        let batch = RecordBatch::new(self.log_end_offset, epoch, Some(producer), records);
        let (first, last) = (batch.base_offset, batch.last_offset());
        self.epoch_cache.assign(epoch, first);
        self.push(batch);
        Ok((first, last))
    }

    /// Appends a batch copied from the leader, with the leader's offsets and epoch
    /// (`UnifiedLog.appendAsFollower`). The batch must not start below this log's end; it may
    /// start above it when the leader's cleaner removed whole batches there (Kafka throws
    /// `UnexpectedAppendOffsetException` only for a batch below the log end). A batch the
    /// cleaner emptied is copied as it is.
    pub fn append_as_follower(&mut self, batch: RecordBatch) -> Result<(), ErrorCode> {
        if batch.base_offset < self.log_end_offset
            || (batch.records.is_empty() && batch.cleaned.is_none() && batch.control.is_none())
        {
            return Err(ErrorCode::InvalidRequest);
        }
        self.epoch_cache
            .assign(batch.leader_epoch, batch.base_offset);
        self.push(batch);
        Ok(())
    }

    /// Appends a batch that starts at the log end: `UnifiedLog.maybeRoll` first (so leaders
    /// and followers roll by the same rules), then the active segment counts it.
    pub(crate) fn push(&mut self, batch: RecordBatch) {
        let size = batch.size_in_bytes();
        let max_timestamp = batch.max_timestamp();
        let active = self.segments.last().expect("a log has a segment");
        if active.should_roll(
            size,
            max_timestamp,
            self.config.segment_bytes,
            self.config.segment_ms.0,
        ) {
            // `UnifiedLog.maybeRoll` rolls at the batch's first offset: on a follower copying
            // a cleaned leader it may be past the log end.
            self.roll_at(batch.base_offset.max(self.log_end_offset));
        }
        self.segments
            .last_mut()
            .expect("a log has a segment")
            .add(size, max_timestamp);
        self.producers.update(&batch);
        // A marker counts as the one message it is in Kafka (`unflushedMessages` counts
        // offsets).
        self.unflushed_records += batch.records.len().max(batch.control.is_some().into()) as u64;
        self.log_end_offset = batch.next_offset();
        self.batches.push(batch);
    }

    /// `UnifiedLog.roll`: a new, empty active segment at the log end (an empty active segment
    /// already there is reused, as `LocalLog.roll` replaces it), then the flush of everything
    /// before it, which Kafka schedules at once (`flushUptoOffsetExclusive`). The model runs that
    /// flush immediately: its fsync takes milliseconds, and a power loss in between is not
    /// modelled.
    pub fn roll(&mut self) {
        self.roll_at(self.log_end_offset);
    }

    /// [`Self::roll`] with the new segment at `base`, at or past the log end.
    fn roll_at(&mut self, base: Offset) {
        let active = self.segments.last().expect("a log has a segment");
        if !(active.base_offset == base && active.batches == 0) {
            self.segments.push(Segment::empty(base));
        }
        self.flush();
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
        if self.segments[0].base_offset > offset {
            // `UnifiedLog.truncateTo`: below the first segment, nothing is kept.
            self.truncate_fully_and_start_at(offset);
            return self.log_end_offset;
        }
        let old_active_base = self
            .segments
            .last()
            .expect("a log has a segment")
            .base_offset;
        let keep = self.batches.partition_point(|b| b.next_offset() <= offset);
        self.batches.truncate(keep);
        // `LocalLog.truncateTo`: segments starting after the offset go, and the one holding it
        // is cut; the batches of the segments before it are all kept.
        while self.segments.len() > 1
            && self.segments.last().is_some_and(|s| s.base_offset > offset)
        {
            self.segments.pop();
        }
        let before: usize = self.segments[..self.segments.len() - 1]
            .iter()
            .map(|s| s.batches)
            .sum();
        let last = self.segments.last_mut().expect("a log has a segment");
        *last = Segment::empty(last.base_offset);
        for b in &self.batches[before..] {
            last.add(b.size_in_bytes(), b.max_timestamp());
        }
        self.log_end_offset = self
            .batches
            .last()
            .map_or(self.segments[0].base_offset, |b| b.next_offset());
        // `logStartOffset = math.min(targetOffset, logStartOffset)`.
        self.log_start_offset = self.log_start_offset.min(self.log_end_offset);
        self.high_watermark = self.high_watermark.min(self.log_end_offset);
        self.hw_checkpoint = self.hw_checkpoint.min(self.log_end_offset);
        self.recovery_point = self.recovery_point.min(self.log_end_offset);
        // Kafka counts the unflushed records as `logEndOffset - recoveryPoint`
        // (`LocalLog.unflushedMessages`): records truncated away are no longer unflushed.
        self.unflushed_records = self.log_end_offset.0 - self.recovery_point.0;
        self.epoch_cache.truncate_from_end(self.log_end_offset);
        self.rebuild_producers();
        // `LogManager.truncateTo`: a truncation below the active segment pulls the cleaner
        // checkpoint back to the new active segment's base (`maybeTruncateCheckpoint`).
        if offset < old_active_base {
            let active_base = self
                .segments
                .last()
                .expect("a log has a segment")
                .base_offset;
            self.cleaner_checkpoint = self.cleaner_checkpoint.map(|c| c.min(active_base));
        }
        self.truncations += 1;
        self.log_end_offset
    }

    /// `UnifiedLog.truncateFullyAndStartAt`: every segment goes, the log starts again empty at
    /// `offset` (log start, log end and HW), with no epochs and no producer state. A follower
    /// does this when its log ends below its leader's log start offset.
    pub fn truncate_fully_and_start_at(&mut self, offset: Offset) {
        self.batches.clear();
        self.segments = vec![Segment::empty(offset)];
        self.log_start_offset = offset;
        self.log_end_offset = offset;
        self.high_watermark = offset;
        self.hw_checkpoint = self.hw_checkpoint.min(offset);
        // An empty log has nothing to lose to a power loss.
        self.recovery_point = offset;
        self.unflushed_records = 0;
        self.epoch_cache.clear();
        self.producers = ProducerStateManager::default();
        self.retained_producers = ProducerStateManager::default();
        self.cleaner_checkpoint = None;
        self.truncations += 1;
    }

    /// Rebuilds the idempotence and transaction state from the retained state and the
    /// batches, as Kafka reloads it from its snapshots and the log after a truncation.
    fn rebuild_producers(&mut self) {
        let mut producers = self.retained_producers.clone();
        for b in &self.batches {
            producers.update(b);
        }
        producers.on_high_watermark_updated(self.high_watermark);
        producers.forget_aborted_below(self.log_start_offset);
        self.producers = producers;
    }

    /// `UnifiedLog.maybeIncrementLogStartOffset`: the log start offset moves forward to
    /// `offset`, never past the HW (Kafka refuses that with OFFSET_OUT_OF_RANGE), and the epoch
    /// cache forgets what is below it. The records below stay on disk until retention deletes
    /// their segment, but no reader may fetch them. Returns whether it moved.
    pub fn maybe_increment_log_start_offset(&mut self, offset: Offset) -> bool {
        if offset > self.high_watermark || offset <= self.log_start_offset {
            return false;
        }
        self.log_start_offset = offset;
        self.epoch_cache.truncate_from_start(offset);
        true
    }

    /// The retention task's work on this log (`UnifiedLog.deleteOldSegments`): segments wholly
    /// below the log start offset; then, under `cleanup.policy=delete`, the oldest segments while
    /// the partition stays at least `retention.bytes` large without them, and segments whose
    /// newest record is more than `retention.ms` older than `now`. Each pass deletes whole
    /// segments from the oldest and stops at the first that does not qualify; a segment is never
    /// deleted unless the HW has passed all of it (the log start offset never passes the HW),
    /// and an empty active segment is never deleted. When every segment qualifies, the active
    /// one is rolled first so that the log keeps one. Returns what each pass deleted.
    pub fn delete_old_segments(&mut self, now: Instant) -> Vec<SegmentDeletion> {
        let mut out = Vec::new();
        let start = self.log_start_offset;
        self.delete_pass(DeletionReason::LogStartOffset, &mut out, |_, next| {
            next.is_some_and(|n| n.base_offset <= start)
        });
        if self.config.cleanup_policy.delete {
            let size = self.size_in_bytes();
            if let Some(limit) = self.config.retention_bytes
                && size >= limit
            {
                let mut diff = size - limit;
                self.delete_pass(DeletionReason::RetentionBytes, &mut out, |s, _| {
                    if diff >= s.size {
                        diff -= s.size;
                        true
                    } else {
                        false
                    }
                });
            }
            if let Some(retention) = self.config.retention_ms {
                self.delete_pass(DeletionReason::RetentionMs, &mut out, |s, _| {
                    // `startMs - segment.largestTimestamp > retentionMs`; a segment with a
                    // timestamp in the future waits.
                    s.largest_timestamp
                        .is_some_and(|t| now.saturating_since(t) > retention)
                });
            }
        }
        out
    }

    /// The earliest time at which [`Self::delete_old_segments`] would delete something if the
    /// log stayed as it is, or `None` if it never would. Every pass deletes from the oldest
    /// segment, so only the first segment matters: it goes by the log start offset or by size
    /// whenever it qualifies now (`Instant::ZERO`), and by time once its newest record is more
    /// than `retention.ms` old. The broker uses this to wake its retention task only when the
    /// task would do something; a check that deletes nothing changes nothing, so skipping it is
    /// not observable.
    pub fn next_deletion_at(&self) -> Option<Instant> {
        let first = &self.segments[0];
        let next = self.segments.get(1);
        let upper = next.map_or(self.log_end_offset, |n| n.base_offset);
        if (next.is_none() && first.size == 0) || self.high_watermark < upper {
            return None;
        }
        if next.is_some_and(|n| n.base_offset <= self.log_start_offset) {
            return Some(Instant::ZERO);
        }
        if !self.config.cleanup_policy.delete {
            return None;
        }
        if let Some(limit) = self.config.retention_bytes
            && self.size_in_bytes().saturating_sub(limit) >= first.size
            && self.size_in_bytes() >= limit
        {
            return Some(Instant::ZERO);
        }
        let retention = self.config.retention_ms?;
        // `now - largestTimestamp > retention.ms` first holds one millisecond after the
        // segment's newest record is exactly `retention.ms` old.
        Some(first.largest_timestamp? + retention + Duration(1))
    }

    /// `deletableSegments` then `deleteSegments` for one rule.
    fn delete_pass(
        &mut self,
        reason: DeletionReason,
        out: &mut Vec<SegmentDeletion>,
        mut predicate: impl FnMut(&Segment, Option<&Segment>) -> bool,
    ) {
        let mut n = 0;
        for (i, segment) in self.segments.iter().enumerate() {
            let next = self.segments.get(i + 1);
            let last_and_empty = next.is_none() && segment.size == 0;
            let upper = next.map_or(self.log_end_offset, |n| n.base_offset);
            // "We don't delete segments with offsets at or beyond the high watermark to ensure
            // that the log start offset can never exceed it."
            let qualifies = self.high_watermark >= upper && predicate(segment, next);
            if qualifies && !last_and_empty {
                n += 1;
            } else {
                break;
            }
        }
        if n == 0 {
            return;
        }
        // "We must always have at least one segment, so if we are going to delete all the
        // segments, create a new one first."
        let rolled = n == self.segments.len();
        if rolled {
            self.roll();
        }
        let from = self.segments[0].base_offset;
        let to = self.segments[n].base_offset;
        self.maybe_increment_log_start_offset(to);
        let batches: usize = self.segments[..n].iter().map(|s| s.batches).sum();
        for b in self.batches.drain(..batches) {
            self.retained_producers.update(&b);
        }
        let start = self.log_start_offset;
        self.retained_producers.forget_aborted_below(start);
        self.producers.forget_aborted_below(start);
        let bytes = self.segments.drain(..n).map(|s| s.size).sum();
        out.push(SegmentDeletion {
            reason,
            segments: n as u64,
            bytes,
            from,
            to,
            rolled,
        });
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
        self.producers
            .on_high_watermark_updated(self.high_watermark);
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
    /// epoch cache truncated to the recovered end; a log cut below its log start offset starts
    /// again empty there (`LogLoader`: "Deleting all segments because logEndOffset is smaller
    /// than logStartOffset"). Returns how many records at or above the log start were lost.
    pub fn lose_unflushed(&mut self) -> u64 {
        let before = self.log_end_offset;
        if self.recovery_point < self.log_start_offset {
            let start = self.log_start_offset;
            self.truncate_fully_and_start_at(start);
        } else if self.recovery_point < before {
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
        self.producers
            .on_high_watermark_updated(self.high_watermark);
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
            transactional: false,
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

    // Segments and retention (KAFKA.md 6.1, 6.2). The log tests of Kafka's `UnifiedLogTest`
    // (formerly `LogTest`) use single-record batches of one size and `segment.bytes` of five
    // of them, so that fifteen appends make three segments of five records; these do the same.

    /// One record with this timestamp: every such batch has the same size. It has a key, as
    /// Kafka's tests give records for compacted logs.
    fn stamped(ts: u64) -> Arc<[Record]> {
        Arc::from(vec![Record {
            key: Some(Bytes::from("test")),
            value: Some(Bytes::from("test")),
            timestamp: Instant(ts),
        }])
    }

    fn set_size() -> u64 {
        crate::record::batch_size_in_bytes(&stamped(10))
    }

    /// `createLog(set.sizeInBytes, retentionMs, retentionBytes, cleanupPolicy)`: segments of
    /// five records.
    fn config(retention_ms: i64, retention_bytes: i64, policy: &str) -> TopicConfig {
        let mut c = TopicConfig::default();
        c.set("segment.bytes", &(5 * set_size()).to_string())
            .unwrap();
        c.set("retention.ms", &retention_ms.to_string()).unwrap();
        c.set("retention.bytes", &retention_bytes.to_string())
            .unwrap();
        c.set("cleanup.policy", policy).unwrap();
        c
    }

    /// Fifteen records stamped `ts`, all below the HW (the tests of current Kafka call
    /// `updateHighWatermark(logEndOffset)` before deleting).
    fn fifteen(config: &TopicConfig, ts: u64) -> PartitionLog {
        let mut log = PartitionLog::with_config(config);
        for _ in 0..15 {
            log.append_as_leader(stamped(ts), None, LeaderEpoch(0))
                .unwrap();
        }
        log.set_high_watermark(log.log_end_offset());
        log
    }

    fn bases(log: &PartitionLog) -> Vec<u64> {
        log.segments().iter().map(|s| s.base_offset.0).collect()
    }

    #[test]
    fn appends_roll_a_segment_when_segment_bytes_would_be_passed() {
        // KAFKA.md 6.1, `LogSegment.shouldRoll`: five records fill a segment of five records'
        // size, and the sixth rolls.
        let log = fifteen(&config(-1, -1, "delete"), 10);
        assert_eq!(bases(&log), vec![0, 5, 10]);
        assert!(log.segments().iter().all(|s| s.size == 5 * set_size()));
        assert_eq!(log.size_in_bytes(), 15 * set_size());
        // The roll flushed everything before the new segment (`UnifiedLog.roll`).
        assert_eq!(log.recovery_point(), Offset(10));
    }

    #[test]
    fn appends_roll_a_segment_when_segment_ms_has_passed_since_its_first_batch() {
        // KAFKA.md 6.1, `LogSegment.timeWaitedForRoll`: the incoming batch's timestamp minus
        // the segment's first batch's, compared with `segment.ms`; no roll without an append.
        let mut c = TopicConfig::default();
        c.set("segment.ms", "1000").unwrap();
        let mut log = PartitionLog::with_config(&c);
        for ts in [0, 600, 1000] {
            log.append_as_leader(stamped(ts), None, LeaderEpoch(0))
                .unwrap();
        }
        assert_eq!(bases(&log), vec![0], "1000 - 0 is not more than 1000");
        log.append_as_leader(stamped(1001), None, LeaderEpoch(0))
            .unwrap();
        assert_eq!(bases(&log), vec![0, 3]);
        // The new segment counts from its own first batch.
        log.append_as_leader(stamped(2001), None, LeaderEpoch(0))
            .unwrap();
        assert_eq!(bases(&log), vec![0, 3]);
        log.append_as_leader(stamped(2002), None, LeaderEpoch(0))
            .unwrap();
        assert_eq!(bases(&log), vec![0, 3, 5]);
    }

    #[test]
    fn size_retention_deletes_the_oldest_segments_but_never_goes_below_retention_bytes() {
        // UnifiedLogTest.shouldDeleteSizeBasedSegments: retention.bytes of ten records, fifteen
        // records in three segments: one segment goes (15 - 5 >= 10), the next would leave 5.
        let mut log = fifteen(&config(-1, 10 * set_size() as i64, "delete"), 10);
        let d = log.delete_old_segments(Instant(20));
        assert_eq!(bases(&log), vec![5, 10]);
        assert_eq!(log.log_start_offset(), Offset(5));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].reason, DeletionReason::RetentionBytes);
        assert_eq!(
            (d[0].segments, d[0].from, d[0].to),
            (1, Offset(0), Offset(5))
        );
        assert!(log.size_in_bytes() >= 10 * set_size());
        assert_eq!(log.record_at(Offset(4)), None, "whole segments go");
        // UnifiedLogTest.shouldNotDeleteSizeBasedSegmentsWhenUnderRetentionSize.
        let mut log = fifteen(&config(-1, 15 * set_size() as i64, "delete"), 10);
        assert!(log.delete_old_segments(Instant(20)).is_empty());
        assert_eq!(log.segments().len(), 3);
        // One byte over: not a whole segment over, so nothing goes.
        let mut log = fifteen(&config(-1, 15 * set_size() as i64 - 1, "delete"), 10);
        assert!(log.delete_old_segments(Instant(20)).is_empty());
    }

    #[test]
    fn time_retention_deletes_segments_whose_newest_record_is_older_than_retention_ms() {
        // UnifiedLogTest.shouldDeleteTimeBasedSegmentsReadyToBeDeleted: every segment is too
        // old, the active one included, so the log rolls a new empty active segment first and
        // keeps only that (KAFKA.md 6.2, "Deleting everything").
        let mut log = fifteen(&config(10_000, -1, "delete"), 10);
        assert!(
            log.delete_old_segments(Instant(10_010)).is_empty(),
            "exactly retention.ms old is not older"
        );
        let d = log.delete_old_segments(Instant(10_011));
        assert_eq!(bases(&log), vec![15]);
        assert_eq!(log.segments()[0].size, 0);
        assert_eq!(log.log_start_offset(), Offset(15));
        assert_eq!(log.log_end_offset(), Offset(15));
        assert!(log.batches().is_empty());
        assert_eq!(d.len(), 1);
        assert!(d[0].rolled);
        assert_eq!((d[0].segments, d[0].to), (3, Offset(15)));
        // An empty last segment is never deletable: nothing more goes, ever.
        assert!(log.delete_old_segments(Instant(1_000_000)).is_empty());
        assert_eq!(log.next_deletion_at(), None);
        // UnifiedLogTest.shouldNotDeleteTimeBasedSegmentsWhenNoneReadyToBeDeleted.
        let mut log = fifteen(&config(10_000, -1, "delete"), 5_000);
        assert!(log.delete_old_segments(Instant(10_000)).is_empty());
        assert_eq!(log.segments().len(), 3);
    }

    #[test]
    fn time_retention_reads_each_segments_largest_timestamp_and_stops_at_the_first_young_one() {
        // KAFKA.md 6.2: `now - segment.largestTimestamp > retention.ms`, scanned from the
        // oldest; the scan stops at the first segment that does not qualify.
        let mut log = PartitionLog::with_config(&config(1_000, -1, "delete"));
        // Segment 0 holds timestamps 0..=4, segment 1 holds 5000 then 1..=4 (its largest is
        // 5000), segment 2 holds 5..=9.
        for ts in [0, 1, 2, 3, 4, 5000, 1, 2, 3, 4, 5, 6, 7, 8, 9] {
            log.append_as_leader(stamped(ts), None, LeaderEpoch(0))
                .unwrap();
        }
        log.set_high_watermark(log.log_end_offset());
        assert_eq!(log.segments()[1].largest_timestamp, Some(Instant(5000)));
        log.delete_old_segments(Instant(2_000));
        assert_eq!(
            bases(&log),
            vec![5, 10],
            "segment 2 is old enough, but segment 1 is not and stops the scan"
        );
    }

    #[test]
    fn retention_never_deletes_a_segment_the_high_watermark_has_not_passed() {
        // KAFKA.md 6.2, `UnifiedLog.deletableSegments`: "We don't delete segments with offsets
        // at or beyond the high watermark to ensure that the log start offset can never exceed
        // it."
        let mut log = fifteen(&config(10_000, -1, "delete"), 10);
        log.set_high_watermark(Offset(9));
        assert_eq!(log.next_deletion_at(), Some(Instant(10_011)));
        log.delete_old_segments(Instant(100_000));
        assert_eq!(
            bases(&log),
            vec![5, 10],
            "segment 1 ends at 10, past the HW 9"
        );
        assert_eq!(log.log_start_offset(), Offset(5));
        log.set_high_watermark(Offset(10));
        log.delete_old_segments(Instant(100_000));
        assert_eq!(bases(&log), vec![10]);
        assert_eq!(
            log.next_deletion_at(),
            None,
            "the active segment waits for the HW"
        );
        log.set_high_watermark(Offset(15));
        log.delete_old_segments(Instant(100_000));
        assert_eq!(bases(&log), vec![15]);
        assert!(log.log_start_offset() <= log.high_watermark());
    }

    #[test]
    fn the_log_start_offset_deletes_segments_wholly_below_it_under_any_policy() {
        // UnifiedLogTest.testLogDeletionAfterDeleteRecords: segments entirely below the log
        // start offset go; the segment holding it stays.
        let mut log = fifteen(&config(-1, -1, "delete"), 10);
        assert!(log.maybe_increment_log_start_offset(Offset(1)));
        log.delete_old_segments(Instant(0));
        assert_eq!(
            (log.segments().len(), log.log_start_offset()),
            (3, Offset(1))
        );
        assert!(log.maybe_increment_log_start_offset(Offset(6)));
        log.delete_old_segments(Instant(0));
        assert_eq!(
            (log.segments().len(), log.log_start_offset()),
            (2, Offset(6))
        );
        assert!(log.maybe_increment_log_start_offset(Offset(15)));
        log.delete_old_segments(Instant(0));
        assert_eq!(
            (log.segments().len(), log.log_start_offset()),
            (1, Offset(15))
        );
        // Never past the HW, never backwards.
        assert!(!log.maybe_increment_log_start_offset(Offset(16)));
        assert!(!log.maybe_increment_log_start_offset(Offset(3)));
        // UnifiedLogTest.shouldDeleteStartOffsetBreachedSegmentsWhenPolicyDoesNotIncludeDelete.
        let mut log = fifteen(&config(10_000, -1, "compact"), 10);
        assert!(log.maybe_increment_log_start_offset(Offset(5)));
        let d = log.delete_old_segments(Instant(1_000_000));
        assert_eq!(
            bases(&log),
            vec![5, 10],
            "compact: only the log start offset rule"
        );
        assert_eq!(d[0].reason, DeletionReason::LogStartOffset);
    }

    #[test]
    fn cleanup_policy_decides_whether_time_and_size_retention_apply() {
        // UnifiedLogTest.shouldNotDeleteSegmentsWhenPolicyDoesNotIncludeDelete and
        // shouldDeleteSegmentsReadyToBeDeletedWhenCleanupPolicyIsCompactAndDelete.
        let mut log = fifteen(&config(10_000, -1, "compact"), 10);
        assert!(log.delete_old_segments(Instant(1_000_000)).is_empty());
        assert_eq!(log.segments().len(), 3);
        assert_eq!(log.next_deletion_at(), None);
        let mut log = fifteen(&config(10_000, -1, "compact,delete"), 10);
        log.delete_old_segments(Instant(1_000_000));
        assert_eq!(log.segments().len(), 1);
    }

    #[test]
    fn deleting_segments_moves_the_epoch_cache_to_the_log_start() {
        // UnifiedLogTest.shouldTruncateLeaderEpochsWhenDeletingSegments and
        // shouldUpdateOffsetForLeaderEpochsWhenDeletingSegments.
        let c = config(-1, 10 * set_size() as i64, "delete");
        let epochs = |log: &PartitionLog| -> Vec<(u32, u64)> {
            log.epoch_cache()
                .entries()
                .iter()
                .map(|e| (e.epoch.0, e.start_offset.0))
                .collect()
        };
        for (starts, after) in [
            ([0, 5, 10], vec![(1, 5), (2, 10)]),
            ([0, 7, 10], vec![(0, 5), (1, 7), (2, 10)]),
        ] {
            let mut log = PartitionLog::with_config(&c);
            for o in 0..15u64 {
                let epoch = starts.iter().rposition(|&s| s <= o).unwrap() as u32;
                log.append_as_leader(stamped(10), None, LeaderEpoch(epoch))
                    .unwrap();
            }
            log.set_high_watermark(log.log_end_offset());
            log.delete_old_segments(Instant(20));
            assert_eq!(log.log_start_offset(), Offset(5));
            assert_eq!(epochs(&log), after);
        }
    }

    #[test]
    fn next_deletion_at_is_the_first_moment_retention_would_delete() {
        // The broker wakes its retention task by this; it must never be later than the first
        // deleting check, or the task would miss it.
        let mut log = fifteen(&config(10_000, -1, "delete"), 10);
        let at = log
            .next_deletion_at()
            .expect("a segment will be old enough");
        assert_eq!(at, Instant(10_011));
        assert!(
            log.clone()
                .delete_old_segments(Instant(at.0 - 1))
                .is_empty()
        );
        assert!(!log.delete_old_segments(at).is_empty());
        // Size and log start offset rules hold at once.
        let log = fifteen(&config(-1, 10 * set_size() as i64, "delete"), 10);
        assert_eq!(log.next_deletion_at(), Some(Instant::ZERO));
        // Kafka's defaults: seven days after the newest record of the first segment.
        let log = fifteen(&TopicConfig::default(), 10);
        assert_eq!(log.next_deletion_at(), Some(Instant(10 + 604_800_000 + 1)));
        assert_eq!(PartitionLog::new().next_deletion_at(), None);
    }

    #[test]
    fn truncation_below_the_first_segment_starts_the_log_again_there() {
        // `UnifiedLog.truncateTo`: a target below the first segment's base offset truncates
        // fully; otherwise segments after the target go and the log start never passes the end.
        let mut log = fifteen(&config(-1, 10 * set_size() as i64, "delete"), 10);
        log.delete_old_segments(Instant(20)); // segments [5, 10]
        log.truncate_to(Offset(7));
        assert_eq!(bases(&log), vec![5]);
        assert_eq!(log.segments()[0].size, 2 * set_size());
        assert_eq!(log.log_end_offset(), Offset(7));
        log.truncate_to(Offset(3));
        assert_eq!(bases(&log), vec![3]);
        assert_eq!(
            (log.log_start_offset(), log.log_end_offset()),
            (Offset(3), Offset(3))
        );
        assert!(log.epoch_cache().entries().is_empty());
    }

    #[test]
    fn a_follower_behind_the_leaders_log_start_starts_again_empty_there() {
        // KAFKA.md 6.2 and `AbstractFetcherThread.fetchOffsetAndTruncate`: a follower whose log
        // ends below the leader's log start offset deletes its log and fetches from there.
        let mut log = fifteen(&config(-1, -1, "delete"), 10);
        log.truncate_fully_and_start_at(Offset(40));
        assert_eq!(bases(&log), vec![40]);
        assert_eq!(
            (
                log.log_start_offset(),
                log.log_end_offset(),
                log.high_watermark()
            ),
            (Offset(40), Offset(40), Offset(40))
        );
        assert!(log.batches().is_empty());
        // It appends what the leader sends from there on.
        let batch = RecordBatch::new(Offset(40), LeaderEpoch(3), None, stamped(10));
        log.append_as_follower(batch).unwrap();
        assert_eq!(log.log_end_offset(), Offset(41));
    }

    #[test]
    fn a_power_loss_below_the_log_start_leaves_an_empty_log_at_the_log_start() {
        // `LogLoader`: "Deleting all segments because logEndOffset is smaller than
        // logStartOffset". A follower took the leader's log start offset past what it flushed.
        let mut log = PartitionLog::new();
        for _ in 0..15 {
            let batch = RecordBatch::new(log.log_end_offset(), LeaderEpoch(0), None, stamped(10));
            log.append_as_follower(batch).unwrap();
        }
        log.set_high_watermark(Offset(15));
        assert!(log.maybe_increment_log_start_offset(Offset(12)));
        assert_eq!(log.recovery_point(), Offset(0));
        assert_eq!(
            log.lose_unflushed(),
            3,
            "what was below the log start was no longer readable anyway"
        );
        assert_eq!(
            (log.log_start_offset(), log.log_end_offset()),
            (Offset(12), Offset(12))
        );
    }

    #[test]
    fn idempotence_survives_retention_and_a_later_truncation() {
        // Kafka keeps producer state in snapshots, not in the deleted segments: a retry of a
        // batch whose segment retention deleted is still a known sequence after a truncation
        // rebuilds the state.
        let mut log = PartitionLog::with_config(&config(-1, 10 * set_size() as i64, "delete"));
        for seq in 0..15 {
            log.append_as_leader(stamped(10), idem(0, seq), LeaderEpoch(0))
                .unwrap();
        }
        log.set_high_watermark(log.log_end_offset());
        log.delete_old_segments(Instant(20));
        assert_eq!(log.log_start_offset(), Offset(5));
        log.truncate_to(Offset(12));
        assert_eq!(
            log.append_as_leader(stamped(10), idem(0, 12), LeaderEpoch(1)),
            appended(12, 12),
            "sequence 12 follows 11"
        );
    }

    #[test]
    fn a_compacted_log_refuses_records_without_a_key() {
        // KAFKA.md 6.3, `LogValidatorTest.testCompactedTopicWithoutKey`-style: a keyless record
        // on a compacted topic is INVALID_RECORD and nothing is appended; keyed ones are taken,
        // and a topic that only deletes takes both.
        let keyed: Arc<[Record]> = Arc::from(vec![Record {
            key: Some(Bytes::from("k")),
            value: Some(Bytes::from("v")),
            timestamp: Instant(0),
        }]);
        for (policy, keyless_ok) in [
            ("compact", false),
            ("compact,delete", false),
            ("delete", true),
        ] {
            let mut log = PartitionLog::with_config(&config(-1, -1, policy));
            let got = log.append_as_leader(records(1), idem(0, 0), LeaderEpoch(0));
            if keyless_ok {
                assert_eq!(got, appended(0, 0), "{policy}");
            } else {
                assert_eq!(got, Err(ErrorCode::InvalidRecord), "{policy}");
                assert_eq!(
                    log.log_end_offset(),
                    Offset(0),
                    "{policy}: nothing appended"
                );
                assert!(
                    log.producers().entry(ProducerId(1)).is_none(),
                    "{policy}: no producer state"
                );
            }
            let next = log.log_end_offset().0;
            assert_eq!(
                log.append_as_leader(keyed.clone(), None, LeaderEpoch(0)),
                appended(next, next),
                "{policy}"
            );
        }
    }
}
