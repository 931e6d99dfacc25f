//! The four classic assignors side by side on three small groups, through the same path as
//! `gregor assign` (`gregor_sim::assign::run`), as insta snapshots: a fresh group with mixed
//! subscriptions, a group a member has left, and a group a member joins. `assignors.rs` checks
//! Kafka's own test cases; this file shows how the strategies differ on one input, so that a
//! change to any of them shows up next to the others in review.
//!
//! What each test asserts outright comes from the assignors' rules (KAFKA.md 2.1 to 2.4):
//! RangeAssignor gives each subscriber of a topic a contiguous range, the first ones one more;
//! RoundRobinAssignor deals every partition, sorted by topic and number, to the members in
//! member-id order, skipping those not subscribed; the sticky assignors keep what members own
//! up to the balanced quota and hand the rest out to reach balance, and cooperative-sticky
//! withholds a partition that changes owner until its owner has revoked it. Where those rules
//! leave a choice open (which of two freed partitions goes to whom, or the placement of a fresh
//! group with unequal subscriptions), the test asserts the rules (every partition once, within
//! the subscription, balanced) and the snapshot keeps the model's exact lists, in the order the
//! assignor returns them.

use gregor_core::group::assignor::AssignorName;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

const STRATEGIES: [(AssignorName, &str); 4] = [
    (AssignorName::Range, "range"),
    (AssignorName::RoundRobin, "roundrobin"),
    (AssignorName::Sticky, "sticky"),
    (AssignorName::CooperativeSticky, "cooperative-sticky"),
];

type Lists = BTreeMap<String, Vec<String>>;

/// Every strategy's assignment of `input` (a `gregor assign` input file's text).
fn assign_all(input: &str) -> BTreeMap<&'static str, Lists> {
    STRATEGIES
        .iter()
        .map(|&(strategy, name)| {
            let out = gregor_sim::assign::run(strategy, "group.json", input)
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(out.warnings.is_empty(), "{:?}", out.warnings);
            let json: serde_json::Value = serde_json::from_str(&out.json).expect("JSON");
            let lists: Lists = serde_json::from_value(json["assignment"].clone()).expect("lists");
            (name, lists)
        })
        .collect()
}

/// The snapshot: the input, then each strategy's lists, one member a line.
fn rendering(input: &str, all: &BTreeMap<&'static str, Lists>) -> String {
    let mut out = format!(
        "input: {}\n",
        input.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    for (_, name) in STRATEGIES {
        let _ = writeln!(out, "\n{name}");
        for (member, list) in &all[name] {
            let _ = writeln!(out, "  {member}: [{}]", list.join(", "));
        }
    }
    out
}

fn set(list: &[String]) -> BTreeSet<&str> {
    list.iter().map(String::as_str).collect()
}

fn sets(lists: &Lists) -> BTreeMap<&str, BTreeSet<&str>> {
    lists.iter().map(|(m, l)| (m.as_str(), set(l))).collect()
}

fn want(
    pairs: &[(&'static str, &[&'static str])],
) -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    pairs
        .iter()
        .map(|(m, l)| (*m, l.iter().copied().collect()))
        .collect()
}

/// Every partition of `partitions` exactly once, each to a member subscribed to its topic.
fn complete(lists: &Lists, partitions: &[&str], subscriptions: &[(&str, &[&str])]) {
    let mut all: Vec<&str> = lists.values().flatten().map(String::as_str).collect();
    gregor_core::sort::sort(&mut all);
    let mut expected = partitions.to_vec();
    gregor_core::sort::sort(&mut expected);
    assert_eq!(all, expected, "every partition exactly once: {lists:?}");
    for (member, topics) in subscriptions {
        for tp in lists.get(*member).into_iter().flatten() {
            let topic = tp.rsplit_once('-').map_or("", |(t, _)| t);
            assert!(topics.contains(&topic), "{member} got {tp}: {lists:?}");
        }
    }
}

/// A fresh group (no member owns anything) with unequal subscriptions: c2 reads orders only.
const FRESH: &str = r#"{"topics": {"orders": 5, "audit": 2},
 "members": [
  {"member_id": "c1", "topics": ["orders", "audit"]},
  {"member_id": "c2", "topics": ["orders"]},
  {"member_id": "c3", "topics": ["orders", "audit"]}]}"#;

#[test]
fn a_fresh_group_with_mixed_subscriptions() {
    let all = assign_all(FRESH);
    let subscriptions: &[(&str, &[&str])] = &[
        ("c1", &["orders", "audit"]),
        ("c2", &["orders"]),
        ("c3", &["orders", "audit"]),
    ];
    let partitions = [
        "orders-0", "orders-1", "orders-2", "orders-3", "orders-4", "audit-0", "audit-1",
    ];
    for lists in all.values() {
        complete(lists, &partitions, subscriptions);
    }
    // Range: orders' 5 partitions over 3 subscribers (2, 2, 1), audit's 2 over c1 and c3.
    assert_eq!(
        sets(&all["range"]),
        want(&[
            ("c1", &["audit-0", "orders-0", "orders-1"]),
            ("c2", &["orders-2", "orders-3"]),
            ("c3", &["audit-1", "orders-4"]),
        ])
    );
    // Round robin: audit-0 c1, audit-1 c3 (c2 skipped), orders-0 c1, orders-1 c2, orders-2 c3,
    // orders-3 c1, orders-4 c2.
    assert_eq!(
        all["roundrobin"],
        BTreeMap::from([
            (
                "c1".to_string(),
                vec!["audit-0".to_string(), "orders-0".into(), "orders-3".into()]
            ),
            (
                "c2".to_string(),
                vec!["orders-1".to_string(), "orders-4".into()]
            ),
            (
                "c3".to_string(),
                vec!["audit-1".to_string(), "orders-2".into()]
            ),
        ])
    );
    // The sticky assignors balance the 7 partitions as 3, 2, 2; with nothing owned the
    // cooperative one has nothing to withhold and agrees with the eager one.
    let mut counts: Vec<usize> = all["sticky"].values().map(Vec::len).collect();
    gregor_core::sort::sort(&mut counts);
    assert_eq!(counts, [2, 2, 3], "{:?}", all["sticky"]);
    assert_eq!(all["sticky"], all["cooperative-sticky"]);
    insta::assert_snapshot!(rendering(FRESH, &all));
}

/// c2 left a group of three (it owned orders-2 and orders-3); c1 and c3 rejoin with what they
/// own in generation 3.
const A_MEMBER_LEFT: &str = r#"{"topics": {"orders": 6},
 "members": [
  {"member_id": "c1", "topics": ["orders"], "owned": ["orders-0", "orders-1"], "generation": 3},
  {"member_id": "c3", "topics": ["orders"], "owned": ["orders-4", "orders-5"], "generation": 3}]}"#;

#[test]
fn a_group_a_member_left() {
    let all = assign_all(A_MEMBER_LEFT);
    let subscriptions: &[(&str, &[&str])] = &[("c1", &["orders"]), ("c3", &["orders"])];
    let partitions = [
        "orders-0", "orders-1", "orders-2", "orders-3", "orders-4", "orders-5",
    ];
    for lists in all.values() {
        complete(lists, &partitions, subscriptions);
    }
    // Range and round robin ignore what members own.
    assert_eq!(
        sets(&all["range"]),
        want(&[
            ("c1", &["orders-0", "orders-1", "orders-2"]),
            ("c3", &["orders-3", "orders-4", "orders-5"]),
        ])
    );
    assert_eq!(
        sets(&all["roundrobin"]),
        want(&[
            ("c1", &["orders-0", "orders-2", "orders-4"]),
            ("c3", &["orders-1", "orders-3", "orders-5"]),
        ])
    );
    // The sticky ones keep what each owns and give each one of the freed partitions; nothing
    // changes owner, so cooperative-sticky withholds nothing.
    for name in ["sticky", "cooperative-sticky"] {
        let s = sets(&all[name]);
        assert!(
            s["c1"].is_superset(&set(&["orders-0".into(), "orders-1".into()])),
            "{s:?}"
        );
        assert!(
            s["c3"].is_superset(&set(&["orders-4".into(), "orders-5".into()])),
            "{s:?}"
        );
        assert_eq!((s["c1"].len(), s["c3"].len()), (3, 3), "{s:?}");
    }
    assert_eq!(all["sticky"], all["cooperative-sticky"]);
    insta::assert_snapshot!(rendering(A_MEMBER_LEFT, &all));
}

/// c3 joins a group where c1 owns orders-0 to 2 and c2 orders-3 to 5 (generation 2).
const A_MEMBER_JOINS: &str = r#"{"topics": {"orders": 6},
 "members": [
  {"member_id": "c1", "topics": ["orders"], "owned": ["orders-0", "orders-1", "orders-2"], "generation": 2},
  {"member_id": "c2", "topics": ["orders"], "owned": ["orders-3", "orders-4", "orders-5"], "generation": 2},
  {"member_id": "c3", "topics": ["orders"]}]}"#;

#[test]
fn a_group_a_member_joins() {
    let all = assign_all(A_MEMBER_JOINS);
    let subscriptions: &[(&str, &[&str])] = &[
        ("c1", &["orders"]),
        ("c2", &["orders"]),
        ("c3", &["orders"]),
    ];
    let partitions = [
        "orders-0", "orders-1", "orders-2", "orders-3", "orders-4", "orders-5",
    ];
    for name in ["range", "roundrobin", "sticky"] {
        complete(&all[name], &partitions, subscriptions);
    }
    assert_eq!(
        sets(&all["range"]),
        want(&[
            ("c1", &["orders-0", "orders-1"]),
            ("c2", &["orders-2", "orders-3"]),
            ("c3", &["orders-4", "orders-5"]),
        ])
    );
    assert_eq!(
        sets(&all["roundrobin"]),
        want(&[
            ("c1", &["orders-0", "orders-3"]),
            ("c2", &["orders-1", "orders-4"]),
            ("c3", &["orders-2", "orders-5"]),
        ])
    );
    // Sticky: quota 2 each; c1 and c2 keep the first two they own, c3 gets the last one of
    // each (KAFKA.md 2.3).
    assert_eq!(
        sets(&all["sticky"]),
        want(&[
            ("c1", &["orders-0", "orders-1"]),
            ("c2", &["orders-3", "orders-4"]),
            ("c3", &["orders-2", "orders-5"]),
        ])
    );
    // Cooperative-sticky: the same, less the two partitions that change owner, which wait for
    // the next rebalance (KAFKA.md 2.4 and 5.2).
    assert_eq!(
        sets(&all["cooperative-sticky"]),
        want(&[
            ("c1", &["orders-0", "orders-1"]),
            ("c2", &["orders-3", "orders-4"]),
            ("c3", &[]),
        ])
    );
    insta::assert_snapshot!(rendering(A_MEMBER_JOINS, &all));
}
