//! The history oracle: after a run, every send, acknowledgement, failure and poll is compared
//! with a final read of every partition (Jepsen's Kafka checker, KAFKA.md 7.2).
//!
//! * Lost writes: acknowledged, yet absent from the final read, at an offset at or above the
//!   partition's final log start offset. An acknowledged record below it was deleted by
//!   retention (KAFKA.md 6.2) and is counted apart. The oracle cannot tell a record lost before
//!   retention passed its offset from one retention deleted: the invariant checker, which
//!   watches every step, sees such losses when they happen.
//!   On a compacted topic, an acknowledged record absent from the final read whose key was
//!   acknowledged again at a later offset was removed by the cleaner (KAFKA.md 6.3): counted
//!   apart too, while the latest record of each key must be there.
//! * Duplicates: one record at more than one offset.
//! * Inconsistent offsets: an offset holding a different record than the one acknowledged there,
//!   or than another poll saw there.
//! * Nonmonotonic sends: a producer's later record acknowledged at a lower offset of the same
//!   partition than an earlier one.
//! * Failed writes present: a send that failed with a definite error, yet in the log.
//!
//! The oracle counts and explains; whether a count is a bug depends on the configuration, and the
//! runner decides that. Each lost record is explained from what the cluster did afterwards
//! (elections, truncations), in words.

use crate::world::{Logged, WorldEvent};
use gregor_core::bytes::Bytes;
use gregor_core::config::Acks;
use gregor_core::error::ErrorCode;
use gregor_core::ids::{BrokerId, ClientId, LeaderEpoch, NodeId, Offset, TopicPartition};
use gregor_core::map::VecMap;
use gregor_core::metadata::ChangeReason;
use gregor_core::node::Event;
use gregor_core::time::Instant;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What the oracle needs to know of a producer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducerInfo {
    /// Its name.
    pub name: String,
    /// Its acks.
    pub acks: Acks,
    /// Whether idempotence is on.
    pub idempotent: bool,
}

/// A lost record, explained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LostRecord {
    /// The record's value.
    pub value: String,
    /// Its key, if any.
    pub key: Option<String>,
    /// The producer.
    pub producer: String,
    /// Its partition.
    pub topic: String,
    /// The partition number.
    pub partition: u32,
    /// The offset it was acknowledged at (none with acks=0).
    pub offset: Option<u64>,
    /// When it was acknowledged (ms).
    pub acknowledged_at_ms: u64,
    /// The leader epoch it was acknowledged in, if known.
    pub leader_epoch: Option<u32>,
    /// Why it is gone, in words.
    pub explanation: String,
}

/// Lost records that share a partition, a leader epoch and a cause, for a short report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LostGroup {
    /// The partition.
    pub topic: String,
    /// The partition number.
    pub partition: u32,
    /// How many records.
    pub count: u64,
    /// The lowest acknowledged offset.
    pub first_offset: Option<u64>,
    /// The highest acknowledged offset.
    pub last_offset: Option<u64>,
    /// The value at the lowest offset.
    pub first_value: String,
    /// The value at the highest offset.
    pub last_value: String,
    /// When the first was acknowledged (ms).
    pub from_ms: u64,
    /// When the last was acknowledged (ms).
    pub to_ms: u64,
    /// Who acknowledged them, in words.
    pub acknowledged_by: String,
    /// What happened afterwards, in words.
    pub cause: String,
}

/// An offset holding two different records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InconsistentOffset {
    /// The partition.
    pub topic: String,
    /// The partition number.
    pub partition: u32,
    /// The offset.
    pub offset: u64,
    /// The values seen there.
    pub values: Vec<String>,
}

/// The oracle's findings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HistoryReport {
    /// Records the applications sent.
    pub sent: u64,
    /// Records acknowledged.
    pub acknowledged: u64,
    /// Records whose send failed.
    pub failed: u64,
    /// Failed records whose outcome was unknown (they may be in the log).
    pub failed_indefinite: u64,
    /// Records read by the final read.
    pub read: u64,
    /// Whether the final read reached every partition's high watermark.
    pub final_read_complete: bool,
    /// Acknowledged records absent from the final read.
    pub lost_acknowledged: u64,
    /// Acknowledged records below their partition's final log start offset: retention deleted
    /// them, which is not a loss.
    pub deleted_by_retention: u64,
    /// Acknowledged records absent from the final read of a compacted partition, where a
    /// record of the same key was acknowledged at a later offset: the cleaner may remove them,
    /// which is not a loss.
    pub compacted_away: u64,
    /// Records present at more than one offset.
    pub duplicates: u64,
    /// Offsets holding more than one record.
    pub inconsistent_offsets: u64,
    /// Later sends acknowledged at a lower offset than earlier ones.
    pub nonmonotonic_sends: u64,
    /// Sends that failed with a definite error, yet are in the log.
    pub failed_but_present: u64,
    /// The lost records, explained (at most 50).
    pub lost: Vec<LostRecord>,
    /// Every lost record, grouped by partition, leader and cause.
    pub lost_groups: Vec<LostGroup>,
    /// Lost records by producer name.
    pub lost_by_producer: VecMap<String, u64>,
    /// Duplicated values by producer name.
    pub duplicates_by_producer: VecMap<String, u64>,
    /// Nonmonotonic sends by producer name.
    pub nonmonotonic_by_producer: VecMap<String, u64>,
    /// Of the duplicated values, those an idempotent producer wrote again under a bumped epoch
    /// after an attempt with an unknown outcome (the producer renumbered the batch, so the broker
    /// could not know it for a retry; Kafka's producer does the same), by producer name.
    pub renumbered_duplicates_by_producer: VecMap<String, u64>,
    /// Of the nonmonotonic sends, those whose earlier record was acknowledged at the offset of
    /// such a renumbered second copy, by producer name.
    pub renumbered_nonmonotonic_by_producer: VecMap<String, u64>,
    /// Records found at several offsets because of such a renumbering (at most 50): value and
    /// offsets.
    pub renumbered_duplicated: Vec<(String, Vec<u64>)>,
    /// Inconsistent offsets (at most 50).
    pub inconsistent: Vec<InconsistentOffset>,
    /// Records found at several offsets (at most 50): value and offsets.
    pub duplicated: Vec<(String, Vec<u64>)>,
    /// Every lost acknowledged record: partition, acknowledged offset, value (for telling
    /// the losses the configuration allows from the others).
    #[serde(skip)]
    pub lost_places: Vec<(TopicPartition, Option<Offset>, String)>,
    /// Every inconsistent offset.
    #[serde(skip)]
    pub inconsistent_places: Vec<(TopicPartition, Offset)>,
}

#[derive(Clone, Debug)]
struct SentRecord {
    producer: ClientId,
    index: u64,
    key: Option<Bytes>,
    tp: TopicPartition,
    acked: Option<(Instant, Option<Offset>)>,
    failed: Option<(ErrorCode, bool)>,
}

/// What the oracle needs to know of a partition's log when the final read read it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FinalLog {
    /// Its log start offset: retention deleted what is below.
    pub log_start: Offset,
    /// Whether its topic is compacted: the cleaner may have removed records a later record of
    /// the same key replaced.
    pub compacted: bool,
}

/// Runs the oracle over a run's log. `reader` is the client that made the final read;
/// `finals` tells each partition's log as it read it (missing: log start 0, not compacted).
pub fn analyse(
    log: &[Logged],
    producers: &VecMap<ClientId, ProducerInfo>,
    reader: ClientId,
    final_read_complete: bool,
    finals: &VecMap<TopicPartition, FinalLog>,
) -> HistoryReport {
    let mut sent: BTreeMap<Bytes, SentRecord> = BTreeMap::new();
    let mut per_producer: VecMap<ClientId, u64> = VecMap::new();
    // (partition, offset) -> values seen there by any poll; value -> offsets in the final read.
    let mut seen_at: BTreeMap<(TopicPartition, Offset), BTreeSet<Bytes>> = BTreeMap::new();
    let mut final_read: BTreeMap<Bytes, BTreeSet<(TopicPartition, Offset)>> = BTreeMap::new();
    // How many times each record was renumbered under a bumped epoch after an attempt with an
    // unknown outcome: each may have written one more copy.
    let mut renumbered: BTreeMap<Bytes, u64> = BTreeMap::new();
    let mut read = 0;
    for entry in log {
        let WorldEvent::Node(event) = &entry.event else {
            continue;
        };
        let NodeId::Client(client) = entry.node else {
            continue;
        };
        match event {
            Event::RecordSent {
                value,
                key,
                topic_partition,
            } => {
                let index = per_producer.entry(client).or_default();
                sent.insert(
                    value.clone(),
                    SentRecord {
                        producer: client,
                        index: *index,
                        key: key.clone(),
                        tp: topic_partition.clone(),
                        acked: None,
                        failed: None,
                    },
                );
                *index += 1;
            }
            Event::RecordAcknowledged { value, offset, .. } => {
                if let Some(r) = sent.get_mut(value) {
                    r.acked = Some((entry.time, *offset));
                }
            }
            Event::InFlightBatchRenumbered { values, .. } => {
                for v in values {
                    *renumbered.entry(v.clone()).or_default() += 1;
                }
            }
            Event::RecordFailed {
                value,
                error,
                definite,
                ..
            } => {
                if let Some(r) = sent.get_mut(value) {
                    r.failed = Some((*error, *definite));
                }
            }
            Event::RecordsPolled {
                topic_partition,
                records,
            } => {
                for (offset, value) in records {
                    let Some(v) = value else { continue };
                    seen_at
                        .entry((topic_partition.clone(), *offset))
                        .or_default()
                        .insert(v.clone());
                    if client == reader {
                        read += 1;
                        final_read
                            .entry(v.clone())
                            .or_default()
                            .insert((topic_partition.clone(), *offset));
                    }
                }
            }
            _ => {}
        }
    }
    let name = |c: ClientId| {
        producers
            .get(&c)
            .map_or_else(|| format!("client-{c}"), |p| p.name.clone())
    };
    // The latest acknowledged offset of each key of each partition.
    let mut latest_acked: BTreeMap<(TopicPartition, Bytes), Offset> = BTreeMap::new();
    for r in sent.values() {
        if let (Some((_, Some(o))), Some(k)) = (r.acked, &r.key) {
            let latest = latest_acked.entry((r.tp.clone(), k.clone())).or_insert(o);
            *latest = (*latest).max(o);
        }
    }
    let mut report = HistoryReport {
        sent: sent.len() as u64,
        read,
        final_read_complete,
        ..HistoryReport::default()
    };
    for (value, r) in &sent {
        if r.acked.is_some() {
            report.acknowledged += 1;
        }
        if let Some((_, definite)) = r.failed {
            report.failed += 1;
            if !definite {
                report.failed_indefinite += 1;
            } else if final_read.contains_key(value) {
                report.failed_but_present += 1;
            }
        }
        let deleted = |o: Option<Offset>| {
            o.is_some_and(|o| finals.get(&r.tp).is_some_and(|f| o < f.log_start))
        };
        // KAFKA.md 6.3: the cleaner keeps at least the latest record of every key, so an
        // acknowledged record is allowed to be gone when a record of its key was acknowledged
        // at a later offset of the same compacted partition (which is itself checked).
        let superseded = |o: Option<Offset>| {
            o.zip(r.key.as_ref()).is_some_and(|(o, k)| {
                finals.get(&r.tp).is_some_and(|f| f.compacted)
                    && latest_acked
                        .get(&(r.tp.clone(), k.clone()))
                        .is_some_and(|&latest| latest > o)
            })
        };
        if let Some((_, offset)) = r.acked
            && !final_read.contains_key(value)
            && deleted(offset)
        {
            report.deleted_by_retention += 1;
        } else if let Some((_, offset)) = r.acked
            && !final_read.contains_key(value)
            && superseded(offset)
        {
            report.compacted_away += 1;
        } else if let Some((at, offset)) = r.acked
            && !final_read.contains_key(value)
        {
            report.lost_acknowledged += 1;
            report
                .lost_places
                .push((r.tp.clone(), offset, value.to_string()));
            *report.lost_by_producer.entry(name(r.producer)).or_default() += 1;
            let (epoch, by, cause) = explain(log, &r.tp, offset, at);
            add_to_group(
                &mut report.lost_groups,
                &r.tp,
                offset,
                value,
                at,
                &by,
                &cause,
            );
            if report.lost.len() < 50 {
                let at_text = offset.map_or_else(
                    || "with acks=0 (offset unknown)".to_string(),
                    |o| format!("at offset {o}"),
                );
                let explanation =
                    format!("acknowledged {at_text} of {} at {at}{by}; {cause}", r.tp);
                report.lost.push(LostRecord {
                    value: value.to_string(),
                    key: r.key.as_ref().map(ToString::to_string),
                    producer: name(r.producer),
                    topic: r.tp.topic.to_string(),
                    partition: r.tp.partition,
                    offset: offset.map(|o| o.0),
                    acknowledged_at_ms: at.0,
                    leader_epoch: epoch.map(|e| e.0),
                    explanation,
                });
            }
        }
        if let Some((_, Some(offset))) = r.acked {
            seen_at
                .entry((r.tp.clone(), offset))
                .or_default()
                .insert(value.clone());
        }
    }
    for (value, places) in &final_read {
        if places.len() > 1 {
            report.duplicates += 1;
            if let Some(r) = sent.get(value) {
                *report
                    .duplicates_by_producer
                    .entry(name(r.producer))
                    .or_default() += 1;
                let copies = renumbered.get(value).copied().unwrap_or(0);
                if places.len() as u64 <= 1 + copies {
                    *report
                        .renumbered_duplicates_by_producer
                        .entry(name(r.producer))
                        .or_default() += 1;
                    if report.renumbered_duplicated.len() < 50 {
                        report
                            .renumbered_duplicated
                            .push((value.to_string(), places.iter().map(|(_, o)| o.0).collect()));
                    }
                }
            }
            if report.duplicated.len() < 50 {
                report
                    .duplicated
                    .push((value.to_string(), places.iter().map(|(_, o)| o.0).collect()));
            }
        }
    }
    for ((tp, offset), values) in &seen_at {
        if values.len() > 1 {
            report.inconsistent_offsets += 1;
            report.inconsistent_places.push((tp.clone(), *offset));
            if report.inconsistent.len() < 50 {
                report.inconsistent.push(InconsistentOffset {
                    topic: tp.topic.to_string(),
                    partition: tp.partition,
                    offset: offset.0,
                    values: values.iter().map(ToString::to_string).collect(),
                });
            }
        }
    }
    // Nonmonotonic sends: per producer and partition, in send order.
    let mut order: VecMap<(ClientId, TopicPartition), Vec<Acked>> = VecMap::new();
    for (value, r) in &sent {
        if let Some((_, Some(offset))) = r.acked {
            order
                .entry((r.producer, r.tp.clone()))
                .or_default()
                .push((r.index, offset, value));
        }
    }
    for ((producer, _), mut acks) in order {
        gregor_core::sort::sort(&mut acks);
        let back: Vec<&[Acked]> = acks.windows(2).filter(|w| w[1].1 < w[0].1).collect();
        let n = back.len() as u64;
        if n > 0 {
            report.nonmonotonic_sends += n;
            *report
                .nonmonotonic_by_producer
                .entry(name(producer))
                .or_default() += n;
            // A renumbered batch is acknowledged at its second copy's offset, after the records
            // sent after it.
            let renumbered_back = back
                .iter()
                .filter(|w| renumbered.contains_key(w[0].2))
                .count() as u64;
            if renumbered_back > 0 {
                *report
                    .renumbered_nonmonotonic_by_producer
                    .entry(name(producer))
                    .or_default() += renumbered_back;
            }
        }
    }
    report
}

/// An acknowledged send: its index in the producer's send order, its offset and its value.
type Acked<'a> = (u64, Offset, &'a Bytes);

/// Adds a lost record to the group of its partition, leader and cause (groups are kept in the
/// order their first record was met, which is offset order within a partition).
fn add_to_group(
    groups: &mut Vec<LostGroup>,
    tp: &TopicPartition,
    offset: Option<Offset>,
    value: &Bytes,
    at: Instant,
    by: &str,
    cause: &str,
) {
    let o = offset.map(|o| o.0);
    if let Some(g) = groups.iter_mut().find(|g| {
        g.topic == tp.topic.as_str()
            && g.partition == tp.partition
            && g.acknowledged_by == by
            && g.cause == cause
    }) {
        g.count += 1;
        if o < g.first_offset || g.first_offset.is_none() {
            g.first_offset = o;
            g.first_value = value.to_string();
        }
        if o > g.last_offset {
            g.last_offset = o;
            g.last_value = value.to_string();
        }
        g.from_ms = g.from_ms.min(at.0);
        g.to_ms = g.to_ms.max(at.0);
        return;
    }
    groups.push(LostGroup {
        topic: tp.topic.to_string(),
        partition: tp.partition,
        count: 1,
        first_offset: o,
        last_offset: o,
        first_value: value.to_string(),
        last_value: value.to_string(),
        from_ms: at.0,
        to_ms: at.0,
        acknowledged_by: by.to_string(),
        cause: cause.to_string(),
    });
}

/// Why an acknowledged record at `offset` of `tp` is gone: who led when it was acknowledged
/// (`" by leader broker 1 in epoch 0"`, or empty), and the elections and truncations after that
/// which left it out.
fn explain(
    log: &[Logged],
    tp: &TopicPartition,
    offset: Option<Offset>,
    acked_at: Instant,
) -> (Option<LeaderEpoch>, String, String) {
    let mut leader: Option<(BrokerId, LeaderEpoch)> = None;
    for e in log.iter().take_while(|e| e.time <= acked_at) {
        if let (
            WorldEvent::Node(Event::BecameLeader {
                topic_partition,
                leader_epoch,
                ..
            }),
            NodeId::Broker(b),
        ) = (&e.event, e.node)
            && topic_partition == tp
        {
            leader = Some((b, *leader_epoch));
        }
    }
    let by = leader.map_or_else(String::new, |(b, e)| {
        format!(" by leader broker {b} in epoch {e}")
    });
    let mut parts = Vec::new();
    for e in log.iter().filter(|e| e.time > acked_at) {
        if let (
            WorldEvent::Crashed {
                power_loss: true,
                lost,
            },
            NodeId::Broker(b),
        ) = (&e.event, e.node)
            && lost.iter().any(|l| &l.topic_partition == tp)
        {
            parts.push(format!(
                "broker {b} lost power and its unflushed records of {tp}"
            ));
        }
        let WorldEvent::Node(event) = &e.event else {
            continue;
        };
        match (event, e.node) {
            (
                Event::PartitionChanged {
                    topic_partition,
                    leader: Some(l),
                    leader_changed: true,
                    leader_epoch,
                    unclean,
                    reason,
                    ..
                },
                _,
            ) if topic_partition == tp => {
                let how = if *unclean {
                    "uncleanly, from outside the ISR".to_string()
                } else {
                    match reason {
                        ChangeReason::BrokerFenced { broker } => {
                            format!("after broker {broker} was fenced")
                        }
                        ChangeReason::BrokerUnfenced { broker } => {
                            format!("when broker {broker} came back")
                        }
                        ChangeReason::PreferredElection => "by a preferred election".to_string(),
                        ChangeReason::UncleanElection => "by an unclean election".to_string(),
                        ChangeReason::AlterPartition => "on an ISR change".to_string(),
                    }
                };
                parts.push(format!(
                    "broker {l} was elected leader in epoch {leader_epoch} {how}"
                ));
            }
            (
                Event::BecameLeader {
                    topic_partition,
                    leader_epoch,
                    log_end_offset,
                    ..
                },
                NodeId::Broker(b),
            ) if topic_partition == tp && offset.is_some_and(|o| *log_end_offset <= o) => {
                parts.push(format!("broker {b} began epoch {leader_epoch} with its log ending at {log_end_offset}, before the record"));
            }
            (
                Event::Truncated {
                    topic_partition,
                    from,
                    to,
                    ..
                },
                NodeId::Broker(b),
            ) if topic_partition == tp && offset.is_none_or(|o| *to <= o && o < *from) => {
                parts.push(format!(
                    "broker {b} truncated its log from {from} to {to} to match the leader"
                ));
            }
            _ => {}
        }
        if parts.len() >= 6 {
            break;
        }
    }
    let cause = if parts.is_empty() {
        "no later leader or final read had it".to_string()
    } else {
        format!("then {}", parts.join("; "))
    };
    (leader.map(|(_, e)| e), by, cause)
}
