//! The consumer side of the history oracle: what the applications of each consumer group
//! received and processed, compared with the final read (Jepsen's Kafka checker, KAFKA.md 7.2).
//!
//! * Consumed: distinct records (partition and offset) some member of the group processed.
//! * Unseen: acknowledged records in the final read of the group's topics that no member ever
//!   processed. At-most-once allows these; at-least-once does not.
//! * Duplicates delivered: records the group's members processed more than once. At-least-once
//!   allows these; at-most-once does not.
//! * Nonmonotonic polls: a member's poll of a partition returning an offset at or below one an
//!   earlier poll returned, with no rebalance, reset or restart in between.
//! * Poll skips: a member's poll of a partition jumping over records the final read holds, again
//!   outside rebalances, resets and restarts.
//!
//! "Processed" is what delivery semantics are about: a record whose processing finished, not
//! merely one a poll returned (a crash in the middle of a poll's records processes some of them).

use crate::groups::DeclaredGroup;
use crate::world::{Logged, WorldEvent};
use gregor_core::bytes::Bytes;
use gregor_core::ids::{ClientId, NodeId, Offset, TopicPartition};
use gregor_core::map::{VecMap, VecSet};
use gregor_core::node::Event;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// How many findings of each kind a report keeps.
const KEEP: usize = 50;

/// One finding about one record, member and partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeliveryFinding {
    /// `unseen`, `duplicate delivery`, `nonmonotonic poll` or `poll skip`.
    pub kind: String,
    /// The group.
    pub group: String,
    /// The partition's topic.
    pub topic: String,
    /// The partition number.
    pub partition: u32,
    /// The offset the finding is about.
    pub offset: u64,
    /// The record's value, when known.
    pub value: Option<String>,
    /// The members involved (consumer names), empty for unseen records.
    pub members: Vec<String>,
    /// When (ms) it was seen, for poll findings.
    pub time_ms: Option<u64>,
    /// What happened, in words.
    pub detail: String,
}

/// Consecutive findings of one kind, group, partition and members over consecutive offsets (and
/// not tied to a moment), as first and last: a skipped batch reads as one line, not fifty.
pub fn finding_runs(findings: &[DeliveryFinding]) -> Vec<(&DeliveryFinding, &DeliveryFinding)> {
    let mut runs: Vec<(&DeliveryFinding, &DeliveryFinding)> = Vec::new();
    for f in findings {
        match runs.last_mut() {
            Some((first, last))
                if first.kind == f.kind
                    && first.group == f.group
                    && first.topic == f.topic
                    && first.partition == f.partition
                    && first.members == f.members
                    && last.offset + 1 == f.offset
                    && f.time_ms.is_none() =>
            {
                *last = f;
            }
            _ => runs.push((f, f)),
        }
    }
    runs
}

/// The kinds of findings the report lists only in part: kind, how many are listed, how many
/// there are.
pub fn listed_in_part(d: &DeliveryReport) -> Vec<(&'static str, u64, u64)> {
    [
        ("unseen", d.unseen),
        ("duplicate delivery", d.duplicates_delivered),
        ("nonmonotonic poll", d.nonmonotonic_polls),
        ("poll skip", d.poll_skips),
    ]
    .into_iter()
    .filter_map(|(kind, total)| {
        let listed = d
            .delivery_findings
            .iter()
            .filter(|f| f.kind == kind)
            .count() as u64;
        (listed < total).then_some((kind, listed, total))
    })
    .collect()
}

/// The consumer-side counts of one group.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GroupDelivery {
    /// The group.
    pub group: String,
    /// Distinct records processed.
    pub consumed: u64,
    /// Acknowledged records in the final read never processed.
    pub unseen: u64,
    /// Records processed more than once.
    pub duplicates_delivered: u64,
    /// Polls that went backwards.
    pub nonmonotonic_polls: u64,
    /// Polls that jumped over records.
    pub poll_skips: u64,
}

/// The consumer side of the oracle, over every group.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// Distinct records processed, summed over groups.
    pub consumed: u64,
    /// Acknowledged records some group never processed, summed over groups.
    pub unseen: u64,
    /// Records processed more than once within a group, summed over groups.
    pub duplicates_delivered: u64,
    /// Polls that went backwards.
    pub nonmonotonic_polls: u64,
    /// Polls that skipped records.
    pub poll_skips: u64,
    /// Per group.
    pub delivery_by_group: Vec<GroupDelivery>,
    /// Findings by record, offset and member (at most 50 of each kind).
    pub delivery_findings: Vec<DeliveryFinding>,
}

/// What one member last polled of one partition, forgotten when its ownership changes.
type LastPolled = VecMap<(ClientId, TopicPartition), Offset>;

/// Runs the consumer side of the oracle over a run's log; `reader` made the final read.
/// `compacted` are the partitions of compacted topics: there, a record of the final read with
/// a later record of the same key in it may be gone from another replica's log (each broker's
/// cleaner works on its own), so a member that never saw it, or skipped it, did nothing wrong.
pub fn analyse(
    log: &[Logged],
    groups: &[DeclaredGroup],
    reader: ClientId,
    compacted: &VecSet<TopicPartition>,
) -> DeliveryReport {
    // The final read (partition -> offset -> value) and the acknowledged values.
    let mut final_read: VecMap<TopicPartition, BTreeMap<Offset, Option<Bytes>>> = VecMap::new();
    let mut acknowledged: BTreeSet<Bytes> = BTreeSet::new();
    let mut keys: BTreeMap<Bytes, Bytes> = BTreeMap::new();
    for entry in log {
        match &entry.event {
            WorldEvent::Node(Event::RecordSent {
                value,
                key: Some(key),
                ..
            }) => {
                keys.insert(value.clone(), key.clone());
            }
            WorldEvent::Node(Event::RecordsPolled {
                topic_partition,
                records,
            }) if entry.node == NodeId::Client(reader) => {
                let p = final_read.entry(topic_partition.clone()).or_default();
                for (o, v) in records {
                    p.insert(*o, v.clone());
                }
            }
            WorldEvent::Node(Event::RecordAcknowledged { value, .. }) => {
                acknowledged.insert(value.clone());
            }
            _ => {}
        }
    }
    for (tp, records) in &mut final_read {
        if !compacted.contains(tp) {
            continue;
        }
        let mut later_keys: BTreeSet<&Bytes> = BTreeSet::new();
        let mut replaced: Vec<Offset> = Vec::new();
        for (o, v) in records.iter().rev() {
            let Some(k) = v.as_ref().and_then(|v| keys.get(v)) else {
                continue;
            };
            if !later_keys.insert(k) {
                replaced.push(*o);
            }
        }
        for o in replaced {
            records.remove(&o);
        }
    }
    let acknowledged = &acknowledged;
    let mut report = DeliveryReport::default();
    for g in groups {
        let mut out = GroupDelivery {
            group: g.group.clone(),
            ..GroupDelivery::default()
        };
        let filtered;
        let read = if g.hidden.is_empty() {
            &final_read
        } else {
            filtered = final_read
                .iter()
                .map(|(tp, records)| {
                    let kept = records
                        .iter()
                        .filter(|(o, _)| !g.hidden.contains(&(tp.clone(), **o)))
                        .map(|(o, v)| (*o, v.clone()))
                        .collect();
                    (tp.clone(), kept)
                })
                .collect();
            &filtered
        };
        analyse_group(
            log,
            g,
            read,
            acknowledged,
            &mut out,
            &mut report.delivery_findings,
        );
        report.consumed += out.consumed;
        report.unseen += out.unseen;
        report.duplicates_delivered += out.duplicates_delivered;
        report.nonmonotonic_polls += out.nonmonotonic_polls;
        report.poll_skips += out.poll_skips;
        report.delivery_by_group.push(out);
    }
    report
}

fn keep(findings: &mut Vec<DeliveryFinding>, f: DeliveryFinding) {
    if findings.iter().filter(|x| x.kind == f.kind).count() < KEEP {
        findings.push(f);
    }
}

fn analyse_group(
    log: &[Logged],
    g: &DeclaredGroup,
    final_read: &VecMap<TopicPartition, BTreeMap<Offset, Option<Bytes>>>,
    acknowledged: &BTreeSet<Bytes>,
    out: &mut GroupDelivery,
    findings: &mut Vec<DeliveryFinding>,
) {
    let name: VecMap<ClientId, &str> = g
        .consumers
        .iter()
        .map(|(id, n)| (*id, n.as_str()))
        .collect();
    // (partition, offset) -> the members that processed it, in order.
    let mut processed: BTreeMap<(TopicPartition, Offset), (Option<Bytes>, Vec<String>)> =
        BTreeMap::new();
    let mut last: LastPolled = VecMap::new();
    // A restarted consumer is a new session of the same name: "c1", then "c1 (session 2)".
    let mut sessions: VecMap<ClientId, u32> = VecMap::new();
    let label = |client: ClientId, session: u32| {
        if session == 0 {
            name[&client].to_string()
        } else {
            format!("{} (session {})", name[&client], session + 1)
        }
    };
    let finding =
        |kind: &str, tp: &TopicPartition, offset: Offset, value: Option<&Bytes>| DeliveryFinding {
            kind: kind.into(),
            group: g.group.clone(),
            topic: tp.topic.to_string(),
            partition: tp.partition,
            offset: offset.0,
            value: value.map(ToString::to_string),
            members: Vec::new(),
            time_ms: None,
            detail: String::new(),
        };
    for entry in log {
        let NodeId::Client(client) = entry.node else {
            continue;
        };
        if !name.contains_key(&client) {
            continue;
        }
        let session = sessions.get(&client).copied().unwrap_or(0);
        let member = label(client, session);
        let event = match &entry.event {
            WorldEvent::Crashed { .. } => {
                // A new process starts from the committed offsets.
                last.retain(|(c, _), _| *c != client);
                *sessions.entry(client).or_default() += 1;
                continue;
            }
            WorldEvent::Node(e) => e,
            _ => continue,
        };
        match event {
            Event::PartitionsAssigned { partitions, .. }
            | Event::PartitionsRevoked { partitions, .. }
            | Event::PartitionsLost { partitions, .. }
            | Event::PositionsRewound { partitions } => {
                for tp in partitions {
                    last.remove(&(client, tp.clone()));
                }
            }
            Event::OffsetReset {
                topic_partition, ..
            }
            | Event::TruncationDetected {
                topic_partition, ..
            } => {
                last.remove(&(client, topic_partition.clone()));
            }
            Event::RecordsProcessed {
                topic_partition,
                records,
            } => {
                for (o, v) in records {
                    let e = processed
                        .entry((topic_partition.clone(), *o))
                        .or_insert_with(|| (v.clone(), Vec::new()));
                    e.1.push(member.clone());
                }
            }
            Event::RecordsPolled {
                topic_partition,
                records,
            } => {
                let tp = topic_partition;
                let held = final_read.get(tp);
                let mut previous = last.get(&(client, tp.clone())).copied();
                for (o, v) in records {
                    if let Some(p) = previous {
                        if *o <= p {
                            out.nonmonotonic_polls += 1;
                            let mut f = finding("nonmonotonic poll", tp, *o, v.as_ref());
                            f.members = vec![member.clone()];
                            f.time_ms = Some(entry.time.0);
                            f.detail = format!(
                                "{member} polled offset {o} of {tp} after offset {p}, with no rebalance, reset or restart in between"
                            );
                            keep(findings, f);
                        } else if let Some(held) = held {
                            let skipped: Vec<Offset> =
                                held.range(p.next()..*o).map(|(o, _)| *o).collect();
                            if let Some(first) = skipped.first() {
                                out.poll_skips += 1;
                                let mut f = finding("poll skip", tp, *first, None);
                                f.members = vec![member.clone()];
                                f.time_ms = Some(entry.time.0);
                                f.detail = format!(
                                    "{member} polled offset {o} of {tp} right after offset {p}, skipping {} record(s) the log holds",
                                    skipped.len()
                                );
                                keep(findings, f);
                            }
                        }
                    }
                    previous = Some(*o);
                }
                if let Some(p) = previous {
                    last.insert((client, tp.clone()), p);
                }
            }
            _ => {}
        }
    }
    out.consumed = processed.len() as u64;
    for ((tp, o), (v, by)) in &processed {
        if by.len() > 1 {
            out.duplicates_delivered += 1;
            let mut f = finding("duplicate delivery", tp, *o, v.as_ref());
            f.members = by.clone();
            f.detail = format!(
                "offset {o} of {tp} was processed {} times, by {}",
                by.len(),
                f.members.join(", ")
            );
            keep(findings, f);
        }
    }
    // Unseen: acknowledged records the final read holds in the group's topics, never processed
    // (a record processed at another offset, after a producer retry wrote it twice, counts as
    // seen).
    // Filled by inserts rather than `collect`, which would build the set with a sort of its own
    // in the classroom's WebAssembly bundle.
    let mut seen_values: BTreeSet<&Bytes> = BTreeSet::new();
    for v in processed.values().filter_map(|(v, _)| v.as_ref()) {
        seen_values.insert(v);
    }
    for (tp, records) in final_read {
        if !g.topics.contains(&tp.topic) {
            continue;
        }
        for (o, v) in records {
            let Some(v) = v else { continue };
            if !acknowledged.contains(v)
                || processed.contains_key(&(tp.clone(), *o))
                || seen_values.contains(v)
            {
                continue;
            }
            out.unseen += 1;
            let mut f = finding("unseen", tp, *o, Some(v));
            f.detail = format!(
                "{v} at offset {o} of {tp} was acknowledged and is in the log, but no member of group {} processed it",
                g.group
            );
            keep(findings, f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gregor_core::time::Instant;

    const READER: ClientId = ClientId(9);
    const C1: ClientId = ClientId(1);
    const C2: ClientId = ClientId(2);

    fn tp() -> TopicPartition {
        TopicPartition::new("t", 0)
    }

    fn records(offsets: &[u64]) -> Vec<(Offset, Option<Bytes>)> {
        offsets
            .iter()
            .map(|&o| (Offset(o), Some(Bytes::from(format!("p1-{o}")))))
            .collect()
    }

    fn at(t: u64, node: ClientId, event: Event) -> Logged {
        Logged {
            time: Instant(t),
            node: NodeId::Client(node),
            event: WorldEvent::Node(event),
        }
    }

    fn polled(t: u64, node: ClientId, offsets: &[u64]) -> Logged {
        at(
            t,
            node,
            Event::RecordsPolled {
                topic_partition: tp(),
                records: records(offsets),
            },
        )
    }

    fn processed(t: u64, node: ClientId, offsets: &[u64]) -> Logged {
        at(
            t,
            node,
            Event::RecordsProcessed {
                topic_partition: tp(),
                records: records(offsets),
            },
        )
    }

    /// Offsets 0..10 acknowledged and in the final read.
    fn history() -> Vec<Logged> {
        let mut log: Vec<Logged> = (0..10)
            .map(|o| {
                at(
                    0,
                    ClientId(0),
                    Event::RecordAcknowledged {
                        value: Bytes::from(format!("p1-{o}")),
                        topic_partition: tp(),
                        offset: Some(Offset(o)),
                    },
                )
            })
            .collect();
        log.push(polled(100_000, READER, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
        log
    }

    fn groups() -> Vec<DeclaredGroup> {
        vec![DeclaredGroup {
            group: "g".into(),
            consumers: vec![(C1, "c1".into()), (C2, "c2".into())],
            topics: [gregor_core::ids::TopicName::from("t")]
                .into_iter()
                .collect(),
            hidden: BTreeSet::new(),
        }]
    }

    #[test]
    fn a_clean_history_has_no_findings() {
        let mut log = vec![
            polled(1, C1, &[0, 1, 2, 3, 4]),
            processed(2, C1, &[0, 1, 2, 3, 4]),
            polled(3, C1, &[5, 6, 7, 8, 9]),
            processed(4, C1, &[5, 6, 7, 8, 9]),
        ];
        log.extend(history());
        let r = analyse(&log, &groups(), READER, &VecSet::new());
        assert_eq!(r.consumed, 10);
        assert_eq!(
            (
                r.unseen,
                r.duplicates_delivered,
                r.nonmonotonic_polls,
                r.poll_skips
            ),
            (0, 0, 0, 0),
            "{:?}",
            r.delivery_findings
        );
    }

    #[test]
    fn redelivery_after_a_rebalance_counts_as_processed_twice_and_not_as_a_bad_poll() {
        let mut log = vec![
            polled(1, C1, &[0, 1, 2, 3, 4]),
            processed(2, C1, &[0, 1, 2]),
            at(
                3,
                C1,
                Event::PartitionsRevoked {
                    group: "g".into(),
                    member_id: "c1-x".into(),
                    partitions: vec![tp()],
                },
            ),
            polled(4, C2, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
            processed(5, C2, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
        ];
        log.extend(history());
        let r = analyse(&log, &groups(), READER, &VecSet::new());
        assert_eq!(r.duplicates_delivered, 3);
        assert_eq!((r.nonmonotonic_polls, r.poll_skips, r.unseen), (0, 0, 0));
        let f = &r.delivery_findings[0];
        assert_eq!((f.kind.as_str(), f.offset), ("duplicate delivery", 0));
        assert_eq!(f.members, vec!["c1", "c2"]);
    }

    #[test]
    fn a_crash_starts_a_new_session_whose_polls_may_go_back() {
        let mut log = vec![
            polled(1, C1, &[0, 1, 2]),
            processed(2, C1, &[0, 1, 2]),
            Logged {
                time: Instant(3),
                node: NodeId::Client(C1),
                event: WorldEvent::Crashed {
                    power_loss: false,
                    lost: Vec::new(),
                },
            },
            polled(4, C1, &[1, 2, 3, 4, 5, 6, 7, 8, 9]),
            processed(5, C1, &[1, 2, 3, 4, 5, 6, 7, 8, 9]),
        ];
        log.extend(history());
        let r = analyse(&log, &groups(), READER, &VecSet::new());
        assert_eq!(r.nonmonotonic_polls, 0);
        assert_eq!(r.duplicates_delivered, 2);
        let f = &r.delivery_findings[0];
        assert_eq!(f.members, vec!["c1", "c1 (session 2)"]);
    }

    #[test]
    fn polls_that_go_back_or_jump_without_a_rebalance_are_reported() {
        let mut log = vec![
            polled(1, C1, &[0, 1, 2, 3]),
            polled(2, C1, &[2, 3]),
            polled(3, C1, &[7, 8, 9]),
            processed(4, C1, &[0, 1, 2, 3, 7, 8, 9]),
        ];
        log.extend(history());
        let r = analyse(&log, &groups(), READER, &VecSet::new());
        assert_eq!(r.nonmonotonic_polls, 1, "one poll went back from 3 to 2");
        assert_eq!(r.poll_skips, 1, "4, 5 and 6 jumped over");
        assert_eq!(r.unseen, 3, "4, 5 and 6 never processed");
        let skip = r
            .delivery_findings
            .iter()
            .find(|f| f.kind == "poll skip")
            .expect("a skip");
        assert_eq!(skip.offset, 4);
        assert!(
            skip.detail.contains("skipping 3 record(s)"),
            "{}",
            skip.detail
        );
    }

    #[test]
    fn an_offset_reset_is_not_a_skip() {
        let mut log = vec![
            polled(1, C1, &[0, 1]),
            at(
                2,
                C1,
                Event::OffsetReset {
                    topic_partition: tp(),
                    offset: Offset(5),
                    out_of_range: Some(Offset(2)),
                },
            ),
            polled(3, C1, &[5, 6, 7, 8, 9]),
            processed(4, C1, &[0, 1, 5, 6, 7, 8, 9]),
        ];
        log.extend(history());
        let r = analyse(&log, &groups(), READER, &VecSet::new());
        assert_eq!(r.poll_skips, 0);
        assert_eq!(r.unseen, 3);
    }

    /// A `read_committed` group never returns records of aborted transactions (KAFKA.md 4.2):
    /// jumping over them is no skip and leaves nothing unseen; the same jump over records it
    /// could have read is one.
    #[test]
    fn records_hidden_from_a_read_committed_group_are_not_skipped() {
        let mut log = vec![
            polled(1, C1, &[0, 1, 2, 3]),
            polled(3, C1, &[7, 8, 9]),
            processed(4, C1, &[0, 1, 2, 3, 7, 8, 9]),
        ];
        log.extend(history());
        let mut g = groups();
        g[0].hidden = [4, 5, 6].into_iter().map(|o| (tp(), Offset(o))).collect();
        let r = analyse(&log, &g, READER, &VecSet::new());
        assert_eq!((r.poll_skips, r.unseen), (0, 0));
        let r = analyse(&log, &groups(), READER, &VecSet::new());
        assert_eq!((r.poll_skips, r.unseen), (1, 3));
    }
}
