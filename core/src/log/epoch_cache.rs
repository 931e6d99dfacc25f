//! The leader-epoch cache: `(epoch, start offset)` entries, as in Kafka's
//! `leader-epoch-checkpoint` file (`LeaderEpochFileCache.java`, KAFKA.md 3.5).
//!
//! Followers use it to find where their log diverges from the leader's (KIP-101, KIP-279).
//! Kafka fsyncs the checkpoint on every change, so the model treats it as always durable; after a
//! power loss it is truncated to the recovered log end, as log recovery does.

use crate::ids::{LeaderEpoch, Offset};
use serde::{Deserialize, Serialize};

/// One entry: `epoch` started at `start_offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochEntry {
    /// The leader epoch.
    pub epoch: LeaderEpoch,
    /// The first offset written in that epoch.
    pub start_offset: Offset,
}

/// The entries, in increasing epoch and start offset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderEpochCache {
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    /// The entries, oldest first.
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// The latest epoch, if any.
    pub fn latest_epoch(&self) -> Option<LeaderEpoch> {
        self.entries.last().map(|e| e.epoch)
    }

    /// The start offset of `epoch`, if the cache has it.
    pub fn start_offset_of(&self, epoch: LeaderEpoch) -> Option<Offset> {
        self.entries
            .iter()
            .find(|e| e.epoch == epoch)
            .map(|e| e.start_offset)
    }

    /// `assign`: records that `epoch` starts at `start_offset`, unless the latest entry already
    /// says so. Entries with an epoch at least as large, or a start offset at least as large,
    /// are removed first (`maybeTruncateNonMonotonicEntries`), so the cache stays monotonic.
    pub fn assign(&mut self, epoch: LeaderEpoch, start_offset: Offset) {
        if let Some(last) = self.entries.last()
            && last.epoch == epoch
            && last.start_offset <= start_offset
        {
            return;
        }
        self.entries
            .retain(|e| e.epoch < epoch && e.start_offset < start_offset);
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
    }

    /// `endOffsetFor`: for a requested epoch, the largest known epoch at or below it and the
    /// offset where that epoch ends, which is the start of the next higher epoch, or
    /// `log_end_offset` when the requested epoch is the latest. `None` when the requested epoch
    /// is above every epoch known (Kafka's UNDEFINED answer). When the requested epoch is below
    /// every entry, Kafka answers with the requested epoch and the first entry's start offset.
    pub fn end_offset_for(
        &self,
        requested: LeaderEpoch,
        log_end_offset: Offset,
    ) -> Option<(LeaderEpoch, Offset)> {
        let latest = self.entries.last()?;
        if latest.epoch == requested {
            return Some((requested, log_end_offset));
        }
        let higher = self.entries.iter().find(|e| e.epoch > requested)?;
        match self.entries.iter().rev().find(|e| e.epoch <= requested) {
            Some(floor) => Some((floor.epoch, higher.start_offset)),
            None => Some((requested, higher.start_offset)),
        }
    }

    /// `truncateFromEnd`: removes entries starting at or after `end_offset` (after a log
    /// truncation, nothing of those epochs is left).
    pub fn truncate_from_end(&mut self, end_offset: Offset) {
        self.entries.retain(|e| e.start_offset < end_offset);
    }

    /// `truncateFromStart`: after the log start offset moved to `start_offset`, entries starting
    /// at or before it are removed, and the last of them comes back starting at `start_offset`,
    /// so that the epoch of the first remaining record stays known.
    pub fn truncate_from_start(&mut self, start_offset: Offset) {
        let removed = self
            .entries
            .iter()
            .take_while(|e| e.start_offset <= start_offset)
            .count();
        if removed == 0 {
            return;
        }
        let epoch = self.entries[removed - 1].epoch;
        self.entries.drain(..removed);
        self.entries.insert(
            0,
            EpochEntry {
                epoch,
                start_offset,
            },
        );
    }

    /// `clearAndFlush`: forgets every epoch (a log truncated fully starts again).
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(u32, u64)]) -> LeaderEpochCache {
        let mut c = LeaderEpochCache::default();
        for &(e, o) in entries {
            c.assign(LeaderEpoch(e), Offset(o));
        }
        c
    }

    #[test]
    fn end_offset_for_follows_leader_epoch_file_cache() {
        let c = cache(&[(0, 0), (1, 1), (3, 5)]);
        // The latest epoch ends at the log end.
        assert_eq!(
            c.end_offset_for(LeaderEpoch(3), Offset(9)),
            Some((LeaderEpoch(3), Offset(9)))
        );
        // Epoch 1 ends where epoch 3 starts.
        assert_eq!(
            c.end_offset_for(LeaderEpoch(1), Offset(9)),
            Some((LeaderEpoch(1), Offset(5)))
        );
        // Epoch 2 is unknown: the floor is epoch 1, ending at 5.
        assert_eq!(
            c.end_offset_for(LeaderEpoch(2), Offset(9)),
            Some((LeaderEpoch(1), Offset(5)))
        );
        // An epoch above every known one is undefined.
        assert_eq!(c.end_offset_for(LeaderEpoch(4), Offset(9)), None);
    }

    #[test]
    fn assign_keeps_the_cache_monotonic() {
        let mut c = cache(&[(0, 0), (1, 4), (2, 8)]);
        // A new epoch starting at an offset below existing entries replaces them.
        c.assign(LeaderEpoch(3), Offset(6));
        assert_eq!(
            c.entries(),
            &[
                EpochEntry {
                    epoch: LeaderEpoch(0),
                    start_offset: Offset(0)
                },
                EpochEntry {
                    epoch: LeaderEpoch(1),
                    start_offset: Offset(4)
                },
                EpochEntry {
                    epoch: LeaderEpoch(3),
                    start_offset: Offset(6)
                },
            ]
        );
        // Re-assigning the latest epoch at a later offset changes nothing.
        c.assign(LeaderEpoch(3), Offset(7));
        assert_eq!(c.latest_epoch(), Some(LeaderEpoch(3)));
        assert_eq!(c.start_offset_of(LeaderEpoch(3)), Some(Offset(6)));
    }

    #[test]
    fn truncate_from_start_keeps_the_epoch_of_the_new_first_offset() {
        // LeaderEpochFileCacheTest.shouldUpdateOffsetBetweenEpochBoundariesOnClearEarliest:
        // entries (2, 6), (3, 8), (4, 11); truncating from 9 leaves (3, 9), (4, 11).
        let mut c = cache(&[(2, 6), (3, 8), (4, 11)]);
        c.truncate_from_start(Offset(9));
        assert_eq!(
            c.entries(),
            &[
                EpochEntry {
                    epoch: LeaderEpoch(3),
                    start_offset: Offset(9)
                },
                EpochEntry {
                    epoch: LeaderEpoch(4),
                    start_offset: Offset(11)
                },
            ]
        );
        // At an epoch boundary the entry stays as it was (shouldRetainLatestEpochOnClearAllEarliest).
        c.truncate_from_start(Offset(11));
        assert_eq!(
            c.entries(),
            &[EpochEntry {
                epoch: LeaderEpoch(4),
                start_offset: Offset(11)
            }]
        );
        // Below the first entry nothing changes (shouldNotClearAnythingIfOffsetToEarly).
        c.truncate_from_start(Offset(5));
        assert_eq!(c.entries().len(), 1);
        // An epoch asked for that is now below every entry ends where the cache starts.
        assert_eq!(
            c.end_offset_for(LeaderEpoch(1), Offset(20)),
            Some((LeaderEpoch(1), Offset(11)))
        );
    }

    #[test]
    fn truncate_from_end_drops_epochs_that_start_at_or_after_the_offset() {
        let mut c = cache(&[(0, 0), (1, 1), (2, 3)]);
        c.truncate_from_end(Offset(3));
        assert_eq!(c.latest_epoch(), Some(LeaderEpoch(1)));
        c.truncate_from_end(Offset(1));
        assert_eq!(c.latest_epoch(), Some(LeaderEpoch(0)));
    }
}
