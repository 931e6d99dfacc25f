//! The madsim driver: every node of a scenario runs as a madsim node (its own IP address) with an
//! async loop around the pure core, over madsim's simulated network, clock and node kills. It is
//! compiled only with `--cfg madsim`; `gregor run --driver madsim` runs a build made that way.
//!
//! A node's loop receives from madsim's network, feeds the core (`handle`), sends what
//! `poll_output` returns, and sleeps until `poll_timeout`. Messages cross the network serialized
//! (JSON, as in traces), so the wire format is exercised end to end.
//!
//! Kafka runs over TCP, and so do these nodes: each `(client, server, channel)` connection of the
//! core is one of madsim's reliable, ordered connections (`Endpoint::connect1`), opened by the
//! client with a hello that names it. madsim's network decides latency; its packet loss delays a
//! message (a retransmission) rather than losing it; a clogged link holds messages, and so does
//! a cut one, as a real partition does to TCP segments, until the link heals or a side gives up
//! on the connection (the core's `Reset`). A process that dies closes its connections and its
//! peers hear of it; a machine that loses power says nothing, and its peers only time out.
//!
//! The nodes' state lives in one [`Cluster`] shared by the node tasks and the runner, so the
//! checkers, the trace and the reports are those of the World. What stays on a node's disk
//! survives `Handle::kill`; a restart runs the node's init again over that disk.
//!
//! madsim's network never delivers a message twice; for a scenario whose network asks for
//! `duplicate`, this driver puts a second copy right behind the first on the connection, as the
//! World does. `reorder` is not supported (the run stops with an error naming the setting):
//! TCP never reorders, and madsim's connections cannot.
//!
//! A `delay` fault hands an open connection's sending half to a writer task that waits out the
//! delay, then sends what the connection carried since, in order: the connection stalls behind
//! the delayed message. When the client closes the connection the writer still sends what it
//! holds and only then drops the sending half, so the server reads the late request before the
//! end of the connection, and its answer is lost with the closed connection, as over TCP. The
//! World's story tells these steps; under madsim they happen without a line of their own.

use crate::checker::invariants::Invariants;
use crate::cluster::{Cluster, Step, WorldEvent};
use crate::driver::Driver;
use crate::network::{Conn, Delays, NetworkConfig, Orphans, connection_of};
use crate::nodes::NodeSpec;
use crate::runner::{Run, RunOptions, RunReport};
use crate::scenario::Scenario;
use crate::trace::TraceRecorder;
use gregor_core::ids::{BrokerId, ClientId, NodeId};
use gregor_core::node::{ClientCommand, Input, Output};
use gregor_core::protocol::{Channel, Message};
use gregor_core::rng::Rng;
use gregor_core::time::{Duration, Instant};
use madsim::export::futures::FutureExt;
use madsim::export::futures::future::{Either, select};
use madsim::net::{Endpoint, Receiver, Sender};
use madsim::runtime::{Handle, Runtime};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{Notify, mpsc};

/// The port every node listens on.
const PORT: u16 = 9092;

/// Why a scenario cannot run under madsim with this seed, if it cannot.
pub fn unsupported(scenario: &Scenario, seed: u64) -> Option<String> {
    if scenario.network_for(seed).reorder {
        return Some(
            "network.reorder = true is not supported by the madsim driver: madsim's connections, \
             like TCP, keep order (use --driver world)"
                .into(),
        );
    }
    None
}

/// madsim's network configuration for a scenario's network: the same latency range (the World
/// draws whole milliseconds from `latency_min..=latency_max`; madsim draws a continuous time in
/// the range one millisecond wider, which the core's millisecond clock rounds down alike) and the
/// same loss rate.
pub fn madsim_config(network: &NetworkConfig) -> madsim::Config {
    let mut config = madsim::Config::default();
    config.net.packet_loss_rate = network.loss;
    config.net.send_latency = std::time::Duration::from_millis(network.latency_min.0)
        ..std::time::Duration::from_millis(network.latency_max.0 + 1);
    config
}

/// Runs a scenario under madsim and judges it.
///
/// # Errors
///
/// When the scenario asks for what madsim cannot do (see [`unsupported`]).
pub fn run(scenario: &Scenario, options: &RunOptions) -> Result<RunReport, String> {
    let seed = options.seed.unwrap_or(scenario.seed);
    if let Some(why) = unsupported(scenario, seed) {
        return Err(why);
    }
    let network = scenario.network_for(seed);
    let runtime = Runtime::with_seed_and_config(seed, madsim_config(&network));
    Ok(runtime.block_on(run_inside(scenario, options)))
}

/// Runs a scenario inside a madsim runtime (the future `block_on` or madsim's determinism check
/// drives).
pub async fn run_inside(scenario: &Scenario, options: &RunOptions) -> RunReport {
    let seed = options.seed.unwrap_or(scenario.seed);
    let driver = Madsim::new(seed, &scenario.network_for(seed), scenario.writeback);
    Run::with_driver(scenario, options, driver)
        .run_async()
        .await
}

/// The scenario and options [`check_determinism`] hands to madsim's check, which takes a plain
/// function: it reads them from here.
static CHECKED: Mutex<Option<(Scenario, RunOptions)>> = Mutex::new(None);
/// One determinism check at a time (the slot above is shared).
static CHECKING: Mutex<()> = Mutex::new(());

/// Runs a scenario twice under madsim's determinism check (`Runtime::check_determinism`), which
/// panics if the second run draws a different random number at any point than the first, and
/// returns the second run's report.
///
/// # Errors
///
/// When the scenario asks for what madsim cannot do (see [`unsupported`]).
pub fn check_determinism(scenario: &Scenario, options: &RunOptions) -> Result<RunReport, String> {
    let seed = options.seed.unwrap_or(scenario.seed);
    if let Some(why) = unsupported(scenario, seed) {
        return Err(why);
    }
    let _one = CHECKING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *CHECKED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) =
        Some((scenario.clone(), options.clone()));
    Ok(Runtime::check_determinism(
        seed,
        madsim_config(&scenario.network_for(seed)),
        || async {
            let (scenario, options) = CHECKED
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
                .expect("set before the check");
            run_inside(&scenario, &options).await
        },
    ))
}

/// What a node's loop receives: from the network (through its connections' reader tasks), from
/// its own connection attempts, and from the runner.
enum Inbound {
    /// A message on a connection (`local` tells this connection from earlier ones); `late`
    /// when a stalled connection's writer sent it (see [`stalled_writer`]).
    Message {
        conn: Conn,
        local: u64,
        from: NodeId,
        message: Message,
        late: bool,
    },
    /// A connection ended: the peer closed it or its process died.
    Closed { conn: Conn, local: u64 },
    /// A peer opened a connection to this node.
    Accepted {
        conn: Conn,
        local: u64,
        sender: Sender,
    },
    /// A connection this node opened is up.
    Connected {
        conn: Conn,
        local: u64,
        sender: Sender,
    },
    /// The peer's machine answered a connection attempt with a reset: its process is down.
    Refused { conn: Conn, local: u64 },
    /// A workload command from the runner.
    Command(ClientCommand),
    /// The operating system's periodic writeback of dirty pages.
    Writeback,
    /// The operator sends a request (the operator's loop only).
    Admin { to: NodeId, message: Message },
    /// A message the node sent itself (a transaction coordinator's markers for partitions its
    /// own broker leads), over the loopback interface.
    Loopback(Message),
}

/// The first payload on every connection: who opens it, and for what.
#[derive(Serialize, Deserialize)]
struct Hello {
    client: NodeId,
    channel: Channel,
}

/// A connection as one of its ends holds it.
enum Link {
    /// Opening: what to send once it is up, and how to stop trying.
    Connecting {
        local: u64,
        queue: Vec<Vec<u8>>,
        /// Held for its drop, which stops the attempt.
        _cancel: CancelOnDrop,
    },
    /// Up: the sending half.
    Open { local: u64, sender: Sender },
    /// Up, stalled behind a delayed message: a writer task holds the sending half and sends
    /// what this queue gives it, in order, once the delay is over. Closing the link drops the
    /// queue; the writer still sends what it holds, then drops the sending half (TCP's FIN
    /// after the data).
    Stalled {
        local: u64,
        queue: mpsc::UnboundedSender<Vec<u8>>,
    },
}

impl Link {
    fn local(&self) -> u64 {
        match self {
            Link::Connecting { local, .. }
            | Link::Open { local, .. }
            | Link::Stalled { local, .. } => *local,
        }
    }
}

/// Stops a connection attempt when the link that waits for it goes away.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// What the node tasks and the runner share.
struct Shared {
    cluster: Mutex<Cluster>,
    /// The per-step invariants, while the runner lets time pass with them on.
    invariants: Mutex<Option<Invariants>>,
    /// Each running node's inbox.
    inboxes: Mutex<BTreeMap<NodeId, mpsc::UnboundedSender<Inbound>>>,
    /// Links the scenario cut or clogged (a link is clogged in madsim if it is in either).
    links: Mutex<Links>,
    /// Told after every step, so the runner can check whether what it waits for holds.
    stepped: Notify,
    /// The start of virtual time.
    base: madsim::time::Instant,
    /// The next connection number.
    next_local: std::sync::atomic::AtomicU64,
    /// The network's one-way latency range, for resets, which madsim's network does not carry.
    latency: (Duration, Duration),
    /// The probability that a message is sent twice (`f64` bits; the final phase sets it to 0).
    duplicate: std::sync::atomic::AtomicU64,
    /// The driver's own draws (reset latencies, duplication), from the run's seed like every
    /// other draw; madsim's network draws from the same seed through its runtime.
    rng: Mutex<Rng>,
    /// Armed `delay` faults: the next request of this API from this client is held this long.
    delays: Mutex<Delays>,
}

#[derive(Default)]
struct Links {
    cut: BTreeSet<(NodeId, NodeId)>,
    clogged: BTreeSet<(NodeId, NodeId)>,
}

impl Links {
    fn blocked(&self, from: NodeId, to: NodeId) -> bool {
        self.cut.contains(&(from, to)) || self.clogged.contains(&(from, to))
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Cluster> {
        self.cluster
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cluster with its clock brought to madsim's now, for anything that records or acts.
    fn synced(&self) -> MutexGuard<'_, Cluster> {
        let now = self.now();
        let mut cluster = self.lock();
        cluster.now = cluster.now.max(now);
        cluster
    }

    fn now(&self) -> Instant {
        let elapsed = virtual_now().duration_since(self.base);
        Instant(elapsed.as_millis() as u64)
    }

    fn at(&self, t: Instant) -> madsim::time::Instant {
        self.base + std::time::Duration::from_millis(t.0)
    }

    /// One network latency, drawn from the run's seed.
    fn latency(&self) -> std::time::Duration {
        let ms = self.rng().between(self.latency.0.0, self.latency.1.0);
        std::time::Duration::from_millis(ms)
    }

    /// The delay armed for this request from `from`, disarmed as it is used.
    fn take_delay(&self, from: NodeId, message: &Message) -> Option<Duration> {
        let mut delays = self
            .delays
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (i, by) = delays.find(from, message)?;
        delays.disarm(i);
        Some(by)
    }

    fn rng(&self) -> MutexGuard<'_, Rng> {
        self.rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many copies of a message go on the wire: two with the scenario's `duplicate`
    /// probability (drawn from the run's seed), else one.
    fn copies(&self) -> usize {
        let p = f64::from_bits(self.duplicate.load(Ordering::Relaxed));
        if p > 0.0 && self.rng().chance(p) {
            2
        } else {
            1
        }
    }

    fn local(&self) -> u64 {
        self.next_local.fetch_add(1, Ordering::Relaxed)
    }

    fn inbox(&self, id: NodeId) -> Option<mpsc::UnboundedSender<Inbound>> {
        self.inboxes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    fn blocked(&self, from: NodeId, to: NodeId) -> bool {
        self.links
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .blocked(from, to)
    }

    /// Feeds an input to a node now, with the per-step invariants; `None` if it is down.
    fn feed(&self, id: NodeId, input: Input) -> Option<crate::cluster::Fed> {
        let mut cluster = self.synced();
        cluster.count_step();
        let fed = cluster.feed(id, input)?;
        if let Some(inv) = self
            .invariants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_mut()
        {
            inv.after_step(
                &cluster,
                Step {
                    time: cluster.now,
                    node: Some(id),
                },
            );
        }
        drop(cluster);
        self.stepped.notify_one();
        Some(fed)
    }
}

/// madsim's virtual clock. Inside a madsim runtime `Instant::now` reads the simulation's clock,
/// not the machine's, which is why it is allowed here and nowhere else.
#[allow(clippy::disallowed_methods)]
fn virtual_now() -> madsim::time::Instant {
    madsim::time::Instant::now()
}

/// A node's address on madsim's network.
fn address(id: NodeId) -> SocketAddr {
    let ip = match id {
        NodeId::Controller => Ipv4Addr::new(10, 0, 0, 1),
        NodeId::Admin => Ipv4Addr::new(10, 0, 0, 2),
        NodeId::Broker(b) => Ipv4Addr::new(10, 1, (b.0 >> 8) as u8, b.0 as u8),
        NodeId::Client(c) => Ipv4Addr::new(10, 2, (c.0 >> 8) as u8, c.0 as u8),
    };
    SocketAddr::new(IpAddr::V4(ip), PORT)
}

fn encode(message: &Message) -> Vec<u8> {
    serde_json::to_vec(message).expect("a message always serializes")
}

/// The madsim driver.
pub struct Madsim {
    shared: Arc<Shared>,
    handle: Handle,
    /// madsim's node for each node that was started once.
    nodes: BTreeMap<NodeId, madsim::task::NodeId>,
    writeback: Option<Duration>,
}

impl Madsim {
    /// A driver with no node yet; must be made inside a madsim runtime.
    pub fn new(seed: u64, network: &NetworkConfig, writeback: Option<Duration>) -> Madsim {
        let handle = Handle::current();
        let shared = Arc::new(Shared {
            cluster: Mutex::new(Cluster::new(seed)),
            invariants: Mutex::new(None),
            inboxes: Mutex::new(BTreeMap::new()),
            links: Mutex::new(Links::default()),
            stepped: Notify::new(),
            base: virtual_now(),
            next_local: std::sync::atomic::AtomicU64::new(1),
            latency: (network.latency_min, network.latency_max),
            duplicate: std::sync::atomic::AtomicU64::new(network.duplicate.to_bits()),
            rng: Mutex::new(Rng::derived(seed, "madsim-driver")),
            delays: Mutex::new(Delays::default()),
        });
        let mut driver = Madsim {
            shared,
            handle,
            nodes: BTreeMap::new(),
            writeback,
        };
        driver.create(NodeId::Admin);
        driver
    }

    /// Creates madsim's node for one of ours; its init task is the node's loop.
    fn create(&mut self, id: NodeId) {
        let shared = self.shared.clone();
        let node = self
            .handle
            .create_node()
            .name(id.to_string())
            .ip(address(id).ip())
            .init(move || node_loop(shared.clone(), id))
            .build();
        self.nodes.insert(id, node.id());
        // Links cut or clogged before this node existed apply to it now.
        let links = self
            .shared
            .links
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let blocked: Vec<(NodeId, NodeId)> = links.cut.union(&links.clogged).copied().collect();
        drop(links);
        for (a, b) in blocked {
            if a == id || b == id {
                self.apply_link(a, b);
            }
        }
    }

    /// Makes madsim's link from `a` to `b` clogged or not, as the scenario's cuts and clogs say.
    fn apply_link(&self, a: NodeId, b: NodeId) {
        let (Some(&ma), Some(&mb)) = (self.nodes.get(&a), self.nodes.get(&b)) else {
            return;
        };
        let net = madsim::net::NetSim::current();
        if self.shared.blocked(a, b) {
            net.clog_link(ma, mb);
        } else {
            net.unclog_link(ma, mb);
        }
    }

    fn links(&self) -> MutexGuard<'_, Links> {
        self.shared
            .links
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cluster, its clock brought to now before the runner reads or acts.
    fn sync_clock(&self) -> MutexGuard<'_, Cluster> {
        self.shared.synced()
    }
}

impl Driver for Madsim {
    const NAME: &'static str = "madsim";

    fn cluster(&self) -> impl std::ops::Deref<Target = Cluster> + '_ {
        self.sync_clock()
    }

    fn set_trace(&mut self, trace: TraceRecorder) {
        self.shared.lock().set_trace(trace);
    }

    fn add_node(&mut self, spec: NodeSpec) {
        self.shared.lock().add_node(spec);
    }

    fn start(&mut self, id: NodeId) {
        let booted = self.sync_clock().boot(id);
        let Some(incarnation) = booted else { return };
        if let Some(&node) = self.nodes.get(&id) {
            // A restart runs the node's init again; the init builds nothing: the node was just
            // booted over its disk, and the init's loop feeds it `Start`.
            self.handle.restart(node);
            return;
        }
        self.create(id);
        if let (NodeId::Broker(b), Some(every), 0) = (id, self.writeback, incarnation) {
            let shared = self.shared.clone();
            // The kernel's writeback runs whatever the process does, so it is a task of the
            // runner's node, which no fault touches.
            madsim::task::spawn(writeback_loop(shared, NodeId::Broker(b), every));
        }
    }

    fn crash(&mut self, id: NodeId, power_loss: bool) {
        // The cluster learns first, so that peers which see the connections end know whether
        // the machine still has power.
        if !self.sync_clock().kill(id, power_loss) {
            return;
        }
        self.shared
            .inboxes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&id);
        if let Some(&node) = self.nodes.get(&id) {
            self.handle.kill(node);
        }
    }

    fn pause(&mut self, id: NodeId) {
        if self.sync_clock().mark_paused(id)
            && let Some(&node) = self.nodes.get(&id)
        {
            self.handle.pause(node);
        }
    }

    fn resume(&mut self, id: NodeId) {
        // madsim held what reached the paused node; it runs it now.
        if self.sync_clock().mark_resumed(id).is_some()
            && let Some(&node) = self.nodes.get(&id)
        {
            self.handle.resume(node);
        }
    }

    fn cut(&mut self, from: NodeId, to: NodeId) {
        self.links().cut.insert((from, to));
        self.apply_link(from, to);
    }

    fn heal(&mut self) {
        let cut: Vec<(NodeId, NodeId)> =
            std::mem::take(&mut self.links().cut).into_iter().collect();
        for (a, b) in cut {
            self.apply_link(a, b);
        }
    }

    fn clog(&mut self, from: NodeId, to: NodeId) {
        self.links().clogged.insert((from, to));
        self.apply_link(from, to);
    }

    fn unclog(&mut self, from: NodeId, to: NodeId) {
        self.links().clogged.remove(&(from, to));
        self.apply_link(from, to);
    }

    fn delay_next(&mut self, client: NodeId, api: &'static str, by: Duration) {
        self.shared
            .delays
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .arm(client, api, by);
    }

    fn unclog_all(&mut self) {
        let clogged: Vec<(NodeId, NodeId)> = std::mem::take(&mut self.links().clogged)
            .into_iter()
            .collect();
        for (a, b) in clogged {
            self.apply_link(a, b);
        }
    }

    fn calm_network(&mut self) {
        madsim::net::NetSim::current().update_config(|c| c.packet_loss_rate = 0.0);
        self.shared
            .duplicate
            .store(0.0f64.to_bits(), Ordering::Relaxed);
        // A delay armed for a request the client never sent belongs to the faulty phase.
        self.shared
            .delays
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    fn writeback_now(&mut self, broker: BrokerId) {
        if let Some(inbox) = self.shared.inbox(NodeId::Broker(broker)) {
            let _ = inbox.send(Inbound::Writeback);
        }
    }

    fn command(&mut self, client: ClientId, command: ClientCommand) {
        if let Some(inbox) = self.shared.inbox(NodeId::Client(client)) {
            let _ = inbox.send(Inbound::Command(command));
        }
    }

    fn send_admin(&mut self, to: NodeId, message: Message) {
        if let Some(inbox) = self.shared.inbox(NodeId::Admin) {
            let _ = inbox.send(Inbound::Admin { to, message });
        }
    }

    fn note_fault(&mut self, text: String) {
        self.sync_clock().note_fault(text);
    }

    fn record_digest(&mut self) {
        self.sync_clock().record_digest();
    }

    async fn run_until(&mut self, until: Instant, invariants: Option<&mut Invariants>) {
        let lent = self.lend(invariants);
        madsim::time::sleep_until(self.shared.at(until)).await;
        self.take_back(lent);
    }

    async fn run_while(
        &mut self,
        bound: Instant,
        invariants: Option<&mut Invariants>,
        mut done: impl FnMut(&Cluster) -> bool,
    ) -> bool {
        let lent = self.lend(invariants);
        let deadline = self.shared.at(bound);
        let held = loop {
            if done(&self.sync_clock()) {
                break true;
            }
            if virtual_now() >= deadline {
                break false;
            }
            let stepped = std::pin::pin!(self.shared.stepped.notified());
            let timeout = std::pin::pin!(madsim::time::sleep_until(deadline));
            select(stepped, timeout).await;
        };
        self.take_back(lent);
        held || done(&self.sync_clock())
    }
}

/// Invariants lent to the node tasks while time passes.
struct Lent<'a>(Option<&'a mut Invariants>);

impl Madsim {
    fn lend<'a>(&self, invariants: Option<&'a mut Invariants>) -> Lent<'a> {
        if let Some(inv) = invariants {
            *self
                .shared
                .invariants
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(std::mem::take(inv));
            return Lent(Some(inv));
        }
        Lent(None)
    }

    fn take_back(&self, lent: Lent<'_>) {
        if let Some(inv) = lent.0
            && let Some(back) = self
                .shared
                .invariants
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
        {
            *inv = back;
        }
    }
}

/// The OS of a broker's machine writes dirty pages back every `every`: through the process
/// when it runs, straight to the disk when the process is down but the machine has power.
async fn writeback_loop(shared: Arc<Shared>, id: NodeId, every: Duration) {
    loop {
        madsim::time::sleep(std::time::Duration::from_millis(every.0)).await;
        if let Some(inbox) = shared.inbox(id) {
            let _ = inbox.send(Inbound::Writeback);
        } else {
            shared.synced().writeback_while_down(id);
        }
    }
}

/// A node's process: bind, then feed the core what arrives and what falls due, and carry out
/// what it asks. The operator (`NodeId::Admin`) runs the same loop without a core: it sends the
/// runner's requests and logs the answers.
async fn node_loop(shared: Arc<Shared>, id: NodeId) {
    let endpoint = Endpoint::bind(address(id))
        .await
        .unwrap_or_else(|e| panic!("{id} cannot listen on {}: {e}", address(id)));
    let (tx, mut inbox) = mpsc::unbounded_channel();
    shared
        .inboxes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(id, tx.clone());
    madsim::task::spawn(accept_loop(
        endpoint.clone(),
        tx.clone(),
        shared.clone(),
        id,
    ));
    let mut node = NodeLoop {
        shared: shared.clone(),
        id,
        endpoint,
        inbox: tx,
        links: BTreeMap::new(),
        deadline: None,
        orphans: Orphans::default(),
    };
    if id != NodeId::Admin {
        node.feed(Input::Start);
    }
    loop {
        let next = match node.deadline {
            Some(at) => {
                let timer = std::pin::pin!(madsim::time::sleep_until(shared.at(at)));
                let received = std::pin::pin!(inbox.recv());
                match select(received, timer).await {
                    Either::Left((received, _)) => received,
                    Either::Right(_) => {
                        node.feed(Input::Timeout);
                        continue;
                    }
                }
            }
            None => inbox.recv().await,
        };
        let Some(inbound) = next else { return };
        node.receive(inbound);
    }
}

/// Accepts connections: reads each one's hello, then hands it to the node's loop and forwards
/// what arrives on it.
async fn accept_loop(
    endpoint: Endpoint,
    inbox: mpsc::UnboundedSender<Inbound>,
    shared: Arc<Shared>,
    server: NodeId,
) {
    while let Ok((sender, mut receiver, _)) = endpoint.accept1().await {
        let inbox = inbox.clone();
        let shared = shared.clone();
        madsim::task::spawn(async move {
            let Ok(first) = receiver.recv().await else {
                return;
            };
            let Some(hello) = first
                .downcast::<Vec<u8>>()
                .ok()
                .and_then(|b| serde_json::from_slice::<Hello>(&b).ok())
            else {
                return;
            };
            let client = hello.client;
            let conn = (client, server, hello.channel);
            let local = shared.local();
            if inbox
                .send(Inbound::Accepted {
                    conn,
                    local,
                    sender,
                })
                .is_ok()
            {
                read_loop(receiver, inbox, conn, local, client).await;
            }
        });
    }
}

/// Forwards what arrives on one connection to the node's loop, then says it ended.
async fn read_loop(
    mut receiver: Receiver,
    inbox: mpsc::UnboundedSender<Inbound>,
    conn: Conn,
    local: u64,
    from: NodeId,
) {
    while let Ok(payload) = receiver.recv().await {
        // Only this driver writes on these connections: a payload that does not decode is a bug
        // in the wire format, and must stop the run loudly.
        let (bytes, late) = match payload.downcast::<Vec<u8>>() {
            Ok(bytes) => (bytes, false),
            Err(payload) => match payload.downcast::<Late>() {
                Ok(late) => (Box::new(late.0), true),
                Err(_) => panic!("a payload from {from} on {conn:?} is not bytes"),
            },
        };
        let message: Message = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "a message from {from} on {conn:?} does not decode ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        if inbox
            .send(Inbound::Message {
                conn,
                local,
                from,
                message,
                late,
            })
            .is_err()
        {
            return;
        }
    }
    let _ = inbox.send(Inbound::Closed { conn, local });
}

/// One node's loop state: its connections and its next deadline.
struct NodeLoop {
    shared: Arc<Shared>,
    id: NodeId,
    endpoint: Endpoint,
    inbox: mpsc::UnboundedSender<Inbound>,
    links: BTreeMap<Conn, Link>,
    deadline: Option<Instant>,
    /// Requests read from a connection their client has closed: the answer is lost with it.
    orphans: Orphans,
}

impl NodeLoop {
    fn feed(&mut self, input: Input) {
        let Some(fed) = self.shared.feed(self.id, input) else {
            return;
        };
        self.deadline = fed.deadline;
        for out in fed.outputs {
            match out {
                Output::Send { to, message } => self.send(to, &message),
                Output::Reset { to, channel } => {
                    // Closing both connections with `to` on this channel: dropping a sending
                    // half ends the peer's reading, so the peer hears of it after what was
                    // already on the wire, as TCP's FIN does.
                    self.links.remove(&(self.id, to, channel));
                    self.links.remove(&(to, self.id, channel));
                }
                Output::Event(_) => {}
            }
        }
    }

    fn receive(&mut self, inbound: Inbound) {
        match inbound {
            Inbound::Message {
                conn,
                local,
                from,
                message,
                late,
            } => {
                if self.links.get(&conn).map(Link::local) != Some(local) {
                    // A connection this node already closed, or, for a server, one its client
                    // replaced: what a stalled connection carried still reaches the server,
                    // which answers to a closed connection (the answer is lost).
                    let replaced = self.links.get(&conn).is_some_and(|l| l.local() > local);
                    if !(late && conn.1 == self.id && replaced) {
                        return;
                    }
                    self.orphans.adopt(self.id, from, &message);
                }
                if self.id == NodeId::Admin {
                    self.shared
                        .synced()
                        .note(NodeId::Admin, WorldEvent::Admin(message));
                } else {
                    self.feed(Input::Message { from, message });
                }
            }
            Inbound::Closed { conn, local } | Inbound::Refused { conn, local } => {
                if self.links.get(&conn).map(Link::local) != Some(local) {
                    return;
                }
                self.links.remove(&conn);
                let peer = if conn.0 == self.id { conn.1 } else { conn.0 };
                // A machine without power sends no reset: its peers learn nothing.
                let heard = self.shared.lock().host_up(peer);
                if heard && self.id != NodeId::Admin {
                    self.feed(Input::Disconnected {
                        peer,
                        channel: conn.2,
                    });
                }
            }
            Inbound::Accepted {
                conn,
                local,
                sender,
            } => {
                // A client that reconnects replaces its old connection.
                self.links.insert(conn, Link::Open { local, sender });
            }
            Inbound::Connected {
                conn,
                local,
                sender,
            } => {
                let Some(Link::Connecting {
                    local: l, queue, ..
                }) = self.links.get_mut(&conn)
                else {
                    return;
                };
                if *l != local {
                    return;
                }
                let queue = std::mem::take(queue);
                for bytes in queue {
                    deliver(&sender, bytes);
                }
                self.links.insert(conn, Link::Open { local, sender });
            }
            Inbound::Command(command) => self.feed(Input::Command(command)),
            Inbound::Writeback => self.feed(Input::Writeback),
            Inbound::Admin { to, message } => self.send(to, &message),
            Inbound::Loopback(message) => self.feed(Input::Message {
                from: self.id,
                message,
            }),
        }
    }

    /// Sends on the connection the message belongs to, opening it if this node is its client.
    fn send(&mut self, to: NodeId, message: &Message) {
        if to == self.id {
            // A connection to oneself would share its key with its own accepted end; the
            // loopback interface neither loses nor delays, so the message goes to the inbox.
            let _ = self.inbox.send(Inbound::Loopback(message.clone()));
            return;
        }
        if self.orphans.is_lost_answer(self.id, to, message) {
            return; // the answer to a request read from a closed connection
        }
        let conn = connection_of(self.id, to, message);
        let bytes = encode(message);
        let copies = self.shared.copies();
        if message.is_request()
            && matches!(self.links.get(&conn), Some(Link::Open { .. }))
            && let Some(by) = self.shared.take_delay(self.id, message)
            && let Some(Link::Open { local, sender }) = self.links.remove(&conn)
        {
            // A delay holds this message and stalls the connection behind it (only an open
            // connection: one still connecting keeps the delay armed for the next request).
            let (queue, held) = mpsc::unbounded_channel();
            madsim::task::spawn(stalled_writer(
                sender,
                held,
                std::time::Duration::from_millis(by.0),
            ));
            self.links.insert(conn, Link::Stalled { local, queue });
        }
        match self.links.get_mut(&conn) {
            Some(Link::Stalled { queue, .. }) => {
                for _ in 0..copies {
                    let _ = queue.send(bytes.clone());
                }
            }
            Some(Link::Open { sender, local }) => {
                let sent = (0..copies).all(|_| deliver(sender, bytes.clone()));
                if !sent {
                    // The peer's process is gone: the write meets a reset.
                    let local = *local;
                    let _ = self.inbox.send(Inbound::Closed { conn, local });
                }
            }
            Some(Link::Connecting { queue, .. }) => {
                queue.extend(std::iter::repeat_n(bytes, copies));
            }
            None if conn.0 == self.id => {
                let local = self.shared.local();
                let cancel = Arc::new(AtomicBool::new(false));
                self.links.insert(
                    conn,
                    Link::Connecting {
                        local,
                        queue: vec![bytes; copies],
                        _cancel: CancelOnDrop(cancel.clone()),
                    },
                );
                madsim::task::spawn(connect(
                    self.endpoint.clone(),
                    self.shared.clone(),
                    self.inbox.clone(),
                    conn,
                    local,
                    cancel,
                ));
            }
            // A response on a connection that closed is lost with it.
            None => {}
        }
    }
}

/// A payload a stalled connection's writer sends: the server reads it even after the client
/// has replaced the connection.
struct Late(Vec<u8>);

/// The writer of a stalled connection: it waits out the delay, then sends what it is given, in
/// order, until the link is closed and everything is sent; dropping the sending half then ends
/// the peer's reading after the data, as TCP's FIN does.
async fn stalled_writer(
    sender: Sender,
    mut held: mpsc::UnboundedReceiver<Vec<u8>>,
    delay: std::time::Duration,
) {
    madsim::time::sleep(delay).await;
    // What waited behind the delayed message is late; what comes after the stall is not.
    while let Ok(bytes) = held.try_recv() {
        if sender.send(Box::new(Late(bytes))).await.is_err() {
            return; // the peer's process is gone
        }
    }
    while let Some(bytes) = held.recv().await {
        if sender.send(Box::new(bytes)).await.is_err() {
            return;
        }
    }
}

/// Opens a connection, as TCP does: a refused attempt (the peer's machine runs but its process
/// does not) is reported at once; an attempt that gets no answer (a cut or clogged link, a lost
/// packet, a machine without power) is tried again, backing off, until it is cancelled.
async fn connect(
    endpoint: Endpoint,
    shared: Arc<Shared>,
    inbox: mpsc::UnboundedSender<Inbound>,
    conn: Conn,
    local: u64,
    cancel: Arc<AtomicBool>,
) {
    let (client, server, channel) = conn;
    let mut backoff = std::time::Duration::from_millis(1);
    loop {
        if cancel.load(Ordering::Relaxed) {
            return;
        }
        if let Ok((sender, receiver)) = endpoint.connect1(address(server)).await {
            let hello = Hello { client, channel };
            let hello = serde_json::to_vec(&hello).expect("a hello serializes");
            if deliver(&sender, hello) {
                if inbox
                    .send(Inbound::Connected {
                        conn,
                        local,
                        sender,
                    })
                    .is_ok()
                {
                    read_loop(receiver, inbox, conn, local, server).await;
                }
                return;
            }
        }
        let (process_down, host_up) = {
            let cluster = shared.lock();
            let status = cluster.status(server);
            (
                !matches!(
                    status,
                    crate::cluster::Status::Running | crate::cluster::Status::Paused
                ),
                cluster.host_up(server),
            )
        };
        let answer_blocked = shared.blocked(server, client) || shared.blocked(client, server);
        if process_down && host_up && !answer_blocked {
            madsim::time::sleep(shared.latency()).await;
            let _ = inbox.send(Inbound::Refused { conn, local });
            return;
        }
        madsim::time::sleep(backoff).await;
        backoff = (backoff * 2).min(std::time::Duration::from_secs(1));
    }
}

/// Puts bytes on a connection; false when the peer's end is gone (the write meets a reset).
/// madsim's connections never block a sender, so the send is done at its first poll.
fn deliver(sender: &Sender, bytes: Vec<u8>) -> bool {
    matches!(sender.send(Box::new(bytes)).now_or_never(), Some(Ok(())))
}
