//! `gregor assign` as a user runs it: the JSON it prints for each assignor, the warning for a
//! claim Kafka ignores, and exit code 2 with file, line, column and field for bad input.

use std::path::PathBuf;
use std::process::Output;

mod common;
use common::gregor;

/// Writes `text` to `<temp>/gregor-assign-<pid>/<case>/input.json` and returns the path.
fn input(case: &str, text: &str) -> String {
    let dir: PathBuf = std::env::temp_dir()
        .join(format!("gregor-assign-{}", std::process::id()))
        .join(case);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("input.json");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// KAFKA.md 2.6, R1/RR1 (`testMultipleConsumersMixedTopics`), with an owned partition and a
/// generation that range and round robin ignore.
const MIXED: &str = r#"{
  "topics": {"topic1": 3, "topic2": 2},
  "members": [
    {"member_id": "consumer1", "instance_id": null, "topics": ["topic1"], "owned": ["topic1-0"], "generation": 1},
    {"member_id": "consumer2", "topics": ["topic1", "topic2"]},
    {"member_id": "consumer3", "topics": ["topic1"]}
  ]
}
"#;

#[test]
fn range_and_roundrobin_print_kafkas_assignment() {
    let path = input("mixed", MIXED);
    let want = "{\n  \"assignment\": {\n    \"consumer1\": [\n      \"topic1-0\"\n    ],\n    \"consumer2\": [\n      \"topic1-1\",\n      \"topic2-0\",\n      \"topic2-1\"\n    ],\n    \"consumer3\": [\n      \"topic1-2\"\n    ]\n  }\n}\n";
    for strategy in ["range", "roundrobin"] {
        let out = gregor(&["assign", "--strategy", strategy, &path]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(stdout(&out), want, "{strategy}");
        assert_eq!(stderr(&out), "");
    }
}

/// KAFKA.md 2.6, S3 round 2 (`testAddRemoveTwoConsumersTwoTopics`): eager sticky moves three
/// partitions at once; cooperative-sticky withholds them.
#[test]
fn sticky_and_cooperative_sticky_print_kafkas_assignment() {
    let path = input(
        "s3",
        r#"{"topics": {"topic1": 3, "topic2": 4},
            "members": [
              {"member_id": "consumer1", "topics": ["topic1", "topic2"],
               "owned": ["topic1-0", "topic1-2", "topic2-1", "topic2-3"], "generation": 1},
              {"member_id": "consumer2", "topics": ["topic1", "topic2"],
               "owned": ["topic1-1", "topic2-0", "topic2-2"], "generation": 1},
              {"member_id": "consumer3", "topics": ["topic1", "topic2"], "generation": 1},
              {"member_id": "consumer4", "topics": ["topic1", "topic2"], "generation": 1}]}"#,
    );
    let out = gregor(&["assign", "--strategy", "sticky", &path]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"assignment": {
            "consumer1": ["topic1-0", "topic2-1"],
            "consumer2": ["topic2-0", "topic1-1"],
            "consumer3": ["topic1-2", "topic2-3"],
            "consumer4": ["topic2-2"]}})
    );
    let out = gregor(&["assign", "--strategy", "cooperative-sticky", &path]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"assignment": {
            "consumer1": ["topic1-0", "topic2-1"],
            "consumer2": ["topic2-0", "topic1-1"],
            "consumer3": [],
            "consumer4": []}})
    );
}

#[test]
fn a_claim_on_an_unknown_topic_is_a_warning_and_ignored() {
    let path = input(
        "warning",
        "{\"topics\": {\"t\": 2},\n \"members\": [{\"member_id\": \"a\", \"topics\": [\"t\"], \"owned\": [\"gone-0\", \"t-1\"], \"generation\": 3}]}\n",
    );
    let out = gregor(&["assign", "--strategy", "cooperative-sticky", &path]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "gregor: {path}:2:60: warning: members[0].owned[0]: topic \"gone\" is not in \"topics\"; Kafka ignores this claim\n"
        )
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v, serde_json::json!({"assignment": {"a": ["t-1", "t-0"]}}));
}

/// Each bad input exits 2 with `gregor: <file>:<line>:<column>: <field>: <message>`.
#[test]
fn bad_input_exits_2_naming_file_line_and_field() {
    let member = |extra: &str| {
        format!(
            "{{\"topics\": {{\"topic1\": 3}},\n \"members\": [\n  {{\"member_id\": \"consumer1\", \"topics\": [\"topic1\"]}},\n  {{\"member_id\": \"consumer2\", \"topics\": [\"topic1\"]{extra}}}\n ]}}\n"
        )
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "not-topic-partition",
            member(", \"owned\": [\"topic1x\"]"),
            "4:62: members[1].owned[0]: \"topic1x\" is not topic-partition",
        ),
        (
            "out-of-range",
            member(", \"owned\": [\"topic1-3\"]"),
            "4:62: members[1].owned[0]: \"topic1-3\" is out of range: topic1 has 3 partitions",
        ),
        (
            "unknown-field",
            member(", \"owend\": []"),
            "4:52: members[1].owend: unknown field, expected one of `member_id`, `topics`, `instance_id`, `owned`, `generation`",
        ),
        (
            "wrong-type",
            member(", \"generation\": \"1\""),
            "4:66: members[1].generation: expected a generation from 0 to 2147483647 (or null or -1 for unknown), found \"1\"",
        ),
        (
            "duplicate-member",
            "{\"topics\": {\"t\": 1}, \"members\": [\n {\"member_id\": \"c\", \"topics\": [\"t\"]},\n {\"member_id\": \"c\", \"topics\": [\"t\"]}]}".to_string(),
            "3:16: members[1].member_id: \"c\" is already members[0].member_id",
        ),
        (
            "zero-partitions",
            "{\"topics\": {\"t\": 0}, \"members\": []}".to_string(),
            "1:18: topics.t: a topic has at least 1 partition, not 0",
        ),
        (
            "negative-partitions",
            "{\"topics\": {\"t\": -2}, \"members\": []}".to_string(),
            "1:18: topics.t: a topic has at least 1 partition, not -2",
        ),
        (
            "fractional-partitions",
            "{\"topics\": {\"t\": 1.5}, \"members\": []}".to_string(),
            "1:18: topics.t: expected a whole number of partitions, found 1.5",
        ),
        (
            "topics-not-an-object",
            "{\"topics\": [\"t\"], \"members\": []}".to_string(),
            "1:12: topics: expected an object of topic -> partition count, found an array",
        ),
        (
            "missing-topics",
            "{\n  \"members\": []\n}".to_string(),
            "1:1: missing field `topics`",
        ),
        (
            "invalid-json",
            "{\"topics\": {\"t\": 1},\n \"members\": [\n  {\"member_id\": \"c\",, \"topics\": []}]}".to_string(),
            "3:21: invalid JSON: key must be a string",
        ),
    ];
    for (case, text, want) in cases {
        let path = input(case, &text);
        let out = gregor(&["assign", "--strategy", "sticky", &path]);
        assert_eq!(out.status.code(), Some(2), "{case}: {}", stdout(&out));
        assert_eq!(stderr(&out), format!("gregor: {path}:{want}\n"), "{case}");
        assert_eq!(stdout(&out), "", "{case}");
    }
}

#[test]
fn an_unreadable_file_or_an_unknown_strategy_exits_2() {
    let out = gregor(&["assign", "--strategy", "range", "/nonexistent/group.json"]);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(
        e.starts_with("gregor: /nonexistent/group.json: cannot read the input:"),
        "{e}"
    );
    let path = input("strategy", MIXED);
    let out = gregor(&["assign", "--strategy", "sticky-range", &path]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`sticky-range` is not an assignor"),
        "{}",
        stderr(&out)
    );
}
