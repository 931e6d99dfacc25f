//! Turning a run into words: the story of what happened (elections, ISR changes, fencing,
//! truncations, errors, faults) and the human-readable report `gregor run` prints.

use crate::checker::delivery::{finding_runs, listed_in_part};
use crate::runner::{RunReport, StoryKind, StoryLine};
use crate::scenario::Scenario;
use crate::world::{Logged, WorldEvent};
use gregor_core::error::ErrorCode;
use gregor_core::ids::NodeId;
use gregor_core::map::VecSet;
use gregor_core::metadata::ChangeReason;
use gregor_core::node::{Event, IsrChangeKind};
use gregor_core::protocol::Message;
use gregor_core::time::Instant;
use std::fmt::Write as _;

/// How the story names a node: `broker 2`, `controller`, or a client by its scenario name.
pub fn name_of(node: NodeId, scenario: &Scenario) -> String {
    match node {
        NodeId::Broker(b) => format!("broker {b}"),
        NodeId::Controller => "controller".into(),
        NodeId::Admin => "admin".into(),
        NodeId::Client(id) => {
            let (pids, cids, _) = crate::runner::client_ids(scenario);
            let producer = pids.iter().position(|&p| p == id);
            let consumer = cids.iter().position(|&c| c == id);
            match (producer, consumer) {
                (Some(i), _) => scenario.producers[i].name.clone(),
                (_, Some(i)) => scenario.consumers[i].name.clone(),
                _ => "final reader".into(),
            }
        }
    }
}

fn list(ids: &[gregor_core::ids::BrokerId]) -> String {
    format!(
        "[{}]",
        ids.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    )
}

/// The notable events of a run, in order, in words. Repetitive events (the same produce error
/// again and again) are told once each.
pub fn story(log: &[Logged], scenario: &Scenario) -> Vec<StoryLine> {
    let mut lines = Vec::new();
    Storyteller::default().tell(log, scenario, &mut lines);
    lines
}

/// Tells a growing log in words a piece at a time, as [`story`] tells it whole: it remembers
/// what it told (repetitive events are told once) and how far it read. The classroom tells each
/// frame's new entries this way instead of the whole log again.
#[derive(Clone, Debug, Default)]
pub struct Storyteller {
    told: VecSet<String>,
    refused: VecSet<NodeId>,
    seen: usize,
}

impl Storyteller {
    /// Appends to `lines` the story of the entries of `log` not told yet. The log must be the
    /// one told before, grown; a new log (a rewound run) needs a new storyteller.
    pub fn tell(&mut self, log: &[Logged], scenario: &Scenario, lines: &mut Vec<StoryLine>) {
        let (told, refused) = (&mut self.told, &mut self.refused);
        for e in &log[self.seen.min(log.len())..] {
            let who = name_of(e.node, scenario);
            let text = match &e.event {
            WorldEvent::Fault(t) if e.node == NodeId::Admin => Some(t.clone()),
            WorldEvent::Fault(t) => Some(format!("{who} {t}")),
            WorldEvent::Crashed { .. } if matches!(e.node, NodeId::Client(_)) => Some(format!("{who} crashed (what it had polled but not processed or committed is gone)")),
            WorldEvent::Crashed { power_loss: false, .. } => Some(format!("{who} crashed (its disk keeps everything)")),
            WorldEvent::Crashed { power_loss: true, lost } => {
                let lost: Vec<String> = lost.iter().map(|l| format!("{} of {}", l.records.len(), l.topic_partition)).collect();
                Some(if lost.is_empty() {
                    format!("{who} lost power; every record was already flushed")
                } else {
                    format!("{who} lost power; unflushed records are gone: {}", lost.join(", "))
                })
            }
            WorldEvent::Admin(m) => match m {
                Message::CreateTopicsResponse(r) => {
                    let bad: Vec<String> = r.results.iter().filter_map(|(t, e)| e.as_ref().map(|(c, m)| format!("{t}: {c} ({m})"))).collect();
                    (!bad.is_empty()).then(|| format!("topic creation failed: {}", bad.join("; ")))
                }
                Message::AlterTopicConfigResponse(r) => r.error.as_ref().map(|(c, m)| format!("config change failed: {c} ({m})")),
                Message::ElectLeadersResponse(r) => Some(
                    r.results
                        .iter()
                        .map(|(tp, e)| match e {
                            None => format!("election for {tp} done"),
                            Some(c) => format!("election for {tp}: {c}"),
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
                _ => None,
            },
            WorldEvent::Node(ev) => match ev {
                Event::BrokerRegistered { broker, epoch } => {
                    refused.remove(&NodeId::Broker(*broker));
                    Some(format!("broker {broker} registered with broker epoch {epoch}"))
                }
                Event::BrokerRegistrationRefused { broker, error } => refused.insert(NodeId::Broker(*broker)).then(|| {
                    format!("controller refused broker {broker}'s registration: {error} (the old incarnation's session is still alive; it retries)")
                }),
                Event::BrokerFenced { broker, reason } => Some(format!("controller fenced broker {broker}: {reason}")),
                Event::BrokerUnfenced { broker } => Some(format!("controller unfenced broker {broker}")),
                Event::TopicCreated { topic, partitions } => Some(format!("topic {topic} created with {partitions} partition(s)")),
                Event::TopicConfigChanged { topic, key, value } => Some(format!("topic {topic}: {key} is now {value}")),
                Event::PartitionChanged { topic_partition, leader, leader_changed, leader_epoch, isr, partition_epoch, unclean, reason } => {
                    let why = match reason {
                        ChangeReason::BrokerFenced { broker } => format!("broker {broker} fenced"),
                        ChangeReason::BrokerUnfenced { broker } => format!("broker {broker} unfenced"),
                        ChangeReason::AlterPartition => "leader's AlterPartition".into(),
                        ChangeReason::PreferredElection => "preferred election".into(),
                        ChangeReason::UncleanElection => "unclean election".into(),
                    };
                    Some(if *leader_changed {
                        match leader {
                            Some(l) if *unclean => format!("{topic_partition}: broker {l} elected leader UNCLEANLY in epoch {leader_epoch} (ISR forced to {}; records it lacks are lost) [{why}]", list(isr)),
                            Some(l) => format!("{topic_partition}: broker {l} elected leader in epoch {leader_epoch}, ISR {} [{why}]", list(isr)),
                            None => format!("{topic_partition}: no leader (epoch {leader_epoch}); the ISR keeps {} and waits for it [{why}]", list(isr)),
                        }
                    } else {
                        format!("{topic_partition}: ISR is now {} (partition epoch {partition_epoch}) [{why}]", list(isr))
                    })
                }
                Event::BecameLeader { topic_partition, leader_epoch, log_end_offset, high_watermark } if leader_epoch.0 > 0 => {
                    Some(format!("{who} leads {topic_partition} in epoch {leader_epoch} from log end {log_end_offset} (HW {high_watermark})"))
                }
                Event::Truncated { topic_partition, from, to, diverging_epoch, leader_end_offset } => Some(format!(
                    "{who} truncated {topic_partition} from {from} to {to}: the leader says epoch {diverging_epoch} ends at {leader_end_offset}"
                )),
                Event::IsrChangeProposed { topic_partition, kind: IsrChangeKind::Shrink, isr } => {
                    Some(format!("{who} (leader of {topic_partition}) proposes shrinking the ISR to {}: followers fell behind for replica.lag.time.max.ms", list(isr)))
                }
                Event::IsrChangeRefused { topic_partition, error } => Some(format!("controller refused {who}'s ISR change for {topic_partition}: {error}")),
                Event::UnflushedRecordsLost { topic_partition, records, log_end_offset } => Some(format!(
                    "{who} recovered {topic_partition} after the power loss: {records} unflushed record(s) missing, log ends at {log_end_offset}"
                )),
                Event::LogCleaned { topic_partition, dirty_percent, cleaning: c } => Some(format!(
                    "{who} cleaned {topic_partition} up to offset {} ({dirty_percent}% dirty from offset {}): {} record(s) with a newer record of their key removed{}{}; {} segment(s) of {} bytes became {} of {} bytes",
                    c.end_offset.0.saturating_sub(1),
                    c.first_dirty_offset,
                    c.records_removed,
                    if c.tombstones_removed > 0 { format!(", {} tombstone(s) past their delete horizon removed", c.tombstones_removed) } else { String::new() },
                    if c.tombstones_stamped > 0 { format!(", {} tombstone(s) given a delete horizon", c.tombstones_stamped) } else { String::new() },
                    c.segments_before,
                    c.bytes_before,
                    c.segments_after,
                    c.bytes_after,
                )),
                Event::SegmentsDeleted { topic_partition, reason, segments, bytes, from, to, rolled, log_start_offset } => Some(format!(
                    "{who} deleted {segments} segment(s) of {topic_partition} under {} (offsets {from} to {}, {bytes} bytes){}; log start offset {log_start_offset}",
                    reason.name(),
                    to.0.saturating_sub(1),
                    if *rolled { ", rolling a new empty active segment first since every segment qualified" } else { "" }
                )),
                Event::ReplicaOutOfRange { topic_partition, leader, log_end_offset, leader_log_start_offset, leader_log_end_offset, log_end_offset_after, .. } => Some(if log_end_offset > leader_log_end_offset {
                    format!("{who}'s log of {topic_partition} ends at {log_end_offset}, past leader broker {leader}'s log end {leader_log_end_offset}: it truncates to {log_end_offset_after} (OFFSET_OUT_OF_RANGE)")
                } else {
                    format!("{who}'s log of {topic_partition} ends at {log_end_offset}, below leader broker {leader}'s log start offset {leader_log_start_offset} (retention deleted what it lacks): it empties its log and fetches from {log_end_offset_after} (OFFSET_OUT_OF_RANGE)")
                }),
                Event::OffsetReset { topic_partition, offset, out_of_range: Some(position) } => Some(format!(
                    "{who}: position {position} of {topic_partition} is out of range; auto.offset.reset moves it to {offset}"
                )),
                Event::ReplicaFetchFailed { topic_partition, leader, log_end_offset, batch_base_offset, .. } => Some(format!(
                    "{who} stopped fetching {topic_partition} from broker {leader}: the leader's batch holding offset {log_end_offset}, where its log ends, starts at {batch_base_offset}, so the two logs hold different records there; it waits for a new leader epoch (Kafka's markPartitionFailed)"
                )),
                Event::ProducerIdAssigned { producer_id, producer_epoch } => Some(format!("{who} got producer id {producer_id}, epoch {producer_epoch}")),
                Event::TransactionEnded { committed: false, values, producer_epoch, .. } => told.insert(format!("{who}/aborted")).then(|| {
                    format!("{who} aborted a transaction of {} record(s) (epoch {producer_epoch}): read_committed consumers never see them (further aborts not shown)", values.len())
                }),
                Event::PositionsRewound { partitions } => told.insert(format!("{who}/rewound")).then(|| {
                    format!("{who} rewinds {} to the committed offsets: its transaction did not commit, so it consumes those records again (further rewinds not shown)", tps(partitions))
                }),
                Event::TransactionFailed { error, values, .. } => Some(format!(
                    "{who} failed with {error} and was replaced by a new instance; the coordinator decides its open transaction of {} record(s)",
                    values.len()
                )),
                Event::TxnTimedOut { transactional_id, producer_epoch, .. } => Some(format!(
                    "{who} aborts transaction {transactional_id} (epoch {producer_epoch}): open longer than its transaction.timeout.ms; the epoch is bumped, fencing its producer"
                )),
                Event::TxnCoordinatorLoaded { partition, transactions } => Some(format!(
                    "{who} became transaction coordinator for __transaction_state/{partition} ({transactions} transactional id(s) loaded)"
                )),
                Event::ProducerEpochBumped { producer_id, producer_epoch } => Some(format!("{who} bumped its epoch to {producer_epoch} (producer id {producer_id}) to reset sequences")),
                Event::InFlightBatchRenumbered { topic_partition, producer_epoch, values } => told.insert(format!("{who}/renumbered/{topic_partition}")).then(|| {
                    let first = values.first().map_or_else(String::new, ToString::to_string);
                    format!("{who} renumbered a batch of {topic_partition} ({} record(s) from {first}) under epoch {producer_epoch}, though an earlier attempt may have written it: the broker cannot know it for a retry, so it may be written twice (further ones not shown)", values.len())
                }),
                Event::ProduceError { topic_partition, error, broker } => {
                    told.insert(format!("{who}/{error}/{topic_partition}")).then(|| match error {
                        ErrorCode::NetworkException => format!(
                            "{who}: request to broker {broker} for {topic_partition} failed with {error} (connection lost or request.timeout.ms passed; the outcome is unknown; further ones not shown)"
                        ),
                        _ => format!("{who}: broker {broker} answered {error} for {topic_partition} (further ones not shown)"),
                    })
                }
                Event::RecordFailed { value, topic_partition, error, definite } => told.insert(format!("{who}/failed/{error}")).then(|| {
                    let maybe = if *definite { "not written" } else { "may have been written" };
                    format!("{who}: send of {value} to {topic_partition} failed with {error} ({maybe}; further ones not shown)")
                }),
                Event::ConsumerError { topic_partition, error } => {
                    told.insert(format!("{who}/{error}/{topic_partition}")).then(|| format!("{who}: fetch of {topic_partition} failed with {error}"))
                }
                Event::JoinedGroup { group, member_id, generation, leader, protocol } => Some(format!(
                    "{who} joined group {group} as {member_id} in generation {generation}{} (assignor {})",
                    if *leader { ", as leader" } else { "" },
                    protocol.as_deref().unwrap_or("none")
                )),
                Event::PartitionsAssigned { group, generation, partitions, .. } if !partitions.is_empty() => Some(format!(
                    "{who} ({group}, generation {generation}) was assigned {}", tps(partitions)
                )),
                Event::PartitionsRevoked { group, partitions, .. } if !partitions.is_empty() => {
                    Some(format!("{who} ({group}) revoked {}", tps(partitions)))
                }
                Event::PartitionsLost { group, partitions, error, .. } if !partitions.is_empty() => Some(format!(
                    "{who} ({group}) lost {} without committing{}",
                    tps(partitions),
                    error.map_or(String::new(), |e| format!(" ({e})"))
                )),
                Event::LeftGroup { group, reason, .. } => Some(format!("{who} left group {group}: {reason}")),
                Event::GroupStateChanged { group, state, generation } => Some(format!(
                    "{who}: group {group} is {} (generation {generation})", state.name()
                )),
                Event::GroupMemberRemoved { group, member_id, reason } => Some(format!(
                    "{who}: removed {member_id} from group {group}: {reason}"
                )),
                Event::CoordinatorLoaded { partition, groups } => Some(format!(
                    "{who} became coordinator of __consumer_offsets/{partition} ({groups} group(s) loaded)"
                )),
                Event::TruncationDetected { topic_partition, position, end_offset } => Some(format!(
                    "{who}: {topic_partition} was truncated below its position {position}; it resumes at {end_offset} (KIP-320)"
                )),
                Event::CommittedOffsetsUnstable { group, partitions } => told.insert(format!("{who}/unstable")).then(|| {
                    format!("{who}: the committed offsets of {} in {group} are unstable (UNSTABLE_OFFSET_COMMIT: a transaction's offset commit waits for its marker); it asks again (further ones not shown)", tps(partitions))
                }),
                Event::CommitFailed { group, error } => told.insert(format!("{who}/commit/{error}")).then(|| {
                    format!("{who}: offset commit for {group} failed with {error} (further ones not shown)")
                }),
                _ => None,
            },
        };
            if let Some(text) = text {
                let kind = match &e.event {
                    WorldEvent::Fault(_) | WorldEvent::Crashed { .. } => StoryKind::Fault,
                    WorldEvent::Node(Event::PartitionChanged {
                        leader_changed: true,
                        unclean,
                        ..
                    }) => {
                        if *unclean {
                            StoryKind::UncleanElection
                        } else {
                            StoryKind::Election
                        }
                    }
                    _ => StoryKind::Event,
                };
                lines.push(StoryLine {
                    time_ms: e.time.0,
                    kind,
                    text,
                });
            }
        }
        self.seen = log.len();
    }
}

/// Partitions as `orders/0, orders/1`.
fn tps(partitions: &[gregor_core::ids::TopicPartition]) -> String {
    partitions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The report `gregor run` prints for people.
pub fn render(r: &RunReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Scenario: {} ({}), seed {}",
        r.scenario, r.file, r.seed
    );
    let _ = writeln!(out);
    for l in &r.story {
        let _ = writeln!(out, "  {:>10}  {}", Instant(l.time_ms).to_string(), l.text);
    }
    let h = &r.history;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "History: {} sent, {} acknowledged, {} failed ({} with unknown outcome); final read {} record(s){}",
        h.sent,
        h.acknowledged,
        h.failed,
        h.failed_indefinite,
        h.read,
        if h.final_read_complete {
            ""
        } else {
            " (incomplete)"
        }
    );
    let _ = writeln!(
        out,
        "  lost acknowledged: {}   duplicates: {}   inconsistent offsets: {}   nonmonotonic sends: {}   failed yet present: {}",
        h.lost_acknowledged,
        h.duplicates,
        h.inconsistent_offsets,
        h.nonmonotonic_sends,
        h.failed_but_present
    );
    if let Some(t) = &r.transactions {
        let _ = writeln!(
            out,
            "Transactions: {} committed, {} aborted, {} undecided (producer failed); aborted reads by read_committed consumers: {}",
            t.committed, t.aborted, t.undecided, t.aborted_reads
        );
    }
    if h.deleted_by_retention > 0 {
        let _ = writeln!(
            out,
            "  acknowledged records deleted by retention (below the log start offset): {}",
            h.deleted_by_retention
        );
    }
    if h.compacted_away > 0 {
        let _ = writeln!(
            out,
            "  acknowledged records the cleaner replaced with a later record of their key (compacted topics): {}",
            h.compacted_away
        );
    }
    if !h.lost_groups.is_empty() {
        let _ = writeln!(out, "Lost acknowledged records:");
        for g in &h.lost_groups {
            let offsets = match (g.first_offset, g.last_offset) {
                (Some(a), Some(b)) if a == b => format!("offset {a} ({})", g.first_value),
                (Some(a), Some(b)) => format!(
                    "offsets {a} to {b} ({} ... {})",
                    g.first_value, g.last_value
                ),
                _ => format!("acks=0 records ({} ... {})", g.first_value, g.last_value),
            };
            let when = if g.from_ms == g.to_ms {
                format!("at {}", Instant(g.from_ms))
            } else {
                format!("from {} to {}", Instant(g.from_ms), Instant(g.to_ms))
            };
            let _ = writeln!(
                out,
                "  - {} of {}/{}, {offsets}, acknowledged {when}{}: {}",
                g.count, g.topic, g.partition, g.acknowledged_by, g.cause
            );
        }
    }
    write_delivery(&mut out, r);
    let _ = writeln!(out);
    let _ = writeln!(out, "Partitions at the end:");
    for p in &r.partitions {
        let leos: Vec<String> = p
            .log_end_offsets
            .iter()
            .map(|(b, o)| format!("{b}:{o}"))
            .collect();
        let _ = writeln!(
            out,
            "  {}/{}  leader {}  epoch {}  replicas {:?}  isr {:?}  log start {}  HW {}  LEO {}  segments {}",
            p.topic,
            p.partition,
            p.leader.map_or_else(|| "none".into(), |l| l.to_string()),
            p.leader_epoch,
            p.replicas,
            p.isr,
            p.log_start_offset
                .map_or_else(|| "-".into(), |o| o.to_string()),
            p.high_watermark
                .map_or_else(|| "-".into(), |h| h.to_string()),
            leos.join(" "),
            p.segments.map_or_else(|| "-".into(), |n| n.to_string()),
        );
    }
    if !r.groups.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "Groups at the end:");
        for g in &r.groups {
            let _ = writeln!(
                out,
                "  {}  {}  generation {}  protocol {}",
                g.group,
                g.state,
                g.generation,
                g.protocol.as_deref().unwrap_or("-")
            );
            for m in &g.members {
                let _ = writeln!(
                    out,
                    "    {} ({})  owns [{}]",
                    m.client,
                    m.member_id,
                    m.assignment.join(", ")
                );
            }
            let lag: Vec<String> = g.lag.iter().map(|(tp, l)| format!("{tp}:{l}")).collect();
            if !lag.is_empty() {
                let _ = writeln!(out, "    lag (HW minus committed)  {}", lag.join(" "));
            }
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Checks:");
    for c in &r.checks {
        let _ = writeln!(
            out,
            "  {}  {}: {}",
            if c.ok { "ok  " } else { "FAIL" },
            c.name,
            c.detail
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Verdict: {}  ({} events, {} of virtual time)",
        r.verdict.to_uppercase(),
        r.events,
        Instant(r.virtual_time_ms)
    );
    if !r.passed() {
        let _ = writeln!(out, "Reproduce: {}", r.reproduce);
    }
    out
}

/// The consumer side of the oracle: counts per group, then findings as runs of offsets.
fn write_delivery(out: &mut String, r: &crate::runner::RunReport) {
    let d = &r.delivery;
    for g in &d.delivery_by_group {
        let _ = writeln!(
            out,
            "Group {}: {} record(s) processed; unseen: {}   processed twice: {}   nonmonotonic polls: {}   poll skips: {}",
            g.group,
            g.consumed,
            g.unseen,
            g.duplicates_delivered,
            g.nonmonotonic_polls,
            g.poll_skips
        );
    }
    for (kind, listed, total) in listed_in_part(d) {
        let _ = writeln!(
            out,
            "  (the first {listed} of {total} {kind} findings follow)"
        );
    }
    for (f, last) in finding_runs(&d.delivery_findings) {
        let (from, to) = (f.offset, last.offset);
        let what = if from == to {
            format!("offset {from}")
        } else {
            format!("offsets {from} to {to} ({} records)", to - from + 1)
        };
        let by = if f.members.is_empty() {
            String::new()
        } else {
            format!(" by {}", f.members.join(", "))
        };
        let when = f
            .time_ms
            .map_or_else(String::new, |t| format!(" at {}", Instant(t)));
        let _ = writeln!(
            out,
            "  - {} of {}/{}: {what}{by}{when}",
            f.kind, f.topic, f.partition
        );
    }
}
