//! What a power loss leaves behind, read from a run's log, so that the checks can tell the
//! hazards Kafka really has from model bugs, record by record.
//!
//! * **Records a power loss took.** A crash with power loss keeps only what was flushed
//!   ([`LostRecords`]). A leader may still count such a record as replicated, from the follower's
//!   fetches before the power loss, and commit it; if the follower is then the last replica of
//!   the ISR, it is elected without it (KAFKA.md 3.8, eligible leader replicas off).
//! * **Stale leads.** A broker that restarts replays its metadata and, once it has caught up,
//!   applies it (`BrokerMetadataPublisher`) before it registers again, so it becomes the leader
//!   of the partitions the controller still says it leads, in the epoch it led before. After a
//!   power loss its log of such a partition is shorter than what it wrote in that epoch; its
//!   group coordinator writes to it (`CoordinatorPartitionWriter.append`, acks=1) when the
//!   sessions of the group's members expire, since no member can reach a broker that has not
//!   registered. These records take offsets that the other replicas hold other records of the
//!   same epoch at: the logs fork, and leader epochs cannot tell, because one leader wrote both.
//!   Kafka's followers then either copy on past the fork or, where the batches are cut
//!   differently, fail the partition (`UnexpectedAppendOffsetException`,
//!   `AbstractFetcherThread.markPartitionFailed`).
//!
//! A fork is attributed only where both records were written in an epoch that a broker led
//! again after a power loss took records of that partition from it, at an offset at or after the
//! one its log came back with.

use crate::cluster::{Logged, LostRecords, WorldEvent};
use gregor_core::bytes::Bytes;
use gregor_core::ids::{BrokerId, LeaderEpoch, NodeId, Offset, TopicPartition};
use gregor_core::map::{VecMap, VecSet};
use gregor_core::node::Event;
use gregor_core::time::Instant;

/// A broker leading again, after a power loss, an epoch it had led before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaleLead {
    /// The broker.
    pub broker: BrokerId,
    /// The partition.
    pub topic_partition: TopicPartition,
    /// The epoch it led again.
    pub epoch: LeaderEpoch,
    /// Its log end offset when it began leading again: what it writes from here on takes
    /// offsets it had written before.
    pub from: Offset,
    /// When the power loss was.
    pub power_loss_at: Instant,
    /// When it began leading again.
    pub at: Instant,
}

impl StaleLead {
    /// The hazard in words.
    pub fn describe(&self) -> String {
        format!(
            "broker {} lost power at {} and came back leading {} in epoch {} again from offset {} (it had led that epoch before, and the controller had not fenced it yet), so that epoch holds two different records at the same offsets",
            self.broker, self.power_loss_at, self.topic_partition, self.epoch, self.from
        )
    }
}

/// A power loss as the log tells it.
#[derive(Clone, Debug, PartialEq)]
struct PowerLoss {
    at: Instant,
    lost: LostRecords,
}

/// The power losses of a run and what they left, absorbed from its log as it grows.
#[derive(Clone, Debug, Default)]
pub struct ForkWatch {
    seen: usize,
    /// The epochs each broker began leading, per partition.
    led: VecMap<(BrokerId, TopicPartition), VecSet<LeaderEpoch>>,
    /// For a broker that lost records of a partition to a power loss: the epochs it had led
    /// until then, and when the power went.
    stale_epochs: VecMap<(BrokerId, TopicPartition), (VecSet<LeaderEpoch>, Instant)>,
    power_losses: VecMap<(BrokerId, TopicPartition), Vec<PowerLoss>>,
    stale_leads: Vec<StaleLead>,
    /// The last failed fetch of each follower and partition: its log end offset and the epoch of
    /// its last record.
    failed_fetches: VecMap<(BrokerId, TopicPartition), (Offset, Option<LeaderEpoch>)>,
}

impl ForkWatch {
    /// A watch that has seen nothing.
    pub fn new() -> ForkWatch {
        ForkWatch::default()
    }

    /// Reads the entries of `log` not read yet (the same log, grown).
    pub fn absorb(&mut self, log: &[Logged]) {
        for entry in &log[self.seen.min(log.len())..] {
            let NodeId::Broker(b) = entry.node else {
                continue;
            };
            match &entry.event {
                WorldEvent::Crashed {
                    power_loss: true,
                    lost,
                } => {
                    for l in lost {
                        let key = (b, l.topic_partition.clone());
                        let led = self.led.get(&key).cloned().unwrap_or_default();
                        self.stale_epochs.insert(key.clone(), (led, entry.time));
                        self.power_losses.entry(key).or_default().push(PowerLoss {
                            at: entry.time,
                            lost: l.clone(),
                        });
                    }
                }
                WorldEvent::Node(Event::BecameLeader {
                    topic_partition,
                    leader_epoch,
                    log_end_offset,
                    ..
                }) => {
                    let key = (b, topic_partition.clone());
                    if let Some((epochs, power_loss_at)) = self.stale_epochs.get(&key)
                        && epochs.contains(leader_epoch)
                    {
                        self.stale_leads.push(StaleLead {
                            broker: b,
                            topic_partition: topic_partition.clone(),
                            epoch: *leader_epoch,
                            from: *log_end_offset,
                            power_loss_at: *power_loss_at,
                            at: entry.time,
                        });
                    }
                    self.led.entry(key).or_default().insert(*leader_epoch);
                }
                WorldEvent::Node(Event::ReplicaFetchFailed {
                    topic_partition,
                    log_end_offset,
                    last_fetched_epoch,
                    ..
                }) => {
                    self.failed_fetches.insert(
                        (b, topic_partition.clone()),
                        (*log_end_offset, *last_fetched_epoch),
                    );
                }
                _ => {}
            }
        }
        self.seen = log.len();
    }

    /// The stale leads seen so far.
    pub fn stale_leads(&self) -> &[StaleLead] {
        &self.stale_leads
    }

    /// Why two replicas of `tp` may hold different records at `offset`, both written in
    /// `epoch`: a broker led that epoch again after a power loss, from that offset or below.
    pub fn explain_fork(
        &self,
        tp: &TopicPartition,
        offset: Offset,
        epoch: LeaderEpoch,
    ) -> Option<&StaleLead> {
        self.stale_leads
            .iter()
            .find(|s| &s.topic_partition == tp && s.epoch == epoch && s.from <= offset)
    }

    /// Why a follower whose log ends at `log_end_offset`, its last record written in
    /// `last_epoch`, could not append the leader's batch holding that offset: the batch starts
    /// below it, so the logs hold differently cut batches there, which a stale lead of that
    /// epoch from below that offset explains.
    pub fn explain_failed_fetch(
        &self,
        tp: &TopicPartition,
        log_end_offset: Offset,
        last_epoch: Option<LeaderEpoch>,
    ) -> Option<&StaleLead> {
        self.stale_leads.iter().find(|s| {
            &s.topic_partition == tp && Some(s.epoch) == last_epoch && s.from < log_end_offset
        })
    }

    /// Why `broker`'s fetcher failed `tp` the last time it did, if a stale lead explains it.
    pub fn explain_failure(&self, broker: BrokerId, tp: &TopicPartition) -> Option<&StaleLead> {
        let &(leo, epoch) = self.failed_fetches.get(&(broker, tp.clone()))?;
        self.explain_failed_fetch(tp, leo, epoch)
    }

    /// When a power loss took from `broker` exactly this record (`value`, written in `epoch`) at
    /// `offset` of `tp`, if one did.
    pub fn taken_by_power_loss(
        &self,
        broker: BrokerId,
        tp: &TopicPartition,
        offset: Offset,
        value: Option<&Bytes>,
        epoch: LeaderEpoch,
    ) -> Option<Instant> {
        self.power_losses
            .get(&(broker, tp.clone()))?
            .iter()
            .find(|p| {
                p.lost
                    .records
                    .iter()
                    .any(|(o, v, e)| *o == offset && v.as_ref() == value && *e == epoch)
            })
            .map(|p| p.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp() -> TopicPartition {
        TopicPartition::new("__consumer_offsets", 1)
    }

    fn at(ms: u64, node: NodeId, event: WorldEvent) -> Logged {
        Logged {
            time: Instant(ms),
            node,
            event,
        }
    }

    fn leads(ms: u64, b: u32, epoch: u32, from: u64) -> Logged {
        at(
            ms,
            NodeId::Broker(BrokerId(b)),
            WorldEvent::Node(Event::BecameLeader {
                topic_partition: tp(),
                leader_epoch: LeaderEpoch(epoch),
                log_end_offset: Offset(from),
                high_watermark: Offset(0),
            }),
        )
    }

    fn power_loss(ms: u64, b: u32, from: u64, lost: &[&str]) -> Logged {
        at(
            ms,
            NodeId::Broker(BrokerId(b)),
            WorldEvent::Crashed {
                power_loss: true,
                lost: vec![LostRecords {
                    topic_partition: tp(),
                    from: Offset(from),
                    records: lost
                        .iter()
                        .zip(from..)
                        .map(|(v, o)| (Offset(o), Some(Bytes::from(*v)), LeaderEpoch(0)))
                        .collect(),
                }],
            },
        )
    }

    #[test]
    fn leading_an_epoch_again_after_a_power_loss_is_a_stale_lead() {
        let log = vec![
            leads(1, 2, 0, 0),
            power_loss(10, 2, 29, &["a", "b"]),
            leads(20, 2, 0, 29),
        ];
        let mut w = ForkWatch::new();
        w.absorb(&log);
        let s = w
            .explain_fork(&tp(), Offset(30), LeaderEpoch(0))
            .expect("the fork at 30 is explained");
        assert_eq!(
            (s.broker, s.from, s.power_loss_at),
            (BrokerId(2), Offset(29), Instant(10))
        );
        assert!(
            w.explain_fork(&tp(), Offset(28), LeaderEpoch(0)).is_none(),
            "below the offset the log came back with, nothing was written twice"
        );
        assert!(
            w.explain_fork(&tp(), Offset(30), LeaderEpoch(1)).is_none(),
            "another epoch had another leader"
        );
        assert!(
            w.explain_failed_fetch(&tp(), Offset(31), Some(LeaderEpoch(0)))
                .is_some()
        );
        assert_eq!(
            w.taken_by_power_loss(
                BrokerId(2),
                &tp(),
                Offset(30),
                Some(&Bytes::from("b")),
                LeaderEpoch(0)
            ),
            Some(Instant(10))
        );
        assert_eq!(
            w.taken_by_power_loss(
                BrokerId(2),
                &tp(),
                Offset(30),
                Some(&Bytes::from("a")),
                LeaderEpoch(0)
            ),
            None,
            "another record was at that offset"
        );
    }

    /// Offsets without a record (a transaction marker) leave gaps: the records after them are
    /// found at their own offsets.
    #[test]
    fn records_a_power_loss_took_are_found_by_their_offsets() {
        let mut lost = power_loss(10, 2, 13, &["x", "p1-41", "p1-44"]);
        if let WorldEvent::Crashed { lost, .. } = &mut lost.event {
            // Offsets 13 and 14 were markers: the records are at 15 and 16.
            lost[0].records.remove(0);
            for (i, r) in lost[0].records.iter_mut().enumerate() {
                r.0 = Offset(15 + i as u64);
            }
        }
        let mut w = ForkWatch::new();
        w.absorb(&[leads(1, 2, 0, 0), lost]);
        let taken = |o: u64, v: &str| {
            w.taken_by_power_loss(
                BrokerId(2),
                &tp(),
                Offset(o),
                Some(&Bytes::from(v)),
                LeaderEpoch(0),
            )
        };
        assert_eq!(taken(15, "p1-41"), Some(Instant(10)));
        assert_eq!(taken(16, "p1-44"), Some(Instant(10)));
        assert_eq!(taken(13, "p1-41"), None, "a marker was at 13");
        assert_eq!(taken(17, "p1-44"), None, "nothing was lost at 17");
    }

    #[test]
    fn a_new_epoch_after_a_power_loss_or_a_lead_without_one_is_not_stale() {
        let log = vec![
            leads(1, 2, 0, 0),
            leads(5, 3, 1, 40),
            power_loss(10, 2, 29, &["a"]),
            leads(20, 2, 2, 29),
            leads(30, 3, 1, 40),
        ];
        let mut w = ForkWatch::new();
        w.absorb(&log);
        assert!(w.stale_leads().is_empty(), "{:?}", w.stale_leads());
    }
}
