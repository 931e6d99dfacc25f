//! What a live view of a run (the classroom, the lessons' checks) needs from its log, read once
//! as it grows: each producer's counts, the errors it saw, and acknowledged records that are
//! lost, found when they go.
//!
//! The history oracle counts losses at the end of a run, against a final read; a learner needs
//! to see one when it happens, with what took it. A record acknowledged at an offset is lost for
//! good once the partition's leader holds another record there below its high watermark: no
//! consumer will ever read it. Every acknowledged record is checked again after a change of
//! leader, which is when records go.

use crate::cluster::{Logged, WorldEvent};
use crate::report::name_of;
use crate::scenario::Scenario;
use crate::world::{Status, World};
use gregor_core::bytes::Bytes;
use gregor_core::config::Acks;
use gregor_core::error::ErrorCode;
use gregor_core::ids::{BrokerId, NodeId, Offset, TopicPartition};
use gregor_core::map::{VecMap, VecSet};
use gregor_core::metadata::MetadataImage;
use gregor_core::node::Event;
use gregor_core::protocol::IsolationLevel;
use std::collections::{BTreeMap, BTreeSet};

/// The metadata a live view trusts: the controller's, or while it is down, the newest a running
/// broker replayed.
pub fn trusted_image(world: &World) -> Option<&MetadataImage> {
    world.controller().map(|c| c.image()).or_else(|| {
        world
            .broker_ids()
            .into_iter()
            .filter(|&b| world.status(NodeId::Broker(b)) == Status::Running)
            .filter_map(|b| world.broker(b).map(|b| b.image()))
            .max_by_key(|i| i.next_offset)
    })
}

/// The producer that wrote a value: values are `{producer}-{i}`, or `{producer}-{i}:{text}`
/// for a record a learner typed.
pub fn producer_of(value: &str) -> &str {
    let unique = value.split_once(':').map_or(value, |(u, _)| u);
    unique.rsplit_once('-').map_or(unique, |(p, _)| p)
}

/// An acknowledged record that is no longer in its partition: the leader's log holds another
/// record at its offset, below the high watermark, so no consumer will ever read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loss {
    /// When the classroom saw it gone.
    pub seen_ms: u64,
    /// The partition.
    pub topic_partition: TopicPartition,
    /// The offset it was acknowledged at.
    pub offset: u64,
    /// Its value and key.
    pub value: String,
    /// Its key.
    pub key: Option<String>,
    /// When it was acknowledged, and in which leader epoch.
    pub acknowledged_ms: u64,
    /// The leader epoch it was acknowledged in.
    pub epoch: u32,
    /// The leader now, its epoch, and the value it holds at that offset.
    pub now_held: (BrokerId, u32, String),
    /// What took it, in words.
    pub cause: String,
}

impl Loss {
    /// The finding in words, as a learner reads it.
    pub fn text(&self) -> String {
        let key = self
            .key
            .as_ref()
            .map_or("a keyless record".to_string(), |k| format!("record {k}"));
        let (leader, epoch, other) = &self.now_held;
        format!(
            "{key} ({}) acknowledged at offset {} of {} in epoch {} at {} s is lost: broker {leader}, leader in epoch {epoch}, holds {other} there. {}",
            self.value,
            self.offset,
            self.topic_partition,
            self.epoch,
            seconds(self.acknowledged_ms),
            self.cause
        )
    }
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// A producer's counts, as its application's callbacks tell them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProducerCounts {
    /// Records sent.
    pub sent: u64,
    /// Records acknowledged.
    pub acknowledged: u64,
    /// Records whose send failed.
    pub failed: u64,
    /// The last error a broker answered: when, and in words.
    pub last_error: Option<(u64, String)>,
    /// Every error a broker answered it.
    pub errors: VecSet<ErrorCode>,
}

/// A run's log read once as it grows: producers' counts, what groups processed more than once,
/// and lost acknowledged records.
#[derive(Clone, Debug, Default)]
pub struct LiveTally {
    seen: usize,
    /// Each producer's counts, by name.
    pub producers: VecMap<String, ProducerCounts>,
    /// Records (partition and offset) each group's members processed, by group.
    processed: VecMap<String, BTreeSet<(TopicPartition, u64)>>,
    /// Records a group processed more than once, by group.
    pub processed_twice: VecMap<String, u64>,
    /// The errors each consumer's fetches got (OFFSET_OUT_OF_RANGE, ...), by name.
    pub consumer_errors: VecMap<String, VecSet<ErrorCode>>,
    /// Acknowledged records found lost.
    pub losses: LossWatch,
    /// Records of aborted transactions that `read_committed` consumers polled (a value counts
    /// once, whichever came first, the poll or the abort).
    pub aborted_reads: u64,
    /// Values of the transactions producers aborted.
    aborted: BTreeSet<Bytes>,
    /// Values `read_committed` consumers polled.
    read_committed: BTreeSet<Bytes>,
}

impl LiveTally {
    /// Reads the entries of `world`'s log not seen yet; starts over when the log is shorter
    /// than what it saw, which is how a rewind shows (the replay is the same run, so its log is
    /// a prefix of the one seen, and a branch only grows from there).
    pub fn update(&mut self, world: &World, scenario: &Scenario) {
        let log = world.log();
        if log.len() < self.seen {
            *self = LiveTally::default();
        }
        self.losses.update(log, world, scenario);
        for entry in &log[self.seen..] {
            let WorldEvent::Node(event) = &entry.event else {
                continue;
            };
            if let Event::RecordsProcessed {
                topic_partition,
                records,
            } = event
            {
                let name = name_of(entry.node, scenario);
                if let Some(group) = scenario
                    .consumers
                    .iter()
                    .find(|c| c.name == name)
                    .and_then(|c| c.config.group_id.clone())
                {
                    let seen = self.processed.entry(group.clone()).or_default();
                    let twice = records
                        .iter()
                        .filter(|(o, _)| !seen.insert((topic_partition.clone(), o.0)))
                        .count() as u64;
                    *self.processed_twice.entry(group).or_default() += twice;
                }
                continue;
            }
            match event {
                Event::TransactionEnded {
                    committed: false,
                    values,
                    ..
                } => {
                    for v in values {
                        if self.aborted.insert(v.clone()) && self.read_committed.contains(v) {
                            self.aborted_reads += 1;
                        }
                    }
                    continue;
                }
                // Only a transactional run can have aborted reads: others keep no values.
                Event::RecordsPolled { records, .. } if scenario.has_transactions() => {
                    let name = name_of(entry.node, scenario);
                    if scenario.consumers.iter().any(|c| {
                        c.name == name && c.config.isolation_level == IsolationLevel::ReadCommitted
                    }) {
                        for v in records.iter().filter_map(|(_, v)| v.as_ref()) {
                            if self.read_committed.insert(v.clone()) && self.aborted.contains(v) {
                                self.aborted_reads += 1;
                            }
                        }
                    }
                    continue;
                }
                _ => {}
            }
            if let Event::ConsumerError { error, .. } = event {
                self.consumer_errors
                    .entry(name_of(entry.node, scenario))
                    .or_default()
                    .insert(*error);
                continue;
            }
            if !matches!(
                event,
                Event::RecordSent { .. }
                    | Event::RecordAcknowledged { .. }
                    | Event::RecordFailed { .. }
                    | Event::ProduceError { .. }
            ) {
                continue;
            }
            let c = self
                .producers
                .entry(name_of(entry.node, scenario))
                .or_default();
            match event {
                Event::RecordSent { .. } => c.sent += 1,
                Event::RecordAcknowledged { .. } => c.acknowledged += 1,
                Event::RecordFailed { .. } => c.failed += 1,
                Event::ProduceError {
                    topic_partition,
                    error,
                    broker,
                } => {
                    c.last_error = Some((
                        entry.time.0,
                        format!("{error} from broker {broker} on {topic_partition}"),
                    ));
                    c.errors.insert(*error);
                }
                _ => {}
            }
        }
        self.seen = log.len();
    }
}

/// Watches a run's log and its leaders for acknowledged records that are lost.
#[derive(Clone, Debug, Default)]
pub struct LossWatch {
    seen: usize,
    /// The key each record was sent with, by value.
    sent_keys: BTreeMap<String, Option<String>>,
    /// Acknowledged records by partition and offset: value, key, time, epoch and producer.
    /// An offset can have several: a leader acknowledged one, and a later leader another.
    acked: VecMap<TopicPartition, BTreeMap<u64, Vec<Acked>>>,
    /// Each partition's leader epoch as the controller's changes tell it.
    epochs: VecMap<TopicPartition, u32>,
    /// Each partition's unclean elections: time, broker elected.
    unclean: VecMap<TopicPartition, Vec<(u64, BrokerId)>>,
    /// Power losses: time and broker.
    power_losses: Vec<(u64, BrokerId)>,
    /// How far each partition's acknowledged records were checked: the leader epoch checked
    /// under and the offset below which every acknowledged record was found.
    checked: VecMap<TopicPartition, (u32, u64)>,
    /// Acknowledged records found lost, in the order found.
    pub losses: Vec<Loss>,
}

#[derive(Clone, Debug)]
struct Acked {
    value: String,
    key: Option<String>,
    time_ms: u64,
    epoch: u32,
    producer: String,
}

impl LossWatch {
    /// Reads the log entries not seen yet and checks the leaders now. The log must be the one
    /// read before, grown; a rewound run needs a new watch.
    pub fn update(&mut self, log: &[Logged], world: &World, scenario: &Scenario) {
        let text =
            |b: &gregor_core::bytes::Bytes| String::from_utf8_lossy(b.as_slice()).into_owned();
        for entry in &log[self.seen.min(log.len())..] {
            match &entry.event {
                WorldEvent::Crashed {
                    power_loss: true, ..
                } => {
                    if let NodeId::Broker(b) = entry.node {
                        self.power_losses.push((entry.time.0, b));
                    }
                }
                WorldEvent::Node(Event::RecordSent { value, key, .. }) => {
                    self.sent_keys.insert(text(value), key.as_ref().map(text));
                }
                WorldEvent::Node(Event::RecordAcknowledged {
                    value,
                    topic_partition,
                    offset: Some(offset),
                }) => {
                    let value = text(value);
                    let key = self.sent_keys.get(&value).cloned().flatten();
                    self.acked
                        .entry(topic_partition.clone())
                        .or_default()
                        .entry(offset.0)
                        .or_default()
                        .push(Acked {
                            producer: producer_of(&value).to_string(),
                            value,
                            key,
                            time_ms: entry.time.0,
                            epoch: self.epochs.get(topic_partition).copied().unwrap_or(0),
                        });
                }
                WorldEvent::Node(Event::PartitionChanged {
                    topic_partition,
                    leader,
                    leader_epoch,
                    unclean,
                    ..
                }) if entry.node == NodeId::Controller => {
                    self.epochs.insert(topic_partition.clone(), leader_epoch.0);
                    if let (true, Some(b)) = (*unclean, leader) {
                        self.unclean
                            .entry(topic_partition.clone())
                            .or_default()
                            .push((entry.time.0, *b));
                    }
                }
                _ => {}
            }
        }
        self.seen = log.len();
        self.find(world, scenario);
    }

    /// Checks acknowledged records against each partition's leader: one whose offset is below
    /// the leader's high watermark but holds another record is lost for good. Every record is
    /// checked again after a change of leader, which is when records go (an unclean election,
    /// a leader that acknowledged alone, a power loss).
    fn find(&mut self, world: &World, scenario: &Scenario) {
        let Some(image) = trusted_image(world) else {
            return;
        };
        for (tp, acked) in &self.acked {
            let Some(p) = image.partition(tp) else {
                continue;
            };
            let Some(leader) = p.leader else { continue };
            let Some(log) = world.broker_disk(leader).and_then(|d| d.logs.get(tp)) else {
                continue;
            };
            let epoch = p.leader_epoch.0;
            let hw = log.high_watermark().0;
            // Below the log start offset retention deleted the records (KAFKA.md 6.2): an
            // offset there holds nothing, and that is not a loss.
            let from = match self.checked.get(tp) {
                Some(&(e, below)) if e == epoch => below,
                _ => 0,
            }
            .max(log.log_start_offset().0);
            if from >= hw {
                continue;
            }
            // KAFKA.md 6.3: on a compacted topic the cleaner removes a record once a later
            // record of its key is in the log; that is not a loss.
            let mut last_of_key: BTreeMap<&str, u64> = BTreeMap::new();
            if log.config().cleanup_policy.compact {
                for (&o, list) in acked {
                    for k in list.iter().filter_map(|a| a.key.as_deref()) {
                        last_of_key.insert(k, o);
                    }
                }
            }
            for (&offset, a) in acked
                .range(from..hw)
                .flat_map(|(o, list)| list.iter().map(move |a| (o, a)))
            {
                if self
                    .losses
                    .iter()
                    .any(|l| &l.topic_partition == tp && l.offset == offset && l.value == a.value)
                {
                    continue;
                }
                let replaced = a
                    .key
                    .as_deref()
                    .and_then(|k| last_of_key.get(k))
                    .is_some_and(|&last| last > offset);
                if replaced && log.cleaned_away(Offset(offset)) {
                    continue;
                }
                let held = log
                    .record_at(Offset(offset))
                    .and_then(|(r, _)| r.value.as_ref())
                    .map(|v| String::from_utf8_lossy(v.as_slice()).into_owned());
                if held.as_deref() == Some(a.value.as_str()) {
                    continue;
                }
                let acks = scenario
                    .producers
                    .iter()
                    .find(|p| p.name == a.producer)
                    .map(|p| p.config.config.acks);
                let cause = if let Some((t, b)) = self
                    .unclean
                    .get(tp)
                    .and_then(|u| u.iter().find(|(t, _)| *t >= a.time_ms))
                {
                    format!(
                        "Broker {b} was elected leader uncleanly at {} s, from outside the ISR, without it (unclean.leader.election.enable).",
                        seconds(*t)
                    )
                } else if acks.is_some_and(|x| x != Acks::All) {
                    "With acks=1 the leader acknowledged it alone; it lost its leadership before a follower copied it, and the new leader's records took the offset.".to_string()
                } else if let Some((t, b)) = self.power_losses.iter().find(|(t, _)| *t >= a.time_ms)
                {
                    format!(
                        "Broker {b} lost power at {} s before its page cache reached the disk.",
                        seconds(*t)
                    )
                } else {
                    "No fault the configuration allows explains it: the checker reports it."
                        .to_string()
                };
                self.losses.push(Loss {
                    seen_ms: world.now().0,
                    topic_partition: tp.clone(),
                    offset,
                    value: a.value.clone(),
                    key: a.key.clone(),
                    acknowledged_ms: a.time_ms,
                    epoch: a.epoch,
                    now_held: (leader, epoch, held.unwrap_or_else(|| "nothing".into())),
                    cause,
                });
            }
            self.checked.insert(tp.clone(), (epoch, hw));
        }
    }
}
