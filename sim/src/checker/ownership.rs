//! The consumer-group invariant checked after every step of a group member: who owns which
//! partition (KAFKA.md 2.5 and 5.4).
//!
//! * Within a generation, the coordinator hands each partition to one member, so no two
//!   consumers that believe they are in the same generation own the same partition. This holds
//!   for EAGER and COOPERATIVE alike, zombies included.
//! * Among the consumers the coordinator counts as members right now, no partition has two
//!   owners, whatever their generations. EAGER gets this by revoking everything before rejoining;
//!   COOPERATIVE by withholding a moved partition until its old owner has revoked it (the
//!   two-rebalance dance). A consumer the coordinator has already expelled (session expiry, a
//!   fenced static instance) may still hold partitions until it hears; Kafka allows that zombie,
//!   and so does the check, as long as its generation is an old one.
//! * A consumer owns only partitions of topics it subscribes to.

use crate::groups::DeclaredGroup;
use crate::world::World;
use gregor_core::group::{OFFSETS_TOPIC, coordinator_partition};
use gregor_core::ids::{ClientId, TopicName, TopicPartition};
use std::collections::BTreeMap;

/// The groups to watch and where their coordinators live.
#[derive(Clone, Debug, Default)]
pub struct OwnershipWatch {
    groups: Vec<DeclaredGroup>,
    by_client: BTreeMap<ClientId, usize>,
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
    pub fn problems(&self, world: &World, client: ClientId) -> Vec<String> {
        let Some(&i) = self.by_client.get(&client) else {
            return Vec::new();
        };
        let group = &self.groups[i];
        let tp = TopicPartition::new(
            TopicName::from(OFFSETS_TOPIC),
            coordinator_partition(&group.group, self.offsets_partitions),
        );
        let members = world
            .controller()
            .and_then(|c| c.image().partition(&tp))
            .and_then(|p| p.leader)
            .and_then(|l| world.broker(l))
            .and_then(|b| b.coordinator().group(&group.group));
        let mut problems = Vec::new();
        // partition -> (consumer name, member id, generation, current member)
        let mut owners: BTreeMap<&TopicPartition, Vec<(&str, &str, i32, bool)>> = BTreeMap::new();
        for (id, name) in &group.consumers {
            let Some(c) = world.consumer(*id) else {
                continue;
            };
            let Some(g) = c.group() else { continue };
            let current = members.is_some_and(|m| m.member(&g.member_id).is_some());
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
                    if x.2 == y.2 {
                        problems.push(format!(
                            "{} and {} both own {tp} in generation {} of group {}",
                            x.0, y.0, x.2, group.group
                        ));
                    } else if x.3 && y.3 {
                        problems.push(format!(
                            "{} (generation {}) and {} (generation {}) both own {tp} while both are members of group {}",
                            x.0, x.2, y.0, y.2, group.group
                        ));
                    }
                }
            }
        }
        problems
    }
}
