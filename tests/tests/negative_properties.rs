//! Negative properties: where Kafka does not promise durability (acks=1; unclean leader
//! election), a search over generated fault schedules must find a run that loses acknowledged
//! records, and proptest must shrink it to a schedule a person can read. This proves that the
//! oracle can fail: a checker that never reports a loss would pass every positive property.
//!
//! Each search is followed by the counterexample it shrank to, written down as a scenario and
//! kept as a named regression with a comment saying how the loss happens.

use gregor_sim::replay::replay;
use gregor_sim::scenario::Scenario;
use gregor_tests::generate::{Acks, FaultKind, case, network, producers, topic};
use gregor_tests::property::{Counterexample, Property, Verdict, run_case};
use gregor_tests::{check_named, failures, run};
use proptest::prelude::*;

/// The claim both searches break: every acknowledged record is in the final read.
fn no_acknowledged_record_lost(o: &gregor_tests::property::Outcome) -> Verdict {
    let h = &o.report.history;
    if h.lost_acknowledged == 0 {
        Ok(())
    } else {
        Err(format!(
            "{} acknowledged records lost; first: {}",
            h.lost_acknowledged,
            h.lost
                .first()
                .map_or_else(String::new, |l| format!("{} {}", l.value, l.explanation))
        ))
    }
}

/// Crashes, pauses and network faults of the servers (no power loss: the losses found must
/// come from the configuration, not from the disks).
const FAULTS: &[FaultKind] = &[
    FaultKind::Crash,
    FaultKind::Pause,
    FaultKind::Isolate,
    FaultKind::Cut,
    FaultKind::Split,
];

/// Checks what a search left: the counterexample loses records when run again, and its trace
/// was written and replays through the core with every digest matching, so that
/// `gregor replay` and the classroom can open it.
fn loses_again_and_replays(found: &Counterexample) {
    let case = &found.case;
    let verdict = run_case(case, no_acknowledged_record_lost);
    assert!(
        verdict.is_err(),
        "the shrunk counterexample no longer loses anything:{case:?}"
    );
    let scenario = std::fs::read_to_string(&found.scenario_path).expect("the scenario file");
    assert_eq!(scenario, case.toml());
    let trace = std::fs::read_to_string(&found.trace_path).expect("the trace file");
    let summary = replay(&found.trace_path.display().to_string(), &trace)
        .unwrap_or_else(|e| panic!("the counterexample's trace does not replay: {e}"));
    assert_eq!(summary.header.seed, case.seed);
    assert_eq!(summary.header.scenario_source, case.toml());
    assert!(summary.digests >= 1, "{summary:?}");
    assert!(
        found.instructions.contains("gregor -- replay")
            && found.instructions.contains("Open trace"),
        "{}",
        found.instructions
    );
}

/// acks=1: "the leader will write the record to its local log but will respond without
/// awaiting full acknowledgement from all followers. In this case should the leader fail
/// immediately after acknowledging the record but before the followers have replicated it then
/// the record will be lost" (Kafka's `ProducerConfig` `ACKS_DOC`, KAFKA.md 3.4).
#[test]
fn a_search_finds_acks_1_losing_acknowledged_records() {
    let strategy = case(
        topic(3, 1, false),
        producers(Acks::One, Some(false)),
        None,
        network(false),
        FAULTS,
        4,
    );
    let found = Property::new("acks_1_keeps_every_acknowledged_record", file!())
        .cases(256)
        .max_shrink_iters(400)
        .find_counterexample(strategy, |_, o| no_acknowledged_record_lost(o));
    let case = &found.case;
    assert!(
        case.faults.len() <= 2,
        "the counterexample shrank to {} faults:{case:?}",
        case.faults.len()
    );
    loses_again_and_replays(&found);
}

/// Unclean leader election on (with acks=all): "enabling it may result in data loss" (Kafka's
/// `TopicConfig` `UNCLEAN_LEADER_ELECTION_ENABLE_DOC`); a replica from outside the ISR may be
/// elected, and what only the ISR had is truncated away (KAFKA.md 3.7, and the Jepsen analysis
/// of 2013 that led to the setting, KAFKA.md 7.1). Min ISR 1, so that a leader alone in its ISR
/// keeps acknowledging.
#[test]
fn a_search_finds_unclean_election_losing_acknowledged_records() {
    let topics = (2u32..=3).prop_flat_map(|rf| topic(rf, 1, true)).boxed();
    let strategy = case(
        topics,
        producers(Acks::All, None),
        None,
        network(false),
        &[FaultKind::Crash],
        4,
    );
    let found = Property::new("unclean_election_keeps_every_acknowledged_record", file!())
        .cases(1024)
        .max_shrink_iters(400)
        .find_counterexample(strategy, |_, o| no_acknowledged_record_lost(o));
    let case = &found.case;
    assert!(case.topic.unclean, "{case:?}");
    assert!(
        case.faults.len() <= 3,
        "the counterexample shrank to {} faults:{case:?}",
        case.faults.len()
    );
    loses_again_and_replays(&found);
}

/// The counterexample `a_search_finds_acks_1_losing_acknowledged_records` shrank to (its seed
/// file is `tests/proptest-regressions/acks_1_keeps_every_acknowledged_record.txt`): one crash of
/// the leader.
///
/// How the loss happens: with acks=1 broker 1, the leader of t/0, answers a produce as soon as
/// the records are in its own log. When its process dies at 6.383s it has acknowledged p1-671,
/// which neither follower has fetched yet (a fetch round trip takes a few milliseconds). Its
/// restart half a second later is refused while the old incarnation's session lives
/// (DUPLICATE_BROKER_REGISTRATION); when that session expires at 15.321s the controller fences
/// broker 1 and elects broker 2, first of the ISR, whose log ends at 671. Broker 1 registers
/// again, follows, and truncates its log from 673 to 671 as the new leader's epoch says: p1-671
/// was acknowledged and is gone.
const ACKS_1_LEADER_CRASH: &str = r#"
name = "generated"
seed = 52332114
duration = "30000ms"

[cluster]
brokers = 3
config = { "offsets.topic.num.partitions" = 2, "request.timeout.ms" = 5000 }

[network]
latency = "1ms..30ms"
loss = 0
duplicate = 0

[[topic]]
name = "t"
partitions = 1
replication_factor = 3
config = { "min.insync.replicas" = 1, "unclean.leader.election.enable" = false }

[[producer]]
id = "p1"
topic = "t"
rate_per_sec = 110
count = 1152
acks = 1
idempotence = false
config = { "request.timeout.ms" = 5000 }

[[at]]
time = "6383ms"
crash = "leader of t/0"

[[at]]
time = "6883ms"
restart = "all"
"#;

#[test]
fn acks_1_a_leader_crash_loses_the_records_only_it_had() {
    let s = scenario(ACKS_1_LEADER_CRASH);
    let r = run(&s, s.seed);
    // The loss is allowed by the configuration, so the run passes and reports it.
    assert!(r.passed(), "{:?}", failures(&r));
    let h = &r.history;
    assert!(h.lost_acknowledged >= 1, "nothing lost: {h:?}");
    let first = &h.lost[0];
    assert_eq!(first.topic, "t");
    assert!(
        first
            .explanation
            .contains("by leader broker 1 in epoch 0; then broker"),
        "{}",
        first.explanation
    );
    assert!(
        first.explanation.contains("broker 1 truncated its log"),
        "{}",
        first.explanation
    );
    let promise = check_named(&r, "no acknowledged record lost");
    assert!(
        promise
            .detail
            .contains("allowed because a producer uses acks below all"),
        "{}",
        promise.detail
    );
}

/// The counterexample `a_search_finds_unclean_election_losing_acknowledged_records` shrank to
/// (`tests/proptest-regressions/unclean_election_keeps_every_acknowledged_record.txt`): two
/// crashes and their restarts.
///
/// How the loss happens: t/1 has replicas [2, 3] and min.insync.replicas 1. Broker 2, its
/// leader, crashes at 1s; when it is fenced (9.048s) the controller elects broker 3 with the
/// ISR [3], and broker 3 goes on acknowledging acks=all writes alone. Broker 2 restarts at
/// 11.944s, truncates its log to 92 (where epoch 0 ends on the leader) and is unfenced at
/// 11.987s, 5 ms after broker 3 crashed and before it could fetch anything. Broker 3's restart
/// is refused while its old session lives; when that session expires (19.077s) the controller
/// fences broker 3, no ISR member is left, and since the topic allows it the controller elects
/// broker 2 from outside the ISR (KAFKA.md 3.7). Broker 3 comes back and truncates its log from
/// 230 to 92 to follow broker 2: 138 acknowledged records are gone.
const UNCLEAN_ELECTION_AFTER_TWO_CRASHES: &str = r#"
name = "generated"
seed = 0
duration = "30000ms"

[cluster]
brokers = 3
config = { "offsets.topic.num.partitions" = 2, "request.timeout.ms" = 5000 }

[network]
latency = "1ms..8ms"
loss = 0
duplicate = 0

[[topic]]
name = "t"
partitions = 2
replication_factor = 2
config = { "min.insync.replicas" = 1, "unclean.leader.election.enable" = true }

[[producer]]
id = "p1"
topic = "t"
keys = 1
rate_per_sec = 100
count = 230
acks = "all"
idempotence = false
config = { "request.timeout.ms" = 5000 }

[[at]]
time = "1000ms"
crash = "broker 2"

[[at]]
time = "11944ms"
restart = "broker 2"

[[at]]
time = "11982ms"
crash = "leader of t/1"

[[at]]
time = "12482ms"
restart = "all"
"#;

#[test]
fn unclean_election_elects_a_restarted_replica_that_missed_acknowledged_records() {
    let s = scenario(UNCLEAN_ELECTION_AFTER_TWO_CRASHES);
    let r = run(&s, s.seed);
    assert!(r.passed(), "{:?}", failures(&r));
    let h = &r.history;
    assert!(h.lost_acknowledged >= 1, "nothing lost: {h:?}");
    let first = &h.lost[0];
    assert_eq!((first.topic.as_str(), first.partition), ("t", 1));
    assert!(
        first
            .explanation
            .contains("broker 2 was elected leader in epoch 2 uncleanly, from outside the ISR"),
        "{}",
        first.explanation
    );
    assert!(
        first.explanation.contains("broker 3 truncated its log"),
        "{}",
        first.explanation
    );
    // The story shows the unclean election, and the invariant checker counts the loss as
    // allowed, with its reason.
    assert!(
        r.story
            .iter()
            .any(|l| l.text.contains("elected leader UNCLEANLY")),
        "no unclean election in the story"
    );
    let kept = check_named(&r, "committed records kept");
    assert!(
        kept.detail.contains("allowed: an unclean election"),
        "{}",
        kept.detail
    );
}

/// Parses a regression's scenario.
fn scenario(text: &str) -> Scenario {
    gregor_tests::scenario(text)
}
