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
    files.sort();
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

#[test]
fn every_shipped_scenario_passes_for_several_seeds() {
    for file in shipped_files() {
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
