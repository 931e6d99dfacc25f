//! Interactive sessions: stepping, playing, acting, rewinding and replaying recorded actions
//! must all land on exactly the same cluster state (compared by the World's digest), and the
//! one-line action language must read back what it writes.

mod common;

use gregor_core::ids::BrokerId;
use gregor_core::time::Instant;
use gregor_sim::scenario::{Action, Scenario, Target};
use gregor_sim::session::{Moment, Session, SessionError, TakenAction};
use gregor_sim::world::Status;

fn shipped(name: &str) -> Scenario {
    let path = common::scenario(name);
    let text = std::fs::read_to_string(&path).expect("shipped scenario");
    Scenario::parse(&path, &text).expect("valid")
}

fn digest(s: &Session) -> u64 {
    s.world().digest()
}

#[test]
fn playing_in_small_slices_is_playing_at_once() {
    // The leader-failover timeline crashes a leader at 5 s and restarts it at 20 s; played in
    // 7 ms slices, each item must still be played once, after the events of its millisecond.
    let scenario = shipped("leader-failover.toml");
    let mut whole = Session::new(scenario.clone(), 3).unwrap();
    whole.play_until(Instant(25_000));
    let mut sliced = Session::new(scenario, 3).unwrap();
    let mut t = sliced.moment().time_ms;
    while t < 25_000 {
        t = (t + 7).min(25_000);
        sliced.play_until(Instant(t));
    }
    assert_eq!(whole.moment(), sliced.moment());
    assert_eq!(digest(&whole), digest(&sliced));
    assert_eq!(
        sliced
            .world()
            .status(gregor_core::ids::NodeId::Broker(BrokerId(1))),
        Status::Running,
        "broker 1 crashed at 5 s and was restarted at 20 s"
    );
}

#[test]
fn stepping_unit_by_unit_reaches_the_same_state_as_playing() {
    let scenario = shipped("leader-failover.toml");
    let mut played = Session::new(scenario.clone(), 5).unwrap();
    played.play_until(Instant(6_000));
    let target = played.moment();
    let mut stepped = Session::new(scenario, 5).unwrap();
    while stepped.moment().units < target.units {
        assert!(stepped.step());
    }
    assert_eq!(stepped.moment().units, target.units);
    assert_eq!(digest(&stepped), digest(&played));
}

#[test]
fn a_rewind_returns_to_exactly_the_earlier_state_and_a_replay_goes_on_the_same_way() {
    let scenario = shipped("min-isr.toml");
    let mut s = Session::new(scenario, 11).unwrap();
    s.play_until(Instant(4_000));
    s.act(Action::Crash(Target::Broker(BrokerId(2))));
    s.play_until(Instant(8_000));
    let at_8 = (s.moment(), digest(&s));
    s.play_until(Instant(9_000));
    s.act(Action::Restart(Target::Broker(BrokerId(2))));
    let at_9 = (s.moment(), digest(&s));
    s.play_until(Instant(15_000));
    let at_15 = (s.moment(), digest(&s));

    s.rewind_to_time(Instant(8_000));
    assert_eq!((s.moment(), digest(&s)), at_8);
    assert_eq!(
        s.taken().len(),
        1,
        "the crash is taken, the restart is ahead"
    );
    assert_eq!(s.actions().len(), 2);

    // A rewind to the moment of an action shows the cluster with it taken.
    s.rewind_to(at_9.0);
    assert_eq!((s.moment(), digest(&s)), at_9);
    assert_eq!(s.taken().len(), 2);
    s.rewind_to_time(Instant(8_000));

    // Playing on takes the recorded restart again at its moment.
    s.play_until(Instant(15_000));
    assert_eq!((s.moment(), digest(&s)), at_15);
}

#[test]
fn an_action_between_two_events_of_one_millisecond_comes_back_between_them() {
    let scenario = shipped("leader-failover.toml");
    let mut s = Session::new(scenario.clone(), 2).unwrap();
    s.play_until(Instant(3_000));
    // Step until the next unit happens in the same millisecond as the last one, then act.
    let mut guard = 0;
    while s.world().next_event_time() != Some(Instant(s.moment().time_ms)) {
        assert!(s.step());
        guard += 1;
        assert!(guard < 100_000, "no two events ever share a millisecond");
    }
    s.act(Action::PowerLoss(Target::Broker(BrokerId(3))));
    let acted = s.moment();
    s.play_until(Instant(8_000));
    let end = (s.moment(), digest(&s));

    let replayed = Session::with_actions(scenario, 2, s.actions().to_vec()).unwrap();
    assert_eq!(replayed.moment(), acted);
    let mut replayed = replayed;
    replayed.play_until(Instant(8_000));
    assert_eq!((replayed.moment(), digest(&replayed)), end);
}

#[test]
fn acting_after_a_rewind_drops_the_recorded_future() {
    let scenario = shipped("min-isr.toml");
    let mut s = Session::new(scenario, 1).unwrap();
    s.play_until(Instant(3_000));
    s.act(Action::Pause(Target::Broker(BrokerId(1))));
    s.play_until(Instant(6_000));
    s.act(Action::Resume(Target::Broker(BrokerId(1))));
    s.rewind_to_time(Instant(4_000));
    s.act(Action::Crash(Target::Broker(BrokerId(3))));
    let kinds: Vec<String> = s.actions().iter().map(|a| a.action.to_string()).collect();
    assert_eq!(kinds, ["pause broker 1", "crash broker 3"]);
}

#[test]
fn stepping_back_undoes_one_unit() {
    let scenario = shipped("min-isr.toml");
    let mut s = Session::new(scenario, 4).unwrap();
    s.play_until(Instant(2_500));
    let before = (s.moment(), digest(&s));
    assert!(s.step());
    assert_ne!(s.moment().units, before.0.units);
    s.step_back();
    assert_eq!((s.moment().units, digest(&s)), (before.0.units, before.1));
}

#[test]
fn recorded_actions_out_of_place_are_refused() {
    let scenario = shipped("min-isr.toml");
    let mut real = Session::new(scenario.clone(), 1).unwrap();
    let start = real.start();
    real.play_until(Instant(start.time_ms + 500));
    real.act(Action::Heal);
    let first = real.actions()[0].clone();
    assert!(Session::with_actions(scenario.clone(), 1, vec![first.clone()]).is_ok());
    let at = |units: u64, time_ms: u64| TakenAction {
        at: Moment { units, time_ms },
        action: Action::Heal,
    };
    // More units but an earlier clock than the action above it.
    let earlier = at(first.at.units + 10, first.at.time_ms - 100);
    assert_eq!(
        Session::with_actions(scenario.clone(), 1, vec![first.clone(), earlier]).err(),
        Some(SessionError::ActionOutOfPlace { index: 1 })
    );
    // Before the cluster was ready.
    assert_eq!(
        Session::with_actions(
            scenario.clone(),
            1,
            vec![at(start.units - 1, start.time_ms)]
        )
        .err(),
        Some(SessionError::ActionOutOfPlace { index: 0 })
    );
    // Fifty units after the start the clock is nowhere near half a second later: a moment this
    // run never has (a hand-edited link), refused rather than played out of order.
    assert_eq!(
        Session::with_actions(scenario, 1, vec![at(start.units + 50, start.time_ms + 500)]).err(),
        Some(SessionError::ActionOutOfPlace { index: 0 })
    );
}

#[test]
fn a_trace_file_opens_as_the_session_of_its_scenario_and_seed() {
    let path = common::scenario("leader-failover.toml");
    let dir = std::env::temp_dir().join(format!("gregor-session-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("t.jsonl");
    let out = common::gregor(&[
        "run",
        &path,
        "--seed",
        "9",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let text = std::fs::read_to_string(&trace).unwrap();
    let mut from_trace = Session::from_trace(&text).unwrap();
    let mut direct = Session::new(shipped("leader-failover.toml"), 9).unwrap();
    assert_eq!(from_trace.seed(), 9);
    from_trace.play_until(Instant(10_000));
    direct.play_until(Instant(10_000));
    assert_eq!(digest(&from_trace), digest(&direct));

    // The classroom's way, without a TOML parser, gives the same session; a trace whose
    // header lacks the compiled scenario (an older trace) is refused with a way out.
    let mut compiled = Session::from_compiled_trace(&text).unwrap();
    assert_eq!(compiled.scenario(), from_trace.scenario());
    compiled.play_until(Instant(10_000));
    assert_eq!(digest(&compiled), digest(&direct));
    let (header, rest) = text.split_once('\n').unwrap();
    let mut old: serde_json::Value = serde_json::from_str(header).unwrap();
    old.as_object_mut()
        .unwrap()
        .remove("scenario_compiled")
        .unwrap();
    let old = format!("{old}\n{rest}");
    let refused = Session::from_compiled_trace(&old).err().unwrap();
    assert!(refused.to_string().contains("older gregor"), "{refused}");
    // A compiled scenario that is not the text beside it (another build's types) is refused.
    let mut other: serde_json::Value = serde_json::from_str(header).unwrap();
    let source = other["scenario_source"]
        .as_str()
        .unwrap()
        .replace("leader", "Leader");
    other["scenario_source"] = source.into();
    let refused = Session::from_compiled_trace(&format!("{other}\n{rest}"))
        .err()
        .unwrap();
    assert!(refused.to_string().contains("another version"), "{refused}");
    let mut from_toml = Session::from_trace(&old).unwrap();
    from_toml.play_until(Instant(10_000));
    assert_eq!(digest(&from_toml), digest(&direct));

    let bad = Session::from_trace("{\"format\":\"other\"}").err().unwrap();
    assert!(bad.to_string().contains("line 1"), "{bad}");
    let empty = Session::from_trace("").err().unwrap();
    assert!(empty.to_string().contains("empty"), "{empty}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn every_action_reads_back_as_it_is_written() {
    let scenario = shipped("group-rebalance.toml");
    let topic = &scenario.topics[0].name;
    let consumer = &scenario.consumers[0].name;
    let group = scenario.consumers[0].config.group_id.clone().unwrap();
    for text in [
        "crash broker 1".to_string(),
        format!("power_loss leader of {topic}/0"),
        "restart all".to_string(),
        "pause controller".to_string(),
        "resume broker 3".to_string(),
        format!("isolate coordinator of {group}"),
        "writeback broker 2".to_string(),
        "cut broker 1 -> broker 2".to_string(),
        "cut broker 1 <-> controller".to_string(),
        "clog broker 2 -> broker 3".to_string(),
        "unclog broker 2 -> broker 3".to_string(),
        "split broker 1, broker 2 | broker 3".to_string(),
        "heal".to_string(),
        format!("set {topic} min.insync.replicas=3"),
        format!("elect preferred {topic}/0"),
        format!("elect unclean {topic}/1"),
        format!("start {consumer}"),
        format!("stop {consumer}"),
        format!("leave {consumer}"),
        "send p1".to_string(),
        "send p1 key=k7".to_string(),
        "send p1 key=k7 value=hello".to_string(),
        "send p1 value=hello".to_string(),
        "delay p1 EndTxn 4s".to_string(),
        format!("delay {consumer} Heartbeat 1500ms"),
    ] {
        let action = scenario
            .parse_action(&text)
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(action.to_string(), text);
    }
    for (bad, why) in [
        ("crash broker 9", "does not exist"),
        ("explode broker 1", "is not an action"),
        ("cut broker 1 broker 2", "is not a link"),
        (
            &format!("set {topic} min.insync.replicas=many") as &str,
            "min.insync.replicas",
        ),
        ("elect sideways orders/0", "not an election type"),
        ("start nobody", "no producer or consumer"),
        ("split broker 1", "at least two groups"),
        ("send c1", "no producer is called"),
        ("send p1 key=a b", "is not `key=KEY`"),
        ("send p1 key=a key=b", "one key and one value"),
        ("send", "write `send PRODUCER"),
        ("delay p1 EndTxn", "write `CLIENT REQUEST DURATION`"),
        ("delay nobody EndTxn 1s", "no producer or consumer"),
        (
            "delay p1 WriteTxnMarkers 1s",
            "not a request a client sends",
        ),
        ("delay p1 EndTxn soon", "soon"),
        ("delay p1 EndTxn 0ms", "delays nothing"),
    ] {
        let err = scenario.parse_action(bad).unwrap_err();
        assert!(err.contains(why), "{bad}: {err}");
    }
}

/// The partition the default partitioner picks for a key (murmur2), as a producer would.
fn partition_of(key: &str, partitions: u32) -> u32 {
    gregor_core::partitioner::partition_for_key(key.as_bytes(), partitions)
}

#[test]
fn classroom_clients_change_nothing_until_used() {
    // Spare clients take client ids after every declared client, so the declared clients keep
    // their ids, seeds and order: the run is the same, event for event.
    for name in ["leader-failover.toml", "group-rebalance.toml"] {
        let scenario = shipped(name);
        let mut alone = Session::new(scenario.clone(), 4).unwrap();
        let mut with = Session::new(scenario.with_classroom_clients(), 4).unwrap();
        alone.play_until(Instant(25_000));
        with.play_until(Instant(25_000));
        assert_eq!(alone.moment(), with.moment(), "{name}");
        assert_eq!(
            gregor_sim::report::story(alone.world().log(), alone.scenario()),
            gregor_sim::report::story(with.world().log(), with.scenario()),
            "{name}"
        );
    }
}

#[test]
fn a_console_producer_sends_one_record_with_the_key_and_acks_asked_for() {
    let scenario = shipped("leader-failover.toml").with_classroom_clients();
    let topic = scenario.topics[0].name.clone();
    let partitions = scenario.topics[0].assignment.len() as u32;
    let mut s = Session::new(scenario, 1).unwrap();
    let send = s
        .scenario()
        .parse_action("send console-1 key=k7 value=hello")
        .unwrap();
    s.act(send);
    let t = s.moment().time_ms;
    s.play_until(Instant(t + 2_000));
    let tp = gregor_core::ids::TopicPartition {
        topic,
        partition: partition_of("k7", partitions),
    };
    let leader = s
        .world()
        .controller()
        .and_then(|c| c.image().partition(&tp))
        .and_then(|p| p.leader)
        .expect("a leader");
    let log = s
        .world()
        .broker_disk(leader)
        .and_then(|d| d.logs.get(&tp))
        .expect("the leader's log");
    let found: Vec<_> = (0..log.log_end_offset().0)
        .filter_map(|o| log.record_at(gregor_core::ids::Offset(o)))
        .filter(|(r, _)| r.key.as_ref().map(|k| k.as_slice()) == Some(b"k7".as_slice()))
        .map(|(r, _)| String::from_utf8_lossy(r.value.as_ref().unwrap().as_slice()).into_owned())
        .collect();
    assert_eq!(
        found,
        ["console-1-0:hello"],
        "the record is in {tp}'s log once"
    );
    let producer = s
        .scenario()
        .producers
        .iter()
        .position(|p| p.name == "console-1")
        .unwrap();
    let (pids, _, _) = gregor_sim::runner::client_ids(s.scenario());
    let p = s
        .world()
        .producer(pids[producer])
        .expect("started by the send");
    assert_eq!(p.config().config.acks, gregor_core::config::Acks::One);
    assert!(p.is_done(), "its one record completed");
    assert!(
        s.world().log().iter().any(|e| matches!(
            &e.event,
            gregor_sim::cluster::WorldEvent::Node(gregor_core::node::Event::RecordAcknowledged { value, .. })
                if value.as_slice() == b"console-1-0:hello"
        )),
        "the producer saw it acknowledged"
    );
}

#[test]
fn a_spare_member_joins_its_group_when_started() {
    let scenario = shipped("group-rebalance.toml").with_classroom_clients();
    let spare = gregor_sim::classroom::spare_members(&scenario, "billing")
        .next()
        .expect("a spare member of billing")
        .to_string();
    assert_eq!(
        gregor_sim::classroom::spare_members(&scenario, "billing").count(),
        gregor_sim::classroom::SPARE_MEMBERS
    );
    let mut s = Session::new(scenario, 1).unwrap();
    s.play_until(Instant(12_000));
    let generation = |s: &Session| {
        gregor_sim::groups::group_reports(s.world(), s.scenario())
            .into_iter()
            .find(|g| g.group == "billing")
            .map(|g| (g.generation, g.members.len()))
    };
    assert_eq!(generation(&s), Some((1, 3)));
    let start = s
        .scenario()
        .parse_action(&format!("start {spare}"))
        .unwrap();
    s.act(start);
    s.play_until(Instant(19_000));
    assert_eq!(
        generation(&s),
        Some((2, 4)),
        "{spare} joined: a rebalance to generation 2"
    );
}

#[test]
fn a_stopped_workload_resumes_at_its_rate() {
    // min-isr's producer sends 50 records a second; stopped at 6 s and started at 8 s, it must
    // send about 50 records in the next second, not wait as if it had never stopped.
    let scenario = shipped("min-isr.toml");
    let mut s = Session::new(scenario, 1).unwrap();
    s.play_until(Instant(6_000));
    s.act(Action::Stop("p1".into()));
    s.play_until(Instant(8_000));
    let (pids, _, _) = gregor_sim::runner::client_ids(s.scenario());
    let sent = |s: &Session| s.world().producer(pids[0]).unwrap().records_created();
    let before = sent(&s);
    s.act(Action::Start("p1".into()));
    s.play_until(Instant(9_000));
    let after = sent(&s);
    assert!(
        (49..=51).contains(&(after - before)),
        "{} records in the second after the restart",
        after - before
    );
}

#[test]
fn a_spare_reader_in_a_scenario_without_groups_gets_its_coordinator_and_reads() {
    // leader-failover declares no group: the first spare member to start makes the operator
    // create `__consumer_offsets` (Kafka does it on the first FindCoordinator), and the member
    // retries until its coordinator is there.
    let scenario = shipped("leader-failover.toml").with_classroom_clients();
    let spare = gregor_sim::classroom::spare_members(&scenario, "orders-readers")
        .next()
        .expect("a spare reader of orders")
        .to_string();
    let mut s = Session::new(scenario, 1).unwrap();
    s.play_until(Instant(2_000));
    let start = s
        .scenario()
        .parse_action(&format!("start {spare}"))
        .unwrap();
    s.act(start);
    // The scenario crashes broker 1, which leads orders/0 and coordinates the group, at 5 s;
    // by 25 s it is fenced and the group has moved to another coordinator.
    s.play_until(Instant(25_000));
    let group = gregor_sim::groups::group_reports(s.world(), s.scenario())
        .into_iter()
        .find(|g| g.group == "orders-readers")
        .expect("the group exists at its coordinator");
    assert_eq!((group.state.as_str(), group.generation), ("Stable", 1));
    assert_eq!(group.members.len(), 1);
    let (_, cids, _) = gregor_sim::runner::client_ids(s.scenario());
    let index = s
        .scenario()
        .consumers
        .iter()
        .position(|c| c.name == spare)
        .unwrap();
    let consumer = s.world().consumer(cids[index]).expect("running");
    assert_eq!(
        consumer.assignment().count(),
        3,
        "one member owns every partition"
    );
    assert!(consumer.records_processed() > 500, "it read what p1 wrote");
}

/// A restarted producer begins a new session with nothing kept, and its application sends new
/// records: they continue its numbering (`p1-297`, ...), so the history does not mistake
/// them for the records of the first session written twice.
#[test]
fn a_restarted_producer_sends_new_records_not_duplicates() {
    let text = std::fs::read_to_string(common::scenario("leader-failover.toml"))
        .unwrap()
        .replace("count = 1000", "count = 300")
        .replace(
            "[[at]]\ntime = \"5s\"\ncrash = \"leader of orders/0\"",
            "[[at]]\ntime = \"1s\"\ncrash = \"p1\"\n\n[[at]]\ntime = \"2s\"\nrestart = \"p1\"\n\n[[at]]\ntime = \"5s\"\ncrash = \"leader of orders/0\"",
        );
    let scenario = Scenario::parse("restart.toml", &text).expect("valid");
    assert_eq!(scenario.timeline.len(), 4, "the crash and restart are in");
    let report = gregor_sim::runner::Run::new(&scenario, &Default::default()).run();
    let history = &report.history;
    assert_eq!(history.duplicates, 0);
    assert_eq!(history.lost_acknowledged, 0);
    // The first session sent about 200 records in its second (200 a second), the second
    // session its whole workload of 300 again, each under its own number.
    assert!(
        history.sent > 450 && history.sent <= 500,
        "{} sent",
        history.sent
    );
    assert!(report.passed(), "{:?}", report.first_finding());
}
