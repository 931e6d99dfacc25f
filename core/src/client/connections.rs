//! A client's connections to brokers, as Kafka's `NetworkClient` keeps them
//! (`ClusterConnectionStates`): a broker is *ready* only once its connection is set up, which
//! Kafka does with an `ApiVersions` exchange on every new connection. Requests go only to ready
//! brokers (`Sender.sendProducerData` drops nodes that are not `client.ready`), so batches for a
//! dead leader wait in the accumulator instead of being thrown at it, and no retry is spent.
//!
//! A failed or broken connection backs off exponentially before the next attempt
//! (`reconnect.backoff.ms` 50 to `reconnect.backoff.max.ms` 1000, 20% jitter); a setup that gets
//! no answer gives up after `socket.connection.setup.timeout.ms` (10 s).

use crate::client::exponential_backoff;
use crate::ids::BrokerId;
use crate::map::VecMap;
use crate::protocol::CorrelationId;
use crate::rng::Rng;
use crate::time::{Duration, Instant};

/// `reconnect.backoff.ms`.
pub const RECONNECT_BACKOFF: Duration = Duration(50);
/// `reconnect.backoff.max.ms`.
pub const RECONNECT_BACKOFF_MAX: Duration = Duration(1000);
/// `socket.connection.setup.timeout.ms`.
pub const CONNECTION_SETUP_TIMEOUT: Duration = Duration(10_000);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Connecting {
        correlation: CorrelationId,
        deadline: Instant,
    },
    Ready,
    Backoff {
        until: Instant,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Connection {
    state: State,
    /// Failed attempts in a row (reset once a connection is ready).
    failures: u32,
}

/// The connection states of one client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Connections {
    brokers: VecMap<BrokerId, Connection>,
}

impl Connections {
    /// Whether requests may go to `broker` now.
    pub fn is_ready(&self, broker: BrokerId) -> bool {
        self.brokers
            .get(&broker)
            .is_some_and(|c| c.state == State::Ready)
    }

    /// Whether a connection to `broker` may be started now: none is being set up and no backoff
    /// is running.
    pub fn can_connect(&self, broker: BrokerId, now: Instant) -> bool {
        match self.brokers.get(&broker).map(|c| c.state) {
            None => true,
            Some(State::Ready | State::Connecting { .. }) => false,
            Some(State::Backoff { until }) => until <= now,
        }
    }

    /// Whether `broker` is being connected to.
    pub fn is_connecting(&self, broker: BrokerId) -> bool {
        matches!(
            self.brokers.get(&broker).map(|c| c.state),
            Some(State::Connecting { .. })
        )
    }

    /// What `leastLoadedNode` adds to a broker's in-flight count: nothing when the connection
    /// is ready, more while it is being set up, most when there is none.
    pub fn load_penalty(&self, broker: BrokerId) -> usize {
        if self.is_ready(broker) {
            0
        } else if self.is_connecting(broker) {
            1000
        } else {
            2000
        }
    }

    /// Whether `broker` is in reconnect backoff at `now`.
    pub fn is_backing_off(&self, broker: BrokerId, now: Instant) -> bool {
        matches!(self.brokers.get(&broker).map(|c| c.state), Some(State::Backoff { until }) if until > now)
    }

    /// Starts setting up a connection; the caller sends `ApiVersions` with `correlation`.
    pub fn connect(&mut self, broker: BrokerId, now: Instant, correlation: CorrelationId) {
        let failures = self.brokers.get(&broker).map_or(0, |c| c.failures);
        self.brokers.insert(
            broker,
            Connection {
                state: State::Connecting {
                    correlation,
                    deadline: now + CONNECTION_SETUP_TIMEOUT,
                },
                failures,
            },
        );
    }

    /// The `ApiVersions` answer with `correlation` arrived: that broker is ready.
    pub fn connected(&mut self, correlation: CorrelationId) -> Option<BrokerId> {
        let (&broker, c) = self
            .brokers
            .iter_mut()
            .find(|(_, c)| matches!(c.state, State::Connecting { correlation: x, .. } if x == correlation))?;
        *c = Connection {
            state: State::Ready,
            failures: 0,
        };
        Some(broker)
    }

    /// The connection to `broker` failed or broke: back off before the next attempt.
    pub fn disconnected(&mut self, broker: BrokerId, now: Instant, rng: &mut Rng) {
        let failures = self.brokers.get(&broker).map_or(0, |c| c.failures);
        let wait = exponential_backoff(RECONNECT_BACKOFF, RECONNECT_BACKOFF_MAX, failures, 20, rng);
        self.brokers.insert(
            broker,
            Connection {
                state: State::Backoff { until: now + wait },
                failures: failures + 1,
            },
        );
    }

    /// Connection setups that got no answer in time; they count as failed (the caller closes
    /// them).
    pub fn expired(&self, now: Instant) -> Vec<BrokerId> {
        self.brokers
            .iter()
            .filter(
                |(_, c)| matches!(c.state, State::Connecting { deadline, .. } if deadline <= now),
            )
            .map(|(&b, _)| b)
            .collect()
    }

    /// Every deadline the connections have: setups timing out, backoffs ending.
    pub fn deadlines(&self) -> impl Iterator<Item = Instant> + '_ {
        self.brokers.values().filter_map(|c| match c.state {
            State::Connecting { deadline, .. } => Some(deadline),
            State::Backoff { until } => Some(until),
            State::Ready => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broker_is_ready_only_after_its_setup_and_backs_off_after_failures() {
        let mut c = Connections::default();
        let mut rng = Rng::new(1);
        let b = BrokerId(1);
        assert!(!c.is_ready(b) && c.can_connect(b, Instant(0)));
        c.connect(b, Instant(0), 7);
        assert!(!c.is_ready(b) && !c.can_connect(b, Instant(0)));
        assert_eq!(c.connected(8), None, "another answer does not count");
        assert_eq!(c.connected(7), Some(b));
        assert!(c.is_ready(b));
        // Failures back off exponentially: about 50, 100, 200 ms ... up to 1 s.
        let mut waits = Vec::new();
        let mut now = Instant(1000);
        for attempt in 0..8 {
            c.disconnected(b, now, &mut rng);
            let until = c.deadlines().next().unwrap();
            waits.push((until - now).0);
            assert!(!c.can_connect(b, now));
            now = until;
            assert!(c.can_connect(b, now));
            c.connect(b, now, 100 + attempt);
        }
        assert!((40..=60).contains(&waits[0]), "{waits:?}");
        assert!((80..=120).contains(&waits[1]), "{waits:?}");
        assert!(waits[7] <= 1200 && waits[7] >= 800, "{waits:?}");
        // A setup that gets no answer expires.
        assert_eq!(c.expired(now + CONNECTION_SETUP_TIMEOUT), vec![b]);
    }
}
