//! The `gregor` command as a user runs it: exit codes (0 pass, 1 fail, 2 bad input), JSON
//! shapes, and the partitioner's answers.

mod common;
use common::{gregor, scenario};

fn temp(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("gregor-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn run_exits_0_and_prints_the_required_json() {
    let out = gregor(&["run", &scenario("leader-failover.toml"), "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["seed"], 1);
    assert_eq!(v["verdict"], "pass");
    assert!(
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["ok"] == true && c["name"].is_string() && c["detail"].is_string())
    );
    for key in [
        "sent",
        "acknowledged",
        "failed",
        "lost_acknowledged",
        "duplicates",
    ] {
        assert!(v["history"][key].is_u64(), "history.{key}");
    }
    assert_eq!(v["history"]["lost_acknowledged"], 0);
    let p = &v["partitions"][0];
    assert_eq!(p["topic"], "orders");
    for key in [
        "partition",
        "leader",
        "leader_epoch",
        "replicas",
        "isr",
        "high_watermark",
        "log_start_offset",
        "log_end_offsets",
    ] {
        assert!(!p[key].is_null(), "partitions[0].{key}");
    }
    assert!(p["log_end_offsets"]["1"].is_u64());
}

#[test]
fn a_failing_expectation_exits_1_and_prints_how_to_reproduce() {
    let text = std::fs::read_to_string(scenario("acks1-leader-crash.toml"))
        .unwrap()
        .replace("lost_acknowledged = { min = 1 }", "lost_acknowledged = 0");
    let path = temp("fails.toml", &text);
    let out = gregor(&["run", &path, "--seed", "4"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "Reproduce: gregor run {path} --seed 4 --driver world"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAIL  expected lost acknowledged records: 0"),
        "{stdout}"
    );
}

#[test]
fn bad_input_exits_2_with_file_line_and_field() {
    let path = temp(
        "bad.toml",
        "name = \"x\"\n[cluster]\nbrokers = 3\n[[topic]]\nname = \"t\"\npartitions = -3\nreplication_factor = 1\n",
    );
    let out = gregor(&["run", &path]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:6:") && err.contains("topic[0].partitions"),
        "{err}"
    );
    assert_eq!(gregor(&["run", "/nonexistent.toml"]).status.code(), Some(2));
    assert_eq!(
        gregor(&["run"]).status.code(),
        Some(2),
        "a missing argument is bad input"
    );
    assert_eq!(
        gregor(&["describe", &scenario("min-isr.toml"), "--at", "later"])
            .status
            .code(),
        Some(2)
    );
    let junk = temp("junk.jsonl", "not a trace\n");
    assert_eq!(gregor(&["replay", &junk]).status.code(), Some(2));
}

#[test]
fn a_written_trace_replays() {
    let dir = std::env::temp_dir().join(format!("gregor-cli-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("t.jsonl").display().to_string();
    let out = gregor(&[
        "run",
        &scenario("min-isr.toml"),
        "--seed",
        "3",
        "--trace",
        &trace,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let out = gregor(&["replay", &trace]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("digests matched"));
}

#[test]
fn describe_prints_the_kafka_topics_shape() {
    let out = gregor(&["describe", &scenario("min-isr.toml"), "--at", "20s"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Topic: orders\tTopicId: "), "{text}");
    assert!(
        text.contains(
            "\tPartitionCount: 1\tReplicationFactor: 3\tConfigs: min.insync.replicas=2\n"
        ),
        "{text}"
    );
    assert!(text.contains("\tTopic: orders\tPartition: 0\tLeader: 1\tReplicas: 1,2,3\tIsr: 1\tElr: \tLastKnownElr: \n"), "{text}");
    assert!(text.contains("# broker 2: crashed, fenced"), "{text}");
}

#[test]
fn describe_prints_groups_in_the_kafka_consumer_groups_shape() {
    // At 35 s c2's session has expired and generation 2 splits the partitions between c1 and
    // c3 (scenarios/group-rebalance.toml); everything produced so far is consumed.
    let out = gregor(&["describe", &scenario("group-rebalance.toml"), "--at", "35s"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip_while(|l| !l.starts_with("GROUP "))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "GROUP",
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
            "HOST",
            "CLIENT-ID"
        ],
        "{text}"
    );
    assert_eq!(rows.len(), 7, "one row per partition: {text}");
    for (p, row) in rows[1..].iter().enumerate() {
        assert_eq!(row[0], "billing");
        assert_eq!(row[2], p.to_string());
        let owner = if p < 3 { "c1" } else { "c3" };
        assert!(row[6].starts_with(&format!("{owner}-")), "{row:?}");
        assert_eq!(row[8], owner);
        let (current, end, lag): (u64, u64, u64) = (
            row[3].parse().expect("an offset"),
            row[4].parse().expect("an offset"),
            row[5].parse().expect("a lag"),
        );
        assert_eq!(lag, end - current, "{row:?}");
    }
}

#[test]
fn run_json_reports_groups_and_the_consumer_side_of_the_oracle() {
    let out = gregor(&["run", &scenario("at-most-once.toml"), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let g = &v["groups"][0];
    assert_eq!(g["group"], "ledger");
    assert_eq!(g["state"], "Stable");
    assert_eq!(g["protocol"], "range");
    assert_eq!(g["members"].as_array().map(Vec::len), Some(2));
    assert!(g["committed"]["payments-0"].is_u64(), "{g}");
    assert_eq!(g["lag"]["payments-0"], 0);
    let unseen = v["unseen"].as_u64().expect("unseen");
    let consumed = v["consumed"].as_u64().expect("consumed");
    assert!(unseen > 0, "the crash skipped records");
    assert_eq!(v["duplicates_delivered"], 0);
    assert_eq!(
        consumed + unseen,
        v["history"]["acknowledged"].as_u64().unwrap()
    );
    let f = &v["delivery_findings"][0];
    assert_eq!(f["kind"], "unseen");
    assert_eq!(f["topic"], "payments");
}

#[test]
fn partition_matches_kafkas_test_vectors() {
    // KAFKA.md 1.3: murmur2 values from UtilsTest; "21" on 3 partitions is 0 (toPositive masks).
    let out = gregor(&[
        "partition",
        "--partitions",
        "3",
        "--json",
        "21",
        "foobar",
        "a-little-bit-long-string",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v[0],
        serde_json::json!({"key": "21", "murmur2": -973932308, "partition": 0})
    );
    assert_eq!(v[1]["murmur2"], -790332482);
    assert_eq!(v[2]["murmur2"], -985981536);
    let out = gregor(&[
        "partition",
        "--partitions",
        "10",
        "--hex",
        "--json",
        "616263",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["murmur2"], 479470107, "bytes {{'a','b','c'}}");
    assert_eq!(v[0]["partition"], 479470107 % 10);
    assert_eq!(
        gregor(&["partition", "--partitions", "3", "--hex", "xyz"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        gregor(&["partition", "--partitions", "0", "k"])
            .status
            .code(),
        Some(2)
    );
}

/// `--driver madsim` works from the binary users build: the ordinary build hands the run to the
/// madsim build of the same program (making it if needed), and the report says which driver ran.
#[test]
fn run_with_the_madsim_driver_from_the_ordinary_binary() {
    let out = gregor(&[
        "run",
        &scenario("leader-failover.toml"),
        "--seed",
        "2",
        "--driver",
        "madsim",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["verdict"], "pass");
    let reproduce = report["reproduce"].as_str().expect("a reproduction line");
    assert!(
        reproduce.ends_with("--seed 2 --driver madsim"),
        "{reproduce}"
    );
    assert_eq!(report["history"]["acknowledged"], 1000);
}

#[test]
fn lessons_list_names_every_lesson_and_its_concepts() {
    let out = common::gregor(&["lessons", "list", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let list = list.as_array().expect("an array");
    assert_eq!(list.len(), gregor_lessons::SHIPPED.len());
    assert_eq!(list[0]["number"], 1);
    assert_eq!(list[0]["id"], "why-a-log");
    assert!(
        list.iter()
            .all(|l| l["title"].is_string()
                && l["concepts"].as_array().is_some_and(|c| !c.is_empty()))
    );
    let text = common::gregor(&["lessons", "list"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("teaches: log, asynchronous messaging"));
}

#[test]
fn lessons_check_runs_a_lesson_file_and_exits_by_its_verdict() {
    let good = gregor_lessons::SHIPPED[0];
    let path = temp("lesson-good.toml", good.text);
    let out = common::gregor(&["lessons", "check", &path]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("ok   lesson 1 (why-a-log)"), "{stdout}");
    // A check the model never meets fails the lesson (exit 1) and says what it saw.
    let never = good.text.replace(
        "check = \"lag of group readers is at most 5\"",
        "check = \"records processed by c1 is at least 1000000\"",
    );
    let out = common::gregor(&["lessons", "check", &temp("lesson-never.toml", &never)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "FAIL  step 5: Catch up again: its check never held in time (records processed by c1: "
        ),
        "{stdout}"
    );
    // A malformed lesson is bad input (exit 2) naming the file, line and field.
    let bad = good
        .text
        .replace("actions = [\"start p1\"]", "actions = [\"start p9\"]");
    let path = temp("lesson-bad.toml", &bad);
    let out = common::gregor(&["lessons", "check", &path]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("lesson-bad.toml:")
            && stderr.contains("step[1].actions[0]: no producer or consumer is called `p9`"),
        "{stderr}"
    );
}
