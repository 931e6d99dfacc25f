//! The cluster against a small model of its committed records, driven by
//! proptest-state-machine: random sequences of crashes, restarts, pauses, resumes, isolations,
//! heals and the controller's own crash, with time passing between them, applied to a running
//! cluster of three brokers (RF 3, min.insync.replicas 2, acks=all, unclean election off, an
//! idempotent producer writing throughout).
//!
//! The model is what a client may rely on: every record acknowledged to the producer is
//! committed at the offset it was acknowledged at, for good (KAFKA.md 3.4: an acks=all record
//! is on every member of an ISR of at least min.insync.replicas; 3.7: only an ISR member can be
//! elected with unclean election off; KAFKA.md 7.1, the 2013 Jepsen schedule that this
//! configuration defeats). The model grows as acknowledgements arrive, and after every step the
//! broker acting as leader of each partition must hold every acknowledged record at its offset,
//! an offset must never be acknowledged for two records, and the per-step invariants
//! (`gregor_sim::checker::invariants`) must all hold. At the end everything is healed and
//! restarted, and every partition must again be led by a broker holding every acknowledged
//! record. Power losses are left out: they are outside the promise, and the generated-scenario
//! property `acks_all_with_min_isr_2_loses_no_acknowledged_record` covers how they are reported.

use gregor_core::bytes::Bytes;
use gregor_core::ids::{BrokerId, NodeId, Offset, TopicPartition};
use gregor_core::node::Event;
use gregor_sim::cluster::Status;
use gregor_sim::runner::{Run, RunOptions};
use gregor_sim::scenario::{Action, Scenario, Target};
use gregor_sim::world::WorldEvent;
use gregor_tests::at;
use gregor_tests::property::Property;
use proptest::prelude::*;
use proptest::test_runner::Config;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// The cluster under test: no timeline of its own (the state machine is the timeline), a
/// producer that writes for longer than any sequence of steps runs.
static SCENARIO: LazyLock<Scenario> = LazyLock::new(|| {
    gregor_tests::scenario(
        r#"
name = "cluster against a model of committed records"
duration = "1h"

[cluster]
brokers = 3
config = { "request.timeout.ms" = 5000 }

[[topic]]
name = "t"
partitions = 2
replication_factor = 3
config = { "min.insync.replicas" = 2 }

[[producer]]
id = "p1"
topic = "t"
keys = 8
rate_per_sec = 100
count = 1000000
acks = "all"
idempotence = true
config = { "request.timeout.ms" = 5000 }
"#,
    )
});

/// A server of the cluster, as the model sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Up {
    Running,
    Paused,
    Crashed,
}

/// The model: which server is up, paused or down, and which are cut off. (What is committed
/// is learnt from the acknowledgements, see [`Sut`].)
#[derive(Clone, Debug)]
struct Servers {
    brokers: [Up; 3],
    controller: Up,
    isolated: bool,
}

#[derive(Clone, Debug)]
enum Step {
    /// Let this much virtual time pass (ms).
    Wait(u64),
    Crash(u32),
    Restart(u32),
    Pause(u32),
    Resume(u32),
    Isolate(u32),
    CrashController,
    RestartController,
    Heal,
}

struct ClusterMachine;

impl ReferenceStateMachine for ClusterMachine {
    type State = Servers;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Servers> {
        Just(Servers {
            brokers: [Up::Running; 3],
            controller: Up::Running,
            isolated: false,
        })
        .boxed()
    }

    fn transitions(_: &Servers) -> BoxedStrategy<Step> {
        prop_oneof![
            4 => (200u64..=12_000).prop_map(Step::Wait),
            2 => (1u32..=3).prop_map(Step::Crash),
            2 => (1u32..=3).prop_map(Step::Restart),
            1 => (1u32..=3).prop_map(Step::Pause),
            1 => (1u32..=3).prop_map(Step::Resume),
            1 => (1u32..=3).prop_map(Step::Isolate),
            1 => Just(Step::CrashController),
            1 => Just(Step::RestartController),
            1 => Just(Step::Heal),
        ]
        .boxed()
    }

    /// Steps only do what an operator could: restart what is down, resume what is paused,
    /// crash or pause what runs.
    fn preconditions(s: &Servers, step: &Step) -> bool {
        let b = |n: &u32| s.brokers[(*n - 1) as usize];
        match step {
            Step::Crash(n) => b(n) != Up::Crashed,
            Step::Restart(n) => b(n) == Up::Crashed,
            Step::Pause(n) => b(n) == Up::Running,
            Step::Resume(n) => b(n) == Up::Paused,
            Step::CrashController => s.controller == Up::Running,
            Step::RestartController => s.controller == Up::Crashed,
            Step::Isolate(_) | Step::Wait(_) | Step::Heal => true,
        }
    }

    fn apply(mut s: Servers, step: &Step) -> Servers {
        match *step {
            Step::Crash(n) => s.brokers[(n - 1) as usize] = Up::Crashed,
            Step::Restart(n) | Step::Resume(n) => s.brokers[(n - 1) as usize] = Up::Running,
            Step::Pause(n) => s.brokers[(n - 1) as usize] = Up::Paused,
            Step::CrashController => s.controller = Up::Crashed,
            Step::RestartController => s.controller = Up::Running,
            Step::Isolate(_) => s.isolated = true,
            Step::Heal => s.isolated = false,
            Step::Wait(_) => {}
        }
        s
    }
}

/// The system under test: a running cluster, and the records acknowledged so far.
struct Sut {
    run: Run<'static>,
    /// (partition, offset) -> the record acknowledged there.
    committed: BTreeMap<(TopicPartition, u64), Bytes>,
    /// How much of the World's log has been read for acknowledgements.
    read: usize,
}

impl Sut {
    /// Reads the acknowledgements the last step produced into the model; an offset
    /// acknowledged for a second, different record is a failure at once.
    fn learn(&mut self) {
        let log = self.run.world.log();
        for e in &log[self.read..] {
            if let WorldEvent::Node(Event::RecordAcknowledged {
                value,
                topic_partition,
                offset: Some(offset),
            }) = &e.event
            {
                let key = (topic_partition.clone(), offset.0);
                if let Some(earlier) = self.committed.get(&key) {
                    assert_eq!(
                        earlier, value,
                        "offset {} of {topic_partition} acknowledged for two records",
                        offset.0
                    );
                }
                self.committed.insert(key, value.clone());
            }
        }
        self.read = log.len();
    }

    /// Every partition whose leader acts as one: that leader holds every acknowledged record of
    /// the partition at its offset. Returns how many partitions had an acting leader.
    fn leaders_hold_what_was_acknowledged(&self) -> usize {
        let w = &self.run.world;
        let mut led = 0;
        for tp in SCENARIO.partitions() {
            let Some(leader) = w
                .controller()
                .and_then(|c| c.image().partition(&tp))
                .and_then(|p| p.leader)
            else {
                continue;
            };
            let Some(log) = w
                .broker(leader)
                .filter(|b| b.partition(&tp).is_some_and(|p| p.is_leader()))
                .and_then(|b| b.log(&tp))
            else {
                continue;
            };
            led += 1;
            for ((p, offset), value) in self.committed.range((tp.clone(), 0)..) {
                if p != &tp {
                    break;
                }
                let held = log
                    .record_at(Offset(*offset))
                    .and_then(|(r, _)| r.value.clone());
                assert_eq!(
                    held.as_ref(),
                    Some(value),
                    "broker {leader} leads {tp} without the record acknowledged at offset {offset}"
                );
            }
        }
        led
    }
}

struct ClusterTest;

impl StateMachineTest for ClusterTest {
    type SystemUnderTest = Sut;
    type Reference = ClusterMachine;

    fn init_test(_: &Servers) -> Sut {
        let mut run = Run::new(
            &SCENARIO,
            &RunOptions {
                seed: Some(1),
                ..RunOptions::default()
            },
        );
        assert!(run.bootstrap(), "the cluster never became ready");
        Sut {
            run,
            committed: BTreeMap::new(),
            read: 0,
        }
    }

    fn apply(mut sut: Sut, _: &Servers, step: Step) -> Sut {
        let broker = |n: u32| Target::Broker(BrokerId(n));
        let action = match step {
            Step::Wait(ms) => {
                let until = sut.run.world.now() + gregor_core::time::Duration(ms);
                sut.run.play_until(until);
                None
            }
            Step::Crash(n) => Some(Action::Crash(broker(n))),
            Step::Restart(n) => Some(Action::Restart(broker(n))),
            Step::Pause(n) => Some(Action::Pause(broker(n))),
            Step::Resume(n) => Some(Action::Resume(broker(n))),
            Step::Isolate(n) => Some(Action::Isolate(broker(n))),
            Step::CrashController => Some(Action::Crash(Target::Controller)),
            Step::RestartController => Some(Action::Restart(Target::Controller)),
            Step::Heal => Some(Action::Heal),
        };
        if let Some(a) = action {
            sut.run.apply(&a);
        }
        sut.learn();
        sut
    }

    fn check_invariants(sut: &Sut, servers: &Servers) {
        let violations: Vec<String> = sut
            .run
            .invariants
            .violations
            .iter()
            .map(|v| format!("at {}: {}: {}", v.time, v.check, v.detail))
            .collect();
        assert!(violations.is_empty(), "{violations:#?}");
        sut.leaders_hold_what_was_acknowledged();
        // The model and the cluster agree on who is up.
        let w = sut.run.world.cluster();
        for (i, up) in servers.brokers.iter().enumerate() {
            let status = w.status(NodeId::Broker(BrokerId(i as u32 + 1)));
            let want = match up {
                Up::Running => Status::Running,
                Up::Paused => Status::Paused,
                Up::Crashed => Status::Crashed,
            };
            assert_eq!(status, want, "broker {}", i + 1);
        }
    }

    /// Heals and restarts everything, lets the cluster settle, and checks that every partition
    /// is led again by a broker holding every acknowledged record.
    fn teardown(mut sut: Sut, _: Servers) {
        for a in [
            Action::Heal,
            Action::Resume(Target::All),
            Action::Restart(Target::All),
        ] {
            sut.run.apply(&a);
        }
        let until = sut.run.world.now() + gregor_core::time::Duration::from_secs(60);
        sut.run.play_until(until);
        sut.learn();
        assert_eq!(
            sut.leaders_hold_what_was_acknowledged(),
            SCENARIO.partitions().len(),
            "a partition has no acting leader a minute after everything was healed"
        );
        assert!(
            sut.run.invariants.violations.is_empty(),
            "{:#?}",
            sut.run.invariants.violations
        );
    }
}

#[test]
fn the_cluster_keeps_every_acknowledged_record_of_the_model() {
    let mut runner = Property::new(
        "the_cluster_keeps_every_acknowledged_record_of_the_model",
        file!(),
    )
    .cases(128)
    .runner();
    let strategy = ClusterMachine::sequential_strategy(1..24);
    let result = runner.run(&strategy, |(initial, steps, seen)| {
        ClusterTest::test_sequential(Config::default(), initial, steps, seen);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The model is not vacuous: without faults the producer's records are acknowledged, and the
/// leaders hold them.
#[test]
fn the_model_learns_acknowledged_records() {
    let mut sut = ClusterTest::init_test(&ClusterMachine::apply(
        Servers {
            brokers: [Up::Running; 3],
            controller: Up::Running,
            isolated: false,
        },
        &Step::Heal,
    ));
    sut.run.play_until(at("10s"));
    sut.learn();
    assert!(
        sut.committed.len() > 500,
        "only {} records acknowledged in 10s at 100 a second",
        sut.committed.len()
    );
    assert_eq!(sut.leaders_hold_what_was_acknowledged(), 2);
}
