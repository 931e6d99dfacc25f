//! A client's view of the cluster: the brokers it may talk to and, per partition, the leader
//! and leader epoch (`org.apache.kafka.clients.Metadata`).
//!
//! Responses with an older leader epoch than one already seen are ignored for that partition,
//! as Kafka does, so a stale broker cannot send a client back to a deposed leader.

use crate::ids::{BrokerId, LeaderEpoch, TopicName, TopicPartition};
use crate::map::VecMap;
use crate::protocol::{MetadataResponse, PartitionMetadata};
use crate::rng::Rng;
use crate::time::{Duration, Instant};

/// What a client knows of its topics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientMetadata {
    /// Brokers to talk to: the bootstrap list until the first response, then the live brokers
    /// the cluster reports.
    pub brokers: Vec<BrokerId>,
    /// Partitions of each known topic.
    pub topics: VecMap<TopicName, Vec<PartitionMetadata>>,
    /// When the last successful response arrived.
    pub last_refresh: Option<Instant>,
    /// Whether an update was requested (after an error).
    pub update_requested: bool,
    /// Responses that brought no newer leader epoch in a row (they back the next request off).
    pub equivalent_responses: u32,
    /// Failed metadata requests in a row.
    pub failed_requests: u32,
    /// Earliest time of the next request after a failure or an equivalent response.
    pub backoff_until: Option<Instant>,
}

impl ClientMetadata {
    /// A view that knows only the bootstrap brokers.
    pub fn new(bootstrap: Vec<BrokerId>) -> ClientMetadata {
        ClientMetadata {
            brokers: bootstrap,
            ..ClientMetadata::default()
        }
    }

    /// The partitions of `topic`, if known.
    pub fn partitions(&self, topic: &TopicName) -> Option<&[PartitionMetadata]> {
        self.topics.get(topic).map(Vec::as_slice)
    }

    /// The leader and epoch of a partition, if known and led.
    pub fn leader(&self, tp: &TopicPartition) -> Option<(BrokerId, LeaderEpoch)> {
        let p = self.topics.get(&tp.topic)?.get(tp.partition as usize)?;
        Some((p.leader?, p.leader_epoch))
    }

    /// The leader epoch the client knows for a partition.
    pub fn leader_epoch(&self, tp: &TopicPartition) -> Option<LeaderEpoch> {
        Some(
            self.topics
                .get(&tp.topic)?
                .get(tp.partition as usize)?
                .leader_epoch,
        )
    }

    /// When the next metadata request may go: at once if an update is requested (after the
    /// backoff), otherwise when `metadata.max.age.ms` has passed (`Metadata.timeToNextUpdate`).
    pub fn next_update(&self, max_age: Duration) -> Instant {
        let due = if self.update_requested || self.last_refresh.is_none() {
            Instant::ZERO
        } else {
            self.last_refresh.unwrap_or_default() + max_age
        };
        due.max(self.backoff_until.unwrap_or_default())
    }

    /// Merges a response. Returns whether any partition's leader epoch moved forward.
    pub fn update(
        &mut self,
        now: Instant,
        response: &MetadataResponse,
        backoff: (Duration, Duration),
        rng: &mut Rng,
    ) -> bool {
        let mut newer = false;
        for t in &response.topics {
            if t.error.is_some() {
                continue;
            }
            let known = self.topics.entry(t.name.clone()).or_default();
            if known.len() != t.partitions.len() {
                *known = t.partitions.clone();
                newer = true;
                continue;
            }
            for (k, p) in known.iter_mut().zip(&t.partitions) {
                if p.leader_epoch > k.leader_epoch || (p.leader_epoch == k.leader_epoch && p != k) {
                    newer |= p.leader_epoch > k.leader_epoch || p.leader != k.leader;
                    *k = p.clone();
                }
            }
        }
        if !response.brokers.is_empty() {
            self.brokers = response.brokers.clone();
        }
        self.last_refresh = Some(now);
        // A topic the client asked for and the broker does not know yet (it may not have replayed
        // the topic's creation) is asked for again, after the backoff below, as `waitOnMetadata`
        // does; the client does not wait for `metadata.max.age.ms`. So is a partition without a
        // leader: Kafka's broker reports it as LEADER_NOT_AVAILABLE, an `InvalidMetadataException`
        // on which `Metadata.handleMetadataResponse` calls `requestUpdate`. Without it, a client
        // that last heard "no leader" would wait five minutes to learn of the election.
        self.update_requested = response
            .topics
            .iter()
            .any(|t| t.error.is_some() || t.partitions.iter().any(|p| p.leader.is_none()));
        self.failed_requests = 0;
        // Equivalent responses back the next one off, so a client waiting for a new leader does
        // not hammer the brokers (KIP-580's `equivalentResponseCount`).
        if newer {
            self.equivalent_responses = 0;
            self.backoff_until = None;
        } else {
            self.equivalent_responses += 1;
            self.backoff_until = Some(
                now + super::exponential_backoff(
                    backoff.0,
                    backoff.1,
                    self.equivalent_responses - 1,
                    20,
                    rng,
                ),
            );
        }
        newer
    }

    /// A metadata request failed: back off exponentially.
    pub fn failed(&mut self, now: Instant, backoff: (Duration, Duration), rng: &mut Rng) {
        self.failed_requests += 1;
        self.backoff_until = Some(
            now + super::exponential_backoff(
                backoff.0,
                backoff.1,
                self.failed_requests - 1,
                20,
                rng,
            ),
        );
    }

    /// `leastLoadedNode`: from a random starting point, the first broker with nothing in flight,
    /// else the one with the fewest requests in flight, skipping brokers in reconnect backoff.
    pub fn least_loaded(
        &self,
        in_flight: impl Fn(BrokerId) -> usize,
        unavailable: impl Fn(BrokerId) -> bool,
        rng: &mut Rng,
    ) -> Option<BrokerId> {
        let n = self.brokers.len();
        if n == 0 {
            return None;
        }
        let offset = rng.below(n as u64) as usize;
        let mut best: Option<(usize, BrokerId)> = None;
        for i in 0..n {
            let b = self.brokers[(offset + i) % n];
            if unavailable(b) {
                continue;
            }
            let load = in_flight(b);
            if load == 0 {
                return Some(b);
            }
            if best.is_none_or(|(l, _)| load < l) {
                best = Some((load, b));
            }
        }
        best.map(|(_, b)| b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::ids::LeaderEpoch;
    use crate::protocol::TopicMetadata;

    fn response(error: Option<ErrorCode>, epoch: u32) -> MetadataResponse {
        MetadataResponse {
            correlation: 1,
            brokers: vec![BrokerId(1), BrokerId(2)],
            topics: vec![TopicMetadata {
                name: TopicName::from("t"),
                error,
                partitions: if error.is_some() {
                    Vec::new()
                } else {
                    vec![PartitionMetadata {
                        partition: 0,
                        leader: Some(BrokerId(1)),
                        leader_epoch: LeaderEpoch(epoch),
                        replicas: vec![BrokerId(1)],
                        isr: vec![BrokerId(1)],
                    }]
                },
            }],
        }
    }

    const BACKOFF: (Duration, Duration) = (Duration(100), Duration(1000));

    #[test]
    fn an_unknown_topic_is_asked_for_again_soon_not_after_max_age() {
        let mut m = ClientMetadata::new(vec![BrokerId(1)]);
        let mut rng = Rng::new(1);
        m.update(
            Instant(1000),
            &response(Some(ErrorCode::UnknownTopicOrPartition), 0),
            BACKOFF,
            &mut rng,
        );
        let next = m.next_update(Duration(300_000));
        assert!(
            next > Instant(1000) && next <= Instant(1200),
            "asked again at {next}"
        );
        m.update(next, &response(None, 0), BACKOFF, &mut rng);
        assert_eq!(
            m.leader(&TopicPartition::new("t", 0)),
            Some((BrokerId(1), LeaderEpoch(0)))
        );
        assert!(m.next_update(Duration(300_000)) >= next + Duration(300_000));
    }

    #[test]
    fn an_older_leader_epoch_never_replaces_a_newer_one() {
        let mut m = ClientMetadata::new(vec![BrokerId(1)]);
        let mut rng = Rng::new(1);
        m.update(Instant(0), &response(None, 5), BACKOFF, &mut rng);
        let mut stale = response(None, 3);
        stale.topics[0].partitions[0].leader = Some(BrokerId(2));
        m.update(Instant(10), &stale, BACKOFF, &mut rng);
        assert_eq!(
            m.leader(&TopicPartition::new("t", 0)),
            Some((BrokerId(1), LeaderEpoch(5)))
        );
    }
}
