//! Running a scenario on the World: bootstrap the cluster, play the timeline with the
//! invariants checked after every step, then heal, let the cluster converge, read every
//! partition, and judge the run.
//!
//! The phases follow TigerBeetle's VOPR: a safety phase with the scenario's faults, then a
//! liveness phase that heals everything (network, pauses, crashed nodes) and demands that the
//! cluster converges within a bound, then the history oracle over a final read.

use crate::checker::delivery::{self, DeliveryReport};
use crate::checker::exactly_once::{self, ExactlyOnceReport};
use crate::checker::forks::ForkWatch;
use crate::checker::history::{self, HistoryReport, ProducerInfo};
use crate::checker::invariants::{AllowedFork, INVARIANTS, Invariants};
use crate::checker::ownership::OwnershipWatch;
use crate::checker::transactions::{self, TransactionReport};
use crate::cluster::{Cluster, Status, WorldEvent};
use crate::driver::{Driver, ready};
use crate::groups::{
    DeclaredGroup, GroupReport, catch_up_gaps, coordinator_group, declared_groups, group_reports,
    has_pending_offsets, high_watermark, leader_log,
};
use crate::metrics::{Charts, Sampler};
use crate::nodes::NodeSpec;
use crate::scenario::{
    Action, ClientStart, CountRange, DeliverySemantics, Expectation, Scenario, Target,
    TimedExpectation, resolve,
};
use crate::swarm::{SwarmPlan, SwarmSummary};
use crate::trace::{TRACE_FORMAT, TRACE_VERSION, TraceHeader, TraceRecorder};
use crate::world::World;
use gregor_core::client::consumer::{CommitMode, ConsumerWorkload};
use gregor_core::config::{Acks, ConsumerConfig, OffsetReset};
use gregor_core::ids::{BrokerId, ClientId, NodeId, TopicName, TopicPartition};
use gregor_core::map::{VecMap, VecSet};
use gregor_core::node::{ClientCommand, Event};
use gregor_core::protocol::IsolationLevel;
use gregor_core::protocol::{
    AlterTopicConfigRequest, CreateTopicsRequest, ElectLeadersRequest, Message, NewTopic,
};
use gregor_core::time::{Duration, Instant};
use serde::Serialize;

/// How long the cluster may take to register brokers and create topics.
const BOOTSTRAP_BOUND: Duration = Duration::from_secs(30);
/// How long the operator waits for topics to be created and led before asking again.
const ADMIN_RETRY: Duration = Duration::from_secs(2);
/// How long the final read may take once the cluster has converged.
const READ_BOUND: Duration = Duration::from_secs(60);

/// Options of a run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The seed (the scenario's own when `None`).
    pub seed: Option<u64>,
    /// Keep the trace's lines (for `--trace`); the trace hash is always computed when set.
    pub trace: bool,
    /// Skip the per-step invariants (only for measuring what they cost).
    pub skip_invariants: bool,
    /// Sample the cluster for a report's charts ([`RunReport::charts`]).
    pub charts: bool,
}

/// What kind of promise a check is about, and so what its failure means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckClass {
    /// Something bad happened: a broken invariant, a lost or duplicated record, more of a bad
    /// thing than the scenario allows.
    Safety,
    /// Something good never happened: the cluster never became ready, or never converged after
    /// the faults were healed.
    Liveness,
    /// The run did not show what the scenario said it would (a leader, an ISR, an error seen,
    /// at least so many losses), without anything unsafe happening.
    Expectation,
}

impl CheckClass {
    /// The class's name in verdicts: `safety`, `liveness` or `expectation`.
    pub fn name(self) -> &'static str {
        match self {
            CheckClass::Safety => "safety",
            CheckClass::Liveness => "liveness",
            CheckClass::Expectation => "expectation",
        }
    }

    /// The class of a failed count expectation: too many bad things is a safety failure, too few
    /// is a scenario that did not show what it meant to.
    fn of_count(range: CountRange, got: u64) -> CheckClass {
        if got > range.max {
            CheckClass::Safety
        } else {
            CheckClass::Expectation
        }
    }
}

/// One check of a run's verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What it checks.
    pub name: String,
    /// What its failure would mean.
    pub class: CheckClass,
    /// Whether it holds.
    pub ok: bool,
    /// What was found.
    pub detail: String,
}

/// A partition at the end of a run, as `kafka-topics --describe` would show it plus offsets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartitionReport {
    /// The topic.
    pub topic: String,
    /// The partition number.
    pub partition: u32,
    /// The leader, if any.
    pub leader: Option<u32>,
    /// The leader epoch.
    pub leader_epoch: u32,
    /// The replicas.
    pub replicas: Vec<u32>,
    /// The ISR.
    pub isr: Vec<u32>,
    /// The leader's high watermark, if the leader is up.
    pub high_watermark: Option<u64>,
    /// The leader's log start offset, if the leader is up.
    pub log_start_offset: Option<u64>,
    /// The leader's last stable offset, if the leader is up: a `read_committed` consumer reads
    /// below it. Without transactions it is the high watermark.
    pub last_stable_offset: Option<u64>,
    /// How many segments the leader's log has, if the leader is up.
    pub segments: Option<u64>,
    /// Where the leader's log cleaner last stopped, for a compacted topic it has cleaned: the
    /// log below it holds only the latest record of each key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleaned_up_to: Option<u64>,
    /// Each replica's log end offset, by broker id.
    pub log_end_offsets: VecMap<String, u64>,
}

/// What a line of the story tells, for a reader that shows kinds apart (the HTML report).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoryKind {
    /// Anything else a node did (a registration, an ISR change, a rebalance, an error).
    Event,
    /// A fault or an operator's action (crash, restart, cut, heal, the final phase).
    Fault,
    /// The controller elected a leader, or left a partition without one.
    Election,
    /// A leader elected from outside the ISR.
    UncleanElection,
    /// Committed records lost in a way the configuration allows.
    Loss,
    /// A per-step invariant failed.
    CheckFailed,
    /// A note of the runner (the swarm's draw, an action skipped).
    Note,
}

/// A line of the run's story.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StoryLine {
    /// When (ms).
    pub time_ms: u64,
    /// What it tells.
    pub kind: StoryKind,
    /// What happened, in words.
    pub text: String,
}

/// Everything a run produced.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// The scenario's name.
    pub scenario: String,
    /// The scenario file.
    pub file: String,
    /// The seed.
    pub seed: u64,
    /// `pass` or `fail`.
    pub verdict: String,
    /// Why a failing run failed: the most serious class among its failing checks (`safety`,
    /// then `liveness`, then `expectation`).
    pub class: Option<CheckClass>,
    /// The command that reproduces the run.
    pub reproduce: String,
    /// What the seed drew, for a swarm scenario.
    pub swarm: Option<SwarmSummary>,
    /// Every check.
    pub checks: Vec<Check>,
    /// The history oracle's findings.
    pub history: HistoryReport,
    /// The consumer side of the oracle (`consumed`, `unseen`, `duplicates_delivered`, ...).
    #[serde(flatten)]
    pub delivery: DeliveryReport,
    /// The transactional side, when the scenario has transactional producers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transactions: Option<TransactionReport>,
    /// Each consume-transform-produce pipeline held to exactly-once, end to end.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exactly_once: Vec<ExactlyOnceReport>,
    /// The partitions at the end.
    pub partitions: Vec<PartitionReport>,
    /// The consumer groups at the end, as their coordinators hold them.
    pub groups: Vec<GroupReport>,
    /// What happened, in order.
    pub story: Vec<StoryLine>,
    /// Events processed.
    pub events: u64,
    /// Virtual time at the end (ms).
    pub virtual_time_ms: u64,
    /// The hash of the trace, when one was recorded.
    pub trace_hash: Option<String>,
    /// The trace's lines, when kept.
    #[serde(skip)]
    pub trace_lines: Option<Vec<String>>,
    /// What a report plots, when asked for ([`RunOptions::charts`]).
    #[serde(skip)]
    pub charts: Option<Charts>,
}

impl RunReport {
    /// Whether every check held.
    pub fn passed(&self) -> bool {
        self.verdict == "pass"
    }

    /// The first failing check of the run's class, the one a summary shows.
    pub fn first_finding(&self) -> Option<&Check> {
        let class = self.class?;
        self.checks.iter().find(|c| !c.ok && c.class == class)
    }
}

/// The client ids of a scenario's clients, in the order of `scenario.producers` and
/// `scenario.consumers`, and the final reader's: declared producers first, then declared
/// consumers, then spare clients (producers, then consumers), then the final reader. Spares come
/// after every declared client so that adding them shifts no declared client's id, and so none
/// of their seeds or their order in the World.
pub fn client_ids(scenario: &Scenario) -> (Vec<ClientId>, Vec<ClientId>, ClientId) {
    let spare = |s: ClientStart| s == ClientStart::Spare;
    let mut next = 0;
    let mut pids = vec![ClientId(0); scenario.producers.len()];
    let mut cids = vec![ClientId(0); scenario.consumers.len()];
    let producers = scenario.producers.iter().map(|p| spare(p.start));
    let consumers = scenario.consumers.iter().map(|c| spare(c.start));
    for pass in [false, true] {
        for (id, is_spare) in pids.iter_mut().zip(producers.clone()) {
            if is_spare == pass {
                *id = ClientId(next);
                next += 1;
            }
        }
        for (id, is_spare) in cids.iter_mut().zip(consumers.clone()) {
            if is_spare == pass {
                *id = ClientId(next);
                next += 1;
            }
        }
    }
    (pids, cids, ClientId(next))
}

/// Every node a scenario runs, except the final reader.
pub fn node_specs(scenario: &Scenario) -> Vec<NodeSpec> {
    let bootstrap = scenario.broker_ids();
    let (pids, cids, _) = client_ids(scenario);
    let mut specs = vec![NodeSpec::Controller {
        config: scenario.broker_config.clone(),
    }];
    for b in scenario.broker_ids() {
        specs.push(NodeSpec::Broker {
            id: b,
            config: scenario.broker_config.clone(),
        });
    }
    for (p, id) in scenario.producers.iter().zip(pids) {
        specs.push(NodeSpec::Producer {
            id,
            name: p.name.clone(),
            config: p.config.clone(),
            workload: p.workload.clone(),
            bootstrap: bootstrap.clone(),
        });
    }
    for (c, id) in scenario.consumers.iter().zip(cids) {
        specs.push(NodeSpec::Consumer {
            id,
            name: c.name.clone(),
            config: c.config.clone(),
            workload: c.workload.clone(),
            bootstrap: bootstrap.clone(),
            output: c.output.clone(),
        });
    }
    specs
}

/// The consumer that reads every partition from the start at the end of a run.
pub fn reader_spec(scenario: &Scenario) -> NodeSpec {
    let (_, _, id) = client_ids(scenario);
    NodeSpec::Consumer {
        id,
        name: "final-reader".into(),
        config: ConsumerConfig {
            auto_offset_reset: OffsetReset::Earliest,
            ..ConsumerConfig::default()
        },
        workload: ConsumerWorkload {
            assign: scenario.partitions(),
            subscribe: Vec::new(),
            processing_time: gregor_core::time::Duration(0),
            commit: CommitMode::Never,
        },
        bootstrap: scenario.broker_ids(),
        output: None,
    }
}

/// A scenario being run on a driver (the World unless said otherwise).
pub struct Run<'a, D: Driver = World> {
    scenario: &'a Scenario,
    /// The driver the nodes run on.
    pub world: D,
    /// The invariants.
    pub invariants: Invariants,
    seed: u64,
    ready_at: Option<Instant>,
    check_steps: bool,
    results_at: Vec<Check>,
    notes: Vec<(Instant, String)>,
    power_loss: bool,
    /// Whether an EndTxn was delayed (the `delay` fault), which voids transaction version 1's
    /// promises (KAFKA-17754).
    delayed_end_txn: bool,
    unclean_enabled: bool,
    swarm: Option<SwarmPlan>,
    /// Why the final phase did not converge, in words, when it did not.
    stall: Option<String>,
    /// Replicas the final phase converged without, each with why Kafka would leave it out too.
    excused: Vec<String>,
    /// The timeline (the scenario's actions and timed expectations, and the swarm's faults) in
    /// the order it is played, built once the cluster is ready.
    schedule: Option<Vec<Scheduled>>,
    /// How many items of `schedule` have been played.
    played: usize,
}

/// One item of the timeline: an action or a timed expectation.
#[derive(Clone, Debug)]
enum Scheduled {
    Action(Instant, Action),
    Expectation(TimedExpectation),
}

impl Scheduled {
    fn time(&self) -> Instant {
        match self {
            Scheduled::Action(t, _) => *t,
            Scheduled::Expectation(e) => e.time,
        }
    }
}

impl<'a> Run<'a, World> {
    /// Builds the World of a scenario; nothing runs yet.
    pub fn new(scenario: &'a Scenario, options: &RunOptions) -> Run<'a> {
        let seed = options.seed.unwrap_or(scenario.seed);
        let world = World::new(seed, scenario.network_for(seed), scenario.writeback);
        Run::with_driver(scenario, options, world)
    }

    /// Starts the controller and brokers, creates the topics, and starts the clients that start
    /// when the cluster is ready. Returns whether the cluster became ready in time.
    pub fn bootstrap(&mut self) -> bool {
        ready(self.bootstrap_async())
    }

    /// Plays the timeline (actions and timed expectations) up to `until`.
    pub fn play_until(&mut self, until: Instant) {
        ready(self.play_until_async(until));
    }

    /// Runs the whole scenario and judges it.
    pub fn run(self) -> RunReport {
        ready(self.run_async())
    }

    /// Runs the whole scenario and judges it, keeping the World for a look at the end state.
    pub fn run_in_place(&mut self) -> RunReport {
        ready(self.run_in_place_async())
    }

    /// How many units of the run have happened: events the World processed and timeline items
    /// played. A moment of a run is exactly its unit count (and its clock), whatever mix of
    /// [`Run::step_unit`] and [`Run::play_until`] got it there.
    pub fn units(&self) -> u64 {
        self.world.cluster().steps() + self.played as u64
    }

    /// When the next unit happens: the next event, or the next timeline item if it comes first.
    pub fn next_unit_time(&mut self) -> Option<Instant> {
        let event = self.world.next_event_time();
        let item = self.next_scheduled().map(|i| i.time());
        match (event, item) {
            (Some(e), Some(i)) => Some(e.min(i)),
            (e, i) => e.or(i),
        }
    }

    /// Plays one unit: the next timeline item if it is due before the next event (an item
    /// comes after the events at its own time, as in [`Run::play_until`]), otherwise the next
    /// event, with the invariants checked after it. Returns false when nothing is left.
    pub fn step_unit(&mut self) -> bool {
        let event = self.world.next_event_time();
        match (self.next_scheduled(), event) {
            (Some(item), e) if e.is_none_or(|e| item.time() < e) => {
                let time = item.time();
                let passed = time < self.world.cluster().now();
                if !passed {
                    self.world.run_until(time, |_, _| {});
                }
                self.play_scheduled(item, passed);
                true
            }
            (_, Some(_)) => {
                if let Some(step) = self.world.step()
                    && self.check_steps
                {
                    self.invariants.after_step(&self.world, step);
                }
                true
            }
            _ => false,
        }
    }

    /// Moves the clock forward to `time` without playing anything: every unit at or before it
    /// must have happened (the caller knows; [`crate::session`] replays moments this way).
    pub fn wait_until(&mut self, time: Instant) {
        let now = self.world.now();
        debug_assert!(time <= now || self.next_unit_time().is_none_or(|t| t > time));
        self.world.set_clock(time);
    }
}

impl<'a, D: Driver> Run<'a, D> {
    /// Sets a scenario up on `driver` (which holds no node yet); nothing runs yet.
    pub fn with_driver(scenario: &'a Scenario, options: &RunOptions, mut world: D) -> Run<'a, D> {
        let seed = options.seed.unwrap_or(scenario.seed);
        if options.trace {
            let header = TraceHeader {
                format: TRACE_FORMAT.into(),
                version: TRACE_VERSION,
                seed,
                driver: D::NAME.into(),
                scenario: scenario.name.clone(),
                scenario_source: scenario.source.clone(),
                scenario_compiled: Some(crate::compiled::encode_scenario(scenario)),
            };
            world.set_trace(TraceRecorder::new(&header, true));
        }
        for spec in node_specs(scenario) {
            world.add_node(spec);
        }
        world.add_node(reader_spec(scenario));
        let mut invariants = Invariants::new();
        invariants.watch_groups(OwnershipWatch::new(
            declared_groups(scenario),
            scenario.broker_config.offsets_topic_num_partitions,
        ));
        if options.charts {
            invariants.sampler = Some(Sampler::new(scenario));
        }
        let swarm = scenario
            .swarm
            .as_ref()
            .map(|spec| SwarmPlan::draw(spec, scenario, seed));
        let mut notes = Vec::new();
        if let Some(plan) = &swarm {
            notes.push((Instant(0), plan.describe()));
        }
        Run {
            scenario,
            world,
            invariants,
            seed,
            ready_at: None,
            check_steps: !options.skip_invariants,
            results_at: Vec::new(),
            notes,
            power_loss: false,
            delayed_end_txn: false,
            unclean_enabled: scenario
                .topics
                .iter()
                .any(|t| t.config.unclean_leader_election_enable),
            swarm,
            stall: None,
            excused: Vec::new(),
            schedule: None,
            played: 0,
        }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The scenario being run.
    pub fn scenario(&self) -> &'a Scenario {
        self.scenario
    }

    async fn run_until(&mut self, t: Instant) {
        let invariants = self.check_steps.then_some(&mut self.invariants);
        self.world.run_until(t, invariants).await;
    }

    /// Runs until `done` holds or `bound` passes; returns whether `done` held.
    async fn run_while(&mut self, bound: Instant, done: impl FnMut(&Cluster) -> bool) -> bool {
        let invariants = self.check_steps.then_some(&mut self.invariants);
        self.world.run_while(bound, invariants, done).await
    }

    /// Starts the controller and brokers, creates the topics, and starts the clients that start
    /// when the cluster is ready. Returns whether the cluster became ready in time.
    pub async fn bootstrap_async(&mut self) -> bool {
        self.world.start(NodeId::Controller);
        for b in self.scenario.broker_ids() {
            self.world.start(NodeId::Broker(b));
        }
        let brokers = self.scenario.broker_ids();
        let bound = self.world.cluster().now() + BOOTSTRAP_BOUND;
        let registered = self
            .run_while(bound, |w| {
                w.controller()
                    .is_some_and(|c| brokers.iter().all(|b| c.image().is_active(*b)))
            })
            .await;
        if !registered {
            return false;
        }
        let topics: Vec<NewTopic> = self
            .scenario
            .topics
            .iter()
            .map(|t| NewTopic {
                name: t.name.clone(),
                assignment: t.assignment.clone(),
                config: t.config.clone(),
            })
            .collect();
        let mut topics = topics;
        if self.scenario.has_groups() {
            // Kafka creates `__consumer_offsets` on the first FindCoordinator; creating it with
            // the cluster's topics makes every run start from the same point.
            let (name, assignment) = self.scenario.offsets_topic();
            topics.push(NewTopic {
                name,
                assignment,
                config: self.scenario.broker_config.offsets_topic_config(),
            });
        }
        if self.scenario.has_transactions() {
            // `__transaction_state` likewise, which Kafka creates on the first transactional
            // FindCoordinator.
            let (name, assignment) = self.scenario.transaction_state_topic();
            topics.push(NewTopic {
                name,
                assignment,
                config: self.scenario.broker_config.transaction_state_topic_config(),
            });
        }
        // Like Kafka's admin client, the operator retries a request that got no answer
        // (the network may lose it); a retry of a created topic answers TOPIC_ALREADY_EXISTS.
        let mut partitions = self.scenario.partitions();
        partitions.extend(self.scenario.internal_partitions());
        let mut led = false;
        while !led && self.world.cluster().now() < bound {
            self.world.send_admin(
                NodeId::Controller,
                Message::CreateTopics(CreateTopicsRequest {
                    correlation: 1,
                    topics: topics.clone(),
                }),
            );
            let retry = (self.world.cluster().now() + ADMIN_RETRY).min(bound);
            led = self
                .run_while(retry, |w| {
                    partitions.iter().all(|tp| {
                        w.controller()
                            .and_then(|c| c.image().partition(tp))
                            .and_then(|p| p.leader)
                            .and_then(|l| w.broker(l))
                            .is_some_and(|b| b.partition(tp).is_some_and(|p| p.is_leader()))
                    })
                })
                .await;
        }
        if !led {
            return false;
        }
        self.ready_at = Some(self.world.cluster().now());
        let (pids, cids, _) = client_ids(self.scenario);
        for (p, id) in self.scenario.producers.iter().zip(pids) {
            if p.start == ClientStart::Ready {
                self.world.start(NodeId::Client(id));
            }
        }
        for (c, id) in self.scenario.consumers.iter().zip(cids) {
            if c.start == ClientStart::Ready {
                self.world.start(NodeId::Client(id));
            }
        }
        true
    }

    /// The timeline in the order it is played: by time, actions before expectations, and in
    /// file order (a swarm's faults after the file's actions at the same time).
    fn schedule(&mut self) -> &[Scheduled] {
        if self.schedule.is_none() {
            let mut items: Vec<(Instant, bool, usize, Scheduled)> = Vec::new();
            for a in &self.scenario.timeline {
                items.push((
                    a.time,
                    false,
                    a.line,
                    Scheduled::Action(a.time, a.action.clone()),
                ));
            }
            // A swarm's faults count from the moment the cluster is ready, so that none is lost
            // to a bootstrap that took longer under this seed's network.
            if let (Some(plan), Some(ready)) = (&self.swarm, self.ready_at) {
                for a in &plan.timeline {
                    let time = ready + Duration(a.time.0);
                    items.push((
                        time,
                        false,
                        usize::MAX,
                        Scheduled::Action(time, a.action.clone()),
                    ));
                }
            }
            for e in &self.scenario.expect_at {
                items.push((e.time, true, e.line, Scheduled::Expectation(e.clone())));
            }
            gregor_core::sort::sort_by_key(&mut items, |(t, expectation, line, _)| {
                (*t, *expectation, *line)
            });
            self.schedule = Some(items.into_iter().map(|(_, _, _, item)| item).collect());
        }
        self.schedule.as_deref().unwrap_or_default()
    }

    /// The next timeline item not played yet.
    fn next_scheduled(&mut self) -> Option<Scheduled> {
        let played = self.played;
        self.schedule().get(played).cloned()
    }

    /// Plays one timeline item now: applies its action or evaluates its expectation. An item
    /// whose time had passed before the run reached it (before the cluster was ready) is only
    /// counted: the caller decides that before letting time run to the item, because a driver
    /// with a real scheduler (madsim) may wake a little after the time it was asked for.
    fn play_scheduled(&mut self, item: Scheduled, passed: bool) {
        self.played += 1;
        if passed {
            return; // before the cluster was ready; nothing to act on yet
        }
        match item {
            Scheduled::Action(_, a) => self.apply(&a),
            Scheduled::Expectation(e) => {
                let check = self.evaluate(&e);
                self.results_at.push(check);
            }
        }
    }

    /// Plays the timeline (actions and timed expectations) up to `until`. It may be called
    /// again with a later time: every item is played once, after the events at or before its
    /// time.
    pub async fn play_until_async(&mut self, until: Instant) {
        while let Some(item) = self.next_scheduled().filter(|i| i.time() <= until) {
            let time = item.time();
            let passed = time < self.world.cluster().now();
            if !passed {
                self.run_until(time).await;
            }
            self.play_scheduled(item, passed);
        }
        self.run_until(until).await;
    }

    fn leader_of(&self, tp: &TopicPartition) -> Option<BrokerId> {
        self.world
            .cluster()
            .controller()
            .and_then(|c| c.image().partition(tp))
            .and_then(|p| p.leader)
    }

    fn targets(&mut self, target: &Target) -> Vec<NodeId> {
        let brokers = self.scenario.broker_ids();
        let leader_of = |tp: &TopicPartition| self.leader_of(tp);
        let client = |name: &str| self.client(name);
        let offsets = self.scenario.broker_config.offsets_topic_num_partitions;
        match resolve(target, &brokers, leader_of, client, offsets) {
            Ok(ids) => ids,
            Err(why) => {
                let now = self.world.cluster().now();
                self.notes
                    .push((now, format!("action on {target} skipped: {why}")));
                Vec::new()
            }
        }
    }

    fn client(&self, name: &str) -> Option<ClientId> {
        let (pids, cids, _) = client_ids(self.scenario);
        self.scenario
            .producers
            .iter()
            .map(|p| &p.name)
            .zip(pids)
            .chain(self.scenario.consumers.iter().map(|c| &c.name).zip(cids))
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, id)| id)
    }

    /// Applies one timeline action now.
    pub fn apply(&mut self, action: &Action) {
        let scenario = self.scenario;
        let describe = |ids: &[NodeId]| {
            ids.iter()
                .map(|&id| crate::report::name_of(id, scenario))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match action {
            Action::Crash(t) | Action::PowerLoss(t) => {
                let power = matches!(action, Action::PowerLoss(_));
                for id in self.targets(t) {
                    // Only a broker's or the controller's disk can lose unflushed writes.
                    self.power_loss |= power && !matches!(id, NodeId::Client(_));
                    self.world.crash(id, power);
                }
            }
            Action::Restart(t) => {
                for id in self.targets(t) {
                    if self.world.cluster().status(id) == Status::Crashed {
                        self.world.start(id);
                    }
                }
            }
            Action::Pause(t) => {
                for id in self.targets(t) {
                    self.world.pause(id);
                }
            }
            Action::Resume(t) => {
                for id in self.targets(t) {
                    self.world.resume(id);
                }
            }
            Action::Isolate(t) => {
                let ids = self.targets(t);
                let all: Vec<NodeId> = self.world.cluster().node_ids().collect();
                for &id in &ids {
                    for &other in &all {
                        if other != id {
                            self.world.cut(id, other);
                            self.world.cut(other, id);
                        }
                    }
                }
                self.world.note_fault(format!(
                    "network: {} isolated from every other node",
                    describe(&ids)
                ));
            }
            Action::Cut(link) | Action::Clog(link) | Action::Unclog(link) => {
                let from = self.targets(&link.from);
                let to = self.targets(&link.to);
                for &a in &from {
                    for &b in &to {
                        let mut pairs = vec![(a, b)];
                        if link.both_ways {
                            pairs.push((b, a));
                        }
                        for (x, y) in pairs {
                            match action {
                                Action::Cut(_) => self.world.cut(x, y),
                                Action::Clog(_) => self.world.clog(x, y),
                                _ => self.world.unclog(x, y),
                            }
                        }
                    }
                }
                let verb = match action {
                    Action::Cut(_) => "cut",
                    Action::Clog(_) => "clogged",
                    _ => "unclogged",
                };
                let arrow = if link.both_ways { "<->" } else { "->" };
                self.world.note_fault(format!(
                    "network: link {} {arrow} {} {verb}",
                    describe(&from),
                    describe(&to)
                ));
            }
            Action::Split(groups) => {
                let groups: Vec<Vec<NodeId>> = groups
                    .iter()
                    .map(|g| g.iter().flat_map(|t| self.targets(t)).collect())
                    .collect();
                for (i, g) in groups.iter().enumerate() {
                    for h in groups.iter().skip(i + 1) {
                        for &a in g {
                            for &b in h {
                                self.world.cut(a, b);
                                self.world.cut(b, a);
                            }
                        }
                    }
                }
                let text = groups
                    .iter()
                    .map(|g| format!("[{}]", describe(g)))
                    .collect::<Vec<_>>()
                    .join(" | ");
                self.world.note_fault(format!("network: split into {text}"));
            }
            Action::Heal => {
                self.world.heal();
                self.world
                    .note_fault("network: every cut link healed".into());
            }
            Action::SetTopicConfig { topic, key, value } => {
                if key == "unclean.leader.election.enable" && value == "true" {
                    self.unclean_enabled = true;
                }
                self.world
                    .note_fault(format!("admin: set {key}={value} on topic {topic}"));
                let message = Message::AlterTopicConfig(AlterTopicConfigRequest {
                    correlation: 2,
                    topic: topic.clone(),
                    key: key.clone(),
                    value: value.clone(),
                });
                self.world.send_admin(NodeId::Controller, message);
            }
            Action::Elect {
                partition,
                election,
            } => {
                // Topic names are ASCII (the scenario parser holds them to Kafka's
                // `[a-zA-Z0-9._-]`), so the ASCII lowering is the whole lowering, without
                // Unicode's case tables.
                self.world.note_fault(
                    format!("admin: {election:?} election requested for {partition}")
                        .to_ascii_lowercase(),
                );
                let message = Message::ElectLeaders(ElectLeadersRequest {
                    correlation: 3,
                    election: *election,
                    partitions: vec![partition.clone()],
                });
                self.world.send_admin(NodeId::Controller, message);
            }
            Action::Start(name) | Action::Stop(name) => {
                let Some(id) = self.client(name) else { return };
                let node = NodeId::Client(id);
                let status = self.world.cluster().status(node);
                let verb = if matches!(action, Action::Start(_)) {
                    "started"
                } else {
                    "stopped"
                };
                // The action is told before what the client does at once because of it.
                self.world.note_fault(format!("{name} {verb}"));
                match (action, status) {
                    (Action::Start(_), Status::NotStarted) => {
                        self.create_offsets_topic_for(id);
                        self.world.start(node);
                    }
                    (Action::Start(_), _) => self.world.command(id, ClientCommand::StartWorkload),
                    (_, _) => self.world.command(id, ClientCommand::StopWorkload),
                }
            }
            Action::Leave(name) => {
                let Some(id) = self.client(name) else { return };
                // Told first: the client revokes and leaves in the same millisecond.
                self.world
                    .note_fault(format!("{name} closes and leaves its group"));
                self.world.command(id, ClientCommand::LeaveGroup);
            }
            Action::Send {
                producer,
                key,
                value,
            } => {
                let Some(id) = self.client(producer) else {
                    return;
                };
                let node = NodeId::Client(id);
                // A console producer starts when its first line is typed; its workload (often
                // empty) starts with it.
                if self.world.cluster().status(node) == Status::NotStarted {
                    self.world.start(node);
                }
                if self.world.cluster().status(node) == Status::Running {
                    self.world.command(
                        id,
                        ClientCommand::Send {
                            key: key.clone(),
                            text: value.clone(),
                        },
                    );
                }
            }
            Action::Delay {
                client,
                request,
                by,
            } => {
                let (Some(id), Some(api)) = (
                    self.client(client),
                    gregor_core::protocol::CLIENT_REQUESTS
                        .iter()
                        .find(|r| **r == request.as_str()),
                ) else {
                    return;
                };
                self.world.delay_next(NodeId::Client(id), api, *by);
                self.delayed_end_txn |= *api == "EndTxn";
                self.world.note_fault(format!(
                    "network: {client}'s next {request} will arrive {by} late, and its connection stalls behind it"
                ));
            }
            Action::Writeback(t) => {
                for id in self.targets(t) {
                    if let NodeId::Broker(b) = id {
                        self.world.writeback_now(b);
                    }
                }
            }
        }
    }

    /// A spare group member starting in a scenario that declares no group: Kafka creates
    /// `__consumer_offsets` on the first FindCoordinator, answering COORDINATOR_NOT_AVAILABLE
    /// until it is led, and the consumer retries. Here the operator asks the controller for it
    /// as the member starts (a retry of an existing topic answers TOPIC_ALREADY_EXISTS).
    fn create_offsets_topic_for(&mut self, client: ClientId) {
        let (_, cids, _) = client_ids(self.scenario);
        let in_group = cids
            .iter()
            .zip(&self.scenario.consumers)
            .any(|(&id, c)| id == client && c.config.group_id.is_some());
        if !in_group || self.scenario.has_groups() {
            return;
        }
        let (name, assignment) = self.scenario.offsets_topic();
        let exists = self
            .world
            .cluster()
            .controller()
            .is_some_and(|c| c.image().topic_config(&name).is_some());
        if exists {
            return;
        }
        self.world.send_admin(
            NodeId::Controller,
            Message::CreateTopics(CreateTopicsRequest {
                correlation: 2,
                topics: vec![NewTopic {
                    name,
                    assignment,
                    config: self.scenario.broker_config.offsets_topic_config(),
                }],
            }),
        );
    }

    /// Whether a producer got this error from a broker or in a send's callback, or a consumer
    /// got it for a fetch.
    fn client_saw(
        &self,
        cluster: &Cluster,
        name: &str,
        error: gregor_core::error::ErrorCode,
    ) -> bool {
        let Some(id) = self.client(name) else {
            return false;
        };
        cluster.log().iter().any(|e| {
            e.node == NodeId::Client(id)
                && matches!(&e.event, WorldEvent::Node(Event::ProduceError { error: x, .. } | Event::RecordFailed { error: x, .. } | Event::ConsumerError { error: x, .. }) if *x == error)
        })
    }

    fn evaluate(&self, e: &TimedExpectation) -> Check {
        let cluster = self.world.cluster();
        let image = cluster.controller().map(|c| c.image());
        let partition = |tp: &TopicPartition| image.and_then(|i| i.partition(tp));
        let (what, ok, found) = match &e.expectation {
            Expectation::Leader(tp, want) => {
                let got = partition(tp).and_then(|p| p.leader);
                let show = |b: Option<BrokerId>| {
                    b.map_or_else(|| "none".to_string(), |b| format!("broker {b}"))
                };
                (
                    format!("leader of {tp} is {}", show(*want)),
                    got == *want,
                    show(got),
                )
            }
            Expectation::Isr(tp, want) => {
                let got: gregor_core::map::VecSet<BrokerId> = partition(tp)
                    .map(|p| p.isr.iter().copied().collect())
                    .unwrap_or_default();
                (
                    format!(
                        "ISR of {tp} is {:?}",
                        want.iter().map(|b| b.0).collect::<Vec<_>>()
                    ),
                    &got == want,
                    format!("{:?}", got.iter().map(|b| b.0).collect::<Vec<_>>()),
                )
            }
            Expectation::LeaderEpoch(tp, range) => {
                let got = partition(tp).map(|p| u64::from(p.leader_epoch.0));
                (
                    format!("leader epoch of {tp} is {range}"),
                    got.is_some_and(|g| range.contains(g)),
                    format!("{got:?}"),
                )
            }
            Expectation::HighWatermark(tp, range) => {
                let got = high_watermark(&cluster, tp).map(|o| o.0);
                (
                    format!("high watermark of {tp} is {range}"),
                    got.is_some_and(|g| range.contains(g)),
                    got.map_or_else(|| "no live leader".into(), |g| g.to_string()),
                )
            }
            Expectation::LogStartOffset(tp, range) => {
                let got = leader_log(&cluster, tp).map(|l| l.log_start_offset().0);
                (
                    format!("log start offset of {tp} is {range}"),
                    got.is_some_and(|g| range.contains(g)),
                    got.map_or_else(|| "no live leader".into(), |g| g.to_string()),
                )
            }
            Expectation::Segments(tp, range) => {
                let got = leader_log(&cluster, tp).map(|l| l.segments().len() as u64);
                (
                    format!("segments of {tp}: {range}"),
                    got.is_some_and(|g| range.contains(g)),
                    got.map_or_else(|| "no live leader".into(), |g| g.to_string()),
                )
            }
            Expectation::Records(tp, range) => {
                let got = leader_log(&cluster, tp).map(|l| l.record_count());
                (
                    format!("records in {tp}: {range}"),
                    got.is_some_and(|g| range.contains(g)),
                    got.map_or_else(|| "no live leader".into(), |g| g.to_string()),
                )
            }
            Expectation::SawError(p, err) => {
                let saw = self.client_saw(&cluster, p, *err);
                (
                    format!("{p} saw {err}"),
                    saw,
                    if saw {
                        "seen".into()
                    } else {
                        "never seen".into()
                    },
                )
            }
            Expectation::NeverSawError(p, err) => {
                let saw = self.client_saw(&cluster, p, *err);
                (
                    format!("{p} never saw {err}"),
                    !saw,
                    if saw {
                        "seen".into()
                    } else {
                        "never seen".into()
                    },
                )
            }
            Expectation::BrokerState(b, state) => {
                let status = cluster.status(NodeId::Broker(*b));
                let fenced = image
                    .and_then(|i| i.brokers.get(b))
                    .is_none_or(|r| r.fenced);
                let got = match state.as_str() {
                    "fenced" | "unfenced" => {
                        if fenced {
                            "fenced"
                        } else {
                            "unfenced"
                        }
                    }
                    _ => match status {
                        Status::Running => "running",
                        Status::Paused => "paused",
                        Status::Crashed => "crashed",
                        Status::NotStarted => "not started",
                    },
                };
                (
                    format!("broker {b} is {state}"),
                    got == state,
                    got.to_string(),
                )
            }
            Expectation::GroupState(group, want) => {
                let got = coordinator_group(&cluster, self.scenario, group)
                    .map_or("unknown (no coordinator has it loaded)", |g| g.state.name());
                (
                    format!("group {group} is {want}"),
                    got == want,
                    got.to_string(),
                )
            }
            Expectation::GroupGeneration(group, range) => {
                let got = coordinator_group(&cluster, self.scenario, group)
                    .map(|g| g.generation.max(0) as u64);
                (
                    format!("generation of group {group} is {range}"),
                    got.is_some_and(|g| range.contains(g)),
                    got.map_or_else(|| "no coordinator".into(), |g| g.to_string()),
                )
            }
            Expectation::GroupAssignment(group, want) => {
                let show = |m: &VecMap<String, VecSet<TopicPartition>>| {
                    m.iter()
                        .map(|(c, tps)| {
                            let list: Vec<String> = tps.iter().map(ToString::to_string).collect();
                            format!("{c}: [{}]", list.join(", "))
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                };
                let got: VecMap<String, VecSet<TopicPartition>> = want
                    .keys()
                    .map(|name| {
                        let owned = self
                            .client(name)
                            .filter(|id| cluster.status(NodeId::Client(*id)) == Status::Running)
                            .and_then(|id| cluster.consumer(id))
                            .map(|c| c.assignment().cloned().collect())
                            .unwrap_or_default();
                        (name.clone(), owned)
                    })
                    .collect();
                (
                    format!("in group {group}, {}", show(want)),
                    &got == want,
                    show(&got),
                )
            }
        };
        Check {
            name: format!("at {}: {what}", e.time),
            class: CheckClass::Expectation,
            ok,
            detail: if ok {
                format!("yes ({found})")
            } else {
                format!("found {found} (line {})", e.line)
            },
        }
    }

    /// The final phase: stop producing, heal everything, wait for convergence, read every
    /// partition. Returns (converged, read complete).
    async fn finish_phase(&mut self) -> (bool, bool) {
        let (pids, _, reader) = client_ids(self.scenario);
        for &id in &pids {
            if self.world.cluster().producer(id).is_some() {
                self.world.command(id, ClientCommand::StopWorkload);
            }
        }
        if self.scenario.final_heal {
            self.world.heal();
            self.world.calm_network();
            self.world.unclog_all();
            let nodes: Vec<NodeId> = self.world.cluster().node_ids().collect();
            for id in nodes {
                let status = self.world.cluster().status(id);
                match status {
                    Status::Paused => self.world.resume(id),
                    Status::Crashed => self.world.start(id),
                    _ => {}
                }
            }
            self.world.note_fault(
                "final phase: producers stopped, network healed (no cut links, no loss), every node running".into(),
            );
        } else {
            self.world
                .note_fault("final phase: producers stopped".into());
        }
        let delivery = self
            .scenario
            .producers
            .iter()
            .map(|p| p.config.delivery_timeout)
            .max()
            .unwrap_or(Duration::ZERO);
        let bound = self.world.cluster().now() + delivery + Duration::from_secs(60);
        let mut cluster = self.scenario.partitions();
        cluster.extend(self.scenario.internal_partitions());
        let mut forks = ForkWatch::new();
        let mut converged = self
            .run_while(bound, |w| {
                forks.absorb(w.log());
                convergence_gaps(w, &pids, &cluster, &forks).is_empty()
            })
            .await;
        forks.absorb(self.world.cluster().log());
        if !converged {
            let gaps = convergence_gaps(&self.world.cluster(), &pids, &cluster, &forks);
            self.stalled(format!(
                "the cluster did not converge in time: {}",
                gaps.join("; ")
            ));
        } else {
            let excused = convergence_excuses(&self.world.cluster(), &cluster, &forks);
            for e in &excused {
                self.world.note_fault(format!("final phase: {e}"));
            }
            self.excused = excused;
            if self.scenario.has_groups() {
                converged = self.catch_up_consumers().await;
            }
        }
        let partitions = self.scenario.partitions();
        self.world.start(NodeId::Client(reader));
        let bound = self.world.cluster().now() + READ_BOUND;
        // The read is final only on a converged cluster: a broker the controller fences while
        // the reader reads (a restarted one whose old session only now expires) can leave a
        // leader whose high watermark is below records every replica holds, and reading to it
        // would call them lost.
        let converged_before = converged;
        let read = self
            .run_while(bound, |w| {
                forks.absorb(w.log());
                read_complete(w, reader, &partitions)
                    && (!converged_before
                        || convergence_gaps(w, &pids, &cluster, &forks).is_empty())
            })
            .await;
        if !read {
            let positions: Vec<String> = partitions
                .iter()
                .map(|tp| {
                    let pos = self
                        .world
                        .cluster()
                        .consumer(reader)
                        .and_then(|c| c.positions().get(tp).copied())
                        .unwrap_or_default();
                    format!(
                        "{tp} at {:?} of HW {:?}",
                        pos.position.map(|o| o.0),
                        pos.high_watermark.map(|o| o.0)
                    )
                })
                .collect();
            forks.absorb(self.world.cluster().log());
            let gaps = convergence_gaps(&self.world.cluster(), &pids, &cluster, &forks);
            if converged_before && !gaps.is_empty() {
                self.stalled(format!(
                    "the cluster stopped converging during the final read: {}",
                    gaps.join("; ")
                ));
            } else {
                self.stalled(format!(
                    "the final read did not finish: {}",
                    positions.join(", ")
                ));
            }
        }
        (converged, read)
    }

    /// Lets the consumer groups catch up: consumers that were stopped consume again, and every
    /// group with a running member must become Stable with all its partitions owned and
    /// processed up to the high watermark, within two session timeouts and a minute (a
    /// restarted member may have to wait for its old self's session to expire).
    /// Records why the final phase stalled: in the story, and for the convergence check.
    fn stalled(&mut self, why: String) {
        self.world.note_fault(format!("final phase: {why}"));
        self.stall.get_or_insert(why);
    }

    async fn catch_up_consumers(&mut self) -> bool {
        let (_, cids, _) = client_ids(self.scenario);
        let stopped: Vec<ClientId> = {
            let cluster = self.world.cluster();
            cids.iter()
                .copied()
                .filter(|&id| {
                    cluster
                        .consumer(id)
                        .is_some_and(|c| !c.is_consuming() && c.group().is_none_or(|g| !g.left))
                })
                .collect()
        };
        for id in stopped {
            self.world.command(id, ClientCommand::StartWorkload);
        }
        let session = self
            .scenario
            .consumers
            .iter()
            .map(|c| c.config.session_timeout)
            .max()
            .unwrap_or(Duration::ZERO);
        // A member whose JoinGroup went to a coordinator that then lost power hears nothing
        // until the request times out, after the rebalance timeout (`max.poll.interval.ms`)
        // plus five seconds (`AbstractCoordinator.sendJoinGroupRequest`): the bound covers it.
        let join = self
            .scenario
            .consumers
            .iter()
            .map(|c| c.config.max_poll_interval)
            .max()
            .unwrap_or(Duration::ZERO)
            + Duration::from_secs(5);
        let bound = self.world.cluster().now()
            + Duration(session.0 * 2)
            + join
            + self.scenario.broker_config.group_initial_rebalance_delay
            + Duration::from_secs(60);
        let scenario = self.scenario;
        let caught_up = self
            .run_while(bound, |w| catch_up_gaps(w, scenario).is_empty())
            .await;
        if !caught_up {
            let gaps = catch_up_gaps(&self.world.cluster(), scenario);
            self.stalled(format!(
                "the consumer groups did not catch up in time: {}",
                gaps.join("; ")
            ));
        }
        caught_up
    }

    /// Runs the whole scenario and judges it.
    pub async fn run_async(mut self) -> RunReport {
        self.run_in_place_async().await
    }

    /// Runs the whole scenario and judges it, keeping the driver for a look at the cluster
    /// afterwards (the run cannot go on: its checks are spent).
    pub async fn run_in_place_async(&mut self) -> RunReport {
        let ready = self.bootstrap_async().await;
        let mut checks = vec![Check {
            name: "cluster ready".into(),
            class: CheckClass::Liveness,
            ok: ready,
            detail: match self.ready_at {
                Some(t) => format!("brokers registered and topics led at {t}"),
                None => "brokers never registered or topics never got leaders".into(),
            },
        }];
        let (mut converged, mut read) = (false, false);
        if ready {
            let end = Instant(self.scenario.duration.0);
            self.play_until_async(end).await;
            (converged, read) = self.finish_phase().await;
        }
        self.world.record_digest();
        checks.append(&mut self.results_at);
        let (_, _, reader) = client_ids(self.scenario);
        let finals = final_logs(&self.world.cluster(), self.scenario);
        let history = history::analyse(
            self.world.cluster().log(),
            &self.producer_infos(),
            reader,
            read,
            &finals,
        );
        let compacted = finals
            .iter()
            .filter(|(_, f)| f.compacted)
            .map(|(tp, _)| tp.clone())
            .collect();
        let mut groups = declared_groups(self.scenario);
        hide_uncommitted(&self.world.cluster(), self.scenario, &mut groups);
        let delivery = delivery::analyse(self.world.cluster().log(), &groups, reader, &compacted);
        let transactions = self.scenario.has_transactions().then(|| {
            let (_, cids, _) = client_ids(self.scenario);
            let read_committed = self
                .scenario
                .consumers
                .iter()
                .zip(cids)
                .filter(|(c, _)| c.config.isolation_level == IsolationLevel::ReadCommitted)
                .map(|(c, id)| (id, c.name.clone()))
                .collect();
            transactions::analyse(self.world.cluster().log(), &read_committed)
        });
        let exactly_once = pipeline_reports(&self.world.cluster(), self.scenario);
        checks.extend(self.judge(&history, converged, read));
        checks.extend(self.judge_delivery(&delivery, converged && read));
        if let Some(t) = &transactions {
            // KAFKA-17754: under transaction.version 1 an EndTxn that arrives after its retry
            // decides whichever transaction is open then, and Kafka has no defence.
            let excuse = (self.delayed_end_txn
                && self.scenario.broker_config.transaction_version < 2)
                .then_some(
                    "transaction.version 1 lets an EndTxn delayed past its retry decide the next transaction (KAFKA-17754)",
                );
            checks.push(judge_transactions(t, excuse));
            if let Some(r) = self.scenario.expect.aborted_reads {
                checks.push(Check {
                    name: format!("expected aborted reads: {r}"),
                    class: CheckClass::of_count(r, t.aborted_reads),
                    ok: r.contains(t.aborted_reads),
                    detail: format!("got {}", t.aborted_reads),
                });
            }
            checks.push(judge_precommitted(t));
        }
        for report in &exactly_once {
            checks.push(judge_exactly_once(report, converged));
        }
        let class = checks.iter().filter(|c| !c.ok).map(|c| c.class).min();
        let verdict = if class.is_none() { "pass" } else { "fail" };
        let story = self.story();
        // One view of the cluster for the whole report: the madsim driver's view holds a lock.
        let cluster = self.world.cluster();
        RunReport {
            scenario: self.scenario.name.clone(),
            file: self.scenario.file.clone(),
            seed: self.seed,
            verdict: verdict.into(),
            class,
            swarm: self.swarm.as_ref().map(SwarmPlan::summary),
            reproduce: format!(
                "gregor run {} --seed {} --driver {}",
                self.scenario.file,
                self.seed,
                D::NAME
            ),
            checks,
            history,
            delivery,
            transactions,
            exactly_once,
            partitions: partition_reports(&cluster, self.scenario),
            groups: group_reports(&cluster, self.scenario),
            story,
            events: cluster.steps(),
            virtual_time_ms: cluster.now().0,
            trace_hash: cluster.trace().map(|t| format!("{:016x}", t.hash())),
            trace_lines: cluster
                .trace()
                .and_then(|t| t.lines().map(<[String]>::to_vec)),
            charts: self
                .invariants
                .sampler
                .as_ref()
                .map(|s| s.charts(cluster.log())),
        }
    }

    fn producer_infos(&self) -> VecMap<ClientId, ProducerInfo> {
        let (pids, _, _) = client_ids(self.scenario);
        self.scenario
            .producers
            .iter()
            .zip(pids)
            .map(|(p, id)| {
                (
                    id,
                    ProducerInfo {
                        name: p.name.clone(),
                        acks: p.config.config.acks,
                        idempotent: p.config.idempotence,
                    },
                )
            })
            .collect()
    }

    /// The checks from the invariants, the oracle and the end expectations.
    fn judge(&self, h: &HistoryReport, converged: bool, read: bool) -> Vec<Check> {
        let mut checks = Vec::new();
        for name in INVARIANTS {
            let found: Vec<String> = self
                .invariants
                .violations
                .iter()
                .filter(|v| v.check == name)
                .map(|v| format!("at {}: {}", v.time, v.detail))
                .collect();
            let allowed: Vec<String> = if name == "committed records kept" {
                self.invariants
                    .allowed_losses
                    .iter()
                    .map(|l| {
                        format!(
                            "at {}: {} committed record(s) of {} lost, allowed: {}",
                            l.time,
                            l.records.len(),
                            l.topic_partition,
                            l.reason
                        )
                    })
                    .collect()
            } else if name == "log matching below the HW" {
                allowed_forks(&self.invariants.allowed_forks)
                    .into_iter()
                    .map(|(t, text)| format!("at {t}: {text}"))
                    .collect()
            } else {
                Vec::new()
            };
            let detail = if !found.is_empty() {
                found.join("; ")
            } else if !allowed.is_empty() {
                allowed.join("; ")
            } else {
                "held after every step".into()
            };
            checks.push(Check {
                name: name.into(),
                class: CheckClass::Safety,
                ok: found.is_empty(),
                detail,
            });
        }
        // The promise: acks=all with unclean election off keeps every acknowledged record
        // (KAFKA.md 3.4, 7.1), except what a power loss takes from the page cache of the replica
        // that then leads. Those losses are allowed record by record: the invariant checker saw
        // each leave the log and why. Losses outside the promise are counted only.
        let all_acks = self
            .scenario
            .producers
            .iter()
            .all(|p| p.config.config.acks == Acks::All);
        let promised = all_acks && !self.unclean_enabled;
        // Every record an allowed loss took, by partition, offset and value: one offset may lose
        // several records over a run (a record, then the one written there after it).
        let allowed: VecSet<(TopicPartition, u64, Option<String>)> = self
            .invariants
            .allowed_losses
            .iter()
            .flat_map(|l| {
                l.records.iter().map(|(offset, value, _)| {
                    (
                        l.topic_partition.clone(),
                        offset.0,
                        value.as_ref().map(ToString::to_string),
                    )
                })
            })
            .collect();
        let excused_lost = h
            .lost_places
            .iter()
            .filter(|(tp, offset, value)| {
                offset.is_some_and(|o| allowed.contains(&(tp.clone(), o.0, Some(value.clone()))))
            })
            .count() as u64;
        let excused_inconsistent = h
            .inconsistent_places
            .iter()
            .filter(|(tp, offset)| {
                allowed
                    .range((tp.clone(), offset.0, None)..)
                    .next()
                    .is_some_and(|(t, o, _)| t == tp && *o == offset.0)
            })
            .count() as u64;
        let why_allowed = || {
            let mut w = Vec::new();
            if !all_acks {
                w.push("a producer uses acks below all");
            }
            if self.unclean_enabled {
                w.push("unclean leader election is enabled");
            }
            if self.power_loss {
                w.push("a machine lost power");
            }
            w.join(", ")
        };
        let first = first_loss(h).map_or_else(String::new, |f| format!("; first: {f}"));
        checks.push(if promised {
            let excused = if excused_lost + excused_inconsistent > 0 {
                format!(
                    "; allowed: {excused_lost} lost and {excused_inconsistent} inconsistent, which a power loss took from the page cache of the replica that then led"
                )
            } else {
                String::new()
            };
            Check {
                name: "no acknowledged record lost".into(),
                class: CheckClass::Safety,
                ok: h.lost_acknowledged == excused_lost
                    && h.inconsistent_offsets == excused_inconsistent,
                detail: format!(
                    "{} lost, {} inconsistent offsets{excused}{}",
                    h.lost_acknowledged,
                    h.inconsistent_offsets,
                    if h.lost_acknowledged > excused_lost { first } else { String::new() }
                ),
            }
        } else {
            Check {
                name: "no acknowledged record lost".into(),
                class: CheckClass::Safety,
                ok: true,
                detail: format!(
                    "{} lost, {} inconsistent offsets; allowed because {}",
                    h.lost_acknowledged,
                    h.inconsistent_offsets,
                    why_allowed()
                ),
            }
        });
        let idempotent_dups: u64 = self
            .scenario
            .producers
            .iter()
            .filter(|p| p.config.idempotence)
            .map(|p| h.duplicates_by_producer.get(&p.name).copied().unwrap_or(0))
            .sum();
        let idempotent_reorders: u64 = self
            .scenario
            .producers
            .iter()
            .filter(|p| p.config.idempotence)
            .map(|p| {
                h.nonmonotonic_by_producer
                    .get(&p.name)
                    .copied()
                    .unwrap_or(0)
            })
            .sum();
        // Idempotence keeps a session's records once and in order (KAFKA.md 4.1) as long as the
        // log keeps them at all: after an unclean election or a power loss, offsets are reused
        // and the order of acknowledged offsets breaks with the loss.
        // It also relies on in-order delivery on a connection, which TCP gives and `reorder`
        // takes away.
        let reorder = self.scenario.network.reorder;
        let durable = !self.unclean_enabled && !self.power_loss && !reorder;
        // An epoch bump renumbers the batches still in flight (KIP-360). One that an earlier
        // attempt wrote, its outcome unknown to the producer, is then no retry to the broker
        // and is written again, later in the log: Kafka's idempotent producer does this too
        // (`TransactionManager.bumpIdempotentProducerEpoch`). Those copies, and the send order
        // they break, are counted apart.
        let allowed = |by: &VecMap<String, u64>| -> u64 {
            self.scenario
                .producers
                .iter()
                .filter(|p| p.config.idempotence)
                .map(|p| by.get(&p.name).copied().unwrap_or(0))
                .sum()
        };
        let renumbered_dups = allowed(&h.renumbered_duplicates_by_producer);
        let renumbered_reorders = allowed(&h.renumbered_nonmonotonic_by_producer);
        let mut counts = format!(
            "{idempotent_dups} duplicated and {idempotent_reorders} reordered records from idempotent producers ({} duplicates and {} nonmonotonic sends in all)",
            h.duplicates, h.nonmonotonic_sends
        );
        if renumbered_dups + renumbered_reorders > 0 {
            let first = h
                .renumbered_duplicated
                .first()
                .map_or_else(String::new, |(v, offsets)| {
                    format!(" (first: {v} at offsets {offsets:?})")
                });
            counts.push_str(&format!(
                "; allowed: {renumbered_dups} duplicated and {renumbered_reorders} reordered, written again after an epoch bump renumbered batches whose earlier attempt's outcome was unknown{first}, as Kafka's idempotent producer does (TransactionManager.bumpIdempotentProducerEpoch)"
            ));
        }
        checks.push(Check {
            name: "idempotent producers: no duplicates, send order kept".into(),
            class: CheckClass::Safety,
            ok: !durable
                || (idempotent_dups == renumbered_dups
                    && idempotent_reorders == renumbered_reorders),
                        detail: if durable {
                counts
            } else if reorder {
                format!("{counts}; not promised because the network reorders messages on a connection, which TCP never does")
            } else {
                format!("{counts}; not promised because {}", why_allowed())
            },
        });
        checks.push(Check {
            name: "failed sends stay absent".into(),
            class: CheckClass::Safety,
            ok: h.failed_but_present == 0,
            detail: format!(
                "{} records whose send failed with a definite error are in the log",
                h.failed_but_present
            ),
        });
        if self.scenario.expect.converged {
            checks.push(Check { name: "converged after healing".into(), class: CheckClass::Liveness, ok: converged && read, detail: match &self.stall {
                None if self.excused.is_empty() => "every partition led with a full ISR; the final read reached every high watermark".into(),
                None => format!("every partition led with a full ISR but for replicas Kafka leaves out too; the final read reached every high watermark; allowed: {}", self.excused.join("; ")),
                Some(why) => why.clone(),
            } });
        }
        let e = &self.scenario.expect;
        let first_loss = first_loss(h);
        for (name, range, got) in [
            (
                "lost acknowledged records",
                e.lost_acknowledged,
                h.lost_acknowledged,
            ),
            ("duplicated records", e.duplicates, h.duplicates),
            (
                "inconsistent offsets",
                e.inconsistent_offsets,
                h.inconsistent_offsets,
            ),
        ] {
            if let Some(r) = range {
                let ok = r.contains(got);
                let detail = match &first_loss {
                    Some(first) if !ok && name == "lost acknowledged records" => {
                        format!("got {got}; first: {first}")
                    }
                    _ => format!("got {got}"),
                };
                checks.push(Check {
                    name: format!("expected {name}: {r}"),
                    class: CheckClass::of_count(r, got),
                    ok,
                    detail,
                });
            }
        }
        for (name, range) in &e.lost_acknowledged_by_producer {
            let got = h.lost_by_producer.get(name).copied().unwrap_or(0);
            checks.push(Check {
                name: format!("expected lost acknowledged records of {name}: {range}"),
                class: CheckClass::of_count(*range, got),
                ok: range.contains(got),
                detail: format!("got {got}"),
            });
        }
        for err in &e.producer_errors {
            let seen = self.world.cluster().log().iter().any(|x| matches!(&x.event, WorldEvent::Node(Event::ProduceError { error, .. } | Event::RecordFailed { error, .. }) if error == err));
            checks.push(Check {
                name: format!("expected a producer to see {err}"),
                class: CheckClass::Expectation,
                ok: seen,
                detail: if seen {
                    "seen".into()
                } else {
                    "never seen".into()
                },
            });
        }
        checks
    }

    /// The checks of the consumer side of the oracle.
    fn judge_delivery(&self, d: &DeliveryReport, converged: bool) -> Vec<Check> {
        if !self.scenario.has_groups() {
            return Vec::new();
        }
        let mut checks = Vec::new();
        let first = |kind: &str| {
            d.delivery_findings
                .iter()
                .find(|f| f.kind == kind)
                .map_or_else(String::new, |f| format!("; first: {}", f.detail))
        };
        checks.push(Check {
            name: "consumers poll in order".into(),
            class: CheckClass::Safety,
            ok: d.nonmonotonic_polls == 0 && d.poll_skips == 0,
            detail: format!(
                "{} nonmonotonic polls, {} skips outside rebalances{}{}",
                d.nonmonotonic_polls,
                d.poll_skips,
                first("nonmonotonic poll"),
                first("poll skip")
            ),
        });
        let e = &self.scenario.expect;
        match e.delivery {
            // Every record processed is "eventually", a liveness property; it is a safety
            // failure only when the group caught up and still never processed a record (a skip).
            Some(DeliverySemantics::AtLeastOnce) => checks.push(Check {
                name: "at-least-once: every acknowledged record processed".into(),
                class: if converged {
                    CheckClass::Safety
                } else {
                    CheckClass::Liveness
                },
                ok: d.unseen == 0,
                detail: format!(
                    "{} unseen; {} processed more than once, which at-least-once allows{}",
                    d.unseen,
                    d.duplicates_delivered,
                    first("unseen")
                ),
            }),
            Some(DeliverySemantics::AtMostOnce) => checks.push(Check {
                name: "at-most-once: no record processed twice".into(),
                class: CheckClass::Safety,
                ok: d.duplicates_delivered == 0,
                detail: format!(
                    "{} processed more than once; {} unseen, which at-most-once allows{}",
                    d.duplicates_delivered,
                    d.unseen,
                    first("duplicate delivery")
                ),
            }),
            None => {}
        }
        for (name, range, got) in [
            ("unseen records", e.unseen, d.unseen),
            (
                "records processed twice",
                e.duplicates_delivered,
                d.duplicates_delivered,
            ),
        ] {
            if let Some(r) = range {
                checks.push(Check {
                    name: format!("expected {name}: {r}"),
                    class: CheckClass::of_count(r, got),
                    ok: r.contains(got),
                    detail: format!("got {got}"),
                });
            }
        }
        checks
    }

    /// The story of the run so far: the World's log in words, then [`Run::story_notes`], by
    /// time.
    pub fn story(&self) -> Vec<StoryLine> {
        let mut lines = crate::report::story(self.world.cluster().log(), self.scenario);
        lines.extend(self.story_notes());
        gregor_core::sort::sort_by_key(&mut lines, |l| l.time_ms);
        lines
    }

    /// What the story tells beside the World's log: notes (the swarm's draw, skipped actions),
    /// failed checks and allowed losses, unsorted.
    pub fn story_notes(&self) -> Vec<StoryLine> {
        let mut lines = Vec::new();
        for (t, note) in &self.notes {
            lines.push(StoryLine {
                time_ms: t.0,
                kind: StoryKind::Note,
                text: note.clone(),
            });
        }
        for v in &self.invariants.violations {
            lines.push(StoryLine {
                time_ms: v.time.0,
                kind: StoryKind::CheckFailed,
                text: format!("CHECK FAILED ({}): {}", v.check, v.detail),
            });
        }
        for (time, text) in allowed_forks(&self.invariants.allowed_forks) {
            lines.push(StoryLine {
                time_ms: time.0,
                kind: StoryKind::Loss,
                text,
            });
        }
        for l in &self.invariants.allowed_losses {
            lines.push(StoryLine {
                time_ms: l.time.0,
                kind: StoryKind::Loss,
                text: format!(
                    "{} committed record(s) of {} lost; allowed: {}",
                    l.records.len(),
                    l.topic_partition,
                    l.reason
                ),
            });
        }
        lines
    }
}

/// Allowed forks in words, one line per partition, pair of brokers and cause, with the offsets
/// and the time the first was seen.
fn allowed_forks(forks: &[AllowedFork]) -> Vec<(Instant, String)> {
    let mut groups: Vec<(&AllowedFork, Vec<u64>)> = Vec::new();
    for f in forks {
        match groups.iter_mut().find(|(g, _)| {
            g.topic_partition == f.topic_partition && g.brokers == f.brokers && g.reason == f.reason
        }) {
            Some((_, offsets)) => offsets.push(f.offset.0),
            None => groups.push((f, vec![f.offset.0])),
        }
    }
    groups
        .into_iter()
        .map(|(f, offsets)| {
            let offsets = match (offsets.iter().min(), offsets.iter().max()) {
                (Some(a), Some(b)) if a != b => format!("{} offsets from {a} to {b}", offsets.len()),
                (Some(a), _) => format!("offset {a}"),
                _ => String::new(),
            };
            (
                f.time,
                format!(
                    "leader {} and follower {} hold different records of {} at {offsets}, below the HW; allowed: {}",
                    f.brokers.0, f.brokers.1, f.topic_partition, f.reason
                ),
            )
        })
        .collect()
}

/// The first group of lost acknowledged records, in words: which records, who acknowledged
/// them, and what lost them.
/// The transactional check (KAFKA.md 4.2): a `read_committed` consumer never reads a record
/// of an aborted transaction.
///
/// `excuse` says why the run's configuration and faults void Kafka's promise, if they do: the
/// check then passes and says why.
fn judge_transactions(t: &TransactionReport, excuse: Option<&str>) -> Check {
    let first = first_read(&t.aborted_read_examples, "from an aborted transaction");
    let allowed = match excuse {
        Some(why) if t.aborted_reads > 0 => format!("; allowed because {why}"),
        _ => String::new(),
    };
    Check {
        name: "no aborted reads".into(),
        class: CheckClass::Safety,
        ok: t.aborted_reads == 0 || excuse.is_some(),
        detail: format!(
            "{} records of aborted transactions read by read_committed consumers ({} transactions committed, {} aborted, {} undecided){first}{allowed}",
            t.aborted_reads, t.committed, t.aborted, t.undecided
        ),
    }
}

/// The first of a check's judged reads, in words.
fn first_read(examples: &[transactions::JudgedRead], why: &str) -> String {
    examples.first().map_or(String::new(), |a| {
        format!(
            "; first: {} read {} at {}@{} ({}), {why}",
            a.consumer,
            a.value,
            a.partition,
            a.offset,
            Instant(a.time_ms)
        )
    })
}

/// The read-committed check's other half: no `read_committed` poll returns a record before its
/// transaction's commit is decided.
fn judge_precommitted(t: &TransactionReport) -> Check {
    let first = first_read(
        &t.precommitted_read_examples,
        "before its transaction's PrepareCommit",
    );
    Check {
        name: "no precommitted reads".into(),
        class: CheckClass::Safety,
        ok: t.precommitted_reads == 0,
        detail: format!(
            "{} records read by read_committed consumers before their transaction's commit was decided{first}",
            t.precommitted_reads
        ),
    }
}

/// The exactly-once check of one group's pipelines (KAFKA.md 4.2). Until the cluster converged
/// and every transaction has its markers, a transaction may still be undecided, so a failure
/// then is only a liveness one.
fn judge_exactly_once(r: &ExactlyOnceReport, converged: bool) -> Check {
    let first = r
        .examples
        .first()
        .map_or_else(String::new, |e| format!("; first: {e}"));
    Check {
        name: format!("exactly-once pipeline {}", r.pipeline),
        // A transaction still waiting for markers may yet settle either way.
        class: if converged && r.undecided == 0 && !r.pending_offsets {
            CheckClass::Safety
        } else {
            CheckClass::Liveness
        },
        ok: r.holds(),
        detail: format!(
            "{} of {} committed input records consumed, {} committed outputs: {} missing, {} duplicated, {} premature, {} of no input; {} output records undecided{first}",
            r.consumed,
            r.inputs,
            r.outputs,
            r.missing,
            r.duplicated,
            r.premature,
            r.unmatched,
            r.undecided
        ),
    }
}

/// Fills in, for each group whose members all read `read_committed`, the records of its topics
/// that such a reader never returns: those of aborted and undecided transactions in the final
/// logs.
fn hide_uncommitted(w: &Cluster, scenario: &Scenario, groups: &mut [DeclaredGroup]) {
    let (_, cids, _) = client_ids(scenario);
    let read_committed: VecSet<ClientId> = scenario
        .consumers
        .iter()
        .zip(cids)
        .filter(|(c, _)| c.config.isolation_level == IsolationLevel::ReadCommitted)
        .map(|(_, id)| id)
        .collect();
    for g in groups {
        if !g
            .consumers
            .iter()
            .all(|(id, _)| read_committed.contains(id))
        {
            continue;
        }
        for tp in scenario.partitions() {
            if !g.topics.contains(&tp.topic) {
                continue;
            }
            let Some(log) = leader_log(w, &tp) else {
                continue;
            };
            let hw = log.high_watermark();
            let (committed, _) = exactly_once::read_committed(log.batches(), hw);
            let visible: std::collections::BTreeSet<gregor_core::ids::Offset> =
                committed.iter().map(|(o, _)| *o).collect();
            for b in log.batches().iter().filter(|b| b.last_offset() < hw) {
                for (o, _) in b.records_with_offsets() {
                    if !visible.contains(&o) {
                        g.hidden.insert((tp.clone(), o));
                    }
                }
            }
        }
    }
}

/// Each group's pipelines' inputs, outputs and committed offsets as the cluster holds them
/// now, held to exactly-once.
fn pipeline_reports(w: &Cluster, scenario: &Scenario) -> Vec<ExactlyOnceReport> {
    let committed_of = |tp: &TopicPartition| {
        let log = leader_log(w, tp)?;
        Some(exactly_once::committed_records(
            log.batches(),
            log.high_watermark(),
        ))
    };
    let partitions_of = |topic: &TopicName| -> Vec<TopicPartition> {
        scenario
            .partitions()
            .into_iter()
            .filter(|tp| &tp.topic == topic)
            .collect()
    };
    let mut groups: VecMap<&str, Vec<&crate::scenario::ConsumerSpec>> = VecMap::new();
    for c in &scenario.consumers {
        if let (Some(_), Some(group)) = (&c.output, c.config.group_id.as_deref()) {
            groups.entry(group).or_default().push(c);
        }
    }
    groups
        .into_iter()
        .map(|(group, pipelines)| {
            let names: Vec<&str> = pipelines.iter().map(|c| c.name.as_str()).collect();
            let topics = |f: &dyn Fn(&crate::scenario::ConsumerSpec) -> Vec<TopicName>| {
                pipelines
                    .iter()
                    .flat_map(|c| f(c))
                    .collect::<VecSet<TopicName>>()
            };
            let inputs = topics(&|c| c.workload.subscribe.clone())
                .iter()
                .flat_map(&partitions_of)
                .map(|tp| {
                    let records = committed_of(&tp).map(|(r, _)| r).unwrap_or_default();
                    (tp, records)
                })
                .collect();
            let outputs = topics(&|c| c.output.iter().map(|o| o.workload.topic.clone()).collect())
                .iter()
                .flat_map(&partitions_of)
                .map(|tp| {
                    let records = committed_of(&tp).unwrap_or_default();
                    (tp, records)
                })
                .collect();
            let committed = coordinator_group(w, scenario, group)
                .map(|g| {
                    g.offsets
                        .iter()
                        .map(|(tp, c)| (tp.clone(), c.offset))
                        .collect()
                })
                .unwrap_or_default();
            exactly_once::analyse(&exactly_once::PipelineState {
                names: &names,
                inputs: &inputs,
                outputs: &outputs,
                committed: &committed,
                pending_offsets: has_pending_offsets(w, scenario, group),
            })
        })
        .collect()
}

fn first_loss(h: &HistoryReport) -> Option<String> {
    let g = h.lost_groups.first()?;
    let offsets = match (g.first_offset, g.last_offset) {
        (Some(a), Some(b)) if a != b => format!(" at offsets {a}..{b}"),
        (Some(a), _) => format!(" at offset {a}"),
        _ => String::new(),
    };
    let values = if g.first_value == g.last_value {
        g.first_value.clone()
    } else {
        format!("{}..{}", g.first_value, g.last_value)
    };
    Some(format!(
        "{} record(s) of {}/{}{offsets} ({values}) acknowledged between {} and {}{}; {}",
        g.count,
        g.topic,
        g.partition,
        Instant(g.from_ms),
        Instant(g.to_ms),
        g.acknowledged_by,
        g.cause
    ))
}

/// The replicas of `tp` that are out of its ISR for a reason Kafka has too: a running broker
/// whose fetcher failed the partition after a power loss forked the logs (Kafka's failed
/// partitions stay failed until a new leader epoch, and the fork makes them fail again), with
/// the reason in words.
fn excused_replicas(
    w: &Cluster,
    tp: &TopicPartition,
    replicas: &[BrokerId],
    isr: &[BrokerId],
    forks: &ForkWatch,
) -> Vec<(BrokerId, String)> {
    replicas
        .iter()
        .filter(|b| !isr.contains(b))
        .filter(|&&b| w.broker(b).is_some_and(|broker| broker.fetch_failed(tp)))
        .filter_map(|&b| Some((b, forks.explain_failure(b, tp)?.describe())))
        .collect()
}

/// The partitions that converged without a replica, each with why Kafka would leave it out too.
fn convergence_excuses(
    w: &Cluster,
    partitions: &[TopicPartition],
    forks: &ForkWatch,
) -> Vec<String> {
    let Some(c) = w.controller() else {
        return Vec::new();
    };
    partitions
        .iter()
        .filter_map(|tp| Some((tp, c.image().partition(tp)?)))
        .flat_map(|(tp, p)| {
            excused_replicas(w, tp, &p.replicas, &p.isr, forks)
                .into_iter()
                .map(move |(b, why)| {
                    format!("{tp} converged without broker {b}, whose fetcher failed the partition as Kafka's does (UnexpectedAppendOffsetException, markPartitionFailed): {why}")
                })
        })
        .collect()
}

/// What keeps the cluster from having converged, in words (empty once it has): a producer with
/// records pending, or a partition without a running leader, with an ISR short of its replicas
/// (but for replicas a power loss's fork keeps out, see `excused_replicas`), or with its HW
/// below its log end.
pub fn convergence_gaps(
    w: &Cluster,
    producers: &[ClientId],
    partitions: &[TopicPartition],
    forks: &ForkWatch,
) -> Vec<String> {
    let mut gaps = Vec::new();
    for &p in producers {
        if let Some(prod) = w.producer(p)
            && prod.records_pending() > 0
        {
            gaps.push(format!(
                "{} still has {} record(s) pending",
                prod.name(),
                prod.records_pending()
            ));
        }
    }
    let Some(c) = w.controller() else {
        gaps.push("the controller is down".into());
        return gaps;
    };
    for tp in partitions {
        let Some(p) = c.image().partition(tp) else {
            gaps.push(format!("{tp} does not exist"));
            continue;
        };
        let Some(l) = p.leader else {
            gaps.push(format!(
                "{tp} has no leader (ISR {:?})",
                p.isr.iter().map(|b| b.0).collect::<Vec<_>>()
            ));
            continue;
        };
        let Some(leader) = w.broker(l) else {
            gaps.push(format!("{tp}: leader broker {l} is not running"));
            continue;
        };
        if !leader.partition(tp).is_some_and(|lp| lp.is_leader()) {
            gaps.push(format!("{tp}: broker {l} does not yet act as leader"));
            continue;
        }
        let excused = excused_replicas(w, tp, &p.replicas, &p.isr, forks).len();
        if p.isr.len() + excused != p.replicas.len() {
            gaps.push(format!(
                "{tp}: ISR {:?} of replicas {:?}",
                p.isr.iter().map(|b| b.0).collect::<Vec<_>>(),
                p.replicas.iter().map(|b| b.0).collect::<Vec<_>>()
            ));
        }
        if let Some(log) = leader.log(tp)
            && log.high_watermark() != log.log_end_offset()
        {
            gaps.push(format!(
                "{tp}: HW {} below log end {}",
                log.high_watermark(),
                log.log_end_offset()
            ));
        }
    }
    gaps
}

/// The reader's position reached every partition's high watermark on its leader.
fn read_complete(w: &Cluster, reader: ClientId, partitions: &[TopicPartition]) -> bool {
    let Some(r) = w.consumer(reader) else {
        return false;
    };
    partitions.iter().all(|tp| {
        let hw = w
            .controller()
            .and_then(|c| c.image().partition(tp))
            .and_then(|p| p.leader)
            .and_then(|l| w.broker(l))
            .and_then(|b| b.log(tp))
            .map(|l| l.high_watermark());
        match (r.positions().get(tp).and_then(|p| p.position), hw) {
            (Some(pos), Some(hw)) => pos >= hw,
            _ => false,
        }
    })
}

/// Each partition's log as the final reader found it: its log start offset (its leader's, or
/// without a live leader the largest among its replicas: retention deleted what is below it
/// everywhere a reader could go) and whether its topic is compacted.
fn final_logs(w: &Cluster, scenario: &Scenario) -> VecMap<TopicPartition, history::FinalLog> {
    scenario
        .partitions()
        .into_iter()
        .filter_map(|tp| {
            let replicas = || {
                w.controller()
                    .and_then(|c| c.image().partition(&tp))
                    .map(|p| p.replicas.clone())
                    .unwrap_or_default()
            };
            let log = match leader_log(w, &tp) {
                Some(log) => log,
                None => replicas()
                    .iter()
                    .filter_map(|b| w.broker_disk(*b)?.logs.get(&tp))
                    .max_by_key(|l| l.log_start_offset())?,
            };
            let compacted = log.config().cleanup_policy.compact;
            Some((
                tp,
                history::FinalLog {
                    log_start: log.log_start_offset(),
                    compacted,
                },
            ))
        })
        .collect()
}

/// The partitions as the controller and the brokers' disks show them now.
pub fn partition_reports(w: &Cluster, scenario: &Scenario) -> Vec<PartitionReport> {
    scenario
        .partitions()
        .into_iter()
        .map(|tp| {
            let reg = w
                .controller()
                .and_then(|c| c.image().partition(&tp))
                .cloned();
            let replicas = reg.as_ref().map_or_else(Vec::new, |r| r.replicas.clone());
            let leader_log = reg
                .as_ref()
                .and_then(|r| r.leader)
                .and_then(|l| w.broker(l))
                .and_then(|b| b.log(&tp));
            PartitionReport {
                topic: tp.topic.to_string(),
                partition: tp.partition,
                leader: reg.as_ref().and_then(|r| r.leader).map(|b| b.0),
                leader_epoch: reg.as_ref().map_or(0, |r| r.leader_epoch.0),
                replicas: replicas.iter().map(|b| b.0).collect(),
                isr: reg
                    .as_ref()
                    .map_or_else(Vec::new, |r| r.isr.iter().map(|b| b.0).collect()),
                high_watermark: leader_log.map(|l| l.high_watermark().0),
                log_start_offset: leader_log.map(|l| l.log_start_offset().0),
                last_stable_offset: leader_log.map(|l| l.last_stable_offset().0),
                segments: leader_log.map(|l| l.segments().len() as u64),
                cleaned_up_to: leader_log.and_then(|l| l.cleaner_checkpoint()).map(|o| o.0),
                log_end_offsets: replicas
                    .iter()
                    .filter_map(|b| {
                        Some((
                            b.0.to_string(),
                            w.broker_disk(*b)?.logs.get(&tp)?.log_end_offset().0,
                        ))
                    })
                    .collect(),
            }
        })
        .collect()
}
