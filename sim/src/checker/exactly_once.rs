//! The end-to-end exactly-once check of consume-transform-produce pipelines (KAFKA.md 4.2).
//!
//! A pipeline writes one output record per input record, with the value
//! `{pipeline}-{i}:{topic}/{partition}@{offset}:{input value}` naming its input, and commits the
//! input offsets in the same transaction. At
//! the end of a run the check reads the final logs as a `read_committed` reader would (data of
//! committed transactions and of no transaction, below the high watermark) and the group's
//! committed offsets, and holds the pipeline to this: every committed input record below the
//! committed offset has exactly one committed output, and no input record at or past it has
//! any. Each way it can break is counted apart:
//!
//! * missing: consumed (its offset committed) and no output committed;
//! * duplicated: more than one committed output for one input record;
//! * premature: an output committed for an input whose offset was not committed, which only a
//!   broken transaction (offsets and outputs not atomic) allows;
//! * unmatched: a committed output of no committed input record, as an aborted or uncommitted
//!   input read by the pipeline would give (Adya's G1a one step downstream).

use gregor_core::bytes::Bytes;
use gregor_core::ids::{Offset, ProducerId, TopicPartition};
use gregor_core::map::VecMap;
use gregor_core::record::{MarkerKind, RecordBatch};
use serde::Serialize;
use std::collections::BTreeMap;

/// How many findings a report lists.
const KEEP: usize = 20;

/// A partition's committed records, `(offset, value)` in offset order.
pub type Records = Vec<(Offset, Bytes)>;

/// The records of a partition a `read_committed` reader would return, below `hw`, in offset
/// order, with their values (`None`: a tombstone), and how many records wait in transactions
/// with no marker yet. It reads the batches and markers themselves rather than the log's
/// producer state and aborted index, so that the oracle does not trust the code it judges.
pub fn read_committed(batches: &[RecordBatch], hw: Offset) -> (Vec<(Offset, Option<Bytes>)>, u64) {
    let mut committed = Vec::new();
    let mut open: BTreeMap<ProducerId, Vec<(Offset, Option<Bytes>)>> = BTreeMap::new();
    for batch in batches.iter().filter(|b| b.last_offset() < hw) {
        let records = batch
            .records_with_offsets()
            .map(|(o, r)| (o, r.value.clone()));
        match (batch.producer, batch.control) {
            (Some(p), Some(marker)) => {
                let ended = open.remove(&p.producer_id).unwrap_or_default();
                if marker.kind == MarkerKind::Commit {
                    committed.extend(ended);
                }
            }
            (Some(p), None) if p.transactional => {
                open.entry(p.producer_id).or_default().extend(records)
            }
            _ => committed.extend(records),
        }
    }
    gregor_core::sort::sort_by_key(&mut committed, |(o, _)| *o);
    (committed, open.values().map(|v| v.len() as u64).sum())
}

/// [`read_committed`] without tombstones: the records with values.
pub fn committed_records(batches: &[RecordBatch], hw: Offset) -> (Records, u64) {
    let (records, undecided) = read_committed(batches, hw);
    let values = records
        .into_iter()
        .filter_map(|(o, v)| Some((o, v?)))
        .collect();
    (values, undecided)
}

/// What one pipeline did, end to end.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ExactlyOnceReport {
    /// The pipelines (their consumers' names), of one group.
    pub pipeline: String,
    /// Committed input records.
    pub inputs: u64,
    /// Of them, those below the group's committed offsets: consumed for good.
    pub consumed: u64,
    /// Committed output records of this pipeline.
    pub outputs: u64,
    /// Consumed inputs with no committed output.
    pub missing: u64,
    /// Extra committed outputs of one input.
    pub duplicated: u64,
    /// Committed outputs of inputs whose offsets were not committed.
    pub premature: u64,
    /// Committed outputs of no committed input.
    pub unmatched: u64,
    /// Output records in transactions with no marker at the end.
    pub undecided: u64,
    /// Offsets of a transaction still wait for their marker at the end: the run is not
    /// settled, so a failure is judged as liveness.
    pub pending_offsets: bool,
    /// The first findings, in words.
    pub examples: Vec<String>,
}

impl ExactlyOnceReport {
    /// Whether the pipeline was exactly-once.
    pub fn holds(&self) -> bool {
        self.missing + self.duplicated + self.premature + self.unmatched == 0
    }
}

/// A group's pipelines' final state: their names, their input and output partitions as a
/// `read_committed` reader sees them (with the records of undecided transactions counted), and
/// the group's committed offsets.
pub struct PipelineState<'a> {
    /// The pipelines of the group (its members with an `output`): their outputs' values start
    /// with `{name}-{i}:`.
    pub names: &'a [&'a str],
    /// Committed records of each input partition.
    pub inputs: &'a VecMap<TopicPartition, Records>,
    /// Committed records of each output partition, and the undecided ones.
    pub outputs: &'a VecMap<TopicPartition, (Records, u64)>,
    /// The group's committed offsets.
    pub committed: &'a VecMap<TopicPartition, Offset>,
    /// A transaction of the group is not settled yet: offsets wait for a marker.
    pub pending_offsets: bool,
}

/// The input an output was made of: `{name}-{i}:{topic}/{partition}@{offset}:{value}` gives
/// the input's partition and offset, when `name` is one of `names`.
fn input_of(names: &[&str], value: &[u8]) -> Option<(TopicPartition, Offset)> {
    let text = std::str::from_utf8(value).ok()?;
    let (head, rest) = text.split_once(':')?;
    let (name, i) = head.rsplit_once('-')?;
    if !names.contains(&name) || i.is_empty() || !i.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (place, _) = rest.split_once(':')?;
    let (tp, offset) = place.rsplit_once('@')?;
    let (topic, partition) = tp.rsplit_once('/')?;
    Some((
        TopicPartition::new(topic, partition.parse().ok()?),
        Offset(offset.parse().ok()?),
    ))
}

/// Holds a group's pipelines to exactly-once.
pub fn analyse(state: &PipelineState<'_>) -> ExactlyOnceReport {
    let mut report = ExactlyOnceReport {
        pipeline: state.names.join(", "),
        pending_offsets: state.pending_offsets,
        ..ExactlyOnceReport::default()
    };
    // Input (partition, offset) -> the committed outputs made of it.
    let mut made: BTreeMap<(TopicPartition, Offset), Vec<(TopicPartition, Offset)>> =
        BTreeMap::new();
    for (tp, (records, undecided)) in state.outputs {
        report.undecided += undecided;
        for (offset, value) in records {
            if let Some(input) = input_of(state.names, value.as_slice()) {
                report.outputs += 1;
                made.entry(input).or_default().push((tp.clone(), *offset));
            }
        }
    }
    let note = |report: &mut ExactlyOnceReport, text: String| {
        if report.examples.len() < KEEP {
            report.examples.push(text);
        }
    };
    for (tp, records) in state.inputs {
        let committed = state.committed.get(tp).copied().unwrap_or(Offset(0));
        for (offset, value) in records {
            report.inputs += 1;
            let outputs = made.remove(&(tp.clone(), *offset)).unwrap_or_default();
            let shown = String::from_utf8_lossy(value.as_slice()).into_owned();
            if *offset < committed {
                report.consumed += 1;
                match outputs.len() {
                    0 => {
                        report.missing += 1;
                        note(
                            &mut report,
                            format!(
                                "{shown} at {tp}@{offset} was consumed (committed offset {committed}) and has no committed output"
                            ),
                        );
                    }
                    1 => {}
                    n => {
                        report.duplicated += n as u64 - 1;
                        note(
                            &mut report,
                            format!(
                                "{shown} at {tp}@{offset} has {n} committed outputs: {}",
                                places(&outputs)
                            ),
                        );
                    }
                }
            } else if !outputs.is_empty() {
                report.premature += outputs.len() as u64;
                note(
                    &mut report,
                    format!(
                        "{shown} at {tp}@{offset} has a committed output ({}) but its offset is not committed (committed offset {committed})",
                        places(&outputs)
                    ),
                );
            }
        }
    }
    for ((tp, offset), outputs) in made {
        report.unmatched += outputs.len() as u64;
        note(
            &mut report,
            format!(
                "committed output {} was made of {tp}@{offset}, which is no committed input record",
                places(&outputs)
            ),
        );
    }
    report
}

fn places(outputs: &[(TopicPartition, Offset)]) -> String {
    outputs
        .iter()
        .map(|(tp, o)| format!("{tp}@{o}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use gregor_core::ids::{LeaderEpoch, ProducerEpoch, Sequence};
    use gregor_core::record::{ControlMarker, ProducerFields, Record};
    use gregor_core::time::Instant;

    fn data(base: u64, pid: Option<u64>, values: &[&str]) -> RecordBatch {
        let producer = pid.map(|p| ProducerFields {
            producer_id: ProducerId(p),
            producer_epoch: ProducerEpoch(0),
            base_sequence: Sequence(0),
            transactional: true,
        });
        let records: Vec<Record> = values
            .iter()
            .map(|v| Record {
                key: None,
                value: Some(Bytes::from(v.to_string())),
                timestamp: Instant(0),
            })
            .collect();
        RecordBatch::new(Offset(base), LeaderEpoch(0), producer, records.into())
    }

    fn marker(base: u64, pid: u64, kind: MarkerKind) -> RecordBatch {
        let marker = ControlMarker {
            kind,
            coordinator_epoch: 0,
            timestamp: Instant(0),
        };
        RecordBatch::control(
            Offset(base),
            LeaderEpoch(0),
            ProducerId(pid),
            ProducerEpoch(1),
            marker,
        )
    }

    fn values(records: &[(Offset, Bytes)]) -> Vec<String> {
        records.iter().map(|(_, v)| v.to_string()).collect()
    }

    /// KAFKA.md 4.2: a read_committed reader sees plain records and committed transactions,
    /// never aborted ones, and nothing of a transaction without its marker or above the HW.
    #[test]
    fn committed_records_follow_the_markers() {
        let log = vec![
            data(0, Some(7), &["a", "b"]),
            data(2, None, &["plain"]),
            data(3, Some(8), &["x"]),
            marker(4, 7, MarkerKind::Commit),
            marker(5, 8, MarkerKind::Abort),
            data(6, Some(7), &["open"]),
            data(7, None, &["above-hw"]),
        ];
        let (committed, undecided) = committed_records(&log, Offset(7));
        assert_eq!(values(&committed), ["a", "b", "plain"]);
        assert_eq!(undecided, 1);
    }

    fn state_check(outputs: &[&str], committed_offset: u64) -> ExactlyOnceReport {
        let tp = TopicPartition::new("in", 0);
        let inputs: VecMap<_, _> = [(
            tp.clone(),
            vec![
                (Offset(0), Bytes::from("shop-0")),
                (Offset(1), Bytes::from("shop-1")),
                (Offset(2), Bytes::from("shop-2")),
            ],
        )]
        .into_iter()
        .collect();
        let out: Vec<(Offset, Bytes)> = outputs
            .iter()
            .enumerate()
            .map(|(i, v)| (Offset(i as u64), Bytes::from(v.to_string())))
            .collect();
        let outputs: VecMap<_, _> = [(TopicPartition::new("out", 0), (out, 0))]
            .into_iter()
            .collect();
        let committed: VecMap<_, _> = [(tp, Offset(committed_offset))].into_iter().collect();
        analyse(&PipelineState {
            names: &["pipe"],
            inputs: &inputs,
            outputs: &outputs,
            committed: &committed,
            pending_offsets: false,
        })
    }

    /// Each way exactly-once breaks is caught and counted apart; a correct run holds.
    #[test]
    fn the_check_counts_missing_duplicated_premature_and_unmatched_outputs() {
        let (a, b, c) = (
            "pipe-0:in/0@0:shop-0",
            "pipe-1:in/0@1:shop-1",
            "pipe-2:in/0@2:x",
        );
        // Another pipeline's outputs and a name that only starts like this one's are not its.
        let ok = state_check(&[a, b, "other-0:in/0@2:x", "pipe-x-0:in/0@2:x"], 2);
        assert!(ok.holds(), "{ok:?}");
        assert_eq!((ok.consumed, ok.outputs), (2, 2));
        let missing = state_check(&[a], 2);
        assert_eq!(missing.missing, 1);
        let duplicated = state_check(&[a, "pipe-3:in/0@0:shop-0", b], 2);
        assert_eq!(duplicated.duplicated, 1);
        let premature = state_check(&[a, b, c], 2);
        assert_eq!(premature.premature, 1);
        let unmatched = state_check(&[a, b, "pipe-9:in/0@7:ghost"], 2);
        assert_eq!(unmatched.unmatched, 1);
        for r in [missing, duplicated, premature, unmatched] {
            assert!(!r.holds());
            assert_eq!(r.examples.len(), 1, "{r:?}");
        }
    }
}
