//! `gregor sweep` as a user runs it: the summary and its JSON shape, exit codes, identical
//! results whatever the number of threads, shards that merge back into the whole sweep, and the
//! HTML reports.

use std::path::PathBuf;
use std::process::Output;

mod common;
use common::{gregor, scenario};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gregor-sweep-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "one JSON object ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The verdicts of a summary, without the one machine-dependent figure.
fn verdicts(v: &serde_json::Value) -> serde_json::Value {
    let mut v = v.clone();
    v.as_object_mut()
        .expect("an object")
        .remove("seeds_per_second");
    v
}

#[test]
fn an_unsafe_sweep_finds_losses_exits_1_and_is_the_same_on_one_thread_or_two() {
    let file = scenario("swarm-unsafe.toml");
    let one = gregor(&["sweep", &file, "--seeds", "1..9", "--jobs", "1", "--json"]);
    assert_eq!(
        one.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    let v = json(&one);
    assert_eq!(v["seeds_run"], 8);
    let failed = v["failed"].as_array().expect("failed seeds");
    assert!(
        !failed.is_empty(),
        "acks=1 with unclean election loses records in 8 seeds"
    );
    assert_eq!(v["passed"].as_u64().unwrap() + failed.len() as u64, 8);
    for f in failed {
        let seed = f["seed"].as_u64().expect("a seed");
        assert_eq!(f["verdict"], "safety");
        let finding = f["finding"].as_str().expect("a finding");
        assert!(finding.contains("lost acknowledged records"), "{finding}");
        assert!(
            finding.contains("first:"),
            "the finding names records: {finding}"
        );
        assert_eq!(
            f["reproduce"],
            format!("gregor run {file} --seed {seed} --driver world")
        );
    }
    assert!(v["seeds_per_second"].as_f64().is_some_and(|r| r > 0.0));
    let two = gregor(&["sweep", &file, "--seeds", "1..9", "--jobs", "2", "--json"]);
    assert_eq!(verdicts(&json(&two)), verdicts(&v));

    // The reproduction line gives the seed's verdict again.
    let seed = failed[0]["seed"].as_u64().unwrap().to_string();
    let again = gregor(&["run", &file, "--seed", &seed]);
    assert_eq!(again.status.code(), Some(1));
}

#[test]
fn shards_cover_the_range_and_merge_into_the_whole_sweep() {
    let file = scenario("swarm-unsafe.toml");
    let whole = json(&gregor(&["sweep", &file, "--seeds", "1..7", "--json"]));
    let dir = temp_dir("shards");
    let mut files = Vec::new();
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let out = gregor(&[
            "sweep", &file, "--seeds", "1..7", "--shard", &shard, "--json",
        ]);
        let v = json(&out);
        assert_eq!(v["seeds_run"], 2, "shard {shard}");
        assert_eq!(v["shards"][0], shard.as_str());
        let path = dir.join(format!("shard-{k}.json"));
        std::fs::write(&path, &out.stdout).expect("written");
        files.push(path.display().to_string());
    }
    let mut args = vec!["sweep", "merge", "--json"];
    args.extend(files.iter().map(String::as_str));
    let merged = gregor(&args);
    assert_eq!(
        merged.status.code(),
        whole["failed"]
            .as_array()
            .map(|f| if f.is_empty() { 0 } else { 1 })
    );
    let m = json(&merged);
    assert_eq!(m["seeds_run"], whole["seeds_run"]);
    assert_eq!(m["passed"], whole["passed"]);
    assert_eq!(m["failed"], whole["failed"]);
    assert_eq!(m["shards"], serde_json::json!(["1/3", "2/3", "3/3"]));

    // A missing shard is named; the same shard twice is refused.
    let partial = gregor(&["sweep", "merge", &files[0], &files[2]]);
    assert!(
        String::from_utf8_lossy(&partial.stderr).contains("missing shards: 2/3"),
        "{}",
        String::from_utf8_lossy(&partial.stderr)
    );
    let twice = gregor(&["sweep", "merge", &files[0], &files[0]]);
    assert_eq!(twice.status.code(), Some(2));
    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, "{\"seeds_run\": 3}").expect("written");
    let bad = gregor(&["sweep", "merge", &garbage.display().to_string()]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("garbage.json:1:"));
}

#[test]
fn a_safe_sweep_passes_and_prints_a_plain_summary() {
    let out = gregor(&[
        "sweep",
        &scenario("leader-failover.toml"),
        "--seeds",
        "1..=4",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("seeds 1..5"), "{text}");
    assert!(text.contains("4 seeds run: 4 passed, 0 failed"), "{text}");
    // Not a terminal: progress comes as plain lines on standard error.
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(progress.contains("swept 4/4 seeds"), "{progress}");
    assert!(!progress.contains('\r'), "no bar redrawn in place");
}

#[test]
fn bad_sweep_arguments_exit_2_and_say_why() {
    let file = scenario("leader-failover.toml");
    for (args, says) in [
        (vec!["sweep", &file, "--seeds", "9..3"], "--seeds"),
        (
            vec!["sweep", &file, "--seeds", "1..10", "--shard", "4/3"],
            "--shard",
        ),
        (
            vec!["sweep", &file, "--seeds", "1..10", "--jobs", "0"],
            "--jobs",
        ),
        (
            vec!["sweep", &file, "--seeds", "1..3", "--shard", "3/3"],
            "holds no seed",
        ),
        (
            vec!["sweep", &file, "--seeds", "0..18446744073709551615"],
            "spread it over shards",
        ),
    ] {
        let out = gregor(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn reports_are_written_for_a_run_and_for_each_failing_seed_of_a_sweep() {
    let dir = temp_dir("reports");
    let run_dir = dir.join("run");
    let out = gregor(&[
        "run",
        &scenario("leader-failover.toml"),
        "--report",
        &run_dir.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let page = std::fs::read_to_string(run_dir.join("index.html")).expect("the run report");
    assert!(page.contains("leader failover with acks=all"));
    assert!(page.matches("<svg").count() >= 4, "charts drawn");
    // Readable offline: nothing is fetched (the SVG namespace URI is a name, not a fetch).
    for fetch in [
        "src=\"http",
        "href=\"http",
        "url(http",
        "@import",
        "<link rel=\"stylesheet",
    ] {
        assert!(!page.contains(fetch), "the page fetches {fetch}");
    }

    let sweep_dir = dir.join("sweep");
    let out = gregor(&[
        "sweep",
        &scenario("swarm-unsafe.toml"),
        "--seeds",
        "1..5",
        "--json",
        "--report",
        &sweep_dir.display().to_string(),
    ]);
    let v = json(&out);
    let summary = std::fs::read_to_string(sweep_dir.join("index.html")).expect("the summary");
    for f in v["failed"].as_array().expect("failed seeds") {
        let seed = f["seed"].as_u64().unwrap();
        let link = format!("seed-{seed}/index.html");
        assert!(summary.contains(&link), "links {link}");
        let report = std::fs::read_to_string(sweep_dir.join(&link)).expect("the seed's report");
        assert!(report.contains(&format!("--seed {seed}")));
    }
}
