//! What a lesson means, checked and run: its scenario from the library, its actions in the
//! scenario's action language, and its checks in the lessons' check language, evaluated on a
//! live World. The classroom evaluates a step's check every frame to mark the step done; the
//! test suite (and `gregor lessons check`) runs every lesson headless with its actions and
//! demands that every check holds, so a lesson can never claim what the model does not do.
//!
//! The check language, one condition or several joined by `and`:
//!
//! * `leader of orders/0 is broker 2`, `... is not broker 1`, `... is none`
//! * `isr of orders/0 is [2, 3]`, `... includes broker 1`, `... excludes broker 1`
//! * `broker 1 is running` (or `paused`, `crashed`, `fenced`, `unfenced`, `isolated`),
//!   `controller is crashed`
//! * `p1 saw NOT_ENOUGH_REPLICAS` (a producer got that error from a broker), `c1 saw
//!   OFFSET_OUT_OF_RANGE` (a consumer's fetch got it)
//! * `c1 owns orders/0`, `state of group billing is Stable`
//! * `key k7 is on orders/2`, `key k7 is only on orders/2` (the leaders' logs)
//! * `c1 is crashed` (or `running`, `paused`) for a producer or consumer
//! * a number compared: `QUANTITY is N`, `is at least N`, `is at most N`, `is not N`, where the
//!   quantity is `hw of TP`, `log end of TP`, `log start of TP`, `segments of TP`, `records in TP`,
//!   `markers in TP` (transaction markers), `last stable offset of TP` (the leader's; add
//!   `on broker N` for a replica's own: `log end of orders/0 on broker 3`), `epoch of TP`,
//!   `isr size of TP`, `records sent by P`, `records acknowledged by P`, `records failed by P`,
//!   `records processed by C`, `partitions owned by C`, `generation of group G`,
//!   `members of group G`, `idle members of group G` (members assigned nothing),
//!   `lag of group G`, `records processed twice in group G`, `lost records`, `aborted reads`
//!   (records of aborted transactions that `read_committed` consumers polled),
//!   `lost records on TP`, `duplicated records on TP` (values the leader's log holds at more
//!   than one offset), or `time` (then N is a duration: `20s`)
//! * a number's growth since the step began: `QUANTITY grew by at least N` (or `at most`)

use crate::groups::group_reports;
use crate::library;
use crate::live::{LiveTally, trusted_image};
use crate::runner::client_ids;
use crate::scenario::Scenario;
use crate::session::Session;
use crate::world::{Status, World};
use gregor_core::error::ErrorCode;
use gregor_core::ids::{BrokerId, NodeId, Offset, TopicPartition};
use gregor_core::time::Instant;
use gregor_lessons::{Lesson, LessonError, Located};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How a number is compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compare {
    /// Equal.
    Is,
    /// Different.
    IsNot,
    /// At least.
    AtLeast,
    /// At most.
    AtMost,
}

impl Compare {
    fn holds(self, value: u64, n: u64) -> bool {
        match self {
            Compare::Is => value == n,
            Compare::IsNot => value != n,
            Compare::AtLeast => value >= n,
            Compare::AtMost => value <= n,
        }
    }
}

/// A number a check reads from the live run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Quantity {
    /// The leader's high watermark.
    HighWatermark(TopicPartition),
    /// The leader's log end offset.
    LogEnd(TopicPartition),
    /// A replica's own high watermark.
    HighWatermarkOn(TopicPartition, BrokerId),
    /// A replica's own log end offset.
    LogEndOn(TopicPartition, BrokerId),
    /// The leader's log start offset.
    LogStart(TopicPartition),
    /// How many segments the leader's log has.
    Segments(TopicPartition),
    /// How many records the leader's log holds from its log start on (a compacted topic's
    /// cleaner removes records, never offsets).
    Records(TopicPartition),
    /// How many transaction markers (COMMIT and ABORT) the leader's log holds.
    Markers(TopicPartition),
    /// The leader's last stable offset (KAFKA.md 4.2).
    LastStable(TopicPartition),
    /// The leader epoch.
    Epoch(TopicPartition),
    /// How many replicas are in the ISR.
    IsrSize(TopicPartition),
    /// Records a producer sent.
    Sent(String),
    /// Records a producer saw acknowledged.
    Acknowledged(String),
    /// Records whose send failed.
    Failed(String),
    /// Records a consumer processed.
    Processed(String),
    /// Partitions a consumer owns.
    Owned(String),
    /// A group's generation.
    Generation(String),
    /// A group's members.
    Members(String),
    /// A group's lag, summed over its partitions.
    Lag(String),
    /// Members of a group assigned no partition.
    IdleMembers(String),
    /// Records a group processed more than once.
    ProcessedTwice(String),
    /// Values the leader's log holds at more than one offset.
    Duplicated(TopicPartition),
    /// Acknowledged records lost, in all or on one partition.
    Lost(Option<TopicPartition>),
    /// Records of aborted transactions that `read_committed` consumers polled.
    AbortedReads,
    /// Virtual time in milliseconds.
    Time,
}

/// A node's state a check can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeState {
    /// Its process runs.
    Running,
    /// Its process is paused.
    Paused,
    /// Its process is down.
    Crashed,
    /// The controller has it fenced.
    Fenced,
    /// The controller has it unfenced.
    Unfenced,
    /// Every link to it is cut.
    Isolated,
}

/// A condition on the live run. The classroom carries them as the build parsed them
/// ([`crate::compiled`]), so its page has no condition parser.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Condition {
    /// `leader of TP is broker N` (`Some(N)`, or `None` for `is none`), negated with `is not`.
    Leader {
        /// The partition.
        partition: TopicPartition,
        /// The leader asked for.
        leader: Option<BrokerId>,
        /// `is not`.
        negated: bool,
    },
    /// `isr of TP is [..]`.
    IsrIs(TopicPartition, Vec<BrokerId>),
    /// `isr of TP includes broker N` (or `excludes`, with `false`).
    IsrIncludes(TopicPartition, BrokerId, bool),
    /// `broker N is STATE` (`None` is the controller).
    Node(Option<BrokerId>, NodeState),
    /// `P saw ERROR`.
    Saw(String, ErrorCode),
    /// `C saw ERROR`, for a consumer.
    ConsumerSaw(String, ErrorCode),
    /// `C owns TP`.
    Owns(String, TopicPartition),
    /// `state of group G is STATE`.
    GroupState(String, String),
    /// `key K is on TP`, or `is only on TP` with `true`.
    KeyOn(String, TopicPartition, bool),
    /// A number compared.
    Number(Quantity, Compare, u64),
    /// A number's growth since the step began, compared.
    Grew(Quantity, Compare, u64),
    /// `C is STATE` for a client (running, paused or crashed).
    Client(String, NodeState),
    /// Every one of them.
    All(Vec<Condition>),
}

/// The values a check's growths count from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Baseline(Vec<(Quantity, u64)>);

impl Baseline {
    fn of(&self, q: &Quantity) -> u64 {
        self.0.iter().find(|(x, _)| x == q).map_or(0, |(_, v)| *v)
    }
}

/// What a check reads: the session and what its log told so far.
pub struct Context<'a> {
    /// The world.
    pub world: &'a World,
    /// Its scenario.
    pub scenario: &'a Scenario,
    /// Producers' counts and lost records.
    pub live: &'a LiveTally,
}

impl<'a> Context<'a> {
    /// The context of a session whose tally is up to date.
    pub fn of(session: &'a Session, live: &'a LiveTally) -> Context<'a> {
        Context {
            world: session.world(),
            scenario: session.scenario(),
            live,
        }
    }
}

fn number(text: &str) -> Result<u64, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("`{}` is not a whole number", text.trim()))
}

fn broker_named(scenario: &Scenario, text: &str) -> Result<BrokerId, String> {
    let n = text
        .trim()
        .strip_prefix("broker ")
        .ok_or_else(|| format!("`{}` is not `broker N`", text.trim()))?;
    let id = number(n)?;
    if id == 0 || id > u64::from(scenario.brokers) {
        return Err(format!(
            "broker {id} does not exist (the cluster has brokers 1 to {})",
            scenario.brokers
        ));
    }
    Ok(BrokerId(id as u32))
}

fn producer_named(scenario: &Scenario, name: &str) -> Result<String, String> {
    let name = name.trim();
    if scenario.producers.iter().any(|p| p.name == name) {
        Ok(name.to_string())
    } else {
        Err(format!("no producer is called `{name}`"))
    }
}

fn consumer_named(scenario: &Scenario, name: &str) -> Result<String, String> {
    let name = name.trim();
    if scenario.consumers.iter().any(|c| c.name == name) {
        Ok(name.to_string())
    } else {
        Err(format!("no consumer is called `{name}`"))
    }
}

fn group_named(scenario: &Scenario, name: &str) -> Result<String, String> {
    let name = name.trim();
    if scenario
        .consumers
        .iter()
        .any(|c| c.config.group_id.as_deref() == Some(name))
    {
        Ok(name.to_string())
    } else {
        Err(format!("no consumer is in a group called `{name}`"))
    }
}

impl Condition {
    /// Reads a check, checking every name against the scenario.
    pub fn parse(scenario: &Scenario, text: &str) -> Result<Condition, String> {
        let parts: Vec<&str> = text.split(" and ").collect();
        if parts.len() > 1 {
            return parts
                .iter()
                .map(|p| Condition::parse(scenario, p))
                .collect::<Result<Vec<_>, _>>()
                .map(Condition::All);
        }
        let text = text.trim();
        let tp = |t: &str| scenario.partition_named(t.trim());
        if let Some(rest) = text.strip_prefix("leader of ") {
            let (p, what) = rest
                .split_once(" is ")
                .ok_or_else(|| format!("`{text}` is not `leader of TOPIC/N is ...`"))?;
            let (negated, what) = match what.trim().strip_prefix("not ") {
                Some(w) => (true, w),
                None => (false, what),
            };
            let leader = if what.trim() == "none" {
                None
            } else {
                Some(broker_named(scenario, what)?)
            };
            return Ok(Condition::Leader {
                partition: tp(p)?,
                leader,
                negated,
            });
        }
        if let Some(rest) = text.strip_prefix("isr of ") {
            if let Some((p, list)) = rest.split_once(" is [") {
                let list = list
                    .strip_suffix(']')
                    .ok_or_else(|| format!("`{text}`: close the list with `]`"))?;
                let brokers = list
                    .split(',')
                    .filter(|b| !b.trim().is_empty())
                    .map(|b| broker_named(scenario, &format!("broker {}", b.trim())))
                    .collect::<Result<Vec<_>, _>>()?;
                return Ok(Condition::IsrIs(tp(p)?, brokers));
            }
            for (verb, includes) in [(" includes ", true), (" excludes ", false)] {
                if let Some((p, b)) = rest.split_once(verb) {
                    return Ok(Condition::IsrIncludes(
                        tp(p)?,
                        broker_named(scenario, b)?,
                        includes,
                    ));
                }
            }
            return Err(format!(
                "`{text}` is not `isr of TOPIC/N is [..]`, `includes broker N` or `excludes broker N`"
            ));
        }
        if let Some(rest) = text.strip_prefix("state of group ") {
            let (g, state) = rest
                .split_once(" is ")
                .ok_or_else(|| format!("`{text}` is not `state of group G is STATE`"))?;
            const STATES: [&str; 5] = [
                "Empty",
                "PreparingRebalance",
                "CompletingRebalance",
                "Stable",
                "Dead",
            ];
            let state = state.trim();
            if !STATES.contains(&state) {
                return Err(format!(
                    "`{state}` is not a group state ({})",
                    STATES.join(", ")
                ));
            }
            return Ok(Condition::GroupState(
                group_named(scenario, g)?,
                state.to_string(),
            ));
        }
        if let Some(rest) = text.strip_prefix("key ") {
            let (key, p) = rest
                .split_once(" is ")
                .ok_or_else(|| format!("`{text}` is not `key K is on TOPIC/N`"))?;
            let (only, p) = if let Some(p) = p.strip_prefix("only on ") {
                (true, p)
            } else if let Some(p) = p.strip_prefix("on ") {
                (false, p)
            } else {
                return Err(format!("`{text}` is not `key K is on TOPIC/N`"));
            };
            return Ok(Condition::KeyOn(key.trim().to_string(), tp(p)?, only));
        }
        if let Some((who, error)) = text.split_once(" saw ") {
            let error = ErrorCode::from_name(error.trim())
                .ok_or_else(|| format!("`{}` is not a Kafka error name", error.trim()))?;
            // A producer's error from a broker, or a consumer's from a fetch.
            return match producer_named(scenario, who) {
                Ok(p) => Ok(Condition::Saw(p, error)),
                Err(e) => consumer_named(scenario, who)
                    .map(|c| Condition::ConsumerSaw(c, error))
                    .map_err(|_| format!("{e}, and no consumer either")),
            };
        }
        if let Some((who, p)) = text.split_once(" owns ") {
            return Ok(Condition::Owns(consumer_named(scenario, who)?, tp(p)?));
        }
        if let Some((subject, state)) = text.rsplit_once(" is ")
            && let Some(state) = node_state(state.trim())
            && (subject.trim() == "controller" || subject.trim().starts_with("broker "))
        {
            let node = if subject.trim() == "controller" {
                None
            } else {
                Some(broker_named(scenario, subject)?)
            };
            return Ok(Condition::Node(node, state));
        }
        if let Some((subject, state)) = text.rsplit_once(" is ")
            && let Some(state @ (NodeState::Running | NodeState::Paused | NodeState::Crashed)) =
                node_state(state.trim())
            && scenario
                .producers
                .iter()
                .map(|p| &p.name)
                .chain(scenario.consumers.iter().map(|c| &c.name))
                .any(|n| n == subject.trim())
        {
            return Ok(Condition::Client(subject.trim().to_string(), state));
        }
        // A number compared: QUANTITY is [not | at least | at most] N, or its growth since the
        // step began: QUANTITY grew by [at least | at most] N.
        let (quantity, comparison, grew) = if let Some((q, c)) = text.split_once(" grew by ") {
            (q, c, true)
        } else {
            let (q, c) = text
                .split_once(" is ")
                .ok_or_else(|| format!("`{text}` is not a check (see the check language)"))?;
            (q, c, false)
        };
        let (compare, value) = if let Some(v) = comparison.strip_prefix("at least ") {
            (Compare::AtLeast, v)
        } else if let Some(v) = comparison.strip_prefix("at most ") {
            (Compare::AtMost, v)
        } else if let Some(v) = comparison.strip_prefix("not ") {
            (Compare::IsNot, v)
        } else {
            (Compare::Is, comparison)
        };
        let q = quantity.trim();
        let quantity = if q == "time" {
            Quantity::Time
        } else if q == "lost records" {
            Quantity::Lost(None)
        } else if q == "aborted reads" {
            Quantity::AbortedReads
        } else if let Some(p) = q.strip_prefix("lost records on ") {
            Quantity::Lost(Some(tp(p)?))
        } else if let Some(p) = q.strip_prefix("hw of ") {
            match p.split_once(" on ") {
                Some((p, b)) => Quantity::HighWatermarkOn(tp(p)?, broker_named(scenario, b)?),
                None => Quantity::HighWatermark(tp(p)?),
            }
        } else if let Some(p) = q.strip_prefix("log end of ") {
            match p.split_once(" on ") {
                Some((p, b)) => Quantity::LogEndOn(tp(p)?, broker_named(scenario, b)?),
                None => Quantity::LogEnd(tp(p)?),
            }
        } else if let Some(p) = q.strip_prefix("duplicated records on ") {
            Quantity::Duplicated(tp(p)?)
        } else if let Some(g) = q.strip_prefix("idle members of group ") {
            Quantity::IdleMembers(group_named(scenario, g)?)
        } else if let Some(g) = q.strip_prefix("records processed twice in group ") {
            Quantity::ProcessedTwice(group_named(scenario, g)?)
        } else if let Some(p) = q.strip_prefix("log start of ") {
            Quantity::LogStart(tp(p)?)
        } else if let Some(p) = q.strip_prefix("segments of ") {
            Quantity::Segments(tp(p)?)
        } else if let Some(p) = q.strip_prefix("records in ") {
            Quantity::Records(tp(p)?)
        } else if let Some(p) = q.strip_prefix("markers in ") {
            Quantity::Markers(tp(p)?)
        } else if let Some(p) = q.strip_prefix("last stable offset of ") {
            Quantity::LastStable(tp(p)?)
        } else if let Some(p) = q.strip_prefix("epoch of ") {
            Quantity::Epoch(tp(p)?)
        } else if let Some(p) = q.strip_prefix("isr size of ") {
            Quantity::IsrSize(tp(p)?)
        } else if let Some(p) = q.strip_prefix("records sent by ") {
            Quantity::Sent(producer_named(scenario, p)?)
        } else if let Some(p) = q.strip_prefix("records acknowledged by ") {
            Quantity::Acknowledged(producer_named(scenario, p)?)
        } else if let Some(p) = q.strip_prefix("records failed by ") {
            Quantity::Failed(producer_named(scenario, p)?)
        } else if let Some(c) = q.strip_prefix("records processed by ") {
            Quantity::Processed(consumer_named(scenario, c)?)
        } else if let Some(c) = q.strip_prefix("partitions owned by ") {
            Quantity::Owned(consumer_named(scenario, c)?)
        } else if let Some(g) = q.strip_prefix("generation of group ") {
            Quantity::Generation(group_named(scenario, g)?)
        } else if let Some(g) = q.strip_prefix("members of group ") {
            Quantity::Members(group_named(scenario, g)?)
        } else if let Some(g) = q.strip_prefix("lag of group ") {
            Quantity::Lag(group_named(scenario, g)?)
        } else {
            return Err(format!("`{q}` is not something a check can count"));
        };
        let n = if quantity == Quantity::Time {
            gregor_lessons::parse_duration(value)?
        } else {
            number(value)?
        };
        if grew {
            if matches!(compare, Compare::Is | Compare::IsNot) {
                return Err(format!(
                    "`{text}`: write `grew by at least N` or `grew by at most N`"
                ));
            }
            return Ok(Condition::Grew(quantity, compare, n));
        }
        Ok(Condition::Number(quantity, compare, n))
    }

    /// What the check's growths count from, read when its step begins.
    pub fn baseline(&self, cx: &Context<'_>) -> Baseline {
        let mut b = Baseline::default();
        self.collect_baseline(cx, &mut b);
        b
    }

    fn collect_baseline(&self, cx: &Context<'_>, b: &mut Baseline) {
        match self {
            Condition::All(all) => all.iter().for_each(|c| c.collect_baseline(cx, b)),
            Condition::Grew(q, _, _) => {
                b.0.push((q.clone(), quantity(cx, q).unwrap_or(0)));
            }
            _ => {}
        }
    }

    /// Whether it holds now, growths counted from `baseline`.
    pub fn holds(&self, cx: &Context<'_>, baseline: &Baseline) -> bool {
        let image = trusted_image(cx.world);
        let partition = |tp: &TopicPartition| image.and_then(|i| i.partition(tp));
        match self {
            Condition::All(all) => all.iter().all(|c| c.holds(cx, baseline)),
            Condition::Leader {
                partition: tp,
                leader,
                negated,
            } => (partition(tp).and_then(|p| p.leader) == *leader) != *negated,
            Condition::IsrIs(tp, brokers) => partition(tp).is_some_and(|p| {
                let mut isr = p.isr.clone();
                let mut want = brokers.clone();
                gregor_core::sort::sort(&mut isr);
                gregor_core::sort::sort(&mut want);
                isr == want
            }),
            Condition::IsrIncludes(tp, b, includes) => {
                partition(tp).is_some_and(|p| p.isr.contains(b) == *includes)
            }
            Condition::Node(node, state) => node_in_state(cx.world, *node, *state),
            Condition::Saw(p, error) => cx
                .live
                .producers
                .get(p)
                .is_some_and(|c| c.errors.contains(error)),
            Condition::ConsumerSaw(c, error) => cx
                .live
                .consumer_errors
                .get(c)
                .is_some_and(|e| e.contains(error)),
            Condition::Owns(c, tp) => {
                consumer(cx, c).is_some_and(|c| c.assignment().any(|owned| owned == tp))
            }
            Condition::GroupState(g, state) => group_reports(cx.world, cx.scenario)
                .iter()
                .any(|r| &r.group == g && &r.state == state),
            Condition::KeyOn(key, tp, only) => {
                let on = |tp: &TopicPartition| key_on(cx.world, key, tp);
                on(tp)
                    && (!only
                        || cx
                            .scenario
                            .partitions()
                            .iter()
                            .filter(|other| *other != tp)
                            .all(|other| !on(other)))
            }
            Condition::Number(q, compare, n) => {
                quantity(cx, q).is_some_and(|value| compare.holds(value, *n))
            }
            Condition::Grew(q, compare, n) => quantity(cx, q)
                .is_some_and(|value| compare.holds(value.saturating_sub(baseline.of(q)), *n)),
            Condition::Client(name, state) => client_id(cx.scenario, name)
                .is_some_and(|id| node_state_is(cx.world.status(NodeId::Client(id)), *state)),
        }
    }

    /// The numbers it compares, as they are now (`lag of group billing: 34`), for a learner
    /// watching a step that is not done yet.
    pub fn now(&self, cx: &Context<'_>, baseline: &Baseline) -> Vec<String> {
        match self {
            Condition::All(all) => all.iter().flat_map(|c| c.now(cx, baseline)).collect(),
            Condition::Grew(q, _, _) => match quantity(cx, q) {
                Some(v) => vec![format!(
                    "{}: {v} (grew by {})",
                    quantity_name(q),
                    v.saturating_sub(baseline.of(q))
                )],
                None => vec![format!("{}: unknown", quantity_name(q))],
            },
            Condition::Number(q, _, _) => match quantity(cx, q) {
                Some(v) if *q == Quantity::Time => {
                    vec![format!("time: {}.{:03} s", v / 1000, v % 1000)]
                }
                Some(v) => vec![format!("{}: {v}", quantity_name(q))],
                None => vec![format!("{}: unknown", quantity_name(q))],
            },
            _ => Vec::new(),
        }
    }
}

fn quantity_name(q: &Quantity) -> String {
    match q {
        Quantity::HighWatermark(tp) => format!("hw of {tp}"),
        Quantity::LogEnd(tp) => format!("log end of {tp}"),
        Quantity::HighWatermarkOn(tp, b) => format!("hw of {tp} on broker {b}"),
        Quantity::LogEndOn(tp, b) => format!("log end of {tp} on broker {b}"),
        Quantity::IdleMembers(g) => format!("idle members of group {g}"),
        Quantity::ProcessedTwice(g) => format!("records processed twice in group {g}"),
        Quantity::Duplicated(tp) => format!("duplicated records on {tp}"),
        Quantity::LogStart(tp) => format!("log start of {tp}"),
        Quantity::Segments(tp) => format!("segments of {tp}"),
        Quantity::Records(tp) => format!("records in {tp}"),
        Quantity::Markers(tp) => format!("markers in {tp}"),
        Quantity::LastStable(tp) => format!("last stable offset of {tp}"),
        Quantity::Epoch(tp) => format!("epoch of {tp}"),
        Quantity::IsrSize(tp) => format!("isr size of {tp}"),
        Quantity::Sent(p) => format!("records sent by {p}"),
        Quantity::Acknowledged(p) => format!("records acknowledged by {p}"),
        Quantity::Failed(p) => format!("records failed by {p}"),
        Quantity::Processed(c) => format!("records processed by {c}"),
        Quantity::Owned(c) => format!("partitions owned by {c}"),
        Quantity::Generation(g) => format!("generation of group {g}"),
        Quantity::Members(g) => format!("members of group {g}"),
        Quantity::Lag(g) => format!("lag of group {g}"),
        Quantity::Lost(None) => "lost records".into(),
        Quantity::AbortedReads => "aborted reads".into(),
        Quantity::Lost(Some(tp)) => format!("lost records on {tp}"),
        Quantity::Time => "time".into(),
    }
}

fn node_state(text: &str) -> Option<NodeState> {
    Some(match text {
        "running" => NodeState::Running,
        "paused" => NodeState::Paused,
        "crashed" => NodeState::Crashed,
        "fenced" => NodeState::Fenced,
        "unfenced" => NodeState::Unfenced,
        "isolated" => NodeState::Isolated,
        _ => return None,
    })
}

fn node_state_is(status: Status, state: NodeState) -> bool {
    match state {
        NodeState::Running => status == Status::Running,
        NodeState::Paused => status == Status::Paused,
        NodeState::Crashed => status == Status::Crashed,
        _ => false,
    }
}

fn node_in_state(world: &World, broker: Option<BrokerId>, state: NodeState) -> bool {
    let node = broker.map_or(NodeId::Controller, NodeId::Broker);
    let status = world.status(node);
    let fenced = || {
        broker.is_some_and(|b| {
            trusted_image(world)
                .and_then(|i| i.brokers.get(&b))
                .is_none_or(|r| r.fenced)
        })
    };
    match state {
        NodeState::Running => status == Status::Running,
        NodeState::Paused => status == Status::Paused,
        NodeState::Crashed => status == Status::Crashed,
        NodeState::Fenced => fenced(),
        NodeState::Unfenced => broker.is_some() && !fenced(),
        NodeState::Isolated => {
            let cut = world.network().cut_links();
            world
                .node_ids()
                .filter(|&n| n != node && n != NodeId::Admin)
                .all(|n| cut.contains(&(node, n)) && cut.contains(&(n, node)))
        }
    }
}

/// The client id of a producer or consumer, by name.
fn client_id(scenario: &Scenario, name: &str) -> Option<gregor_core::ids::ClientId> {
    let (pids, cids, _) = client_ids(scenario);
    let producer = scenario.producers.iter().position(|p| p.name == name);
    let consumer = scenario.consumers.iter().position(|c| c.name == name);
    producer
        .map(|i| pids[i])
        .or_else(|| consumer.map(|i| cids[i]))
}

fn consumer<'w>(
    cx: &Context<'w>,
    name: &str,
) -> Option<&'w gregor_core::client::consumer::Consumer> {
    let (_, cids, _) = client_ids(cx.scenario);
    let i = cx.scenario.consumers.iter().position(|c| c.name == name)?;
    cx.world.consumer(cids[i])
}

/// Whether the leader of `tp` holds a record with this key.
fn key_on(world: &World, key: &str, tp: &TopicPartition) -> bool {
    let Some(log) = trusted_image(world)
        .and_then(|i| i.partition(tp))
        .and_then(|p| p.leader)
        .and_then(|l| world.broker_disk(l))
        .and_then(|d| d.logs.get(tp))
    else {
        return false;
    };
    (log.log_start_offset().0..log.log_end_offset().0).any(|o| {
        log.record_at(Offset(o))
            .and_then(|(r, _)| r.key.as_ref())
            .is_some_and(|k| k.as_slice() == key.as_bytes())
    })
}

fn quantity(cx: &Context<'_>, q: &Quantity) -> Option<u64> {
    let image = trusted_image(cx.world);
    let partition = |tp: &TopicPartition| image.and_then(|i| i.partition(tp));
    let leader_log = |tp: &TopicPartition| {
        partition(tp)
            .and_then(|p| p.leader)
            .and_then(|l| cx.world.broker_disk(l))
            .and_then(|d| d.logs.get(tp))
    };
    let group = |g: &str| {
        group_reports(cx.world, cx.scenario)
            .into_iter()
            .find(|r| r.group == g)
    };
    let counts = |p: &str| cx.live.producers.get(p).cloned().unwrap_or_default();
    Some(match q {
        Quantity::HighWatermark(tp) => leader_log(tp)?.high_watermark().0,
        Quantity::LogEnd(tp) => leader_log(tp)?.log_end_offset().0,
        Quantity::HighWatermarkOn(tp, b) => {
            cx.world.broker_disk(*b)?.logs.get(tp)?.high_watermark().0
        }
        Quantity::LogEndOn(tp, b) => cx.world.broker_disk(*b)?.logs.get(tp)?.log_end_offset().0,
        Quantity::IdleMembers(g) => group(g).map_or(0, |r| {
            r.members.iter().filter(|m| m.assignment.is_empty()).count() as u64
        }),
        Quantity::ProcessedTwice(g) => cx.live.processed_twice.get(g).copied().unwrap_or(0),
        Quantity::Duplicated(tp) => {
            let log = leader_log(tp)?;
            let mut seen = std::collections::BTreeMap::new();
            for o in log.log_start_offset().0..log.log_end_offset().0 {
                if let Some(v) = log.record_at(Offset(o)).and_then(|(r, _)| r.value.as_ref()) {
                    *seen.entry(v.as_slice().to_vec()).or_insert(0u64) += 1;
                }
            }
            seen.values().filter(|&&n| n > 1).count() as u64
        }
        Quantity::LogStart(tp) => leader_log(tp)?.log_start_offset().0,
        Quantity::Segments(tp) => leader_log(tp)?.segments().len() as u64,
        Quantity::Records(tp) => leader_log(tp)?.record_count(),
        Quantity::Markers(tp) => leader_log(tp)?
            .batches()
            .iter()
            .filter(|b| b.control.is_some())
            .count() as u64,
        Quantity::LastStable(tp) => leader_log(tp)?.last_stable_offset().0,
        Quantity::Epoch(tp) => u64::from(partition(tp)?.leader_epoch.0),
        Quantity::IsrSize(tp) => partition(tp)?.isr.len() as u64,
        Quantity::Sent(p) => counts(p).sent,
        Quantity::Acknowledged(p) => counts(p).acknowledged,
        Quantity::Failed(p) => counts(p).failed,
        Quantity::Processed(c) => consumer(cx, c).map_or(0, |c| c.records_processed()),
        Quantity::Owned(c) => consumer(cx, c).map_or(0, |c| c.assignment().count() as u64),
        Quantity::Generation(g) => group(g)?.generation.max(0) as u64,
        Quantity::Members(g) => group(g).map_or(0, |r| r.members.len() as u64),
        Quantity::Lag(g) => group(g)?.lag.values().sum(),
        Quantity::Lost(tp) => cx
            .live
            .losses
            .losses
            .iter()
            .filter(|l| tp.as_ref().is_none_or(|tp| &l.topic_partition == tp))
            .count() as u64,
        Quantity::AbortedReads => cx.live.aborted_reads,
        Quantity::Time => cx.world.now().0,
    })
}

/// A lesson with its meaning checked: the scenario, and per step its actions and check.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedLesson {
    /// The lesson as written.
    pub lesson: Lesson,
    /// Its scenario, with the classroom's clients.
    pub scenario: Scenario,
    /// Per step: its actions and its check.
    pub steps: Vec<(Vec<crate::scenario::Action>, Condition)>,
}

/// Checks what a lesson's words mean: its scenario exists, its actions are actions of that
/// scenario, its checks are checks of it. Errors name the file, line and field.
/// The classroom carries the result, parsed at build time ([`crate::compiled`]).
pub fn check(lesson: &Lesson) -> Result<CheckedLesson, LessonError> {
    let at =
        |place: &Located<String>, message: String| LessonError::at(&lesson.file, place, message);
    let scenario =
        library::scenario(&lesson.scenario.value).map_err(|e| at(&lesson.scenario, e))?;
    let mut steps = Vec::new();
    for step in &lesson.steps {
        let actions = step
            .actions
            .iter()
            .map(|a| scenario.parse_action(&a.value).map_err(|e| at(a, e)))
            .collect::<Result<Vec<_>, _>>()?;
        let condition =
            Condition::parse(&scenario, &step.check.value).map_err(|e| at(&step.check, e))?;
        steps.push((actions, condition));
    }
    Ok(CheckedLesson {
        lesson: lesson.clone(),
        scenario,
        steps,
    })
}

/// How a step went when run headless.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRun {
    /// The step's title.
    pub title: String,
    /// When its check first held, in virtual milliseconds; `None` if it never did in time.
    pub held_at: Option<u64>,
    /// The numbers the check compares, when it did not hold.
    pub now: Vec<String>,
}

/// A lesson run headless.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LessonRun {
    /// The lesson's id.
    pub id: String,
    /// Each step, until the first whose check did not hold.
    pub steps: Vec<StepRun>,
    /// Whether every step's check held.
    pub ok: bool,
}

/// How often a headless run looks at a step's check while time runs (virtual milliseconds):
/// the classroom looks every frame, 16 ms at real-time speed.
const LOOK_EVERY_MS: u64 = 10;

/// Runs a lesson as a learner who presses "show me" at every step: its actions now, then time
/// runs until its check holds, within the step's bound.
pub fn run(lesson: &CheckedLesson) -> Result<LessonRun, crate::session::SessionError> {
    let mut session = Session::new(lesson.scenario.clone(), lesson.lesson.seed)?;
    let mut live = LiveTally::default();
    let mut steps = Vec::new();
    for (step, (actions, condition)) in lesson.lesson.steps.iter().zip(&lesson.steps) {
        live.update(session.world(), session.scenario());
        let baseline = condition.baseline(&Context::of(&session, &live));
        for a in actions {
            session.act(a.clone());
        }
        let deadline = session.moment().time_ms + step.within_ms;
        let mut held_at = None;
        loop {
            live.update(session.world(), session.scenario());
            let cx = Context::of(&session, &live);
            if condition.holds(&cx, &baseline) {
                held_at = Some(session.moment().time_ms);
                break;
            }
            let now = session.moment().time_ms;
            if now >= deadline {
                break;
            }
            session.play_until(Instant((now + LOOK_EVERY_MS).min(deadline)));
        }
        let now = if held_at.is_none() {
            condition.now(&Context::of(&session, &live), &baseline)
        } else {
            Vec::new()
        };
        steps.push(StepRun {
            title: step.title.clone(),
            held_at,
            now,
        });
        if held_at.is_none() {
            return Ok(LessonRun {
                id: lesson.lesson.id.clone(),
                steps,
                ok: false,
            });
        }
    }
    Ok(LessonRun {
        id: lesson.lesson.id.clone(),
        steps,
        ok: true,
    })
}

impl fmt::Display for LessonRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.steps.iter().enumerate() {
            match s.held_at {
                Some(t) => writeln!(
                    f,
                    "  ok    step {}: {} (held at {}.{:03} s)",
                    i + 1,
                    s.title,
                    t / 1000,
                    t % 1000
                )?,
                None => writeln!(
                    f,
                    "  FAIL  step {}: {}: its check never held in time ({})",
                    i + 1,
                    s.title,
                    s.now.join(", ")
                )?,
            }
        }
        Ok(())
    }
}
