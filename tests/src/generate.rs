//! Generators for the property tests: a [`Case`] is a whole scenario (a topic, producers, an
//! optional consumer group, the network, and a schedule of faults, each paired with the action
//! that undoes it) plus the seed of the run, drawn by proptest strategies and rendered as a
//! scenario file ([`Case::toml`]) that `Scenario::parse` reads like any other.
//!
//! Shrinking is proptest's: a failing case loses faults first (the schedule is a `Vec`), then
//! each fault turns into a simpler kind (kinds are listed simplest first: a crash before a
//! partition of the network) and happens earlier and for less long, the workload sends fewer
//! records, the network stops losing and duplicating, the group loses members. The minimal
//! case prints as the scenario file it is, so a person reads it as they would read a shipped
//! scenario.
//!
//! What the generators deliberately leave out: producer crashes (a restarted producer sends its
//! values again, which the oracle would count as duplicates that no Kafka guarantee forbids)
//! and `reorder` on the network (Kafka runs over TCP, which never reorders a connection).

use gregor_sim::scenario::Scenario;
use proptest::prelude::*;
use proptest::strategy::Union;
use std::fmt;
use std::fmt::Write as _;

/// How long every generated timeline runs before the final phase.
pub const DURATION_MS: u64 = 30_000;
/// The brokers of every generated cluster: Kafka's usual three, so that RF 3 and min ISR 2
/// (the durable configuration of KAFKA.md 3.4) fit.
pub const BROKERS: u32 = 3;
/// The generated topic.
pub const TOPIC: &str = "t";
/// The generated consumer group.
pub const GROUP: &str = "g";
/// The most partitions a generated topic has.
pub const MAX_PARTITIONS: u32 = 3;
/// The most members a generated group has.
pub const MAX_MEMBERS: u32 = 3;

/// A node a fault names. Roles (`leader of`, `coordinator of`) are resolved when the fault
/// strikes, which is what makes a schedule meaningful across seeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node {
    /// `broker N`.
    Broker(u32),
    /// `leader of t/N`.
    LeaderOf(u32),
    /// `controller`.
    Controller,
    /// `coordinator of g` (only with a group).
    Coordinator,
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Broker(b) => write!(f, "broker {b}"),
            Node::LeaderOf(p) => write!(f, "leader of {TOPIC}/{p}"),
            Node::Controller => f.write_str("controller"),
            Node::Coordinator => write!(f, "coordinator of {GROUP}"),
        }
    }
}

/// The kinds of faults a property may draw, simplest first (proptest shrinks a fault toward
/// the kinds listed before it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A process crash of a server (the disk keeps everything), undone by a restart.
    Crash,
    /// A paused server, undone by a resume.
    Pause,
    /// A server cut off from every node, undone by a heal.
    Isolate,
    /// One link cut (one way or both), undone by a heal.
    Cut,
    /// The servers split in two sides, undone by a heal.
    Split,
    /// A clogged link between two servers, undone by an unclog.
    Clog,
    /// A power loss of a server (unflushed records are gone), undone by a restart.
    PowerLoss,
    /// A group member's process crashes, undone by a restart (a new member).
    ConsumerCrash,
    /// A group member closes and leaves its group.
    ConsumerLeave,
}

/// Every fault of the servers (no power loss, no client fault).
pub const SERVER_FAULTS: &[FaultKind] = &[
    FaultKind::Crash,
    FaultKind::Pause,
    FaultKind::Isolate,
    FaultKind::Cut,
    FaultKind::Split,
    FaultKind::Clog,
];

/// One fault. A fault on a named server is undone on that server; one on a role on every
/// server (`restart = "all"`), since the role may have moved by the time it is undone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `crash = node`, then `restart`.
    Crash(Node),
    /// `pause = node`, then `resume`.
    Pause(Node),
    /// `isolate = node`, then `heal = true`.
    Isolate(Node),
    /// `cut = { from, to, both_ways }`, then `heal = true`.
    Cut {
        /// One end.
        from: Node,
        /// The other end.
        to: Node,
        /// Both directions, or only `from -> to`.
        both_ways: bool,
    },
    /// `split = [side, rest]`, then `heal = true`; `side` holds the brokers (bits 0..3) and the
    /// controller (bit 3) on one side.
    Split(u8),
    /// `clog` both ways between two brokers, then `unclog`.
    Clog(u32, u32),
    /// `power_loss = node`, then `restart`.
    PowerLoss(Node),
    /// `crash = "cN"`, then `restart = "cN"`.
    ConsumerCrash(u32),
    /// `leave = "cN"`.
    ConsumerLeave(u32),
}

/// A fault at a moment, undone after its outage (if that falls within the timeline; the
/// final phase undoes everything anyway).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedFault {
    /// When it strikes (ms).
    pub at_ms: u64,
    /// How long until it is undone (ms).
    pub outage_ms: u64,
    /// What.
    pub fault: Fault,
}

/// The generated topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicShape {
    /// Partitions.
    pub partitions: u32,
    /// Replication factor.
    pub replication_factor: u32,
    /// `min.insync.replicas`.
    pub min_isr: u32,
    /// `unclean.leader.election.enable`.
    pub unclean: bool,
}

/// `acks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acks {
    /// `acks = "all"`.
    All,
    /// `acks = 1`.
    One,
}

/// A producer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducerShape {
    /// `acks`.
    pub acks: Acks,
    /// `enable.idempotence` (only with acks=all).
    pub idempotence: bool,
    /// Distinct keys, or keyless.
    pub keys: Option<u32>,
    /// Records per second.
    pub rate: u32,
    /// Records in all.
    pub count: u32,
}

/// A group's commit mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commit {
    /// Commit after processing each poll's records: at-least-once.
    AfterProcessing,
    /// Commit right after the poll: at-most-once.
    BeforeProcessing,
    /// Auto commit every `auto.commit.interval.ms`: at-least-once too (KAFKA.md 5.4).
    Auto,
}

/// The assignor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assignor {
    /// `range`.
    Range,
    /// `roundrobin`.
    RoundRobin,
    /// `sticky`.
    Sticky,
    /// `cooperative-sticky`.
    CooperativeSticky,
}

impl Assignor {
    fn name(self) -> &'static str {
        match self {
            Assignor::Range => "range",
            Assignor::RoundRobin => "roundrobin",
            Assignor::Sticky => "sticky",
            Assignor::CooperativeSticky => "cooperative-sticky",
        }
    }
}

/// A consumer group of the topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupShape {
    /// Members `c1` to `cN`.
    pub members: u32,
    /// How they commit.
    pub commit: Commit,
    /// Which assignor they ask for.
    pub assignor: Assignor,
    /// The application's time per record (ms).
    pub processing_ms: u32,
}

/// The network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkShape {
    /// The highest one-way latency (ms); the lowest is 1 ms.
    pub max_latency_ms: u32,
    /// Messages lost, per thousand.
    pub loss_permille: u32,
    /// Messages delivered twice, per thousand.
    pub duplicate_permille: u32,
}

/// A generated scenario and the seed of its run.
#[derive(Clone, PartialEq, Eq)]
pub struct Case {
    /// The run's seed (the network's timing and every node's randomness).
    pub seed: u64,
    /// The topic.
    pub topic: TopicShape,
    /// The producers `p1` to `pN`.
    pub producers: Vec<ProducerShape>,
    /// The consumer group, if any.
    pub group: Option<GroupShape>,
    /// The network.
    pub network: NetworkShape,
    /// The faults, in the order they are written (the runner plays them by time).
    pub faults: Vec<TimedFault>,
}

impl Case {
    /// Whether some fault of the schedule is a power loss.
    pub fn has_power_loss(&self) -> bool {
        self.faults
            .iter()
            .any(|f| matches!(f.fault, Fault::PowerLoss(_)))
    }

    /// The scenario file of the case.
    pub fn toml(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "name = \"generated\"");
        let _ = writeln!(
            s,
            "description = \"A scenario drawn by a property test (tests/tests/*properties.rs).\""
        );
        let _ = writeln!(s, "seed = {}", self.seed);
        let _ = writeln!(s, "duration = \"{}ms\"", DURATION_MS);
        let _ = writeln!(s, "\n[cluster]\nbrokers = {BROKERS}");
        // Small offsets topic and short timeouts keep each run short; none of them changes what
        // Kafka promises.
        let _ = writeln!(
            s,
            "config = {{ \"offsets.topic.num.partitions\" = 2, \"request.timeout.ms\" = 5000 }}"
        );
        let n = &self.network;
        let _ = writeln!(
            s,
            "\n[network]\nlatency = \"1ms..{}ms\"\nloss = {}\nduplicate = {}",
            n.max_latency_ms.max(1),
            f64::from(n.loss_permille) / 1000.0,
            f64::from(n.duplicate_permille) / 1000.0
        );
        let t = &self.topic;
        let _ = writeln!(
            s,
            "\n[[topic]]\nname = \"{TOPIC}\"\npartitions = {}\nreplication_factor = {}",
            t.partitions, t.replication_factor
        );
        let _ = writeln!(
            s,
            "config = {{ \"min.insync.replicas\" = {}, \"unclean.leader.election.enable\" = {} }}",
            t.min_isr, t.unclean
        );
        for (i, p) in self.producers.iter().enumerate() {
            let _ = writeln!(
                s,
                "\n[[producer]]\nid = \"p{}\"\ntopic = \"{TOPIC}\"",
                i + 1
            );
            if let Some(k) = p.keys {
                let _ = writeln!(s, "keys = {k}");
            }
            let acks = match p.acks {
                Acks::All => "\"all\"",
                Acks::One => "1",
            };
            let _ = writeln!(
                s,
                "rate_per_sec = {}\ncount = {}\nacks = {acks}\nidempotence = {}",
                p.rate,
                p.count,
                p.idempotence && p.acks == Acks::All
            );
            let _ = writeln!(s, "config = {{ \"request.timeout.ms\" = 5000 }}");
        }
        if let Some(g) = &self.group {
            let commit = match g.commit {
                Commit::AfterProcessing => "after-processing",
                Commit::BeforeProcessing => "before-processing",
                Commit::Auto => "auto",
            };
            for m in 1..=g.members {
                let _ = writeln!(
                    s,
                    "\n[[consumer]]\nid = \"c{m}\"\ntopic = \"{TOPIC}\"\ngroup = \"{GROUP}\"\ncommit = \"{commit}\"\nprocessing_time = \"{}ms\"",
                    g.processing_ms
                );
                let _ = writeln!(
                    s,
                    "config = {{ \"session.timeout.ms\" = 10000, \"max.poll.records\" = 100, \"partition.assignment.strategy\" = \"{}\" }}",
                    g.assignor.name()
                );
            }
        }
        let mut faults: Vec<&TimedFault> = self.faults.iter().collect();
        gregor_core::sort::sort_by_key(&mut faults, |f| f.at_ms);
        let members = self.group.as_ref().map_or(0, |g| g.members);
        for f in faults {
            let Some(fault) = f.fault.fitted(self.topic.partitions, members) else {
                continue;
            };
            let (strike, undo) = fault.actions();
            let _ = writeln!(s, "\n[[at]]\ntime = \"{}ms\"\n{strike}", f.at_ms);
            let end = f.at_ms + f.outage_ms;
            if let Some(undo) = undo
                && end < DURATION_MS
            {
                let _ = writeln!(s, "\n[[at]]\ntime = \"{end}ms\"\n{undo}");
            }
        }
        if let Some(g) = &self.group {
            let delivery = match g.commit {
                Commit::AfterProcessing | Commit::Auto => "at-least-once",
                Commit::BeforeProcessing => "at-most-once",
            };
            let _ = writeln!(s, "\n[expect]\ndelivery = \"{delivery}\"");
        }
        s
    }

    /// The scenario, parsed as any scenario file is.
    pub fn scenario(&self) -> Scenario {
        Scenario::parse("generated.toml", &self.toml())
            .unwrap_or_else(|e| panic!("a generated scenario must be valid: {e}\n{}", self.toml()))
    }
}

impl fmt::Debug for Case {
    /// A case prints as its scenario file: the minimal failing input of a property reads like
    /// any shipped scenario.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\n{}", self.toml())
    }
}

impl Node {
    /// The node for a topic of `partitions` partitions (a leader's partition number wraps).
    fn fitted(self, partitions: u32) -> Node {
        match self {
            Node::LeaderOf(p) => Node::LeaderOf(p % partitions),
            n => n,
        }
    }
}

impl Fault {
    /// The fault for a topic of `partitions` partitions and a group of `members` members:
    /// partition and member numbers wrap, and a client fault without a group is dropped.
    fn fitted(&self, partitions: u32, members: u32) -> Option<Fault> {
        let member = |m: u32| (members > 0).then(|| (m - 1) % members + 1);
        Some(match self {
            Fault::Crash(n) => Fault::Crash(n.fitted(partitions)),
            Fault::Pause(n) => Fault::Pause(n.fitted(partitions)),
            Fault::Isolate(n) => Fault::Isolate(n.fitted(partitions)),
            Fault::PowerLoss(n) => Fault::PowerLoss(n.fitted(partitions)),
            Fault::Cut {
                from,
                to,
                both_ways,
            } => Fault::Cut {
                from: from.fitted(partitions),
                to: to.fitted(partitions),
                both_ways: *both_ways,
            },
            Fault::ConsumerCrash(m) => Fault::ConsumerCrash(member(*m)?),
            Fault::ConsumerLeave(m) => Fault::ConsumerLeave(member(*m)?),
            f => f.clone(),
        })
    }

    /// The timeline entry that strikes, and the one that undoes it. A fault on a named server
    /// is undone on that server alone; one on a role (`leader of`, `coordinator of`) is undone
    /// on every server, since the role may have moved by then.
    fn actions(&self) -> (String, Option<String>) {
        let heal = Some("heal = true".to_string());
        let undo = |verb: &str, n: &Node| match n {
            Node::Broker(_) | Node::Controller => Some(format!("{verb} = \"{n}\"")),
            Node::LeaderOf(_) | Node::Coordinator => Some(format!("{verb} = \"all\"")),
        };
        match self {
            Fault::Crash(n) => (format!("crash = \"{n}\""), undo("restart", n)),
            Fault::PowerLoss(n) => (format!("power_loss = \"{n}\""), undo("restart", n)),
            Fault::Pause(n) => (format!("pause = \"{n}\""), undo("resume", n)),
            Fault::Isolate(n) => (format!("isolate = \"{n}\""), heal),
            Fault::Cut {
                from,
                to,
                both_ways,
            } => (
                format!("cut = {{ from = \"{from}\", to = \"{to}\", both_ways = {both_ways} }}"),
                heal,
            ),
            Fault::Split(side) => {
                let servers = |inside: bool| {
                    let mut names: Vec<String> = (1..=BROKERS)
                        .filter(|b| (side & (1 << (b - 1)) != 0) == inside)
                        .map(|b| format!("\"broker {b}\""))
                        .collect();
                    if (side & 0b1000 != 0) == inside {
                        names.push("\"controller\"".into());
                    }
                    names.join(", ")
                };
                (
                    format!("split = [[{}], [{}]]", servers(true), servers(false)),
                    heal,
                )
            }
            Fault::Clog(a, b) => {
                let link =
                    format!("{{ from = \"broker {a}\", to = \"broker {b}\", both_ways = true }}");
                (format!("clog = {link}"), Some(format!("unclog = {link}")))
            }
            Fault::ConsumerCrash(m) => (
                format!("crash = \"c{m}\""),
                Some(format!("restart = \"c{m}\"")),
            ),
            Fault::ConsumerLeave(m) => (format!("leave = \"c{m}\""), None),
        }
    }
}

/// A server a fault may name: a broker, a partition's leader, the controller, or (with a
/// group) the group's coordinator. Partition numbers are drawn up to the largest topic and
/// wrapped to the case's own when rendered, so that the schedule does not depend on the topic
/// (proptest then shrinks them independently).
fn node(group: bool) -> BoxedStrategy<Node> {
    let mut options = vec![
        (1..=BROKERS).prop_map(Node::Broker).boxed(),
        (0..MAX_PARTITIONS).prop_map(Node::LeaderOf).boxed(),
        Just(Node::Controller).boxed(),
    ];
    if group {
        options.push(Just(Node::Coordinator).boxed());
    }
    Union::new(options).boxed()
}

/// One fault of the allowed kinds (client faults only with a group).
fn fault(kinds: &[FaultKind], group: bool) -> BoxedStrategy<Fault> {
    let options: Vec<BoxedStrategy<Fault>> = kinds
        .iter()
        .filter(|k| group || !matches!(k, FaultKind::ConsumerCrash | FaultKind::ConsumerLeave))
        .map(|k| match k {
            FaultKind::Crash => node(group).prop_map(Fault::Crash).boxed(),
            FaultKind::Pause => node(group).prop_map(Fault::Pause).boxed(),
            FaultKind::Isolate => node(group).prop_map(Fault::Isolate).boxed(),
            FaultKind::Cut => (node(group), node(group), any::<bool>())
                .prop_filter("a link joins two nodes", |(a, b, _)| a != b)
                .prop_map(|(from, to, both_ways)| Fault::Cut {
                    from,
                    to,
                    both_ways,
                })
                .boxed(),
            // Both sides non-empty: bits 0..3 are the brokers and bit 3 the controller.
            FaultKind::Split => (1u8..15).prop_map(Fault::Split).boxed(),
            FaultKind::Clog => (1..=BROKERS, 1..=BROKERS)
                .prop_filter("a link joins two brokers", |(a, b)| a != b)
                .prop_map(|(a, b)| Fault::Clog(a, b))
                .boxed(),
            FaultKind::PowerLoss => node(group).prop_map(Fault::PowerLoss).boxed(),
            FaultKind::ConsumerCrash => (1..=MAX_MEMBERS).prop_map(Fault::ConsumerCrash).boxed(),
            FaultKind::ConsumerLeave => (1..=MAX_MEMBERS).prop_map(Fault::ConsumerLeave).boxed(),
        })
        .collect();
    Union::new(options).boxed()
}

/// A schedule of up to `max` faults of the allowed kinds, striking between 1 s and 25 s, each
/// undone after 0.5 s to 12 s.
pub fn faults(
    kinds: &'static [FaultKind],
    max: usize,
    group: bool,
) -> BoxedStrategy<Vec<TimedFault>> {
    proptest::collection::vec(
        (1_000u64..25_000, 500u64..12_000, fault(kinds, group)).prop_map(
            |(at_ms, outage_ms, fault)| TimedFault {
                at_ms,
                outage_ms,
                fault,
            },
        ),
        0..=max,
    )
    .boxed()
}

/// The network: quiet, or losing and duplicating up to 3% of messages.
pub fn network(lossy: bool) -> BoxedStrategy<NetworkShape> {
    let rate = if lossy { 0u32..=30 } else { 0u32..=0 };
    (3u32..=30, rate.clone(), rate)
        .prop_map(
            |(max_latency_ms, loss_permille, duplicate_permille)| NetworkShape {
                max_latency_ms,
                loss_permille,
                duplicate_permille,
            },
        )
        .boxed()
}

/// One to two producers with the given acks (and idempotence, `None` for either), keyed or
/// not, sending 100 to 200 records a second, 100 to 3,000 in all.
pub fn producers(acks: Acks, idempotence: Option<bool>) -> BoxedStrategy<Vec<ProducerShape>> {
    let idempotence = match idempotence {
        Some(i) => Just(i).boxed(),
        None => any::<bool>().boxed(),
    };
    proptest::collection::vec(
        (
            idempotence,
            proptest::option::of(1u32..=16),
            100u32..=200,
            100u32..=3_000,
        )
            .prop_map(move |(idempotence, keys, rate, count)| ProducerShape {
                acks,
                idempotence,
                keys,
                rate,
                count,
            }),
        1..=2,
    )
    .boxed()
}

/// A topic of 1 to 3 partitions with `replication_factor` replicas and the given min ISR.
pub fn topic(replication_factor: u32, min_isr: u32, unclean: bool) -> BoxedStrategy<TopicShape> {
    (1u32..=MAX_PARTITIONS)
        .prop_map(move |partitions| TopicShape {
            partitions,
            replication_factor,
            min_isr,
            unclean,
        })
        .boxed()
}

/// A group of 1 to 3 members with the given commit mode and any assignor.
pub fn group(commit: Commit) -> BoxedStrategy<GroupShape> {
    (
        1u32..=MAX_MEMBERS,
        prop_oneof![
            Just(Assignor::Range),
            Just(Assignor::RoundRobin),
            Just(Assignor::Sticky),
            Just(Assignor::CooperativeSticky),
        ],
        1u32..=5,
    )
        .prop_map(move |(members, assignor, processing_ms)| GroupShape {
            members,
            commit,
            assignor,
            processing_ms,
        })
        .boxed()
}

/// A whole case. Every piece shrinks on its own: the schedule does not depend on the topic or
/// the group (partition and member numbers wrap when the case is rendered).
pub fn case(
    topic: BoxedStrategy<TopicShape>,
    producers: BoxedStrategy<Vec<ProducerShape>>,
    group: Option<BoxedStrategy<GroupShape>>,
    network: BoxedStrategy<NetworkShape>,
    kinds: &'static [FaultKind],
    max_faults: usize,
) -> BoxedStrategy<Case> {
    let faults = faults(kinds, max_faults, group.is_some());
    let group = match group {
        Some(g) => g.prop_map(Some).boxed(),
        None => Just(None).boxed(),
    };
    (0u64..1 << 32, topic, producers, group, network, faults)
        .prop_map(|(seed, topic, producers, group, network, faults)| Case {
            seed,
            topic,
            producers,
            group,
            network,
            faults,
        })
        .boxed()
}
