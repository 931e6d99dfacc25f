//! The nodes of a run as every driver holds them: each node's process (or, while it is down, its
//! disk), what the nodes recorded, and the trace of their inputs.
//!
//! The World and the madsim driver differ in how messages travel and how time passes, not in
//! what a node is. Both keep their nodes in a [`Cluster`], feed inputs through
//! [`Cluster::feed`], and crash and boot nodes through it, so the trace, the event log, the
//! checkers and the reports are the same code whichever driver ran the scenario.

use crate::digest::{Digest, digest_node};
use crate::nodes::{AnyNode, Disk, NodeSpec};
use crate::trace::{Crash, TraceLine, TraceRecorder};
use gregor_core::broker::{Broker, BrokerDisk};
use gregor_core::bytes::Bytes;
use gregor_core::client::consumer::Consumer;
use gregor_core::client::producer::Producer;
use gregor_core::controller::Controller;
use gregor_core::ids::{BrokerId, ClientId, LeaderEpoch, NodeId, Offset, TopicPartition};
use gregor_core::log::PartitionLog;
use gregor_core::map::VecMap;
use gregor_core::node::{Event, Input, Node, Output};
use gregor_core::protocol::Message;
use gregor_core::time::Instant;
use std::collections::VecDeque;

/// What a run records: node events, faults, and answers to the operator.
#[derive(Clone, Debug, PartialEq)]
pub enum WorldEvent {
    /// A node emitted an event.
    Node(Event),
    /// A node's process died; with a power loss, `lost` says what each log lost.
    Crashed {
        /// Whether the machine lost power.
        power_loss: bool,
        /// The records lost, per partition (power loss only).
        lost: Vec<LostRecords>,
    },
    /// A fault or operator action was applied, in words (after the node's name, unless the
    /// node is the operator).
    Fault(String),
    /// The operator received an answer.
    Admin(Message),
}

/// What a power loss took from one log: the unflushed records, as they were.
#[derive(Clone, Debug, PartialEq)]
pub struct LostRecords {
    /// The partition.
    pub topic_partition: TopicPartition,
    /// The log end offset the log came back with, the offset of the first record lost.
    pub from: Offset,
    /// The records lost, from `from` on: each offset with the value and the leader epoch of
    /// its batch. Offsets without a record (transaction markers, offsets a cleaner emptied)
    /// have no entry, so the offset is kept rather than implied by the position. The checkers
    /// use them to tell a loss of exactly these records from any other.
    pub records: Vec<(Offset, Option<Bytes>, LeaderEpoch)>,
}

/// An event with its time and the node it concerns.
#[derive(Clone, Debug, PartialEq)]
pub struct Logged {
    /// When.
    pub time: Instant,
    /// Which node (the operator's actions are logged under `NodeId::Admin`).
    pub node: NodeId,
    /// What.
    pub event: WorldEvent,
}

/// The state of a node's process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Never started.
    NotStarted,
    /// Running.
    Running,
    /// Paused (SIGSTOP, a long GC pause).
    Paused,
    /// Crashed; its disk waits for a restart.
    Crashed,
}

/// A node's process, or its disk while the process is down.
#[derive(Debug)]
pub(crate) enum Slot {
    /// The process runs. `held` and `timer_due` are what reached a paused process (the World
    /// keeps them; under madsim the runtime itself holds a paused node's inputs).
    Up {
        node: AnyNode,
        paused: bool,
        held: VecDeque<Input>,
        timer_due: bool,
    },
    /// `host_up`: the machine runs (its kernel answers connection attempts with a reset); after a
    /// power loss it does not, and peers only notice by timing out.
    Down { disk: Disk, host_up: bool },
}

/// The node a step handled, for checkers that look only at what changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// The time of the step.
    pub time: Instant,
    /// The node that received an input, if any did.
    pub node: Option<NodeId>,
}

/// What a node asked of the network after an input, and when it next wants its timer.
#[derive(Debug, Default)]
pub struct Fed {
    /// `Send` and `Reset` outputs, in order (events are already logged).
    pub outputs: Vec<Output>,
    /// The node's next deadline.
    pub deadline: Option<Instant>,
}

/// Every node of a run, what survives of the crashed ones, and what they recorded.
#[derive(Debug)]
pub struct Cluster {
    seed: u64,
    pub(crate) now: Instant,
    pub(crate) specs: VecMap<NodeId, NodeSpec>,
    pub(crate) slots: VecMap<NodeId, Slot>,
    incarnations: VecMap<NodeId, u32>,
    log: Vec<Logged>,
    trace: Option<TraceRecorder>,
    steps: u64,
}

impl Cluster {
    /// No nodes yet; `seed` is the run's master seed, from which every node incarnation draws its
    /// own.
    pub fn new(seed: u64) -> Cluster {
        Cluster {
            seed,
            now: Instant::ZERO,
            specs: VecMap::new(),
            slots: VecMap::new(),
            incarnations: VecMap::new(),
            log: Vec::new(),
            trace: None,
            steps: 0,
        }
    }

    /// Records a trace from now on.
    pub fn set_trace(&mut self, trace: TraceRecorder) {
        self.trace = Some(trace);
    }

    /// The trace, if recording.
    pub fn trace(&self) -> Option<&TraceRecorder> {
        self.trace.as_ref()
    }

    /// The master seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// How many events were processed.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Counts one processed event.
    pub(crate) fn count_step(&mut self) {
        self.steps += 1;
    }

    /// Everything recorded so far.
    pub fn log(&self) -> &[Logged] {
        &self.log
    }

    /// Registers a node; it does not run until it is booted.
    pub fn add_node(&mut self, spec: NodeSpec) {
        self.specs.insert(spec.node_id(), spec);
    }

    /// Every registered node.
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.specs.keys().copied()
    }

    /// The spec of a node.
    pub fn spec(&self, id: NodeId) -> Option<&NodeSpec> {
        self.specs.get(&id)
    }

    /// The state of a node's process.
    pub fn status(&self, id: NodeId) -> Status {
        match self.slots.get(&id) {
            None => Status::NotStarted,
            Some(Slot::Down { .. }) => Status::Crashed,
            Some(Slot::Up { paused: true, .. }) => Status::Paused,
            Some(Slot::Up { .. }) => Status::Running,
        }
    }

    /// Whether the node's machine has power: it runs, or its process crashed without a power
    /// loss. Only such a machine answers a connection attempt (with a reset when the process is
    /// gone).
    pub fn host_up(&self, id: NodeId) -> bool {
        !matches!(self.slots.get(&id), Some(Slot::Down { host_up: false, .. }))
    }

    /// A running or paused node.
    pub fn node(&self, id: NodeId) -> Option<&AnyNode> {
        match self.slots.get(&id)? {
            Slot::Up { node, .. } => Some(node),
            Slot::Down { .. } => None,
        }
    }

    /// The controller, if up.
    pub fn controller(&self) -> Option<&Controller> {
        self.node(NodeId::Controller)?.as_controller()
    }

    /// A broker, if up.
    pub fn broker(&self, id: BrokerId) -> Option<&Broker> {
        self.node(NodeId::Broker(id))?.as_broker()
    }

    /// A broker's disk, whether the broker is up or down.
    pub fn broker_disk(&self, id: BrokerId) -> Option<&BrokerDisk> {
        match self.slots.get(&NodeId::Broker(id))? {
            Slot::Up { node, .. } => node.as_broker().map(Broker::disk),
            Slot::Down {
                disk: Disk::Broker(d),
                ..
            } => Some(d),
            Slot::Down { .. } => None,
        }
    }

    /// Every broker id registered.
    pub fn broker_ids(&self) -> Vec<BrokerId> {
        self.specs
            .keys()
            .filter_map(|id| match id {
                NodeId::Broker(b) => Some(*b),
                _ => None,
            })
            .collect()
    }

    /// A producer, if up.
    pub fn producer(&self, id: ClientId) -> Option<&Producer> {
        self.node(NodeId::Client(id))?.as_producer()
    }

    /// A consumer, if up.
    pub fn consumer(&self, id: ClientId) -> Option<&Consumer> {
        self.node(NodeId::Client(id))?.as_consumer()
    }

    pub(crate) fn note(&mut self, node: NodeId, event: WorldEvent) {
        self.log.push(Logged {
            time: self.now,
            node,
            event,
        });
    }

    /// How many times a node's process has started.
    pub(crate) fn starts(&self, id: NodeId) -> u32 {
        self.incarnations.get(&id).copied().unwrap_or(0)
    }

    /// Notes a fault or an operator's action in the log, in words.
    pub fn note_fault(&mut self, text: String) {
        self.note(NodeId::Admin, WorldEvent::Fault(text));
    }

    pub(crate) fn record(&mut self, line: TraceLine) {
        if let Some(trace) = &mut self.trace {
            trace.record(&line);
        }
    }

    /// Builds the process of a node that never ran, or of a crashed one over its disk, and
    /// records the boot. Returns the incarnation (how many starts came before), or `None` when
    /// the node is unknown or already up. The caller feeds it `Input::Start`.
    pub fn boot(&mut self, id: NodeId) -> Option<u32> {
        if matches!(self.slots.get(&id), Some(Slot::Up { .. })) {
            return None;
        }
        let spec = self.specs.get(&id)?;
        let incarnation = *self.incarnations.get(&id).unwrap_or(&0);
        let disk = match self.slots.remove(&id) {
            Some(Slot::Down { disk, .. }) => disk,
            _ => Disk::None,
        };
        let node = spec.build(disk, spec.seed(self.seed, incarnation));
        self.incarnations.insert(id, incarnation + 1);
        self.slots.insert(
            id,
            Slot::Up {
                node,
                paused: false,
                held: VecDeque::new(),
                timer_due: false,
            },
        );
        self.record(TraceLine::Boot {
            t: self.now,
            node: id,
            incarnation,
        });
        if incarnation > 0 {
            let text = if matches!(id, NodeId::Client(_)) {
                "restarted (a client keeps nothing: a new session)"
            } else {
                "restarted from its disk"
            };
            self.note(id, WorldEvent::Fault(text.into()));
        }
        Some(incarnation)
    }

    /// Kills a node's process; with `power_loss`, a broker's disk keeps only what was flushed.
    /// Returns whether a process was running (or paused) to kill.
    pub fn kill(&mut self, id: NodeId, power_loss: bool) -> bool {
        let Some(Slot::Up { .. }) = self.slots.get(&id) else {
            return false;
        };
        let Some(Slot::Up { node, .. }) = self.slots.remove(&id) else {
            return false;
        };
        let mut disk = node.into_disk();
        let mut lost = Vec::new();
        if power_loss && let Disk::Broker(d) = &mut disk {
            // The logs with unflushed records, as they were, to say which records were lost.
            let before: VecMap<TopicPartition, PartitionLog> = d
                .logs
                .iter()
                .filter(|(_, l)| l.recovery_point() < l.log_end_offset())
                .map(|(tp, l)| (tp.clone(), l.clone()))
                .collect();
            d.lose_unflushed();
            lost = d
                .lost_on_power_loss
                .iter()
                .map(|(tp, n, leo)| LostRecords {
                    topic_partition: tp.clone(),
                    from: *leo,
                    records: (0..*n)
                        .filter_map(|i| {
                            let offset = leo.plus(i);
                            let (r, e) = before.get(tp)?.record_at(offset)?;
                            Some((offset, r.value.clone(), e))
                        })
                        .collect(),
                })
                .collect();
        }
        self.slots.insert(
            id,
            Slot::Down {
                disk,
                host_up: !power_loss,
            },
        );
        let crash = if power_loss {
            Crash::PowerLoss
        } else {
            Crash::Process
        };
        self.record(TraceLine::Crash {
            t: self.now,
            node: id,
            crash,
        });
        self.note(id, WorldEvent::Crashed { power_loss, lost });
        true
    }

    /// Marks a running node paused. Returns whether it was running.
    pub(crate) fn mark_paused(&mut self, id: NodeId) -> bool {
        if let Some(Slot::Up { paused, .. }) = self.slots.get_mut(&id)
            && !*paused
        {
            *paused = true;
            self.note(
                id,
                WorldEvent::Fault("paused (it receives nothing and fires no timer)".into()),
            );
            return true;
        }
        false
    }

    /// Marks a paused node running again and hands back what the World held for it: the inputs
    /// that arrived meanwhile, in order, and whether its timer fell due. `None` when it was not
    /// paused.
    pub(crate) fn mark_resumed(&mut self, id: NodeId) -> Option<(Vec<Input>, bool)> {
        let Some(Slot::Up {
            paused,
            held,
            timer_due,
            ..
        }) = self.slots.get_mut(&id)
        else {
            return None;
        };
        if !*paused {
            return None;
        }
        *paused = false;
        let inputs: Vec<Input> = held.drain(..).collect();
        let due = std::mem::take(timer_due);
        self.note(id, WorldEvent::Fault("resumed".into()));
        Some((inputs, due))
    }

    /// The OS of a machine whose broker process is down writes its dirty pages back. Returns
    /// whether it did (only a machine with power does).
    pub(crate) fn writeback_while_down(&mut self, id: NodeId) -> bool {
        if let Some(Slot::Down {
            disk: Disk::Broker(d),
            host_up: true,
        }) = self.slots.get_mut(&id)
        {
            d.flush_all();
            self.record(TraceLine::DiskWriteback {
                t: self.now,
                node: id,
            });
            return true;
        }
        false
    }

    /// Hands an input to a running node now, records it in the trace, logs the node's events, and
    /// returns what it asks of the network and its next deadline. `None` when the node is down.
    pub fn feed(&mut self, id: NodeId, input: Input) -> Option<Fed> {
        if !matches!(self.slots.get(&id), Some(Slot::Up { .. })) {
            return None;
        }
        if let Some(trace) = &mut self.trace {
            trace.record(&TraceLine::Input {
                t: self.now,
                node: id,
                input: input.clone(),
            });
        }
        let Some(Slot::Up { node, .. }) = self.slots.get_mut(&id) else {
            return None;
        };
        node.handle(self.now, input);
        let mut outputs = Vec::new();
        let mut events = Vec::new();
        while let Some(out) = node.poll_output() {
            match out {
                Output::Event(e) => events.push(e),
                other => outputs.push(other),
            }
        }
        let deadline = node.poll_timeout();
        for e in events {
            self.note(id, WorldEvent::Node(e));
        }
        if self.trace.as_ref().is_some_and(TraceRecorder::digest_due) {
            self.record_digest();
        }
        Some(Fed { outputs, deadline })
    }

    /// Writes a digest of every node's state into the trace now (runs end with one, so replay
    /// checks the final state too).
    pub fn record_digest(&mut self) {
        if self.trace.is_some() {
            let digest = self.digest();
            let inputs = self.trace.as_ref().map_or(0, TraceRecorder::inputs);
            self.record(TraceLine::Digest {
                t: self.now,
                inputs,
                digest: format!("{digest:016x}"),
            });
        }
    }

    /// A digest of every running node's state.
    pub fn digest(&self) -> u64 {
        let mut d = Digest::default();
        for (id, slot) in &self.slots {
            if let Slot::Up { node, .. } = slot {
                digest_node(&mut d, *id, node);
            }
        }
        d.finish()
    }
}
