//! The log cleaner's work on one compacted log (KAFKA.md 6.3): which part of the log may be
//! cleaned and whether it is dirty enough (`LogCleanerManager.cleanableOffsets`, `LogToClean`,
//! `grabFilthiestCompactedLog`), and one cleaning pass (`Cleaner.doClean`): keep the latest
//! record of every key, drop tombstones once their delete horizon has passed, and group the
//! cleaned segments so that they do not shrink to nothing.
//!
//! The broker's cleaner thread decides when to clean which log (`broker::Broker`); this module
//! is the part that is about one log. Cleaning here takes no virtual time. The model follows
//! message format v2 only: tombstones go by the delete horizon a first cleaning stamps on their
//! batch (KIP-534), never by a segment's modification time.
//!
//! What the model leaves out: the cleaner's offset map is never full (Kafka's dedupe buffer of
//! 128 MiB holds millions of keys, more than a scenario writes), and a cleaning is never
//! aborted. Transactions do not exist yet, so the last stable offset is the high watermark and
//! no batch is a transaction marker.

use super::PartitionLog;
use super::segment::Segment;
use crate::bytes::Bytes;
use crate::ids::Offset;
use crate::record::{CleanedBatch, Record, RecordBatch};
use crate::time::{Duration, Instant};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A compacted log's dirty section as the cleaner sees it before choosing (`LogToClean`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogToClean {
    /// Where the dirty section starts: the cleaner checkpoint, or the log start offset.
    pub first_dirty_offset: Offset,
    /// Where the cleanable part of it ends: the base offset of the first segment that may not
    /// be cleaned (the active one, the one holding the last stable offset, or the first too
    /// young for `min.compaction.lag.ms`).
    pub first_uncleanable_offset: Offset,
    /// Bytes of the segments before the dirty section.
    pub clean_bytes: u64,
    /// Bytes of the segments of the cleanable dirty section.
    pub cleanable_bytes: u64,
    /// Whether `max.compaction.lag.ms` says the log must be cleaned now.
    pub need_compaction_now: bool,
}

impl LogToClean {
    /// All bytes the cleaner weighs: clean and cleanable.
    pub fn total_bytes(&self) -> u64 {
        self.clean_bytes + self.cleanable_bytes
    }

    /// Whether the log is cleanable (`grabFilthiestCompactedLog`'s filter): some bytes to
    /// clean and `max.compaction.lag.ms` exceeded, or a dirty ratio strictly above
    /// `min.cleanable.dirty.ratio` (in millionths).
    pub fn is_cleanable(&self, min_ratio_millionths: u32) -> bool {
        self.total_bytes() > 0
            && ((self.need_compaction_now && self.cleanable_bytes > 0)
                || self.cleanable_bytes as u128 * 1_000_000
                    > min_ratio_millionths as u128 * self.total_bytes() as u128)
    }

    /// Whether this log is dirtier than `other` (cleanable bytes over total bytes), compared
    /// exactly rather than in floating point.
    pub fn dirtier_than(&self, other: &LogToClean) -> bool {
        self.cleanable_bytes as u128 * other.total_bytes() as u128
            > other.cleanable_bytes as u128 * self.total_bytes() as u128
    }

    /// The dirty ratio in percent, for telling.
    pub fn dirty_percent(&self) -> u64 {
        (self.cleanable_bytes * 100)
            .checked_div(self.total_bytes())
            .unwrap_or(0)
    }
}

/// What one cleaning pass did to one log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cleaning {
    /// The dirty section it cleaned started here.
    pub first_dirty_offset: Offset,
    /// The new cleaner checkpoint: everything below it is clean.
    pub end_offset: Offset,
    /// Records it removed because a later record has the same key.
    pub records_removed: u64,
    /// Tombstones it removed because their delete horizon had passed.
    pub tombstones_removed: u64,
    /// Tombstones it stamped with a delete horizon.
    pub tombstones_stamped: u64,
    /// Segments and bytes of the cleaned part before and after.
    pub segments_before: u64,
    /// Segments after grouping.
    pub segments_after: u64,
    /// Bytes before.
    pub bytes_before: u64,
    /// Bytes after.
    pub bytes_after: u64,
}

/// The index of the segment holding `offset`: the last one starting at or before it.
fn segment_holding(segments: &[Segment], offset: Offset) -> usize {
    segments
        .partition_point(|s| s.base_offset <= offset)
        .saturating_sub(1)
}

impl PartitionLog {
    /// Where the cleaner's last pass on this log ended (its line in Kafka's
    /// `cleaner-offset-checkpoint` file), if it has cleaned the log.
    pub fn cleaner_checkpoint(&self) -> Option<Offset> {
        self.cleaner_checkpoint
    }

    /// The log's dirty section at `now` (`cleanableOffsets` and `LogToClean`), or `None` when
    /// the topic is not compacted or the log holds no bytes.
    pub fn to_clean(&self, now: Instant) -> Option<LogToClean> {
        if !self.config.cleanup_policy.compact {
            return None;
        }
        let start = self.log_start_offset;
        // An invalid checkpoint (below the log start after retention, beyond the log end after
        // a truncation) means the whole log is dirty.
        let first_dirty = self
            .cleaner_checkpoint
            .filter(|&c| c >= start && c <= self.log_end_offset)
            .unwrap_or(start);
        let active = self.segments.len() - 1;
        let dirty_from = segment_holding(&self.segments, first_dirty);
        let mut uncleanable = self
            .last_stable_offset()
            .min(self.segments[active].base_offset);
        let min_lag = self.config.min_compaction_lag_ms;
        if min_lag.0 > 0 {
            // The first dirty segment whose newest record is younger than the minimum lag.
            if let Some(s) = self.segments[dirty_from..active].iter().find(|s| {
                s.largest_timestamp
                    .is_some_and(|t| t.0 as i128 > now.0 as i128 - min_lag.0 as i128)
            }) {
                uncleanable = uncleanable.min(s.base_offset);
            }
        }
        let uncleanable = uncleanable.max(first_dirty);
        // `calculateCleanableBytes`: the cleanable section ends at the base of the segment
        // holding the uncleanable offset (or of the active segment).
        let first_uncleanable_segment = segment_holding(&self.segments, uncleanable).min(active);
        let first_uncleanable = self.segments[first_uncleanable_segment].base_offset;
        let clean_bytes = self
            .segments
            .iter()
            .take_while(|s| s.base_offset < first_dirty)
            .map(|s| s.size)
            .sum();
        let from = segment_holding(&self.segments, first_dirty.min(first_uncleanable));
        let cleanable_bytes = self.segments[from..]
            .iter()
            .take_while(|s| s.base_offset < first_uncleanable)
            .map(|s| s.size)
            .sum();
        // `maxCompactionDelay`: the first batch timestamps of the dirty, non-active segments
        // (a timestamp of 0 counts as none, as Kafka filters `timestamp > 0`).
        let need_compaction_now = self.config.max_compaction_lag_ms.is_some_and(|lag| {
            self.segments[dirty_from..active]
                .iter()
                .filter_map(|s| s.rolling_timestamp.filter(|t| t.0 > 0))
                .min()
                .is_some_and(|earliest| (earliest.0 as i128) < now.0 as i128 - lag.0 as i128)
        });
        let ltc = LogToClean {
            first_dirty_offset: first_dirty,
            first_uncleanable_offset: first_uncleanable,
            clean_bytes,
            cleanable_bytes,
            need_compaction_now,
        };
        (ltc.total_bytes() > 0).then_some(ltc)
    }

    /// Whether the cleaner would clean this log at `now`.
    pub fn is_cleanable(&self, now: Instant) -> bool {
        self.to_clean(now)
            .is_some_and(|l| l.is_cleanable(self.config.min_cleanable_dirty_ratio))
    }

    /// The earliest time at or after `after` at which the cleaner would clean this log if it
    /// stayed as it is, or `None` if it never would. Only the compaction lags make the answer
    /// depend on time, and both only make a log more cleanable as time passes, so the answer
    /// is the first of `after` and the moments a lag runs out at which the log is cleanable.
    pub fn next_cleanable_at(&self, after: Instant) -> Option<Instant> {
        // A log of one segment has nothing below its active segment to clean. Brokers ask
        // after every input, and `__consumer_offsets` (compacted, 100 MiB segments) is such a
        // log in every run, so this answer must be cheap.
        if !self.config.cleanup_policy.compact || self.segments.len() < 2 {
            return None;
        }
        let mut moments = vec![after];
        let min_lag = self.config.min_compaction_lag_ms;
        if min_lag.0 > 0 {
            moments.extend(
                self.segments
                    .iter()
                    .filter_map(|s| s.largest_timestamp)
                    .map(|t| t + min_lag),
            );
        }
        if let Some(lag) = self.config.max_compaction_lag_ms {
            moments.extend(
                self.segments
                    .iter()
                    .filter_map(|s| s.rolling_timestamp.filter(|t| t.0 > 0))
                    .map(|t| t + lag + Duration(1)),
            );
        }
        moments
            .into_iter()
            .filter(|&t| t >= after)
            .filter(|&t| self.is_cleanable(t))
            .min()
    }

    /// One cleaning pass at `now` over the section `ltc` describes (`Cleaner.doClean`).
    ///
    /// * The offset map holds, for every key in the cleanable dirty segments, its latest offset
    ///   there (`buildOffsetMap`); the pass ends after the last batch of those segments.
    /// * Every segment from the first up to that end is recopied, grouped so that a group's
    ///   original size stays within `segment.bytes` (`groupSegmentsBySize`); a group becomes one
    ///   segment at its first base offset.
    /// * A record stays if no later record in the dirty section has its key, and, for a
    ///   tombstone, if its batch's delete horizon has not passed (`shouldRetainRecord`). A
    ///   keyless record goes.
    /// * A batch whose records all go is dropped, unless it is the last data batch of a
    ///   producer the log knows (its sequences keep idempotence working) or the last batch
    ///   before the uncleanable section: those stay, empty (`checkBatchRetention`).
    /// * A batch keeping a tombstone and without a delete horizon gets one: now plus
    ///   `delete.retention.ms` (`MemoryRecords.filterTo`, KIP-534).
    pub fn clean(&mut self, now: Instant, ltc: &LogToClean) -> Cleaning {
        let first_dirty = ltc.first_dirty_offset;
        let upper = ltc.first_uncleanable_offset;
        // The offset map: the latest offset of each key in the dirty segments.
        let mut latest: BTreeMap<Bytes, Offset> = BTreeMap::new();
        let dirty_start = self
            .batches
            .partition_point(|b| b.last_offset() < first_dirty);
        let dirty_end = self.batches.partition_point(|b| b.base_offset < upper);
        // Transactions below the cleanable end have all ended (it is at most the LSO); the
        // records of aborted ones neither enter the map nor survive the pass
        // (`CleanedTransactionMetadata.onBatchRead`).
        let aborted_txns = self.producers.aborted_between(Offset(0), upper);
        let is_aborted = |b: &RecordBatch| {
            b.control.is_none()
                && b.producer.is_some_and(|p| {
                    p.transactional
                        && aborted_txns.iter().any(|a| {
                            a.producer_id == p.producer_id
                                && a.first_offset <= b.base_offset
                                && b.base_offset < a.last_offset
                        })
                })
        };
        for b in &self.batches[dirty_start..dirty_end] {
            if is_aborted(b) {
                continue;
            }
            for (o, r) in b.records_with_offsets() {
                if let (true, Some(k)) = (o >= first_dirty, r.key.as_ref()) {
                    latest.insert(k.clone(), o);
                }
            }
        }
        // `buildOffsetMapForSegment` ends each dirty segment by moving the map's latest offset
        // to the offset before the next segment ("in the case of offsets gap, fast forward"),
        // so a pass always ends at the cleanable section's end, past any gap before it.
        let end = upper;
        let map_end = upper.0.checked_sub(1).map(Offset);
        let n_segments = self.segments.partition_point(|s| s.base_offset < end);
        let delete_retention = self.config.delete_retention_ms;
        let mut out = Cleaning {
            first_dirty_offset: first_dirty,
            end_offset: end,
            records_removed: 0,
            tombstones_removed: 0,
            tombstones_stamped: 0,
            segments_before: n_segments as u64,
            segments_after: 0,
            bytes_before: self.segments[..n_segments].iter().map(|s| s.size).sum(),
            bytes_after: 0,
        };
        // Group the segments by their sizes before cleaning.
        let mut groups: Vec<(usize, usize)> = Vec::new();
        let mut i = 0;
        while i < n_segments {
            let mut size = self.segments[i].size;
            let mut j = i + 1;
            while j < n_segments && size + self.segments[j].size <= self.config.segment_bytes {
                size += self.segments[j].size;
                j += 1;
            }
            groups.push((i, j));
            i = j;
        }
        let n_batches: usize = self.segments[..n_segments].iter().map(|s| s.batches).sum();
        let mut old = self
            .batches
            .drain(..n_batches)
            .collect::<Vec<_>>()
            .into_iter();
        let mut cleaned_batches = Vec::new();
        let mut new_segments = Vec::new();
        for (from, to) in groups {
            let mut segment = Segment::empty(self.segments[from].base_offset);
            let count: usize = self.segments[from..to].iter().map(|s| s.batches).sum();
            for batch in old.by_ref().take(count) {
                let last_of_producer = batch.producer.is_some_and(|p| {
                    self.producers
                        .entry(p.producer_id)
                        .and_then(|e| e.batches.back())
                        .is_some_and(|m| m.last_offset == batch.last_offset())
                });
                let retain_empty = last_of_producer || batch.next_offset() == upper;
                let aborted = is_aborted(&batch);
                let Some(batch) = clean_batch(
                    batch,
                    now,
                    &latest,
                    map_end,
                    delete_retention,
                    (retain_empty, aborted),
                    &mut out,
                ) else {
                    continue;
                };
                segment.add(batch.size_in_bytes(), batch.max_timestamp());
                cleaned_batches.push(batch);
            }
            if segment.batches == 0 {
                // `LogSegment.largestTimestamp` falls back to the file's modification time when
                // a segment holds no batch; the cleaned file takes the last original's, whose
                // last write is its newest record here (CreateTime is the append time).
                segment.largest_timestamp = self.segments[from..to]
                    .iter()
                    .filter_map(|s| s.largest_timestamp)
                    .max();
            }
            out.bytes_after += segment.size;
            new_segments.push(segment);
        }
        out.segments_after = new_segments.len() as u64;
        self.batches.splice(..0, cleaned_batches);
        self.segments.splice(..n_segments, new_segments);
        self.cleaner_checkpoint = Some(end);
        out
    }
}

/// One batch through the cleaner's filter: `None` when it is dropped. `retain_empty` keeps
/// the batch even when no record is left; every record of an `aborted` transaction's batch
/// goes (`discardBatchRecords`). A control batch passes unchanged: the model keeps
/// transaction markers until retention deletes their segment (docs/deviations.md).
fn clean_batch(
    batch: RecordBatch,
    now: Instant,
    latest: &BTreeMap<Bytes, Offset>,
    map_end: Option<Offset>,
    delete_retention: Duration,
    (retain_empty, aborted): (bool, bool),
    out: &mut Cleaning,
) -> Option<RecordBatch> {
    let horizon = batch.delete_horizon();
    let retain_deletes = horizon.is_none_or(|h| now < h);
    let mut kept: Vec<(u32, Record)> = Vec::new();
    let mut removed = false;
    for (o, r) in batch.records_with_offsets() {
        let keep = if aborted {
            out.records_removed += 1;
            false
        } else if map_end.is_none_or(|m| o > m) {
            true
        } else if let Some(k) = &r.key {
            let latest_for_key = latest.get(k).is_none_or(|&f| o >= f);
            if latest_for_key && r.value.is_none() && !retain_deletes {
                out.tombstones_removed += 1;
            } else if !latest_for_key {
                out.records_removed += 1;
            }
            latest_for_key && (r.value.is_some() || retain_deletes)
        } else {
            out.records_removed += 1;
            false
        };
        if keep {
            kept.push(((o.0 - batch.base_offset.0) as u32, r.clone()));
        } else {
            removed = true;
        }
    }
    let keeps_tombstone = kept.iter().any(|(_, r)| r.value.is_none());
    let stamp = keeps_tombstone && horizon.is_none();
    if !removed && !stamp {
        return Some(batch);
    }
    if kept.is_empty() && !retain_empty {
        return None;
    }
    if stamp {
        out.tombstones_stamped += kept.iter().filter(|(_, r)| r.value.is_none()).count() as u64;
    }
    // `MemoryRecords.filterTo` rebuilds the batch from the records kept, so its max timestamp
    // is theirs; an emptied batch keeps its header's.
    let max_timestamp = kept
        .iter()
        .map(|(_, r)| r.timestamp)
        .max()
        .unwrap_or_else(|| batch.max_timestamp());
    let cleaned = CleanedBatch {
        offset_deltas: kept.iter().map(|(d, _)| *d).collect(),
        last_offset_delta: (batch.offset_count() - 1) as u32,
        max_timestamp,
        delete_horizon: if stamp {
            Some(now + delete_retention)
        } else {
            horizon
        },
    };
    Some(RecordBatch {
        records: kept.into_iter().map(|(_, r)| r).collect::<Vec<_>>().into(),
        cleaned: Some(Arc::new(cleaned)),
        ..batch
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CleanupPolicy, TopicConfig};
    use crate::ids::{LeaderEpoch, ProducerEpoch, ProducerId, Sequence};
    use crate::record::ProducerFields;

    /// A compacted topic whose segments hold `per_segment` one-record batches of a one-letter
    /// key and a one-letter value.
    fn compacted(per_segment: u64) -> TopicConfig {
        let size = RecordBatch::new(Offset(0), LeaderEpoch(0), None, one("a", Some("1"), 1))
            .size_in_bytes();
        TopicConfig {
            cleanup_policy: CleanupPolicy::COMPACT,
            segment_bytes: size * per_segment,
            ..TopicConfig::default()
        }
    }

    fn one(key: &str, value: Option<&str>, t: u64) -> Arc<[Record]> {
        vec![Record {
            key: Some(Bytes::from(key.to_string())),
            value: value.map(|v| Bytes::from(v.to_string())),
            timestamp: Instant(t),
        }]
        .into()
    }

    /// Appends one record per `(key, value)` as leader at time `t` and commits it all.
    fn write(log: &mut PartitionLog, records: &[(&str, Option<&str>)], t: u64) {
        for (k, v) in records {
            log.append_as_leader(one(k, *v, t), None, LeaderEpoch(0))
                .unwrap();
        }
        log.set_high_watermark(log.log_end_offset());
    }

    /// `(offset, key, value)` of every record left.
    fn contents(log: &PartitionLog) -> Vec<(u64, String, Option<String>)> {
        let text = |b: &Bytes| String::from_utf8_lossy(b.as_slice()).into_owned();
        log.batches()
            .iter()
            .flat_map(|b| b.records_with_offsets())
            .map(|(o, r)| {
                (
                    o.0,
                    text(r.key.as_ref().unwrap()),
                    r.value.as_ref().map(text),
                )
            })
            .collect()
    }

    fn clean_now(log: &mut PartitionLog, now: u64) -> Option<Cleaning> {
        let ltc = log.to_clean(Instant(now))?;
        ltc.is_cleanable(log.config().min_cleanable_dirty_ratio)
            .then(|| log.clean(Instant(now), &ltc))
    }

    #[test]
    fn cleaning_keeps_the_latest_record_of_each_key_and_never_renumbers() {
        // KAFKA.md 6.3 guarantees 1-3 (LogCleanerTest.testCleanSegments): keys 0..3 written
        // three times over, 3 records per segment; the active segment is not cleaned.
        let mut log = PartitionLog::with_config(&compacted(3));
        let keys = ["a", "b", "c"];
        for round in 0..3 {
            let v: Vec<String> = keys.iter().map(|_| format!("{round}")).collect();
            let recs: Vec<(&str, Option<&str>)> = keys
                .iter()
                .zip(&v)
                .map(|(k, v)| (*k, Some(v.as_str())))
                .collect();
            write(&mut log, &recs, 1);
        }
        write(&mut log, &[("a", Some("3"))], 1); // opens the active segment at 9
        assert_eq!(log.segments().len(), 4);
        let c = clean_now(&mut log, 10).expect("all of it is dirty");
        assert_eq!(c.end_offset, Offset(9));
        assert_eq!(c.records_removed, 6);
        assert_eq!(
            contents(&log),
            vec![
                (6, "a".into(), Some("2".into())),
                (7, "b".into(), Some("2".into())),
                (8, "c".into(), Some("2".into())),
                (9, "a".into(), Some("3".into())),
            ],
            "offsets kept; the active segment's a=3 does not clean a=2 away yet"
        );
        assert_eq!(log.log_end_offset(), Offset(10));
        assert!(log.cleaned_away(Offset(0)) && !log.cleaned_away(Offset(6)));
        // The three cleaned segments (each of its original size at most `segment.bytes`)
        // group into one only if their sizes fit together: here each is full, so they stay
        // three, the first two empty.
        assert_eq!(
            log.segments()
                .iter()
                .map(|s| s.base_offset.0)
                .collect::<Vec<_>>(),
            vec![0, 3, 6, 9]
        );
        assert_eq!(log.segments()[0].batches, 0);
        // A read from a removed offset returns the next record.
        let read = log.read(Offset(2), log.high_watermark(), u64::MAX);
        assert_eq!(read[0].base_offset, Offset(6));
        // Nothing dirty is left below the active segment.
        assert_eq!(clean_now(&mut log, 11), None);
        assert_eq!(log.cleaner_checkpoint(), Some(Offset(9)));
    }

    #[test]
    fn segments_group_by_their_size_before_cleaning() {
        // `groupSegmentsBySize`: consecutive segments join while their sizes before cleaning
        // add up to at most `segment.bytes`. Six one-record segments of which three fit.
        let one_size = compacted(1).segment_bytes;
        let config = TopicConfig {
            segment_bytes: one_size,
            ..compacted(1)
        };
        let mut log = PartitionLog::with_config(&config);
        write(
            &mut log,
            &[
                ("a", Some("1")),
                ("b", Some("2")),
                ("a", Some("3")),
                ("c", Some("4")),
            ],
            1,
        );
        let mut bigger = log.config().clone();
        bigger.segment_bytes = 3 * one_size;
        log.set_config(&bigger);
        // Segments [0], [1], [2], [3 (active)]: three full ones, grouped into one.
        assert_eq!(log.segments().len(), 4);
        let c = clean_now(&mut log, 5).unwrap();
        assert_eq!((c.segments_before, c.segments_after), (3, 1));
        assert_eq!(
            log.segments()
                .iter()
                .map(|s| s.base_offset.0)
                .collect::<Vec<_>>(),
            vec![0, 3]
        );
        assert_eq!(log.segments()[0].batches, 2, "b and the second a");
    }

    #[test]
    fn tombstones_get_a_delete_horizon_and_go_after_it() {
        // KAFKA.md 6.3, KIP-534: the first cleaning that keeps a tombstone stamps its batch
        // with now + delete.retention.ms; a cleaning after that removes it.
        let mut config = compacted(2);
        config.delete_retention_ms = Duration(1000);
        config.min_cleanable_dirty_ratio = 10_000; // any new segment makes the log dirty enough
        let mut log = PartitionLog::with_config(&config);
        write(
            &mut log,
            &[
                ("a", Some("1")),
                ("b", Some("2")),
                ("a", None),
                ("c", Some("3")),
            ],
            1,
        );
        write(&mut log, &[("d", Some("4"))], 1); // active segment at 4
        let c = clean_now(&mut log, 100).unwrap();
        assert_eq!((c.records_removed, c.tombstones_stamped), (1, 1));
        let tomb = log.batch_at(Offset(2)).unwrap();
        assert_eq!(tomb.delete_horizon(), Some(Instant(1100)));
        assert_eq!(log.record_at(Offset(2)).unwrap().0.value, None);
        // More writes make the log dirty again; a cleaning before the horizon keeps it.
        write(
            &mut log,
            &[("d", Some("5")), ("d", Some("6")), ("d", Some("7"))],
            2,
        );
        let c = clean_now(&mut log, 1099).unwrap();
        assert_eq!(c.tombstones_removed, 0);
        assert!(log.record_at(Offset(2)).is_some());
        write(
            &mut log,
            &[("e", Some("8")), ("e", Some("9")), ("e", Some("10"))],
            3,
        );
        let c = clean_now(&mut log, 1100).unwrap();
        assert_eq!(c.tombstones_removed, 1);
        assert!(log.cleaned_away(Offset(2)));
    }

    #[test]
    fn the_cleanable_range_stops_at_the_active_segment_and_the_high_watermark() {
        // `cleanableOffsets`: never the active segment, never past the last stable offset
        // (here the HW), and the range ends at the base of the segment holding that bound.
        let mut log = PartitionLog::with_config(&compacted(2));
        for v in 0..6 {
            log.append_as_leader(one("a", Some(&v.to_string()), 1), None, LeaderEpoch(0))
                .unwrap();
        }
        log.set_high_watermark(Offset(3)); // inside segment [2, 3]
        let ltc = log.to_clean(Instant(10)).unwrap();
        assert_eq!(ltc.first_uncleanable_offset, Offset(2));
        log.clean(Instant(10), &ltc);
        assert_eq!(
            contents(&log)[0].0,
            1,
            "offset 0 goes, 1 is the last of its section"
        );
        assert!(
            log.record_at(Offset(2)).is_some(),
            "above the bound nothing moves"
        );
        // With the HW at the end, only the active segment [4, 5] stays dirty.
        log.set_high_watermark(log.log_end_offset());
        let ltc = log.to_clean(Instant(10)).unwrap();
        assert_eq!(ltc.first_uncleanable_offset, Offset(4));
    }

    #[test]
    fn the_dirty_ratio_must_be_strictly_above_the_minimum() {
        // `grabFilthiestCompactedLog`: cleanableRatio > min.cleanable.dirty.ratio.
        let mut log = PartitionLog::with_config(&compacted(1));
        write(&mut log, &[("a", Some("1")), ("b", Some("2"))], 1);
        write(&mut log, &[("c", Some("3"))], 1); // active
        clean_now(&mut log, 5).unwrap(); // [0], [1] clean now
        write(&mut log, &[("d", Some("4")), ("e", Some("5"))], 1);
        // Clean: 2 segments; dirty and cleanable: 2 segments of the same size. 50% is not
        // more than 50%.
        let ltc = log.to_clean(Instant(5)).unwrap();
        assert_eq!(ltc.clean_bytes, ltc.cleanable_bytes);
        assert!(!ltc.is_cleanable(500_000));
        assert!(ltc.is_cleanable(499_999));
        assert_eq!(log.next_cleanable_at(Instant(5)), None);
    }

    #[test]
    fn the_compaction_lags_bound_the_cleaner_in_time() {
        // `min.compaction.lag.ms`: a segment whose newest record is younger is not cleaned.
        // `max.compaction.lag.ms`: a log whose dirty section started longer ago is cleaned
        // whatever its ratio.
        let mut config = compacted(1);
        config.min_compaction_lag_ms = Duration(1000);
        let mut log = PartitionLog::with_config(&config);
        write(&mut log, &[("a", Some("1"))], 100);
        write(&mut log, &[("a", Some("2"))], 500);
        write(&mut log, &[("b", Some("3"))], 600); // active
        assert!(!log.is_cleanable(Instant(1099)));
        assert_eq!(
            log.to_clean(Instant(1100))
                .unwrap()
                .first_uncleanable_offset,
            Offset(1),
            "only the first segment is old enough"
        );
        assert_eq!(log.next_cleanable_at(Instant(0)), Some(Instant(1100)));

        let mut config = compacted(1);
        config.min_cleanable_dirty_ratio = 1_000_000;
        config.max_compaction_lag_ms = Some(Duration(1000));
        let mut log = PartitionLog::with_config(&config);
        write(&mut log, &[("a", Some("1")), ("a", Some("2"))], 100);
        assert!(
            !log.is_cleanable(Instant(1100)),
            "100 is not before 1100 - 1000"
        );
        assert!(log.is_cleanable(Instant(1101)));
        assert_eq!(log.next_cleanable_at(Instant(0)), Some(Instant(1101)));
    }

    #[test]
    fn the_last_batch_of_a_producer_stays_even_when_emptied() {
        // `Cleaner.cleanInto`, `isBatchLastRecordOfProducer`: its sequences keep the
        // producer's idempotence state alive, so it is kept without records.
        let mut log = PartitionLog::with_config(&compacted(1));
        let idem = |seq| {
            Some(ProducerFields {
                producer_id: ProducerId(7),
                producer_epoch: ProducerEpoch(0),
                base_sequence: Sequence(seq),
                transactional: false,
            })
        };
        log.append_as_leader(one("a", Some("1"), 1), idem(0), LeaderEpoch(0))
            .unwrap();
        log.append_as_leader(one("a", Some("2"), 1), idem(1), LeaderEpoch(0))
            .unwrap();
        write(&mut log, &[("a", Some("3")), ("b", Some("4"))], 1);
        clean_now(&mut log, 5).unwrap();
        let kept = log.batch_at(Offset(1)).expect("the producer's last batch");
        assert!(kept.records.is_empty());
        assert_eq!(kept.last_sequence(), Some(Sequence(1)));
        assert!(log.batch_at(Offset(0)).is_none(), "the older batch is gone");
        // The producer can go on where it was.
        assert!(
            log.append_as_leader(one("c", Some("5"), 1), idem(2), LeaderEpoch(0))
                .is_ok()
        );
    }

    #[test]
    fn a_follower_rolls_at_the_batch_and_a_pass_ends_past_the_gap() {
        // `UnifiedLog.maybeRoll` rolls at the incoming batch's first offset, and
        // `buildOffsetMapForSegment` fast-forwards over a gap before the next segment
        // (LogCleanerTest.testCleaningBeyondMissingOffsets): the checkpoint passes the gap.
        let mut log = PartitionLog::with_config(&compacted(1));
        let batch = |o: u64, k: &str| {
            RecordBatch::new(Offset(o), LeaderEpoch(0), None, one(k, Some("1"), 1))
        };
        log.append_as_follower(batch(0, "a")).unwrap();
        log.append_as_follower(batch(5, "a")).unwrap(); // the leader's cleaner removed 1..4
        log.append_as_follower(batch(9, "b")).unwrap();
        assert_eq!(
            log.segments()
                .iter()
                .map(|s| s.base_offset.0)
                .collect::<Vec<_>>(),
            vec![0, 5, 9]
        );
        log.set_high_watermark(log.log_end_offset());
        let c = clean_now(&mut log, 5).unwrap();
        assert_eq!(
            c.end_offset,
            Offset(9),
            "the pass ends at the active segment's base"
        );
        assert_eq!(c.records_removed, 1);
        assert_eq!(log.cleaner_checkpoint(), Some(Offset(9)));
    }

    #[test]
    fn a_cleaned_batch_takes_its_kept_records_max_timestamp() {
        // `MemoryRecords.filterTo` rebuilds a batch from the records it keeps; the segment's
        // largest timestamp, which time retention reads, follows.
        let mut log = PartitionLog::with_config(&TopicConfig {
            segment_bytes: 10_000,
            ..compacted(1)
        });
        let two: Arc<[Record]> = vec![
            one("a", Some("1"), 100)[0].clone(),
            one("b", Some("2"), 900)[0].clone(),
        ]
        .into();
        log.append_as_leader(two, None, LeaderEpoch(0)).unwrap();
        log.append_as_leader(one("b", Some("3"), 950), None, LeaderEpoch(0))
            .unwrap();
        log.roll();
        write(&mut log, &[("c", Some("4"))], 1000);
        clean_now(&mut log, 2000).unwrap();
        assert_eq!(
            log.batch_at(Offset(0)).unwrap().max_timestamp(),
            Instant(100)
        );
        assert_eq!(log.segments()[0].largest_timestamp, Some(Instant(950)));
        // A truncation below the active segment pulls the checkpoint back to the new active
        // segment's base (`LogManager.truncateTo`).
        assert_eq!(log.cleaner_checkpoint(), Some(Offset(3)));
        log.truncate_to(Offset(1));
        assert_eq!(log.cleaner_checkpoint(), Some(Offset(0)));
    }

    #[test]
    fn a_follower_copies_a_cleaned_log_with_its_gaps() {
        // `UnifiedLog.appendAsFollower` refuses only a batch below the log end: the leader's
        // cleaner may have removed whole batches, and an emptied batch is copied as it is.
        let mut leader = PartitionLog::with_config(&compacted(1));
        write(
            &mut leader,
            &[
                ("a", Some("1")),
                ("a", Some("2")),
                ("b", Some("3")),
                ("c", Some("4")),
            ],
            1,
        );
        clean_now(&mut leader, 5).unwrap();
        let mut follower = PartitionLog::with_config(&compacted(1));
        for b in leader.read(Offset(0), leader.log_end_offset(), u64::MAX) {
            follower.append_as_follower(b).unwrap();
        }
        assert_eq!(follower.log_end_offset(), leader.log_end_offset());
        assert_eq!(contents(&follower), contents(&leader));
        let stale = RecordBatch::new(Offset(1), LeaderEpoch(0), None, one("x", Some("y"), 1));
        assert_eq!(
            follower.append_as_follower(stale),
            Err(crate::error::ErrorCode::InvalidRequest)
        );
    }
}
