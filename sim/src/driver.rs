//! What the scenario runner asks of a driver: the faults and operator actions a scenario names,
//! a way to let virtual time pass with the per-step invariants checked, and a view of the
//! [`Cluster`]. Two drivers implement it: the [`World`] (a discrete-event stepper, everywhere,
//! wasm included) and, in a `--cfg madsim` build, `crate::madsim_driver::Madsim` (every node an
//! async service on madsim's simulated network, clock and node kills).
//!
//! Time passes through `async` methods so that the madsim driver can run a whole scenario inside
//! one `block_on`, which is what madsim's determinism check needs. The World never waits: its
//! futures are ready at their first poll, and [`ready`] runs them without an executor.

use crate::checker::invariants::Invariants;
use crate::cluster::{Cluster, Step};
use crate::nodes::NodeSpec;
use crate::trace::TraceRecorder;
use crate::world::World;
use gregor_core::ids::{BrokerId, ClientId, NodeId};
use gregor_core::node::ClientCommand;
use gregor_core::protocol::Message;
use gregor_core::time::{Duration, Instant};
use std::future::Future;
use std::ops::Deref;

/// A way to run a cluster's nodes: the runner's only contact with them.
pub trait Driver {
    /// The driver's name, as `--driver` takes it and traces and reproduction lines print it.
    const NAME: &'static str;

    /// The nodes, their disks and what they recorded, as of now.
    fn cluster(&self) -> impl Deref<Target = Cluster> + '_;
    /// Records a trace from now on.
    fn set_trace(&mut self, trace: TraceRecorder);
    /// Registers a node; it does not run until started.
    fn add_node(&mut self, spec: NodeSpec);

    /// Starts a node that never ran, or restarts a crashed one over its disk.
    fn start(&mut self, id: NodeId);
    /// Kills a node's process; with `power_loss` its machine also loses power.
    fn crash(&mut self, id: NodeId, power_loss: bool);
    /// Stops a process without killing it (SIGSTOP, a long GC pause).
    fn pause(&mut self, id: NodeId);
    /// Lets a paused process run again.
    fn resume(&mut self, id: NodeId);
    /// Cuts the link from `from` to `to` (one direction).
    fn cut(&mut self, from: NodeId, to: NodeId);
    /// Restores every cut link.
    fn heal(&mut self);
    /// Clogs the link from `from` to `to`: messages wait until it is unclogged.
    fn clog(&mut self, from: NodeId, to: NodeId);
    /// Unclogs one link.
    fn unclog(&mut self, from: NodeId, to: NodeId);
    /// Unclogs every clogged link.
    fn unclog_all(&mut self);
    /// Delays the next `api` request from `client` by `by` (the scenario fault `delay`).
    fn delay_next(&mut self, client: NodeId, api: &'static str, by: Duration);
    /// Stops the network's random loss and duplication (the final phase's healthy network).
    fn calm_network(&mut self);
    /// Has a broker's operating system flush its dirty pages now.
    fn writeback_now(&mut self, broker: BrokerId);
    /// Sends a workload command to a client.
    fn command(&mut self, client: ClientId, command: ClientCommand);
    /// Sends a message from the operator to a node.
    fn send_admin(&mut self, to: NodeId, message: Message);
    /// Notes a fault or an operator's action in the log.
    fn note_fault(&mut self, text: String);
    /// Writes a digest of every node's state into the trace.
    fn record_digest(&mut self);

    /// Lets time pass up to `until`, checking `invariants` after every step.
    fn run_until(
        &mut self,
        until: Instant,
        invariants: Option<&mut Invariants>,
    ) -> impl Future<Output = ()>;

    /// Lets time pass until `done` holds (it is asked after every step) or `bound` passes,
    /// checking `invariants` after every step. Returns whether `done` held.
    fn run_while(
        &mut self,
        bound: Instant,
        invariants: Option<&mut Invariants>,
        done: impl FnMut(&Cluster) -> bool,
    ) -> impl Future<Output = bool>;
}

/// Runs a future that never waits (the World's) to its end.
///
/// # Panics
///
/// If the future waits: only a driver that never waits may be run this way.
pub fn ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => panic!("a World future waited; the World never waits"),
    }
}

impl Driver for World {
    const NAME: &'static str = "world";

    fn cluster(&self) -> impl Deref<Target = Cluster> + '_ {
        World::cluster(self)
    }
    fn set_trace(&mut self, trace: TraceRecorder) {
        World::set_trace(self, trace);
    }
    fn add_node(&mut self, spec: NodeSpec) {
        World::add_node(self, spec);
    }
    fn start(&mut self, id: NodeId) {
        World::start(self, id);
    }
    fn crash(&mut self, id: NodeId, power_loss: bool) {
        World::crash(self, id, power_loss);
    }
    fn pause(&mut self, id: NodeId) {
        World::pause(self, id);
    }
    fn resume(&mut self, id: NodeId) {
        World::resume(self, id);
    }
    fn cut(&mut self, from: NodeId, to: NodeId) {
        World::cut(self, from, to);
    }
    fn heal(&mut self) {
        World::heal(self);
    }
    fn clog(&mut self, from: NodeId, to: NodeId) {
        World::clog(self, from, to);
    }
    fn unclog(&mut self, from: NodeId, to: NodeId) {
        World::unclog(self, from, to);
    }
    fn unclog_all(&mut self) {
        let clogged: Vec<(NodeId, NodeId)> =
            self.network().clogged_links().iter().copied().collect();
        for (a, b) in clogged {
            World::unclog(self, a, b);
        }
    }
    fn delay_next(&mut self, client: NodeId, api: &'static str, by: Duration) {
        World::delay_next(self, client, api, by);
    }
    fn calm_network(&mut self) {
        World::calm_network(self);
    }
    fn writeback_now(&mut self, broker: BrokerId) {
        World::writeback_now(self, broker);
    }
    fn command(&mut self, client: ClientId, command: ClientCommand) {
        World::command(self, client, command);
    }
    fn send_admin(&mut self, to: NodeId, message: Message) {
        World::send_admin(self, to, message);
    }
    fn note_fault(&mut self, text: String) {
        World::note_fault(self, text);
    }
    fn record_digest(&mut self) {
        World::record_digest(self);
    }

    async fn run_until(&mut self, until: Instant, invariants: Option<&mut Invariants>) {
        match invariants {
            Some(inv) => World::run_until(self, until, |w, s: Step| inv.after_step(w, s)),
            None => World::run_until(self, until, |_, _| {}),
        }
    }

    async fn run_while(
        &mut self,
        bound: Instant,
        mut invariants: Option<&mut Invariants>,
        mut done: impl FnMut(&Cluster) -> bool,
    ) -> bool {
        loop {
            if done(self) {
                return true;
            }
            match self.next_event_time() {
                Some(t) if t <= bound => {
                    if let Some(step) = self.step()
                        && let Some(inv) = invariants.as_deref_mut()
                    {
                        inv.after_step(self, step);
                    }
                }
                _ => {
                    World::run_until(self, bound, |_, _| {});
                    return done(self);
                }
            }
        }
    }
}
