//! Transactions in a partition's log (KAFKA.md 4.2): the markers the transaction coordinator
//! writes, the last stable offset that `read_committed` consumers read below, and the aborted
//! transactions a fetch returns so that they can drop those records. The state behind them
//! (open transactions, ended ones not yet replicated, the aborted index) is the producer state
//! manager's (`producer_state.rs`), rebuilt with it after a truncation.

use super::PartitionLog;
use super::producer_state::AbortedTxn;
use crate::error::ErrorCode;
use crate::ids::{LeaderEpoch, Offset, ProducerEpoch, ProducerId};
use crate::record::{ControlMarker, RecordBatch};

impl PartitionLog {
    /// Appends a transaction marker as leader in `epoch` (the WriteTxnMarkers path,
    /// `ReplicaManager.appendRecords` with origin COORDINATOR): validated against the
    /// producer's epoch and the last coordinator epoch (see
    /// [`super::producer_state::ProducerStateManager::validate_marker`]), then written at the LEO, where it takes one
    /// offset. Returns that offset.
    pub fn append_marker_as_leader(
        &mut self,
        producer_id: ProducerId,
        producer_epoch: ProducerEpoch,
        marker: ControlMarker,
        epoch: LeaderEpoch,
        transaction_v2: bool,
    ) -> Result<Offset, ErrorCode> {
        self.producers.validate_marker(
            producer_id,
            producer_epoch,
            marker.coordinator_epoch,
            transaction_v2,
        )?;
        let batch = RecordBatch::control(
            self.log_end_offset,
            epoch,
            producer_id,
            producer_epoch,
            marker,
        );
        let offset = batch.base_offset;
        self.epoch_cache.assign(epoch, offset);
        self.push(batch);
        Ok(offset)
    }

    /// The last stable offset (`UnifiedLog.lastStableOffset`): the first offset of an open
    /// transaction, or of an ended one whose marker is not yet below the high watermark, capped
    /// at the high watermark. A `read_committed` consumer reads below it (KAFKA.md 4.2).
    pub fn last_stable_offset(&self) -> Offset {
        self.producers
            .first_unstable_offset()
            .map_or(self.high_watermark, |o| o.min(self.high_watermark))
    }

    /// The aborted transactions a `read_committed` read from `from` up to `upper` must skip
    /// (`UnifiedLog.collectAbortedTransactions`).
    pub fn aborted_transactions(&self, from: Offset, upper: Offset) -> Vec<AbortedTxn> {
        self.producers.aborted_between(from, upper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::Bytes;
    use crate::ids::Sequence;
    use crate::log::LeaderAppend;
    use crate::record::{MarkerKind, ProducerFields, Record};
    use crate::time::Instant;
    use std::sync::Arc;

    const E: LeaderEpoch = LeaderEpoch(0);

    fn records(values: &[&str]) -> Arc<[Record]> {
        values
            .iter()
            .map(|v| Record {
                key: Some(Bytes::from(format!("k-{v}"))),
                value: Some(Bytes::from(*v)),
                timestamp: Instant(0),
            })
            .collect()
    }

    fn txn(id: u64, epoch: u16, seq: u32) -> Option<ProducerFields> {
        Some(ProducerFields {
            producer_id: ProducerId(id),
            producer_epoch: ProducerEpoch(epoch),
            base_sequence: Sequence(seq),
            transactional: true,
        })
    }

    fn marker(kind: MarkerKind, coordinator_epoch: u32) -> ControlMarker {
        ControlMarker {
            kind,
            coordinator_epoch,
            timestamp: Instant(0),
        }
    }

    /// Appends transactional records and returns their first offset.
    fn send(log: &mut PartitionLog, id: u64, epoch: u16, seq: u32, values: &[&str]) -> Offset {
        match log.append_as_leader(records(values), txn(id, epoch, seq), E) {
            Ok(LeaderAppend::Appended { first, .. }) => first,
            other => panic!("expected an append, got {other:?}"),
        }
    }

    fn end(log: &mut PartitionLog, id: u64, epoch: u16, kind: MarkerKind) -> Offset {
        log.append_marker_as_leader(
            ProducerId(id),
            ProducerEpoch(epoch),
            marker(kind, 0),
            E,
            false,
        )
        .expect("the marker is accepted")
    }

    #[test]
    fn the_first_unstable_offset_holds_until_the_high_watermark_passes_the_marker() {
        // UnifiedLogTest.testFirstUnstableOffsetWithTransactionalData (KAFKA.md 4.2):
        // transactional records at 0-2 and 3, a COMMIT marker at 4.
        let mut log = PartitionLog::new();
        assert_eq!(send(&mut log, 1, 0, 0, &["a", "b", "c"]), Offset(0));
        assert_eq!(send(&mut log, 1, 0, 3, &["d"]), Offset(3));
        assert_eq!(log.producers().first_unstable_offset(), Some(Offset(0)));
        log.set_high_watermark(Offset(4));
        assert_eq!(
            log.last_stable_offset(),
            Offset(0),
            "the LSO waits for the txn"
        );
        assert_eq!(end(&mut log, 1, 0, MarkerKind::Commit), Offset(4));
        assert_eq!(
            log.log_end_offset(),
            Offset(5),
            "the marker takes one offset"
        );
        // The marker is written but not replicated: still unstable.
        assert_eq!(log.producers().first_unstable_offset(), Some(Offset(0)));
        log.set_high_watermark(Offset(4));
        assert_eq!(log.last_stable_offset(), Offset(0));
        log.set_high_watermark(Offset(5));
        assert_eq!(log.producers().first_unstable_offset(), None);
        assert_eq!(
            log.last_stable_offset(),
            Offset(5),
            "the LSO is the HW again"
        );
        // The marker holds no data record.
        assert_eq!(log.record_count(), 4);
        assert!(log.record_at(Offset(4)).is_none());
    }

    #[test]
    fn the_lso_is_the_first_open_transaction_and_an_abort_enters_the_index() {
        let mut log = PartitionLog::new();
        send(&mut log, 1, 0, 0, &["a"]); // 0: producer 1 opens
        send(&mut log, 2, 0, 0, &["b"]); // 1: producer 2 opens
        send(&mut log, 1, 0, 1, &["c"]); // 2
        assert_eq!(end(&mut log, 1, 0, MarkerKind::Abort), Offset(3));
        log.set_high_watermark(Offset(4));
        // Producer 1's transaction is over and replicated; producer 2's is open from 1.
        assert_eq!(log.last_stable_offset(), Offset(1));
        let aborted = log.aborted_transactions(Offset(0), Offset(4));
        assert_eq!(
            aborted,
            vec![AbortedTxn {
                producer_id: ProducerId(1),
                first_offset: Offset(0),
                last_offset: Offset(3),
                // Producer 2's open transaction bounds what is stable after this marker.
                last_stable_offset: Offset(1),
            }]
        );
        // A read that starts after the marker, or ends before the first record, misses it.
        assert!(log.aborted_transactions(Offset(4), Offset(10)).is_empty());
        assert!(log.aborted_transactions(Offset(0), Offset(0)).is_empty());
        assert_eq!(end(&mut log, 2, 0, MarkerKind::Commit), Offset(4));
        log.set_high_watermark(Offset(5));
        assert_eq!(log.last_stable_offset(), Offset(5));
        assert_eq!(log.aborted_transactions(Offset(0), Offset(5)).len(), 1);
    }

    #[test]
    fn a_plain_write_inside_an_open_transaction_is_refused() {
        // ProducerAppendInfo.appendDataBatch: "Expected transactional write".
        let mut log = PartitionLog::new();
        send(&mut log, 1, 0, 0, &["a"]);
        let plain = txn(1, 0, 1).map(|p| ProducerFields {
            transactional: false,
            ..p
        });
        assert_eq!(
            log.append_as_leader(records(&["b"]), plain, E),
            Err(ErrorCode::InvalidTxnState)
        );
        end(&mut log, 1, 0, MarkerKind::Commit);
        // After the marker the producer may write outside a transaction again.
        assert!(log.append_as_leader(records(&["b"]), plain, E).is_ok());
    }

    #[test]
    fn markers_are_fenced_by_producer_and_coordinator_epochs() {
        // ProducerAppendInfo.checkProducerEpoch and checkCoordinatorEpoch.
        let mut log = PartitionLog::new();
        send(&mut log, 1, 1, 0, &["a"]);
        let write = |log: &mut PartitionLog, epoch: u16, coordinator: u32, v2: bool| {
            log.append_marker_as_leader(
                ProducerId(1),
                ProducerEpoch(epoch),
                marker(MarkerKind::Commit, coordinator),
                E,
                v2,
            )
        };
        assert_eq!(
            write(&mut log, 0, 5, false),
            Err(ErrorCode::InvalidProducerEpoch),
            "an older producer epoch"
        );
        assert_eq!(
            write(&mut log, 1, 5, true),
            Err(ErrorCode::InvalidProducerEpoch),
            "transaction version 2 markers carry the bumped epoch"
        );
        assert_eq!(write(&mut log, 2, 5, true), Ok(Offset(1)));
        // KAFKA-19999: the same TV2 marker again, with no transaction open, is a retry.
        assert_eq!(write(&mut log, 2, 5, true), Ok(Offset(2)));
        assert_eq!(
            write(&mut log, 2, 4, false),
            Err(ErrorCode::TransactionCoordinatorFenced),
            "a marker from an older coordinator"
        );
        // The bumped epoch starts its sequences again at 0.
        assert_eq!(
            log.append_as_leader(records(&["b"]), txn(1, 2, 1), E),
            Err(ErrorCode::OutOfOrderSequenceNumber)
        );
        assert_eq!(send(&mut log, 1, 2, 0, &["b"]), Offset(3));
    }

    #[test]
    fn a_truncation_below_the_marker_reopens_the_transaction() {
        let mut log = PartitionLog::new();
        send(&mut log, 1, 0, 0, &["a", "b"]);
        end(&mut log, 1, 0, MarkerKind::Abort);
        log.set_high_watermark(Offset(2));
        assert_eq!(log.aborted_transactions(Offset(0), Offset(3)).len(), 1);
        log.truncate_to(Offset(2));
        assert_eq!(log.last_stable_offset(), Offset(0));
        assert_eq!(
            log.producers()
                .entry(ProducerId(1))
                .and_then(|e| e.current_txn_first_offset),
            Some(Offset(0))
        );
        assert!(
            log.aborted_transactions(Offset(0), Offset(3)).is_empty(),
            "the aborted index lost the truncated marker"
        );
    }

    #[test]
    fn a_follower_copies_markers_and_builds_the_same_state() {
        let mut leader = PartitionLog::new();
        send(&mut leader, 1, 0, 0, &["a"]);
        send(&mut leader, 2, 0, 0, &["b"]);
        end(&mut leader, 1, 0, MarkerKind::Abort);
        end(&mut leader, 2, 0, MarkerKind::Commit);
        let mut follower = PartitionLog::new();
        for b in leader.read(Offset(0), leader.log_end_offset(), u64::MAX) {
            follower.append_as_follower(b).expect("in order");
        }
        assert_eq!(follower.log_end_offset(), Offset(4));
        assert_eq!(follower.producers(), leader.producers());
        assert_eq!(follower.size_in_bytes(), leader.size_in_bytes());
    }

    #[test]
    fn the_cleaner_drops_aborted_records_and_keeps_the_key_s_committed_value() {
        // Cleaner.buildOffsetMap skips aborted batches, so an aborted write of a key does not
        // shadow its committed value; the pass discards the aborted records themselves.
        use crate::config::{CleanupPolicy, TopicConfig};
        let mut log = PartitionLog::with_config(&TopicConfig {
            cleanup_policy: CleanupPolicy::COMPACT,
            ..TopicConfig::default()
        });
        let key = |v: &str| Record {
            key: Some(Bytes::from("k")),
            value: Some(Bytes::from(v)),
            timestamp: Instant(0),
        };
        let append = |log: &mut PartitionLog, v: &str, seq: u32| {
            log.append_as_leader(Arc::from(vec![key(v)]), txn(1, 0, seq), E)
                .expect("appended");
        };
        append(&mut log, "committed", 0); // 0
        end(&mut log, 1, 0, MarkerKind::Commit); // 1
        append(&mut log, "aborted", 1); // 2
        end(&mut log, 1, 0, MarkerKind::Abort); // 3
        log.roll();
        send(&mut log, 2, 0, 0, &["later"]); // 4, in the active segment
        log.set_high_watermark(log.log_end_offset());
        let ltc = log.to_clean(Instant(0)).expect("a dirty section");
        log.clean(Instant(0), &ltc);
        let left: Vec<(Offset, Option<Bytes>)> = log
            .batches()
            .iter()
            .flat_map(|b| b.records_with_offsets())
            .map(|(o, r)| (o, r.value.clone()))
            .collect();
        assert_eq!(
            left,
            vec![
                (Offset(0), Some(Bytes::from("committed"))),
                (Offset(4), Some(Bytes::from("later"))),
            ]
        );
        // Both markers stay (docs/deviations.md), each at its offset.
        let markers: Vec<Offset> = log
            .batches()
            .iter()
            .filter(|b| b.control.is_some())
            .map(|b| b.base_offset)
            .collect();
        assert_eq!(markers, vec![Offset(1), Offset(3)]);
    }
}
