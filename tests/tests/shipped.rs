//! Every shipped scenario gives its expected verdict (pass), for several seeds: the scenario's
//! claims about Kafka hold whatever the network's timing.

use gregor_sim::scenario::Scenario;
use gregor_tests::{failures, run, scenarios_dir, shipped};
use std::path::PathBuf;

fn shipped_files() -> Vec<PathBuf> {
    let dir = scenarios_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the scenarios folder")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    gregor_core::sort::sort(&mut files);
    files
}

#[test]
fn the_five_required_scenarios_are_shipped() {
    let names: Vec<String> = shipped_files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for required in [
        "leader-failover.toml",
        "acks1-leader-crash.toml",
        "unclean-election.toml",
        "min-isr.toml",
        "kip101.toml",
    ] {
        assert!(
            names.iter().any(|n| n == required),
            "{required} is missing from scenarios/"
        );
    }
}

/// The shipped scenario that fails on purpose: it demands no loss from acks=1 with unclean
/// election, so that sweeps of it find and report the seeds that lose records.
const FAILS_ON_PURPOSE: &str = "swarm-unsafe.toml";

#[test]
fn every_shipped_scenario_passes_for_several_seeds() {
    for file in shipped_files() {
        if file.ends_with(FAILS_ON_PURPOSE) {
            continue;
        }
        let s = Scenario::from_file(&file).unwrap_or_else(|e| panic!("{e}"));
        for seed in [1, 2, 3, 17] {
            let r = run(&s, seed);
            assert!(
                r.passed(),
                "{} with seed {seed} failed: {:#?}",
                file.display(),
                failures(&r)
            );
        }
    }
}

#[test]
fn the_loss_scenarios_really_lose_and_explain_it() {
    for name in ["acks1-leader-crash.toml", "unclean-election.toml"] {
        let s = shipped(name);
        let r = run(&s, 1);
        assert!(r.history.lost_acknowledged > 0, "{name} lost nothing");
        let first = &r.history.lost[0];
        assert!(
            first.explanation.contains("elected leader"),
            "{name}: {}",
            first.explanation
        );
        assert!(
            first.explanation.contains("truncated"),
            "{name}: {}",
            first.explanation
        );
    }
    // The safe scenarios lose nothing.
    for name in ["leader-failover.toml", "min-isr.toml"] {
        let s = shipped(name);
        assert_eq!(run(&s, 1).history.lost_acknowledged, 0, "{name}");
    }
}

#[test]
fn the_unsafe_swarm_loses_acknowledged_records_at_its_own_seed() {
    let s = shipped(FAILS_ON_PURPOSE);
    let r = run(&s, s.seed);
    assert!(!r.passed());
    assert_eq!(r.class, Some(gregor_sim::runner::CheckClass::Safety));
    assert!(r.history.lost_acknowledged > 0);
    let finding = r.first_finding().expect("a failing check");
    assert!(
        finding
            .name
            .starts_with("expected lost acknowledged records"),
        "{}",
        finding.name
    );
}
