//! The simulated network: latency drawn from a seeded distribution, loss, duplication,
//! reordering, cut links (partitions of any shape, symmetric or not) and clogged links.
//!
//! Kafka runs over TCP, and its protocol relies on what TCP gives: on one connection, messages
//! arrive in order, and none goes missing while later ones get through. The network therefore
//! keeps connections like Kafka's: one per client and server, opened by the client (a follower
//! fetching from a leader has its own connection, separate from the leader fetching from it).
//! Requests go from client to server on it and responses come back on it. Each has an epoch:
//!
//! * A lost message breaks its connection at once; the world tells both ends (a reset), the
//!   client reconnects when it hears, and anything still in flight on the old connection is
//!   dropped. Kafka clients then fail their requests in flight and retry them in order, as they
//!   do on a disconnect; nothing sent in between can overtake them.
//! * Links are directed and can be cut. A message that meets a cut link (when sent, or when it
//!   would arrive) breaks its connection silently: nothing more crosses it until the client
//!   gives up on a request and reconnects (a node's `Reset` output).
//! * A clogged link holds messages and lets them through, in order, when it is unclogged.
//! * Each link is FIFO. `reorder` lets messages overtake on one link, which TCP never does; it is
//!   an experiment outside Kafka's assumptions (idempotence relies on in-order delivery).
//! * `duplicate` delivers a message twice, next to itself (also outside TCP; Kafka's idempotence
//!   tolerates it).
//! * A delayed message (the scenario fault `delay`) is one TCP segment that had to be
//!   retransmitted: it arrives late, and its connection stalls behind it, since TCP delivers
//!   nothing after a missing segment. What the client wrote to the connection before it closes
//!   it still arrives, because the kernel keeps sending it and the broker reads what reached its
//!   socket before the close; the broker's answer meets a closed connection and is lost. Other
//!   connections on the same link, including the one the client opens next, do not wait.

use gregor_core::ids::NodeId;
use gregor_core::map::{VecMap, VecSet};
use gregor_core::protocol::{Channel, CorrelationId, Message, channel_of};
use gregor_core::rng::Rng;
use gregor_core::time::{Duration, Instant};
use serde::{Deserialize, Serialize};

/// The armed `delay` faults, which both drivers keep: the next request of an API from a client
/// is held this long. A delay is disarmed by the message it holds, once that message is on its
/// way.
#[derive(Clone, Debug, Default)]
pub struct Delays(Vec<(NodeId, &'static str, Duration)>);

impl Delays {
    /// Arms a delay for `client`'s next `api` request.
    pub fn arm(&mut self, client: NodeId, api: &'static str, by: Duration) {
        self.0.push((client, api, by));
    }

    /// The delay armed for this message from `from`, with its place for [`Delays::disarm`].
    pub fn find(&self, from: NodeId, message: &Message) -> Option<(usize, Duration)> {
        if self.0.is_empty() || !message.is_request() {
            return None;
        }
        let api = message.api_name();
        self.0
            .iter()
            .position(|&(c, a, _)| c == from && a == api)
            .map(|i| (i, self.0[i].2))
    }

    /// Disarms the delay `find` returned.
    pub fn disarm(&mut self, i: usize) {
        self.0.remove(i);
    }

    /// Disarms every delay (the faulty phase is over).
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// Requests a server read from a connection its client had closed, as `(server, client,
/// correlation)`: the answer meets the closed connection and is lost. Both drivers keep them.
#[derive(Clone, Debug, Default)]
pub struct Orphans(VecSet<(NodeId, NodeId, CorrelationId)>);

impl Orphans {
    /// `server` read `request` from `client` on a closed connection.
    pub fn adopt(&mut self, server: NodeId, client: NodeId, request: &Message) {
        if let Some(c) = request.correlation() {
            self.0.insert((server, client, c));
        }
    }

    /// Forgets what `server` read: its process died, so it will never answer, and a request
    /// its next process reads with the same correlation id is a new one. (The madsim driver
    /// keeps these per process, so a restart starts it with none, as here.)
    pub fn forget_server(&mut self, server: NodeId) {
        self.0.retain(|(s, _, _)| *s != server);
    }

    /// Whether `answer`, from `server` to `client`, answers such a request: it is then lost,
    /// and forgotten.
    pub fn is_lost_answer(&mut self, server: NodeId, client: NodeId, answer: &Message) -> bool {
        !self.0.is_empty()
            && !answer.is_request()
            && answer
                .correlation()
                .is_some_and(|c| self.0.remove(&(server, client, c)))
    }
}

/// The network's random behaviour.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// The smallest one-way latency.
    pub latency_min: Duration,
    /// The largest one-way latency (uniform between the two).
    pub latency_max: Duration,
    /// The probability that a message is lost.
    pub loss: f64,
    /// The probability that a message is delivered twice.
    pub duplicate: f64,
    /// Whether messages on one link may overtake each other.
    pub reorder: bool,
}

impl Default for NetworkConfig {
    fn default() -> NetworkConfig {
        NetworkConfig {
            latency_min: Duration(1),
            latency_max: Duration(3),
            loss: 0.0,
            duplicate: 0.0,
            reorder: false,
        }
    }
}

/// What happens to a message that is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Dropped silently: its connection is broken (a cut link on the way).
    Dropped,
    /// Lost: its connection broke now; both ends must be told.
    Lost,
    /// Delivered at these times (twice when duplicated), on the connection of this epoch;
    /// `true` when it waits behind a delayed message and so survives its client closing the
    /// connection.
    Deliver(Vec<Instant>, u64, bool),
}

/// The state of the connection between two nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Connection {
    epoch: u64,
    broken: bool,
    /// Until when the connection stalls behind a delayed message.
    stalled_until: Instant,
    /// The last epoch its client closed while it was stalled: the late messages of that epoch
    /// still arrive (a connection that broke any other way takes its messages with it).
    closed_stalled: Option<u64>,
}

/// A connection: `(client, server, channel)`.
pub type Conn = (NodeId, NodeId, Channel);

/// The connection a message travels on. A request goes from the client; a response comes back
/// from the server; the channel tells a node's connections to the same peer apart.
pub fn connection_of(from: NodeId, to: NodeId, message: &Message) -> Conn {
    let channel = channel_of(from, to, message);
    if message.is_request() {
        (from, to, channel)
    } else {
        (to, from, channel)
    }
}

/// The network's state.
#[derive(Clone, Debug)]
pub struct Network {
    config: NetworkConfig,
    rng: Rng,
    cut: VecSet<(NodeId, NodeId)>,
    clogged: VecSet<(NodeId, NodeId)>,
    last_arrival: VecMap<(NodeId, NodeId), Instant>,
    connections: VecMap<Conn, Connection>,
}

impl Network {
    /// A healed network.
    pub fn new(config: NetworkConfig, rng: Rng) -> Network {
        Network {
            config,
            rng,
            cut: VecSet::new(),
            clogged: VecSet::new(),
            last_arrival: VecMap::new(),
            connections: VecMap::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// Draws a one-way latency.
    pub fn latency(&mut self) -> Duration {
        Duration(
            self.rng
                .between(self.config.latency_min.0, self.config.latency_max.0),
        )
    }

    /// Decides the fate of a message sent now from `from` to `to` on the connection `conn`.
    pub fn send(&mut self, now: Instant, from: NodeId, to: NodeId, conn: Conn) -> Fate {
        self.send_delayed(now, from, to, conn, Duration(0))
    }

    /// Like [`Network::send`], but a delivered message arrives `delay` late and its connection
    /// stalls until then (with no delay, it is `send`).
    pub fn send_delayed(
        &mut self,
        now: Instant,
        from: NodeId,
        to: NodeId,
        conn: Conn,
        delay: Duration,
    ) -> Fate {
        let state = self.connections.entry(conn).or_default();
        if state.broken {
            return Fate::Dropped;
        }
        if !self.cut.is_empty() && self.cut.contains(&(from, to)) {
            state.broken = true;
            return Fate::Dropped;
        }
        if self.rng.chance(self.config.loss) {
            state.broken = true;
            return Fate::Lost;
        }
        let epoch = state.epoch;
        // What the client sends stalls behind a delayed message (the answers, going the other
        // way, are another stream and do not wait).
        let mut stalled_until = if from == conn.0 {
            state.stalled_until
        } else {
            Instant::ZERO
        };
        let copies = if self.rng.chance(self.config.duplicate) {
            2
        } else {
            1
        };
        let mut times = Vec::with_capacity(copies);
        for _ in 0..copies {
            let mut at = now + self.latency();
            if !self.config.reorder {
                let last = self.last_arrival.entry((from, to)).or_insert(Instant::ZERO);
                at = at.max(*last);
                *last = at;
            }
            times.push(at);
        }
        // The link's FIFO order is kept without the delay: the delay belongs to this connection
        // alone, and only a delayed message looks its connection up again.
        if delay.0 > 0 && from == conn.0 {
            for at in &mut times {
                *at += delay;
            }
            stalled_until = stalled_until.max(times[times.len() - 1]);
            self.connections.entry(conn).or_default().stalled_until = stalled_until;
        }
        let late = stalled_until > now;
        if late {
            for at in &mut times {
                *at = (*at).max(stalled_until);
            }
        }
        Fate::Deliver(times, epoch, late)
    }

    /// Whether a message sent from `from` to `to` on `conn` in `epoch` may arrive now: the link
    /// is not cut and the connection is the same, unbroken one. A cut link breaks it. A `late`
    /// message (one that waited behind a delayed message) whose client has since closed the
    /// connection still arrives unless the link is cut: see [`Network::is_closed`].
    pub fn arrives(
        &mut self,
        from: NodeId,
        to: NodeId,
        conn: Conn,
        epoch: u64,
        late: bool,
    ) -> bool {
        let cut = !self.cut.is_empty() && self.cut.contains(&(from, to));
        let state = self.connections.entry(conn).or_default();
        if late && state.epoch != epoch {
            return !cut && state.closed_stalled == Some(epoch);
        }
        if cut {
            state.broken = true;
            return false;
        }
        !state.broken && state.epoch == epoch
    }

    /// Whether what the client of `conn` sent is still held behind a delayed message.
    pub fn is_stalled(&self, conn: Conn, now: Instant) -> bool {
        self.connections
            .get(&conn)
            .is_some_and(|s| s.stalled_until > now)
    }

    /// Whether the connection of `epoch` was closed by its client while stalled (it opened a
    /// newer one, and what it wrote to the old one is still on its way).
    pub fn is_closed(&self, conn: Conn, epoch: u64) -> bool {
        self.connections
            .get(&conn)
            .is_some_and(|s| s.epoch != epoch && s.closed_stalled == Some(epoch))
    }

    /// The client of `conn` closed it and will open a new one: what was in flight on the old
    /// one never arrives.
    pub fn reset(&mut self, conn: Conn) {
        let state = self.connections.entry(conn).or_default();
        if state.stalled_until > Instant::ZERO {
            state.closed_stalled = Some(state.epoch);
        }
        state.epoch += 1;
        state.broken = false;
        state.stalled_until = Instant::ZERO;
    }

    /// The server side of `conn` went away or closed it: nothing more crosses it until the
    /// client reconnects.
    pub fn break_connection(&mut self, conn: Conn) {
        self.connections.entry(conn).or_default().broken = true;
    }

    /// Replaces a broken connection by a new one (its client heard that it broke); a connection
    /// that is not broken is left alone.
    pub fn repair(&mut self, conn: Conn) {
        let state = self.connections.entry(conn).or_default();
        if state.broken {
            state.epoch += 1;
            state.broken = false;
            state.stalled_until = Instant::ZERO;
        }
    }

    /// The connections a node is part of.
    pub fn connections_of(&self, node: NodeId) -> Vec<Conn> {
        self.connections
            .keys()
            .filter(|(c, s, _)| *c == node || *s == node)
            .copied()
            .collect()
    }

    /// Whether the link from `from` to `to` is cut.
    pub fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        !self.cut.is_empty() && self.cut.contains(&(from, to))
    }

    /// Whether the link from `from` to `to` is clogged.
    pub fn is_clogged(&self, from: NodeId, to: NodeId) -> bool {
        !self.clogged.is_empty() && self.clogged.contains(&(from, to))
    }

    /// Cuts the link from `from` to `to`.
    pub fn cut(&mut self, from: NodeId, to: NodeId) {
        self.cut.insert((from, to));
    }

    /// Every cut link.
    pub fn cut_links(&self) -> &VecSet<(NodeId, NodeId)> {
        &self.cut
    }

    /// Every clogged link.
    pub fn clogged_links(&self) -> &VecSet<(NodeId, NodeId)> {
        &self.clogged
    }

    /// Restores every cut link.
    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Stops losing and duplicating messages (the liveness phase's healthy network); latency
    /// and reordering stay as configured.
    pub fn calm(&mut self) {
        self.config.loss = 0.0;
        self.config.duplicate = 0.0;
    }

    /// Clogs the link from `from` to `to`.
    pub fn clog(&mut self, from: NodeId, to: NodeId) {
        self.clogged.insert((from, to));
    }

    /// Unclogs the link from `from` to `to`.
    pub fn unclog(&mut self, from: NodeId, to: NodeId) {
        self.clogged.remove(&(from, to));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gregor_core::ids::BrokerId;

    fn b(i: u32) -> NodeId {
        NodeId::Broker(BrokerId(i))
    }

    /// An answer to a request read on a closed connection is lost once; a server that crashed
    /// before answering takes its orphans with it, so its next process's answers get through.
    #[test]
    fn orphans_are_lost_once_and_die_with_their_server() {
        use gregor_core::ids::ClientId;
        use gregor_core::protocol::{MetadataRequest, MetadataResponse};
        let client = NodeId::Client(ClientId(7));
        let request = |c| {
            Message::Metadata(MetadataRequest {
                correlation: c,
                topics: Vec::new(),
            })
        };
        let answer = |c| {
            Message::MetadataResponse(MetadataResponse {
                correlation: c,
                brokers: Vec::new(),
                topics: Vec::new(),
            })
        };
        let mut orphans = Orphans::default();
        orphans.adopt(b(1), client, &request(5));
        orphans.adopt(b(2), client, &request(5));
        assert!(
            !orphans.is_lost_answer(b(1), client, &request(5)),
            "a request"
        );
        assert!(!orphans.is_lost_answer(b(1), client, &answer(6)));
        assert!(orphans.is_lost_answer(b(1), client, &answer(5)));
        assert!(
            !orphans.is_lost_answer(b(1), client, &answer(5)),
            "lost once"
        );
        orphans.forget_server(b(2));
        assert!(!orphans.is_lost_answer(b(2), client, &answer(5)));
    }

    #[test]
    fn links_are_fifo_unless_reordering_is_on() {
        let config = NetworkConfig {
            latency_min: Duration(1),
            latency_max: Duration(50),
            ..NetworkConfig::default()
        };
        let mut net = Network::new(config, Rng::new(1));
        let mut last = Instant::ZERO;
        for t in 0..200 {
            let Fate::Deliver(times, _, _) =
                net.send(Instant(t), b(1), b(2), (b(1), b(2), Channel::Replication))
            else {
                panic!()
            };
            assert!(times[0] >= last, "a message overtook an earlier one");
            last = times[0];
        }
        let config = NetworkConfig {
            latency_min: Duration(1),
            latency_max: Duration(50),
            reorder: true,
            ..NetworkConfig::default()
        };
        let mut net = Network::new(config, Rng::new(1));
        let arrivals: Vec<Instant> = (0..200)
            .map(
                |t| match net.send(Instant(t), b(1), b(2), (b(1), b(2), Channel::Replication)) {
                    Fate::Deliver(times, ..) => times[0],
                    _ => panic!(),
                },
            )
            .collect();
        assert!(
            arrivals.windows(2).any(|w| w[1] < w[0]),
            "reordering never happened"
        );
    }

    #[test]
    fn a_cut_breaks_the_connection_until_its_client_reconnects() {
        let mut net = Network::new(NetworkConfig::default(), Rng::new(1));
        let conn = (b(1), b(2), Channel::Replication);
        let Fate::Deliver(_, old, _) = net.send(Instant(0), b(1), b(2), conn) else {
            panic!()
        };
        net.cut(b(1), b(2));
        assert_eq!(net.send(Instant(1), b(1), b(2), conn), Fate::Dropped);
        assert!(
            !net.arrives(b(1), b(2), conn, old, false),
            "what was on the wire is caught by the cut"
        );
        net.heal();
        // Healing the link does not revive the broken connection, in either direction: a
        // message sent after the heal on the old connection would overtake the lost one.
        assert_eq!(net.send(Instant(2), b(2), b(1), conn), Fate::Dropped);
        assert!(
            matches!(
                net.send(Instant(2), b(2), b(1), (b(2), b(1), Channel::Replication)),
                Fate::Deliver(..)
            ),
            "broker 2's own connection to broker 1 is another connection"
        );
        net.reset(conn);
        assert!(
            matches!(net.send(Instant(3), b(1), b(2), conn), Fate::Deliver(_, e, _) if e == old + 1)
        );
        assert!(
            !net.arrives(b(1), b(2), conn, old, false),
            "the old connection's messages never arrive"
        );
    }

    #[test]
    fn a_delayed_message_stalls_its_connection_and_outlives_its_close() {
        let mut net = Network::new(NetworkConfig::default(), Rng::new(1));
        let conn = (b(1), b(2), Channel::Client);
        let Fate::Deliver(delayed, old, true) =
            net.send_delayed(Instant(0), b(1), b(2), conn, Duration(1000))
        else {
            panic!("a delayed message is late")
        };
        assert!(delayed[0] >= Instant(1001));
        let Fate::Deliver(behind, _, true) = net.send(Instant(5), b(1), b(2), conn) else {
            panic!("what follows on the connection waits behind it")
        };
        assert!(
            behind[0] >= delayed[0],
            "TCP delivers nothing past a missing segment"
        );
        // The client gives up and opens a new connection: that one does not wait, and what the
        // old one carried still arrives (the kernel keeps sending it after the close).
        net.reset(conn);
        let Fate::Deliver(fresh, new, false) = net.send(Instant(10), b(1), b(2), conn) else {
            panic!("the new connection is not stalled")
        };
        assert!(fresh[0] < Instant(100));
        assert!(net.arrives(b(1), b(2), conn, new, false));
        assert!(net.arrives(b(1), b(2), conn, old, true));
        assert!(net.is_closed(conn, old) && !net.is_closed(conn, new));
        assert!(
            !net.arrives(b(1), b(2), conn, old, false),
            "an ordinary message of the old connection is dropped"
        );
        net.cut(b(1), b(2));
        assert!(
            !net.arrives(b(1), b(2), conn, old, true),
            "a cut link stops a late message too"
        );
        // A stalled connection that breaks (a reset from the other end, a lost message) takes
        // its late messages with it: only a close by its client lets them through.
        net.heal();
        let other = (b(3), b(2), Channel::Client);
        let Fate::Deliver(_, broken, true) =
            net.send_delayed(Instant(20), b(3), b(2), other, Duration(1000))
        else {
            panic!("late")
        };
        net.break_connection(other);
        net.repair(other);
        assert!(!net.arrives(b(3), b(2), other, broken, true));
        assert!(!net.is_closed(other, broken));
    }

    #[test]
    fn loss_and_duplication_follow_their_probabilities() {
        let config = NetworkConfig {
            loss: 0.25,
            duplicate: 0.1,
            ..NetworkConfig::default()
        };
        let mut net = Network::new(config, Rng::new(7));
        let (mut lost, mut doubled) = (0, 0);
        for t in 0..4000 {
            match net.send(Instant(t), b(1), b(2), (b(1), b(2), Channel::Replication)) {
                Fate::Lost => {
                    lost += 1;
                    net.reset((b(1), b(2), Channel::Replication));
                }
                Fate::Deliver(times, ..) if times.len() == 2 => doubled += 1,
                _ => {}
            }
        }
        assert!((850..1150).contains(&lost), "lost {lost} of 4000");
        assert!((200..400).contains(&doubled), "doubled {doubled} of 3000");
    }
}
