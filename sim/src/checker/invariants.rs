//! Invariants checked after every step of a run (DESIGN.md "Checking", KAFKA.md 3).
//!
//! * One leader per partition epoch: no two brokers lead the same partition in the same epoch.
//! * Leader in ISR: the controller never names a leader outside the ISR.
//! * HW monotonic on a leader: while a broker's process leads a partition in one epoch, its HW
//!   never drops (a restarted process starts again from its HW checkpoint).
//! * HW within the ISR: a leader whose epoch is still the latest (in the controller and on every
//!   broker) never has an HW above the log end of a member of its ISR.
//! * Log matching below the HW: every ISR member holds the leader's records below the leader's HW.
//! * Committed records kept: a record that was below some leader's HW is in every later leader's
//!   log at the same offset.
//! * One owner per partition in a group (`ownership.rs`).
//!
//! What they deliberately do not flag: losses the configuration allows. A committed record lost
//! through an unclean election, or through a power loss that took unflushed records from the
//! replica that then led, is recorded as an allowed loss with its reason, not as a violation.
//! So is a fork a power loss left (`forks.rs`): two records of one epoch at one offset, where the
//! broker that led that epoch came back from a power loss leading it again and wrote the offset a
//! second time. Each allowed record or offset is named with its cause. Brokers that lost records
//! to a power loss are exempt from the ISR checks until they have left and rejoined the ISR.
//! Checks only look at what the last step could have changed, so they cost little per step.

use crate::checker::forks::ForkWatch;
use crate::checker::ownership::OwnershipWatch;
use crate::cluster::{Cluster, Logged, Step, WorldEvent};
use crate::metrics::Sampler;
use gregor_core::broker::partition::Role;
use gregor_core::bytes::Bytes;
use gregor_core::ids::{BrokerEpoch, BrokerId, LeaderEpoch, NodeId, Offset, TopicPartition};
use gregor_core::log::PartitionLog;
use gregor_core::map::{VecMap, VecSet};
use gregor_core::node::Event;
use gregor_core::time::Instant;
use std::collections::BTreeMap;

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// When it was seen.
    pub time: Instant,
    /// Which invariant.
    pub check: &'static str,
    /// What happened, in words.
    pub detail: String,
}

/// Committed records that left the log in a way the configuration allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedLoss {
    /// When it was seen.
    pub time: Instant,
    /// The partition.
    pub topic_partition: TopicPartition,
    /// The lost records: offset, value, and the epoch they were written in.
    pub records: Vec<(Offset, Option<Bytes>, LeaderEpoch)>,
    /// Why it is allowed, in words.
    pub reason: String,
}

/// Replicas holding different records at one offset of one epoch, which a power loss explains
/// (`forks.rs`): allowed, and reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedFork {
    /// When it was seen.
    pub time: Instant,
    /// The partition.
    pub topic_partition: TopicPartition,
    /// The offset.
    pub offset: Offset,
    /// The two brokers whose logs differ there.
    pub brokers: (BrokerId, BrokerId),
    /// Why it is allowed, in words.
    pub reason: String,
}

/// The names of the invariants, in report order.
pub const INVARIANTS: [&str; 7] = [
    "one leader per epoch",
    "leader in ISR",
    "HW monotonic on a leader",
    "HW within the ISR",
    "log matching below the HW",
    "committed records kept",
    "one owner per partition in a group",
];

#[derive(Clone, Debug, PartialEq, Eq)]
struct CommittedRecord {
    key: Option<Bytes>,
    value: Option<Bytes>,
    epoch: LeaderEpoch,
    at: Instant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MatchState {
    leader: BrokerId,
    leader_truncations: u64,
    follower_truncations: u64,
    verified_upto: Offset,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PowerLossExemption {
    /// The broker's registration when the power went.
    epoch_at_loss: Option<BrokerEpoch>,
    /// Whether it was seen out of the ISR since it registered again.
    seen_out_of_isr: bool,
}

/// The invariant checker's state.
#[derive(Debug, Default)]
pub struct Invariants {
    leaders: VecMap<(TopicPartition, LeaderEpoch), BrokerId>,
    leader_hw: VecMap<(BrokerId, TopicPartition), (LeaderEpoch, Offset)>,
    /// What some leader's HW covered, by offset from 0; `None` where retention deleted the
    /// record before the checker read it (the HW and the deletion came in one step).
    committed: VecMap<TopicPartition, Vec<Option<CommittedRecord>>>,
    checked_leaders: VecSet<(TopicPartition, LeaderEpoch, BrokerId)>,
    matching: VecMap<(BrokerId, TopicPartition), MatchState>,
    unclean: VecMap<TopicPartition, Vec<Instant>>,
    power_loss: VecMap<(BrokerId, TopicPartition), PowerLossExemption>,
    /// Each broker's latest registration, from the controller's events.
    registered: VecMap<BrokerId, BrokerEpoch>,
    power_loss_at: VecMap<(BrokerId, TopicPartition), Instant>,
    /// Committed records an allowed loss took, by offset, with the time they were first seen
    /// committed: a deposed leader whose HW still covers them must not re-date them.
    lost_committed: VecMap<TopicPartition, BTreeMap<u64, CommittedRecord>>,
    log_seen: usize,
    forks: ForkWatch,
    ownership: OwnershipWatch,
    /// The report's sampler, when the run writes a report.
    pub sampler: Option<Sampler>,
    /// Violations found.
    pub violations: Vec<Violation>,
    /// Allowed losses of committed records.
    pub allowed_losses: Vec<AllowedLoss>,
    /// Allowed forks below the HW, one per partition, offset and pair of brokers.
    pub allowed_forks: Vec<AllowedFork>,
}

fn same(a: &PartitionLog, b: &PartitionLog, offset: Offset) -> Option<bool> {
    let (ra, ea) = a.record_at(offset)?;
    let (rb, eb) = b.record_at(offset)?;
    Some(ra.value == rb.value && ra.key == rb.key && ea == eb)
}

impl Invariants {
    /// A checker with nothing seen.
    pub fn new() -> Invariants {
        Invariants::default()
    }

    fn violate(&mut self, time: Instant, check: &'static str, detail: String) {
        // One report per distinct problem is enough; a broken state often persists for many steps.
        if self
            .violations
            .iter()
            .any(|v| v.check == check && v.detail == detail)
        {
            return;
        }
        self.violations.push(Violation {
            time,
            check,
            detail,
        });
    }

    /// Checks what the last step could have changed.
    pub fn after_step(&mut self, world: &Cluster, step: Step) {
        self.absorb_log(world.log());
        match step.node {
            Some(NodeId::Controller) => self.check_controller(world, step.time),
            Some(NodeId::Broker(b)) => self.check_broker(world, b, step.time),
            Some(NodeId::Client(c)) => {
                for p in self.ownership.problems(world, c) {
                    self.violate(step.time, "one owner per partition in a group", p);
                }
            }
            _ => {}
        }
        if let Some(sampler) = &mut self.sampler {
            sampler.after_step(world);
        }
    }

    /// What the power losses of the run left behind, as far as the checker has read.
    pub fn forks(&self) -> &ForkWatch {
        &self.forks
    }

    /// Checks the ownership of partitions in these consumer groups after their members' steps.
    pub fn watch_groups(&mut self, watch: OwnershipWatch) {
        self.ownership = watch;
    }

    fn absorb_log(&mut self, log: &[Logged]) {
        self.forks.absorb(log);
        for entry in &log[self.log_seen..] {
            match (&entry.event, entry.node) {
                (
                    WorldEvent::Node(Event::PartitionChanged {
                        topic_partition,
                        unclean: true,
                        ..
                    }),
                    _,
                ) => {
                    self.unclean
                        .entry(topic_partition.clone())
                        .or_default()
                        .push(entry.time);
                }
                (WorldEvent::Node(Event::BrokerRegistered { broker, epoch }), _) => {
                    self.registered.insert(*broker, *epoch);
                }
                (WorldEvent::Crashed { power_loss, lost }, NodeId::Broker(b)) => {
                    // A restarted broker is a new process; its HW starts again from the checkpoint.
                    self.leader_hw.retain(|(broker, _), _| *broker != b);
                    if !power_loss {
                        continue;
                    }
                    for l in lost {
                        let tp = &l.topic_partition;
                        self.power_loss.insert(
                            (b, tp.clone()),
                            PowerLossExemption {
                                epoch_at_loss: self.registered.get(&b).copied(),
                                seen_out_of_isr: false,
                            },
                        );
                        self.power_loss_at.insert((b, tp.clone()), entry.time);
                    }
                }
                _ => {}
            }
        }
        self.log_seen = log.len();
    }

    fn check_controller(&mut self, world: &Cluster, now: Instant) {
        let Some(c) = world.controller() else { return };
        let image = c.image();
        let mut problems = Vec::new();
        for (tp, p) in image.partitions() {
            if let Some(l) = p.leader
                && !p.isr.contains(&l)
            {
                problems.push(format!("the controller names broker {l} leader of {tp} in epoch {} but its ISR is {:?}", p.leader_epoch, p.isr));
            }
        }
        for d in problems {
            self.violate(now, "leader in ISR", d);
        }
        // A broker that lost records leaves the exemption once its new incarnation has left the
        // ISR and rejoined. Out of the ISR counts only once it has registered again: until then
        // its leader may still add it back on the strength of fetches from before the power
        // loss (the AlterPartition carries the old broker epoch, which the controller accepts).
        let mut done = Vec::new();
        for ((b, tp), ex) in self.power_loss.iter_mut() {
            let in_isr = image.partition(tp).is_some_and(|p| p.isr.contains(b));
            let registered_again = self.registered.get(b).copied() != ex.epoch_at_loss;
            if !in_isr && registered_again {
                ex.seen_out_of_isr = true;
            } else if in_isr && ex.seen_out_of_isr {
                done.push((*b, tp.clone()));
            }
        }
        for k in done {
            self.power_loss.remove(&k);
        }
    }

    fn exempt(&self, broker: BrokerId, tp: &TopicPartition) -> bool {
        self.power_loss.contains_key(&(broker, tp.clone()))
    }

    fn check_broker(&mut self, world: &Cluster, id: BrokerId, now: Instant) {
        let Some(broker) = world.broker(id) else {
            return;
        };
        let image = world.controller().map(|c| c.image());
        let controller_isr = |tp: &TopicPartition| -> &[BrokerId] {
            image
                .and_then(|i| i.partition(tp))
                .map_or(&[], |p| p.isr.as_slice())
        };
        for (tp, p) in broker.partitions() {
            let Some(log) = broker.log(tp) else { continue };
            match &p.role {
                Role::Leader(_) => {
                    let key = (tp.clone(), p.leader_epoch);
                    match self.leaders.get(&key) {
                        Some(&other) if other != id => self.violate(
                            now,
                            "one leader per epoch",
                            format!(
                                "brokers {other} and {id} both lead {tp} in epoch {}",
                                p.leader_epoch
                            ),
                        ),
                        Some(_) => {}
                        None => {
                            self.leaders.insert(key, id);
                        }
                    }
                    let hw = log.high_watermark();
                    let hw_key = (id, tp.clone());
                    if let Some(&(epoch, last)) = self.leader_hw.get(&hw_key)
                        && epoch == p.leader_epoch
                        && hw < last
                    {
                        self.violate(
                            now,
                            "HW monotonic on a leader",
                            format!(
                                "broker {id}'s HW of {tp} went from {last} to {hw} in epoch {}",
                                p.leader_epoch
                            ),
                        );
                    }
                    self.leader_hw.insert(hw_key, (p.leader_epoch, hw));
                    self.check_new_leader(world, id, tp, p.leader_epoch, log, now);
                    // A deposed leader that has not heard of it yet still acknowledges what its
                    // HW covers, as Kafka's does: what it commits counts.
                    self.extend_committed(tp, log, hw, now);
                    // But it keeps its last ISR and HW while its former followers truncate to the
                    // new leader's log: its stale view bounds nothing, so a leader is held to its
                    // ISR only while neither the controller nor another broker has gone past its
                    // epoch (the controller may be down).
                    let newer = (tp.clone(), LeaderEpoch(p.leader_epoch.0 + 1));
                    let deposed = image
                        .and_then(|i| i.partition(tp))
                        .is_some_and(|c| c.leader_epoch > p.leader_epoch)
                        || self
                            .leaders
                            .range(newer..)
                            .next()
                            .is_some_and(|((t, _), _)| t == tp);
                    for &member in &p.isr {
                        if member == id || deposed || self.exempt(member, tp) {
                            continue;
                        }
                        if let Some(leo) = world
                            .broker_disk(member)
                            .and_then(|d| d.logs.get(tp))
                            .map(PartitionLog::log_end_offset)
                            && leo < hw
                        {
                            self.violate(now, "HW within the ISR", format!("broker {id}'s HW of {tp} is {hw}, above ISR member {member}'s log end offset {leo}"));
                        }
                    }
                    for &member in controller_isr(tp) {
                        if member != id {
                            self.check_matching(world, id, member, tp, now);
                        }
                    }
                }
                Role::Follower {
                    leader: Some(leader),
                } => {
                    if controller_isr(tp).contains(&id)
                        && world
                            .broker(*leader)
                            .is_some_and(|l| l.partition(tp).is_some_and(|lp| lp.is_leader()))
                    {
                        self.check_matching(world, *leader, id, tp, now);
                    }
                }
                Role::Follower { leader: None } => {}
            }
        }
    }

    /// Log matching: the follower holds the leader's records below the leader's HW.
    fn check_matching(
        &mut self,
        world: &Cluster,
        leader: BrokerId,
        follower: BrokerId,
        tp: &TopicPartition,
        now: Instant,
    ) {
        if self.exempt(follower, tp) {
            return;
        }
        let (Some(l), Some(f)) = (
            world.broker_disk(leader).and_then(|d| d.logs.get(tp)),
            world.broker_disk(follower).and_then(|d| d.logs.get(tp)),
        ) else {
            return;
        };
        let upto = l.high_watermark().min(f.log_end_offset());
        let key = (follower, tp.clone());
        let fresh = MatchState {
            leader,
            leader_truncations: l.truncations(),
            follower_truncations: f.truncations(),
            verified_upto: Offset(0),
        };
        let mut state = match self.matching.get(&key) {
            Some(s)
                if s.leader == leader
                    && s.leader_truncations == l.truncations()
                    && s.follower_truncations == f.truncations() =>
            {
                if s.verified_upto >= upto {
                    return; // nothing new below the HW since the last check
                }
                *s
            }
            _ => fresh,
        };
        let mut o = state
            .verified_upto
            .max(l.log_start_offset())
            .max(f.log_start_offset());
        while o < upto {
            if same(l, f, o) == Some(false) {
                let epochs = (
                    l.record_at(o).map(|(_, e)| e),
                    f.record_at(o).map(|(_, e)| e),
                );
                let fork = match epochs {
                    (Some(a), Some(b)) if a == b => self.forks.explain_fork(tp, o, a),
                    _ => None,
                };
                if let Some(fork) = fork {
                    if !self.allowed_forks.iter().any(|x| {
                        &x.topic_partition == tp && x.offset == o && x.brokers == (leader, follower)
                    }) {
                        let reason = fork.describe();
                        self.allowed_forks.push(AllowedFork {
                            time: now,
                            topic_partition: tp.clone(),
                            offset: o,
                            brokers: (leader, follower),
                            reason,
                        });
                    }
                    o = o.next();
                    continue;
                }
                let detail = format!(
                    "broker {follower} (in the ISR of {tp}) holds a different record than leader {leader} at offset {o}, below the HW {}",
                    l.high_watermark()
                );
                self.violate(now, "log matching below the HW", detail);
                break;
            }
            o = o.next();
        }
        state.verified_upto = o;
        self.matching.insert(key, state);
    }

    fn extend_committed(
        &mut self,
        tp: &TopicPartition,
        log: &PartitionLog,
        hw: Offset,
        now: Instant,
    ) {
        let committed = self.committed.entry(tp.clone()).or_default();
        while (committed.len() as u64) < hw.0 {
            let o = Offset(committed.len() as u64);
            let Some((r, epoch)) = log.record_at(o) else {
                // Below the log start, retention deleted the record; at an offset the cleaner
                // emptied, it was replaced by a later record of its key (checked when a leader
                // lacks that one). Either way nothing is known to hold there.
                if o < log.log_start_offset() || log.cleaned_away(o) {
                    committed.push(None);
                    continue;
                }
                break;
            };
            let at = self
                .lost_committed
                .get(tp)
                .and_then(|m| m.get(&o.0))
                .filter(|c| c.value == r.value && c.epoch == epoch)
                .map_or(now, |c| c.at);
            committed.push(Some(CommittedRecord {
                key: r.key.clone(),
                value: r.value.clone(),
                epoch,
                at,
            }));
        }
    }

    /// Why a new leader lacks each of these committed records (the first at offset `first`),
    /// record by record, when a power loss explains every one of them: it took the very record
    /// from this leader (which the old leader had counted as replicated from its fetches before
    /// the power loss), or the leader holds another record of the same epoch there, written when
    /// a broker led that epoch again after a power loss. `None` when one is unexplained.
    fn explain_each(
        &self,
        id: BrokerId,
        tp: &TopicPartition,
        log: &PartitionLog,
        lost: &[Option<CommittedRecord>],
        first: usize,
    ) -> Option<String> {
        let mut reasons: Vec<String> = Vec::new();
        for (j, c) in lost.iter().enumerate() {
            let Some(c) = c else { continue };
            let o = Offset((first + j) as u64);
            let lost_before = self
                .lost_committed
                .get(tp)
                .and_then(|m| m.get(&o.0))
                .is_some_and(|p| p.value == c.value && p.epoch == c.epoch);
            let reason = match log.record_at(o) {
                Some((r, e)) if e == c.epoch && r.value == c.value => continue,
                // A leader deposed since, whose HW still covered a record an allowed loss had
                // taken, counted it as committed again (see `lost_committed`): the same loss.
                _ if lost_before => Some(
                    "an allowed loss had already taken them, and a leader deposed since still counted them below its HW".to_string(),
                ),
                Some((_, e)) if e == c.epoch => self.forks.explain_fork(tp, o, e).map(|f| f.describe()),
                _ => self
                    .forks
                    .taken_by_power_loss(id, tp, o, c.value.as_ref(), c.epoch)
                    .map(|t| format!(
                        "broker {id} lost them to a power loss at {t}, and its fetches from before counted them as replicated, so they were committed; then it was the last replica of the ISR and was elected without them (the last-replica-standing case, KAFKA.md 3.8)"
                    )),
            };
            let reason = reason?;
            if !reasons.contains(&reason) {
                reasons.push(reason);
            }
        }
        Some(reasons.join("; "))
    }

    /// The first time a broker leads a partition in an epoch, its log must hold every committed
    /// record at the same offset.
    fn check_new_leader(
        &mut self,
        _world: &Cluster,
        id: BrokerId,
        tp: &TopicPartition,
        epoch: LeaderEpoch,
        log: &PartitionLog,
        now: Instant,
    ) {
        if !self.checked_leaders.insert((tp.clone(), epoch, id)) {
            return;
        }
        let Some(committed) = self.committed.get(tp) else {
            return;
        };
        // KAFKA.md 6.3: on a compacted topic each broker's cleaner keeps the latest record of
        // each key and removes older ones (and tombstones, after their delete horizon), only
        // below its own HW. A committed record this leader's cleaner removed is held if a later
        // record of its key is committed or in this leader's log. The log counts too because a
        // deposed leader that has not heard of it yet may advance the HW its followers copy in
        // the step that also tells it, so the checker never sees it commit those records.
        // The map is built only when this leader's cleaner emptied a committed offset, so a
        // compacted log that was never cleaned (`__consumer_offsets`) costs nothing here.
        let mut last_of_key: BTreeMap<&Bytes, u64> = BTreeMap::new();
        let cleaned_committed = || {
            (log.log_start_offset().0..committed.len() as u64)
                .any(|o| committed[o as usize].is_some() && log.cleaned_away(Offset(o)))
        };
        if log.config().cleanup_policy.compact && cleaned_committed() {
            for (i, c) in committed.iter().enumerate() {
                if let Some(k) = c.as_ref().and_then(|c| c.key.as_ref()) {
                    last_of_key.insert(k, i as u64);
                }
            }
            for batch in log.batches() {
                for (o, r) in batch.records_with_offsets() {
                    if let Some(k) = r.key.as_ref() {
                        let last = last_of_key.entry(k).or_insert(o.0);
                        *last = (*last).max(o.0);
                    }
                }
            }
        }
        let held = |o: Offset, c: &CommittedRecord| {
            let replaced = || {
                log.cleaned_away(o)
                    && (c.value.is_none()
                        || c.key
                            .as_ref()
                            .and_then(|k| last_of_key.get(k))
                            .is_some_and(|&last| last > o.0))
            };
            log.record_at(o)
                .is_some_and(|(r, e)| r.value == c.value && e == c.epoch)
                || (!last_of_key.is_empty() && replaced())
        };
        let mut first_bad = None;
        for (i, c) in committed.iter().enumerate() {
            let o = Offset(i as u64);
            // Below its log start, retention deleted the records: nothing to hold.
            // A leader of an older epoch than the record's (a deposed leader that resumed and
            // takes up the epoch it was elected in, before it hears of the next) cannot hold
            // it: Kafka's guarantee is that a leader holds what was committed before its epoch.
            let Some(c) = c
                .as_ref()
                .filter(|c| o >= log.log_start_offset() && c.epoch <= epoch)
            else {
                continue;
            };
            if !held(o, c) {
                first_bad = Some(i);
                break;
            }
        }
        let Some(i) = first_bad else { return };
        // The committed records from the first missing one on that this leader does not hold
        // (after a fork, it may hold the later ones again).
        let lost: Vec<(Offset, Option<Bytes>, LeaderEpoch)> = committed[i..]
            .iter()
            .enumerate()
            .filter_map(|(j, c)| Some((Offset((i + j) as u64), c.as_ref()?)))
            .filter(|(o, c)| c.epoch <= epoch && !held(*o, c))
            .map(|(o, c)| (o, c.value.clone(), c.epoch))
            .collect();
        let since = committed[i]
            .as_ref()
            .expect("the first missing record is known")
            .at;
        let reason = if self
            .unclean
            .get(tp)
            .is_some_and(|ts| ts.iter().any(|&t| t >= since))
        {
            Some(format!(
                "an unclean election of {tp} chose a replica that did not have them"
            ))
        } else if self
            .power_loss_at
            .iter()
            .any(|((_, p), &t)| p == tp && t >= since)
        {
            Some(format!(
                "a power loss took unflushed records from a replica of {tp} that later led (the last-replica-standing case, KAFKA.md 3.8)"
            ))
        } else {
            self.explain_each(id, tp, log, &committed[i..], i)
        };
        let first = &lost[0];
        let summary = format!(
            "broker {id} leads {tp} in epoch {epoch} without {} committed record(s) from offset {} (first: {} written in epoch {})",
            lost.len(),
            first.0,
            first
                .1
                .as_ref()
                .map_or_else(|| "null".to_string(), ToString::to_string),
            first.2
        );
        if reason.is_some() {
            let committed = self.committed.get(tp).expect("present");
            let lost_map = self.lost_committed.entry(tp.clone()).or_default();
            for (j, c) in committed.iter().enumerate().skip(i) {
                let Some(c) = c.as_ref().filter(|c| c.epoch <= epoch) else {
                    continue;
                };
                if held(Offset(j as u64), c) {
                    continue;
                }
                match lost_map.get(&(j as u64)) {
                    Some(p) if p.value == c.value && p.epoch == c.epoch => {}
                    _ => {
                        lost_map.insert(j as u64, c.clone());
                    }
                }
            }
        }
        match reason {
            Some(reason) => self.allowed_losses.push(AllowedLoss {
                time: now,
                topic_partition: tp.clone(),
                records: lost,
                reason,
            }),
            None => self.violate(now, "committed records kept", summary),
        }
        // From here on, what is committed is what this leader has.
        let committed = self.committed.get_mut(tp).expect("present");
        committed.truncate(i);
    }
}
