//! The clients the classroom (and the lessons) add to a scenario so that a learner can act on
//! any cluster: console producers that send one record at a time with each `acks` setting, and
//! spare consumers that join a group when the learner adds a consumer.
//!
//! Every added client is a [`ClientStart::Spare`]: it starts only when an action names it, and
//! its client id comes after every declared client's, so a scenario with these clients runs
//! exactly as the scenario alone until the learner uses one of them.

use crate::scenario::{ClientStart, ConsumerSpec, ProducerSpec, Scenario};
use gregor_core::client::consumer::{CommitMode, ConsumerWorkload};
use gregor_core::client::producer::Workload;
use gregor_core::config::{ConsumerConfig, OffsetReset, ProducerConfig};
use gregor_core::ids::TopicName;
use gregor_core::map::VecSet;
use gregor_core::time::Duration;

/// Spare members the classroom keeps for each consumer group.
pub const SPARE_MEMBERS: usize = 3;

/// The `acks` settings a learner can send a record with, as Kafka writes them.
pub const CONSOLE_ACKS: [&str; 3] = ["all", "1", "0"];

/// The name of the console producer that sends to `topic` with `acks`: `console-all` when the
/// scenario has one topic, `orders-console-all` when it has several.
pub fn console_producer(scenario: &Scenario, topic: &TopicName, acks: &str) -> String {
    if scenario.topics.len() == 1 {
        format!("console-{acks}")
    } else {
        format!("{topic}-console-{acks}")
    }
}

/// The group a spare consumer of `topic` joins when no declared member reads that topic.
pub fn readers_group(topic: &TopicName) -> String {
    format!("{topic}-readers")
}

/// The spare members of `group` not started yet are those of `scenario.consumers` with this
/// group and [`ClientStart::Spare`]; this names them in order.
pub fn spare_members<'a>(scenario: &'a Scenario, group: &'a str) -> impl Iterator<Item = &'a str> {
    scenario
        .consumers
        .iter()
        .filter(move |c| {
            c.start == ClientStart::Spare && c.config.group_id.as_deref() == Some(group)
        })
        .map(|c| c.name.as_str())
}

impl Scenario {
    /// The scenario with the classroom's clients added (see the module's documentation):
    /// for each topic, console producers with acks=all (idempotent, Kafka's default), acks=1
    /// and acks=0; for each consumer group, [`SPARE_MEMBERS`] spare members configured as its
    /// first declared member; and for each topic no group reads, a group `TOPIC-readers` of
    /// spare members that commit after processing. A scenario that declares no group gets
    /// `offsets.topic.num.partitions=1` for the group a spare starts. `source` stays as it was (the
    /// file's text, or empty in the classroom's bundle): the added clients are not part of it.
    pub fn with_classroom_clients(mut self) -> Scenario {
        if !self.has_groups() {
            // No group yet, so no `__consumer_offsets`: when a spare member starts one, a single
            // partition keeps the classroom's timeline to one coordinator's story instead of
            // Kafka's default fifty (the custom cluster does the same). No declared client
            // reads this setting, so the declared run is unchanged.
            self.broker_config.offsets_topic_num_partitions = 1;
        }
        let mut names: VecSet<String> = self
            .producers
            .iter()
            .map(|p| p.name.clone())
            .chain(self.consumers.iter().map(|c| c.name.clone()))
            .collect();
        let topics: Vec<TopicName> = self.topics.iter().map(|t| t.name.clone()).collect();
        for topic in &topics {
            for acks in CONSOLE_ACKS {
                let name = console_producer(&self, topic, acks);
                if !names.insert(name.clone()) {
                    continue; // a declared client has the name: keep the declared one
                }
                let mut config = ProducerConfig::default();
                config
                    .set("acks", acks)
                    .expect("acks all, 1 and 0 are valid");
                let Ok(config) = config.validate() else {
                    continue;
                };
                self.producers.push(ProducerSpec {
                    name,
                    workload: Workload {
                        topic: topic.clone(),
                        keys: None,
                        rate_per_sec: 1,
                        count: 0,
                        transaction: None,
                    },
                    config,
                    start: ClientStart::Spare,
                });
            }
        }
        let mut next = 1;
        let mut fresh_name = |names: &mut VecSet<String>| loop {
            let name = format!("c{next}");
            next += 1;
            if names.insert(name.clone()) {
                return name;
            }
        };
        // Each group's template: its first declared member.
        let mut templates: Vec<ConsumerSpec> = Vec::new();
        for c in &self.consumers {
            if let Some(g) = &c.config.group_id
                && !templates
                    .iter()
                    .any(|t| t.config.group_id.as_ref() == Some(g))
            {
                templates.push(c.clone());
            }
        }
        for topic in &topics {
            let read = templates
                .iter()
                .any(|t| t.workload.subscribe.contains(topic));
            if !read {
                let config = ConsumerConfig {
                    group_id: Some(readers_group(topic)),
                    auto_offset_reset: OffsetReset::Earliest,
                    enable_auto_commit: false,
                    ..ConsumerConfig::default()
                };
                templates.push(ConsumerSpec {
                    name: String::new(),
                    workload: ConsumerWorkload {
                        assign: Vec::new(),
                        subscribe: vec![topic.clone()],
                        processing_time: Duration(0),
                        commit: CommitMode::AfterProcessing,
                    },
                    config,
                    start: ClientStart::Spare,
                    output: None,
                });
            }
        }
        for template in templates {
            for _ in 0..SPARE_MEMBERS {
                let mut spare = template.clone();
                spare.name = fresh_name(&mut names);
                spare.start = ClientStart::Spare;
                // A static member's instance id belongs to that member; a spare joins as a
                // dynamic member.
                spare.config.group_instance_id = None;
                self.consumers.push(spare);
            }
        }
        self
    }
}
