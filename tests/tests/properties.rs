//! Delivery semantics as properties: each test draws whole scenarios (a topic, producers, maybe
//! a consumer group, the network, and a schedule of faults each undone after an outage), runs
//! every one to its verdict on the World, and checks one promise of Kafka on the run's report
//! (the checkers' verdicts and the history oracle's counts) or on its log.
//!
//! Each property is named after what it checks and cites where the guarantee comes from. A
//! failure is shrunk by proptest to a small schedule, printed as a scenario file, and written
//! with its trace to `target/counterexamples/` (see `gregor_tests::property`), ready for
//! `gregor replay` and the classroom.
//!
//! The case counts keep the whole test command within CI's budget; `GREGOR_PROPTEST_CASES=N`
//! runs more (README, "Tests").

use gregor_core::bytes::Bytes;
use gregor_core::ids::{NodeId, Offset, TopicPartition};
use gregor_core::node::Event;
use gregor_sim::runner::RunReport;
use gregor_sim::world::{World, WorldEvent};
use gregor_tests::generate::{
    Acks, Case, Commit, FaultKind, GroupShape, SERVER_FAULTS, TopicShape, case, group, network,
    producers, topic,
};
use gregor_tests::property::{Outcome, Property, Verdict};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// The server faults and power losses.
const SERVER_FAULTS_AND_POWER_LOSS: &[FaultKind] = &[
    FaultKind::Crash,
    FaultKind::Pause,
    FaultKind::Isolate,
    FaultKind::Cut,
    FaultKind::Split,
    FaultKind::Clog,
    FaultKind::PowerLoss,
];

/// The server faults and a group member's crash.
const SERVER_AND_CONSUMER_FAULTS: &[FaultKind] = &[
    FaultKind::Crash,
    FaultKind::Pause,
    FaultKind::Isolate,
    FaultKind::Cut,
    FaultKind::Split,
    FaultKind::Clog,
    FaultKind::ConsumerCrash,
];

/// Everything a group can go through: server faults, member crashes, members leaving.
const SERVER_AND_CONSUMER_FAULTS_AND_LEAVES: &[FaultKind] = &[
    FaultKind::Crash,
    FaultKind::Pause,
    FaultKind::Isolate,
    FaultKind::Cut,
    FaultKind::Split,
    FaultKind::Clog,
    FaultKind::ConsumerCrash,
    FaultKind::ConsumerLeave,
];

/// Every fault there is.
const EVERY_FAULT: &[FaultKind] = &[
    FaultKind::Crash,
    FaultKind::Pause,
    FaultKind::Isolate,
    FaultKind::Cut,
    FaultKind::Split,
    FaultKind::Clog,
    FaultKind::PowerLoss,
];

/// A check of the run's report, by name.
fn check<'a>(r: &'a RunReport, name: &str) -> Result<&'a gregor_sim::runner::Check, String> {
    r.checks
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| format!("the run has no check `{name}`"))
}

/// Fails unless the named checks all held.
fn held(r: &RunReport, names: &[&str]) -> Verdict {
    for name in names {
        let c = check(r, name)?;
        if !c.ok {
            return Err(format!("`{name}` failed: {}", c.detail));
        }
    }
    Ok(())
}

/// Counts from the oracle mean something only if the final read reached every partition's high
/// watermark; a run that never got there is a liveness failure, said as such.
fn read_complete(r: &RunReport) -> Verdict {
    if r.history.final_read_complete {
        Ok(())
    } else {
        let why = check(r, "converged after healing").map_or_else(|e| e, |c| c.detail.clone());
        Err(format!(
            "the final read did not reach every high watermark (liveness): {why}"
        ))
    }
}

/// acks=all, min.insync.replicas=2 of RF 3, unclean election off: an acknowledged record is on
/// every member of an ISR of at least two and survives as long as one of them does (KAFKA.md
/// 3.4 and 3.7, Kafka's `docs/design.html` "Availability and Durability Guarantees"); the 2013
/// Jepsen schedule cannot lose one under this configuration (KAFKA.md 7.1). The one exception
/// is a power loss taking unflushed records from the replica that then leads (KAFKA.md 3.6
/// scenario 2 and 3.8, "last replica standing"): such losses must be reported as allowed, record
/// by record, and without a power loss nothing at all may be lost.
#[test]
fn acks_all_with_min_isr_2_loses_no_acknowledged_record() {
    let strategy = case(
        topic(3, 2, false),
        producers(Acks::All, None),
        None,
        network(true),
        SERVER_FAULTS_AND_POWER_LOSS,
        5,
    );
    Property::new(
        "acks_all_with_min_isr_2_loses_no_acknowledged_record",
        file!(),
    )
    .cases(384)
    .check(strategy, |case, o| {
        let r = &o.report;
        read_complete(r)?;
        held(
            r,
            &["no acknowledged record lost", "committed records kept"],
        )?;
        let h = &r.history;
        if !case.has_power_loss() && (h.lost_acknowledged > 0 || h.inconsistent_offsets > 0) {
            return Err(format!(
                "{} acknowledged records lost and {} inconsistent offsets without a power loss",
                h.lost_acknowledged, h.inconsistent_offsets
            ));
        }
        if h.lost_acknowledged > 0 {
            let c = check(r, "committed records kept")?;
            if !c.detail.contains("power loss") {
                return Err(format!(
                    "{} records lost, but not reported as taken by a power loss: {}",
                    h.lost_acknowledged, c.detail
                ));
            }
        }
        Ok(())
    });
}

/// Idempotence on: within one producer session every record of a partition is written exactly
/// once and in send order, despite retries (KAFKA.md 4.1; `ENABLE_IDEMPOTENCE_DOC` in Kafka's
/// `ProducerConfig.java`: "exactly one copy of each message is written in the stream"). Jepsen's
/// Kafka checker calls the violations `duplicate` and nonmonotonic sends (KAFKA.md 7.2). The
/// network duplicates and loses messages here, which is what makes producers retry.
#[test]
fn idempotent_producers_write_each_record_once_in_send_order() {
    let strategy = case(
        topic(3, 2, false),
        producers(Acks::All, Some(true)),
        None,
        network(true),
        SERVER_FAULTS,
        5,
    );
    Property::new(
        "idempotent_producers_write_each_record_once_in_send_order",
        file!(),
    )
    .cases(384)
    .check(strategy, |_, o| {
        let r = &o.report;
        read_complete(r)?;
        held(
            r,
            &[
                "idempotent producers: no duplicates, send order kept",
                "failed sends stay absent",
            ],
        )?;
        let h = &r.history;
        if h.duplicates > 0 || h.nonmonotonic_sends > 0 || h.inconsistent_offsets > 0 {
            return Err(format!(
                "{} duplicated records, {} nonmonotonic sends, {} inconsistent offsets; first duplicates: {:?}",
                h.duplicates,
                h.nonmonotonic_sends,
                h.inconsistent_offsets,
                h.duplicated.iter().take(3).collect::<Vec<_>>()
            ));
        }
        Ok(())
    });
}

/// Any topic: RF 2 or 3, any min ISR, unclean election on or off.
fn any_topic() -> BoxedStrategy<TopicShape> {
    (2u32..=3, 1u32..=3, any::<bool>())
        .prop_flat_map(|(rf, min_isr, unclean)| topic(rf, min_isr.min(rf), unclean))
        .boxed()
}

/// Replication's own invariants, whatever the configuration and the faults (power losses and
/// unclean elections included): one leader per leader epoch (Kafka's TLA+ specification of
/// replication, `KafkaReplication.tla`, and KAFKA.md 3.1), the controller's leader is in the ISR
/// (KAFKA.md 3.7: a clean election picks from the ISR, an unclean one forces the ISR to the
/// leader), a leader's HW never goes back (KAFKA.md 3.1, `maybeIncrementHighWatermark`) nor
/// passes an ISR member's log end (KAFKA.md 3.2), and replicas of the ISR agree on every offset
/// below the HW (KAFKA.md 3.5 and 3.6: truncation by leader epoch keeps logs from diverging
/// below what is committed).
#[test]
fn replicas_agree_below_the_hw_which_never_goes_back_with_one_leader_per_epoch() {
    let acks = prop_oneof![
        producers(Acks::All, None),
        producers(Acks::One, Some(false))
    ]
    .boxed();
    let strategy = case(any_topic(), acks, None, network(true), EVERY_FAULT, 5);
    Property::new(
        "replicas_agree_below_the_hw_which_never_goes_back_with_one_leader_per_epoch",
        file!(),
    )
    .cases(384)
    .check(strategy, |_, o| {
        held(
            &o.report,
            &[
                "one leader per epoch",
                "leader in ISR",
                "HW monotonic on a leader",
                "HW within the ISR",
                "log matching below the HW",
            ],
        )
    });
}

/// A durable producer side for the group properties, so that what the consumers see is the
/// whole acknowledged history.
fn durable_case(commit: Commit, kinds: &'static [FaultKind]) -> BoxedStrategy<Case> {
    case(
        topic(3, 2, false),
        producers(Acks::All, None),
        Some(group(commit)),
        network(false),
        kinds,
        4,
    )
}

/// Commit after processing: a group processes every acknowledged record at least once, even if
/// members crash mid-batch and brokers fail (KAFKA.md 5.4: the committed offset is the next
/// record to process, so a successor resumes at the first record not yet committed as done).
/// Auto commit is at-least-once too, because the Java consumer commits what the previous poll
/// returned (KAFKA.md 5.4, and Jepsen's correction of its Bufstream report, KAFKA.md 7.3).
#[test]
fn at_least_once_groups_process_every_acknowledged_record() {
    let strategy = prop_oneof![
        durable_case(Commit::AfterProcessing, SERVER_AND_CONSUMER_FAULTS),
        durable_case(Commit::Auto, SERVER_AND_CONSUMER_FAULTS),
    ]
    .boxed();
    Property::new(
        "at_least_once_groups_process_every_acknowledged_record",
        file!(),
    )
    .cases(192)
    .check(strategy, |_, o| {
        let r = &o.report;
        read_complete(r)?;
        held(
            r,
            &[
                "at-least-once: every acknowledged record processed",
                "consumers poll in order",
            ],
        )?;
        if r.delivery.unseen > 0 {
            return Err(format!("{} records never processed", r.delivery.unseen));
        }
        Ok(())
    });
}

/// Commit before processing: a group never processes a record twice, whatever crashes
/// (KAFKA.md 5.4; the consumer's javadoc, "at-most-once": commit the position before
/// processing, so a successor starts after records that may not have been processed).
#[test]
fn at_most_once_groups_never_process_a_record_twice() {
    let strategy = durable_case(Commit::BeforeProcessing, SERVER_AND_CONSUMER_FAULTS);
    Property::new("at_most_once_groups_never_process_a_record_twice", file!())
        .cases(192)
        .check(strategy, |_, o| {
            let r = &o.report;
            held(r, &["at-most-once: no record processed twice"])?;
            if r.delivery.duplicates_delivered > 0 {
                return Err(format!(
                    "{} records processed twice",
                    r.delivery.duplicates_delivered
                ));
            }
            Ok(())
        });
}

/// No partition has two owners among a group's members at any moment, whatever the assignor,
/// the commit mode and the faults, members leaving included (KAFKA.md 5.1: a generation's
/// assignment gives each partition to one member; 5.2: eager members revoke everything before
/// rejoining, and cooperative ones keep a moved partition until its owner revoked it). Members
/// also poll each partition in order outside rebalances (Jepsen's `nonmonotonic-poll` and
/// `poll-skip`, KAFKA.md 7.2).
#[test]
fn no_partition_has_two_owners_in_a_group() {
    let commit = prop_oneof![
        Just(Commit::AfterProcessing),
        Just(Commit::BeforeProcessing),
        Just(Commit::Auto)
    ];
    let strategy = commit
        .prop_flat_map(|c| durable_case(c, SERVER_AND_CONSUMER_FAULTS_AND_LEAVES))
        .boxed();
    Property::new("no_partition_has_two_owners_in_a_group", file!())
        .cases(192)
        .check(strategy, |_, o| {
            held(
                &o.report,
                &[
                    "one owner per partition in a group",
                    "consumers poll in order",
                ],
            )
        });
}

/// `"p1-42"` -> producer `p1`, send index 42.
fn sender(value: &Bytes) -> Option<(String, u64)> {
    let text = value.to_string();
    let (producer, index) = text.rsplit_once('-')?;
    Some((producer.to_string(), index.parse().ok()?))
}

/// Where a producer's sessions begin: for each producer, the send indexes at which a new
/// producer id or epoch took effect (KAFKA.md 4.1: a session is a producer id and epoch; the
/// producer bumps its epoch to reset sequences, KIP-360).
fn sessions(world: &World, names: &BTreeMap<NodeId, String>) -> BTreeMap<String, Vec<u64>> {
    let mut sent: BTreeMap<String, u64> = BTreeMap::new();
    let mut starts: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for e in world.log() {
        let (WorldEvent::Node(event), Some(name)) = (&e.event, names.get(&e.node)) else {
            continue;
        };
        match event {
            Event::RecordSent { .. } => *sent.entry(name.clone()).or_default() += 1,
            Event::ProducerIdAssigned { .. } | Event::ProducerEpochBumped { .. } => starts
                .entry(name.clone())
                .or_default()
                .push(sent.get(name).copied().unwrap_or(0)),
            _ => {}
        }
    }
    starts
}

/// Per-key order as consumers see it: for each member and partition, in the order the member
/// processed records, two records of one key from one producer session come in send order
/// whenever the second has the higher offset. (Going back to a lower offset is a redelivery
/// after a rebalance or a restart, which starts the comparison afresh.)
fn per_key_order(case: &Case, world: &World) -> Verdict {
    let producer_names: BTreeMap<NodeId, String> = (0..case.producers.len())
        .map(|i| {
            (
                NodeId::Client(gregor_core::ids::ClientId(i as u32)),
                format!("p{}", i + 1),
            )
        })
        .collect();
    let keys: BTreeMap<String, u32> = case
        .producers
        .iter()
        .enumerate()
        .filter_map(|(i, p)| Some((format!("p{}", i + 1), p.keys?)))
        .collect();
    let starts = sessions(world, &producer_names);
    let session_of = |producer: &str, index: u64| {
        starts
            .get(producer)
            .map_or(0, |s| s.iter().filter(|&&start| start <= index).count())
    };
    // (member node, partition) -> (producer, session, key) -> (offset, send index) last seen.
    type Last = BTreeMap<(String, usize, u64), (Offset, u64)>;
    let mut last: BTreeMap<(NodeId, TopicPartition), Last> = BTreeMap::new();
    let mut compared = 0u64;
    for e in world.log() {
        let WorldEvent::Node(Event::RecordsProcessed {
            topic_partition,
            records,
        }) = &e.event
        else {
            continue;
        };
        let seen = last.entry((e.node, topic_partition.clone())).or_default();
        for (offset, value) in records {
            let Some((producer, index)) = value.as_ref().and_then(sender) else {
                continue;
            };
            let Some(&k) = keys.get(&producer) else {
                continue;
            };
            let slot = (
                producer.clone(),
                session_of(&producer, index),
                index % u64::from(k),
            );
            if let Some(&(prev_offset, prev_index)) = seen.get(&slot)
                && *offset > prev_offset
            {
                compared += 1;
                if index < prev_index {
                    return Err(format!(
                        "{:?} processed {producer}-{index} at offset {offset} of {topic_partition} after {producer}-{prev_index} at offset {prev_offset}: key-{} out of send order",
                        e.node, slot.2
                    ));
                }
            }
            seen.insert(slot, (*offset, index));
        }
    }
    // A property that compared nothing would pass vacuously; the generated workloads always
    // give the consumers several records of a key.
    if compared == 0
        && case
            .producers
            .iter()
            .any(|p| p.keys.is_some() && p.count > 50)
    {
        return Err("no two records of one key were compared".into());
    }
    Ok(())
}

/// Records of one key go to one partition (KAFKA.md 1.2, murmur2 of the key), a partition is
/// appended in the order a producer session sends (Kafka's documentation, "Guarantees":
/// "messages sent by a producer to a particular topic partition will be appended in the order
/// they are sent"; KAFKA.md 4.1 for idempotent retries), and a consumer reads a partition in
/// offset order: so a consumer sees each key's records in send order, within a producer session.
#[test]
fn consumers_see_each_key_in_send_order_within_a_producer_session() {
    let keyed = producers(Acks::All, Some(true))
        .prop_map(|mut ps| {
            for (i, p) in ps.iter_mut().enumerate() {
                p.keys = Some(p.keys.unwrap_or(4 + i as u32));
            }
            ps
        })
        .boxed();
    let members: BoxedStrategy<GroupShape> = group(Commit::AfterProcessing);
    let strategy = case(
        topic(3, 2, false),
        keyed,
        Some(members),
        network(true),
        SERVER_AND_CONSUMER_FAULTS,
        4,
    );
    Property::new(
        "consumers_see_each_key_in_send_order_within_a_producer_session",
        file!(),
    )
    .cases(192)
    .check(strategy, |case, o: &Outcome| per_key_order(case, o.world));
}

/// The generators themselves: every drawn case is a valid scenario, and a schedule renders
/// each fault with the action that undoes it (a fault whose undo falls after the timeline is
/// left to the final phase).
#[test]
fn generated_cases_are_valid_scenarios() {
    let strategy = case(
        any_topic(),
        producers(Acks::All, None),
        Some(group(Commit::Auto)),
        network(true),
        EVERY_FAULT,
        6,
    );
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for _ in 0..200 {
        let case = strategy.new_tree(&mut runner).expect("a case").current();
        let s = case.scenario();
        assert_eq!(s.producers.len(), case.producers.len());
        assert!(s.timeline.len() >= case.faults.len(), "{case:?}");
        assert!(s.timeline.len() <= 2 * case.faults.len(), "{case:?}");
    }
}
