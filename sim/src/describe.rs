//! `gregor describe`: the cluster at a virtual time, in the shape of `kafka-topics --describe`
//! (`TopicCommand.java`, docs/kafka-source-notes.md question 9), followed by the consumer groups
//! in the shape of `kafka-consumer-groups --describe`.

use crate::cluster::{Cluster, Status};
use crate::scenario::Scenario;
use gregor_core::config::TopicConfig;
use gregor_core::ids::NodeId;
use std::fmt::Write as _;

/// Kafka prints topic ids as URL-safe base64 of 16 bytes without padding; the model's topic ids
/// are small integers, written into the low bytes.
fn topic_id_text(id: u64) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = [0u8; 16];
    bytes[8..].copy_from_slice(&id.to_be_bytes());
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// The describe output for every topic of a scenario, preceded by comment lines on the brokers.
pub fn describe(world: &Cluster, scenario: &Scenario) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# cluster at {} (scenario {}, seed {})",
        world.now(),
        scenario.name,
        world.seed()
    );
    let image = world.controller().map(|c| c.image());
    for b in scenario.broker_ids() {
        let status = world.status(NodeId::Broker(b));
        let fenced = image
            .and_then(|i| i.brokers.get(&b))
            .is_none_or(|r| r.fenced);
        let state = match status {
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Crashed => "crashed",
            Status::NotStarted => "not started",
        };
        let _ = writeln!(
            out,
            "# broker {b}: {state}, {}",
            if fenced { "fenced" } else { "unfenced" }
        );
    }
    let Some(image) = image else {
        let _ = writeln!(out, "# the controller is down: no metadata to describe");
        return out;
    };
    let defaults = TopicConfig::default();
    for (name, topic) in &image.topics {
        let rf = topic.partitions.first().map_or(0, |p| p.replicas.len());
        let _ = writeln!(
            out,
            "Topic: {name}\tTopicId: {}\tPartitionCount: {}\tReplicationFactor: {rf}\tConfigs: {}",
            topic_id_text(topic.id),
            topic.partitions.len(),
            topic.config.overrides(&defaults).join(",")
        );
        for (i, p) in topic.partitions.iter().enumerate() {
            let ids = |v: &[gregor_core::ids::BrokerId]| {
                v.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            };
            // Kafka prints a leader that is not alive as none, like one that is missing.
            let leader = p
                .leader
                .filter(|l| image.is_active(*l))
                .map_or_else(|| "none".to_string(), |l| l.to_string());
            let _ = writeln!(
                out,
                "\tTopic: {name}\tPartition: {i}\tLeader: {leader}\tReplicas: {}\tIsr: {}\tElr: \tLastKnownElr: ",
                ids(&p.replicas),
                ids(&p.isr)
            );
        }
    }
    if scenario.has_groups() {
        out.push_str(&crate::groups::describe_groups(world, scenario));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_ids_look_like_kafka_uuids() {
        let s = topic_id_text(1);
        assert_eq!(s.len(), 22, "16 bytes of base64 without padding");
        assert_eq!(s, "AAAAAAAAAAAAAAAAAAAAAQ");
    }
}
