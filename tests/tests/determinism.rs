//! Determinism is the product: the same seed gives the same trace, byte for byte, and a trace
//! replays through the pure core to the same state digests. A different seed gives a different
//! run.

use gregor_sim::replay::replay;
use gregor_sim::runner::{Run, RunOptions};
use gregor_sim::scenario::Scenario;

fn failover() -> Scenario {
    gregor_tests::shipped("leader-failover.toml")
}

fn traced(s: &Scenario, seed: u64) -> (String, Vec<String>) {
    let r = Run::new(
        s,
        &RunOptions {
            seed: Some(seed),
            trace: true,
            ..RunOptions::default()
        },
    )
    .run();
    (
        r.trace_hash.clone().expect("a trace hash"),
        r.trace_lines.expect("trace lines"),
    )
}

#[test]
fn one_seed_twice_gives_the_same_trace() {
    let s = failover();
    let (h1, l1) = traced(&s, 42);
    let (h2, l2) = traced(&s, 42);
    assert_eq!(h1, h2);
    assert_eq!(l1, l2);
    assert!(
        l1.len() > 1000,
        "the trace records every input ({} lines)",
        l1.len()
    );
}

#[test]
fn different_seeds_give_different_runs() {
    let s = failover();
    assert_ne!(traced(&s, 1).0, traced(&s, 2).0);
}

#[test]
fn a_trace_replays_with_every_digest_matching() {
    let s = failover();
    let (_, lines) = traced(&s, 5);
    let text = lines.join("\n");
    let summary = replay("t.jsonl", &text).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        summary.digests >= 3,
        "only {} digests checked",
        summary.digests
    );
    assert_eq!(summary.header.seed, 5);
}

#[test]
fn a_tampered_trace_is_caught_at_the_digest_that_differs() {
    let s = failover();
    let (_, mut lines) = traced(&s, 5);
    // Drop one input in the middle: the state afterwards differs, and the next digest says so.
    let victim = lines
        .iter()
        .position(|l| l.contains("\"kind\":\"input\"") && l.contains("\"type\":\"FetchResponse\""))
        .expect("a fetch response input");
    lines.remove(victim);
    let err =
        replay("t.jsonl", &lines.join("\n")).expect_err("replay must notice the missing input");
    assert!(
        err.message.contains("digest differs") || err.message.contains("not running"),
        "{err}"
    );
    assert!(
        err.line > victim,
        "reported at line {} after the removed line {}",
        err.line,
        victim + 1
    );
}

#[test]
fn a_trace_from_another_version_is_refused_with_a_clear_error() {
    let s = failover();
    let (_, mut lines) = traced(&s, 1);
    lines[0] = lines[0].replace("\"version\":1", "\"version\":99");
    let err = replay("t.jsonl", &lines.join("\n")).unwrap_err();
    assert_eq!(err.line, 1);
    assert!(err.message.contains("version 99"), "{err}");
    let err = replay("t.jsonl", "{ not json").unwrap_err();
    assert_eq!(err.line, 1);
    let err = replay("t.jsonl", "").unwrap_err();
    assert!(err.message.contains("empty"), "{err}");
}
