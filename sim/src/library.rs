//! The scenarios a learner can pick in the classroom and a lesson can start from: the shipped
//! ones, built into the program, and an empty cluster of the learner's shape, each with the
//! classroom's clients (see [`crate::classroom`]).

use crate::scenario::{Scenario, default_assignment};

/// A scenario of the picker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shipped {
    /// Its id in links (the file name without `.toml`).
    pub id: &'static str,
    /// The TOML text.
    pub source: &'static str,
}

macro_rules! shipped {
    ($($id:literal),* $(,)?) => {
        &[$(Shipped {
            id: $id,
            source: include_str!(concat!("../../scenarios/", $id, ".toml")),
        }),*]
    };
}

/// The shipped scenarios, the default first.
pub const SHIPPED: &[Shipped] = shipped![
    "leader-failover",
    "min-isr",
    "acks1-leader-crash",
    "unclean-election",
    "kip101",
    "safe-under-many-faults",
    "group-rebalance",
    "cooperative-rebalance",
    "idle-consumers",
    "coordinator-failover",
    "at-least-once",
    "at-most-once",
    "retention",
    "compaction",
    "transactions",
    "exactly-once-pipeline",
    "delayed-endtxn",
    "swarm",
    "swarm-unsafe",
    "swarm-compaction",
];

/// The shape of an empty cluster a learner starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Custom {
    /// Brokers, 1 to 5.
    pub brokers: u32,
    /// Partitions of the topic `orders`, 1 to 8.
    pub partitions: u32,
    /// Replication factor, 1 to `brokers`.
    pub replication_factor: u32,
    /// `min.insync.replicas`, 1 to the replication factor.
    pub min_isr: u32,
}

impl Default for Custom {
    fn default() -> Custom {
        Custom {
            brokers: 3,
            partitions: 3,
            replication_factor: 3,
            min_isr: 2,
        }
    }
}

impl Custom {
    /// Its id in links: `custom-B-P-R-M`.
    pub fn id(&self) -> String {
        format!(
            "custom-{}-{}-{}-{}",
            self.brokers, self.partitions, self.replication_factor, self.min_isr
        )
    }

    /// Reads `custom-B-P-R-M`, checking each number's range.
    pub fn parse(id: &str) -> Result<Custom, String> {
        let rest = id
            .strip_prefix("custom-")
            .ok_or_else(|| format!("`{id}` is not `custom-B-P-R-M`"))?;
        let numbers: Vec<u32> = rest
            .split('-')
            .map(|n| n.parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("`{id}` is not `custom-B-P-R-M` (four numbers)"))?;
        let [brokers, partitions, replication_factor, min_isr] = numbers[..] else {
            return Err(format!("`{id}` is not `custom-B-P-R-M` (four numbers)"));
        };
        let c = Custom {
            brokers,
            partitions,
            replication_factor,
            min_isr,
        };
        if !(1..=5).contains(&brokers) {
            return Err(format!("{brokers} brokers: choose 1 to 5"));
        }
        if !(1..=8).contains(&partitions) {
            return Err(format!("{partitions} partitions: choose 1 to 8"));
        }
        if !(1..=brokers).contains(&replication_factor) {
            return Err(format!(
                "replication factor {replication_factor}: choose 1 to {brokers} (the brokers)"
            ));
        }
        if !(1..=replication_factor).contains(&min_isr) {
            return Err(format!(
                "min.insync.replicas {min_isr}: choose 1 to {replication_factor} (the replication factor)"
            ));
        }
        Ok(c)
    }

    /// The file name its errors and traces give.
    pub fn file(&self) -> String {
        format!("{} (your cluster)", self.id())
    }

    /// What it shows, as its scenario's `description` says.
    pub fn description(&self) -> String {
        format!(
            "{} brokers; orders has {} partitions, RF {}, min.insync.replicas {}. Start the producer, then break things.",
            self.brokers, self.partitions, self.replication_factor, self.min_isr
        )
    }

    /// The scenario: the cluster, the topic, an idempotent acks=all producer that starts
    /// stopped (the learner starts it), and a consumer group of one member.
    pub fn source(&self) -> String {
        format!(
            r#"name = "your cluster"
description = "{d}"
seed = 1
duration = "10m"

[cluster]
brokers = {b}
config = {{ "offsets.topic.num.partitions" = 1, "offsets.topic.replication.factor" = {r} }}

[[topic]]
name = "orders"
partitions = {p}
replication_factor = {r}
config = {{ "min.insync.replicas" = {m} }}

[[producer]]
id = "p1"
topic = "orders"
keys = 8
rate_per_sec = 20
count = 100000
acks = "all"
start = "manual"

[[consumer]]
id = "c1"
topic = "orders"
group = "readers"
commit = "after-processing"
start = "manual"
"#,
            d = self.description(),
            b = self.brokers,
            p = self.partitions,
            r = self.replication_factor,
            m = self.min_isr,
        )
    }
}

impl Custom {
    /// The scenario of this shape, made from the parsed scenario of another shape (`template`,
    /// without the classroom's clients) instead of parsing [`Custom::source`]: the classroom
    /// keeps one custom scenario parsed at build time and no TOML parser (see
    /// [`crate::compiled`]). Only what the numbers change is redone, the way the scenario
    /// checks do it; a test compares the result with the parsed source for every shape.
    pub fn scenario_from(&self, template: &Scenario) -> Scenario {
        let mut s = template.clone();
        s.file = self.file();
        s.source = self.source();
        s.description = Some(self.description());
        s.brokers = self.brokers;
        // Both values are in range: `Custom::parse` checked them.
        let set = |result: Result<(), gregor_core::config::ConfigError>| {
            result.expect("a custom cluster's numbers are valid configuration")
        };
        let rf = self.replication_factor.to_string();
        set(s.broker_config.set("offsets.topic.replication.factor", &rf));
        let assignment =
            default_assignment(&s.broker_ids(), self.partitions, self.replication_factor);
        let mut config = s.broker_config.topic_defaults();
        set(config.set("min.insync.replicas", &self.min_isr.to_string()));
        let topic = &mut s.topics[0];
        topic.assignment = assignment;
        topic.config = config;
        s
    }
}

/// The scenario a link's id names: a shipped one or a custom cluster, with the classroom's
/// console producers and spare consumers (see [`crate::classroom`]).
pub fn scenario(id: &str) -> Result<Scenario, String> {
    let (file, source) = if let Some(s) = SHIPPED.iter().find(|s| s.id == id) {
        (format!("scenarios/{id}.toml"), s.source.to_string())
    } else if id.starts_with("custom-") {
        let custom = Custom::parse(id)?;
        (custom.file(), custom.source())
    } else {
        return Err(format!("no scenario is called `{id}`"));
    };
    Scenario::parse(&file, &source)
        .map(Scenario::with_classroom_clients)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_scenario_parses() {
        for s in SHIPPED {
            scenario(s.id).unwrap_or_else(|e| panic!("{}: {e}", s.id));
        }
    }

    #[test]
    fn a_custom_cluster_has_the_shape_asked_for() {
        let c = Custom {
            brokers: 4,
            partitions: 6,
            replication_factor: 3,
            min_isr: 2,
        };
        assert_eq!(Custom::parse(&c.id()), Ok(c));
        let s = scenario(&c.id()).unwrap();
        assert_eq!(s.brokers, 4);
        assert_eq!(s.topics[0].assignment.len(), 6);
        assert!(s.topics[0].assignment.iter().all(|r| r.len() == 3));
        assert_eq!(s.topics[0].config.min_insync_replicas, 2);
    }

    #[test]
    fn a_custom_cluster_out_of_range_is_refused_with_the_reason() {
        for (id, why) in [
            ("custom-9-1-1-1", "choose 1 to 5"),
            ("custom-3-0-1-1", "choose 1 to 8"),
            ("custom-2-1-3-1", "choose 1 to 2 (the brokers)"),
            ("custom-3-1-3-4", "choose 1 to 3 (the replication factor)"),
            ("custom-3-1", "four numbers"),
            ("custom-a-b-c-d", "four numbers"),
        ] {
            let err = Custom::parse(id).unwrap_err();
            assert!(err.contains(why), "{id}: {err}");
        }
        assert!(scenario("nope").unwrap_err().contains("no scenario"));
    }
}
