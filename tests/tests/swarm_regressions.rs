//! Seeds of the swarms (`scenarios/swarm.toml` as shipped or with short retention on, and others
//! where named) that revealed real bugs, each kept as a named regression with what went wrong. A
//! swarm seed is a whole schedule of faults, so the seed alone replays it: `gregor run
//! scenarios/swarm.toml --seed N --report DIR` shows it with charts.

use gregor_sim::runner::RunReport;
use gregor_tests::{check_named, failures, run, shipped};

fn swarm(seed: u64) -> RunReport {
    run(&shipped("swarm.toml"), seed)
}

/// Seed 7: after an election during a split, the consumers' last metadata said "no leader" for
/// every partition, and they waited for `metadata.max.age.ms` (five minutes) before asking
/// again, so the group never consumed in the final phase. Kafka's client asks again at once:
/// the broker reports a leaderless partition as LEADER_NOT_AVAILABLE, an
/// `InvalidMetadataException` on which `Metadata.handleMetadataResponse` requests an update, and
/// the fetcher requests one for a position whose leader is unknown.
#[test]
fn seed_7_consumers_ask_again_for_a_partition_without_a_leader() {
    let r = swarm(7);
    assert!(r.passed(), "{:?}", failures(&r));
    assert_eq!(
        r.delivery.unseen, 0,
        "every acknowledged record was processed"
    );
}

/// Seed 596: broker 1 led orders/0 in epoch 0, lost power (its log came back empty) and
/// registered again before the controller had fenced its old incarnation. The controller kept
/// it as leader in epoch 0, so broker 3 truncated 95 committed records to match it. Kafka 4.0
/// treats such a registration as a fencing first (`ReplicationControlManager.handleBrokerShutdown`,
/// KAFKA-18106), moving the leadership to a replica that has the records.
#[test]
fn seed_596_a_new_incarnation_is_fenced_before_it_registers() {
    let r = swarm(596);
    assert!(r.passed(), "{:?}", failures(&r));
    assert_eq!(r.history.lost_acknowledged, 0);
}

/// Seed 100: two power losses left an ISR whose last member came back with a shorter log and
/// was elected, as Kafka 4.0 does with eligible leader replicas off: an allowed loss. But the
/// deposed leader's HW still covered the records for a moment, and the invariant checker
/// counted them as committed again with a new time, after the power loss, so it no longer
/// recognised the same loss as allowed. It now keeps the time a lost record was first committed.
#[test]
fn seed_100_an_allowed_loss_stays_allowed_when_a_deposed_leader_still_covers_it() {
    let r = swarm(100);
    assert!(r.passed(), "{:?}", failures(&r));
    assert!(
        r.history.lost_acknowledged > 0,
        "the power losses took acknowledged records"
    );
    let promise = check_named(&r, "no acknowledged record lost");
    assert!(
        promise.detail.contains("allowed:") && promise.detail.contains("power loss"),
        "each loss is attributed: {}",
        promise.detail
    );
}

/// Seed 30: an acks=all batch was appended by a leader that was deposed while it waited for its
/// followers; it answered NOT_LEADER_OR_FOLLOWER, which the producer took as proof the records
/// were absent, although the next leader had them. Kafka's producer never assumes that (the
/// error is retriable and an expired retried batch has an unknown outcome). And the producer
/// slept for 95 seconds: a connection backoff that had passed hid every later deadline.
#[test]
fn seed_30_a_deposed_leaders_answer_is_no_proof_and_no_deadline_hides_another() {
    let r = swarm(30);
    assert!(r.passed(), "{:?}", failures(&r));
    assert_eq!(r.history.failed_but_present, 0);
}

/// Seed 137: the controller answered the registration of a broker incarnation that had since
/// lost power, and the reply reached the new incarnation, which took the dead one's epoch and
/// was refused as stale forever after. In Kafka the reply goes down the old connection, which
/// the rebooted host resets; the model's reply now names the incarnation it answers.
#[test]
fn seed_137_a_registration_reply_to_a_dead_incarnation_is_ignored() {
    let r = swarm(137);
    assert!(r.passed(), "{:?}", failures(&r));
}

/// Seed 593: a metadata response brought a newer leader epoch for orders/2 but no leader (the
/// election had not happened yet). The consumer marked its position for validation anyway, then
/// could neither validate it (no leader to ask) nor fetch (a position awaiting validation is not
/// fetched), and never asked for metadata again: c2 stopped consuming at offset 274. Kafka's
/// `TopicPartitionState.maybeValidatePosition` leaves a position alone while the leader is
/// unknown, and the fetcher asks for metadata for a position without a leader.
#[test]
fn seed_593_a_position_is_validated_only_against_a_known_leader() {
    let r = swarm(593);
    assert!(r.passed(), "{:?}", failures(&r));
    assert_eq!(r.delivery.unseen, 0, "c2 caught up on orders/2");
}

/// Seed 775: broker 2 lost power with the records of generation 2 of group billing unflushed,
/// restarted, and loaded the group from its log as generation 1, which still counted c2 as the
/// owner of orders/2; c1 owned it in generation 2. The ownership check read that copy as the
/// coordinator's view, but the broker had not registered again: Kafka opens a restarted broker's
/// listeners only once it is unfenced (`BrokerServer.startup`), so no member could reach that
/// copy. The check now reads a coordinator only on a broker that serves requests.
#[test]
fn seed_775_a_broker_that_serves_no_requests_is_nobodys_coordinator() {
    let r = swarm(775);
    assert!(r.passed(), "{:?}", failures(&r));
    let owners = check_named(&r, "one owner per partition in a group");
    assert!(owners.ok, "{}", owners.detail);
}

/// Seed 263 (first found at seed 126, before the consumer's fetch pipelining changed every
/// schedule): broker 2 lost power, which took the last 21 records of `__consumer_offsets/1`, and
/// restarted. Once its metadata had caught up it led the
/// partition again in epoch 0, as Kafka's broker does before it registers
/// (`BrokerMetadataPublisher` publishes once the metadata log is caught up; `BrokerServer`
/// opens the listeners only once it is unfenced), and its group coordinator loaded the group.
/// No member could reach it, so the members' sessions expired there and the coordinator wrote
/// the group's new state (`CoordinatorPartitionWriter.append`) at offsets broker 3 holds other
/// epoch-0 records at. The model's follower then retried the append forever; Kafka's fails the
/// partition (`UnexpectedAppendOffsetException`, `AbstractFetcherThread.markPartitionFailed`)
/// until a new leader epoch. The final phase converges without that replica, and says why.
#[test]
fn seed_263_a_follower_fails_a_partition_a_power_loss_forked() {
    let r = swarm(263);
    assert!(r.passed(), "{:?}", failures(&r));
    let story: Vec<&str> = r.story.iter().map(|l| l.text.as_str()).collect();
    assert!(
        story
            .iter()
            .any(|t| t.starts_with("broker 2 stopped fetching __consumer_offsets/1")),
        "the follower fails the partition"
    );
    let converged = check_named(&r, "converged after healing");
    assert!(
        converged
            .detail
            .contains("converged without broker 2, whose fetcher failed the partition")
            && converged.detail.contains("lost power at 14.491s"),
        "the missing replica is attributed to the power loss: {}",
        converged.detail
    );
}

/// Seed 503: the same hazard, where the batches line up: broker 3 came back from a power loss
/// leading `__consumer_offsets/1` in epoch 1 again from offset 4 and wrote another record
/// there, while broker 1 kept the first one. Leader epochs cannot tell them apart (one leader
/// wrote both), so broker 1 rejoined the ISR holding a different record at offset 11, as
/// Kafka's follower would. The log-matching check allows exactly that offset, naming the power
/// loss.
#[test]
fn seed_503_a_fork_below_the_hw_is_attributed_offset_by_offset() {
    let r = swarm(503);
    assert!(r.passed(), "{:?}", failures(&r));
    let matching = check_named(&r, "log matching below the HW");
    assert!(
        matching.detail.contains("__consumer_offsets/1 at offset 4, below the HW; allowed: broker 3 lost power at 23.853s"),
        "{}",
        matching.detail
    );
}

/// Seed 852: broker 2 lost power and with it records 112 and 113 of orders/0, while its old
/// incarnation was still in the ISR. The leader counted them as replicated from broker 2's
/// fetches before the power loss and acknowledged them; broker 2 was then the last replica of
/// the ISR and was elected without them. Kafka 4.0 (eligible leader replicas off) loses them
/// alike. The checks allowed a power-loss loss only when the power went after the records were
/// committed; they now also allow it when the power loss took these very records (same offsets,
/// values and epoch) from the broker that then led.
#[test]
fn seed_852_records_a_power_loss_took_from_the_next_leader_are_an_allowed_loss() {
    let r = swarm(852);
    assert!(r.passed(), "{:?}", failures(&r));
    assert_eq!(r.history.lost_acknowledged, 2);
    let kept = check_named(&r, "committed records kept");
    assert!(
        kept.detail
            .contains("broker 2 lost them to a power loss at 5.752s"),
        "{}",
        kept.detail
    );
}

/// Seed 625: a batch of p1's to orders/2 was appended, its answer lost, and retried after more
/// than four later batches had been appended too: outside the broker's five-batch window, so
/// each retry got OUT_OF_ORDER_SEQUENCE_NUMBER until it expired. The next batch (also written,
/// also retrying) then asked for an epoch bump, which renumbered it and the batches behind it
/// from sequence 0 under epoch 1; the broker took them for new batches and wrote 4 records
/// twice (7 before the consumer's fetch pipelining changed the schedule). Kafka's idempotent producer does exactly this
/// (`TransactionManager.canRetry`, `bumpIdempotentProducerEpoch`, KAFKA-14034). The check now
/// allows such copies, and only them: each renumbered batch that may already have been written
/// is reported by the producer.
#[test]
fn seed_625_an_epoch_bump_may_write_a_batch_again_as_in_kafka() {
    let r = swarm(625);
    assert!(r.passed(), "{:?}", failures(&r));
    assert_eq!(r.history.duplicates, 4);
    let idempotence = check_named(&r, "idempotent producers: no duplicates, send order kept");
    assert!(
        idempotence
            .detail
            .contains("allowed: 4 duplicated and 1 reordered"),
        "{}",
        idempotence.detail
    );
}

/// Seed 1082: broker 3 caught up on orders/1 and its leader proposed it for the ISR; the power
/// went at 12.387s, before the controller committed the change at 12.391s, so broker 3 came
/// back into the ISR with an empty log. Kafka does the same: the AlterPartition carries broker
/// 3's old broker epoch, which the controller still accepts. The HW check exempts a broker that
/// lost records until it has left the ISR and rejoined, and counted this stale rejoin as that;
/// leaving the ISR now counts only once the broker has registered again.
#[test]
fn seed_1082_a_rejoin_from_fetches_before_a_power_loss_ends_no_exemption() {
    let r = swarm(1082);
    assert!(r.passed(), "{:?}", failures(&r));
    let within = check_named(&r, "HW within the ISR");
    assert!(within.ok, "{}", within.detail);
}

/// Seed 5130: broker 2, cut off from the controller, still led orders/1 in epoch 0 with its last
/// ISR and HW 242 after the controller had moved the leadership on (epoch 4, broker 1) and had
/// then lost power; broker 3 truncated to the new leader's log (104). The check compared the
/// deposed leader's HW with broker 3's log. A deposed leader's view bounds nothing in Kafka
/// either: the check now holds a leader to its ISR only while no later epoch exists in the
/// controller or on any broker.
#[test]
fn seed_5130_a_deposed_leaders_stale_isr_is_not_held_to_its_hw() {
    let r = swarm(5130);
    assert!(r.passed(), "{:?}", failures(&r));
}

/// Seed 2161: offsets 186 and 187 of orders/2 lost two records over the run, each in a loss
/// the checks allow: first p1-465 and the record after it (a power loss on the replica that then
/// led), then the records written there after them. The history oracle kept one allowed record
/// per offset, the later one, so it no longer recognised p1-465 as allowed. It now keeps every
/// allowed record.
#[test]
fn seed_2161_an_offset_may_lose_two_records_in_two_allowed_losses() {
    let r = swarm(2161);
    assert!(r.passed(), "{:?}", failures(&r));
    assert_eq!(r.history.lost_acknowledged, 10);
}

/// Seed 9733: a power loss took generation 1's record of group billing from broker 1, which was
/// then elected without it (an allowed loss); broker 2, a deposed leader that had not heard of it
/// yet, still counted the record below its HW, so it was counted as committed again, and when
/// broker 2 itself led later without it the checker found it lost a second time, with no power
/// loss of broker 2's to explain it. It is the same loss: a record an allowed loss took that
/// comes back only through a deposed leader's HW is allowed again.
#[test]
fn seed_9733_a_record_lost_once_and_recounted_by_a_deposed_leader_is_the_same_loss() {
    let r = swarm(9733);
    assert!(r.passed(), "{:?}", failures(&r));
    let kept = check_named(&r, "committed records kept");
    assert!(
        kept.detail
            .contains("at 36.809s: 1 committed record(s) of __consumer_offsets/1 lost, allowed: an allowed loss had already taken them"),
        "{}",
        kept.detail
    );
}

/// Seed 4667: broker 2 lost power with generation 2 of group billing unflushed, and was elected
/// as the last replica of the ISR, so its coordinator loaded the group at generation 1, where c2
/// owned orders/2; c1 still owned it from generation 2. Kafka loses the generation alike, and c1
/// learns on its next heartbeat (ILLEGAL_GENERATION). A member holding a generation newer than
/// its coordinator's is now a zombie to the ownership check, like an expelled one.
#[test]
fn seed_4667_a_member_of_a_generation_its_coordinator_lost_is_a_zombie() {
    let r = swarm(4667);
    assert!(r.passed(), "{:?}", failures(&r));
    let story: Vec<&str> = r.story.iter().map(|l| l.text.as_str()).collect();
    assert!(
        story
            .iter()
            .any(|t| t.contains("committed record(s) of __consumer_offsets/1 lost; allowed")),
        "the generation was lost in an allowed loss"
    );
}

/// `scenarios/swarm.toml` with retention on: segments of 1 KiB kept five seconds, the retention
/// task every second (the first run a second after each broker starts).
fn swarm_with_retention(seed: u64) -> RunReport {
    let text = std::fs::read_to_string(gregor_tests::scenarios_dir().join("swarm.toml"))
        .expect("swarm.toml")
        .replace(
            "\"request.timeout.ms\" = 5000 }\npage_cache_writeback",
            "\"request.timeout.ms\" = 5000, \"log.retention.check.interval.ms\" = 1000, \"log.initial.task.delay.ms\" = 1000 }\npage_cache_writeback",
        )
        .replacen(
            "replication_factor = 3\n",
            "replication_factor = 3\nconfig = { \"segment.bytes\" = 1024, \"retention.ms\" = 5000 }\n",
            1,
        );
    assert!(
        text.contains("retention.ms"),
        "the topic keeps five seconds"
    );
    assert!(text.contains("log.retention.check.interval.ms"));
    run(&gregor_tests::scenario(&text), seed)
}

/// Seed 805 with retention: c2's position needed a KIP-320 validation after a leader change
/// when its fetch came back OFFSET_OUT_OF_RANGE (retention had passed it). The reset gave it a
/// position without an epoch, which cannot be validated, but the pending validation stayed and
/// kept the partition from fetching: the group never caught up. A reset position now needs no
/// validation, as in Kafka (a position without an epoch completes validation at once).
#[test]
fn seed_805_with_retention_a_reset_position_needs_no_validation() {
    let r = swarm_with_retention(805);
    assert!(r.passed(), "{:?}", failures(&r));
    assert!(
        r.history.deleted_by_retention > 0,
        "retention deleted acknowledged records"
    );
    assert!(
        r.story.iter().any(|l| l
            .text
            .contains("is out of range; auto.offset.reset moves it")),
        "a member was reset"
    );
}

/// Compacted swarm seed 1304: broker 3, a deposed leader paused before it heard of it, resumed
/// and in one step advanced its HW from 87 to 353 (what its followers copied) and learned it
/// was a follower, so the checker never saw those records committed. Every cleaner then removed
/// records below 353 that later records of their keys replaced, and the next leader lacked four
/// committed records whose newer versions the checker had not counted as committed. A cleaned
/// record is now held when a later record of its key is committed or in the new leader's log.
#[test]
fn compacted_seed_1304_a_record_replaced_in_the_leaders_log_is_held() {
    let r = run(&shipped("swarm-compaction.toml"), 1304);
    assert!(r.passed(), "{:?}", failures(&r));
    assert!(
        r.history.compacted_away > 0,
        "the cleaners replaced records"
    );
    assert!(
        r.story.iter().any(|l| l.text.contains("broker 3 paused")),
        "the pause that hid the commit"
    );
}

/// `scenarios/swarm-transactions.toml`, seed 625: broker 1 was elected leader of
/// `__transaction_state/2` in epoch 1 and paused before it heard; the controller fenced it and
/// broker 2 led epoch 2 and committed the coordinator's abort records. When broker 1 resumed it
/// took up epoch 1 and the checker demanded records committed in epoch 2 from it. A leader is
/// owed what was committed before its own epoch, not after. The same seed also showed the
/// coordinator retrying its timed-out-transaction abort on every input while
/// `__transaction_state/2` was below its min ISR; the check now waits for its next interval.
#[test]
fn transactions_seed_625_a_resumed_leader_of_an_older_epoch_owes_no_later_records() {
    let r = run(&shipped("swarm-transactions.toml"), 625);
    assert!(r.passed(), "{:?}", failures(&r));
    assert!(check_named(&r, "committed records kept").ok);
    let aborts = r
        .story
        .iter()
        .filter(|l| {
            l.text
                .contains("open longer than its transaction.timeout.ms")
        })
        .count();
    assert!(
        aborts <= 3,
        "{aborts} timed-out aborts told: one per check, not one per input"
    );
}

/// `swarm-late-requests.toml`, whose faults end with power losses. Seeds 889 and 1191 were found
/// before they were shipped, with power losses added last, which draws the same.
fn late_requests_with_power_losses() -> gregor_sim::scenario::Scenario {
    let s = shipped("swarm-late-requests.toml");
    let faults = &s.swarm.as_ref().expect("a swarm").faults;
    assert_eq!(
        faults.last(),
        Some(&gregor_sim::swarm::SwarmFault::PowerLoss)
    );
    s
}

/// `swarm-late-requests.toml` with power losses, seed 889: the cluster converged and the
/// final read began; then the controller, restarted from its own power loss, let the sessions
/// of brokers 1 and 3 expire and fenced them, leaving payments/2 led by broker 2 alone, below
/// its min ISR, with a high watermark of 60 under records 60 to 63 that every replica held. The
/// read stopped at that high watermark and the history called the four records lost. The final
/// read now ends only on a converged cluster: the ISR grows back and the read sees them.
#[test]
fn late_requests_with_power_losses_seed_889_reads_only_a_converged_cluster() {
    let s = late_requests_with_power_losses();
    let r = run(&s, 889);
    assert!(r.passed(), "{:?}", failures(&r));
    assert_eq!(r.history.lost_acknowledged, 0);
    assert!(check_named(&r, "converged after healing").ok);
}

/// `swarm-late-requests.toml` with power losses, seed 1191: broker 3 lost offsets 13 to
/// 17 of payments/0 to a power loss (two commit markers, then three records), stayed in the
/// ISR while its old session lived, and was the last ISR member left when the controller
/// fenced all three brokers at once; it was then elected cleanly without the three committed
/// records, as Kafka without eligible leader replicas would. The checker excuses such a loss
/// by the records the power loss took, but it found them by position, and the two markers
/// (which have no entry) shifted them. It now finds them by offset.
#[test]
fn late_requests_with_power_losses_seed_1191_finds_lost_records_by_offset() {
    let s = late_requests_with_power_losses();
    let r = run(&s, 1191);
    assert!(
        check_named(&r, "committed records kept").ok,
        "{:?}",
        failures(&r)
    );
    assert!(r.passed(), "{:?}", failures(&r));
}
