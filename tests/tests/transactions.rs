//! Transactions end to end (KAFKA.md 4.2): the shipped `transactions` scenario, read by a
//! `read_committed` and a `read_uncommitted` consumer, with the oracle's aborted-read check
//! turned on each of them.

use gregor_core::bytes::Bytes;
use gregor_core::ids::{ClientId, NodeId};
use gregor_core::map::VecMap;
use gregor_core::node::Event;
use gregor_core::record::MarkerKind;
use gregor_sim::checker::transactions;
use gregor_sim::runner::client_ids;
use gregor_tests::{Live, check_named, failures, run, shipped, tp};
use std::collections::BTreeSet;

/// The shipped scenario passes, with aborted transactions among its committed ones.
#[test]
fn the_transactions_scenario_commits_aborts_and_passes() {
    let s = shipped("transactions.toml");
    let r = run(&s, 1);
    assert!(failures(&r).is_empty(), "{:?}", failures(&r));
    let t = r.transactions.as_ref().expect("a transactional scenario");
    assert!(t.committed >= 50 && t.aborted >= 25, "{t:?}");
    assert_eq!(t.aborted_reads, 0);
    assert!(check_named(&r, "no aborted reads").ok);
}

/// A `read_committed` consumer polls every committed record and no aborted one; a
/// `read_uncommitted` consumer polls aborted records too, so the aborted-read check, turned on
/// it, fails: the check can tell the two apart.
#[test]
fn read_committed_sees_exactly_the_committed_records() {
    let s = shipped("transactions.toml");
    let mut live = Live::start(&s, 1);
    live.until("90s");
    let (_, consumers, _) = client_ids(&s);
    let (c1, c2) = (consumers[0], consumers[1]);
    let mut committed: BTreeSet<Bytes> = BTreeSet::new();
    let mut aborted: BTreeSet<Bytes> = BTreeSet::new();
    let mut polled: VecMap<ClientId, BTreeSet<Bytes>> = VecMap::new();
    for (_, node, e) in live.events() {
        match e {
            Event::TransactionEnded {
                committed: true,
                values,
                ..
            } => committed.extend(values.iter().cloned()),
            Event::TransactionEnded { values, .. } => aborted.extend(values.iter().cloned()),
            Event::RecordsPolled { records, .. } => {
                if let NodeId::Client(c) = node {
                    polled
                        .entry(c)
                        .or_default()
                        .extend(records.iter().filter_map(|(_, v)| v.clone()));
                }
            }
            _ => {}
        }
    }
    assert!(!aborted.is_empty());
    let c1_polled = &polled[&c1];
    assert!(
        committed.is_subset(c1_polled),
        "{} committed records never reached the read_committed consumer",
        committed.difference(c1_polled).count()
    );
    assert!(c1_polled.is_disjoint(&aborted));
    let c2_polled = &polled[&c2];
    assert!(
        !c2_polled.is_disjoint(&aborted),
        "read_uncommitted reads aborted records that reached the log"
    );
    let judge = |c: ClientId| {
        let names: VecMap<ClientId, String> = [(c, "reader".to_string())].into_iter().collect();
        transactions::analyse(live.world().log(), &names)
    };
    assert_eq!(judge(c1).aborted_reads, 0);
    assert!(
        judge(c2).aborted_reads > 0,
        "the check fails on a reader that sees aborts"
    );
}

/// KAFKA.md 4.2: markers take an offset in each partition of a transaction, so a partition's
/// high watermark counts its records and its markers; the leader's last stable offset is its
/// high watermark once no transaction is open.
#[test]
fn every_ended_transaction_leaves_one_marker_per_partition() {
    let s = shipped("transactions.toml");
    let mut live = Live::start(&s, 1);
    live.until("90s");
    let leader = live.leader("payments/0").expect("led");
    let log = live
        .world()
        .broker_disk(gregor_core::ids::BrokerId(leader))
        .and_then(|d| d.logs.get(&tp("payments/0")))
        .expect("a log");
    let (mut commits, mut aborts) = (0, 0);
    for b in log.batches() {
        match b.control.map(|m| m.kind) {
            Some(MarkerKind::Commit) => commits += 1,
            Some(MarkerKind::Abort) => aborts += 1,
            None => {}
        }
    }
    assert!(
        commits > 0 && aborts > 0,
        "{commits} commits, {aborts} aborts"
    );
    assert_eq!(
        log.high_watermark().0,
        log.record_count() + commits + aborts,
        "every offset holds a record or a marker"
    );
    assert_eq!(log.last_stable_offset(), log.high_watermark());
}
