//! `gregor describe` at chosen moments of shipped scenarios, as insta snapshots: the cluster as
//! `kafka-topics --describe` prints it and the groups as `kafka-consumer-groups --describe`
//! prints them (KAFKA.md 5.4 for the columns). Each moment is one where something a Kafka user
//! would check has just happened; the test asserts that much outright, and the snapshot keeps
//! the rest of the picture.

use gregor_sim::describe::describe;
use gregor_sim::runner::{Run, RunOptions};
use gregor_tests::{at, shipped};

/// What `gregor describe SCENARIO --at TIME` prints, with the scenario's own seed.
fn describe_at(name: &str, time: &str) -> String {
    let s = shipped(name);
    let mut r = Run::new(&s, &RunOptions::default());
    assert!(r.bootstrap(), "{name}: the cluster never became ready");
    r.play_until(at(time));
    describe(&r.world, &s)
}

/// After broker 1 crashed at 5s and was fenced 9s later, broker 2 leads orders/0 and the ISR
/// has shrunk to the two live replicas.
#[test]
fn leader_failover_after_the_election() {
    let out = describe_at("leader-failover.toml", "16s");
    assert!(out.contains("# broker 1: crashed, fenced"), "{out}");
    assert!(
        out.contains("Partition: 0\tLeader: 2\tReplicas: 1,2,3\tIsr: 2,3\t"),
        "{out}"
    );
    insta::assert_snapshot!(out);
}

/// Two brokers down: the ISR of orders is the leader alone, below min.insync.replicas=2, which
/// is why acks=all producers get NOT_ENOUGH_REPLICAS.
#[test]
fn min_isr_with_a_lone_leader() {
    let out = describe_at("min-isr.toml", "20s");
    assert!(
        out.contains("Leader: 1\tReplicas: 1,2,3\tIsr: 1\t"),
        "{out}"
    );
    assert!(out.contains("Configs: min.insync.replicas=2"), "{out}");
    insta::assert_snapshot!(out);
}

/// Just after the unclean election: broker 2, which was out of the ISR, leads alone (KAFKA.md
/// 3.7: the ISR is forced to the new leader), while broker 1, which had every record, is down.
#[test]
fn unclean_election_right_after_the_election() {
    let out = describe_at("unclean-election.toml", "34s");
    assert!(out.contains("unclean.leader.election.enable=true"), "{out}");
    assert!(out.contains("# broker 1: crashed, fenced"), "{out}");
    assert!(
        out.contains("Leader: 2\tReplicas: 1,2,3\tIsr: 2\t"),
        "{out}"
    );
    insta::assert_snapshot!(out);
}

/// After c2's session expired and c3 left, the group's partitions are split between the
/// members that remain, with no lag (README's example).
#[test]
fn group_rebalance_after_the_members_left() {
    let out = describe_at("group-rebalance.toml", "35s");
    assert!(
        out.contains("GROUP   TOPIC  PARTITION  CURRENT-OFFSET"),
        "{out}"
    );
    assert!(!out.contains(" c2 "), "c2's session expired: {out}");
    insta::assert_snapshot!(out);
}

/// The coordinator's broker crashed: another broker leads the offsets partition and the group
/// keeps its committed offsets. The members are named by their client ids, which the new
/// coordinator read from `__consumer_offsets` (it once named them after the node of their last
/// request, which a replayed member does not have yet, and printed "controller").
#[test]
fn coordinator_failover_after_the_coordinator_crashed() {
    let out = describe_at("coordinator-failover.toml", "25s");
    assert!(out.contains("# broker 2: crashed, fenced"), "{out}");
    assert!(
        out.contains(" /c1  c1\n") && out.contains(" /c2  c2\n"),
        "{out}"
    );
    insta::assert_snapshot!(out);
}
