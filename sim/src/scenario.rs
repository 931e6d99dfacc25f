//! Scenario files: a cluster, topics, clients, a timeline of faults and actions, and what the
//! run must show. The schema is documented in `docs/scenarios.md`.
//!
//! Parsing has two layers: serde reads the TOML into raw structs that keep the position of every
//! value, and validation turns them into a [`Scenario`] whose parts are the core's own types.
//! Every error names the file, the line and column, and the field, and nothing panics on bad
//! input.

use crate::network::NetworkConfig;
use crate::swarm::{SwarmFault, SwarmSpec};
use gregor_core::client::consumer::{CommitMode, ConsumerWorkload};
use gregor_core::client::producer::{TransactionWorkload, Workload};
use gregor_core::config::{
    BrokerConfig, ConsumerConfig, EffectiveProducerConfig, OffsetReset, ProducerConfig, TopicConfig,
};
use gregor_core::decimal::{self, Rounding};
use gregor_core::error::ErrorCode;
use gregor_core::ids::{BrokerId, ClientId, NodeId, TopicName, TopicPartition};
use gregor_core::map::{VecMap, VecSet};
use gregor_core::protocol::{CLIENT_REQUESTS, ElectionType};
use gregor_core::time::{Duration, Instant};
use serde::{Deserialize, Serialize};
use std::fmt;
use toml::Spanned;

/// A bad scenario: where, which field, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file (as given).
    pub file: String,
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1.
    pub column: usize,
    /// The field, as a path (`producer[0].rate_per_sec`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        } else {
            write!(
                f,
                "{}:{}:{}: {}: {}",
                self.file, self.line, self.column, self.field, self.message
            )
        }
    }
}

impl std::error::Error for ScenarioError {}

/// A node an action or expectation names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// `broker N`.
    Broker(BrokerId),
    /// `controller`.
    Controller,
    /// `leader of topic/partition`, resolved when the action runs.
    LeaderOf(TopicPartition),
    /// `coordinator of GROUP`: the leader of the group's `__consumer_offsets` partition,
    /// resolved when the action runs.
    CoordinatorOf(String),
    /// `all`: every broker and the controller.
    All,
    /// A producer or consumer, by its name. A client keeps nothing on disk, so a power loss is
    /// a crash, and a restart begins a new session (a new member id, or for a static member
    /// the same `group.instance.id`).
    Client(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Broker(b) => write!(f, "broker {b}"),
            Target::Controller => f.write_str("controller"),
            Target::LeaderOf(tp) => write!(f, "leader of {tp}"),
            Target::CoordinatorOf(g) => write!(f, "coordinator of {g}"),
            Target::All => f.write_str("all"),
            Target::Client(name) => f.write_str(name),
        }
    }
}

/// A directed or two-way link between two nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// One end.
    pub from: Target,
    /// The other end.
    pub to: Target,
    /// Both directions.
    pub both_ways: bool,
}

/// Something the timeline does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// The process dies; its disk survives.
    Crash(Target),
    /// The machine loses power; unflushed writes are lost.
    PowerLoss(Target),
    /// Start a crashed node again.
    Restart(Target),
    /// Stop a process (it keeps its state and its connections' buffers).
    Pause(Target),
    /// Continue a paused process.
    Resume(Target),
    /// Cut every link to and from a node.
    Isolate(Target),
    /// Cut one link.
    Cut(Link),
    /// Cut every link between the groups (nodes not named stay with no group and keep talking
    /// to everyone).
    Split(Vec<Vec<Target>>),
    /// Restore every cut link.
    Heal,
    /// Hold messages on a link.
    Clog(Link),
    /// Release a clogged link.
    Unclog(Link),
    /// Change a topic config through the controller.
    SetTopicConfig {
        /// The topic.
        topic: TopicName,
        /// The Kafka config name.
        key: String,
        /// The value.
        value: String,
    },
    /// Ask the controller for an election.
    Elect {
        /// The partition.
        partition: TopicPartition,
        /// Preferred or unclean.
        election: ElectionType,
    },
    /// Start a client's workload.
    Start(String),
    /// Stop a client's workload.
    Stop(String),
    /// A consumer closes: it commits (with auto commit), leaves its group and stops.
    Leave(String),
    /// A producer's application sends one record now, outside its workload (a line typed into
    /// `kafka-console-producer`). A producer not started yet starts first.
    Send {
        /// The producer.
        producer: String,
        /// The record's key; `None` sends a keyless record.
        key: Option<String>,
        /// Text for the value, after the producer's unique `{name}-{i}` prefix.
        value: Option<String>,
    },
    /// Force the OS to write a broker's dirty pages (`sync`).
    Writeback(Target),
    /// The next request of this API the client sends arrives late: one TCP segment that had to
    /// be retransmitted. Its connection stalls behind it, and it still reaches the broker if the
    /// client gives up and closes the connection meanwhile (KAFKA-17754's delayed EndTxn).
    Delay {
        /// The producer or consumer.
        client: String,
        /// The request, by its Kafka API name (`EndTxn`, `Produce`, ...).
        request: String,
        /// How much later than usual it arrives.
        by: Duration,
    },
}

/// An action at a time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimedAction {
    /// When.
    pub time: Instant,
    /// What.
    pub action: Action,
    /// Where in the file (line).
    pub line: usize,
}

/// A count that must lie in a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountRange {
    /// The least allowed.
    pub min: u64,
    /// The most allowed.
    pub max: u64,
}

impl CountRange {
    /// Whether `n` is in range.
    pub fn contains(&self, n: u64) -> bool {
        self.min <= n && n <= self.max
    }
}

impl fmt::Display for CountRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.min, self.max) {
            (a, b) if a == b => write!(f, "{a}"),
            (a, u64::MAX) => write!(f, "at least {a}"),
            (0, b) => write!(f, "at most {b}"),
            (a, b) => write!(f, "between {a} and {b}"),
        }
    }
}

/// What must hold at the end of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expectations {
    /// Acknowledged records lost.
    pub lost_acknowledged: Option<CountRange>,
    /// Acknowledged records lost, per producer name.
    pub lost_acknowledged_by_producer: VecMap<String, CountRange>,
    /// Records present at more than one offset.
    pub duplicates: Option<CountRange>,
    /// Offsets holding a different record than the one acknowledged there.
    pub inconsistent_offsets: Option<CountRange>,
    /// Errors some producer must have seen.
    pub producer_errors: Vec<ErrorCode>,
    /// Whether the cluster must converge after healing (default true).
    pub converged: bool,
    /// The delivery semantics the consumer groups promise.
    pub delivery: Option<DeliverySemantics>,
    /// Acknowledged records no member of a group processed (summed over groups).
    pub unseen: Option<CountRange>,
    /// Records a group processed more than once (summed over groups).
    pub duplicates_delivered: Option<CountRange>,
    /// Records of aborted transactions that `read_committed` consumers read.
    pub aborted_reads: Option<CountRange>,
}

/// What a consumer application's commit discipline promises (KAFKA.md 5.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliverySemantics {
    /// Commit after processing: nothing acknowledged goes unprocessed; a crash may redeliver.
    AtLeastOnce,
    /// Commit before processing: nothing is processed twice; a crash may skip records.
    AtMostOnce,
}

impl fmt::Display for DeliverySemantics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeliverySemantics::AtLeastOnce => "at-least-once",
            DeliverySemantics::AtMostOnce => "at-most-once",
        })
    }
}

/// What must hold at a time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expectation {
    /// The controller's leader of a partition (`None`: no leader).
    Leader(TopicPartition, Option<BrokerId>),
    /// The controller's ISR of a partition (as a set).
    Isr(TopicPartition, VecSet<BrokerId>),
    /// The controller's leader epoch of a partition.
    LeaderEpoch(TopicPartition, CountRange),
    /// The leader's high watermark.
    HighWatermark(TopicPartition, CountRange),
    /// The leader's log start offset.
    LogStartOffset(TopicPartition, CountRange),
    /// How many segments the leader's log has.
    Segments(TopicPartition, CountRange),
    /// How many records the leader's log holds: the offsets between its log start and end,
    /// less those the log cleaner emptied (KAFKA.md 6.3).
    Records(TopicPartition, CountRange),
    /// A producer or consumer saw this error at least once so far.
    SawError(String, ErrorCode),
    /// A producer or consumer never saw this error so far.
    NeverSawError(String, ErrorCode),
    /// A broker's state: running, paused, crashed, fenced or unfenced.
    BrokerState(BrokerId, String),
    /// A group's state at its coordinator (`Stable`, `PreparingRebalance`, ...).
    GroupState(String, String),
    /// A group's generation at its coordinator.
    GroupGeneration(String, CountRange),
    /// The partitions named consumers own, as each consumer sees it.
    GroupAssignment(String, VecMap<String, VecSet<TopicPartition>>),
}

/// An expectation at a time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimedExpectation {
    /// When.
    pub time: Instant,
    /// What.
    pub expectation: Expectation,
    /// Where in the file (line).
    pub line: usize,
}

/// A topic to create.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicSpec {
    /// The name.
    pub name: TopicName,
    /// Replicas per partition, preferred first.
    pub assignment: Vec<Vec<BrokerId>>,
    /// The topic's configuration (broker defaults plus overrides).
    pub config: TopicConfig,
}

/// When a client starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientStart {
    /// As soon as the topics exist.
    Ready,
    /// Only when a `start` action names it.
    Manual,
    /// A client the classroom adds beside the declared ones (see
    /// [`Scenario::with_classroom_clients`]): it starts only when an action names it, and its
    /// client id comes after every declared client's, so the declared clients run exactly as
    /// they would without it.
    Spare,
}

/// A producer to run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerSpec {
    /// Its name, used in actions and as the prefix of its values.
    pub name: String,
    /// Its workload.
    pub workload: Workload,
    /// Its configuration after Kafka's checks.
    pub config: EffectiveProducerConfig,
    /// When it starts.
    pub start: ClientStart,
}

/// A consumer to run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerSpec {
    /// Its name.
    pub name: String,
    /// What it reads (assigned partitions or a subscription) and how it commits.
    pub workload: ConsumerWorkload,
    /// Its configuration.
    pub config: ConsumerConfig,
    /// When it starts.
    pub start: ClientStart,
    /// For a consume-transform-produce pipeline: what its transactional producer writes.
    /// (Always serialised: the classroom's built-in scenarios use a format that cannot skip
    /// fields.)
    #[serde(default)]
    pub output: Option<PipelineOutput>,
}

/// The producer half of a consume-transform-produce pipeline (a consumer with an `output`
/// table): it writes one record per consumed record to `workload.topic` and commits the
/// consumed offsets in the same transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineOutput {
    /// The output topic, and the transactions (records per transaction are the poll's).
    pub workload: Workload,
    /// The producer's configuration (transactional, so idempotent with acks=all).
    pub config: EffectiveProducerConfig,
}

/// A validated scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    /// The file it came from.
    pub file: String,
    /// Its TOML text.
    pub source: String,
    /// Its name.
    pub name: String,
    /// What it shows.
    pub description: Option<String>,
    /// The seed used when none is given.
    pub seed: u64,
    /// How long the timeline runs before the final heal-and-check phase.
    pub duration: Duration,
    /// How many brokers (ids 1..=n).
    pub brokers: u32,
    /// The brokers' (and controller's) configuration.
    pub broker_config: BrokerConfig,
    /// How often the OS writes dirty pages back (`None`: never).
    pub writeback: Option<Duration>,
    /// The network.
    pub network: NetworkConfig,
    /// Topics.
    pub topics: Vec<TopicSpec>,
    /// Producers.
    pub producers: Vec<ProducerSpec>,
    /// Consumers.
    pub consumers: Vec<ConsumerSpec>,
    /// The timeline, in time order.
    pub timeline: Vec<TimedAction>,
    /// Expectations at times, in time order.
    pub expect_at: Vec<TimedExpectation>,
    /// Expectations at the end.
    pub expect: Expectations,
    /// Whether the final phase heals everything and restarts crashed nodes before checking.
    pub final_heal: bool,
    /// Swarm faults: each seed draws which are on and how often (`None`: a fixed timeline only).
    pub swarm: Option<SwarmSpec>,
}

// The raw schema.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Spanned<String>,
    description: Option<String>,
    seed: Option<Spanned<i64>>,
    duration: Option<Spanned<String>>,
    cluster: Spanned<RawCluster>,
    network: Option<Spanned<RawNetwork>>,
    #[serde(default)]
    topic: Vec<Spanned<RawTopic>>,
    #[serde(default)]
    producer: Vec<Spanned<RawProducer>>,
    #[serde(default)]
    consumer: Vec<Spanned<RawConsumer>>,
    #[serde(default)]
    at: Vec<Spanned<RawAt>>,
    expect: Option<Spanned<RawExpect>>,
    #[serde(default)]
    expect_at: Vec<Spanned<RawExpectAt>>,
    #[serde(rename = "final")]
    final_phase: Option<Spanned<RawFinal>>,
    swarm: Option<Spanned<RawSwarm>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSwarm {
    faults: Option<Vec<Spanned<String>>>,
    interval: Option<Spanned<String>>,
    outage: Option<Spanned<String>>,
    loss: Option<Spanned<f64>>,
    latency: Option<Spanned<String>>,
    duplicate: Option<Spanned<f64>>,
}

type RawConfig = VecMap<Spanned<String>, Spanned<toml::Value>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    brokers: Spanned<i64>,
    #[serde(default)]
    config: RawConfig,
    page_cache_writeback: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    latency: Option<Spanned<String>>,
    loss: Option<Spanned<f64>>,
    duplicate: Option<Spanned<f64>>,
    reorder: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopic {
    name: Spanned<String>,
    partitions: Spanned<i64>,
    replication_factor: Option<Spanned<i64>>,
    assignment: Option<Spanned<Vec<Vec<i64>>>>,
    #[serde(default)]
    config: RawConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProducer {
    id: Spanned<String>,
    topic: Spanned<String>,
    keys: Option<Spanned<i64>>,
    rate_per_sec: Spanned<i64>,
    count: Spanned<i64>,
    acks: Option<Spanned<toml::Value>>,
    idempotence: Option<Spanned<bool>>,
    start: Option<Spanned<String>>,
    transaction: Option<Spanned<RawTransaction>>,
    #[serde(default)]
    config: RawConfig,
}

/// A producer's `transaction` table: records per transaction, and which ones abort.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTransaction {
    records: Spanned<i64>,
    abort_every: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConsumer {
    id: Spanned<String>,
    topic: Spanned<String>,
    partitions: Option<Spanned<Vec<i64>>>,
    group: Option<Spanned<String>>,
    commit: Option<Spanned<String>>,
    processing_time: Option<Spanned<String>>,
    start: Option<Spanned<String>>,
    #[serde(default)]
    config: RawConfig,
    output: Option<Spanned<RawOutput>>,
}

/// A pipeline consumer's `output` table: where its transactional producer writes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    topic: Spanned<String>,
    transactional_id: Option<Spanned<String>>,
    abort_every: Option<Spanned<i64>>,
    #[serde(default)]
    config: RawConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    from: Spanned<String>,
    to: Spanned<String>,
    #[serde(default)]
    both_ways: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopicConfig {
    topic: Spanned<String>,
    key: Spanned<String>,
    value: Spanned<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawElect {
    partition: Spanned<String>,
    #[serde(rename = "type")]
    election: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAt {
    time: Spanned<String>,
    crash: Option<Spanned<String>>,
    power_loss: Option<Spanned<String>>,
    restart: Option<Spanned<String>>,
    pause: Option<Spanned<String>>,
    resume: Option<Spanned<String>>,
    isolate: Option<Spanned<String>>,
    cut: Option<Spanned<RawLink>>,
    split: Option<Spanned<Vec<Vec<String>>>>,
    heal: Option<Spanned<bool>>,
    clog: Option<Spanned<RawLink>>,
    unclog: Option<Spanned<RawLink>>,
    set_topic_config: Option<Spanned<RawTopicConfig>>,
    elect: Option<Spanned<RawElect>>,
    start: Option<Spanned<String>>,
    stop: Option<Spanned<String>>,
    leave: Option<Spanned<String>>,
    writeback: Option<Spanned<String>>,
    send: Option<Spanned<String>>,
    delay: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawCount {
    Exact(i64),
    Range { min: Option<i64>, max: Option<i64> },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    lost_acknowledged: Option<Spanned<RawCount>>,
    lost_acknowledged_by_producer: Option<VecMap<Spanned<String>, Spanned<RawCount>>>,
    duplicates: Option<Spanned<RawCount>>,
    inconsistent_offsets: Option<Spanned<RawCount>>,
    producer_errors: Option<Spanned<Vec<Spanned<String>>>>,
    converged: Option<bool>,
    delivery: Option<Spanned<String>>,
    unseen: Option<Spanned<RawCount>>,
    duplicates_delivered: Option<Spanned<RawCount>>,
    aborted_reads: Option<Spanned<RawCount>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpectAt {
    time: Spanned<String>,
    partition: Option<Spanned<String>>,
    leader: Option<Spanned<toml::Value>>,
    isr: Option<Spanned<Vec<i64>>>,
    leader_epoch: Option<Spanned<RawCount>>,
    high_watermark: Option<Spanned<RawCount>>,
    log_start_offset: Option<Spanned<RawCount>>,
    segments: Option<Spanned<RawCount>>,
    records: Option<Spanned<RawCount>>,
    producer: Option<Spanned<String>>,
    consumer: Option<Spanned<String>>,
    saw_error: Option<Spanned<String>>,
    never_saw_error: Option<Spanned<String>>,
    broker: Option<Spanned<String>>,
    state: Option<Spanned<String>>,
    group: Option<Spanned<String>>,
    group_state: Option<Spanned<String>>,
    generation: Option<Spanned<RawCount>>,
    assignment: Option<Spanned<VecMap<String, Vec<String>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFinal {
    heal: Option<bool>,
}

/// Turns byte offsets into lines and columns and builds errors.
struct Ctx<'a> {
    file: &'a str,
    source: &'a str,
}

impl Ctx<'_> {
    fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.source.len());
        let before = &self.source[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rfind('\n').map_or(offset, |n| offset - n - 1) + 1;
        (line, column)
    }

    fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Result<T, ScenarioError> {
        let (line, column) = self.position(span.start);
        Err(ScenarioError {
            file: self.file.to_string(),
            line,
            column,
            field: field.into(),
            message: message.into(),
        })
    }

    fn line(&self, span: &std::ops::Range<usize>) -> usize {
        self.position(span.start).0
    }
}

/// Reads a duration: `250ms`, `5s`, `1.5s`, `2m`, `1h`, `7d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale: u64 = match unit.trim() {
        "ms" => 1,
        "s" => 1000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "" => return Err(format!("`{text}` needs a unit (ms, s, m, h or d)")),
        other => return Err(format!("`{other}` is not a unit (use ms, s, m, h or d)")),
    };
    let ms = decimal::scaled(number, scale).ok_or_else(|| format!("`{text}` is not a duration"))?;
    if ms.rounding != Rounding::Exact || ms.value > 1_000_000_000_000_000 {
        return Err(format!("`{text}` is not a whole number of milliseconds"));
    }
    Ok(Duration(ms.value))
}

fn value_text(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        _ => None,
    }
}

/// Reads `topic/partition`.
fn parse_partition(text: &str) -> Option<TopicPartition> {
    let (topic, p) = text.trim().rsplit_once('/')?;
    let partition = p.trim().parse().ok()?;
    (!topic.trim().is_empty()).then(|| TopicPartition::new(topic.trim(), partition))
}

impl Scenario {
    /// Reads `topic/N`, checking that the topic is declared and has that partition.
    pub fn partition_named(&self, text: &str) -> Result<TopicPartition, String> {
        let none = VecSet::new();
        TargetParser {
            brokers: self.brokers,
            topics: &self.topics,
            clients: &none,
            groups: &none,
        }
        .partition(text)
    }

    /// Reads a scenario file.
    pub fn from_file(path: &std::path::Path) -> Result<Scenario, ScenarioError> {
        let file = path.display().to_string();
        let source = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: file.clone(),
            line: 0,
            column: 0,
            field: String::new(),
            message: format!("cannot read the file: {e}"),
        })?;
        Scenario::parse(&file, &source)
    }

    /// Parses and validates scenario text; `file` names it in errors.
    pub fn parse(file: &str, source: &str) -> Result<Scenario, ScenarioError> {
        let cx = Ctx { file, source };
        let raw: RawScenario = toml::from_str(source).map_err(|e| {
            let (line, column) = cx.position(e.span().map_or(0, |s| s.start));
            ScenarioError {
                file: file.to_string(),
                line,
                column,
                field: String::new(),
                message: e.message().to_string(),
            }
        })?;
        validate(&cx, raw)
    }

    /// The network of a run under `seed`: the scenario's own, or what its swarm drew.
    pub fn network_for(&self, seed: u64) -> NetworkConfig {
        match &self.swarm {
            Some(spec) => crate::swarm::SwarmPlan::draw(spec, self, seed).network,
            None => self.network.clone(),
        }
    }

    /// The broker ids, 1..=n.
    pub fn broker_ids(&self) -> Vec<BrokerId> {
        (1..=self.brokers).map(BrokerId).collect()
    }

    /// Whether a declared consumer is in a group, which needs `__consumer_offsets` from the
    /// start (spare consumers ask for it when they start).
    pub fn has_groups(&self) -> bool {
        self.consumers
            .iter()
            .any(|c| c.config.group_id.is_some() && c.start != ClientStart::Spare)
    }

    /// `__consumer_offsets` as a broker would create it on the first FindCoordinator:
    /// `offsets.topic.num.partitions` partitions, replication factor
    /// `offsets.topic.replication.factor` capped at the broker count, placed like any topic.
    pub fn offsets_topic(&self) -> (TopicName, Vec<Vec<BrokerId>>) {
        let c = &self.broker_config;
        let rf = c.offsets_topic_replication_factor.min(self.brokers);
        (
            TopicName::from(gregor_core::group::OFFSETS_TOPIC),
            default_assignment(&self.broker_ids(), c.offsets_topic_num_partitions, rf),
        )
    }

    /// Whether a declared producer is transactional, which needs `__transaction_state`.
    pub fn has_transactions(&self) -> bool {
        self.producers
            .iter()
            .any(|p| p.config.config.transactional_id.is_some())
            || self.consumers.iter().any(|c| c.output.is_some())
    }

    /// `__transaction_state` as a broker would create it on the first transactional
    /// FindCoordinator: `transaction.state.log.num.partitions` partitions, replication factor
    /// `transaction.state.log.replication.factor` capped at the broker count.
    pub fn transaction_state_topic(&self) -> (TopicName, Vec<Vec<BrokerId>>) {
        let c = &self.broker_config;
        let rf = c.transaction_state_log_replication_factor.min(self.brokers);
        (
            TopicName::from(gregor_core::txn::TRANSACTION_STATE_TOPIC),
            default_assignment(
                &self.broker_ids(),
                c.transaction_state_log_num_partitions,
                rf,
            ),
        )
    }

    /// The partitions of the internal topics the scenario needs: `__consumer_offsets` when it
    /// has groups, `__transaction_state` when it has transactional producers.
    pub fn internal_partitions(&self) -> Vec<TopicPartition> {
        let mut out = self.offsets_partitions();
        if self.has_transactions() {
            let (name, assignment) = self.transaction_state_topic();
            out.extend((0..assignment.len() as u32).map(|p| TopicPartition::new(name.clone(), p)));
        }
        out
    }

    /// The partitions of `__consumer_offsets`, when the scenario has groups.
    pub fn offsets_partitions(&self) -> Vec<TopicPartition> {
        if !self.has_groups() {
            return Vec::new();
        }
        let (name, assignment) = self.offsets_topic();
        (0..assignment.len() as u32)
            .map(|p| TopicPartition::new(name.clone(), p))
            .collect()
    }

    /// The partitions of every topic.
    pub fn partitions(&self) -> Vec<TopicPartition> {
        self.topics
            .iter()
            .flat_map(|t| {
                (0..t.assignment.len() as u32).map(|p| TopicPartition {
                    topic: t.name.clone(),
                    partition: p,
                })
            })
            .collect()
    }
}

/// Kafka's rack-unaware replica placement (`AdminUtils.assignReplicasToBrokersRackUnaware`) with a
/// fixed start index and shift of 0, as Kafka's own tests use it. KRaft's `StripedReplicaPlacer`
/// shuffles randomly; a fixed placement keeps "leader of orders/0" the same for every seed.
pub fn default_assignment(
    brokers: &[BrokerId],
    partitions: u32,
    replication_factor: u32,
) -> Vec<Vec<BrokerId>> {
    let n = brokers.len();
    let mut shift = 0usize;
    (0..partitions as usize)
        .map(|p| {
            if p > 0 && p % n == 0 {
                shift += 1;
            }
            let first = p % n;
            let mut replicas = vec![brokers[first]];
            for j in 0..replication_factor as usize - 1 {
                let s = 1 + (shift + j) % (n - 1);
                replicas.push(brokers[(first + s) % n]);
            }
            replicas
        })
        .collect()
}

fn validate(cx: &Ctx<'_>, raw: RawScenario) -> Result<Scenario, ScenarioError> {
    let name = raw.name.get_ref().trim().to_string();
    if name.is_empty() {
        return cx.err(raw.name.span(), "name", "the scenario needs a name");
    }
    let seed = match raw.seed {
        None => 1,
        Some(s) if *s.get_ref() >= 0 => *s.get_ref() as u64,
        Some(s) => return cx.err(s.span(), "seed", "must not be negative"),
    };
    let duration = match &raw.duration {
        None => Duration::from_secs(30),
        Some(d) => parse_duration(d.get_ref()).or_else(|m| cx.err(d.span(), "duration", m))?,
    };

    // Cluster.
    let cluster = raw.cluster.get_ref();
    let brokers = in_range(cx, &cluster.brokers, "cluster.brokers", 1..=64)?;
    let brokers = brokers as u32;
    let broker_ids: Vec<BrokerId> = (1..=brokers).map(BrokerId).collect();
    let mut broker_config = BrokerConfig::default();
    apply_config(cx, &cluster.config, "cluster.config", |k, v| {
        broker_config.set(k, v)
    })?;
    let writeback = match &cluster.page_cache_writeback {
        None => Some(Duration::from_secs(5)),
        Some(s) if s.get_ref().trim() == "never" => None,
        Some(s) => match parse_duration(s.get_ref()) {
            Ok(d) if d.0 > 0 => Some(d),
            Ok(_) => {
                return cx.err(
                    s.span(),
                    "cluster.page_cache_writeback",
                    "must be positive or \"never\"",
                );
            }
            Err(m) => return cx.err(s.span(), "cluster.page_cache_writeback", m),
        },
    };

    // Network.
    let mut network = NetworkConfig::default();
    if let Some(n) = &raw.network {
        let n = n.get_ref();
        if let Some(l) = &n.latency {
            let text = l.get_ref();
            let (lo, hi) = match text.split_once("..") {
                Some((a, b)) => (a, b),
                None => (text.as_str(), text.as_str()),
            };
            let lo = parse_duration(lo).or_else(|m| cx.err(l.span(), "network.latency", m))?;
            let hi = parse_duration(hi).or_else(|m| cx.err(l.span(), "network.latency", m))?;
            if lo > hi {
                return cx.err(
                    l.span(),
                    "network.latency",
                    "the lower bound is above the upper bound",
                );
            }
            network.latency_min = lo;
            network.latency_max = hi;
        }
        for (field, value, target) in [
            ("network.loss", &n.loss, &mut network.loss),
            ("network.duplicate", &n.duplicate, &mut network.duplicate),
        ] {
            if let Some(v) = value {
                if !(0.0..=1.0).contains(v.get_ref()) {
                    return cx.err(v.span(), field, "must be a probability between 0 and 1");
                }
                *target = *v.get_ref();
            }
        }
        network.reorder = n.reorder.unwrap_or(false);
    }

    // Topics.
    let mut topics = Vec::new();
    let mut topic_names = VecSet::new();
    for (i, t) in raw.topic.iter().enumerate() {
        let field = |f: &str| format!("topic[{i}].{f}");
        let t = t.get_ref();
        let tname = t.name.get_ref().trim();
        // Kafka's own rule, which also keeps `topic/N` unambiguous and lets texts lowercase
        // a name as ASCII.
        if let Err(e) = crate::assign::valid_topic_name(tname) {
            return cx.err(t.name.span(), field("name"), e);
        }
        if !topic_names.insert(tname.to_string()) {
            return cx.err(
                t.name.span(),
                field("name"),
                format!("topic `{tname}` is declared twice"),
            );
        }
        let partitions = in_range(cx, &t.partitions, &field("partitions"), 1..=1000)?;
        let assignment = match &t.assignment {
            Some(a) => {
                let rows = a.get_ref();
                if rows.len() != partitions as usize {
                    return cx.err(
                        a.span(),
                        field("assignment"),
                        format!(
                            "has {} rows but the topic has {partitions} partitions",
                            rows.len()
                        ),
                    );
                }
                let mut out = Vec::new();
                for row in rows {
                    let mut replicas = Vec::new();
                    for &b in row {
                        if b < 1 || b > i64::from(brokers) {
                            return cx.err(
                                a.span(),
                                field("assignment"),
                                format!("broker {b} does not exist (brokers are 1 to {brokers})"),
                            );
                        }
                        if replicas.contains(&BrokerId(b as u32)) {
                            return cx.err(
                                a.span(),
                                field("assignment"),
                                format!("broker {b} appears twice in one partition"),
                            );
                        }
                        replicas.push(BrokerId(b as u32));
                    }
                    if replicas.is_empty() {
                        return cx.err(
                            a.span(),
                            field("assignment"),
                            "a partition needs at least one replica",
                        );
                    }
                    out.push(replicas);
                }
                if let Some(rf) = &t.replication_factor
                    && out.iter().any(|r| r.len() as i64 != *rf.get_ref())
                {
                    return cx.err(
                        rf.span(),
                        field("replication_factor"),
                        "does not match the assignment",
                    );
                }
                out
            }
            None => {
                let Some(rf) = &t.replication_factor else {
                    return cx.err(
                        t.name.span(),
                        field("replication_factor"),
                        "is required without an assignment",
                    );
                };
                let r = *rf.get_ref();
                if r < 1 || r > i64::from(brokers) {
                    return cx.err(
                        rf.span(),
                        field("replication_factor"),
                        format!("must be between 1 and the broker count ({brokers}), got {r}"),
                    );
                }
                default_assignment(&broker_ids, partitions as u32, r as u32)
            }
        };
        let mut config = broker_config.topic_defaults();
        apply_config(cx, &t.config, &field("config"), |k, v| config.set(k, v))?;
        topics.push(TopicSpec {
            name: TopicName::from(tname),
            assignment,
            config,
        });
    }
    let topic_of = |s: &Spanned<String>, f: String| -> Result<&TopicSpec, ScenarioError> {
        match topics
            .iter()
            .find(|t| t.name.as_str() == s.get_ref().trim())
        {
            Some(t) => Ok(t),
            None => cx.err(
                s.span(),
                f,
                format!("no topic named `{}` is declared", s.get_ref()),
            ),
        }
    };

    // Clients.
    let mut client_names = VecSet::new();
    let mut producers = Vec::new();
    for (i, p) in raw.producer.iter().enumerate() {
        let field = |f: &str| format!("producer[{i}].{f}");
        let p = p.get_ref();
        let pname = p.id.get_ref().trim().to_string();
        check_client_name(cx, &p.id, &field("id"), &mut client_names)?;
        let topic = topic_of(&p.topic, field("topic"))?.name.clone();
        let keys = match &p.keys {
            None => None,
            Some(k) if *k.get_ref() >= 1 => Some(*k.get_ref() as u64),
            Some(k) => {
                return cx.err(
                    k.span(),
                    field("keys"),
                    "must be at least 1 (leave it out for keyless records)",
                );
            }
        };
        let rate = in_range(cx, &p.rate_per_sec, &field("rate_per_sec"), 1..=1_000_000)?;
        let count = in_range(cx, &p.count, &field("count"), 0..=10_000_000)?;
        let mut config = ProducerConfig::default();
        if let Some(a) = &p.acks {
            let text = value_text(a.get_ref()).unwrap_or_default();
            config
                .set("acks", &text)
                .or_else(|e| cx.err(a.span(), field("acks"), e.message))?;
        }
        if let Some(b) = &p.idempotence {
            config.enable_idempotence = Some(*b.get_ref());
        }
        apply_config(cx, &p.config, &field("config"), |k, v| config.set(k, v))?;
        let effective = config.validate().or_else(|e| {
            let span = p
                .config
                .iter()
                .find(|(k, _)| k.get_ref() == &e.key)
                .map_or(p.id.span(), |(k, _)| k.span());
            cx.err(span, field(&format!("config.{}", e.key)), e.message)
        })?;
        let transaction = match (&p.transaction, &effective.config.transactional_id) {
            (None, None) => None,
            (Some(t), None) => {
                return cx.err(
                    t.span(),
                    field("transaction"),
                    "needs config.\"transactional.id\": only a transactional producer runs transactions",
                );
            }
            (None, Some(_)) => {
                return cx.err(
                    p.id.span(),
                    field("transaction"),
                    "a producer with a transactional.id needs a transaction table, e.g. transaction = { records = 10 }",
                );
            }
            (Some(t), Some(_)) => {
                let t = t.get_ref();
                let records =
                    in_range(cx, &t.records, &field("transaction.records"), 1..=1_000_000)?;
                let abort_every = match &t.abort_every {
                    None => None,
                    Some(a) => {
                        Some(
                            in_range(cx, a, &field("transaction.abort_every"), 1..=1_000_000)?
                                as u64,
                        )
                    }
                };
                Some(TransactionWorkload {
                    records: records as u64,
                    abort_every,
                })
            }
        };
        producers.push(ProducerSpec {
            name: pname,
            workload: Workload {
                topic,
                keys,
                rate_per_sec: rate as u64,
                count: count as u64,
                transaction,
            },
            config: effective,
            start: parse_start(cx, &p.start, &field("start"))?,
        });
    }
    let mut consumers = Vec::new();
    for (i, c) in raw.consumer.iter().enumerate() {
        let field = |f: &str| format!("consumer[{i}].{f}");
        let c = c.get_ref();
        check_client_name(cx, &c.id, &field("id"), &mut client_names)?;
        let topic = topic_of(&c.topic, field("topic"))?;
        let all = topic.assignment.len() as i64;
        let partitions: Vec<u32> = match &c.partitions {
            None => (0..all as u32).collect(),
            Some(ps) => {
                for &p in ps.get_ref() {
                    if p < 0 || p >= all {
                        return cx.err(
                            ps.span(),
                            field("partitions"),
                            format!("partition {p} does not exist (the topic has {all})"),
                        );
                    }
                }
                ps.get_ref().iter().map(|&p| p as u32).collect()
            }
        };
        let mut config = ConsumerConfig {
            auto_offset_reset: OffsetReset::Earliest,
            ..ConsumerConfig::default()
        };
        if let Some(g) = &c.group {
            if c.partitions.is_some() {
                return cx.err(
                    g.span(),
                    field("group"),
                    "a group member subscribes to the whole topic; drop `partitions`",
                );
            }
            config
                .set("group.id", g.get_ref())
                .or_else(|e| cx.err(g.span(), field("group"), e.message))?;
        }
        apply_config(cx, &c.config, &field("config"), |k, v| config.set(k, v))?;
        let commit = match &c.commit {
            None if c.output.is_some() => CommitMode::Transactional,
            None if config.group_id.is_some() && config.enable_auto_commit => CommitMode::Auto,
            None => CommitMode::Never,
            Some(m) => match m.get_ref().trim() {
                "auto" => CommitMode::Auto,
                "after-processing" => CommitMode::AfterProcessing,
                "before-processing" => CommitMode::BeforeProcessing,
                "never" => CommitMode::Never,
                "transactional" => CommitMode::Transactional,
                other => {
                    return cx.err(
                        m.span(),
                        field("commit"),
                        format!(
                            "`{other}` is not a commit mode (auto, after-processing, before-processing, never, transactional)"
                        ),
                    );
                }
            },
        };
        if (commit == CommitMode::Transactional) != c.output.is_some() {
            let span = c.commit.as_ref().map_or(c.id.span(), Spanned::span);
            return cx.err(
                span,
                field("commit"),
                "a consume-transform-produce pipeline has both `commit = \"transactional\"` and an `output` table",
            );
        }
        if c.output.is_some() && config.auto_offset_reset != OffsetReset::Earliest {
            let span = c.output.as_ref().map_or(c.id.span(), Spanned::span);
            return cx.err(
                span,
                field("output"),
                "a pipeline reads its input from the start (auto.offset.reset = earliest): the exactly-once check holds it to every input record",
            );
        }
        let output = match &c.output {
            None => None,
            Some(o) => {
                let field = |f: &str| format!("consumer[{i}].output.{f}");
                let raw = o.get_ref();
                let topic = topic_of(&raw.topic, field("topic"))?.name.clone();
                let mut config = ProducerConfig::default();
                let txn_id = raw.transactional_id.as_ref().map_or_else(
                    || format!("{}-txn", c.id.get_ref().trim()),
                    |t| t.get_ref().trim().to_string(),
                );
                config
                    .set("transactional.id", &txn_id)
                    .or_else(|e| cx.err(o.span(), field("transactional_id"), e.message))?;
                apply_config(cx, &raw.config, &field("config"), |k, v| config.set(k, v))?;
                let effective = config.validate().or_else(|e| {
                    let span = raw
                        .config
                        .iter()
                        .find(|(k, _)| k.get_ref() == &e.key)
                        .map_or(o.span(), |(k, _)| k.span());
                    cx.err(span, field(&format!("config.{}", e.key)), e.message)
                })?;
                let abort_every = match &raw.abort_every {
                    None => None,
                    Some(a) => Some(in_range(cx, a, &field("abort_every"), 1..=1_000_000)? as u64),
                };
                Some(PipelineOutput {
                    workload: Workload {
                        topic,
                        keys: None,
                        rate_per_sec: 1,
                        count: 0,
                        transaction: Some(TransactionWorkload {
                            records: u64::MAX,
                            abort_every,
                        }),
                    },
                    config: effective,
                })
            }
        };
        if commit != CommitMode::Never && config.group_id.is_none() {
            let span = c.commit.as_ref().map_or(c.id.span(), Spanned::span);
            return cx.err(span, field("commit"), "committing offsets needs a `group`");
        }
        // The Java consumer auto-commits only with enable.auto.commit; the manual modes turn it off.
        config.enable_auto_commit = commit == CommitMode::Auto;
        let processing_time = match &c.processing_time {
            None => Duration(0),
            Some(t) => parse_duration(t.get_ref())
                .or_else(|m| cx.err(t.span(), field("processing_time"), m))?,
        };
        let assigned: Vec<TopicPartition> = partitions
            .into_iter()
            .map(|p| TopicPartition {
                topic: topic.name.clone(),
                partition: p,
            })
            .collect();
        let workload = if config.group_id.is_some() {
            ConsumerWorkload {
                assign: Vec::new(),
                subscribe: vec![topic.name.clone()],
                processing_time,
                commit,
            }
        } else {
            ConsumerWorkload {
                assign: assigned,
                subscribe: Vec::new(),
                processing_time,
                commit,
            }
        };
        consumers.push(ConsumerSpec {
            name: c.id.get_ref().trim().to_string(),
            workload,
            config,
            start: parse_start(cx, &c.start, &field("start"))?,
            output,
        });
    }

    // Timeline.
    let group_members: VecSet<String> = consumers
        .iter()
        .filter(|c| c.config.group_id.is_some())
        .map(|c| c.name.clone())
        .collect();
    let group_ids: VecSet<String> = consumers
        .iter()
        .filter_map(|c| c.config.group_id.clone())
        .collect();
    let targets = TargetParser {
        brokers,
        topics: &topics,
        clients: &client_names,
        groups: &group_ids,
    };
    let mut timeline = Vec::new();
    for (i, at) in raw.at.iter().enumerate() {
        let line = cx.line(&at.span());
        let at = at.get_ref();
        let field = |f: &str| format!("at[{i}].{f}");
        let time = Instant(
            parse_duration(at.time.get_ref())
                .or_else(|m| cx.err(at.time.span(), field("time"), m))?
                .0,
        );
        let mut actions = Vec::new();
        let target = |s: &Spanned<String>,
                      f: &str,
                      allow_all: bool,
                      allow_leader: bool|
         -> Result<Target, ScenarioError> {
            targets
                .parse(s.get_ref(), allow_all, allow_leader)
                .or_else(|m| cx.err(s.span(), field(f), m))
        };
        if let Some(s) = &at.crash {
            actions.push(Action::Crash(target(s, "crash", true, true)?));
        }
        if let Some(s) = &at.power_loss {
            actions.push(Action::PowerLoss(target(s, "power_loss", true, true)?));
        }
        if let Some(s) = &at.restart {
            actions.push(Action::Restart(target(s, "restart", true, false)?));
        }
        if let Some(s) = &at.pause {
            actions.push(Action::Pause(target(s, "pause", true, true)?));
        }
        if let Some(s) = &at.resume {
            actions.push(Action::Resume(target(s, "resume", true, false)?));
        }
        if let Some(s) = &at.isolate {
            actions.push(Action::Isolate(target(s, "isolate", false, true)?));
        }
        for (f, link, make) in [
            ("cut", &at.cut, Action::Cut as fn(Link) -> Action),
            ("clog", &at.clog, Action::Clog as fn(Link) -> Action),
            ("unclog", &at.unclog, Action::Unclog as fn(Link) -> Action),
        ] {
            if let Some(l) = link {
                let l = l.get_ref();
                let from = target(&l.from, &format!("{f}.from"), false, true)?;
                let to = target(&l.to, &format!("{f}.to"), false, true)?;
                actions.push(make(Link {
                    from,
                    to,
                    both_ways: l.both_ways,
                }));
            }
        }
        if let Some(groups) = &at.split {
            let mut parsed = Vec::new();
            for g in groups.get_ref() {
                let mut group = Vec::new();
                for name in g {
                    group.push(
                        targets
                            .parse(name, false, true)
                            .or_else(|m| cx.err(groups.span(), field("split"), m))?,
                    );
                }
                parsed.push(group);
            }
            if parsed.len() < 2 {
                return cx.err(groups.span(), field("split"), "needs at least two groups");
            }
            actions.push(Action::Split(parsed));
        }
        if let Some(h) = &at.heal {
            if !*h.get_ref() {
                return cx.err(
                    h.span(),
                    field("heal"),
                    "write `heal = true` (or leave it out)",
                );
            }
            actions.push(Action::Heal);
        }
        if let Some(c) = &at.set_topic_config {
            let c = c.get_ref();
            let topic = topic_of(&c.topic, field("set_topic_config.topic"))?;
            let value = value_text(c.value.get_ref()).unwrap_or_default();
            let mut probe = topic.config.clone();
            probe
                .set(c.key.get_ref(), &value)
                .or_else(|e| cx.err(c.key.span(), field("set_topic_config.key"), e.message))?;
            actions.push(Action::SetTopicConfig {
                topic: topic.name.clone(),
                key: c.key.get_ref().clone(),
                value,
            });
        }
        if let Some(e) = &at.elect {
            let e = e.get_ref();
            let partition = targets
                .partition(e.partition.get_ref())
                .or_else(|m| cx.err(e.partition.span(), field("elect.partition"), m))?;
            let election = match e.election.get_ref().as_str() {
                "preferred" => ElectionType::Preferred,
                "unclean" => ElectionType::Unclean,
                other => {
                    return cx.err(
                        e.election.span(),
                        field("elect.type"),
                        format!("`{other}` is not an election type (preferred or unclean)"),
                    );
                }
            };
            actions.push(Action::Elect {
                partition,
                election,
            });
        }
        for (f, value, make) in [
            ("start", &at.start, Action::Start as fn(String) -> Action),
            ("stop", &at.stop, Action::Stop as fn(String) -> Action),
            ("leave", &at.leave, Action::Leave as fn(String) -> Action),
        ] {
            if let Some(s) = value {
                let n = s.get_ref().trim().to_string();
                if !client_names.contains(&n) {
                    return cx.err(
                        s.span(),
                        field(f),
                        format!("no producer or consumer is called `{n}`"),
                    );
                }
                if f == "leave" && !group_members.contains(&n) {
                    return cx.err(
                        s.span(),
                        field(f),
                        format!("`{n}` is not a consumer in a group, so it has no group to leave"),
                    );
                }
                actions.push(make(n));
            }
        }
        if let Some(s) = &at.writeback {
            actions.push(Action::Writeback(target(s, "writeback", true, true)?));
        }
        if let Some(s) = &at.send {
            let is_producer = |p: &str| producers.iter().any(|x: &ProducerSpec| x.name == p);
            actions.push(
                parse_send(&is_producer, s.get_ref())
                    .or_else(|m| cx.err(s.span(), field("send"), m))?,
            );
        }
        if let Some(s) = &at.delay {
            actions.push(
                parse_delay(&client_names, s.get_ref())
                    .or_else(|m| cx.err(s.span(), field("delay"), m))?,
            );
        }
        match actions.len() {
            0 => return cx.err(at.time.span(), field("time"), "this entry has no action (crash, power_loss, restart, pause, resume, isolate, cut, split, heal, clog, unclog, set_topic_config, elect, start, stop, leave, writeback, send, delay)"),
            1 => timeline.push(TimedAction { time, action: actions.pop().expect("one"), line }),
            _ => return cx.err(at.time.span(), field("time"), "an [[at]] entry holds exactly one action; split them into several entries"),
        }
    }
    gregor_core::sort::sort_by_key(&mut timeline, |a| (a.time, a.line));

    // Expectations.
    let mut expect = Expectations {
        converged: true,
        ..Expectations::default()
    };
    if let Some(e) = &raw.expect {
        let e = e.get_ref();
        expect.lost_acknowledged = e
            .lost_acknowledged
            .as_ref()
            .map(|c| count_range(cx, c, "expect.lost_acknowledged"))
            .transpose()?;
        for (name, count) in e.lost_acknowledged_by_producer.iter().flatten() {
            let n = name.get_ref().trim();
            if !producers.iter().any(|p| p.name == n) {
                return cx.err(
                    name.span(),
                    "expect.lost_acknowledged_by_producer",
                    format!("no producer is called `{n}`"),
                );
            }
            let range = count_range(
                cx,
                count,
                &format!("expect.lost_acknowledged_by_producer.{n}"),
            )?;
            expect
                .lost_acknowledged_by_producer
                .insert(n.to_string(), range);
        }
        expect.duplicates = e
            .duplicates
            .as_ref()
            .map(|c| count_range(cx, c, "expect.duplicates"))
            .transpose()?;
        expect.inconsistent_offsets = e
            .inconsistent_offsets
            .as_ref()
            .map(|c| count_range(cx, c, "expect.inconsistent_offsets"))
            .transpose()?;
        if let Some(errors) = &e.producer_errors {
            for name in errors.get_ref() {
                let code = ErrorCode::from_name(name.get_ref()).map_or_else(
                    || {
                        cx.err(
                            name.span(),
                            "expect.producer_errors",
                            format!("`{}` is not a Kafka error name", name.get_ref()),
                        )
                    },
                    Ok,
                )?;
                expect.producer_errors.push(code);
            }
        }
        expect.converged = e.converged.unwrap_or(true);
        expect.unseen = e
            .unseen
            .as_ref()
            .map(|c| count_range(cx, c, "expect.unseen"))
            .transpose()?;
        expect.duplicates_delivered = e
            .duplicates_delivered
            .as_ref()
            .map(|c| count_range(cx, c, "expect.duplicates_delivered"))
            .transpose()?;
        expect.aborted_reads = e
            .aborted_reads
            .as_ref()
            .map(|c| count_range(cx, c, "expect.aborted_reads"))
            .transpose()?;
        if let Some(c) = &e.aborted_reads
            && !(producers
                .iter()
                .any(|p| p.config.config.transactional_id.is_some())
                || consumers.iter().any(|c| c.output.is_some()))
        {
            return cx.err(
                c.span(),
                "expect.aborted_reads",
                "no producer is transactional, so there is no aborted transaction to read",
            );
        }
        let needs_group = [
            ("delivery", e.delivery.as_ref().map(Spanned::span)),
            ("unseen", e.unseen.as_ref().map(Spanned::span)),
            (
                "duplicates_delivered",
                e.duplicates_delivered.as_ref().map(Spanned::span),
            ),
        ];
        if !consumers.iter().any(|c| c.config.group_id.is_some())
            && let Some((key, Some(span))) = needs_group.iter().find(|(_, s)| s.is_some())
        {
            return cx.err(
                span.clone(),
                format!("expect.{key}"),
                "the consumer side of the oracle looks at consumer groups, and no consumer has a `group`",
            );
        }
        if let Some(d) = &e.delivery {
            expect.delivery = Some(match d.get_ref().trim() {
                "at-least-once" => DeliverySemantics::AtLeastOnce,
                "at-most-once" => DeliverySemantics::AtMostOnce,
                other => {
                    return cx.err(
                        d.span(),
                        "expect.delivery",
                        format!(
                            "`{other}` is not a delivery semantics (at-least-once or at-most-once)"
                        ),
                    );
                }
            });
        }
    }
    let mut expect_at = Vec::new();
    for (i, e) in raw.expect_at.iter().enumerate() {
        let line = cx.line(&e.span());
        let e = e.get_ref();
        let field = |f: &str| format!("expect_at[{i}].{f}");
        let time = Instant(
            parse_duration(e.time.get_ref())
                .or_else(|m| cx.err(e.time.span(), field("time"), m))?
                .0,
        );
        let mut found = Vec::new();
        let partition = match &e.partition {
            Some(p) => Some(
                targets
                    .partition(p.get_ref())
                    .or_else(|m| cx.err(p.span(), field("partition"), m))?,
            ),
            None => None,
        };
        let needs_partition =
            |span: std::ops::Range<usize>, f: &str| -> Result<TopicPartition, ScenarioError> {
                match &partition {
                    Some(p) => Ok(p.clone()),
                    None => cx.err(
                        span,
                        field(f),
                        "needs `partition = \"topic/N\"` in the same entry",
                    ),
                }
            };
        if let Some(l) = &e.leader {
            let tp = needs_partition(l.span(), "leader")?;
            let leader = match l.get_ref() {
                toml::Value::String(s) if s == "none" => None,
                toml::Value::Integer(b) if *b >= 1 && *b <= i64::from(brokers) => {
                    Some(BrokerId(*b as u32))
                }
                other => {
                    return cx.err(
                        l.span(),
                        field("leader"),
                        format!("expected a broker id (1 to {brokers}) or \"none\", got {other}"),
                    );
                }
            };
            found.push(Expectation::Leader(tp, leader));
        }
        if let Some(isr) = &e.isr {
            let tp = needs_partition(isr.span(), "isr")?;
            let mut set = VecSet::new();
            for &b in isr.get_ref() {
                if b < 1 || b > i64::from(brokers) {
                    return cx.err(
                        isr.span(),
                        field("isr"),
                        format!("broker {b} does not exist"),
                    );
                }
                set.insert(BrokerId(b as u32));
            }
            found.push(Expectation::Isr(tp, set));
        }
        if let Some(c) = &e.leader_epoch {
            found.push(Expectation::LeaderEpoch(
                needs_partition(c.span(), "leader_epoch")?,
                count_range(cx, c, &field("leader_epoch"))?,
            ));
        }
        if let Some(c) = &e.high_watermark {
            found.push(Expectation::HighWatermark(
                needs_partition(c.span(), "high_watermark")?,
                count_range(cx, c, &field("high_watermark"))?,
            ));
        }
        if let Some(c) = &e.log_start_offset {
            found.push(Expectation::LogStartOffset(
                needs_partition(c.span(), "log_start_offset")?,
                count_range(cx, c, &field("log_start_offset"))?,
            ));
        }
        if let Some(c) = &e.segments {
            found.push(Expectation::Segments(
                needs_partition(c.span(), "segments")?,
                count_range(cx, c, &field("segments"))?,
            ));
        }
        if let Some(c) = &e.records {
            found.push(Expectation::Records(
                needs_partition(c.span(), "records")?,
                count_range(cx, c, &field("records"))?,
            ));
        }
        for (f, value, saw) in [
            ("saw_error", &e.saw_error, true),
            ("never_saw_error", &e.never_saw_error, false),
        ] {
            if let Some(err) = value {
                let pname = match (&e.producer, &e.consumer) {
                    (Some(p), _) => {
                        let pname = p.get_ref().trim().to_string();
                        if !producers.iter().any(|x| x.name == pname) {
                            return cx.err(
                                p.span(),
                                field("producer"),
                                format!("no producer is called `{pname}`"),
                            );
                        }
                        pname
                    }
                    (None, Some(c)) => {
                        let cname = c.get_ref().trim().to_string();
                        if !consumers.iter().any(|x| x.name == cname) {
                            return cx.err(
                                c.span(),
                                field("consumer"),
                                format!("no consumer is called `{cname}`"),
                            );
                        }
                        cname
                    }
                    (None, None) => {
                        return cx.err(
                            err.span(),
                            field(f),
                            "needs `producer = \"...\"` or `consumer = \"...\"` in the same entry",
                        );
                    }
                };
                let code = ErrorCode::from_name(err.get_ref()).map_or_else(
                    || {
                        cx.err(
                            err.span(),
                            field(f),
                            format!("`{}` is not a Kafka error name", err.get_ref()),
                        )
                    },
                    Ok,
                )?;
                found.push(if saw {
                    Expectation::SawError(pname, code)
                } else {
                    Expectation::NeverSawError(pname, code)
                });
            }
        }
        if let Some(s) = &e.state {
            let Some(b) = &e.broker else {
                return cx.err(
                    s.span(),
                    field("state"),
                    "needs `broker = \"broker N\"` in the same entry",
                );
            };
            let Target::Broker(id) = targets
                .parse(b.get_ref(), false, false)
                .or_else(|m| cx.err(b.span(), field("broker"), m))?
            else {
                return cx.err(b.span(), field("broker"), "name one broker, as `broker N`");
            };
            let state = s.get_ref().trim().to_string();
            if !["running", "paused", "crashed", "fenced", "unfenced"].contains(&state.as_str()) {
                return cx.err(
                    s.span(),
                    field("state"),
                    "expected running, paused, crashed, fenced or unfenced",
                );
            }
            found.push(Expectation::BrokerState(id, state));
        }
        let group_keys = [
            ("group_state", e.group_state.as_ref().map(Spanned::span)),
            ("generation", e.generation.as_ref().map(Spanned::span)),
            ("assignment", e.assignment.as_ref().map(Spanned::span)),
        ];
        if let Some(g) = &e.group {
            let group = g.get_ref().trim().to_string();
            let members: Vec<&ConsumerSpec> = consumers
                .iter()
                .filter(|c| c.config.group_id.as_deref() == Some(group.as_str()))
                .collect();
            if members.is_empty() {
                return cx.err(
                    g.span(),
                    field("group"),
                    format!("no consumer is in a group called `{group}`"),
                );
            }
            if let Some(st) = &e.group_state {
                let state = st.get_ref().trim().to_string();
                let known = [
                    "Empty",
                    "PreparingRebalance",
                    "CompletingRebalance",
                    "Stable",
                    "Dead",
                ];
                if !known.contains(&state.as_str()) {
                    return cx.err(
                        st.span(),
                        field("group_state"),
                        format!("`{state}` is not a group state ({})", known.join(", ")),
                    );
                }
                found.push(Expectation::GroupState(group.clone(), state));
            }
            if let Some(c) = &e.generation {
                found.push(Expectation::GroupGeneration(
                    group.clone(),
                    count_range(cx, c, &field("generation"))?,
                ));
            }
            if let Some(a) = &e.assignment {
                let mut want = VecMap::new();
                for (member, parts) in a.get_ref() {
                    let member = member.trim().to_string();
                    if !members.iter().any(|c| c.name == member) {
                        return cx.err(
                            a.span(),
                            field("assignment"),
                            format!("`{member}` is not a consumer of group `{group}`"),
                        );
                    }
                    let mut set = VecSet::new();
                    for p in parts {
                        set.insert(
                            targets
                                .partition(p)
                                .or_else(|m| cx.err(a.span(), field("assignment"), m))?,
                        );
                    }
                    want.insert(member, set);
                }
                found.push(Expectation::GroupAssignment(group.clone(), want));
            }
        } else if let Some((key, Some(span))) = group_keys.iter().find(|(_, s)| s.is_some()) {
            return cx.err(
                span.clone(),
                field(key),
                "needs `group = \"...\"` in the same entry",
            );
        }
        if found.is_empty() {
            return cx.err(e.time.span(), field("time"), "this entry checks nothing (leader, isr, leader_epoch, high_watermark, log_start_offset, segments, records, saw_error, never_saw_error, state, group_state, generation, assignment)");
        }
        expect_at.extend(found.into_iter().map(|expectation| TimedExpectation {
            time,
            expectation,
            line,
        }));
    }
    gregor_core::sort::sort_by_key(&mut expect_at, |e| (e.time, e.line));

    let swarm = raw
        .swarm
        .as_ref()
        .map(|s| swarm_spec(cx, s, &network))
        .transpose()?;
    Ok(Scenario {
        file: cx.file.to_string(),
        source: cx.source.to_string(),
        name,
        description: raw.description,
        seed,
        duration,
        brokers,
        broker_config,
        writeback,
        network,
        topics,
        producers,
        consumers,
        timeline,
        expect_at,
        expect,
        final_heal: raw
            .final_phase
            .as_ref()
            .and_then(|f| f.get_ref().heal)
            .unwrap_or(true),
        swarm,
    })
}

/// A `lo..hi` range of durations (or one duration for both ends).
fn duration_range(
    cx: &Ctx<'_>,
    value: &Spanned<String>,
    field: &str,
) -> Result<(Duration, Duration), ScenarioError> {
    let text = value.get_ref();
    let (lo, hi) = text.split_once("..").unwrap_or((text, text));
    let lo = parse_duration(lo).or_else(|m| cx.err(value.span(), field, m))?;
    let hi = parse_duration(hi).or_else(|m| cx.err(value.span(), field, m))?;
    if lo > hi {
        return cx.err(
            value.span(),
            field,
            "the lower bound is above the upper bound",
        );
    }
    Ok((lo, hi))
}

/// The `[swarm]` section.
fn swarm_spec(
    cx: &Ctx<'_>,
    raw: &Spanned<RawSwarm>,
    network: &NetworkConfig,
) -> Result<SwarmSpec, ScenarioError> {
    let r = raw.get_ref();
    let mut spec = SwarmSpec::default();
    if let Some(faults) = &r.faults {
        spec.faults.clear();
        for (i, f) in faults.iter().enumerate() {
            let Some(fault) = SwarmFault::from_name(f.get_ref().trim()) else {
                let names: Vec<&str> = SwarmFault::ALL.iter().map(|f| f.name()).collect();
                return cx.err(
                    f.span(),
                    format!("swarm.faults[{i}]"),
                    format!(
                        "`{}` is not a swarm fault (use {})",
                        f.get_ref(),
                        names.join(", ")
                    ),
                );
            };
            if spec.faults.contains(&fault) {
                return cx.err(
                    f.span(),
                    format!("swarm.faults[{i}]"),
                    format!("`{fault}` is listed twice"),
                );
            }
            spec.faults.push(fault);
        }
        if spec.faults.is_empty() {
            return cx.err(raw.span(), "swarm.faults", "name at least one fault");
        }
    }
    if let Some(v) = &r.interval {
        spec.interval = duration_range(cx, v, "swarm.interval")?;
        if spec.interval.0 < Duration(100) {
            return cx.err(
                v.span(),
                "swarm.interval",
                "faults of one kind must be at least 100ms apart on average",
            );
        }
    }
    if let Some(v) = &r.outage {
        spec.outage = duration_range(cx, v, "swarm.outage")?;
    }
    if let Some(v) = &r.latency {
        let (lo, hi) = duration_range(cx, v, "swarm.latency")?;
        if lo != hi {
            return cx.err(
                v.span(),
                "swarm.latency",
                "give the highest latency a seed may draw, one duration",
            );
        }
        if hi < network.latency_min {
            return cx.err(
                v.span(),
                "swarm.latency",
                format!(
                    "below the network's lowest latency ({}ms)",
                    network.latency_min.0
                ),
            );
        }
        spec.max_latency = hi;
    }
    for (field, value, target) in [
        ("swarm.loss", &r.loss, &mut spec.max_loss),
        ("swarm.duplicate", &r.duplicate, &mut spec.max_duplicate),
    ] {
        if let Some(v) = value {
            if !(0.001..=0.5).contains(v.get_ref()) {
                return cx.err(
                    v.span(),
                    field,
                    "the highest rate a seed may draw, between 0.001 and 0.5",
                );
            }
            *target = *v.get_ref();
        }
    }
    Ok(spec)
}

/// An integer that must lie in `range`, or an error naming its position and field.
fn in_range(
    cx: &Ctx<'_>,
    value: &Spanned<i64>,
    field: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, ScenarioError> {
    let v = *value.get_ref();
    if range.contains(&v) {
        Ok(v)
    } else {
        cx.err(
            value.span(),
            field,
            format!(
                "must be between {} and {}, got {v}",
                range.start(),
                range.end()
            ),
        )
    }
}

fn apply_config(
    cx: &Ctx<'_>,
    config: &RawConfig,
    field: &str,
    mut set: impl FnMut(&str, &str) -> Result<(), gregor_core::config::ConfigError>,
) -> Result<(), ScenarioError> {
    for (key, value) in config {
        let Some(text) = value_text(value.get_ref()) else {
            return cx.err(
                value.span(),
                format!("{field}.{}", key.get_ref()),
                "expected a string, number or boolean",
            );
        };
        set(key.get_ref(), &text).or_else(|e| {
            let span = if e.message.starts_with("unknown config") {
                key.span()
            } else {
                value.span()
            };
            cx.err(span, format!("{field}.{}", key.get_ref()), e.message)
        })?;
    }
    Ok(())
}

fn check_client_name(
    cx: &Ctx<'_>,
    name: &Spanned<String>,
    field: &str,
    names: &mut VecSet<String>,
) -> Result<(), ScenarioError> {
    let n = name.get_ref().trim();
    if n.is_empty() || n.contains(char::is_whitespace) {
        return cx.err(
            name.span(),
            field,
            "a client id is a non-empty word without spaces",
        );
    }
    if !names.insert(n.to_string()) {
        return cx.err(name.span(), field, format!("client id `{n}` is used twice"));
    }
    Ok(())
}

fn parse_start(
    cx: &Ctx<'_>,
    start: &Option<Spanned<String>>,
    field: &str,
) -> Result<ClientStart, ScenarioError> {
    match start.as_ref().map(|s| (s, s.get_ref().trim())) {
        None | Some((_, "ready")) => Ok(ClientStart::Ready),
        Some((_, "manual")) => Ok(ClientStart::Manual),
        Some((s, other)) => cx.err(
            s.span(),
            field,
            format!("`{other}` is not a start mode (ready or manual)"),
        ),
    }
}

fn count_range(
    cx: &Ctx<'_>,
    c: &Spanned<RawCount>,
    field: &str,
) -> Result<CountRange, ScenarioError> {
    let bad = |m: &str| cx.err(c.span(), field, m.to_string());
    match c.get_ref() {
        RawCount::Exact(n) if *n >= 0 => Ok(CountRange {
            min: *n as u64,
            max: *n as u64,
        }),
        RawCount::Exact(_) => bad("must not be negative"),
        RawCount::Range { min, max } => {
            let min = min.unwrap_or(0);
            let max = max.unwrap_or(i64::MAX);
            if min < 0 || max < min {
                return bad("expected { min = A, max = B } with 0 <= A <= B");
            }
            Ok(CountRange {
                min: min as u64,
                max: if max == i64::MAX {
                    u64::MAX
                } else {
                    max as u64
                },
            })
        }
    }
}

struct TargetParser<'a> {
    brokers: u32,
    topics: &'a [TopicSpec],
    clients: &'a VecSet<String>,
    groups: &'a VecSet<String>,
}

impl TargetParser<'_> {
    fn partition(&self, text: &str) -> Result<TopicPartition, String> {
        let tp = parse_partition(text)
            .ok_or_else(|| format!("`{text}` is not a partition (write `topic/N`)"))?;
        let Some(t) = self.topics.iter().find(|t| t.name == tp.topic) else {
            return Err(format!("no topic named `{}` is declared", tp.topic));
        };
        if tp.partition as usize >= t.assignment.len() {
            return Err(format!(
                "{} has {} partitions, so {} does not exist",
                t.name,
                t.assignment.len(),
                tp
            ));
        }
        Ok(tp)
    }

    fn parse(&self, text: &str, allow_all: bool, allow_leader: bool) -> Result<Target, String> {
        let t = text.trim();
        if t == "controller" {
            return Ok(Target::Controller);
        }
        if t == "all" {
            return if allow_all {
                Ok(Target::All)
            } else {
                Err("`all` is not allowed here; name one node".into())
            };
        }
        if let Some(rest) = t.strip_prefix("leader of ") {
            return if allow_leader {
                Ok(Target::LeaderOf(self.partition(rest)?))
            } else {
                Err("name a broker (`broker N`), not a leader".into())
            };
        }
        if let Some(g) = t.strip_prefix("coordinator of ") {
            let g = g.trim();
            return if !allow_leader {
                Err("name a broker (`broker N`), not a coordinator".into())
            } else if self.groups.contains(g) {
                Ok(Target::CoordinatorOf(g.to_string()))
            } else {
                Err(format!("no consumer is in a group called `{g}`"))
            };
        }
        if let Some(n) = t.strip_prefix("broker ") {
            let id: u32 = n
                .trim()
                .parse()
                .map_err(|_| format!("`{t}` is not a broker (write `broker N`)"))?;
            if id == 0 || id > self.brokers {
                return Err(format!(
                    "broker {id} does not exist (brokers are 1 to {})",
                    self.brokers
                ));
            }
            return Ok(Target::Broker(BrokerId(id)));
        }
        if self.clients.contains(t) {
            return Ok(Target::Client(t.to_string()));
        }
        Err(format!(
            "`{t}` names no node (write `broker N`, `controller`, `leader of topic/N`, `coordinator of GROUP`, a client's name{})",
            if allow_all { " or `all`" } else { "" }
        ))
    }
}

/// Turns a target into node ids, given who leads now (`leader_of`).
pub fn resolve(
    target: &Target,
    brokers: &[BrokerId],
    leader_of: impl Fn(&TopicPartition) -> Option<BrokerId>,
    client: impl Fn(&str) -> Option<ClientId>,
    offsets_partitions: u32,
) -> Result<Vec<NodeId>, String> {
    Ok(match target {
        Target::Broker(b) => vec![NodeId::Broker(*b)],
        Target::Controller => vec![NodeId::Controller],
        Target::All => brokers
            .iter()
            .map(|&b| NodeId::Broker(b))
            .chain([NodeId::Controller])
            .collect(),
        Target::LeaderOf(tp) => match leader_of(tp) {
            Some(b) => vec![NodeId::Broker(b)],
            None => return Err(format!("{tp} has no leader")),
        },
        Target::CoordinatorOf(group) => {
            let tp = gregor_core::group::coordinator_topic_partition(group, offsets_partitions);
            match leader_of(&tp) {
                Some(b) => vec![NodeId::Broker(b)],
                None => return Err(format!("{tp}, where group {group} lives, has no leader")),
            }
        }
        Target::Client(name) => match client(name) {
            Some(id) => vec![NodeId::Client(id)],
            None => return Err(format!("no client is called `{name}`")),
        },
    })
}

/// The one-line form of an action: what the classroom keeps in a shared link and what a lesson
/// names. [`Scenario::parse_action`] reads it back.
///
/// `crash T`, `power_loss T`, `restart T`, `pause T`, `resume T`, `isolate T`, `writeback T`,
/// `cut A -> B` (one way) or `cut A <-> B` (both ways), `clog A -> B`, `unclog A -> B`,
/// `split A, B | C`, `heal`, `set TOPIC KEY=VALUE`, `elect preferred|unclean TOPIC/N`,
/// `start CLIENT`, `stop CLIENT`, `leave CLIENT`, `send PRODUCER [key=KEY] [value=TEXT]`,
/// `delay CLIENT REQUEST DURATION`; a target `T` is written as in a scenario file
/// (`broker 2`, `leader of orders/0`, `coordinator of billing`, `controller`, `all`, a
/// client's name).
impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let link = |f: &mut fmt::Formatter<'_>, verb: &str, l: &Link| {
            let arrow = if l.both_ways { "<->" } else { "->" };
            write!(f, "{verb} {} {arrow} {}", l.from, l.to)
        };
        match self {
            Action::Crash(t) => write!(f, "crash {t}"),
            Action::PowerLoss(t) => write!(f, "power_loss {t}"),
            Action::Restart(t) => write!(f, "restart {t}"),
            Action::Pause(t) => write!(f, "pause {t}"),
            Action::Resume(t) => write!(f, "resume {t}"),
            Action::Isolate(t) => write!(f, "isolate {t}"),
            Action::Writeback(t) => write!(f, "writeback {t}"),
            Action::Cut(l) => link(f, "cut", l),
            Action::Clog(l) => link(f, "clog", l),
            Action::Unclog(l) => link(f, "unclog", l),
            Action::Split(groups) => {
                let groups: Vec<String> = groups
                    .iter()
                    .map(|g| {
                        g.iter()
                            .map(Target::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .collect();
                write!(f, "split {}", groups.join(" | "))
            }
            Action::Heal => f.write_str("heal"),
            Action::SetTopicConfig { topic, key, value } => write!(f, "set {topic} {key}={value}"),
            Action::Elect {
                partition,
                election,
            } => {
                let kind = match election {
                    ElectionType::Preferred => "preferred",
                    ElectionType::Unclean => "unclean",
                };
                write!(f, "elect {kind} {partition}")
            }
            Action::Start(c) => write!(f, "start {c}"),
            Action::Stop(c) => write!(f, "stop {c}"),
            Action::Leave(c) => write!(f, "leave {c}"),
            Action::Send {
                producer,
                key,
                value,
            } => {
                write!(f, "send {producer}")?;
                if let Some(k) = key {
                    write!(f, " key={k}")?;
                }
                if let Some(v) = value {
                    write!(f, " value={v}")?;
                }
                Ok(())
            }
            Action::Delay {
                client,
                request,
                by,
            } => write!(f, "delay {client} {request} {by}"),
        }
    }
}

/// Reads `PRODUCER [key=KEY] [value=TEXT]`, what follows `send`: a key and a text are one word
/// each (no spaces), so the one-line form reads back what it writes.
fn parse_send(is_producer: &dyn Fn(&str) -> bool, rest: &str) -> Result<Action, String> {
    let mut words = rest.split_whitespace();
    let Some(producer) = words.next() else {
        return Err("write `send PRODUCER [key=KEY] [value=TEXT]`".into());
    };
    if !is_producer(producer) {
        return Err(format!("no producer is called `{producer}`"));
    }
    let (mut key, mut value) = (None, None);
    for word in words {
        let slot = match word.split_once('=') {
            Some(("key", k)) if !k.is_empty() => (&mut key, k),
            Some(("value", v)) if !v.is_empty() => (&mut value, v),
            _ => {
                return Err(format!(
                    "`{word}` is not `key=KEY` or `value=TEXT` (one word each, no spaces)"
                ));
            }
        };
        if slot.0.replace(slot.1.to_string()).is_some() {
            return Err(format!("`{word}`: the record has one key and one value"));
        }
    }
    Ok(Action::Send {
        producer: producer.to_string(),
        key,
        value,
    })
}

/// Reads `CLIENT REQUEST DURATION`, what follows `delay`: the request is one a client sends,
/// by its Kafka API name.
fn parse_delay(clients: &VecSet<String>, rest: &str) -> Result<Action, String> {
    let words: Vec<&str> = rest.split_whitespace().collect();
    let [client, request, by] = words[..] else {
        return Err("write `CLIENT REQUEST DURATION`, as in `p1 EndTxn 4s`".into());
    };
    if !clients.contains(client) {
        return Err(format!("no producer or consumer is called `{client}`"));
    }
    if !CLIENT_REQUESTS.contains(&request) {
        return Err(format!(
            "`{request}` is not a request a client sends ({})",
            CLIENT_REQUESTS.join(", ")
        ));
    }
    let by = parse_duration(by)?;
    if by.0 == 0 {
        return Err("a delay of 0 delays nothing".into());
    }
    Ok(Action::Delay {
        client: client.to_string(),
        request: request.to_string(),
        by,
    })
}

impl Scenario {
    /// Reads the one-line form of an action (see [`Action`]'s `Display`), checking every name
    /// against this scenario: its brokers, topics, partitions, clients and groups.
    pub fn parse_action(&self, text: &str) -> Result<Action, String> {
        let clients: VecSet<String> = self
            .producers
            .iter()
            .map(|p| p.name.clone())
            .chain(self.consumers.iter().map(|c| c.name.clone()))
            .collect();
        let groups: VecSet<String> = self
            .consumers
            .iter()
            .filter_map(|c| c.config.group_id.clone())
            .collect();
        let targets = TargetParser {
            brokers: self.brokers,
            topics: &self.topics,
            clients: &clients,
            groups: &groups,
        };
        let text = text.trim();
        let (verb, rest) = text.split_once(' ').unwrap_or((text, ""));
        let rest = rest.trim();
        let link = |rest: &str| -> Result<Link, String> {
            let (from, to, both_ways) = if let Some((a, b)) = rest.split_once("<->") {
                (a, b, true)
            } else if let Some((a, b)) = rest.split_once("->") {
                (a, b, false)
            } else {
                return Err(format!(
                    "`{rest}` is not a link (write `A -> B` or `A <-> B`)"
                ));
            };
            Ok(Link {
                from: targets.parse(from, false, true)?,
                to: targets.parse(to, false, true)?,
                both_ways,
            })
        };
        let client = |rest: &str| -> Result<String, String> {
            if clients.contains(rest) {
                Ok(rest.to_string())
            } else {
                Err(format!("no producer or consumer is called `{rest}`"))
            }
        };
        match verb {
            "crash" => Ok(Action::Crash(targets.parse(rest, true, true)?)),
            "power_loss" => Ok(Action::PowerLoss(targets.parse(rest, true, true)?)),
            "restart" => Ok(Action::Restart(targets.parse(rest, true, false)?)),
            "pause" => Ok(Action::Pause(targets.parse(rest, true, true)?)),
            "resume" => Ok(Action::Resume(targets.parse(rest, true, false)?)),
            "isolate" => Ok(Action::Isolate(targets.parse(rest, false, true)?)),
            "writeback" => Ok(Action::Writeback(targets.parse(rest, true, true)?)),
            "cut" => Ok(Action::Cut(link(rest)?)),
            "clog" => Ok(Action::Clog(link(rest)?)),
            "unclog" => Ok(Action::Unclog(link(rest)?)),
            "split" => {
                let groups = rest
                    .split('|')
                    .map(|g| {
                        g.split(',')
                            .map(|t| targets.parse(t, false, true))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if groups.len() < 2 {
                    return Err("a split needs at least two groups (`A | B`)".into());
                }
                Ok(Action::Split(groups))
            }
            "heal" if rest.is_empty() => Ok(Action::Heal),
            "set" => {
                let (topic, setting) = rest
                    .split_once(' ')
                    .ok_or_else(|| format!("`{rest}` is not `TOPIC KEY=VALUE`"))?;
                let (key, value) = setting
                    .trim()
                    .split_once('=')
                    .ok_or_else(|| format!("`{setting}` is not `KEY=VALUE`"))?;
                let Some(spec) = self.topics.iter().find(|t| t.name.as_str() == topic) else {
                    return Err(format!("no topic named `{topic}` is declared"));
                };
                let (key, value) = (key.trim(), value.trim());
                spec.config
                    .clone()
                    .set(key, value)
                    .map_err(|e| format!("{key}: {}", e.message))?;
                Ok(Action::SetTopicConfig {
                    topic: spec.name.clone(),
                    key: key.to_string(),
                    value: value.to_string(),
                })
            }
            "elect" => {
                let (kind, partition) = rest
                    .split_once(' ')
                    .ok_or_else(|| format!("`{rest}` is not `preferred|unclean TOPIC/N`"))?;
                let election = match kind {
                    "preferred" => ElectionType::Preferred,
                    "unclean" => ElectionType::Unclean,
                    other => {
                        return Err(format!(
                            "`{other}` is not an election type (preferred or unclean)"
                        ));
                    }
                };
                Ok(Action::Elect {
                    partition: targets.partition(partition.trim())?,
                    election,
                })
            }
            "start" => Ok(Action::Start(client(rest)?)),
            "stop" => Ok(Action::Stop(client(rest)?)),
            "leave" => {
                let name = client(rest)?;
                if self
                    .consumers
                    .iter()
                    .any(|c| c.name == name && c.config.group_id.is_some())
                {
                    Ok(Action::Leave(name))
                } else {
                    Err(format!(
                        "`{name}` is not a consumer in a group, so it has no group to leave"
                    ))
                }
            }
            "send" => parse_send(&|p| self.producers.iter().any(|s| s.name == p), rest),
            "delay" => parse_delay(&clients, rest),
            _ => Err(format!(
                "`{text}` is not an action (crash, power_loss, restart, pause, resume, isolate, writeback, cut, clog, unclog, split, heal, set, elect, start, stop, leave, send, delay)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "name = \"t\"\n[cluster]\nbrokers = 3\n[[topic]]\nname = \"orders\"\npartitions = 3\nreplication_factor = 3\n";

    fn parse(extra: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse("s.toml", &format!("{MINIMAL}{extra}"))
    }

    #[test]
    fn default_assignment_follows_admin_utils_with_start_index_zero() {
        let b: Vec<BrokerId> = (1..=3).map(BrokerId).collect();
        let a = default_assignment(&b, 4, 3);
        let ids = |v: &Vec<BrokerId>| v.iter().map(|b| b.0).collect::<Vec<_>>();
        assert_eq!(ids(&a[0]), vec![1, 2, 3]);
        assert_eq!(ids(&a[1]), vec![2, 3, 1]);
        assert_eq!(ids(&a[2]), vec![3, 1, 2]);
        assert_eq!(
            ids(&a[3]),
            vec![1, 3, 2],
            "the shift moves after a full round"
        );
    }

    #[test]
    fn durations_read_with_units_and_reject_garbage() {
        assert_eq!(parse_duration("250ms"), Ok(Duration(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration(120_000)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("0.5ms").is_err());
        // Read exactly: through f64, 1.001 * 1000 was 1000.9999999999999 and refused.
        assert_eq!(parse_duration("1.001s"), Ok(Duration(1001)));
        assert_eq!(parse_duration(".25s"), Ok(Duration(250)));
        assert_eq!(parse_duration("0.1h"), Ok(Duration(360_000)));
        assert!(parse_duration("1.0005s").is_err());
        assert!(parse_duration("1.2.3s").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn a_minimal_scenario_gets_kafka_defaults() {
        let s = parse("").unwrap();
        assert_eq!(s.brokers, 3);
        assert_eq!(s.topics[0].config.min_insync_replicas, 1);
        assert_eq!(s.duration, Duration::from_secs(30));
        assert!(s.final_heal);
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let e = parse("[[at]]\ntime = \"5s\"\ncrash = \"broker 7\"\n").unwrap_err();
        assert_eq!(
            (e.file.as_str(), e.line, e.field.as_str()),
            ("s.toml", 10, "at[0].crash")
        );
        assert!(e.message.contains("broker 7 does not exist"), "{e}");

        let e = Scenario::parse("s.toml", "name = \"t\"\n[cluster]\nbrokers = 3\n[[topic]]\nname = \"x\"\npartitions = -2\nreplication_factor = 1\n").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (6, "topic[0].partitions"));

        let e = parse("[[producer]]\nid = \"p1\"\ntopic = \"orders\"\nrate_per_sec = 10\ncount = 5\nconfig = { \"acks\" = \"1\", \"enable.idempotence\" = true }\n").unwrap_err();
        assert_eq!(e.field, "producer[0].config.acks");
        assert!(e.message.contains("idempotence"), "{e}");

        let producer =
            "[[producer]]\nid = \"p1\"\ntopic = \"orders\"\nrate_per_sec = 1\ncount = 1\n";
        let e = parse(&format!(
            "{producer}[[at]]\ntime = \"5s\"\ndelay = \"p1 Commit 1s\"\n"
        ))
        .unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (15, "at[0].delay"));
        assert!(
            e.message
                .contains("`Commit` is not a request a client sends"),
            "{e}"
        );
        let e = parse(&format!("{producer}[expect]\naborted_reads = 1\n")).unwrap_err();
        assert_eq!(e.field, "expect.aborted_reads");
        assert!(e.message.contains("no producer is transactional"), "{e}");

        let e = parse("[[at]]\ntime = \"5s\"\ncrahs = \"broker 1\"\n").unwrap_err();
        assert_eq!(e.line, 10);
        assert!(e.message.contains("unknown field `crahs`"), "{e}");

        let e = Scenario::parse("s.toml", "name = \"t\"\n[cluster\nbrokers = 3\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");

        let e = parse("[[at]]\ntime = \"5s\"\ncrash = \"leader of orders/9\"\n").unwrap_err();
        assert!(e.message.contains("orders has 3 partitions"), "{e}");

        let e = parse("[[at]]\ntime = \"5s\"\ncrash = \"broker 1\"\nrestart = \"broker 1\"\n")
            .unwrap_err();
        assert!(e.message.contains("exactly one action"), "{e}");
    }

    /// A pipeline is a consumer with both `commit = "transactional"` and an `output`, in a
    /// group, reading from the start; each half alone, or `latest`, is refused where it is.
    #[test]
    fn a_pipeline_needs_its_output_its_commit_mode_and_earliest() {
        let pipeline = |extra: &str| {
            parse(&format!(
                "[[consumer]]\nid = \"b\"\ntopic = \"orders\"\ngroup = \"g\"\n{extra}\n"
            ))
        };
        let s = pipeline("output = { topic = \"orders\", abort_every = 3 }").expect("valid");
        let c = &s.consumers[0];
        assert_eq!(c.workload.commit, CommitMode::Transactional);
        let out = c.output.as_ref().expect("a pipeline");
        assert_eq!(out.config.config.transactional_id.as_deref(), Some("b-txn"));
        assert!(s.has_transactions());
        let e = pipeline("commit = \"transactional\"").unwrap_err();
        assert_eq!(e.field, "consumer[0].commit");
        let e = pipeline(
            "output = { topic = \"orders\" }\nconfig = { \"auto.offset.reset\" = \"latest\" }",
        )
        .unwrap_err();
        assert_eq!(e.field, "consumer[0].output");
        assert!(e.message.contains("earliest"), "{e}");
        let e = pipeline("output = { topic = \"nope\" }").unwrap_err();
        assert_eq!(e.field, "consumer[0].output.topic");
    }

    #[test]
    fn expectations_parse_counts_and_partitions() {
        let s = parse("[expect]\nlost_acknowledged = { min = 1 }\nduplicates = 0\n[[expect_at]]\ntime = \"12s\"\npartition = \"orders/0\"\nleader = \"none\"\nisr = [1]\n").unwrap();
        assert_eq!(
            s.expect.lost_acknowledged,
            Some(CountRange {
                min: 1,
                max: u64::MAX
            })
        );
        assert_eq!(s.expect.duplicates, Some(CountRange { min: 0, max: 0 }));
        assert_eq!(s.expect_at.len(), 2);
        assert_eq!(
            s.expect_at[0].expectation,
            Expectation::Leader(TopicPartition::new("orders", 0), None)
        );
    }
}
