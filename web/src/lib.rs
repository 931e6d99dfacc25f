//! The classroom's view of a cluster: what a learner sees, computed from a stepped World.
//!
//! The World knows nothing of the browser (yew's game-of-life pattern): the classroom holds a
//! World, steps it, and draws [`ClusterView`]. Keeping the view a pure function of the World
//! lets it be tested natively; the yew front end and its canvas charts build on it.

use gregor_core::ids::{BrokerId, NodeId, TopicPartition};
use gregor_sim::world::{Status, World};

/// A broker as the classroom shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerView {
    /// The broker.
    pub id: BrokerId,
    /// Running, paused or crashed.
    pub status: Status,
    /// Whether the controller has it fenced.
    pub fenced: bool,
}

/// One replica of a partition: its log strip's marks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaView {
    /// The broker holding it.
    pub broker: BrokerId,
    /// Whether it is in the ISR.
    pub in_isr: bool,
    /// Whether it leads.
    pub leader: bool,
    /// Its log start offset.
    pub log_start_offset: u64,
    /// Its log end offset.
    pub log_end_offset: u64,
    /// Its high watermark (its own view).
    pub high_watermark: u64,
}

/// A partition as the classroom shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionView {
    /// The partition.
    pub topic_partition: TopicPartition,
    /// The controller's leader.
    pub leader: Option<BrokerId>,
    /// The leader epoch.
    pub leader_epoch: u32,
    /// Each replica, in assignment order.
    pub replicas: Vec<ReplicaView>,
}

/// Everything drawn for the cluster at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterView {
    /// Virtual time in milliseconds.
    pub time_ms: u64,
    /// Whether the controller is up.
    pub controller_up: bool,
    /// The brokers.
    pub brokers: Vec<BrokerView>,
    /// The partitions, in topic and partition order.
    pub partitions: Vec<PartitionView>,
    /// Links cut, as `(from, to)`.
    pub cut_links: Vec<(NodeId, NodeId)>,
}

/// The view of a World now.
pub fn cluster_view(world: &World) -> ClusterView {
    let image = world.controller().map(|c| c.image());
    let brokers = world
        .broker_ids()
        .into_iter()
        .map(|id| BrokerView {
            id,
            status: world.status(NodeId::Broker(id)),
            fenced: image
                .and_then(|i| i.brokers.get(&id))
                .is_none_or(|b| b.fenced),
        })
        .collect();
    let partitions = image
        .map(|i| {
            i.partitions()
                .map(|(tp, p)| PartitionView {
                    replicas: p
                        .replicas
                        .iter()
                        .map(|&b| {
                            let log = world.broker_disk(b).and_then(|d| d.logs.get(&tp));
                            ReplicaView {
                                broker: b,
                                in_isr: p.isr.contains(&b),
                                leader: p.leader == Some(b),
                                log_start_offset: log.map_or(0, |l| l.log_start_offset().0),
                                log_end_offset: log.map_or(0, |l| l.log_end_offset().0),
                                high_watermark: log.map_or(0, |l| l.high_watermark().0),
                            }
                        })
                        .collect(),
                    topic_partition: tp,
                    leader: p.leader,
                    leader_epoch: p.leader_epoch.0,
                })
                .collect()
        })
        .unwrap_or_default();
    ClusterView {
        time_ms: world.now().0,
        controller_up: image.is_some(),
        brokers,
        partitions,
        cut_links: world.network().cut_links().iter().copied().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gregor_sim::runner::{Run, RunOptions};
    use gregor_sim::scenario::{Action, Scenario, Target};

    #[test]
    fn the_view_shows_a_crashed_leader_replaced_and_its_replica_out_of_the_isr() {
        let s = Scenario::parse(
            "v.toml",
            "name = \"v\"\n[cluster]\nbrokers = 3\n[[topic]]\nname = \"t\"\npartitions = 1\nreplication_factor = 3\n[[producer]]\nid = \"p\"\ntopic = \"t\"\nrate_per_sec = 100\ncount = 300\n",
        )
        .unwrap();
        let mut run = Run::new(&s, &RunOptions::default());
        assert!(run.bootstrap());
        run.play_until(gregor_core::time::Instant(2000));
        let before = cluster_view(&run.world);
        assert_eq!(before.partitions[0].leader, Some(BrokerId(1)));
        assert!(
            before.partitions[0]
                .replicas
                .iter()
                .all(|r| r.in_isr && r.log_end_offset > 100)
        );
        run.apply(&Action::Crash(Target::Broker(BrokerId(1))));
        run.play_until(gregor_core::time::Instant(15_000));
        let after = cluster_view(&run.world);
        assert_eq!(after.brokers[0].status, Status::Crashed);
        assert!(after.brokers[0].fenced);
        assert_eq!(after.partitions[0].leader, Some(BrokerId(2)));
        assert!(!after.partitions[0].replicas[0].in_isr);
        assert!(after.partitions[0].leader_epoch > before.partitions[0].leader_epoch);
    }
}
