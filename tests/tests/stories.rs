//! The story of every shipped scenario at its own seed, as insta snapshots: one line per event
//! (virtual time, kind, text), then the run's verdict, its history counts and every check.
//! Any change in what the model does in a shipped scenario (an election at another moment, an
//! ISR change more or less, a different assignment) shows up here in review, line by line.
//!
//! The stories are short (the longest, `safe-under-many-faults.toml`, has about 150 lines), so
//! each is kept whole. Everything in them comes from the virtual clock and from ordered
//! collections: no wall-clock value and no hash order can reach a snapshot.

use gregor_sim::runner::RunReport;
use gregor_tests::{run, shipped, shipped_names, story_text};
use std::fmt::Write as _;

/// The story, then what the run concluded.
fn rendering(r: &RunReport) -> String {
    let mut out = story_text(&r.story);
    let h = &r.history;
    let _ = writeln!(
        out,
        "\nverdict {}; sent {}, acknowledged {}, failed {}, read {}, lost {}, duplicates {}, inconsistent {}",
        r.verdict,
        h.sent,
        h.acknowledged,
        h.failed,
        h.read,
        h.lost_acknowledged,
        h.duplicates,
        h.inconsistent_offsets
    );
    for c in &r.checks {
        let _ = writeln!(
            out,
            "{} {}: {}",
            if c.ok { "ok  " } else { "FAIL" },
            c.name,
            c.detail
        );
    }
    out
}

#[test]
fn every_shipped_scenario_tells_the_same_story_at_its_seed() {
    let names = shipped_names();
    assert!(names.len() >= 14, "only {} shipped scenarios", names.len());
    for name in names {
        let s = shipped(&name);
        let r = run(&s, s.seed);
        // The story must at least tell the run's faults: a rendering that lost them would be
        // a useless snapshot.
        assert!(
            r.story.len() > 5,
            "{name}: a story of {} lines",
            r.story.len()
        );
        let snapshot = name.trim_end_matches(".toml").to_string();
        insta::assert_snapshot!(snapshot, rendering(&r));
    }
}
