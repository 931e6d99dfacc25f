//! The classroom's view of a session: what a learner sees, computed from the World and the
//! run's story. It is a pure function of the session (plus a tally kept across frames so the
//! log is read once), so it is tested natively and the yew front end only draws it.

use gregor_core::client::producer::TxnPhase;
use gregor_core::config::Acks;
use gregor_core::ids::{BrokerId, ClientId, NodeId, TopicPartition};
use gregor_core::map::VecMap;
use gregor_core::node::Event;
use gregor_core::protocol::Message;
use gregor_core::record::MarkerKind;
use gregor_sim::cluster::WorldEvent;
use gregor_sim::groups::{GroupReport, group_reports};
use gregor_sim::live::trusted_image;
pub use gregor_sim::live::{LiveTally, Loss, producer_of};
use gregor_sim::report::{Storyteller, name_of};
use gregor_sim::runner::{StoryKind, StoryLine};
use gregor_sim::scenario::ClientStart;
use gregor_sim::session::Session;
use gregor_sim::world::Status;

/// How many offsets a log strip shows: the newest ones.
pub const STRIP: u64 = 24;

/// A broker as the classroom shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerView {
    /// The broker.
    pub id: BrokerId,
    /// Running, paused or crashed.
    pub status: Status,
    /// Whether the controller has it fenced (or does not know it).
    pub fenced: bool,
    /// How many partitions it leads.
    pub leads: usize,
    /// Whether every link to it is cut.
    pub isolated: bool,
}

/// One offset of a replica's log strip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    /// The offset.
    pub offset: u64,
    /// The record's key, or `None` for a keyless record.
    pub key: Option<String>,
    /// The record's value.
    pub value: String,
    /// The producer's name (the value's prefix).
    pub producer: String,
    /// The leader epoch that wrote it.
    pub epoch: u32,
    /// Whether it belongs to an aborted transaction: it stays in the log, and
    /// `read_committed` consumers skip it.
    pub aborted: bool,
}

/// The hue (0 to 359) a key's records are coloured with: `key-N` keys, which workloads send,
/// get hues far apart for neighbouring N; other keys a hue from their bytes (FNV-1a).
pub fn key_hue(key: &str) -> u32 {
    if let Some(n) = key.strip_prefix("key-").and_then(|n| n.parse::<u64>().ok()) {
        return ((n * 47 + 200) % 360) as u32;
    }
    let hash = key.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash % 360
}

/// One replica of a partition: its log strip's marks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaView {
    /// The broker holding it.
    pub broker: BrokerId,
    /// Whether it is in the ISR.
    pub in_isr: bool,
    /// Whether it leads.
    pub leader: bool,
    /// Whether its broker runs.
    pub online: bool,
    /// Its log start offset.
    pub log_start_offset: u64,
    /// Its log end offset.
    pub log_end_offset: u64,
    /// Its high watermark (its own view).
    pub high_watermark: u64,
    /// For a compacted topic, how many records its log holds from its log start on: the
    /// cleaner removes records, never offsets, so this falls behind the offsets' span.
    pub records: Option<u64>,
    /// The newest offsets of its log, up to [`STRIP`] of them, oldest first.
    pub cells: Vec<Cell>,
    /// The transaction markers among those offsets: offset, and whether it commits.
    pub markers: Vec<(u64, bool)>,
}

/// A partition as the classroom shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionView {
    /// The partition.
    pub topic_partition: TopicPartition,
    /// The leader, as the metadata says.
    pub leader: Option<BrokerId>,
    /// The leader epoch.
    pub leader_epoch: u32,
    /// The ISR.
    pub isr: Vec<BrokerId>,
    /// The topic's `min.insync.replicas`.
    pub min_isr: u64,
    /// The topic's `unclean.leader.election.enable`.
    pub unclean: bool,
    /// Each replica, in assignment order.
    pub replicas: Vec<ReplicaView>,
    /// The first offset the strips show.
    pub strip_start: u64,
    /// Offsets where an acknowledged record was lost (see [`Loss`]).
    pub lost_offsets: Vec<u64>,
}

/// A producer as the classroom shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducerView {
    /// Its name.
    pub name: String,
    /// Its topic.
    pub topic: String,
    /// `acks`.
    pub acks: Acks,
    /// Whether it is idempotent.
    pub idempotent: bool,
    /// Whether its process runs.
    pub status: Status,
    /// Whether it is producing (started and not done).
    pub producing: bool,
    /// Produce requests in flight.
    pub in_flight: usize,
    /// Records sent so far.
    pub sent: u64,
    /// Records acknowledged.
    pub acknowledged: u64,
    /// Records whose send failed.
    pub failed: u64,
    /// The last error a broker answered, when, and from which broker.
    pub last_error: Option<(u64, String)>,
    /// For a transactional producer, where its transaction stands.
    pub transaction: Option<&'static str>,
}

/// A consumer as the classroom shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerView {
    /// Its name.
    pub name: String,
    /// Its group.
    pub group: Option<String>,
    /// Whether it reads only committed records (`isolation.level=read_committed`).
    pub read_committed: bool,
    /// Whether its process runs.
    pub status: Status,
    /// Whether it is consuming (it owns partitions and is not in a rebalance's pause).
    pub consuming: bool,
    /// Records processed so far.
    pub processed: u64,
    /// The partitions it owns now.
    pub owns: Vec<String>,
    /// For a consume-transform-produce pipeline: the topic it writes, and where its
    /// transaction stands.
    pub pipeline: Option<(String, &'static str)>,
}

/// Messages on the wire of one kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InFlight {
    /// The kind: one of [`MESSAGE_KINDS`], or `delayed` for the messages among them held back
    /// beyond the network's latency (listed only when there are some).
    pub kind: &'static str,
    /// How many.
    pub count: usize,
}

/// How many messages on the wire the network diagram draws.
pub const WIRE_SHOWN: usize = 80;

/// A message on the wire, where it is on its way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireMessage {
    /// The sender's name (`broker 1`, `controller`, `p1`).
    pub from: String,
    /// The receiver's name.
    pub to: String,
    /// Its kind (see [`message_kind`]).
    pub kind: &'static str,
    /// How far it has gone, in percent, from 0 (just sent) to 100 (arriving): the time left
    /// until its delivery against the network's largest latency.
    pub progress: u8,
}

/// A link the network breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkView {
    /// One end's name.
    pub from: String,
    /// The other end's name.
    pub to: String,
    /// Cut (messages dropped) or clogged (messages held).
    pub clogged: bool,
    /// Messages held on it, when clogged.
    pub held: usize,
}

/// Everything drawn at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassroomView {
    /// Virtual time in milliseconds.
    pub time_ms: u64,
    /// Units played (events and timeline items).
    pub units: u64,
    /// The controller's state.
    pub controller: Status,
    /// The brokers.
    pub brokers: Vec<BrokerView>,
    /// The partitions of the scenario's topics, in topic and partition order.
    pub partitions: Vec<PartitionView>,
    /// The producers.
    pub producers: Vec<ProducerView>,
    /// The consumers.
    pub consumers: Vec<ConsumerView>,
    /// The consumer groups.
    pub groups: Vec<GroupReport>,
    /// Cut and clogged links, both directions merged.
    pub links: Vec<LinkView>,
    /// Messages on the wire, by kind.
    pub in_flight: Vec<InFlight>,
    /// Messages on the wire to draw, at most [`WIRE_SHOWN`], oldest first.
    pub wire: Vec<WireMessage>,
    /// Acknowledged records lost so far, oldest first.
    pub losses: Vec<Loss>,
    /// Groups a learner can add a member to: the group and its first spare member not started.
    pub joinable: Vec<(String, String)>,
    /// Failed checks so far, in words, with their time.
    pub findings: Vec<(u64, String)>,
}

/// What the view needs from the whole log, read once as it grows: counts and last errors per
/// producer, acknowledgements per second, and the story in words.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    seen: usize,
    /// Producers' counts and lost records.
    pub live: LiveTally,
    /// Records acknowledged in each second of virtual time, by second.
    pub acks_per_second: VecMap<u64, u64>,
    storyteller: Storyteller,
    /// The World's log in words, so far.
    pub story: Vec<StoryLine>,
}

impl Tally {
    /// Reads the log entries it has not seen; starts over if the log is shorter than what it
    /// saw. That is enough to notice a rewind: the replay is the same run, so its log is a
    /// prefix of the one seen, and a branch only grows from there.
    pub fn update(&mut self, session: &Session) {
        let world = session.world();
        let log = world.log();
        if log.len() < self.seen {
            *self = Tally::default();
        }
        let scenario = session.scenario();
        self.storyteller.tell(log, scenario, &mut self.story);
        self.live.update(world, scenario);
        for entry in &log[self.seen..] {
            if let WorldEvent::Node(Event::RecordAcknowledged { .. }) = &entry.event {
                *self.acks_per_second.entry(entry.time.0 / 1000).or_default() += 1;
            }
        }
        self.seen = log.len();
    }
}

/// The kinds [`message_kind`] sorts messages into, in the order the classroom lists them.
pub const MESSAGE_KINDS: [&str; 7] = [
    "produce",
    "fetch",
    "heartbeat",
    "metadata",
    "group",
    "transaction",
    "controller",
];

/// The kind of a message, as the classroom counts them.
pub fn message_kind(message: &Message) -> &'static str {
    use Message as M;
    match message {
        M::Produce(_) | M::ProduceResponse(_) => "produce",
        M::Fetch(_) | M::FetchResponse(_) => "fetch",
        M::BrokerHeartbeat(_) | M::BrokerHeartbeatResponse(_) => "heartbeat",
        M::Heartbeat(_) | M::HeartbeatResponse(_) => "heartbeat",
        M::Metadata(_) | M::MetadataResponse(_) => "metadata",
        M::FindCoordinator(_)
        | M::FindCoordinatorResponse(_)
        | M::JoinGroup(_)
        | M::JoinGroupResponse(_)
        | M::SyncGroup(_)
        | M::SyncGroupResponse(_)
        | M::LeaveGroup(_)
        | M::LeaveGroupResponse(_)
        | M::OffsetCommit(_)
        | M::OffsetCommitResponse(_)
        | M::OffsetFetch(_)
        | M::OffsetFetchResponse(_) => "group",
        // Producer ids, transactions and their markers: the transaction coordinator's traffic.
        M::InitProducerId(_)
        | M::InitProducerIdResponse(_)
        | M::AddPartitionsToTxn(_)
        | M::AddPartitionsToTxnResponse(_)
        | M::AddOffsetsToTxn(_)
        | M::AddOffsetsToTxnResponse(_)
        | M::TxnOffsetCommit(_)
        | M::TxnOffsetCommitResponse(_)
        | M::EndTxn(_)
        | M::EndTxnResponse(_)
        | M::WriteTxnMarkers(_)
        | M::WriteTxnMarkersResponse(_) => "transaction",
        _ => "controller",
    }
}

/// The value's producer prefix and the key's number, for colouring a record.
fn cell_of(offset: u64, record: &gregor_core::record::Record, epoch: u32) -> Cell {
    let text = |b: &Option<gregor_core::bytes::Bytes>| {
        b.as_ref()
            .map(|b| String::from_utf8_lossy(b.as_slice()).into_owned())
    };
    let value = text(&record.value).unwrap_or_default();
    Cell {
        offset,
        key: text(&record.key),
        producer: producer_of(&value).to_string(),
        value,
        epoch,
        aborted: false,
    }
}

/// The view of a session now. `tally` must have been updated for this session.
pub fn classroom_view(session: &Session, tally: &Tally) -> ClassroomView {
    let world = session.world();
    let scenario = session.scenario();
    let image = trusted_image(world);
    let brokers = world.broker_ids();
    let all_nodes: Vec<NodeId> = world.node_ids().collect();
    let cut = world.network().cut_links();
    let isolated = |b: BrokerId| {
        let me = NodeId::Broker(b);
        all_nodes
            .iter()
            .filter(|&&n| n != me && !matches!(n, NodeId::Admin))
            .all(|&n| cut.contains(&(me, n)) && cut.contains(&(n, me)))
    };
    let mut partitions = Vec::new();
    if let Some(image) = image {
        for (tp, p) in image.partitions() {
            if !scenario.topics.iter().any(|t| t.name == tp.topic) {
                continue; // `__consumer_offsets` is shown through the groups
            }
            let config = image.topic_config(&tp.topic);
            let end = p
                .replicas
                .iter()
                .filter_map(|&b| world.broker_disk(b).and_then(|d| d.logs.get(&tp)))
                .map(|l| l.log_end_offset().0)
                .max()
                .unwrap_or(0);
            let strip_start = end.saturating_sub(STRIP);
            let replicas = p
                .replicas
                .iter()
                .map(|&b| {
                    let log = world.broker_disk(b).and_then(|d| d.logs.get(&tp));
                    let window = |l: &gregor_core::log::PartitionLog| {
                        (strip_start.max(l.log_start_offset().0)..l.log_end_offset().0)
                            .map(gregor_core::ids::Offset)
                    };
                    let cells = log
                        .map(|l| {
                            let aborted = l.aborted_transactions(
                                gregor_core::ids::Offset(strip_start),
                                l.log_end_offset(),
                            );
                            window(l)
                                .filter_map(|o| {
                                    let (r, e) = l.record_at(o)?;
                                    let mut cell = cell_of(o.0, r, e.0);
                                    let producer = l.batch_at(o).and_then(|b| b.producer);
                                    cell.aborted = producer.is_some_and(|p| {
                                        p.transactional
                                            && aborted.iter().any(|a| {
                                                a.producer_id == p.producer_id
                                                    && a.first_offset <= o
                                                    && o < a.last_offset
                                            })
                                    });
                                    Some(cell)
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    let markers = log
                        .map(|l| {
                            window(l)
                                .filter_map(|o| {
                                    let m = l.batch_at(o)?.control?;
                                    Some((o.0, m.kind == MarkerKind::Commit))
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    ReplicaView {
                        broker: b,
                        in_isr: p.isr.contains(&b),
                        leader: p.leader == Some(b),
                        online: world.status(NodeId::Broker(b)) == Status::Running,
                        log_start_offset: log.map_or(0, |l| l.log_start_offset().0),
                        log_end_offset: log.map_or(0, |l| l.log_end_offset().0),
                        high_watermark: log.map_or(0, |l| l.high_watermark().0),
                        records: log
                            .filter(|l| l.config().cleanup_policy.compact)
                            .map(|l| l.record_count()),
                        cells,
                        markers,
                    }
                })
                .collect();
            let lost_offsets: Vec<u64> = tally
                .live
                .losses
                .losses
                .iter()
                .filter(|l| l.topic_partition == tp)
                .map(|l| l.offset)
                .collect();
            partitions.push(PartitionView {
                topic_partition: tp,
                leader: p.leader,
                leader_epoch: p.leader_epoch.0,
                isr: p.isr.clone(),
                min_isr: config.map_or(1, |c| c.min_insync_replicas),
                unclean: config.is_some_and(|c| c.unclean_leader_election_enable),
                replicas,
                strip_start,
                lost_offsets,
            });
        }
    }
    let broker_views = brokers
        .iter()
        .map(|&id| BrokerView {
            id,
            status: world.status(NodeId::Broker(id)),
            fenced: image
                .and_then(|i| i.brokers.get(&id))
                .is_none_or(|b| b.fenced),
            leads: partitions.iter().filter(|p| p.leader == Some(id)).count(),
            isolated: isolated(id),
        })
        .collect();
    let (pids, cids, _) = gregor_sim::runner::client_ids(scenario);
    // A spare client (a console producer, a spare member) shows once the learner used it.
    let unused = |start: ClientStart, id: ClientId| {
        start == ClientStart::Spare && world.status(NodeId::Client(id)) == Status::NotStarted
    };
    let producers = scenario
        .producers
        .iter()
        .zip(pids)
        .filter(|(spec, id)| !unused(spec.start, *id))
        .map(|(spec, id)| {
            let node = NodeId::Client(id);
            let live = world.producer(id);
            let t = tally
                .live
                .producers
                .get(&spec.name)
                .cloned()
                .unwrap_or_default();
            ProducerView {
                name: spec.name.clone(),
                topic: spec.workload.topic.to_string(),
                acks: spec.config.config.acks,
                idempotent: spec.config.idempotence,
                status: world.status(node),
                producing: live.is_some_and(|p| p.is_producing()),
                in_flight: live.map_or(0, |p| p.requests_in_flight()),
                sent: t.sent,
                acknowledged: t.acknowledged,
                failed: t.failed,
                last_error: t.last_error,
                transaction: spec
                    .config
                    .config
                    .transactional_id
                    .as_ref()
                    .map(|_| phase_name(live.and_then(|p| p.transaction_phase()))),
            }
        })
        .collect();
    let cids_all = cids.clone();
    let mut joinable: Vec<(String, String)> = Vec::new();
    for (spec, &id) in scenario.consumers.iter().zip(&cids) {
        if let Some(g) = &spec.config.group_id
            && unused(spec.start, id)
            && !joinable.iter().any(|(j, _)| j == g)
        {
            joinable.push((g.clone(), spec.name.clone()));
        }
    }
    let consumers = scenario
        .consumers
        .iter()
        .zip(cids)
        .filter(|(spec, id)| !unused(spec.start, *id))
        .map(|(spec, id)| {
            let live = world.consumer(id);
            ConsumerView {
                name: spec.name.clone(),
                group: spec.config.group_id.clone(),
                read_committed: spec.config.isolation_level
                    == gregor_core::protocol::IsolationLevel::ReadCommitted,
                status: world.status(NodeId::Client(id)),
                consuming: live.is_some_and(|c| c.is_consuming()),
                processed: live.map_or(0, |c| c.records_processed()),
                owns: live
                    .map(|c| c.assignment().map(|tp| tp.to_string()).collect())
                    .unwrap_or_default(),
                pipeline: spec.output.as_ref().map(|o| {
                    let phase = world.producer(id).and_then(|p| p.transaction_phase());
                    (o.workload.topic.to_string(), phase_name(phase))
                }),
            }
        })
        .collect();
    let name = |n: NodeId| name_of(n, scenario);
    let mut links: VecMap<(NodeId, NodeId), LinkView> = VecMap::new();
    for &(a, b) in cut {
        let key = (a.min(b), a.max(b));
        links.entry(key).or_insert_with(|| LinkView {
            from: name(key.0),
            to: name(key.1),
            clogged: false,
            held: 0,
        });
    }
    for &(a, b) in world.network().clogged_links() {
        let key = (a.min(b), a.max(b));
        links.entry(key).or_insert_with(|| LinkView {
            from: name(key.0),
            to: name(key.1),
            clogged: true,
            held: 0,
        });
    }
    for (a, b, held) in world.held_on_links() {
        if let Some(l) = links.get_mut(&(a.min(b), a.max(b))) {
            l.held += held;
        }
    }
    let mut kinds: VecMap<&'static str, usize> = VecMap::new();
    let mut wire: Vec<(u64, NodeId, NodeId, &'static str)> = Vec::new();
    // A message due later than the network's longest latency is held back (a `delay` fault,
    // or the messages stalled behind it): the classroom counts those apart.
    let mut late = 0;
    for (at, from, to, m) in world.messages_in_flight() {
        let kind = message_kind(m);
        *kinds.entry(kind).or_default() += 1;
        late += usize::from(at.0 > world.now().0 + world.network().config().latency_max.0);
        if from != NodeId::Admin && to != NodeId::Admin {
            wire.push((at.0, from, to, kind));
        }
    }
    // The queue's order is the heap's: sort by delivery, then ends, for a stable picture.
    gregor_core::sort::sort(&mut wire);
    let now = world.now().0;
    let longest = scenario.network.latency_max.0.max(1) as f64;
    let wire = wire
        .into_iter()
        .take(WIRE_SHOWN)
        .map(|(at, from, to, kind)| WireMessage {
            from: name(from),
            to: name(to),
            kind,
            progress: (100.0 * (1.0 - at.saturating_sub(now) as f64 / longest)).clamp(0.0, 100.0)
                as u8,
        })
        .collect();
    let mut in_flight: Vec<InFlight> = MESSAGE_KINDS
        .into_iter()
        .map(|kind| InFlight {
            kind,
            count: kinds.get(kind).copied().unwrap_or(0),
        })
        .collect();
    if late > 0 {
        in_flight.push(InFlight {
            kind: "delayed",
            count: late,
        });
    }
    let findings = session
        .run()
        .invariants
        .violations
        .iter()
        .map(|v| (v.time.0, format!("{}: {}", v.check, v.detail)))
        .collect();
    ClassroomView {
        time_ms: world.now().0,
        units: session.moment().units,
        controller: world.status(NodeId::Controller),
        brokers: broker_views,
        partitions,
        producers,
        consumers,
        // A group only spare members would join is not shown until one of them starts.
        groups: group_reports(world, scenario)
            .into_iter()
            .filter(|g| {
                scenario.consumers.iter().zip(&cids_all).any(|(c, &id)| {
                    c.config.group_id.as_deref() == Some(g.group.as_str()) && !unused(c.start, id)
                })
            })
            .collect(),
        links: links.into_values().collect(),
        in_flight,
        wire,
        losses: tally.live.losses.losses.clone(),
        joinable,
        findings,
    }
}

/// The newest `limit` lines of the timeline: the log's story (kept in order by the tally) with
/// the run's notes, failed checks and allowed losses merged in by time, as [`Run::story`]
/// merges them.
///
/// [`Run::story`]: gregor_sim::runner::Run::story
pub fn timeline(session: &Session, tally: &Tally, limit: usize) -> Vec<StoryLine> {
    let tail = &tally.story[tally.story.len().saturating_sub(limit)..];
    let mut lines: Vec<StoryLine> = tail
        .iter()
        .cloned()
        .chain(session.run().story_notes())
        .collect();
    gregor_core::sort::sort_by_key(&mut lines, |l| l.time_ms);
    lines.split_off(lines.len().saturating_sub(limit))
}

/// A CSS class for a story line's kind.
pub fn kind_class(kind: StoryKind) -> &'static str {
    match kind {
        StoryKind::Event => "event",
        StoryKind::Fault => "fault",
        StoryKind::Election => "election",
        StoryKind::UncleanElection => "unclean",
        StoryKind::Loss => "loss",
        StoryKind::CheckFailed => "failed",
        StoryKind::Note => "note",
    }
}

/// Where a transactional producer's transaction stands, in words.
fn phase_name(phase: Option<TxnPhase>) -> &'static str {
    match phase {
        None | Some(TxnPhase::Initializing) => "initialising",
        Some(TxnPhase::Ready) => "no transaction open",
        Some(TxnPhase::InTransaction) => "in a transaction",
        Some(TxnPhase::Committing) => "committing",
        Some(TxnPhase::Aborting) => "aborting",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gregor_core::time::Instant;
    use gregor_sim::scenario::{Action, Link, Target};

    fn view(s: &Session) -> ClassroomView {
        let mut tally = Tally::default();
        tally.update(s);
        classroom_view(s, &tally)
    }

    #[test]
    fn the_view_shows_a_crashed_leader_replaced_and_its_replica_out_of_the_isr() {
        let mut s = Session::new(crate::builtin::scenario("leader-failover").unwrap(), 1).unwrap();
        s.play_until(Instant(4_000));
        let before = view(&s);
        let p0 = &before.partitions[0];
        let old = p0.leader.unwrap();
        assert!(p0.replicas.iter().all(|r| r.in_isr && r.online));
        assert_eq!(p0.isr.len(), 3);
        // The strips show the newest records, the same on every in-sync replica below the HW.
        let leader = p0.replicas.iter().find(|r| r.leader).unwrap();
        assert_eq!(leader.cells.len() as u64, STRIP.min(leader.log_end_offset));
        assert_eq!(
            leader.cells.last().unwrap().offset,
            leader.log_end_offset - 1
        );
        assert!(
            leader
                .cells
                .iter()
                .all(|c| c.producer == "p1"
                    && c.key.as_deref().is_some_and(|k| k.starts_with("key-")))
        );

        s.act(Action::Crash(Target::Broker(old)));
        s.play_until(Instant(16_000));
        let after = view(&s);
        let p0 = &after.partitions[0];
        let crashed = after.brokers.iter().find(|b| b.id == old).unwrap();
        assert_eq!(crashed.status, Status::Crashed);
        assert!(crashed.fenced);
        assert_ne!(p0.leader, Some(old));
        assert!(p0.leader.is_some());
        assert!(!p0.isr.contains(&old));
        assert!(p0.leader_epoch > before.partitions[0].leader_epoch);
        let r = p0.replicas.iter().find(|r| r.broker == old).unwrap();
        assert!(!r.in_isr && !r.online);
    }

    #[test]
    fn strips_show_transaction_markers_and_aborted_records() {
        // transactions: p1 commits transactions of 5 records and aborts every third, so by
        // 10 s the newest 24 offsets of a partition hold markers of both kinds and records of
        // an aborted transaction.
        let mut s = Session::new(crate::builtin::scenario("transactions").unwrap(), 1).unwrap();
        s.play_until(Instant(10_000));
        let v = view(&s);
        let replicas = v.partitions.iter().flat_map(|p| &p.replicas);
        let markers: Vec<(u64, bool)> = replicas.clone().flat_map(|r| r.markers.clone()).collect();
        assert!(markers.iter().any(|(_, commit)| *commit));
        assert!(markers.iter().any(|(_, commit)| !*commit));
        assert!(replicas.clone().flat_map(|r| &r.cells).any(|c| c.aborted));
        // A marker's offset holds no record cell.
        for r in replicas {
            for (o, _) in &r.markers {
                assert!(r.cells.iter().all(|c| c.offset != *o));
            }
        }
        let p1 = &v.producers[0];
        assert!(p1.transaction.is_some());
        let readers: Vec<bool> = v.consumers.iter().map(|c| c.read_committed).collect();
        assert_eq!(readers, vec![true, false]);
    }

    #[test]
    fn a_pipeline_shows_what_it_writes_and_its_transaction() {
        // exactly-once-pipeline: billing consumes orders and writes invoices in transactions;
        // the plain reader `auditor` is no pipeline. By 10 s billing has written invoices,
        // which only its committed transactions make visible.
        let id = "exactly-once-pipeline";
        let mut s = Session::new(crate::builtin::scenario(id).unwrap(), 1).unwrap();
        s.play_until(Instant(10_000));
        let v = view(&s);
        let pipelines: Vec<Option<&str>> = v
            .consumers
            .iter()
            .map(|c| c.pipeline.as_ref().map(|(out, _)| out.as_str()))
            .collect();
        assert_eq!(pipelines, vec![Some("invoices"), None]);
        let billing = &v.consumers[0];
        assert_ne!(billing.pipeline.as_ref().unwrap().1, "initialising");
        assert!(billing.processed > 0);
        let invoices = v
            .partitions
            .iter()
            .filter(|p| p.topic_partition.topic.as_str() == "invoices");
        let markers = invoices.flat_map(|p| &p.replicas).flat_map(|r| &r.markers);
        assert!(markers.clone().any(|(_, commit)| *commit));
    }

    #[test]
    fn a_compacted_replica_counts_its_records_apart_from_its_offsets() {
        // compaction: by 70 s every cleaner has kept one record per key below the active
        // segment, so each replica holds far fewer records than its 600 offsets.
        let mut s = Session::new(crate::builtin::scenario("compaction").unwrap(), 1).unwrap();
        s.play_until(Instant(70_000));
        let v = view(&s);
        for r in &v.partitions[0].replicas {
            let records = r.records.expect("a compacted topic");
            assert!(
                records < r.log_end_offset / 4,
                "{records} of {}",
                r.log_end_offset
            );
        }
        let mut s = Session::new(crate::builtin::scenario("leader-failover").unwrap(), 1).unwrap();
        s.play_until(Instant(3_000));
        assert!(
            view(&s).partitions[0]
                .replicas
                .iter()
                .all(|r| r.records.is_none())
        );
    }

    #[test]
    fn producers_count_sends_and_acknowledgements_and_keep_the_last_error() {
        // min-isr: both followers crash at 5 s; once the ISR is the leader alone, acks=all
        // produce requests are refused with NOT_ENOUGH_REPLICAS.
        let mut s = Session::new(crate::builtin::scenario("min-isr").unwrap(), 1).unwrap();
        let mut tally = Tally::default();
        s.play_until(Instant(4_000));
        tally.update(&s);
        let early = classroom_view(&s, &tally);
        let p = &early.producers[0];
        assert!(p.sent > 0 && p.acknowledged > 0 && p.acknowledged <= p.sent);
        assert_eq!(p.last_error, None);
        s.play_until(Instant(40_000));
        tally.update(&s);
        let late = classroom_view(&s, &tally);
        let (_, error) = late.producers[0].last_error.clone().expect("an error");
        assert!(error.contains("NOT_ENOUGH_REPLICAS from broker"), "{error}");
        // A rewind shortens the log: the tally starts over and agrees with a fresh one.
        s.rewind_to_time(Instant(4_000));
        tally.update(&s);
        assert_eq!(classroom_view(&s, &tally), early);
    }

    #[test]
    fn the_timeline_told_a_frame_at_a_time_is_the_story_told_whole() {
        // min-isr brings crashes, fencing, elections and a stream of NOT_ENOUGH_REPLICAS that
        // the story tells once: the piecewise telling must remember what it told.
        let mut s = Session::new(crate::builtin::scenario("min-isr").unwrap(), 1).unwrap();
        let mut tally = Tally::default();
        let mut t = s.moment().time_ms;
        while t < 40_000 {
            t += 16;
            s.play_until(Instant(t));
            tally.update(&s);
        }
        let whole = s.run().story();
        assert!(whole.len() > 8);
        assert!(whole.iter().any(|l| l.kind == StoryKind::Fault));
        let once = |l: &&StoryLine| l.text.contains("NOT_ENOUGH_REPLICAS");
        assert_eq!(tally.story.iter().filter(once).count(), 1);
        assert_eq!(timeline(&s, &tally, 8), whole[whole.len() - 8..]);
        assert_eq!(
            tally.story,
            gregor_sim::report::story(s.world().log(), s.scenario())
        );
    }

    /// delayed-endtxn: while p1's EndTxn is held (7.5 s to 9.5 s) the network counts it as a
    /// transaction message and as delayed; once it has arrived, nothing is delayed.
    #[test]
    fn a_delayed_request_is_counted_apart_while_it_is_held() {
        let mut s = Session::new(crate::builtin::scenario("delayed-endtxn").unwrap(), 1).unwrap();
        let count = |v: &ClassroomView, k: &str| {
            v.in_flight
                .iter()
                .find(|f| f.kind == k)
                .map_or(0, |f| f.count)
        };
        s.play_until(Instant(9_000));
        let v = view(&s);
        assert_eq!(count(&v, "delayed"), 1, "{:?}", v.in_flight);
        assert!(count(&v, "transaction") >= 1, "{:?}", v.in_flight);
        s.play_until(Instant(9_600));
        let v = view(&s);
        assert_eq!(count(&v, "delayed"), 0, "{:?}", v.in_flight);
    }

    #[test]
    fn cut_and_clogged_links_and_messages_in_flight_are_shown() {
        let mut s = Session::new(crate::builtin::scenario("leader-failover").unwrap(), 1).unwrap();
        s.play_until(Instant(3_000));
        let v = view(&s);
        let count =
            |v: &ClassroomView, k: &str| v.in_flight.iter().find(|f| f.kind == k).unwrap().count;
        assert!(count(&v, "fetch") > 0, "{:?}", v.in_flight);
        // The diagram's dots are the same messages, between named nodes, on their way.
        let total: usize = v
            .in_flight
            .iter()
            .filter(|f| f.kind != "delayed")
            .map(|f| f.count)
            .sum();
        assert_eq!(v.wire.len(), total.min(WIRE_SHOWN));
        let named = |n: &str| n == "controller" || n.starts_with("broker ") || n == "p1";
        assert!(
            v.wire
                .iter()
                .all(|m| named(&m.from) && named(&m.to) && m.progress <= 100)
        );
        assert!(
            v.wire
                .iter()
                .any(|m| m.kind == "fetch" && m.to.starts_with("broker "))
        );
        s.act(Action::Isolate(Target::Broker(BrokerId(3))));
        s.act(Action::Clog(Link {
            from: Target::Broker(BrokerId(1)),
            to: Target::Broker(BrokerId(2)),
            both_ways: true,
        }));
        s.play_until(Instant(3_500));
        let v = view(&s);
        assert!(v.brokers[2].isolated);
        assert!(!v.brokers[0].isolated);
        let clog = v.links.iter().find(|l| l.clogged).expect("a clogged link");
        assert_eq!(
            (clog.from.as_str(), clog.to.as_str()),
            ("broker 1", "broker 2")
        );
        assert!(
            clog.held > 0,
            "fetches between 1 and 2 wait on the clogged link"
        );
        assert!(
            v.links
                .iter()
                .any(|l| !l.clogged && l.to == "broker 3" || l.from == "broker 3")
        );
    }

    #[test]
    fn consumer_groups_show_members_and_lag() {
        let mut s = Session::new(crate::builtin::scenario("group-rebalance").unwrap(), 1).unwrap();
        s.play_until(Instant(15_000));
        let v = view(&s);
        let g = &v.groups[0];
        assert_eq!(g.group, "billing");
        assert_eq!(g.members.len(), 3);
        assert!(g.generation >= 1);
        let owned: usize = v.consumers.iter().map(|c| c.owns.len()).sum();
        assert_eq!(owned, 6, "six partitions, each owned once");
        assert!(v.consumers.iter().all(|c| c.processed > 0));
    }

    #[test]
    fn acknowledged_records_lost_with_acks_one_are_found_as_they_go_with_their_cause() {
        // acks1-leader-crash: broker 1 leads orders/0 alone behind a split from 5 s and
        // acknowledges 500 records its followers never get; broker 2 takes over at 17 s and
        // writes new records at those offsets. The oracle's final count is 500, offsets 497 to
        // 996; the classroom must find the same ones while the run goes on.
        let mut s =
            Session::new(crate::builtin::scenario("acks1-leader-crash").unwrap(), 1).unwrap();
        let mut tally = Tally::default();
        s.play_until(Instant(16_000));
        tally.update(&s);
        assert!(
            classroom_view(&s, &tally).losses.is_empty(),
            "nothing lost yet"
        );
        s.play_until(Instant(30_000));
        tally.update(&s);
        let v = classroom_view(&s, &tally);
        assert_eq!(v.losses.len(), 500);
        let offsets: Vec<u64> = v.losses.iter().map(|l| l.offset).collect();
        assert_eq!(offsets, (497..997).collect::<Vec<_>>());
        let first = &v.losses[0];
        assert_eq!(first.value, "p1-497");
        assert_eq!(first.epoch, 0);
        assert_eq!(first.now_held.0, BrokerId(2));
        assert_eq!(first.now_held.1, 1);
        assert!(first.cause.contains("acks=1"), "{}", first.cause);
        assert!(
            first
                .text()
                .contains("acknowledged at offset 497 of orders/0 in epoch 0")
        );
        assert_eq!(v.partitions[0].lost_offsets, offsets);
        // Told once: later frames add nothing new.
        s.play_until(Instant(35_000));
        tally.update(&s);
        assert_eq!(classroom_view(&s, &tally).losses.len(), 500);
    }

    #[test]
    fn an_unclean_election_is_named_as_the_cause_and_a_clean_failover_loses_nothing() {
        let mut s = Session::new(crate::builtin::scenario("unclean-election").unwrap(), 1).unwrap();
        s.play_until(Instant(40_000));
        let v = view(&s);
        assert!(!v.losses.is_empty());
        assert!(
            v.losses.iter().all(|l| l.cause.contains("uncleanly")),
            "{}",
            v.losses[0].cause
        );
        let mut s = Session::new(crate::builtin::scenario("leader-failover").unwrap(), 1).unwrap();
        s.play_until(Instant(30_000));
        assert!(view(&s).losses.is_empty());
    }

    #[test]
    fn spare_clients_stay_hidden_until_the_learner_uses_them() {
        let mut s = Session::new(crate::builtin::scenario("leader-failover").unwrap(), 1).unwrap();
        s.play_until(Instant(1_000));
        let v = view(&s);
        let names: Vec<&str> = v.producers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["p1"]);
        assert!(v.consumers.is_empty());
        assert_eq!(
            v.joinable,
            [("orders-readers".to_string(), "c1".to_string())]
        );
        let send = s
            .scenario()
            .parse_action("send console-all key=k1 value=hi")
            .unwrap();
        s.act(send);
        s.act(s.scenario().parse_action("start c1").unwrap());
        // p1 writes about 7 records a partition in 200 ms: the learner's record is still on
        // the 24-offset strip.
        s.play_until(Instant(1_200));
        let v = view(&s);
        let names: Vec<&str> = v.producers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["p1", "console-all"]);
        assert_eq!(v.consumers.len(), 1);
        assert_eq!(
            v.joinable,
            [("orders-readers".to_string(), "c2".to_string())]
        );
        let cell = v
            .partitions
            .iter()
            .flat_map(|p| &p.replicas)
            .flat_map(|r| &r.cells)
            .find(|c| c.key.as_deref() == Some("k1"))
            .expect("the learner's record on a strip");
        assert_eq!(
            (cell.value.as_str(), cell.producer.as_str()),
            ("console-all-0:hi", "console-all")
        );
    }

    #[test]
    fn keys_get_stable_hues_and_values_name_their_producer() {
        assert_eq!(key_hue("key-0"), 200);
        assert_eq!(key_hue("key-1"), 247);
        assert_eq!(key_hue("k7"), key_hue("k7"));
        assert_ne!(key_hue("k7"), key_hue("k8"));
        assert!(key_hue("anything at all") < 360);
        assert_eq!(producer_of("p1-12"), "p1");
        assert_eq!(producer_of("console-all-3:hello-world"), "console-all");
        assert_eq!(producer_of("orders-console-1-0"), "orders-console-1");
    }
}
