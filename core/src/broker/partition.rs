//! A broker's view of one partition it hosts: its role (leader or follower), the committed ISR
//! and, on the leader, each follower's replication state, the pending ISR change, and the
//! high-watermark and ISR rules of Kafka's `Partition.scala` (KAFKA.md 3.2 and 3.3).

use crate::config::TopicConfig;
use crate::ids::{BrokerEpoch, BrokerId, LeaderEpoch, Offset, PartitionEpoch};
use crate::log::PartitionLog;
use crate::map::VecMap;
use crate::metadata::MetadataImage;
use crate::node::IsrChangeKind;
use crate::protocol::AlterPartitionRequest;
use crate::time::{Duration, Instant};

/// What the leader knows of a follower from its fetches (`Replica.scala`'s `ReplicaState`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplicaState {
    /// The follower's log end offset (its last fetch offset); unknown after a leader change.
    pub log_end_offset: Option<Offset>,
    /// The leader's LEO at the follower's previous fetch.
    pub last_fetch_leader_leo: Option<Offset>,
    /// When the follower last fetched.
    pub last_fetch_time: Option<Instant>,
    /// When the follower was last caught up; `None` is Kafka's 0, "never".
    pub last_caught_up: Option<Instant>,
    /// The broker epoch the follower sent with its fetches.
    pub broker_epoch: Option<BrokerEpoch>,
}

/// An ISR change the leader proposed and the controller has not answered yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingIsr {
    /// The proposal.
    pub request: AlterPartitionRequest,
    /// Shrink, expand or recovered.
    pub kind: IsrChangeKind,
    /// The ISR used for the HW and acks=all while pending (KIP-497): the committed ISR for a
    /// shrink, the committed ISR plus the newcomer for an expand.
    pub maximal: Vec<BrokerId>,
    /// When to send the proposal (again); `None` while it waits for an answer or is stuck.
    pub send_at: Option<Instant>,
    /// When to give up waiting for the answer and send again.
    pub deadline: Option<Instant>,
}

/// The leader side of a partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderState {
    /// The LEO when this leader epoch started.
    pub epoch_start_offset: Offset,
    /// Every other replica's state.
    pub replicas: VecMap<BrokerId, ReplicaState>,
    /// The pending ISR change, if any (one at a time per partition).
    pub pending: Option<PendingIsr>,
}

/// The role of this broker for a partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// This broker leads.
    Leader(LeaderState),
    /// This broker follows `leader` (none while the partition has no leader).
    Follower {
        /// The leader.
        leader: Option<BrokerId>,
    },
}

/// One hosted partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// The replicas, preferred leader first.
    pub replicas: Vec<BrokerId>,
    /// The committed ISR (the leader's view; followers do not track it).
    pub isr: Vec<BrokerId>,
    /// The leader epoch this broker is in.
    pub leader_epoch: LeaderEpoch,
    /// The partition epoch this broker last applied.
    pub partition_epoch: PartitionEpoch,
    /// Leader or follower.
    pub role: Role,
    /// The topic's configuration.
    pub config: TopicConfig,
}

impl Partition {
    /// Whether this broker leads the partition.
    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }

    /// The leader state, if leading.
    pub fn leader_state(&self) -> Option<&LeaderState> {
        match &self.role {
            Role::Leader(l) => Some(l),
            Role::Follower { .. } => None,
        }
    }

    /// `min(min.insync.replicas, replication factor)`.
    pub fn effective_min_isr(&self) -> usize {
        self.config.effective_min_isr(self.replicas.len())
    }

    /// The ISR the HW rule and acks=all use: the committed ISR, plus a pending newcomer.
    pub fn maximal_isr(&self) -> &[BrokerId] {
        match self.leader_state().and_then(|l| l.pending.as_ref()) {
            Some(p) => &p.maximal,
            None => &self.isr,
        }
    }

    /// Whether the committed ISR is below the effective min ISR.
    pub fn is_under_min_isr(&self) -> bool {
        self.isr.len() < self.effective_min_isr()
    }
}

/// `Replica.isCaughtUp`: the follower is at the leader's LEO, or was caught up within
/// `replica.lag.time.max.ms`.
pub fn is_caught_up(r: &ReplicaState, leader_leo: Offset, now: Instant, lag: Duration) -> bool {
    r.log_end_offset == Some(leader_leo)
        || r.last_caught_up
            .is_some_and(|t| now.saturating_since(t) <= lag)
}

/// `isReplicaIsrEligible` in KRaft: the broker is registered, unfenced, and its registration
/// epoch is the one it fetches with (an unknown epoch is not eligible).
pub fn is_isr_eligible(image: &MetadataImage, broker: BrokerId, r: &ReplicaState) -> bool {
    image
        .brokers
        .get(&broker)
        .is_some_and(|b| !b.fenced && r.broker_epoch == Some(b.epoch))
}

/// `updateFollowerFetchState`: a follower fetched at `fetch_offset` while the leader's LEO was
/// `leader_leo`. It is caught up now if it reached the LEO, or as of its previous fetch if it
/// reached the LEO the leader had then (KAFKA.md 3.3).
pub fn update_follower_fetch_state(
    r: &mut ReplicaState,
    fetch_offset: Offset,
    leader_leo: Offset,
    broker_epoch: BrokerEpoch,
    now: Instant,
) {
    if fetch_offset >= leader_leo {
        r.last_caught_up = Some(now);
    } else if r
        .last_fetch_leader_leo
        .is_some_and(|prev| fetch_offset >= prev)
    {
        r.last_caught_up = r.last_fetch_time;
    }
    r.log_end_offset = Some(fetch_offset);
    r.last_fetch_leader_leo = Some(leader_leo);
    r.last_fetch_time = Some(now);
    r.broker_epoch = Some(broker_epoch);
}

/// `maybeIncrementLeaderHW` (KAFKA.md 3.2): no movement while the committed ISR is below the
/// effective min ISR; otherwise the smallest LEO among the maximal ISR and the caught-up,
/// ISR-eligible replicas; applied only forward. Returns the new HW if it moved.
pub fn maybe_increment_hw(
    p: &Partition,
    log: &mut PartitionLog,
    image: &MetadataImage,
    now: Instant,
    lag: Duration,
) -> Option<Offset> {
    let Role::Leader(leader) = &p.role else {
        return None;
    };
    if p.is_under_min_isr() {
        return None;
    }
    let leader_leo = log.log_end_offset();
    let maximal = p.maximal_isr();
    let mut new_hw = leader_leo;
    for (&id, r) in &leader.replicas {
        let counts = maximal.contains(&id)
            || (is_caught_up(r, leader_leo, now, lag) && is_isr_eligible(image, id, r));
        if !counts {
            continue;
        }
        match r.log_end_offset {
            // A follower whose position is unknown (reset at a leader change) holds the HW.
            None => return None,
            Some(leo) if leo < new_hw => new_hw = leo,
            Some(_) => {}
        }
    }
    if new_hw > log.high_watermark() {
        log.set_high_watermark(new_hw);
        Some(log.high_watermark())
    } else {
        None
    }
}

/// `getOutOfSyncReplicas`: ISR members (other than the leader) that are not caught up.
pub fn out_of_sync_replicas(
    p: &Partition,
    leader_leo: Offset,
    now: Instant,
    lag: Duration,
) -> Vec<BrokerId> {
    let Role::Leader(leader) = &p.role else {
        return Vec::new();
    };
    p.isr
        .iter()
        .copied()
        .filter(|id| {
            leader
                .replicas
                .get(id)
                .is_some_and(|r| !is_caught_up(r, leader_leo, now, lag))
        })
        .collect()
}

/// `isFollowerInSync` plus eligibility: a replica outside the ISR may join once its LEO has
/// reached the HW and the start of the current leader epoch (KAFKA.md 3.3).
pub fn may_join_isr(
    p: &Partition,
    log: &PartitionLog,
    image: &MetadataImage,
    broker: BrokerId,
) -> bool {
    let Role::Leader(leader) = &p.role else {
        return false;
    };
    if p.isr.contains(&broker) {
        return false;
    }
    let Some(r) = leader.replicas.get(&broker) else {
        return false;
    };
    r.log_end_offset
        .is_some_and(|leo| leo >= log.high_watermark() && leo >= leader.epoch_start_offset)
        && is_isr_eligible(image, broker, r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::Bytes;
    use crate::metadata::{BrokerRegistration, MetadataImage};
    use crate::record::Record;
    use std::sync::Arc;

    const LAG: Duration = Duration(30_000);

    fn image(brokers: &[u32]) -> MetadataImage {
        let mut image = MetadataImage::default();
        for &b in brokers {
            image.brokers.insert(
                BrokerId(b),
                BrokerRegistration {
                    epoch: BrokerEpoch(u64::from(b)),
                    incarnation: 0,
                    fenced: false,
                },
            );
        }
        image
    }

    fn leader_partition(isr: &[u32], min_isr: u64) -> Partition {
        let config = TopicConfig {
            min_insync_replicas: min_isr,
            ..TopicConfig::default()
        };
        Partition {
            replicas: vec![BrokerId(1), BrokerId(2), BrokerId(3)],
            isr: isr.iter().map(|&b| BrokerId(b)).collect(),
            leader_epoch: LeaderEpoch(0),
            partition_epoch: PartitionEpoch(0),
            role: Role::Leader(LeaderState {
                epoch_start_offset: Offset(0),
                replicas: [2, 3]
                    .iter()
                    .map(|&b| (BrokerId(b), ReplicaState::default()))
                    .collect(),
                pending: None,
            }),
            config,
        }
    }

    fn log_with(n: usize) -> PartitionLog {
        let mut log = PartitionLog::new();
        let records: Arc<[Record]> = (0..n)
            .map(|i| Record {
                key: None,
                value: Some(Bytes::from(format!("{i}"))),
                timestamp: Instant(0),
            })
            .collect();
        log.append_as_leader(records, None, LeaderEpoch(0)).unwrap();
        log
    }

    fn fetch(p: &mut Partition, broker: u32, offset: u64, leo: u64, now: u64) {
        let Role::Leader(l) = &mut p.role else {
            panic!()
        };
        let r = l.replicas.get_mut(&BrokerId(broker)).unwrap();
        update_follower_fetch_state(
            r,
            Offset(offset),
            Offset(leo),
            BrokerEpoch(u64::from(broker)),
            Instant(now),
        );
    }

    #[test]
    fn hw_does_not_advance_under_min_isr_even_when_followers_caught_up() {
        // PartitionTest.testHighWatermarkAdvanceShouldNotAdvanceWhenUnderMinISR: min ISR 3,
        // ISR {leader, f1}, 10 records; both followers fetch to the LEO, the HW stays 0.
        let image = image(&[1, 2, 3]);
        let mut p = leader_partition(&[1, 2], 3);
        let mut log = log_with(10);
        fetch(&mut p, 2, 10, 10, 1);
        fetch(&mut p, 3, 10, 10, 1);
        assert_eq!(
            maybe_increment_hw(&p, &mut log, &image, Instant(1), LAG),
            None
        );
        assert_eq!(log.high_watermark(), Offset(0));
        // Once the expansion commits, the HW jumps to the LEO.
        p.isr = vec![BrokerId(1), BrokerId(2), BrokerId(3)];
        assert_eq!(
            maybe_increment_hw(&p, &mut log, &image, Instant(1), LAG),
            Some(Offset(10))
        );
    }

    #[test]
    fn hw_waits_for_a_lagging_isr_member_until_the_shrink_commits() {
        // PartitionTest.testMaybeShrinkIsr: f1 fetches to the LEO, f2 never fetches.
        let image = image(&[1, 2, 3]);
        let mut p = leader_partition(&[1, 2, 3], 1);
        let mut log = log_with(10);
        fetch(&mut p, 2, 10, 10, 1);
        assert_eq!(
            maybe_increment_hw(&p, &mut log, &image, Instant(1), LAG),
            None
        );
        let late = Instant(LAG.0 + 2);
        assert_eq!(
            out_of_sync_replicas(&p, Offset(10), late, LAG),
            vec![BrokerId(3)]
        );
        p.isr = vec![BrokerId(1), BrokerId(2)];
        assert_eq!(
            maybe_increment_hw(&p, &mut log, &image, late, LAG),
            Some(Offset(10))
        );
    }

    #[test]
    fn a_follower_chasing_a_moving_leo_stays_caught_up() {
        // KAFKA.md 3.3: reaching the LEO of the previous fetch keeps the follower caught up.
        let mut r = ReplicaState::default();
        update_follower_fetch_state(&mut r, Offset(0), Offset(5), BrokerEpoch(2), Instant(100));
        assert_eq!(r.last_caught_up, None);
        update_follower_fetch_state(&mut r, Offset(5), Offset(9), BrokerEpoch(2), Instant(200));
        assert_eq!(
            r.last_caught_up,
            Some(Instant(100)),
            "reached the LEO of the previous fetch"
        );
        update_follower_fetch_state(&mut r, Offset(9), Offset(9), BrokerEpoch(2), Instant(300));
        assert_eq!(r.last_caught_up, Some(Instant(300)));
    }

    #[test]
    fn a_follower_joins_only_from_the_current_epoch_start() {
        // PartitionTest.testFollowerDoesNotJoinISRUntilCaughtUpToOffsetWithinCurrentLeaderEpoch.
        let image = image(&[1, 2, 3]);
        let mut p = leader_partition(&[1, 2], 1);
        let mut log = log_with(10);
        log.set_high_watermark(Offset(3));
        if let Role::Leader(l) = &mut p.role {
            l.epoch_start_offset = Offset(10);
        }
        fetch(&mut p, 3, 3, 10, 1);
        assert!(
            !may_join_isr(&p, &log, &image, BrokerId(3)),
            "at the HW but before the epoch start"
        );
        fetch(&mut p, 3, 10, 10, 2);
        assert!(may_join_isr(&p, &log, &image, BrokerId(3)));
    }
}
