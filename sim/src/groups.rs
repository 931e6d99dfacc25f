//! Consumer groups seen from outside, as an operator's tools show them: the coordinator's view of
//! each group (`kafka-consumer-groups --describe`), and what keeps a group from having caught up
//! at the end of a run.

use crate::cluster::{Cluster, Status};
use crate::runner::client_ids;
use crate::scenario::Scenario;
use gregor_core::broker::Lifecycle;
use gregor_core::client::consumer::MemberState;
use gregor_core::group::coordinator::{Group, GroupState};
use gregor_core::group::coordinator_topic_partition;
use gregor_core::ids::{ClientId, NodeId, Offset, TopicName, TopicPartition};
use gregor_core::log::PartitionLog;
use gregor_core::map::{VecMap, VecSet};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// A group a scenario declares: its consumers and the topics they subscribe to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclaredGroup {
    /// `group.id`.
    pub group: String,
    /// Its consumers: client id and name.
    pub consumers: Vec<(ClientId, String)>,
    /// The topics its members subscribe to.
    pub topics: VecSet<TopicName>,
    /// Records its members never return, as `(partition, offset)`: for a group whose members
    /// read `read_committed`, the records of aborted and undecided transactions (the runner
    /// fills it from the final logs; skipping them is no poll skip and leaves nothing unseen).
    pub hidden: BTreeSet<(TopicPartition, Offset)>,
}

/// The groups of a scenario, by `group.id`.
pub fn declared_groups(scenario: &Scenario) -> Vec<DeclaredGroup> {
    let (_, cids, _) = client_ids(scenario);
    let mut groups: VecMap<String, DeclaredGroup> = VecMap::new();
    for (c, id) in scenario.consumers.iter().zip(cids) {
        let Some(group) = &c.config.group_id else {
            continue;
        };
        let g = groups
            .entry(group.clone())
            .or_insert_with(|| DeclaredGroup {
                group: group.clone(),
                consumers: Vec::new(),
                topics: VecSet::new(),
                hidden: BTreeSet::new(),
            });
        g.consumers.push((id, c.name.clone()));
        g.topics.extend(c.workload.subscribe.iter().cloned());
    }
    groups.into_values().collect()
}

/// The group as its coordinator holds it now: the leader of the group's `__consumer_offsets`
/// partition, if that broker runs, serves requests and has loaded it.
pub fn coordinator_group<'w>(
    w: &'w Cluster,
    scenario: &Scenario,
    group: &str,
) -> Option<&'w Group> {
    coordinator_group_among(
        w,
        group,
        scenario.broker_config.offsets_topic_num_partitions,
    )
}

/// [`coordinator_group`] for a cluster with `offsets_partitions` offsets partitions.
pub fn coordinator_group_among<'w>(
    w: &'w Cluster,
    group: &str,
    offsets_partitions: u32,
) -> Option<&'w Group> {
    let tp = coordinator_topic_partition(group, offsets_partitions);
    let leader = w.controller()?.image().partition(&tp)?.leader?;
    // A broker that restarted replays its metadata and loads the groups of the offsets partitions
    // it led before it registers again (`BrokerMetadataPublisher` publishes once the metadata log
    // is caught up), but it opens its listeners only once the controller has unfenced it
    // (`BrokerServer.startup`). Until then no member can reach that copy, which may be older
    // than what the members know (a power loss can take its latest records), so it is nobody's
    // coordinator yet.
    let broker = w.broker(leader)?;
    if broker.lifecycle() != Lifecycle::Running {
        return None;
    }
    broker.coordinator().group(group)
}

/// Whether the group's coordinator holds transactional offset commits still waiting for their
/// transaction's marker.
pub fn has_pending_offsets(w: &Cluster, scenario: &Scenario, group: &str) -> bool {
    let partitions = scenario.broker_config.offsets_topic_num_partitions;
    let tp = coordinator_topic_partition(group, partitions);
    let leader = w
        .controller()
        .and_then(|c| c.image().partition(&tp)?.leader);
    leader
        .and_then(|l| w.broker(l))
        .and_then(|b| b.coordinator().shards().get(&tp.partition))
        .is_some_and(|shard| {
            shard
                .pending_txn_offsets
                .values()
                .flatten()
                .any(|p| p.group == group)
        })
}

/// The high watermark of a partition at the leader the controller names, if it runs.
pub fn high_watermark(w: &Cluster, tp: &TopicPartition) -> Option<Offset> {
    Some(leader_log(w, tp)?.high_watermark())
}

/// The log of the partition's leader, as the controller names it, if that broker is up.
pub fn leader_log<'w>(w: &'w Cluster, tp: &TopicPartition) -> Option<&'w PartitionLog> {
    let leader = w.controller()?.image().partition(tp)?.leader?;
    w.broker(leader)?.log(tp)
}

/// The partitions of a group's topics, in order.
fn group_partitions(w: &Cluster, topics: &VecSet<TopicName>) -> Vec<TopicPartition> {
    let Some(image) = w.controller().map(|c| c.image()) else {
        return Vec::new();
    };
    topics
        .iter()
        .flat_map(|t| {
            let n = image.topics.get(t).map_or(0, |x| x.partitions.len() as u32);
            (0..n).map(|p| TopicPartition::new(t.clone(), p))
        })
        .collect()
}

/// One member of a group, as the coordinator knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MemberReport {
    /// The member id the coordinator gave.
    pub member_id: String,
    /// `group.instance.id`, for a static member.
    pub instance_id: Option<String>,
    /// The consumer's name in the scenario.
    pub client: String,
    /// The partitions the coordinator handed it in the last SyncGroup, `topic-p`.
    pub assignment: Vec<String>,
}

/// A group at the end of a run (or at a time), as `kafka-consumer-groups --describe` sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupReport {
    /// `group.id`.
    pub group: String,
    /// The generation (0 before the first rebalance).
    pub generation: i32,
    /// The state (`Stable`, `Empty`, ...), or `Unknown` when no coordinator has the group loaded.
    pub state: String,
    /// The assignor the group chose.
    pub protocol: Option<String>,
    /// The members.
    pub members: Vec<MemberReport>,
    /// Committed offsets, `topic-p` to offset.
    pub committed: VecMap<String, u64>,
    /// The leader's high watermark minus the committed offset, for partitions with a commit.
    pub lag: VecMap<String, u64>,
}

/// Kafka's way of writing a partition in tools: `topic-p`.
pub fn dashed(tp: &TopicPartition) -> String {
    format!("{}-{}", tp.topic, tp.partition)
}

/// Every declared group, from its coordinator.
pub fn group_reports(w: &Cluster, scenario: &Scenario) -> Vec<GroupReport> {
    declared_groups(scenario)
        .iter()
        .map(|d| {
            let Some(g) = coordinator_group(w, scenario, &d.group) else {
                return GroupReport {
                    group: d.group.clone(),
                    generation: 0,
                    state: "Unknown".into(),
                    protocol: None,
                    members: Vec::new(),
                    committed: VecMap::new(),
                    lag: VecMap::new(),
                };
            };
            let mut committed = VecMap::new();
            let mut lag = VecMap::new();
            for (tp, c) in &g.offsets {
                committed.insert(dashed(tp), c.offset.0);
                if let Some(hw) = high_watermark(w, tp) {
                    lag.insert(dashed(tp), hw.0.saturating_sub(c.offset.0));
                }
            }
            let mut members: Vec<MemberReport> = g
                .members
                .iter()
                .map(|m| MemberReport {
                    member_id: m.member_id.clone(),
                    instance_id: m.group_instance_id.clone(),
                    // The member's client id, as Kafka reports it: the node its last request came
                    // from is unknown for a member replayed from `__consumer_offsets` by a new
                    // coordinator until it sends a JoinGroup or SyncGroup.
                    client: m.client_id.clone(),
                    assignment: m.assignment.iter().map(dashed).collect(),
                })
                .collect();
            gregor_core::sort::sort_by(&mut members, |a, b| a.member_id.cmp(&b.member_id));
            GroupReport {
                group: d.group.clone(),
                generation: g.generation,
                state: g.state.name().into(),
                protocol: g.protocol_name.clone(),
                members,
                committed,
                lag,
            }
        })
        .collect()
}

/// The groups in the shape of `kafka-consumer-groups --describe --all-groups`
/// (`ConsumerGroupCommand.printOffsets`): one row per partition, assigned partitions by member,
/// then the group's other committed partitions with `-` as the consumer.
pub fn describe_groups(w: &Cluster, scenario: &Scenario) -> String {
    let mut out = String::new();
    for d in declared_groups(scenario) {
        let Some(g) = coordinator_group(w, scenario, &d.group) else {
            let _ = writeln!(
                out,
                "\nError: the coordinator of group '{}' is not available.",
                d.group
            );
            continue;
        };
        let mut rows: Vec<[String; 9]> = Vec::new();
        let mut shown = VecSet::new();
        let offset_text = |o: Option<u64>| o.map_or_else(|| "-".to_string(), |o| o.to_string());
        let row = |tp: &TopicPartition, consumer: &str, host: &str, client: &str| {
            let current = g.offsets.get(tp).map(|c| c.offset.0);
            let end = high_watermark(w, tp).map(|o| o.0);
            let lag = match (current, end) {
                (Some(c), Some(e)) => Some(e.saturating_sub(c)),
                _ => None,
            };
            [
                d.group.clone(),
                tp.topic.to_string(),
                tp.partition.to_string(),
                offset_text(current),
                offset_text(end),
                offset_text(lag),
                consumer.to_string(),
                host.to_string(),
                client.to_string(),
            ]
        };
        for m in &g.members {
            // As in the reports above: the client id survives a coordinator failover, the node
            // of the member's last request does not.
            let client = m.client_id.clone();
            let host = format!("/{client}");
            for tp in &m.assignment {
                shown.insert(tp.clone());
                rows.push(row(tp, &m.member_id, &host, &client));
            }
        }
        for tp in g.offsets.keys() {
            if !shown.contains(tp) {
                rows.push(row(tp, "-", "-", "-"));
            }
        }
        if g.members.is_empty() {
            let _ = writeln!(out, "\nConsumer group '{}' has no active members.", d.group);
        } else if matches!(
            g.state,
            GroupState::PreparingRebalance | GroupState::CompletingRebalance
        ) {
            let _ = writeln!(
                out,
                "\nWarning: Consumer group '{}' is rebalancing.",
                d.group
            );
        }
        let header = [
            "GROUP",
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
            "HOST",
            "CLIENT-ID",
        ];
        // Kafka pads the group, topic, consumer id and host columns to their longest value
        // and the numeric columns to fixed widths.
        let width = |i: usize| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        };
        let widths = [width(0), width(1), 10, 15, 15, 15, width(6), width(7)];
        let mut line = |cells: &[&str]| {
            let mut text = String::new();
            for (i, cell) in cells.iter().enumerate() {
                if i < widths.len() {
                    let _ = write!(text, "{cell:<w$} ", w = widths[i]);
                } else {
                    text.push_str(cell);
                }
            }
            let _ = writeln!(out, "{}", text.trim_end());
        };
        line(&[]);
        line(&header);
        for r in &rows {
            let cells: Vec<&str> = r.iter().map(String::as_str).collect();
            line(&cells);
        }
    }
    out
}

/// What keeps the groups from having caught up, in words (empty once they have): every group
/// with a running member is Stable, every partition of its topics is assigned to a running
/// member, and every member has processed up to each assigned partition's high watermark.
pub fn catch_up_gaps(w: &Cluster, scenario: &Scenario) -> Vec<String> {
    let mut gaps = Vec::new();
    for d in declared_groups(scenario) {
        let live: Vec<(ClientId, &String)> = d
            .consumers
            .iter()
            .filter(|(id, _)| w.status(NodeId::Client(*id)) == Status::Running)
            .filter(|(id, _)| {
                w.consumer(*id)
                    .is_some_and(|c| c.is_consuming() && c.group().is_some_and(|g| !g.left))
            })
            .map(|(id, n)| (*id, n))
            .collect();
        if live.is_empty() {
            continue;
        }
        match coordinator_group(w, scenario, &d.group) {
            Some(g) if g.state == GroupState::Stable => {
                // A member that consumes again (restarted, or started by the final phase) must
                // be in the group's generation: a Stable group it has not joined yet is about
                // to rebalance, not settled.
                for (id, name) in &live {
                    let Some(m) = w.consumer(*id).and_then(|c| c.group()) else {
                        continue;
                    };
                    let joined = m.state == MemberState::Stable
                        && m.generation == g.generation
                        && g.members.iter().any(|x| x.member_id == m.member_id);
                    if !joined {
                        gaps.push(format!(
                            "{name} has not joined generation {} of group {}",
                            g.generation, d.group
                        ));
                    }
                }
            }
            Some(g) => gaps.push(format!("group {} is {}", d.group, g.state.name())),
            None => gaps.push(format!("group {} has no coordinator", d.group)),
        }
        let mut owned = VecSet::new();
        for (id, name) in &live {
            let Some(c) = w.consumer(*id) else { continue };
            if !c.is_idle() {
                gaps.push(format!("{name} is still processing"));
            }
            for (tp, p) in c.positions() {
                owned.insert(tp.clone());
                let hw = high_watermark(w, tp);
                if hw.is_none() || p.position < hw {
                    gaps.push(format!(
                        "{name} is at {:?} of {tp} whose high watermark is {:?}",
                        p.position.map(|o| o.0),
                        hw.map(|o| o.0)
                    ));
                }
            }
        }
        for tp in group_partitions(w, &d.topics) {
            if !owned.contains(&tp) {
                gaps.push(format!("{tp} of group {} has no owner", d.group));
            }
        }
    }
    gaps
}
