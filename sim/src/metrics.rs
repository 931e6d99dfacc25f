//! What a run's report plots: the cluster sampled at a fixed virtual-time interval while the run
//! goes (offsets, ISR size, consumer lag), and what the event log already tells afterwards
//! (acknowledgements with their latency, faults, elections).
//!
//! Sampling rides on the per-step invariant pass, so it sees every phase of a run under either
//! driver, and it reads the cluster without changing it: a run with a report has the same trace
//! as one without.

use crate::cluster::{Cluster, Logged, WorldEvent};
use crate::groups::group_reports;
use crate::scenario::Scenario;
use gregor_core::bytes::Bytes;
use gregor_core::ids::{NodeId, TopicPartition};
use gregor_core::map::VecMap;
use gregor_core::node::Event;
use gregor_core::time::{Duration, Instant};
use serde::Serialize;
use std::collections::BTreeMap;

/// How often a run with a report samples the cluster (virtual time).
pub const SAMPLE_EVERY: Duration = Duration(250);

/// One partition at one sample.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartitionSample {
    /// The leader the controller names, if any.
    pub leader: Option<u32>,
    /// The leader epoch the controller holds.
    pub leader_epoch: u32,
    /// The ISR's size, as the controller holds it (`None` while the controller is down).
    pub isr_size: Option<usize>,
    /// The high watermark at the leader, if the leader runs.
    pub high_watermark: Option<u64>,
    /// The log end offset at the leader, if the leader runs.
    pub log_end_offset: Option<u64>,
}

/// The cluster at one virtual time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Sample {
    /// When (ms).
    pub time_ms: u64,
    /// Every partition of the scenario's topics, in the order of [`Scenario::partitions`].
    pub partitions: Vec<PartitionSample>,
    /// Each declared group's lag (the sum over partitions with a committed offset of the high
    /// watermark minus the commit), by `group.id`; `None` while no coordinator has the group.
    pub group_lag: VecMap<String, Option<u64>>,
}

/// A record's acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ack {
    /// The producer, by its name in the scenario.
    pub producer: String,
    /// When the application called `send` (ms).
    pub sent_ms: u64,
    /// When the callback reported success (ms).
    pub acked_ms: u64,
}

/// What a mark on the charts stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkKind {
    /// A fault or operator action (crash, restart, cut, heal, the final phase).
    Fault,
    /// A leader election (the controller committed a new leader).
    Election,
    /// An unclean election: the new leader came from outside the ISR.
    UncleanElection,
}

/// A moment worth a vertical line on the charts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mark {
    /// When (ms).
    pub time_ms: u64,
    /// What kind.
    pub kind: MarkKind,
    /// What happened, in words.
    pub text: String,
}

/// Everything a report's charts draw.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Charts {
    /// The partitions the samples describe, `topic/p`.
    pub partitions: Vec<String>,
    /// The declared consumer groups.
    pub groups: Vec<String>,
    /// The samples, in time order.
    pub samples: Vec<Sample>,
    /// Every acknowledged send, in acknowledgement order.
    pub acks: Vec<Ack>,
    /// Faults and elections, in time order.
    pub marks: Vec<Mark>,
}

/// Takes samples as a run goes.
#[derive(Clone, Debug)]
pub struct Sampler {
    partitions: Vec<TopicPartition>,
    scenario: Scenario,
    next: Instant,
    samples: Vec<Sample>,
}

impl Sampler {
    /// A sampler of a scenario's partitions and groups; the first sample is at time zero.
    pub fn new(scenario: &Scenario) -> Sampler {
        Sampler {
            partitions: scenario.partitions(),
            scenario: scenario.clone(),
            next: Instant(0),
            samples: Vec::new(),
        }
    }

    /// Samples the cluster if a sampling time has passed since the last sample.
    pub fn after_step(&mut self, w: &Cluster) {
        let now = w.now();
        if now < self.next {
            return;
        }
        self.samples
            .push(sample(w, &self.scenario, &self.partitions));
        // Time jumps from event to event: the next sample is due one interval after this one,
        // rounded to the grid, however long the cluster was quiet.
        self.next = Instant((now.0 / SAMPLE_EVERY.0 + 1) * SAMPLE_EVERY.0);
    }

    /// The samples so far.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// The charts of a finished run: these samples, and what the log says.
    pub fn charts(&self, log: &[Logged]) -> Charts {
        Charts {
            partitions: self.partitions.iter().map(ToString::to_string).collect(),
            groups: crate::groups::declared_groups(&self.scenario)
                .into_iter()
                .map(|g| g.group)
                .collect(),
            samples: self.samples.clone(),
            acks: acks(log, &self.scenario),
            marks: marks(log, &self.scenario),
        }
    }
}

fn sample(w: &Cluster, scenario: &Scenario, partitions: &[TopicPartition]) -> Sample {
    let image = w.controller().map(|c| c.image());
    let partitions = partitions
        .iter()
        .map(|tp| {
            let state = image.and_then(|i| i.partition(tp));
            let leader = state.and_then(|p| p.leader);
            let log = leader.and_then(|l| w.broker(l)).and_then(|b| b.log(tp));
            PartitionSample {
                leader: leader.map(|l| l.0),
                leader_epoch: state.map_or(0, |p| p.leader_epoch.0),
                isr_size: state.map(|p| p.isr.len()),
                high_watermark: log.map(|l| l.high_watermark().0),
                log_end_offset: log.map(|l| l.log_end_offset().0),
            }
        })
        .collect();
    let group_lag = group_reports(w, scenario)
        .into_iter()
        .map(|g| {
            let lag = (g.state != "Unknown").then(|| g.lag.values().sum());
            (g.group, lag)
        })
        .collect();
    Sample {
        time_ms: w.now().0,
        partitions,
        group_lag,
    }
}

/// Every acknowledged send with its latency, from the producers' events. A value is unique per
/// workload, so a send and its acknowledgement pair up by producer and value.
fn acks(log: &[Logged], scenario: &Scenario) -> Vec<Ack> {
    let mut sent: BTreeMap<(NodeId, Bytes), Instant> = BTreeMap::new();
    let mut out = Vec::new();
    for entry in log {
        match &entry.event {
            WorldEvent::Node(Event::RecordSent { value, .. }) => {
                sent.insert((entry.node, value.clone()), entry.time);
            }
            WorldEvent::Node(Event::RecordAcknowledged { value, .. }) => {
                if let Some(at) = sent.remove(&(entry.node, value.clone())) {
                    out.push(Ack {
                        producer: crate::report::name_of(entry.node, scenario),
                        sent_ms: at.0,
                        acked_ms: entry.time.0,
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// Faults and leader elections, from the log.
fn marks(log: &[Logged], scenario: &Scenario) -> Vec<Mark> {
    let mut out = Vec::new();
    for entry in log {
        let mark = match &entry.event {
            WorldEvent::Fault(text) => Some((
                MarkKind::Fault,
                match entry.node {
                    NodeId::Admin => text.clone(),
                    node => format!("{} {text}", crate::report::name_of(node, scenario)),
                },
            )),
            WorldEvent::Crashed { power_loss, .. } => Some((
                MarkKind::Fault,
                format!(
                    "{} {}",
                    crate::report::name_of(entry.node, scenario),
                    if *power_loss { "lost power" } else { "crashed" }
                ),
            )),
            WorldEvent::Node(Event::PartitionChanged {
                topic_partition,
                leader,
                leader_changed: true,
                leader_epoch,
                unclean,
                ..
            }) => Some((
                if *unclean {
                    MarkKind::UncleanElection
                } else {
                    MarkKind::Election
                },
                match leader {
                    Some(l) if *unclean => format!(
                        "broker {l} elected leader of {topic_partition} from outside the ISR (epoch {})",
                        leader_epoch.0
                    ),
                    Some(l) => format!(
                        "broker {l} elected leader of {topic_partition} (epoch {})",
                        leader_epoch.0
                    ),
                    None => format!("{topic_partition} has no leader (epoch {})", leader_epoch.0),
                },
            )),
            _ => None,
        };
        if let Some((kind, text)) = mark {
            out.push(Mark {
                time_ms: entry.time.0,
                kind,
                text,
            });
        }
    }
    out
}
