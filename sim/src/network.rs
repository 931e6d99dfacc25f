//! The simulated network: latency drawn from a seeded distribution, loss, duplication,
//! reordering, cut links (partitions of any shape, symmetric or not) and clogged links.
//!
//! Links are directed. A cut link drops what crosses it, checked when a message is sent and again
//! when it would arrive, so a partition also catches messages already on the wire. A clogged link
//! holds messages and lets them through, in order, when it is unclogged (a congested TCP
//! connection). Without `reorder`, each link is FIFO like a TCP connection: a message never
//! overtakes an earlier one on the same link.

use gregor_core::ids::NodeId;
use gregor_core::rng::Rng;
use gregor_core::time::{Duration, Instant};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

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
    /// Dropped (a cut link, or loss).
    Dropped,
    /// Delivered at these times (twice when duplicated).
    Deliver(Vec<Instant>),
}

/// The network's state.
#[derive(Clone, Debug)]
pub struct Network {
    config: NetworkConfig,
    rng: Rng,
    cut: BTreeSet<(NodeId, NodeId)>,
    clogged: BTreeSet<(NodeId, NodeId)>,
    last_arrival: BTreeMap<(NodeId, NodeId), Instant>,
}

impl Network {
    /// A healed network.
    pub fn new(config: NetworkConfig, rng: Rng) -> Network {
        Network {
            config,
            rng,
            cut: BTreeSet::new(),
            clogged: BTreeSet::new(),
            last_arrival: BTreeMap::new(),
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

    /// Decides the fate of a message sent now from `from` to `to`.
    pub fn send(&mut self, now: Instant, from: NodeId, to: NodeId) -> Fate {
        if self.is_cut(from, to) || self.rng.chance(self.config.loss) {
            return Fate::Dropped;
        }
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
        Fate::Deliver(times)
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
    pub fn cut_links(&self) -> &BTreeSet<(NodeId, NodeId)> {
        &self.cut
    }

    /// Every clogged link.
    pub fn clogged_links(&self) -> &BTreeSet<(NodeId, NodeId)> {
        &self.clogged
    }

    /// Restores every cut link.
    pub fn heal(&mut self) {
        self.cut.clear();
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
            let Fate::Deliver(times) = net.send(Instant(t), b(1), b(2)) else {
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
            .map(|t| match net.send(Instant(t), b(1), b(2)) {
                Fate::Deliver(times) => times[0],
                Fate::Dropped => panic!(),
            })
            .collect();
        assert!(
            arrivals.windows(2).any(|w| w[1] < w[0]),
            "reordering never happened"
        );
    }

    #[test]
    fn cut_links_are_directed_and_heal_restores_them() {
        let mut net = Network::new(NetworkConfig::default(), Rng::new(1));
        net.cut(b(1), b(2));
        assert_eq!(net.send(Instant(0), b(1), b(2)), Fate::Dropped);
        assert!(matches!(net.send(Instant(0), b(2), b(1)), Fate::Deliver(_)));
        net.heal();
        assert!(matches!(net.send(Instant(0), b(1), b(2)), Fate::Deliver(_)));
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
            match net.send(Instant(t), b(1), b(2)) {
                Fate::Dropped => lost += 1,
                Fate::Deliver(times) if times.len() == 2 => doubled += 1,
                Fate::Deliver(_) => {}
            }
        }
        assert!((850..1150).contains(&lost), "lost {lost} of 4000");
        assert!((200..400).contains(&doubled), "doubled {doubled} of 3000");
    }
}
