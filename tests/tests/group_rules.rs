//! Kafka's consumer-group rules, one story each (KAFKA.md 5, and 2.5 for the protocols). Every
//! test builds a small cluster with a group, breaks something, and asserts what Kafka does.

use gregor_core::error::ErrorCode;
use gregor_core::group::coordinator::GroupState;
use gregor_core::group::{OFFSETS_TOPIC, coordinator_partition};
use gregor_core::ids::{ClientId, NodeId, TopicName, TopicPartition};
use gregor_core::node::Event;
use gregor_core::time::Instant;
use gregor_sim::groups::coordinator_group;
use gregor_sim::scenario::{Action, Target};
use gregor_sim::world::WorldEvent;
use gregor_tests::{Live, at, failures, run, scenario, shipped};

/// A group `g` of `members` consumers (c1, c2, ...) on topic `t` with `partitions` partitions, a
/// producer, and `extra` appended to each consumer's table (a `config = {...}` line, say).
fn group(partitions: u32, members: u32, extra: &str) -> String {
    let mut s = format!(
        r#"
name = "group rules"
duration = "60s"
[cluster]
brokers = 3
config = {{ "min.insync.replicas" = 2, "offsets.topic.num.partitions" = 3 }}
[[topic]]
name = "t"
partitions = {partitions}
replication_factor = 3
[[producer]]
id = "p1"
topic = "t"
keys = 12
rate_per_sec = 100
count = 100000
"#
    );
    for i in 1..=members {
        s.push_str(&format!(
            "[[consumer]]\nid = \"c{i}\"\ntopic = \"t\"\ngroup = \"g\"\n{}\n",
            extra.replace("{i}", &i.to_string())
        ));
    }
    s
}

const SESSION_10S: &str = r#"config = { "session.timeout.ms" = 10000 }"#;

/// Client ids: the producer is client 0, consumers follow in order.
fn consumer(i: u32) -> ClientId {
    ClientId(i)
}

fn client(name: &str) -> Target {
    Target::Client(name.into())
}

/// The times the coordinator moved group `g` to `state`, with the generation.
fn states(live: &Live, state: GroupState) -> Vec<(Instant, i32)> {
    live.events()
        .filter_map(|(t, _, e)| match e {
            Event::GroupStateChanged {
                group,
                state: s,
                generation,
            } if group == "g" && *s == state => Some((t, *generation)),
            _ => None,
        })
        .collect()
}

/// What consumer `i` owns now, as `t/N` texts.
fn owns(live: &Live, i: u32) -> Vec<String> {
    live.world()
        .consumer(consumer(i))
        .map(|c| c.assignment().map(ToString::to_string).collect())
        .unwrap_or_default()
}

fn generation_of(live: &Live, group: &str) -> i32 {
    let s = live.run.scenario();
    coordinator_group(live.world(), s, group).map_or(-1, |g| g.generation)
}

fn generation(live: &Live) -> i32 {
    generation_of(live, "g")
}

/// KAFKA.md 5.1 (KIP-394): a dynamic member's first JoinGroup is answered MEMBER_ID_REQUIRED
/// with an id of the form `clientId-UUID`, and the member joins with that id.
#[test]
fn a_dynamic_member_first_gets_member_id_required_then_joins_with_its_client_id_prefix() {
    let s = scenario(&group(2, 1, ""));
    let mut live = Live::start(&s, 1);
    live.until("10s");
    let required = live.events().any(|(_, n, e)| {
        n == NodeId::Client(consumer(1))
            && matches!(e, Event::GroupError { api, error: ErrorCode::MemberIdRequired, .. } if api == "JoinGroup")
    });
    assert!(required, "the first JoinGroup got MEMBER_ID_REQUIRED");
    let joined: Vec<String> = live
        .events()
        .filter_map(|(_, _, e)| match e {
            Event::JoinedGroup { member_id, .. } => Some(member_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(joined.len(), 1, "{joined:?}");
    let id = &joined[0];
    assert!(id.starts_with("c1-"), "{id}");
    assert_eq!(
        id.len(),
        "c1-".len() + 36,
        "a UUID follows the client id: {id}"
    );
}

/// KAFKA.md 5.1: the first rebalance of an empty group waits `group.initial.rebalance.delay.ms`
/// (3 s), extended by each member that joins meanwhile, so three members that start together
/// land in one generation 1 instead of three rebalances.
#[test]
fn the_initial_rebalance_delay_gathers_members_into_one_first_generation() {
    let s = scenario(&group(6, 3, ""));
    let mut live = Live::start(&s, 1);
    live.until("20s");
    let preparing = states(&live, GroupState::PreparingRebalance);
    let completing = states(&live, GroupState::CompletingRebalance);
    let (start, _) = preparing[0];
    let (done, generation) = completing[0];
    assert_eq!(generation, 1);
    assert_eq!(completing.len(), 1, "one rebalance only: {completing:?}");
    let waited = done - start;
    assert!(
        waited.0 >= 3000 && waited.0 <= 3 * 3000 + 100,
        "the first generation formed {waited} after the first join"
    );
    for i in 1..=3 {
        assert_eq!(owns(&live, i).len(), 2, "c{i} owns {:?}", owns(&live, i));
    }
}

/// KAFKA.md 5.1: a member that stops heartbeating is removed once `session.timeout.ms` passes
/// without a heartbeat, and the group rebalances its partitions onto the others. Until then,
/// its partitions are owned by nobody alive and the generation does not change.
#[test]
fn a_crashed_member_is_removed_only_when_its_session_expires() {
    let s = scenario(&group(4, 2, SESSION_10S));
    let mut live = Live::start(&s, 1);
    live.until("15s");
    assert_eq!(generation(&live), 1);
    live.act(Action::Crash(client("c2"))).until("20s");
    assert_eq!(
        generation(&live),
        1,
        "5 s after the crash c2 is still a member"
    );
    live.until("40s");
    let removed: Vec<Instant> = live
        .events()
        .filter_map(|(t, _, e)| match e {
            Event::GroupMemberRemoved {
                member_id, reason, ..
            } if member_id.starts_with("c2-") && reason.contains("session") => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(removed.len(), 1, "{removed:?}");
    let after = removed[0] - at("15s");
    // The last heartbeat was at most heartbeat.interval.ms (3 s) before the crash.
    assert!(
        after.0 > 10_000 - 3000 && after.0 <= 10_000 + 100,
        "removed {after} after the crash"
    );
    assert_eq!(generation(&live), 2);
    assert_eq!(owns(&live, 1), vec!["t/0", "t/1", "t/2", "t/3"]);
    assert!(live.violations().is_empty(), "{:?}", live.violations());
}

/// KAFKA.md 5.1: a dynamic member that closes sends LeaveGroup, and the coordinator removes it
/// and rebalances at once, without waiting for the session timeout.
#[test]
fn a_leaving_dynamic_member_triggers_an_immediate_rebalance() {
    let s = scenario(&group(4, 2, SESSION_10S));
    let mut live = Live::start(&s, 1);
    live.until("15s");
    live.act(Action::Leave("c2".into())).until("16s");
    let removed = live.events().find_map(|(t, _, e)| match e {
        Event::GroupMemberRemoved {
            member_id, reason, ..
        } if member_id.starts_with("c2-") => Some((t, reason.clone())),
        _ => None,
    });
    let (t, reason) = removed.expect("c2 was removed");
    assert!(t - at("15s") < gregor_core::time::Duration(100), "at {t}");
    assert_eq!(reason, "LeaveGroup");
    assert_eq!(generation(&live), 2);
    assert_eq!(owns(&live, 1).len(), 4);
}

/// KAFKA.md 5.1 and 5.3: static members never send LeaveGroup; closing one leaves it in the
/// group until its session expires.
#[test]
fn a_static_member_that_closes_stays_until_its_session_expires() {
    let extra =
        r#"config = { "session.timeout.ms" = 10000, "group.instance.id" = "instance-{i}" }"#;
    let s = scenario(&group(4, 2, extra));
    let mut live = Live::start(&s, 1);
    live.until("15s");
    live.act(Action::Leave("c2".into())).until("22s");
    let closed = live.world().log().iter().any(|l| {
        l.node == NodeId::Client(consumer(2))
            && matches!(&l.event, WorldEvent::Node(Event::LeftGroup { .. }))
    });
    assert!(closed, "c2 closed");
    assert_eq!(
        generation(&live),
        1,
        "no rebalance before the session expires"
    );
    live.until("35s");
    assert_eq!(generation(&live), 2, "removed by session expiry");
    // A static member's id starts with its instance id (`ClassicGroup.generateMemberId`).
    let reasons: Vec<&str> = live
        .events()
        .filter_map(|(_, _, e)| match e {
            Event::GroupMemberRemoved {
                member_id, reason, ..
            } if member_id.starts_with("instance-2-") => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        !reasons.is_empty() && reasons.iter().all(|r| r.contains("session")),
        "removed only by session expiry, never by a LeaveGroup: {reasons:?}"
    );
    assert_eq!(owns(&live, 1).len(), 4);
}

/// KAFKA.md 5.3 (KIP-345): a static member restarted within its session timeout rejoins with
/// the same `group.instance.id`, is given its previous assignment, and no rebalance happens.
#[test]
fn a_static_member_restarted_in_time_gets_its_partitions_back_without_a_rebalance() {
    let extra =
        r#"config = { "session.timeout.ms" = 10000, "group.instance.id" = "instance-{i}" }"#;
    let s = scenario(&group(4, 2, extra));
    let mut live = Live::start(&s, 1);
    live.until("15s");
    let before = owns(&live, 2);
    assert_eq!(before.len(), 2);
    live.act(Action::Crash(client("c2"))).until("17s");
    live.act(Action::Restart(client("c2"))).until("30s");
    assert_eq!(generation(&live), 1, "no new generation");
    assert_eq!(owns(&live, 2), before);
    assert_eq!(owns(&live, 1).len(), 2);
    let replaced = live
        .events()
        .filter(|(_, _, e)| {
            matches!(
                e,
                Event::GroupStateChanged {
                    state: GroupState::PreparingRebalance,
                    generation: 1,
                    ..
                }
            )
        })
        .count();
    assert_eq!(
        replaced, 0,
        "the group never prepared a rebalance after generation 1"
    );
}

/// KAFKA.md 5.3: two live consumers with one `group.instance.id`: the one that joins last takes
/// the identity and the other is fenced with FENCED_INSTANCE_ID.
#[test]
fn a_duplicate_static_instance_is_fenced() {
    let extra = r#"config = { "session.timeout.ms" = 10000, "group.instance.id" = "same" }
start = "manual""#;
    let s = scenario(&group(2, 2, extra));
    let mut live = Live::start(&s, 1);
    live.act(Action::Start("c1".into())).until("15s");
    assert_eq!(owns(&live, 1).len(), 2);
    live.act(Action::Start("c2".into())).until("30s");
    let fenced = live.events().any(|(_, n, e)| {
        n == NodeId::Client(consumer(1))
            && matches!(
                e,
                Event::GroupError {
                    error: ErrorCode::FencedInstanceId,
                    ..
                }
            )
    });
    assert!(fenced, "c1, the older instance, was fenced");
    assert!(owns(&live, 1).is_empty(), "a fenced instance owns nothing");
    assert_eq!(owns(&live, 2).len(), 2);
    assert!(live.violations().is_empty(), "{:?}", live.violations());
}

/// KAFKA.md 5.1: an application that does not poll within `max.poll.interval.ms` makes its
/// consumer leave the group, and the others take its partitions.
#[test]
fn a_consumer_that_stops_polling_leaves_after_max_poll_interval() {
    let text = group(
        2,
        2,
        r#"processing_time = "{i}00ms"
config = { "max.poll.interval.ms" = 15000, "max.poll.records" = 200 }"#,
    )
    .replacen(
        r#"processing_time = "100ms""#,
        r#"processing_time = "1ms""#,
        1,
    );
    let s = scenario(&text);
    // c2 takes 200 ms per record: a poll of 200 records keeps it away for 40 s.
    let mut live = Live::start(&s, 1);
    live.until("30s");
    let left = live.events().find_map(|(t, n, e)| match e {
        Event::LeftGroup { reason, .. } if n == NodeId::Client(consumer(2)) => {
            Some((t, reason.clone()))
        }
        _ => None,
    });
    let (_, reason) = left.expect("c2 left the group");
    assert!(reason.contains("poll timeout"), "{reason}");
    assert_eq!(owns(&live, 1).len(), 2, "c1 took c2's partition");
}

/// KAFKA.md 5.2: with the eager protocol (range), every member revokes everything before it
/// rejoins, so a join stops consumption group-wide.
#[test]
fn eager_members_revoke_everything_when_a_member_joins() {
    // Both consumers get `start = "manual"`; removing the first occurrence lets c1 start with
    // the cluster while c2 waits for the `start` action below.
    let s = scenario(&group(4, 2, "start = \"manual\"").replacen("start = \"manual\"", "", 1));
    let mut live = Live::start(&s, 1);
    live.until("15s");
    let c1_before = owns(&live, 1);
    live.act(Action::Start("c2".into())).until("25s");
    let revoked: Vec<TopicPartition> = live
        .events()
        .filter_map(|(_, n, e)| match e {
            Event::PartitionsRevoked { partitions, .. } if n == NodeId::Client(consumer(1)) => {
                Some(partitions.clone())
            }
            _ => None,
        })
        .flatten()
        .collect();
    let revoked: Vec<String> = revoked.iter().map(ToString::to_string).collect();
    assert_eq!(revoked, c1_before, "c1 revoked all it owned");
    assert_eq!(owns(&live, 1).len(), 2);
    assert_eq!(owns(&live, 2).len(), 2);
}

/// KAFKA.md 5.2 and 2.4: with cooperative-sticky, a joining member gets partitions in two
/// rebalances; the first revokes only what moves, and partitions that stay are never revoked.
#[test]
fn cooperative_members_revoke_only_what_moves_and_move_it_in_two_rebalances() {
    let s = shipped("cooperative-rebalance.toml");
    let mut live = Live::start(&s, 1);
    live.until("15s");
    let before: Vec<Vec<String>> = (1..=2).map(|i| owns(&live, i)).collect();
    live.until("35s");
    let mut revoked = Vec::new();
    for (_, n, e) in live.events() {
        if let Event::PartitionsRevoked { partitions, .. } = e {
            revoked.push((
                n,
                partitions
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
            ));
        }
    }
    assert_eq!(
        revoked.len(),
        2,
        "one revocation each from c1 and c2: {revoked:?}"
    );
    for (i, kept) in before.iter().enumerate() {
        let now = owns(&live, i as u32 + 1);
        assert_eq!(now.len(), 2, "c{} owns {now:?}", i + 1);
        assert!(
            now.iter().all(|p| kept.contains(p)),
            "c{} kept its own partitions",
            i + 1
        );
    }
    let c3 = owns(&live, 3);
    let moved: Vec<String> = revoked.into_iter().flat_map(|(_, p)| p).collect();
    let mut c3_sorted = c3.clone();
    gregor_core::sort::sort(&mut c3_sorted);
    let mut moved_sorted = moved.clone();
    gregor_core::sort::sort(&mut moved_sorted);
    assert_eq!(
        c3_sorted, moved_sorted,
        "c3 got exactly the revoked partitions"
    );
    assert_eq!(
        generation_of(&live, "search"),
        3,
        "two rebalances after generation 1"
    );
}

/// KAFKA.md 5.4: FindCoordinator answers the leader of `__consumer_offsets` partition
/// `abs(hashCode(group)) % partitions`.
#[test]
fn the_coordinator_is_the_leader_of_the_groups_offsets_partition() {
    let s = scenario(&group(2, 1, ""));
    let mut live = Live::start(&s, 1);
    live.until("10s");
    let p = coordinator_partition("g", 3);
    let offsets = TopicPartition::new(TopicName::from(OFFSETS_TOPIC), p);
    let leader = live.leader(&offsets.to_string()).expect("a leader");
    let coordinator = live
        .world()
        .consumer(consumer(1))
        .and_then(|c| c.group())
        .and_then(|g| g.coordinator)
        .expect("c1 found its coordinator");
    assert_eq!(coordinator.0, leader);
    // "g".hashCode() is 103, and 103 % 3 is 1.
    assert_eq!(p, 1);
}

/// KAFKA.md 5.4: committed offsets live in the replicated `__consumer_offsets`, so when the
/// coordinator's broker crashes the next leader loads the group: same generation, no
/// rebalance, and a restarted member resumes from its committed offset.
#[test]
fn commits_and_the_generation_survive_a_coordinator_crash() {
    let s = shipped("coordinator-failover.toml");
    let r = run(&s, 1);
    assert!(r.passed(), "{:?}", failures(&r));
    let g = &r.groups[0];
    assert_eq!(g.state, "Stable");
    assert!(
        r.delivery.duplicates_delivered <= 500,
        "the restarted member resumed from its commit: {} reprocessed",
        r.delivery.duplicates_delivered
    );
    let loaded = r.story.iter().any(|l| {
        l.text.contains("became coordinator of __consumer_offsets")
            && l.text.contains("(1 group(s) loaded)")
    });
    assert!(loaded, "a new coordinator loaded the group");
    assert!(r.checks.iter().any(|c| {
        c.name
            .contains("at 30.000s: generation of group billing is 1")
            && c.ok
    }));
}

/// KAFKA.md 5.4: the committed offset is the next offset to consume, so once an at-least-once
/// group has processed everything, its commits equal the high watermarks and the lag is zero.
#[test]
fn a_caught_up_group_commits_the_next_offset_to_consume() {
    let s = shipped("group-rebalance.toml");
    let r = run(&s, 2);
    assert!(r.passed(), "{:?}", failures(&r));
    let g = &r.groups[0];
    for p in &r.partitions {
        let key = format!("{}-{}", p.topic, p.partition);
        assert_eq!(
            g.committed.get(&key).copied(),
            p.high_watermark,
            "{key}: committed {:?}, HW {:?}",
            g.committed.get(&key),
            p.high_watermark
        );
        assert_eq!(g.lag.get(&key).copied(), Some(0));
    }
}

/// KAFKA.md 5.4: with `auto.offset.reset = latest` and no committed offset, a member starts at
/// the high watermark and never sees the records written before it joined.
#[test]
fn latest_starts_at_the_high_watermark() {
    let s = scenario(&group(
        1,
        1,
        r#"start = "manual"
config = { "auto.offset.reset" = "latest" }"#,
    ));
    let mut live = Live::start(&s, 1);
    live.until("10s");
    let hw = live.hw(1, "t/0");
    assert!(hw > 500, "the producer wrote {hw} records");
    live.act(Action::Start("c1".into())).until("25s");
    let first = live.events().find_map(|(_, n, e)| match e {
        Event::RecordsPolled { records, .. } if n == NodeId::Client(consumer(1)) => {
            records.first().map(|(o, _)| o.0)
        }
        _ => None,
    });
    let first = first.expect("c1 polled");
    assert!(
        first >= hw,
        "first polled offset {first}, HW when it started {hw}"
    );
}

/// KAFKA.md 5.1: a member cut off from the coordinator for longer than its session is removed
/// (a zombie). When it comes back, its heartbeat or commit fails and it loses its partitions,
/// rejoins, and at no point do two members of one generation own the same partition.
#[test]
fn a_zombie_member_loses_its_partitions_and_rejoins() {
    let s = scenario(&group(2, 2, SESSION_10S));
    let mut live = Live::start(&s, 1);
    live.until("15s");
    live.act(Action::Pause(client("c2"))).until("35s");
    assert_eq!(
        generation(&live),
        2,
        "c2 was removed and the group rebalanced"
    );
    assert_eq!(owns(&live, 1).len(), 2);
    live.act(Action::Resume(client("c2"))).until("55s");
    let lost = live.events().any(|(_, n, e)| {
        n == NodeId::Client(consumer(2)) && matches!(e, Event::PartitionsLost { .. })
    });
    assert!(lost, "c2 learned it had lost its partitions");
    assert_eq!(owns(&live, 1).len() + owns(&live, 2).len(), 2);
    assert_eq!(
        owns(&live, 2).len(),
        1,
        "c2 rejoined and got a partition back"
    );
    assert!(live.violations().is_empty(), "{:?}", live.violations());
}

/// KAFKA.md 5.4: a consumer's own lag is the high watermark it last saw minus its position; a
/// consumer slower than its producer falls behind, and its lag grows.
#[test]
fn a_slow_consumer_lags_by_the_high_watermark_minus_its_position() {
    // 100 records per second per partition, 12 ms per record: about 83 per second processed.
    let s = shipped("at-least-once.toml");
    let mut live = Live::start(&s, 1);
    let lag_at = |live: &Live| {
        let c = live.world().consumer(consumer(2)).expect("c2 runs");
        let tp = c.assignment().next().expect("c2 owns a partition").clone();
        let p = c.positions()[&tp];
        let lag = c.lag(&tp).expect("a lag once fetching");
        assert_eq!(lag, p.high_watermark.unwrap().0 - p.position.unwrap().0);
        lag
    };
    live.until("11s");
    let early = lag_at(&live);
    live.until("20s");
    let late = lag_at(&live);
    assert!(late > early, "the lag grew from {early} to {late}");
}

/// Regression (found by a seed sweep of cooperative-rebalance.toml): a heartbeat sent in
/// generation 2 was answered ILLEGAL_GENERATION after the member's JoinGroup for generation 3
/// had already been answered. The consumer reset its generation, lost its partitions, and then
/// applied generation 3's SyncGroup answer with no generation, which cost a third rebalance.
/// Kafka's `HeartbeatResponseHandler` and `OffsetCommitResponseHandler` ignore errors about a
/// generation the member has left (`generationUnchanged`), and `SyncGroupResponseHandler` drops
/// an answer once the generation was cleared.
#[test]
fn an_error_about_a_generation_the_member_has_left_is_ignored() {
    let s = shipped("cooperative-rebalance.toml");
    for seed in [151, 157, 230, 245] {
        let r = run(&s, seed);
        assert!(r.passed(), "seed {seed}: {:?}", failures(&r));
        let lost = r.story.iter().filter(|l| l.text.contains(" lost ")).count();
        assert_eq!(lost, 0, "seed {seed}: no member lost partitions");
    }
}
