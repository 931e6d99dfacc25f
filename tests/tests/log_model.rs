//! A replica's partition log (`gregor_core::log::PartitionLog`) against a reference model: a
//! `Vec` of batches with the high watermark, its checkpoint, the recovery point and the leader
//! epoch cache, driven by proptest-state-machine through random sequences of what a broker does
//! to a log (leader and follower appends, idempotent producers' retries, becoming leader,
//! truncation, HW updates and checkpoints, flushes, crashes and power losses, reads and
//! epoch lookups). After every step the log must agree with the model.
//!
//! The model is Kafka's rules written plainly, with their sources:
//!
//! * offsets are consecutive from the log start, a batch is stamped with the leader epoch of
//!   the leader that appended it, and truncation removes whole batches (`UnifiedLog.truncateTo`,
//!   KAFKA.md 3.5);
//! * the HW is clamped to `[log start, LEO]` (`UnifiedLog.updateHighWatermark`, KAFKA.md 3.1) and
//!   survives a restart through its checkpoint;
//! * a power loss keeps what was flushed (the recovery point) and recovery truncates to it; the
//!   unflushed count is `LEO - recovery point` (`LocalLog.unflushedMessages`);
//! * the epoch cache (`LeaderEpochFileCache.assign`, `truncateFromEnd`, `endOffsetFor`, KAFKA.md
//!   3.5) stays monotonic and names, for every offset, the epoch of the batch holding it;
//! * idempotence keeps the last five batches of a producer and answers a repeated one with the
//!   original offsets, refuses an older epoch and a sequence gap (`ProducerStateManager`,
//!   `ProducerAppendInfo`, KAFKA.md 4.1).

use gregor_core::bytes::Bytes;
use gregor_core::error::ErrorCode;
use gregor_core::ids::{LeaderEpoch, Offset, ProducerEpoch, ProducerId, Sequence};
use gregor_core::log::{LeaderAppend, PartitionLog};
use gregor_core::record::{ProducerFields, Record};
use gregor_core::time::Instant;
use gregor_tests::property::Property;
use proptest::prelude::*;
use proptest::test_runner::Config;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// How often the interesting answers came up over a whole run of the property, so that the
/// test can tell it did not pass by never reaching them.
static DUPLICATES: AtomicU64 = AtomicU64::new(0);
static OLD_EPOCHS: AtomicU64 = AtomicU64::new(0);
static SEQUENCE_GAPS: AtomicU64 = AtomicU64::new(0);
static CUTS: AtomicU64 = AtomicU64::new(0);
static EPOCH_ANSWERS: AtomicU64 = AtomicU64::new(0);

/// The only producer id the model uses: idempotence state is per producer id, and one is enough
/// to exercise epochs, sequences and the five-batch window.
const PRODUCER: u64 = 1;

/// A producer's cached batches: first and last sequence, first and last offset.
type ProducerBatches = Vec<(u32, u32, u64, u64)>;

/// A batch as both sides show it: base offset, leader epoch, values, producer epoch and base
/// sequence.
type BatchView = (u64, u32, Vec<String>, Option<(u16, u32)>);

/// A batch of the model.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Batch {
    base: u64,
    epoch: u32,
    values: Vec<String>,
    /// Producer epoch and base sequence, for an idempotent batch.
    producer: Option<(u16, u32)>,
}

impl Batch {
    fn end(&self) -> u64 {
        self.base + self.values.len() as u64
    }
}

/// What the last step should have returned.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Expected {
    Nothing,
    Appended(u64, u64),
    Duplicate(u64, u64),
    Refused(ErrorCode),
    LogEnd(u64),
    /// The base offsets of the batches a read returns.
    Read(Vec<u64>),
    EndOffset(Option<(u32, u64)>),
}

/// The reference model.
#[derive(Clone, Debug)]
struct Model {
    batches: Vec<Batch>,
    hw: u64,
    hw_checkpoint: u64,
    recovery_point: u64,
    epochs: Vec<(u32, u64)>,
    next_value: u64,
    expected: Expected,
}

/// A step.
#[derive(Clone, Debug)]
enum Step {
    /// A leader appends `count` records in `epoch`, with idempotence fields or not.
    AppendAsLeader {
        count: u32,
        epoch: u32,
        producer: Option<(u16, u32)>,
    },
    /// A follower appends a batch copied from its leader.
    AppendAsFollower {
        count: u32,
        epoch: u32,
    },
    /// The replica becomes leader in `epoch`: the epoch starts at its log end.
    BecomeLeader(u32),
    TruncateTo(u64),
    SetHighWatermark(u64),
    CheckpointHighWatermark,
    Flush,
    /// The process dies and starts again: the page cache survives, the HW comes back from its
    /// checkpoint.
    Restart,
    /// The machine loses power: what was not flushed is gone, then the process starts again.
    PowerLoss,
    /// A read from an offset up to a bound, either of everything up to it or of one batch.
    Read {
        from: u64,
        upper: u64,
        one: bool,
    },
    EndOffsetFor(u32),
}

impl Model {
    fn leo(&self) -> u64 {
        self.batches.last().map_or(0, Batch::end)
    }

    fn latest_epoch(&self) -> Option<u32> {
        self.epochs.last().map(|e| e.0)
    }

    /// `LeaderEpochFileCache.assign`: nothing if the latest entry already says the epoch
    /// started at or before this offset; otherwise drop entries that are not below the new one
    /// in both epoch and offset, and append it.
    fn assign(&mut self, epoch: u32, start: u64) {
        if let Some(&(e, s)) = self.epochs.last()
            && e == epoch
            && s <= start
        {
            return;
        }
        self.epochs.retain(|&(e, s)| e < epoch && s < start);
        self.epochs.push((epoch, start));
    }

    /// The producer's epoch and its last five batches (first and last sequence and offset), as
    /// a broker rebuilds them from the log.
    fn producer_state(&self) -> Option<(u16, ProducerBatches)> {
        let mut state: Option<(u16, ProducerBatches)> = None;
        for b in &self.batches {
            let Some((pe, seq)) = b.producer else {
                continue;
            };
            let n = b.values.len() as u32;
            let entry = state.get_or_insert((pe, Vec::new()));
            if entry.0 != pe {
                *entry = (pe, Vec::new());
            }
            entry.1.push((seq, seq + n - 1, b.base, b.end() - 1));
            if entry.1.len() > 5 {
                entry.1.remove(0);
            }
        }
        state
    }

    /// The idempotence checks of KAFKA.md 4.1, in Kafka's order: a repeat of a cached batch,
    /// then the epoch, then the sequence.
    fn validate(&self, pe: u16, seq: u32, count: u32) -> Result<Option<(u64, u64)>, ErrorCode> {
        let Some((current, batches)) = self.producer_state() else {
            return Ok(None);
        };
        if current == pe
            && let Some(b) = batches
                .iter()
                .find(|b| b.0 == seq && b.1 == seq + count - 1)
        {
            return Ok(Some((b.2, b.3)));
        }
        if pe < current {
            return Err(ErrorCode::InvalidProducerEpoch);
        }
        if pe > current {
            return if seq == 0 {
                Ok(None)
            } else {
                Err(ErrorCode::OutOfOrderSequenceNumber)
            };
        }
        match batches.last() {
            Some(last) if last.1 + 1 != seq => Err(ErrorCode::OutOfOrderSequenceNumber),
            _ => Ok(None),
        }
    }

    fn push(&mut self, count: u32, epoch: u32, producer: Option<(u16, u32)>) -> (u64, u64) {
        let base = self.leo();
        let values = (0..count)
            .map(|i| format!("v{}", self.next_value + u64::from(i)))
            .collect();
        self.next_value += u64::from(count);
        self.assign(epoch, base);
        self.batches.push(Batch {
            base,
            epoch,
            values,
            producer,
        });
        (base, base + u64::from(count) - 1)
    }

    /// `UnifiedLog.truncateTo`: whole batches at or after `offset` go, and everything that
    /// points past the new end follows it.
    fn truncate_to(&mut self, offset: u64) -> u64 {
        if offset < self.leo() {
            self.batches.retain(|b| b.end() <= offset);
            let leo = self.leo();
            self.hw = self.hw.min(leo);
            self.hw_checkpoint = self.hw_checkpoint.min(leo);
            self.recovery_point = self.recovery_point.min(leo);
        }
        let leo = self.leo();
        self.epochs.retain(|&(_, s)| s < leo);
        leo
    }

    fn recover_on_start(&mut self) {
        self.hw = self.hw_checkpoint.min(self.leo());
        self.recovery_point = self.recovery_point.min(self.leo());
    }

    /// `LeaderEpochFileCache.endOffsetFor` (KAFKA.md 3.5).
    fn end_offset_for(&self, requested: u32) -> Option<(u32, u64)> {
        let &(latest, _) = self.epochs.last()?;
        if latest == requested {
            return Some((requested, self.leo()));
        }
        let &(_, higher_start) = self.epochs.iter().find(|e| e.0 > requested)?;
        match self.epochs.iter().rev().find(|e| e.0 <= requested) {
            Some(&(floor, _)) => Some((floor, higher_start)),
            None => Some((requested, higher_start)),
        }
    }

    /// The batches a read returns: from the one holding `from`, up to those ending at `upper`.
    fn read(&self, from: u64, upper: u64, one: bool) -> Vec<u64> {
        let mut out: Vec<u64> = self
            .batches
            .iter()
            .filter(|b| b.end() > from)
            .take_while(|b| b.end() <= upper)
            .map(|b| b.base)
            .collect();
        if one {
            out.truncate(1);
        }
        out
    }
}

struct LogMachine;

impl ReferenceStateMachine for LogMachine {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model {
            batches: Vec::new(),
            hw: 0,
            hw_checkpoint: 0,
            recovery_point: 0,
            epochs: Vec::new(),
            next_value: 0,
            expected: Expected::Nothing,
        })
        .boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Step> {
        let latest = state.latest_epoch().unwrap_or(0);
        let leo = state.leo();
        let (pe, batches) = state.producer_state().unwrap_or((0, Vec::new()));
        let next_seq = batches.last().map_or(0, |b| b.1 + 1);
        // Idempotence fields a producer may send: the next sequence, a retry of one of the
        // cached batches (same range, so the same count), a new epoch from 0, a new epoch not
        // from 0, an older epoch, a sequence with a gap.
        let mut appends: Vec<BoxedStrategy<Step>> = vec![
            (1u32..=4, latest..=latest + 1)
                .prop_map(|(count, epoch)| Step::AppendAsLeader {
                    count,
                    epoch,
                    producer: None,
                })
                .boxed(),
            (1u32..=4, latest..=latest + 1)
                .prop_map(move |(count, epoch)| Step::AppendAsLeader {
                    count,
                    epoch,
                    producer: Some((pe, next_seq)),
                })
                .boxed(),
            (
                1u32..=4,
                latest..=latest + 1,
                prop_oneof![Just(0u32), 1u32..3],
            )
                .prop_map(move |(count, epoch, seq)| Step::AppendAsLeader {
                    count,
                    epoch,
                    producer: Some((pe + 1, seq)),
                })
                .boxed(),
            (1u32..=4, latest..=latest + 1, 0u32..(next_seq + 3))
                .prop_map(move |(count, epoch, seq)| Step::AppendAsLeader {
                    count,
                    epoch,
                    producer: Some((pe, seq)),
                })
                .boxed(),
        ];
        if !batches.is_empty() {
            let cached = batches.clone();
            appends.push(
                (0..cached.len(), latest..=latest + 1)
                    .prop_map(move |(i, epoch)| {
                        let (first, last, _, _) = cached[i];
                        Step::AppendAsLeader {
                            count: last - first + 1,
                            epoch,
                            producer: Some((pe, first)),
                        }
                    })
                    .boxed(),
            );
        }
        if pe > 0 {
            appends.push(
                (1u32..=4)
                    .prop_map(move |count| Step::AppendAsLeader {
                        count,
                        epoch: latest,
                        producer: Some((pe - 1, 0)),
                    })
                    .boxed(),
            );
        }
        let appends = proptest::strategy::Union::new(appends);
        prop_oneof![
            4 => appends,
            2 => (1u32..=4, latest..=latest + 1)
                .prop_map(|(count, epoch)| Step::AppendAsFollower { count, epoch }),
            1 => (latest + 1..=latest + 2).prop_map(Step::BecomeLeader),
            1 => (0..=leo + 1).prop_map(Step::TruncateTo),
            2 => (0..=leo + 1).prop_map(Step::SetHighWatermark),
            1 => Just(Step::CheckpointHighWatermark),
            1 => Just(Step::Flush),
            1 => Just(Step::Restart),
            1 => Just(Step::PowerLoss),
            2 => (0..=leo, 0..=leo + 1, any::<bool>())
                .prop_map(|(from, upper, one)| Step::Read { from, upper, one }),
            2 => (0..=latest + 1).prop_map(Step::EndOffsetFor),
        ]
        .boxed()
    }

    /// What a broker never does, which shrinking must not make a step do: append in an epoch
    /// older than the log's latest (a leader's epoch is at least every epoch in its log, and a
    /// follower copies its leader's batches in order), or become leader in an epoch it has
    /// already seen.
    fn preconditions(state: &Model, step: &Step) -> bool {
        let latest = state.latest_epoch();
        match *step {
            Step::AppendAsLeader { epoch, .. } | Step::AppendAsFollower { epoch, .. } => {
                latest.is_none_or(|l| epoch >= l)
            }
            Step::BecomeLeader(epoch) => latest.is_none_or(|l| epoch > l),
            _ => true,
        }
    }

    fn apply(mut state: Model, step: &Step) -> Model {
        state.expected = match *step {
            Step::AppendAsLeader {
                count,
                epoch,
                producer,
            } => match producer.map(|(pe, seq)| state.validate(pe, seq, count)) {
                Some(Err(e)) => Expected::Refused(e),
                Some(Ok(Some((first, last)))) => Expected::Duplicate(first, last),
                _ => {
                    let (first, last) = state.push(count, epoch, producer);
                    Expected::Appended(first, last)
                }
            },
            Step::AppendAsFollower { count, epoch } => {
                state.push(count, epoch, None);
                Expected::Nothing
            }
            Step::BecomeLeader(epoch) => {
                let leo = state.leo();
                state.assign(epoch, leo);
                Expected::Nothing
            }
            Step::TruncateTo(offset) => Expected::LogEnd(state.truncate_to(offset)),
            Step::SetHighWatermark(hw) => {
                state.hw = hw.min(state.leo());
                Expected::Nothing
            }
            Step::CheckpointHighWatermark => {
                state.hw_checkpoint = state.hw;
                Expected::Nothing
            }
            Step::Flush => {
                state.recovery_point = state.leo();
                Expected::Nothing
            }
            Step::Restart => {
                state.recover_on_start();
                Expected::Nothing
            }
            Step::PowerLoss => {
                // Recovery cuts the log back to what was flushed, if anything was not.
                let flushed = state.recovery_point;
                if flushed < state.leo() {
                    state.truncate_to(flushed);
                }
                state.recover_on_start();
                Expected::Nothing
            }
            Step::Read { from, upper, one } => Expected::Read(state.read(from, upper, one)),
            Step::EndOffsetFor(epoch) => Expected::EndOffset(state.end_offset_for(epoch)),
        };
        state
    }
}

struct LogTest;

impl StateMachineTest for LogTest {
    type SystemUnderTest = PartitionLog;
    type Reference = LogMachine;

    fn init_test(_: &Model) -> PartitionLog {
        PartitionLog::new()
    }

    fn apply(mut log: PartitionLog, model: &Model, step: Step) -> PartitionLog {
        let got = match step {
            Step::AppendAsLeader {
                count,
                epoch,
                producer,
            } => {
                // The values the model gave the batch, when it appended one; a refused or
                // repeated batch carries values the model never stores.
                let values: Vec<String> = match (&model.expected, model.batches.last()) {
                    (Expected::Appended(..), Some(b)) => b.values.clone(),
                    _ => (0..count).map(|i| format!("not appended {i}")).collect(),
                };
                let records: Arc<[Record]> = values.iter().map(|v| record(v)).collect();
                let fields = producer.map(|(pe, seq)| ProducerFields {
                    producer_id: ProducerId(PRODUCER),
                    producer_epoch: ProducerEpoch(pe),
                    base_sequence: Sequence(seq),
                    transactional: false,
                });
                match log.append_as_leader(records, fields, LeaderEpoch(epoch)) {
                    Ok(LeaderAppend::Appended { first, last }) => {
                        Expected::Appended(first.0, last.0)
                    }
                    Ok(LeaderAppend::Duplicate { first, last }) => {
                        Expected::Duplicate(first.0, last.0)
                    }
                    Err(e) => Expected::Refused(e),
                }
            }
            Step::AppendAsFollower { epoch, .. } => {
                let values = &model.batches.last().expect("the model appended").values;
                let batch = gregor_core::record::RecordBatch::new(
                    log.log_end_offset(),
                    LeaderEpoch(epoch),
                    None,
                    values.iter().map(|v| record(v)).collect(),
                );
                log.append_as_follower(batch)
                    .expect("a batch at the log end is accepted");
                Expected::Nothing
            }
            Step::BecomeLeader(epoch) => {
                log.assign_epoch_start(LeaderEpoch(epoch));
                Expected::Nothing
            }
            Step::TruncateTo(offset) => {
                if offset < log.log_end_offset().0 {
                    CUTS.fetch_add(1, Ordering::Relaxed);
                }
                Expected::LogEnd(log.truncate_to(Offset(offset)).0)
            }
            Step::SetHighWatermark(hw) => {
                log.set_high_watermark(Offset(hw));
                Expected::Nothing
            }
            Step::CheckpointHighWatermark => {
                log.checkpoint_high_watermark();
                Expected::Nothing
            }
            Step::Flush => {
                log.flush();
                Expected::Nothing
            }
            Step::Restart => {
                log.recover_on_start();
                Expected::Nothing
            }
            Step::PowerLoss => {
                log.lose_unflushed();
                log.recover_on_start();
                Expected::Nothing
            }
            Step::Read { from, upper, one } => Expected::Read(
                log.read(Offset(from), Offset(upper), if one { 0 } else { u64::MAX })
                    .iter()
                    .map(|b| b.base_offset.0)
                    .collect(),
            ),
            Step::EndOffsetFor(epoch) => Expected::EndOffset(
                log.end_offset_for_epoch(LeaderEpoch(epoch))
                    .map(|(e, o)| (e.0, o.0)),
            ),
        };
        assert_eq!(got, model.expected, "the answer to {step:?}");
        let counter = match (&step, &got) {
            (_, Expected::Duplicate(..)) => Some(&DUPLICATES),
            (_, Expected::Refused(ErrorCode::InvalidProducerEpoch)) => Some(&OLD_EPOCHS),
            (_, Expected::Refused(ErrorCode::OutOfOrderSequenceNumber)) => Some(&SEQUENCE_GAPS),
            (_, Expected::EndOffset(Some(_))) => Some(&EPOCH_ANSWERS),
            _ => None,
        };
        if let Some(c) = counter {
            c.fetch_add(1, Ordering::Relaxed);
        }
        log
    }

    fn check_invariants(log: &PartitionLog, model: &Model) {
        assert_eq!(log.log_end_offset().0, model.leo(), "log end offset");
        assert_eq!(log.high_watermark().0, model.hw, "high watermark");
        assert_eq!(
            log.recovery_point().0,
            model.recovery_point,
            "recovery point"
        );
        assert_eq!(
            log.unflushed_records(),
            model.leo() - model.recovery_point,
            "unflushed records are those past the recovery point"
        );
        let batches: Vec<BatchView> = log
            .batches()
            .iter()
            .map(|b| {
                (
                    b.base_offset.0,
                    b.leader_epoch.0,
                    b.records
                        .iter()
                        .map(|r| {
                            r.value
                                .as_ref()
                                .map(ToString::to_string)
                                .unwrap_or_default()
                        })
                        .collect(),
                    b.producer.map(|p| (p.producer_epoch.0, p.base_sequence.0)),
                )
            })
            .collect();
        let want: Vec<BatchView> = model
            .batches
            .iter()
            .map(|b| (b.base, b.epoch, b.values.clone(), b.producer))
            .collect();
        assert_eq!(batches, want, "batches");
        let epochs: Vec<(u32, u64)> = log
            .epoch_cache()
            .entries()
            .iter()
            .map(|e| (e.epoch.0, e.start_offset.0))
            .collect();
        assert_eq!(epochs, model.epochs, "leader epoch cache");
        // What KIP-101 relies on, beyond agreeing with the model: the cache is monotonic, and
        // for every batch the latest entry starting at or before it is the batch's own epoch.
        assert!(
            epochs
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1),
            "the epoch cache is not monotonic: {epochs:?}"
        );
        for b in &model.batches {
            let floor = epochs.iter().rev().find(|e| e.1 <= b.base).map(|e| e.0);
            assert_eq!(
                floor,
                Some(b.epoch),
                "the cache names the wrong epoch for offset {}: {epochs:?}",
                b.base
            );
        }
    }
}

fn record(value: &str) -> Record {
    Record {
        key: None,
        value: Some(Bytes::from(value)),
        timestamp: Instant(0),
    }
}

#[test]
fn the_partition_log_agrees_with_a_vec_model() {
    let mut runner = Property::new("the_partition_log_agrees_with_a_vec_model", file!())
        .cases(512)
        .runner();
    let strategy = LogMachine::sequential_strategy(1..60);
    let result = runner.run(&strategy, |(initial, steps, seen)| {
        LogTest::test_sequential(Config::default(), initial, steps, seen);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    for (what, counter) in [
        ("repeated batches answered with their offsets", &DUPLICATES),
        ("appends refused for an old producer epoch", &OLD_EPOCHS),
        ("appends refused for a sequence gap", &SEQUENCE_GAPS),
        ("truncations that cut the log", &CUTS),
        ("epoch lookups answered", &EPOCH_ANSWERS),
    ] {
        assert!(
            counter.load(Ordering::Relaxed) > 0,
            "no step reached {what}: the generated steps miss part of the log's behaviour"
        );
    }
}

/// The counterexample the model found (its seed is in
/// `tests/proptest-regressions/the_partition_log_agrees_with_a_vec_model.txt`): a truncation left
/// the unflushed count at what it was before, counting records that were no longer in the log,
/// so `log.flush.interval.messages` would flush earlier than Kafka does. Kafka counts the
/// unflushed records as `logEndOffset - recoveryPoint` (`LocalLog.unflushedMessages`).
#[test]
fn a_truncation_leaves_no_truncated_record_counted_as_unflushed() {
    let mut log = PartitionLog::new();
    let batch = |values: &[&str]| -> Arc<[Record]> { values.iter().map(|v| record(v)).collect() };
    log.append_as_leader(batch(&["v0"]), None, LeaderEpoch(0))
        .expect("appended");
    log.flush();
    log.append_as_leader(batch(&["v1", "v2"]), None, LeaderEpoch(1))
        .expect("appended");
    assert_eq!(log.unflushed_records(), 2);
    assert_eq!(log.truncate_to(Offset(1)), Offset(1));
    assert_eq!(log.recovery_point(), Offset(1));
    assert_eq!(
        log.unflushed_records(),
        0,
        "both unflushed records were truncated away"
    );
}
