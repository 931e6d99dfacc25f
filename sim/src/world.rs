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

use crate::cluster::{Cluster, Slot};
pub use crate::cluster::{Logged, LostRecords, Status, Step, WorldEvent};
use crate::network::{Conn, Delays, Fate, Network, NetworkConfig, Orphans, connection_of};
use crate::nodes::NodeSpec;
use crate::trace::TraceRecorder;
use gregor_core::ids::{BrokerId, ClientId, NodeId};
use gregor_core::map::VecMap;
use gregor_core::node::{ClientCommand, Input, Output};
use gregor_core::protocol::{Channel, Message};
use gregor_core::rng::Rng;
use gregor_core::time::{Duration, Instant};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

#[derive(Debug)]
enum Pending {
    Deliver {
        from: NodeId,
        to: NodeId,
        message: Message,
        conn: Conn,
        epoch: u64,
        late: Late,
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

/// A message waiting on a clogged link: the message, its connection, that connection's epoch and
/// whether it is late.
type Held = (Message, Conn, u64, Late);

/// For a message that waited behind a delayed one (and so still arrives after its client closed
/// the connection), how many times its receiver had started when it was sent: a receiver that
/// restarted since has a new socket, and the old connection's bytes never reach it.
type Late = Option<u32>;

/// The deterministic world.
#[derive(Debug)]
pub struct World {
    cluster: Cluster,
    seq: u64,
    queue: BinaryHeap<Reverse<Queued>>,
    timers: VecMap<NodeId, (Instant, u64)>,
    timer_generation: u64,
    network: Network,
    held_on_links: VecMap<(NodeId, NodeId), VecDeque<Held>>,
    writeback: Option<Duration>,
    /// Armed `delay` faults.
    delays: Delays,
    /// Requests that arrived after their client closed the connection.
    orphans: Orphans,
}

/// The World's nodes, disks, log and trace are its [`Cluster`], which every reader (checkers,
/// reports, the classroom) takes.
impl std::ops::Deref for World {
    type Target = Cluster;
    fn deref(&self) -> &Cluster {
        &self.cluster
    }
}

impl World {
    /// An empty world: `seed` drives the network and every node; `writeback` is how often the
    /// operating system writes dirty pages to disk (`None`: never, only explicit flushes).
    pub fn new(seed: u64, network: NetworkConfig, writeback: Option<Duration>) -> World {
        World {
            cluster: Cluster::new(seed),
            seq: 0,
            queue: BinaryHeap::new(),
            timers: VecMap::new(),
            timer_generation: 0,
            network: Network::new(network, Rng::derived(seed, "network")),
            held_on_links: VecMap::new(),
            writeback,
            delays: Delays::default(),
            orphans: Orphans::default(),
        }
    }

    /// Records a trace from now on.
    pub fn set_trace(&mut self, trace: TraceRecorder) {
        self.cluster.set_trace(trace);
    }

    /// The nodes, their disks and what they recorded.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The network.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// Registers a node; it does not run until `start`.
    pub fn add_node(&mut self, spec: NodeSpec) {
        self.cluster.add_node(spec);
    }

    fn push(&mut self, time: Instant, event: Pending) {
        self.seq += 1;
        self.queue.push(Reverse(Queued {
            time,
            seq: self.seq,
            event,
        }));
    }

    /// Starts a node that never ran, or restarts a crashed one from its disk.
    pub fn start(&mut self, id: NodeId) {
        let Some(incarnation) = self.cluster.boot(id) else {
            return;
        };
        if let (NodeId::Broker(b), Some(every)) = (id, self.writeback)
            && incarnation == 0
        {
            self.push(self.cluster.now + every, Pending::Writeback { broker: b });
        }
        self.feed(id, Input::Start);
    }

    /// Crashes a node's process. With `power_loss`, a broker's disk keeps only what was flushed.
    pub fn crash(&mut self, id: NodeId, power_loss: bool) {
        if !self.cluster.kill(id, power_loss) {
            return;
        }
        self.timers.remove(&id);
        self.orphans.forget_server(id);
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
    }

    /// Pauses a running node: it receives nothing and fires no timer until resumed.
    pub fn pause(&mut self, id: NodeId) {
        self.cluster.mark_paused(id);
    }

    /// Resumes a paused node: what arrived meanwhile is delivered now, in order, then its timer.
    pub fn resume(&mut self, id: NodeId) {
        let Some((inputs, due)) = self.cluster.mark_resumed(id) else {
            return;
        };
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
        self.cluster.note_fault(text);
    }

    /// Restores every cut link.
    pub fn heal(&mut self) {
        self.network.heal();
    }

    /// Stops the network's random loss and duplication.
    pub fn calm_network(&mut self) {
        self.network.calm();
        // A delay armed for a request the client never sent belongs to the faulty phase.
        self.delays.clear();
    }

    /// Clogs the link from `from` to `to`: messages wait until it is unclogged.
    pub fn clog(&mut self, from: NodeId, to: NodeId) {
        self.network.clog(from, to);
    }

    /// Unclogs a link; what waited on it leaves now, in order.
    pub fn unclog(&mut self, from: NodeId, to: NodeId) {
        self.network.unclog(from, to);
        if let Some(held) = self.held_on_links.remove(&(from, to)) {
            for (message, conn, epoch, late) in held {
                let at = self.cluster.now + self.network.latency();
                self.push(
                    at,
                    Pending::Deliver {
                        from,
                        to,
                        message,
                        conn,
                        epoch,
                        late,
                    },
                );
            }
        }
    }

    /// Flushes a broker's dirty pages now (as the OS would on `sync`).
    pub fn writeback_now(&mut self, broker: BrokerId) {
        let id = NodeId::Broker(broker);
        if matches!(self.cluster.slots.get(&id), Some(Slot::Up { .. })) {
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
        let at = self.cluster.now + self.network.latency();
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

    /// Arms a `delay` fault: the next `api` request `client` sends arrives `by` late (a TCP
    /// segment retransmitted), and its connection stalls behind it (see [`crate::network`]).
    pub fn delay_next(&mut self, client: NodeId, api: &'static str, by: Duration) {
        self.delays.arm(client, api, by);
    }

    fn transmit(&mut self, from: NodeId, to: NodeId, message: Message) {
        if self.orphans.is_lost_answer(from, to, &message) {
            // The answer to a request whose connection is closed.
            let outcome = match &message {
                Message::EndTxnResponse(r) => r
                    .error
                    .map_or(" (no error)".into(), |e| format!(" ({})", e.name())),
                _ => String::new(),
            };
            let api = message.api_name();
            let api = api.strip_suffix("Response").unwrap_or(api);
            self.cluster.note(
                from,
                WorldEvent::Fault(format!(
                    "answers the delayed {api}{outcome} on the closed connection: the answer is lost"
                )),
            );
            return;
        }
        let conn = connection_of(from, to, &message);
        let armed = self.delays.find(from, &message);
        let delay = armed.map_or(Duration(0), |(_, d)| d);
        match self
            .network
            .send_delayed(self.cluster.now, from, to, conn, delay)
        {
            Fate::Dropped => {}
            Fate::Lost => {
                // The connection broke: both ends hear of it; its client reconnects then.
                for end in [conn.0, conn.1] {
                    let peer = if end == conn.0 { conn.1 } else { conn.0 };
                    let repair = (end == conn.0).then_some(conn);
                    self.notify_reset(end, peer, conn.2, repair);
                }
            }
            Fate::Deliver(times, epoch, late) => {
                if let Some((i, _)) = armed {
                    self.delays.disarm(i);
                }
                let late = late.then(|| self.cluster.starts(to));
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
                            late,
                        },
                    );
                }
            }
        }
    }

    /// Feeds an input to a node, honouring pauses.
    fn deliver_input(&mut self, id: NodeId, input: Input) {
        match self.cluster.slots.get_mut(&id) {
            Some(Slot::Up {
                paused: true, held, ..
            }) => held.push_back(input),
            Some(Slot::Up { .. }) => self.feed(id, input),
            _ => {}
        }
    }

    /// Hands an input to a running node, then routes what it emits and re-arms its timer.
    fn feed(&mut self, id: NodeId, input: Input) {
        let Some(fed) = self.cluster.feed(id, input) else {
            return;
        };
        for out in fed.outputs {
            match out {
                Output::Send { to, message } => self.transmit(id, to, message),
                Output::Reset { to, channel } => {
                    // The node closes its connections with `to`: the one it is the client of is
                    // replaced when it next sends; the one `to` is the client of breaks, and `to`
                    // reconnects when it hears (unless the link is cut and it must time out).
                    if self.network.is_stalled((id, to, channel), self.cluster.now) {
                        self.cluster.note(
                            id,
                            WorldEvent::Fault(format!(
                                "closes its connection to {} while a delayed request on it is still on its way",
                                node_in_words(to)
                            )),
                        );
                    }
                    self.network.reset((id, to, channel));
                    self.network.break_connection((to, id, channel));
                    if !self.network.is_cut(id, to) {
                        self.notify_reset(to, id, channel, Some((to, id, channel)));
                    }
                }
                Output::Event(_) => {}
            }
        }
        self.arm_timer(id, fed.deadline);
    }

    /// Writes a digest of every node's state into the trace now (runs end with one, so replay
    /// checks the final state too).
    pub fn record_digest(&mut self) {
        self.cluster.record_digest();
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
                    at.max(self.cluster.now),
                    Pending::Timer {
                        node: id,
                        generation,
                    },
                );
            }
        }
    }

    /// Moves the clock forward to `time` (never back) without processing anything: the caller
    /// has processed every event at or before it.
    pub(crate) fn set_clock(&mut self, time: Instant) {
        self.cluster.now = self.cluster.now.max(time);
    }

    /// Messages on the wire: `(arrival time, from, to, message)`, in no particular order (a
    /// view counts them; nothing in a run may depend on this order).
    pub fn messages_in_flight(&self) -> impl Iterator<Item = (Instant, NodeId, NodeId, &Message)> {
        self.queue.iter().filter_map(|Reverse(q)| match &q.event {
            Pending::Deliver {
                from, to, message, ..
            } => Some((q.time, *from, *to, message)),
            _ => None,
        })
    }

    /// Messages held on clogged links, as `(from, to, how many)`.
    pub fn held_on_links(&self) -> impl Iterator<Item = (NodeId, NodeId, usize)> + '_ {
        self.held_on_links
            .iter()
            .map(|(&(from, to), held)| (from, to, held.len()))
    }

    /// The time of the next event, if any.
    pub fn next_event_time(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse(q)| q.time)
    }

    /// Processes the next event. Returns `None` when nothing is left.
    pub fn step(&mut self) -> Option<Step> {
        let Reverse(q) = self.queue.pop()?;
        self.cluster.now = self.cluster.now.max(q.time);
        self.cluster.count_step();
        let node = match q.event {
            Pending::Deliver {
                from,
                to,
                message,
                conn,
                epoch,
                late,
            } => self.arrive(from, to, message, conn, epoch, late),
            Pending::Timer { node, generation } => {
                if self.timers.get(&node).map(|(_, g)| *g) != Some(generation) {
                    return Some(Step {
                        time: self.cluster.now,
                        node: None,
                    });
                }
                self.timers.remove(&node);
                match self.cluster.slots.get_mut(&node) {
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
                    self.push(self.cluster.now + every, Pending::Writeback { broker });
                }
                let id = NodeId::Broker(broker);
                // The kernel writes dirty pages back whether the process runs, is stopped or has
                // crashed; only a machine without power writes nothing.
                if matches!(self.cluster.slots.get(&id), Some(Slot::Up { .. })) {
                    self.feed(id, Input::Writeback);
                    Some(id)
                } else {
                    self.cluster.writeback_while_down(id);
                    None
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
                if to == NodeId::Admin
                    || !matches!(self.cluster.slots.get(&to), Some(Slot::Up { .. }))
                {
                    return Some(Step {
                        time: self.cluster.now,
                        node: None,
                    });
                }
                self.deliver_input(to, Input::Disconnected { peer, channel });
                Some(to)
            }
        };
        Some(Step {
            time: self.cluster.now,
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
        late: Late,
    ) -> Option<NodeId> {
        if !self.network.arrives(from, to, conn, epoch, late.is_some()) {
            return None;
        }
        if self.network.is_clogged(from, to) {
            self.held_on_links
                .entry((from, to))
                .or_default()
                .push_back((message, conn, epoch, late));
            return None;
        }
        if let Some(starts) = late
            && self.network.is_closed(conn, epoch)
        {
            // The client closed this connection after sending: the receiver still reads what
            // reached its socket, if it is the same process, and its answer is lost.
            if starts != self.cluster.starts(to)
                || !matches!(self.cluster.slots.get(&to), Some(Slot::Up { .. }))
            {
                return None;
            }
            self.orphans.adopt(to, from, &message);
            self.cluster.note(
                to,
                WorldEvent::Fault(format!(
                    "reads a delayed {} that its client sent before it closed the connection",
                    request_in_words(&message)
                )),
            );
        }
        if to == NodeId::Admin {
            self.cluster.note(NodeId::Admin, WorldEvent::Admin(message));
            return None;
        }
        match self.cluster.slots.get(&to) {
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
                let host_up = self.cluster.host_up(to);
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
        self.cluster.now = self.cluster.now.max(until);
    }
}

/// A request in the story's words: its API, and for an EndTxn what it decides and for whom.
fn request_in_words(message: &Message) -> String {
    match message {
        Message::EndTxn(r) => format!(
            "EndTxn({}) of {} (producer id {}, epoch {})",
            if r.commit { "commit" } else { "abort" },
            r.transactional_id,
            r.producer_id.0,
            r.producer_epoch.0
        ),
        m => m.api_name().to_string(),
    }
}

/// A broker in the story's words (the report names clients, since it knows the scenario's
/// names; a client only ever gives up on a broker).
fn node_in_words(node: NodeId) -> String {
    match node {
        NodeId::Broker(b) => format!("broker {}", b.0),
        other => other.to_string(),
    }
}
