//! Kafka's rules, one story each. Every test names the KAFKA.md section (or the note in
//! docs/kafka-source-notes.md) it checks, builds a small cluster, breaks something, and asserts
//! what Kafka does.

use gregor_core::error::ErrorCode;
use gregor_core::ids::{BrokerId, NodeId, Offset};
use gregor_core::node::{Event, IsrChangeKind};
use gregor_core::protocol::ElectionType;
use gregor_core::time::Instant;
use gregor_sim::scenario::{Action, Link, Target};
use gregor_tests::{Live, at, failures, run, scenario, shipped, tp};

fn broker(b: u32) -> Target {
    Target::Broker(BrokerId(b))
}

const ONE_PARTITION: &str = r#"
name = "rules"
[cluster]
brokers = 3
[[topic]]
name = "t"
partitions = 1
assignment = [[1, 2, 3]]
[[producer]]
id = "p1"
topic = "t"
keys = 5
rate_per_sec = 100
count = 100000
acks = "all"
"#;

/// KAFKA.md 3.3 and 3.7: a broker that stops heartbeating is fenced after
/// `broker.session.timeout.ms` (9 s, heartbeats every 2 s), and the controller elects the first
/// valid replica in assignment order, not the first in the ISR's order.
#[test]
fn fencing_after_the_session_timeout_elects_the_next_replica_in_assignment_order() {
    let s = scenario(&ONE_PARTITION.replace("[[1, 2, 3]]", "[[3, 1, 2]]"));
    let mut live = Live::start(&s, 1);
    live.until("5s").act(Action::Crash(broker(3))).until("30s");
    let fenced_at = live
        .events()
        .find_map(|(t, _, e)| {
            matches!(e, Event::BrokerFenced { broker, .. } if *broker == BrokerId(3)).then_some(t)
        })
        .expect("broker 3 was fenced");
    let silent_for = fenced_at - at("5s");
    assert!(
        silent_for.0 > 9000 - 2000 && silent_for.0 <= 9001,
        "fenced {silent_for} after the crash; the last heartbeat was at most 2 s before it"
    );
    assert_eq!(
        live.leader("t/0"),
        Some(1),
        "assignment order is [3, 1, 2]: broker 1 comes first"
    );
    assert_eq!(live.isr("t/0"), vec![1, 2]);
    assert_eq!(live.leader_epoch("t/0"), 1);
    assert!(live.violations().is_empty(), "{:?}", live.violations());
}

/// KAFKA.md 3.3: a follower that keeps heartbeating but stops fetching leaves the ISR between
/// `replica.lag.time.max.ms` (30 s) and one and a half times that (the check runs every 15 s),
/// and while it is in the ISR it holds the HW back. (With acks=1, so the leader keeps
/// appending; with acks=all the producer's requests would wait for the HW instead.)
#[test]
fn a_stuck_follower_leaves_the_isr_only_after_replica_lag_time_max() {
    let s = scenario(&ONE_PARTITION.replace("acks = \"all\"", "acks = 1"));
    let mut live = Live::start(&s, 1);
    live.until("5s");
    live.act(Action::Cut(Link {
        from: broker(2),
        to: broker(1),
        both_ways: false,
    }));
    live.until("10s");
    let hw_10 = live.hw(1, "t/0");
    live.until("30s");
    assert_eq!(
        live.hw(1, "t/0"),
        hw_10,
        "broker 2 is still in the ISR and holds the HW"
    );
    assert!(
        live.log_end(1, "t/0") > hw_10 + 100,
        "the leader keeps appending"
    );
    live.until("60s");
    let shrink = live
        .events()
        .find_map(|(t, n, e)| match e {
            Event::IsrChangeProposed {
                kind: IsrChangeKind::Shrink,
                isr,
                ..
            } if n == NodeId::Broker(BrokerId(1)) => Some((t, isr.clone())),
            _ => None,
        })
        .expect("the leader proposed a shrink");
    assert_eq!(shrink.1, vec![BrokerId(1), BrokerId(3)]);
    let after = shrink.0 - at("5s");
    assert!(
        after.0 >= 30_000 && after.0 <= 45_000 + 100,
        "shrunk {after} after the follower stopped"
    );
    assert_eq!(live.isr("t/0"), vec![1, 3]);
    assert_eq!(
        live.hw(1, "t/0"),
        live.log_end(1, "t/0"),
        "with broker 2 out, the HW catches up"
    );
}

/// KAFKA.md 3.2: since Kafka 3.7 the HW does not move while the ISR is below the effective
/// `min.insync.replicas`, whatever the acks: acks=1 writes are accepted but not visible.
#[test]
fn the_hw_stays_put_under_min_isr_even_for_acks_1() {
    let text = ONE_PARTITION.replace("acks = \"all\"", "acks = 1").replace(
        "assignment = [[1, 2, 3]]",
        "assignment = [[1, 2, 3]]\nconfig = { \"min.insync.replicas\" = 2 }",
    );
    let s = scenario(&text);
    let mut live = Live::start(&s, 1);
    live.until("5s")
        .act(Action::Crash(broker(2)))
        .act(Action::Crash(broker(3)))
        .until("16s");
    assert_eq!(live.isr("t/0"), vec![1]);
    let (hw, leo) = (live.hw(1, "t/0"), live.log_end(1, "t/0"));
    live.until("25s");
    assert_eq!(live.hw(1, "t/0"), hw, "the HW is gated by min ISR");
    assert!(
        live.log_end(1, "t/0") > leo + 500,
        "acks=1 writes are still appended"
    );
}

/// KAFKA.md 3.4: with acks=all and the ISR below min ISR, the leader answers
/// NOT_ENOUGH_REPLICAS before appending anything. Requests that were already appended wait until
/// `request.timeout.ms`.
#[test]
fn acks_all_is_refused_before_anything_is_appended() {
    let s = shipped("min-isr.toml");
    let mut live = Live::start(&s, 1);
    live.until("37s");
    let leo = live.log_end(1, "orders/0");
    let refusals = |live: &Live| {
        live.events()
            .filter(|(_, _, e)| {
                matches!(
                    e,
                    Event::ProduceError {
                        error: ErrorCode::NotEnoughReplicas,
                        ..
                    }
                )
            })
            .count()
    };
    let refusals_before = refusals(&live);
    live.until("44s");
    let refusals = refusals(&live);
    assert!(
        refusals > refusals_before,
        "the producer kept being refused"
    );
    assert_eq!(
        live.log_end(1, "orders/0"),
        leo,
        "nothing was appended while refusing"
    );
}

/// docs/kafka-source-notes.md question 1: a restarted broker cannot register while its old
/// incarnation's session is alive (DUPLICATE_BROKER_REGISTRATION); it gets in once the old
/// session expires and the controller fences it.
#[test]
fn a_quick_restart_waits_for_the_old_session_to_expire() {
    let s = scenario(ONE_PARTITION);
    let mut live = Live::start(&s, 1);
    live.until("5s")
        .act(Action::Crash(broker(2)))
        .until("6s")
        .act(Action::Restart(broker(2)))
        .until("20s");
    let b2 = BrokerId(2);
    let refused = live.events().find_map(|(t, _, e)| matches!(e, Event::BrokerRegistrationRefused { broker, error: ErrorCode::DuplicateBrokerRegistration } if *broker == b2).then_some(t));
    let fenced = live.events().find_map(|(t, _, e)| {
        matches!(e, Event::BrokerFenced { broker, .. } if *broker == b2).then_some(t)
    });
    let registered = live
        .events()
        .filter(|(t, _, e)| {
            *t > at("6s") && matches!(e, Event::BrokerRegistered { broker, .. } if *broker == b2)
        })
        .map(|(t, _, _)| t)
        .next();
    let (refused, fenced, registered) = (
        refused.expect("refused"),
        fenced.expect("fenced"),
        registered.expect("registered again"),
    );
    assert!(
        refused < fenced && fenced <= registered,
        "refused at {refused}, fenced at {fenced}, registered at {registered}"
    );
    assert!(
        live.isr("t/0").contains(&2),
        "broker 2 caught up and rejoined the ISR"
    );
}

/// KAFKA.md 3.3 (with eligible leader replicas off, the 4.0 default): the last ISR member is
/// never removed; when it dies the partition has no leader and waits for it, even when other
/// replicas come back, and it leads again when it returns. Nothing acknowledged is lost.
#[test]
fn the_last_isr_member_stays_and_leads_again_when_it_returns() {
    let s = scenario(&ONE_PARTITION.replace("count = 100000", "count = 3000"));
    let mut live = Live::start(&s, 1);
    live.until("5s")
        .act(Action::Crash(broker(2)))
        .act(Action::Crash(broker(3)));
    live.until("20s").act(Action::Crash(broker(1))).until("31s");
    assert_eq!((live.leader("t/0"), live.isr("t/0")), (None, vec![1]));
    live.act(Action::Restart(broker(2))).until("38s");
    assert_eq!(
        (live.leader("t/0"), live.isr("t/0")),
        (None, vec![1]),
        "unclean election is off: broker 2 may not lead"
    );
    live.act(Action::Restart(broker(1))).until("40s");
    assert_eq!(live.leader("t/0"), Some(1));
    assert!(live.violations().is_empty(), "{:?}", live.violations());
    // The same story as a whole run: nothing acknowledged is lost.
    let mut text = s
        .source
        .replace("name = \"rules\"", "name = \"rules\"\nduration = \"45s\"");
    for (time, action) in [
        ("5s", "crash = \"broker 2\""),
        ("5s", "crash = \"broker 3\""),
        ("20s", "crash = \"broker 1\""),
        ("32s", "restart = \"broker 2\""),
        ("40s", "restart = \"all\""),
    ] {
        text.push_str(&format!("\n[[at]]\ntime = \"{time}\"\n{action}\n"));
    }
    text.push_str("\n[expect]\nlost_acknowledged = 0\n");
    let r = run(&scenario(&text), 1);
    assert!(r.passed(), "{:#?}", failures(&r));
    assert_eq!(r.history.lost_acknowledged, 0);
    assert!(r.history.acknowledged > 1000);
}

/// KAFKA.md 3.10: a preferred election moves leadership back to the first replica when it is in
/// the ISR, with a new leader epoch; when the preferred replica already leads, the answer is
/// ELECTION_NOT_NEEDED.
#[test]
fn a_preferred_election_moves_leadership_back() {
    let s = scenario(ONE_PARTITION);
    let mut live = Live::start(&s, 1);
    live.until("5s")
        .act(Action::Crash(broker(1)))
        .until("20s")
        .act(Action::Restart(broker(1)))
        .until("30s");
    assert_eq!(live.leader("t/0"), Some(2));
    assert_eq!(live.isr("t/0").len(), 3, "broker 1 is back in the ISR");
    let epoch = live.leader_epoch("t/0");
    live.act(Action::Elect {
        partition: tp("t/0"),
        election: ElectionType::Preferred,
    })
    .until("31s");
    assert_eq!(live.leader("t/0"), Some(1));
    assert_eq!(live.leader_epoch("t/0"), epoch + 1);
    live.act(Action::Elect {
        partition: tp("t/0"),
        election: ElectionType::Preferred,
    })
    .until("32s");
    let answers: Vec<String> = live
        .world()
        .log()
        .iter()
        .filter_map(|l| match &l.event {
            gregor_sim::world::WorldEvent::Admin(
                gregor_core::protocol::Message::ElectLeadersResponse(r),
            ) => Some(format!("{:?}", r.results[0].1)),
            _ => None,
        })
        .collect();
    assert_eq!(
        answers,
        vec!["None".to_string(), "Some(ElectionNotNeeded)".to_string()]
    );
}

/// KAFKA.md 3.10: with `auto.leader.rebalance.enable` (the default) the controller runs
/// preferred elections `leader.imbalance.check.interval.seconds` (300 s) after it sees a
/// partition not led by its preferred replica.
#[test]
fn the_controller_rebalances_leaders_after_the_imbalance_interval() {
    let s = scenario(&ONE_PARTITION.replace("rate_per_sec = 100", "rate_per_sec = 10"));
    let mut live = Live::start(&s, 1);
    live.until("5s")
        .act(Action::Crash(broker(1)))
        .until("20s")
        .act(Action::Restart(broker(1)));
    live.until("310s");
    assert_eq!(
        live.leader("t/0"),
        Some(2),
        "not yet: the check runs 300 s after the imbalance"
    );
    live.until("330s");
    assert_eq!(
        live.leader("t/0"),
        Some(1),
        "the preferred replica leads again"
    );
}

/// KAFKA.md 3.5: a follower that restarts resumes from its log end offset, not from its
/// high watermark, and a follower whose log is a prefix of the leader's never truncates.
#[test]
fn a_restarted_follower_keeps_its_log() {
    let s = scenario(ONE_PARTITION);
    let mut live = Live::start(&s, 1);
    live.until("5s");
    let b3 = BrokerId(3);
    live.act(Action::Crash(broker(3)));
    let leo = live.log_end(3, "t/0");
    live.until("20s")
        .act(Action::Restart(broker(3)))
        .until("20001ms");
    assert_eq!(live.log_end(3, "t/0"), leo, "nothing was cut on restart");
    live.until("30s");
    assert!(
        !live
            .events()
            .any(|(_, n, e)| n == NodeId::Broker(b3) && matches!(e, Event::Truncated { .. }))
    );
    assert!(live.isr("t/0").contains(&3));
    assert!(live.violations().is_empty(), "{:?}", live.violations());
}

/// KAFKA.md 3.5: when a leader with records the new leader lacks comes back, it truncates to the
/// point where its log diverges (the diverging epoch's end on the new leader), never below it.
#[test]
fn a_deposed_leader_truncates_to_where_the_new_leader_begins() {
    let s = shipped("acks1-leader-crash.toml");
    let mut live = Live::start(&s, 1);
    live.until("40s");
    let began = live
        .events()
        .find_map(|(_, n, e)| match e {
            Event::BecameLeader {
                leader_epoch,
                log_end_offset,
                ..
            } if leader_epoch.0 == 1 && n == NodeId::Broker(BrokerId(2)) => Some(*log_end_offset),
            _ => None,
        })
        .expect("broker 2 led epoch 1");
    let truncated = live
        .events()
        .find_map(|(_, n, e)| match e {
            Event::Truncated { from, to, .. } if n == NodeId::Broker(BrokerId(1)) => {
                Some((*from, *to))
            }
            _ => None,
        })
        .expect("broker 1 truncated");
    assert_eq!(
        truncated.1, began,
        "truncated exactly to where epoch 1 began"
    );
    assert!(truncated.0 > truncated.1);
    assert_eq!(
        live.value_at(1, "orders/0", began.0),
        live.value_at(2, "orders/0", began.0),
        "the logs agree again"
    );
}

const LOSSY: &str = r#"
name = "lossy"
duration = "60s"
[cluster]
brokers = 3
config = { "request.timeout.ms" = 2000 }
[network]
loss = 0.05
duplicate = 0.05
[[topic]]
name = "t"
partitions = 2
replication_factor = 3
config = { "min.insync.replicas" = 2 }
[[producer]]
id = "p1"
topic = "t"
keys = 8
rate_per_sec = 50
count = 1500
config = { "enable.idempotence" = IDEMPOTENCE, "request.timeout.ms" = 2000, "delivery.timeout.ms" = 120000 }
"#;

/// KAFKA.md 4.1: an idempotent producer writes every record exactly once and in order, although
/// the network loses and duplicates messages and the producer retries.
#[test]
fn an_idempotent_producer_writes_each_record_once_over_a_lossy_network() {
    let s = scenario(&LOSSY.replace("IDEMPOTENCE", "true"));
    for seed in [1, 2] {
        let r = run(&s, seed);
        assert!(r.passed(), "seed {seed}: {:#?}", failures(&r));
        let h = &r.history;
        assert_eq!(
            (h.lost_acknowledged, h.duplicates, h.nonmonotonic_sends),
            (0, 0, 0),
            "seed {seed}"
        );
        assert!(
            r.story.iter().any(|l| l.text.contains("NETWORK_EXCEPTION")),
            "seed {seed}: the network never failed a request"
        );
    }
}

/// The negative side of KAFKA.md 4.1: without idempotence, a retried batch whose first attempt
/// was appended is appended again (the javadoc of NotEnoughReplicasAfterAppendException warns of
/// this), so the same lossy network produces duplicates. This proves the oracle can see them.
#[test]
fn without_idempotence_retries_duplicate_records() {
    let s = scenario(&LOSSY.replace("IDEMPOTENCE", "false"));
    let duplicates: u64 = [1, 2, 3]
        .iter()
        .map(|&seed| run(&s, seed).history.duplicates)
        .sum();
    assert!(duplicates > 0, "no duplicate in three seeds");
}

/// KAFKA.md 9.3: Kafka does not fsync appended records by default, so a power loss takes what the
/// OS has not written back; `log.flush.interval.messages = 1` makes every append durable.
#[test]
fn a_power_loss_takes_only_what_was_not_flushed() {
    let lossy = scenario(&ONE_PARTITION.replace(
        "brokers = 3",
        "brokers = 3\npage_cache_writeback = \"never\"",
    ));
    let mut live = Live::start(&lossy, 1);
    live.until("5s");
    let leo = live.log_end(2, "t/0");
    live.act(Action::PowerLoss(broker(2)));
    assert!(live.log_end(2, "t/0") < leo, "unflushed records are gone");
    let safe = scenario(&ONE_PARTITION.replace("brokers = 3", "brokers = 3\npage_cache_writeback = \"never\"\nconfig = { \"log.flush.interval.messages\" = 1 }"));
    let mut live = Live::start(&safe, 1);
    live.until("5s");
    let leo = live.log_end(2, "t/0");
    live.act(Action::PowerLoss(broker(2)));
    assert_eq!(live.log_end(2, "t/0"), leo, "every append was flushed");
}

/// How a client notices a dead broker (docs/deviations.md, Network): a crashed process's host
/// resets the connection, so the producer knows at once; a machine without power answers
/// nothing, so the producer waits for `request.timeout.ms` (30 s).
#[test]
fn a_crashed_broker_is_noticed_at_once_a_powered_off_one_only_by_timeout() {
    let s = scenario(ONE_PARTITION);
    let first_network_error = |power_loss: bool| {
        let mut live = Live::start(&s, 1);
        live.until("5s");
        live.act(if power_loss {
            Action::PowerLoss(broker(1))
        } else {
            Action::Crash(broker(1))
        });
        live.until("60s");
        live.events()
            .find_map(|(t, _, e)| {
                matches!(
                    e,
                    Event::ProduceError {
                        error: ErrorCode::NetworkException,
                        ..
                    }
                )
                .then_some(t)
            })
            .expect("the producer noticed")
    };
    let crash = first_network_error(false) - at("5s");
    assert!(crash.0 < 50, "a crash is noticed in {crash}");
    let power = first_network_error(true) - at("5s");
    assert!(
        power.0 > 25_000,
        "a power loss is noticed by timing out, after {power}"
    );
}

/// KAFKA.md 3.4: with acks=0 the leader appends and never answers; the producer counts a send
/// as done as soon as the request is written, with no offset (Kafka reports -1), and idempotence
/// is switched off because it conflicts with acks=0.
#[test]
fn acks_0_gets_no_answer_and_no_offset() {
    let text = ONE_PARTITION
        .replace("acks = \"all\"", "acks = 0")
        .replace("count = 100000", "count = 200");
    let s = scenario(&text);
    assert!(!s.producers[0].config.idempotence);
    let mut live = Live::start(&s, 1);
    live.until("5s");
    let acked: Vec<Option<gregor_core::ids::Offset>> = live
        .events()
        .filter_map(|(_, _, e)| match e {
            Event::RecordAcknowledged { offset, .. } => Some(*offset),
            _ => None,
        })
        .collect();
    assert_eq!(acked.len(), 200);
    assert!(acked.iter().all(Option::is_none), "acks=0 has no offsets");
    assert_eq!(live.log_end(1, "t/0"), 200, "yet every record was appended");
    // The trace holds every input: no ProduceResponse ever reached the producer.
    let r = gregor_sim::runner::Run::new(
        &s,
        &gregor_sim::runner::RunOptions {
            seed: Some(1),
            trace: true,
            ..Default::default()
        },
    )
    .run();
    let lines = r.trace_lines.expect("a trace");
    assert!(
        lines.iter().any(|l| l.contains("\"type\":\"Produce\"")),
        "produce requests were sent"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("\"type\":\"ProduceResponse\"")),
        "and never answered"
    );
}

/// KAFKA.md 3.4 and `KafkaApis.handleProduceRequest`: a broker that cannot take an acks=0
/// produce (it no longer leads) closes the connection instead of answering, so the producer
/// refreshes its metadata and follows the new leader within moments. (Regression: the model
/// once stayed silent, and the producer sent everything to the old leader for five minutes.)
#[test]
fn acks_0_follows_a_leader_change_at_once() {
    let text = ONE_PARTITION
        .replace("acks = \"all\"", "acks = 0")
        .replace("count = 100000", "count = 3000")
        .replace("name = \"rules\"", "name = \"rules\"\nduration = \"30s\"");
    let s = scenario(&text);
    let mut live = Live::start(&s, 1);
    live.until("5s")
        .act(Action::Crash(broker(1)))
        .until("8s")
        .act(Action::Restart(broker(1)))
        .until("20s");
    assert_eq!(live.leader("t/0"), Some(2));
    let before = live.log_end(1, "t/0");
    live.act(Action::Elect {
        partition: tp("t/0"),
        election: ElectionType::Preferred,
    })
    .until("29s");
    assert_eq!(live.leader("t/0"), Some(1));
    let appended = live.log_end(1, "t/0") - before;
    // 9 s at 100 records a second: all but those already on the wire to broker 2 reach broker 1.
    assert!(
        appended >= 850,
        "only {appended} records reached the new leader"
    );
}

/// KAFKA.md 9.3 and `LogLoader.recoverLog`: restarting after a crash flushes nothing; the records
/// the OS had not written back are still only in its page cache, so a power loss soon after the
/// restart takes them. The kernel keeps writing pages back while the process is down.
#[test]
fn a_restart_does_not_make_the_page_cache_durable() {
    let one = |writeback: &str| {
        scenario(&format!(
            "name = \"d\"\n[cluster]\nbrokers = 1\npage_cache_writeback = \"{writeback}\"\n[[topic]]\nname = \"t\"\npartitions = 1\nreplication_factor = 1\n[[producer]]\nid = \"p1\"\ntopic = \"t\"\nrate_per_sec = 100\ncount = 5000\nacks = 1\n"
        ))
    };
    // Nothing is ever written back: what the restart found in the page cache dies with the power.
    let never = one("never");
    let mut live = Live::start(&never, 1);
    live.until("10s")
        .act(Action::Crash(broker(1)))
        .until("10500ms")
        .act(Action::Restart(broker(1)));
    let leo = live.log_end(1, "t/0");
    live.until("15s").act(Action::PowerLoss(broker(1)));
    assert!(
        live.log_end(1, "t/0") < leo,
        "the restart must not have flushed the log"
    );
    // Written back every 5 s, including while the process was down: a power loss right after the
    // restart loses nothing from before the crash.
    let periodic = one("5s");
    let mut live = Live::start(&periodic, 1);
    live.until("10100ms").act(Action::Crash(broker(1)));
    let leo = live.log_end(1, "t/0");
    live.until("16s")
        .act(Action::Restart(broker(1)))
        .act(Action::PowerLoss(broker(1)));
    assert_eq!(
        live.log_end(1, "t/0"),
        leo,
        "the writeback at 15 s reached the crashed broker's pages"
    );
}

/// `Sender.sendProducerData` sends only to brokers whose connection is ready (set up with an
/// ApiVersions exchange), so batches for a crashed leader wait in the accumulator without
/// spending retries, and go to the new leader once metadata names it. (Regression: the model
/// once sent straight at the dead broker, failing records that Kafka delivers.)
#[test]
fn batches_wait_for_a_ready_connection_instead_of_spending_retries() {
    let text = ONE_PARTITION
        .replace(
            "acks = \"all\"",
            "acks = 1\nconfig = { \"retries\" = 2, \"enable.idempotence\" = false }",
        )
        .replace("count = 100000", "count = 2000")
        .replace("name = \"rules\"", "name = \"rules\"\nduration = \"30s\"")
        + "\n[[at]]\ntime = \"5s\"\ncrash = \"broker 1\"\n[[at]]\ntime = \"20s\"\nrestart = \"broker 1\"\n";
    let r = run(&scenario(&text), 1);
    assert_eq!(r.history.failed, 0, "{:#?}", failures(&r));
    assert_eq!(r.history.acknowledged, 2000);
    assert_eq!(r.history.lost_acknowledged, 0);
}

/// A broker's connections to the controller are separate, as Kafka's channel managers are
/// (`AlterPartitionManager` has its own "alter-partition" channel): a metadata fetch that times
/// out on a slow link does not throw away an ISR change in flight, which is delivered as soon
/// as the link recovers. (Regression: one shared connection delayed the change by 30 s.)
#[test]
fn a_slow_link_to_the_controller_delays_an_isr_change_only_while_it_is_slow() {
    let text = ONE_PARTITION
        .replace("acks = \"all\"", "acks = 1")
        .replace("rate_per_sec = 100", "rate_per_sec = 20");
    let s = scenario(&text);
    let mut live = Live::start(&s, 1);
    live.until("1s").act(Action::Cut(Link {
        from: broker(1),
        to: broker(3),
        both_ways: true,
    }));
    live.until("44900ms").act(Action::Clog(Link {
        from: broker(1),
        to: Target::Controller,
        both_ways: false,
    }));
    live.until("48s").act(Action::Unclog(Link {
        from: broker(1),
        to: Target::Controller,
        both_ways: false,
    }));
    live.until("60s");
    let committed = live
        .events()
        .find_map(|(t, n, e)| match e {
            Event::PartitionChanged {
                isr,
                leader_changed: false,
                ..
            } if n == NodeId::Controller && isr == &[BrokerId(1), BrokerId(2)] => Some(t),
            _ => None,
        })
        .expect("the shrink committed");
    assert!(
        committed >= at("48s") && committed <= at("48100ms"),
        "committed at {committed}"
    );
}

/// A compacted partition in segments of about twenty records, keys rewritten over and over,
/// with `compact,delete` and a one-minute `retention.ms` on a second topic.
const COMPACTION: &str = r#"
name = "compaction rules"
[cluster]
brokers = 3
[[topic]]
name = "t"
partitions = 1
assignment = [[1, 2, 3]]
config = { "cleanup.policy" = "compact", "segment.bytes" = 2000 }
[[topic]]
name = "u"
partitions = 1
assignment = [[1, 2, 3]]
config = { "cleanup.policy" = "compact,delete", "segment.bytes" = 2000, "retention.ms" = 60000 }
[[producer]]
id = "p1"
topic = "t"
keys = 5
rate_per_sec = 100
count = 500
acks = "all"
[[producer]]
id = "p2"
topic = "u"
keys = 5
rate_per_sec = 100
count = 500
acks = "all"
"#;

/// KAFKA.md 6.3: every broker's cleaner thread looks for work at its start and every
/// `log.cleaner.backoff.ms` (15 s) after; each cleans its own replica, keeping the latest record
/// of each key below the active segment, never renumbering offsets. Under `compact,delete` the
/// cleaner thread also runs retention (`LogCleanerManager.deletableLogs`): once every record is
/// older than `retention.ms`, everything goes, as under `delete`.
#[test]
fn each_broker_cleans_its_own_replica_on_the_cleaner_schedule() {
    let s = scenario(COMPACTION);
    let mut live = Live::start(&s, 1);
    live.until("3m");
    let cleanings: Vec<(Instant, NodeId, String)> = live
        .events()
        .filter_map(|(t, n, e)| match e {
            Event::LogCleaned {
                topic_partition, ..
            } => Some((t, n, topic_partition.to_string())),
            _ => None,
        })
        .collect();
    // p1 writes its 500 records in the first five seconds: the first look after that, at
    // 15 s, cleans both topics on every broker, and nothing is dirty enough after.
    for b in 1..=3 {
        let mine: Vec<_> = cleanings
            .iter()
            .filter(|(_, n, _)| *n == NodeId::Broker(BrokerId(b)))
            .collect();
        assert_eq!(mine.len(), 2, "broker {b}: {cleanings:?}");
        assert!(mine.iter().all(|(t, _, _)| *t == at("15s")), "{mine:?}");
        let log = live
            .world()
            .broker_disk(BrokerId(b))
            .and_then(|d| d.logs.get(&tp("t/0")))
            .expect("a log");
        let active = log.segments().last().unwrap().base_offset;
        // Below the active segment, each key once, at its latest offset there.
        let mut keys = std::collections::BTreeMap::new();
        for batch in log.batches() {
            for (o, r) in batch.records_with_offsets() {
                if o < active {
                    assert!(
                        keys.insert(r.key.clone(), o).is_none(),
                        "broker {b}: {:?} twice below {active}",
                        r.key
                    );
                }
            }
        }
        assert_eq!(keys.len(), 5, "broker {b}: {keys:?}");
        assert_eq!(
            log.log_end_offset(),
            Offset(500),
            "offsets are not renumbered"
        );
        assert_eq!(log.log_start_offset(), Offset(0));
        // compact,delete: retention by time deleted everything and rolled.
        let u = live
            .world()
            .broker_disk(BrokerId(b))
            .and_then(|d| d.logs.get(&tp("u/0")))
            .expect("a log");
        assert_eq!(
            (u.log_start_offset(), u.log_end_offset(), u.segments().len()),
            (Offset(500), Offset(500), 1),
            "broker {b}"
        );
    }
    let retention: Vec<(Instant, NodeId)> = live
        .events()
        .filter_map(|(t, n, e)| match e {
            Event::SegmentsDeleted {
                topic_partition, ..
            } => {
                assert_eq!(topic_partition, &tp("u/0"), "only the compact,delete topic");
                Some((t, n))
            }
            _ => None,
        })
        .collect();
    // The last records are written before 5 s; more than 60 s later means the cleaner's look
    // at 75 s (on the 15 s grid from each broker's start).
    assert!(
        retention.iter().all(|(t, _)| *t == at("75s")),
        "{retention:?}"
    );
    assert!(live.violations().is_empty(), "{:?}", live.violations());
}

/// One partition in segments of about twenty records, kept one minute, with the retention task
/// every ten seconds (after its first run, 30 s after each broker starts), and a producer that
/// writes 500 records in the first five seconds.
const RETENTION: &str = r#"
name = "retention rules"
[cluster]
brokers = 3
config = { "log.retention.check.interval.ms" = 10000 }
[[topic]]
name = "t"
partitions = 1
assignment = [[1, 2, 3]]
config = { "segment.bytes" = 2000, "retention.ms" = 60000 }
[[producer]]
id = "p1"
topic = "t"
keys = 5
rate_per_sec = 100
count = 500
acks = "all"
"#;

/// KAFKA.md 6.2: the retention task runs `log.initial.task.delay.ms` (30 s) after a broker
/// starts and every `log.retention.check.interval.ms` after (`LogManager.startup`), and deletes
/// a segment at the first run after its newest record is more than `retention.ms` old. Every
/// replica deletes by its own clock and HW; with every segment due, the active one is rolled
/// first and the log start offset becomes the log end.
#[test]
fn retention_deletes_at_the_first_scheduled_check_after_retention_ms() {
    let s = scenario(RETENTION);
    let mut live = Live::start(&s, 1);
    live.until("2m");
    let deletions: Vec<(Instant, NodeId, u64, bool)> = live
        .events()
        .filter_map(|(t, n, e)| match e {
            Event::SegmentsDeleted {
                log_start_offset,
                rolled,
                ..
            } => Some((t, n, log_start_offset.0, *rolled)),
            _ => None,
        })
        .collect();
    assert!(!deletions.is_empty(), "nothing was deleted");
    // The newest record of the first segment is written in the first second, so it is due
    // after 61 s; the checks run at 30 s, 40 s, ... : the first deletion is at 70 s.
    assert_eq!(deletions[0].0, at("70s"), "{deletions:?}");
    for (t, _, _, _) in &deletions {
        assert_eq!(
            (t.0 - 30_000) % 10_000,
            0,
            "{t} is not on the task's schedule"
        );
    }
    for b in 1..=3 {
        assert!(
            deletions
                .iter()
                .any(|(_, n, start, rolled)| *n == NodeId::Broker(BrokerId(b))
                    && *start == 500
                    && *rolled),
            "broker {b} rolled and deleted everything: {deletions:?}"
        );
        let log = live
            .world()
            .broker_disk(BrokerId(b))
            .and_then(|d| d.logs.get(&tp("t/0")))
            .expect("a log");
        assert_eq!(log.log_start_offset(), Offset(500));
        assert_eq!(log.log_end_offset(), Offset(500));
        assert_eq!(log.segments().len(), 1);
    }
    assert!(live.violations().is_empty(), "{:?}", live.violations());
}

/// KAFKA.md 6.2 and `AbstractFetcherThread.fetchOffsetAndTruncate`: a follower that was down
/// while the leader deleted what it lacks gets OFFSET_OUT_OF_RANGE (its fetch offset is below
/// the leader's log start offset, whatever the epochs say: `Partition.readRecords`), deletes
/// its log, starts again empty at the leader's log start offset and rejoins the ISR from there.
#[test]
fn a_follower_behind_the_leaders_log_start_starts_again_there() {
    let s = scenario(RETENTION);
    let mut live = Live::start(&s, 1);
    live.until("2s").act(Action::Crash(broker(3)));
    let behind = live.log_end(3, "t/0");
    assert!(behind > 0 && behind < 500, "broker 3 stopped at {behind}");
    live.until("100s");
    assert_eq!(live.isr("t/0"), vec![1, 2]);
    live.act(Action::Restart(broker(3))).until("110s");
    let reset = live.events().find_map(|(_, n, e)| match e {
        Event::ReplicaOutOfRange {
            log_end_offset,
            leader_log_start_offset,
            log_start_offset_after,
            log_end_offset_after,
            ..
        } if n == NodeId::Broker(BrokerId(3)) => Some((
            log_end_offset.0,
            leader_log_start_offset.0,
            log_start_offset_after.0,
            log_end_offset_after.0,
        )),
        _ => None,
    });
    assert_eq!(reset, Some((behind, 500, 500, 500)));
    assert_eq!(live.isr("t/0"), vec![1, 2, 3]);
    assert!(live.violations().is_empty(), "{:?}", live.violations());
}

/// KAFKA.md 5.4 and 6.2: a consumer whose position is below the log start offset gets
/// OFFSET_OUT_OF_RANGE and `auto.offset.reset` moves it: `earliest` to the log start offset,
/// `latest` to the high watermark (`FetchCollector.handleInitializeErrors`, then a ListOffsets
/// reset).
#[test]
fn a_consumer_below_the_log_start_is_reset_by_auto_offset_reset() {
    for (reset, expected) in [("earliest", 500), ("latest", 600)] {
        // c1 (assign mode) starts at the log start (`earliest`) or at the end (`latest`, then
        // 0: nothing is written yet), reads for two seconds, and is paused while retention
        // deletes all 500 records; p2 then writes 100 more, which retention keeps until 3m10s.
        // c1 processes each record for a millisecond: that timer is what wakes an assign-mode
        // consumer for its next fetch once its buffer is drained.
        let text = format!(
            "{RETENTION}
[[producer]]
id = \"p2\"
topic = \"t\"
rate_per_sec = 100
count = 100
start = \"manual\"
[[consumer]]
id = \"c1\"
topic = \"t\"
processing_time = \"1ms\"
config = {{ \"auto.offset.reset\" = \"{reset}\" }}
"
        );
        let s = scenario(&text);
        let mut live = Live::start(&s, 1);
        live.until("2s")
            .act(Action::Pause(Target::Client("c1".into())))
            .until("2m")
            .act(Action::Start("p2".into()))
            .until("3m")
            .act(Action::Resume(Target::Client("c1".into())))
            .until("4m");
        let resets: Vec<(u64, Option<u64>)> = live
            .events()
            .filter_map(|(_, _, e)| match e {
                Event::OffsetReset {
                    offset,
                    out_of_range,
                    ..
                } => Some((offset.0, out_of_range.map(|o| o.0))),
                _ => None,
            })
            .collect();
        let out_of_range = live.events().any(|(_, _, e)| {
            matches!(
                e,
                Event::ConsumerError {
                    error: ErrorCode::OffsetOutOfRange,
                    ..
                }
            )
        });
        assert!(out_of_range, "{reset}: no OFFSET_OUT_OF_RANGE");
        let after: Vec<(u64, u64)> = resets
            .iter()
            .filter_map(|&(to, from)| Some((from?, to)))
            .collect();
        assert_eq!(after.len(), 1, "{reset}: {resets:?}");
        let (from, got) = after[0];
        assert!(
            from > 0 && from < 500,
            "{reset}: the position {from} was below the log start"
        );
        assert_eq!(got, expected, "{reset}: {resets:?}");
    }
}

/// KAFKA.md 6.3: a compacted topic refuses records without a key (`LogValidator.validateKey`,
/// INVALID_RECORD, not retriable): the producer's send fails and nothing reaches the log, while
/// keyed records go in as usual.
#[test]
fn a_compacted_topic_refuses_records_without_a_key() {
    let text = r#"
name = "keyless on a compacted topic"
[cluster]
brokers = 3
[[topic]]
name = "t"
partitions = 1
assignment = [[1, 2, 3]]
config = { "cleanup.policy" = "compact" }
[[producer]]
id = "keyless"
topic = "t"
rate_per_sec = 10
count = 20
acks = "all"
[[producer]]
id = "keyed"
topic = "t"
keys = 5
rate_per_sec = 10
count = 20
acks = "all"
"#;
    let s = scenario(text);
    let r = run(&s, 1);
    let failed = r
        .story
        .iter()
        .filter(|l| l.text.contains("INVALID_RECORD"))
        .count();
    assert!(failed > 0, "no INVALID_RECORD in the story");
    assert_eq!(r.history.acknowledged, 20, "only the keyed records");
    assert_eq!(r.history.failed, 20, "every keyless record failed");
    assert_eq!(r.history.read, 20);
    assert_eq!(r.history.failed_but_present, 0);
}

/// KAFKA.md 6.2: records below the log start offset were deleted by retention, not lost. The
/// classroom's live loss watch looks at every acknowledged offset below the HW again after a
/// leader change; it must start at the new leader's log start offset, or every record
/// retention deleted would be reported as lost.
#[test]
fn records_retention_deleted_are_not_reported_as_lost_after_a_leader_change() {
    let s = scenario(RETENTION);
    let mut live = Live::start(&s, 1);
    live.until("2m").act(Action::Crash(broker(1))).until("140s");
    assert_ne!(live.leader("t/0"), Some(1), "a new leader was elected");
    let mut tally = gregor_sim::live::LiveTally::default();
    tally.update(live.world(), &s);
    assert!(
        tally.losses.losses.is_empty(),
        "{} records reported lost",
        tally.losses.losses.len()
    );
    let start = live
        .world()
        .broker_disk(BrokerId(2))
        .and_then(|d| d.logs.get(&tp("t/0")))
        .map(|l| l.log_start_offset());
    assert_eq!(start, Some(Offset(500)), "retention had deleted everything");
}
