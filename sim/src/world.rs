//! The World: a single-threaded discrete-event simulator around the core's nodes.
//!
//! A priority queue of `(time, sequence, event)` drives everything; the virtual clock jumps to the
//! next event. Events are message deliveries, node timers, the operating system's page-cache
//! writeback, and connection resets. One master seed drives the network and gives each node
//! incarnation its own seed. Nothing here reads a clock or iterates a hash map, so the same seed
//! gives the same run on every platform, natively and in wasm.
//!
//! Faults are commands: crash (the process dies, the disk keeps what the OS had), crash with
//! power loss (the disk keeps what was flushed), restart, pause and resume (a paused process
//! receives nothing and fires no timer; what arrives waits in its socket buffers), cut and heal
//! links, clog and unclog links.

use crate::digest::{Digest, digest_node};
use crate::network::{Conn, Fate, Network, NetworkConfig, connection_of};
use crate::nodes::{AnyNode, Disk, NodeSpec};
use crate::trace::{Crash, TraceLine, TraceRecorder};
use gregor_core::broker::{Broker, BrokerDisk};
use gregor_core::client::consumer::Consumer;
use gregor_core::client::producer::Producer;
use gregor_core::controller::Controller;
use gregor_core::ids::{BrokerId, ClientId, NodeId};
use gregor_core::node::{ClientCommand, Event, Input, Node, Output};
use gregor_core::protocol::{Channel, Message};
use gregor_core::rng::Rng;
use gregor_core::time::{Duration, Instant};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

/// What the world records: node events, faults, and answers to the operator.
#[derive(Clone, Debug, PartialEq)]
pub enum WorldEvent {
    /// A node emitted an event.
    Node(Event),
    /// A node's process died; with a power loss, `lost` says what each log lost.
    Crashed {
        /// Whether the machine lost power.
        power_loss: bool,
        /// Records lost per partition (power loss only).
        lost: Vec<(gregor_core::ids::TopicPartition, u64)>,
    },
    /// A fault or operator action was applied, in words (after the node's name, unless the
    /// node is the operator).
    Fault(String),
    /// The operator received an answer.
    Admin(Message),
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

#[derive(Debug)]
enum Slot {
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

#[derive(Debug)]
enum Pending {
    Deliver {
        from: NodeId,
        to: NodeId,
        message: Message,
        conn: Conn,
        epoch: u64,
    },
    Timer {
        node: NodeId,
        generation: u64,
    },
    Writeback {
        broker: BrokerId,
    },
    /// `to` learns that its connection with `peer` broke; `repair` is the connection `to` is
    /// the client of, which it replaces by a new one when it hears.
    Reset {
        to: NodeId,
        peer: NodeId,
        channel: Channel,
        repair: Option<Conn>,
    },
}

#[derive(Debug)]
struct Queued {
    time: Instant,
    seq: u64,
    event: Pending,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Queued) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Queued) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Queued) -> std::cmp::Ordering {
        (self.time, self.seq).cmp(&(other.time, other.seq))
    }
}

/// A message waiting on a clogged link: the message, its connection and that connection's epoch.
type Held = (Message, Conn, u64);

/// The node a step handled, for checkers that look only at what changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// The time of the step.
    pub time: Instant,
    /// The node that received an input, if any did.
    pub node: Option<NodeId>,
}

/// The deterministic world.
#[derive(Debug)]
pub struct World {
    seed: u64,
    now: Instant,
    seq: u64,
    queue: BinaryHeap<Reverse<Queued>>,
    specs: BTreeMap<NodeId, NodeSpec>,
    slots: BTreeMap<NodeId, Slot>,
    incarnations: BTreeMap<NodeId, u32>,
    timers: BTreeMap<NodeId, (Instant, u64)>,
    timer_generation: u64,
    network: Network,
    held_on_links: BTreeMap<(NodeId, NodeId), VecDeque<Held>>,
    writeback: Option<Duration>,
    log: Vec<Logged>,
    trace: Option<TraceRecorder>,
    steps: u64,
}

impl World {
    /// An empty world: `seed` drives the network and every node; `writeback` is how often the
    /// operating system writes dirty pages to disk (`None`: never, only explicit flushes).
    pub fn new(seed: u64, network: NetworkConfig, writeback: Option<Duration>) -> World {
        World {
            seed,
            now: Instant::ZERO,
            seq: 0,
            queue: BinaryHeap::new(),
            specs: BTreeMap::new(),
            slots: BTreeMap::new(),
            incarnations: BTreeMap::new(),
            timers: BTreeMap::new(),
            timer_generation: 0,
            network: Network::new(network, Rng::derived(seed, "network")),
            held_on_links: BTreeMap::new(),
            writeback,
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

    /// Everything recorded so far.
    pub fn log(&self) -> &[Logged] {
        &self.log
    }

    /// The network.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// Registers a node; it does not run until `start`.
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

    fn push(&mut self, time: Instant, event: Pending) {
        self.seq += 1;
        self.queue.push(Reverse(Queued {
            time,
            seq: self.seq,
            event,
        }));
    }

    fn note(&mut self, node: NodeId, event: WorldEvent) {
        self.log.push(Logged {
            time: self.now,
            node,
            event,
        });
    }

    fn record(&mut self, line: TraceLine) {
        if let Some(trace) = &mut self.trace {
            trace.record(&line);
        }
    }

    /// Starts a node that never ran, or restarts a crashed one from its disk.
    pub fn start(&mut self, id: NodeId) {
        if matches!(self.slots.get(&id), Some(Slot::Up { .. })) {
            return;
        }
        let Some(spec) = self.specs.get(&id) else {
            return;
        };
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
        if let (NodeId::Broker(b), Some(every)) = (id, self.writeback)
            && incarnation == 0
        {
            self.push(self.now + every, Pending::Writeback { broker: b });
        }
        self.feed(id, Input::Start);
    }

    /// Crashes a node's process. With `power_loss`, a broker's disk keeps only what was flushed.
    pub fn crash(&mut self, id: NodeId, power_loss: bool) {
        let Some(Slot::Up { .. }) = self.slots.get(&id) else {
            return;
        };
        let Some(Slot::Up { node, .. }) = self.slots.remove(&id) else {
            return;
        };
        let mut disk = node.into_disk();
        let mut lost = Vec::new();
        if power_loss && let Disk::Broker(d) = &mut disk {
            d.lose_unflushed();
            lost = d
                .lost_on_power_loss
                .iter()
                .map(|(tp, n, _)| (tp.clone(), *n))
                .collect();
        }
        self.slots.insert(
            id,
            Slot::Down {
                disk,
                host_up: !power_loss,
            },
        );
        self.timers.remove(&id);
        // The kernel of a crashed process closes its sockets, and peers notice at once; a machine
        // that lost power says nothing, and peers notice only by timing out.
        for conn in self.network.connections_of(id) {
            if conn.0 == id {
                self.network.reset(conn); // a new process opens new connections
                continue;
            }
            self.network.break_connection(conn);
            if !power_loss && !self.network.is_cut(id, conn.0) {
                self.notify_reset(conn.0, id, conn.2, Some(conn));
            }
        }
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
    }

    /// Pauses a running node: it receives nothing and fires no timer until resumed.
    pub fn pause(&mut self, id: NodeId) {
        if let Some(Slot::Up { paused, .. }) = self.slots.get_mut(&id)
            && !*paused
        {
            *paused = true;
            self.note(
                id,
                WorldEvent::Fault("paused (it receives nothing and fires no timer)".into()),
            );
        }
    }

    /// Resumes a paused node: what arrived meanwhile is delivered now, in order, then its timer.
    pub fn resume(&mut self, id: NodeId) {
        let Some(Slot::Up {
            paused,
            held,
            timer_due,
            ..
        }) = self.slots.get_mut(&id)
        else {
            return;
        };
        if !*paused {
            return;
        }
        *paused = false;
        let inputs: Vec<Input> = held.drain(..).collect();
        let due = std::mem::take(timer_due);
        self.note(id, WorldEvent::Fault("resumed".into()));
        for input in inputs {
            self.feed(id, input);
        }
        if due {
            self.feed(id, Input::Timeout);
        }
    }

    /// Cuts the link from `from` to `to` (one direction).
    pub fn cut(&mut self, from: NodeId, to: NodeId) {
        self.network.cut(from, to);
    }

    /// Notes a network change in the log (the scenario runner describes the shape once).
    pub fn note_fault(&mut self, text: String) {
        self.note(NodeId::Admin, WorldEvent::Fault(text));
    }

    /// Restores every cut link.
    pub fn heal(&mut self) {
        self.network.heal();
    }

    /// Stops the network's random loss and duplication.
    pub fn calm_network(&mut self) {
        self.network.calm();
    }

    /// Clogs the link from `from` to `to`: messages wait until it is unclogged.
    pub fn clog(&mut self, from: NodeId, to: NodeId) {
        self.network.clog(from, to);
    }

    /// Unclogs a link; what waited on it leaves now, in order.
    pub fn unclog(&mut self, from: NodeId, to: NodeId) {
        self.network.unclog(from, to);
        if let Some(held) = self.held_on_links.remove(&(from, to)) {
            for (message, conn, epoch) in held {
                let at = self.now + self.network.latency();
                self.push(
                    at,
                    Pending::Deliver {
                        from,
                        to,
                        message,
                        conn,
                        epoch,
                    },
                );
            }
        }
    }

    /// Flushes a broker's dirty pages now (as the OS would on `sync`).
    pub fn writeback_now(&mut self, broker: BrokerId) {
        let id = NodeId::Broker(broker);
        if matches!(self.slots.get(&id), Some(Slot::Up { .. })) {
            self.feed(id, Input::Writeback);
        }
    }

    /// Sends a workload command to a client.
    pub fn command(&mut self, client: ClientId, command: ClientCommand) {
        self.deliver_input(NodeId::Client(client), Input::Command(command));
    }

    /// Sends a message from the operator (through the network).
    pub fn send_admin(&mut self, to: NodeId, message: Message) {
        self.transmit(NodeId::Admin, to, message);
    }

    /// Tells `to`, after a network latency, that its connection with `peer` broke; `repair` is
    /// the connection `to` is the client of, replaced by a new one when it hears.
    fn notify_reset(&mut self, to: NodeId, peer: NodeId, channel: Channel, repair: Option<Conn>) {
        let at = self.now + self.network.latency();
        self.push(
            at,
            Pending::Reset {
                to,
                peer,
                channel,
                repair,
            },
        );
    }

    fn transmit(&mut self, from: NodeId, to: NodeId, message: Message) {
        let conn = connection_of(from, to, &message);
        match self.network.send(self.now, from, to, conn) {
            Fate::Dropped => {}
            Fate::Lost => {
                // The connection broke: both ends hear of it; its client reconnects then.
                for end in [conn.0, conn.1] {
                    let peer = if end == conn.0 { conn.1 } else { conn.0 };
                    let repair = (end == conn.0).then_some(conn);
                    self.notify_reset(end, peer, conn.2, repair);
                }
            }
            Fate::Deliver(times, epoch) => {
                let last = times.len() - 1;
                let mut message = Some(message);
                for (i, t) in times.into_iter().enumerate() {
                    let m = if i == last {
                        message.take().expect("one left")
                    } else {
                        message.clone().expect("kept")
                    };
                    self.push(
                        t,
                        Pending::Deliver {
                            from,
                            to,
                            message: m,
                            conn,
                            epoch,
                        },
                    );
                }
            }
        }
    }

    /// Feeds an input to a node, honouring pauses.
    fn deliver_input(&mut self, id: NodeId, input: Input) {
        match self.slots.get_mut(&id) {
            Some(Slot::Up {
                paused: true, held, ..
            }) => held.push_back(input),
            Some(Slot::Up { .. }) => self.feed(id, input),
            _ => {}
        }
    }

    /// Hands an input to a running node, then routes what it emits and re-arms its timer.
    fn feed(&mut self, id: NodeId, input: Input) {
        if let Some(trace) = &mut self.trace {
            trace.record(&TraceLine::Input {
                t: self.now,
                node: id,
                input: input.clone(),
            });
        }
        let Some(Slot::Up { node, .. }) = self.slots.get_mut(&id) else {
            return;
        };
        node.handle(self.now, input);
        let mut outputs = Vec::new();
        while let Some(out) = node.poll_output() {
            outputs.push(out);
        }
        let deadline = node.poll_timeout();
        for out in outputs {
            match out {
                Output::Send { to, message } => self.transmit(id, to, message),
                Output::Reset { to, channel } => {
                    // The node closes its connections with `to`: the one it is the client of is
                    // replaced when it next sends; the one `to` is the client of breaks, and `to`
                    // reconnects when it hears (unless the link is cut and it must time out).
                    self.network.reset((id, to, channel));
                    self.network.break_connection((to, id, channel));
                    if !self.network.is_cut(id, to) {
                        self.notify_reset(to, id, channel, Some((to, id, channel)));
                    }
                }
                Output::Event(e) => self.note(id, WorldEvent::Node(e)),
            }
        }
        self.arm_timer(id, deadline);
        if self.trace.as_ref().is_some_and(TraceRecorder::digest_due) {
            self.record_digest();
        }
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

    fn arm_timer(&mut self, id: NodeId, deadline: Option<Instant>) {
        match deadline {
            None => {
                self.timers.remove(&id);
            }
            Some(at) => {
                if self.timers.get(&id).map(|(t, _)| *t) == Some(at) {
                    return;
                }
                self.timer_generation += 1;
                let generation = self.timer_generation;
                self.timers.insert(id, (at, generation));
                self.push(
                    at.max(self.now),
                    Pending::Timer {
                        node: id,
                        generation,
                    },
                );
            }
        }
    }

    /// The time of the next event, if any.
    pub fn next_event_time(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse(q)| q.time)
    }

    /// Processes the next event. Returns `None` when nothing is left.
    pub fn step(&mut self) -> Option<Step> {
        let Reverse(q) = self.queue.pop()?;
        self.now = self.now.max(q.time);
        self.steps += 1;
        let node = match q.event {
            Pending::Deliver {
                from,
                to,
                message,
                conn,
                epoch,
            } => self.arrive(from, to, message, conn, epoch),
            Pending::Timer { node, generation } => {
                if self.timers.get(&node).map(|(_, g)| *g) != Some(generation) {
                    return Some(Step {
                        time: self.now,
                        node: None,
                    });
                }
                self.timers.remove(&node);
                match self.slots.get_mut(&node) {
                    Some(Slot::Up {
                        paused: true,
                        timer_due,
                        ..
                    }) => {
                        *timer_due = true;
                        None
                    }
                    Some(Slot::Up { .. }) => {
                        self.feed(node, Input::Timeout);
                        Some(node)
                    }
                    _ => None,
                }
            }
            Pending::Writeback { broker } => {
                if let Some(every) = self.writeback {
                    self.push(self.now + every, Pending::Writeback { broker });
                }
                let id = NodeId::Broker(broker);
                // The kernel writes dirty pages back whether the process runs, is stopped or has
                // crashed; only a machine without power writes nothing.
                match self.slots.get_mut(&id) {
                    Some(Slot::Up { .. }) => {
                        self.feed(id, Input::Writeback);
                        Some(id)
                    }
                    Some(Slot::Down {
                        disk: Disk::Broker(d),
                        host_up: true,
                    }) => {
                        d.flush_all();
                        self.record(TraceLine::DiskWriteback {
                            t: self.now,
                            node: id,
                        });
                        None
                    }
                    _ => None,
                }
            }
            Pending::Reset {
                to,
                peer,
                channel,
                repair,
            } => {
                if let Some(conn) = repair {
                    self.network.repair(conn);
                }
                if to == NodeId::Admin || !matches!(self.slots.get(&to), Some(Slot::Up { .. })) {
                    return Some(Step {
                        time: self.now,
                        node: None,
                    });
                }
                self.deliver_input(to, Input::Disconnected { peer, channel });
                Some(to)
            }
        };
        Some(Step {
            time: self.now,
            node,
        })
    }

    fn arrive(
        &mut self,
        from: NodeId,
        to: NodeId,
        message: Message,
        conn: Conn,
        epoch: u64,
    ) -> Option<NodeId> {
        if !self.network.arrives(from, to, conn, epoch) {
            return None;
        }
        if self.network.is_clogged(from, to) {
            self.held_on_links
                .entry((from, to))
                .or_default()
                .push_back((message, conn, epoch));
            return None;
        }
        if to == NodeId::Admin {
            self.note(NodeId::Admin, WorldEvent::Admin(message));
            return None;
        }
        match self.slots.get(&to) {
            Some(Slot::Up { .. }) => {
                self.deliver_input(to, Input::Message { from, message });
                Some(to)
            }
            _ if conn.0 == to => None, // a response to a client whose process is gone
            _ => {
                // The receiver's process is gone. A request meets a closed port: the host
                // answers with a reset, which tells the client if the way back is open. A
                // machine without power answers nothing.
                self.network.break_connection(conn);
                let host_up =
                    !matches!(self.slots.get(&to), Some(Slot::Down { host_up: false, .. }));
                if host_up
                    && conn.0 == from
                    && from != NodeId::Admin
                    && !self.network.is_cut(to, from)
                {
                    self.notify_reset(from, to, conn.2, Some(conn));
                }
                None
            }
        }
    }

    /// Runs every event up to and including `until`, then sets the clock to `until`.
    pub fn run_until(&mut self, until: Instant, mut after_step: impl FnMut(&World, Step)) {
        while self.next_event_time().is_some_and(|t| t <= until) {
            if let Some(step) = self.step() {
                after_step(self, step);
            }
        }
        self.now = self.now.max(until);
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
