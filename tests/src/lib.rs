//! Helpers that let tests read like stories: build a scenario from TOML text, play it to a
//! time, act on it, and ask what the cluster looks like, in the words a Kafka user would use.
//! [`generate`] and [`property`] are the generators and the runner of the property tests.

pub mod generate;
pub mod property;

use gregor_core::ids::{BrokerId, NodeId, Offset, TopicPartition};
use gregor_core::node::Event;
use gregor_core::time::Instant;
use gregor_sim::runner::{Run, RunOptions, RunReport};
use gregor_sim::scenario::{Action, Scenario, parse_duration};
use gregor_sim::world::{Logged, World, WorldEvent};

/// Parses a scenario written inline in a test; panics with the parser's message if it is bad,
/// because a test's own scenario must be valid.
pub fn scenario(toml: &str) -> Scenario {
    Scenario::parse("test.toml", toml)
        .unwrap_or_else(|e| panic!("the test's scenario is invalid: {e}"))
}

/// The folder of the shipped scenarios.
pub fn scenarios_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// A shipped scenario, by file name (`"min-isr.toml"`).
pub fn shipped(name: &str) -> Scenario {
    let path = scenarios_dir().join(name);
    Scenario::from_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a scenario to its verdict with a seed.
pub fn run(s: &Scenario, seed: u64) -> RunReport {
    Run::new(
        s,
        &RunOptions {
            seed: Some(seed),
            trace: false,
            ..RunOptions::default()
        },
    )
    .run()
}

/// Reads `"12s"` as an instant.
pub fn at(text: &str) -> Instant {
    Instant(parse_duration(text).expect("a valid duration").0)
}

/// Reads `"topic/N"`.
pub fn tp(text: &str) -> TopicPartition {
    let (t, p) = text.rsplit_once('/').expect("topic/N");
    TopicPartition::new(t, p.parse().expect("a partition number"))
}

/// A scenario being played step by step.
pub struct Live<'a> {
    /// The run.
    pub run: Run<'a>,
}

impl<'a> Live<'a> {
    /// Boots the cluster of `s` (brokers registered, topics led, clients started).
    pub fn start(s: &'a Scenario, seed: u64) -> Live<'a> {
        let mut run = Run::new(
            s,
            &RunOptions {
                seed: Some(seed),
                trace: false,
                ..RunOptions::default()
            },
        );
        assert!(run.bootstrap(), "the cluster never became ready");
        Live { run }
    }

    /// Plays the timeline (and the checkers) up to `time`.
    pub fn until(&mut self, time: &str) -> &mut Self {
        self.run.play_until(at(time));
        self
    }

    /// Applies an action now.
    pub fn act(&mut self, action: Action) -> &mut Self {
        self.run.apply(&action);
        self
    }

    /// The world.
    pub fn world(&self) -> &World {
        &self.run.world
    }

    /// The controller's leader of a partition.
    pub fn leader(&self, p: &str) -> Option<u32> {
        self.world()
            .controller()
            .and_then(|c| c.image().partition(&tp(p)))
            .and_then(|r| r.leader)
            .map(|b| b.0)
    }

    /// The controller's ISR of a partition.
    pub fn isr(&self, p: &str) -> Vec<u32> {
        self.world()
            .controller()
            .and_then(|c| c.image().partition(&tp(p)))
            .map(|r| r.isr.iter().map(|b| b.0).collect())
            .unwrap_or_default()
    }

    /// The controller's leader epoch of a partition.
    pub fn leader_epoch(&self, p: &str) -> u32 {
        self.world()
            .controller()
            .and_then(|c| c.image().partition(&tp(p)))
            .map_or(0, |r| r.leader_epoch.0)
    }

    /// A broker's log end offset for a partition (from its disk, up or down).
    pub fn log_end(&self, broker: u32, p: &str) -> u64 {
        self.world()
            .broker_disk(BrokerId(broker))
            .and_then(|d| d.logs.get(&tp(p)))
            .map_or(0, |l| l.log_end_offset().0)
    }

    /// A broker's high watermark for a partition.
    pub fn hw(&self, broker: u32, p: &str) -> u64 {
        self.world()
            .broker_disk(BrokerId(broker))
            .and_then(|d| d.logs.get(&tp(p)))
            .map_or(0, |l| l.high_watermark().0)
    }

    /// The record value at an offset of a broker's log.
    pub fn value_at(&self, broker: u32, p: &str, offset: u64) -> Option<String> {
        let log = self
            .world()
            .broker_disk(BrokerId(broker))?
            .logs
            .get(&tp(p))?;
        log.record_at(Offset(offset))
            .and_then(|(r, _)| r.value.as_ref().map(ToString::to_string))
    }

    /// Every node event so far, with its time and node.
    pub fn events(&self) -> impl Iterator<Item = (Instant, NodeId, &Event)> + '_ {
        self.world()
            .log()
            .iter()
            .filter_map(|l: &Logged| match &l.event {
                WorldEvent::Node(e) => Some((l.time, l.node, e)),
                _ => None,
            })
    }

    /// Violations the invariants found so far.
    pub fn violations(&self) -> Vec<String> {
        self.run
            .invariants
            .violations
            .iter()
            .map(|v| format!("{}: {}", v.check, v.detail))
            .collect()
    }
}

/// A report's failed checks, for assertion messages.
pub fn failures(r: &RunReport) -> Vec<String> {
    r.checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect()
}

/// A report's check by name; a run that lacks it fails the test (the rule was not checked).
pub fn check_named<'a>(r: &'a RunReport, name: &str) -> &'a gregor_sim::runner::Check {
    r.checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("the run has no check `{name}`"))
}

/// The story of a run as one line per event: virtual time, what kind of line it is, and the
/// text. Times are the run's virtual clock (never a wall clock), and the lines come in the
/// order the run produced them, so the rendering is the same for every build of the same model.
pub fn story_text(lines: &[gregor_sim::runner::StoryLine]) -> String {
    use gregor_sim::runner::StoryKind;
    use std::fmt::Write as _;
    let mut out = String::new();
    for l in lines {
        let kind = match l.kind {
            StoryKind::Event => "event",
            StoryKind::Fault => "fault",
            StoryKind::Election => "election",
            StoryKind::UncleanElection => "unclean",
            StoryKind::Loss => "loss",
            StoryKind::CheckFailed => "CHECK",
            StoryKind::Note => "note",
        };
        let _ = writeln!(
            out,
            "{:>9}  {kind:<8}  {}",
            Instant(l.time_ms).to_string(),
            l.text
        );
    }
    out
}

/// Every shipped scenario file, by name, in name order.
pub fn shipped_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(scenarios_dir())
        .expect("the scenarios folder")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".toml"))
        .collect();
    gregor_core::sort::sort(&mut names);
    names
}
