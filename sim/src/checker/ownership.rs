//! The consumer-group invariant checked after every step of a group member: who owns which
//! partition (KAFKA.md 2.5 and 5.4).
//!
//! * Among the consumers the coordinator counts as members right now, no partition has two
//!   owners, whatever their generations. Within a generation the coordinator hands each
//!   partition to one member; across generations EAGER revokes everything before rejoining and
//!   COOPERATIVE withholds a moved partition until its old owner has revoked it (the
//!   two-rebalance dance), so the rule holds for both.
//! * A consumer the coordinator no longer counts (expelled on session expiry, or a static
//!   instance replaced by a newer one with the same `group.instance.id`) may still hold its
//!   partitions until its next heartbeat or commit tells it. Kafka allows that zombie, even in
//!   the same generation as its replacement (KIP-345 keeps the generation), and so does the
//!   check.
//! * A consumer holding a generation newer than its coordinator's holds one the coordinator has
//!   lost: a member owns partitions only once the generation's record is committed (SyncGroup
//!   answers after the write), so only a loss of committed `__consumer_offsets` records (a power
//!   loss Kafka allows, which the committed-records check attributes) rolls a group back. The
//!   coordinator no longer counts it, whatever its member id: it is a zombie too, until its next
//!   heartbeat or commit is told ILLEGAL_GENERATION.
//! * While no coordinator has the group loaded (its broker crashed), membership is unknown and
//!   the check falls back to the rule that needs none: no two consumers of one generation own
//!   the same partition.
//! * A consumer owns only partitions of topics it subscribes to.

use crate::cluster::Cluster;
use crate::groups::{DeclaredGroup, coordinator_group_among};
use gregor_core::ids::{ClientId, TopicPartition};
use gregor_core::map::VecMap;

/// The groups to watch and where their coordinators live.
#[derive(Clone, Debug, Default)]
pub struct OwnershipWatch {
    groups: Vec<DeclaredGroup>,
    by_client: VecMap<ClientId, usize>,
    offsets_partitions: u32,
}

impl OwnershipWatch {
    /// Watches `groups`, whose coordinators live among `offsets_partitions` partitions.
    pub fn new(groups: Vec<DeclaredGroup>, offsets_partitions: u32) -> OwnershipWatch {
        let by_client = groups
            .iter()
            .enumerate()
            .flat_map(|(i, g)| g.consumers.iter().map(move |(id, _)| (*id, i)))
            .collect();
        OwnershipWatch {
            groups,
            by_client,
            offsets_partitions,
        }
    }

    /// What is wrong with the ownership in the group of `client`, after it took a step.
    pub fn problems(&self, world: &Cluster, client: ClientId) -> Vec<String> {
        let Some(&i) = self.by_client.get(&client) else {
            return Vec::new();
        };
        let group = &self.groups[i];
        let members = coordinator_group_among(world, &group.group, self.offsets_partitions);
        let mut problems = Vec::new();
        // partition -> (consumer name, member id, generation, current member)
        let mut owners: VecMap<&TopicPartition, Vec<(&str, &str, i32, bool)>> = VecMap::new();
        for (id, name) in &group.consumers {
            let Some(c) = world.consumer(*id) else {
                continue;
            };
            let Some(g) = c.group() else { continue };
            let current = members
                .is_some_and(|m| m.member(&g.member_id).is_some() && g.generation <= m.generation);
            for tp in c.assignment() {
                if !c.workload().subscribe.contains(&tp.topic) {
                    problems.push(format!(
                        "{name} owns {tp} but subscribes only to {:?}",
                        c.workload().subscribe
                    ));
                }
                owners
                    .entry(tp)
                    .or_default()
                    .push((name, &g.member_id, g.generation, current));
            }
        }
        for (tp, list) in owners {
            for (a, x) in list.iter().enumerate() {
                for y in &list[a + 1..] {
                    let broken = if members.is_some() {
                        x.3 && y.3
                    } else {
                        x.2 == y.2
                    };
                    if broken {
                        problems.push(format!(
                            "{} (generation {}) and {} (generation {}) both own {tp} in group {}",
                            x.0, x.2, y.0, y.2, group.group
                        ));
                    }
                }
            }
        }
        problems
    }
}
