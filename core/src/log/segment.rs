//! Log segments: the files a partition log is cut into, and what retention deletes
//! (`LogSegment.java`, `LocalLog.scala`, KAFKA.md 6.1 and 6.2).
//!
//! A segment here is bookkeeping over the log's batches, not a copy of them: its base offset,
//! how many batches and bytes it holds, and the timestamps the roll and retention rules read.
//! Only the last segment, the active one, takes appends. The rules that use segments (when to
//! roll, which segments retention may delete) live in [`super::PartitionLog`], which owns both
//! the batches and the segments and keeps them in step.

use crate::ids::Offset;
use crate::time::Instant;
use serde::{Deserialize, Serialize};

/// One segment of a partition log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// The offset of the first record it may hold; Kafka names the segment's files after it.
    pub base_offset: Offset,
    /// Its size in bytes: the sum of its batches' sizes (`LogSegment.size`).
    pub size: u64,
    /// How many of the log's batches it holds.
    pub batches: usize,
    /// The largest record timestamp in it (`maxTimestampSoFar`); `None` while it is empty.
    /// Time retention compares it with the broker's clock.
    pub largest_timestamp: Option<Instant>,
    /// The largest timestamp of its first batch (`rollingBasedTimestamp`): `segment.ms` counts
    /// from it. `None` while it is empty.
    pub rolling_timestamp: Option<Instant>,
}

impl Segment {
    /// An empty segment starting at `base_offset`.
    pub fn empty(base_offset: Offset) -> Segment {
        Segment {
            base_offset,
            size: 0,
            batches: 0,
            largest_timestamp: None,
            rolling_timestamp: None,
        }
    }

    /// Counts one more batch of `size` bytes whose largest timestamp is `max_timestamp`
    /// (`LogSegment.append`: the first batch sets the rolling timestamp).
    pub(super) fn add(&mut self, size: u64, max_timestamp: Instant) {
        if self.batches == 0 {
            self.rolling_timestamp = Some(max_timestamp);
        }
        self.batches += 1;
        self.size += size;
        self.largest_timestamp = Some(
            self.largest_timestamp
                .map_or(max_timestamp, |t| t.max(max_timestamp)),
        );
    }

    /// `LogSegment.shouldRoll` for an incoming batch of `size` bytes whose largest timestamp is
    /// `max_timestamp`: the segment is full (`size > segment.bytes - incoming`, in Java's signed
    /// arithmetic, so a batch larger than a segment rolls even an empty one), or it is not empty
    /// and the batch is more than `segment.ms` newer than its first batch. Kafka's other reasons
    /// (a full index, an offset too far from the base) cannot happen with the model's sizes.
    pub fn should_roll(
        &self,
        size: u64,
        max_timestamp: Instant,
        segment_bytes: u64,
        segment_ms: u64,
    ) -> bool {
        let full = (self.size as i128) > segment_bytes as i128 - size as i128;
        let waited = self
            .rolling_timestamp
            .map_or(0, |first| max_timestamp.0 as i128 - first.0 as i128);
        full || (self.size > 0 && waited > segment_ms as i128)
    }
}

/// Why retention deleted segments: the three passes of `UnifiedLog.deleteOldSegments`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DeletionReason {
    /// Every offset of the segment is below the log start offset
    /// (`deleteLogStartOffsetBreachedSegments`): on a follower, the leader's log start moved.
    LogStartOffset,
    /// The partition is larger than `retention.bytes` by at least the segment's size
    /// (`deleteRetentionSizeBreachedSegments`).
    RetentionBytes,
    /// The segment's newest record is older than `retention.ms`
    /// (`deleteRetentionMsBreachedSegments`).
    RetentionMs,
}

impl DeletionReason {
    /// The config or offset behind the deletion, as a Kafka user names it.
    pub fn name(self) -> &'static str {
        match self {
            DeletionReason::LogStartOffset => "log start offset",
            DeletionReason::RetentionBytes => "retention.bytes",
            DeletionReason::RetentionMs => "retention.ms",
        }
    }
}

/// What one retention pass deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentDeletion {
    /// Which rule.
    pub reason: DeletionReason,
    /// How many segments it deleted.
    pub segments: u64,
    /// Their bytes.
    pub bytes: u64,
    /// The first offset of the first deleted segment.
    pub from: Offset,
    /// The base offset of the first segment left: the log start offset moves there (unless it
    /// was already past it).
    pub to: Offset,
    /// Whether every segment qualified, so that the active one was rolled first and the log is
    /// now one empty segment.
    pub rolled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_roll_follows_log_segment_should_roll() {
        // LogSegment.shouldRoll: `size > maxSegmentBytes - messagesSize`.
        let mut s = Segment::empty(Offset(0));
        assert!(
            !s.should_roll(100, Instant(0), 100, u64::MAX),
            "an empty segment takes a batch its size"
        );
        assert!(
            s.should_roll(101, Instant(0), 100, u64::MAX),
            "a batch larger than a segment rolls even an empty one"
        );
        s.add(60, Instant(0));
        assert!(
            !s.should_roll(40, Instant(0), 100, u64::MAX),
            "60 + 40 fits exactly"
        );
        assert!(s.should_roll(41, Instant(0), 100, u64::MAX));
    }

    #[test]
    fn time_roll_counts_from_the_first_batch_and_needs_a_non_empty_segment() {
        // LogSegment.timeWaitedForRoll: the incoming batch's timestamp minus the first batch's.
        let mut s = Segment::empty(Offset(0));
        assert!(
            !s.should_roll(10, Instant(1_000_000), u64::MAX, 1000),
            "empty: never by time"
        );
        s.add(10, Instant(5000));
        s.add(10, Instant(5500));
        assert!(
            !s.should_roll(10, Instant(6000), u64::MAX, 1000),
            "exactly segment.ms is not more"
        );
        assert!(s.should_roll(10, Instant(6001), u64::MAX, 1000));
        assert!(
            !s.should_roll(10, Instant(100), u64::MAX, 1000),
            "an older timestamp waits nothing"
        );
        assert_eq!(s.largest_timestamp, Some(Instant(5500)));
        assert_eq!(s.rolling_timestamp, Some(Instant(5000)));
    }
}
