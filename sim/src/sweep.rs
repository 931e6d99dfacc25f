//! Seed sweeps: run one scenario under many seeds, on several threads or spread over machines
//! by shards, and summarise the verdicts so that every failing seed comes with its class, its
//! first finding and the command that reproduces it.
//!
//! A sweep's result never depends on how it was run: each seed's run is a pure function of the
//! scenario and the seed, results are put back in seed order, and a panic in one seed's run is
//! caught and reported as that seed's crash verdict.

use serde::{Deserialize, Serialize};

/// A failing seed in a sweep's summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedSeed {
    /// The seed.
    pub seed: u64,
    /// The verdict class: `safety`, `liveness`, `expectation` or `crash`.
    pub verdict: String,
    /// The name of the first failing check (`crash` for a panic), to group findings by.
    pub check: String,
    /// The first finding, in words.
    pub finding: String,
    /// The command that reproduces the run.
    pub reproduce: String,
}

/// What a sweep (or several merged shards of one) found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepSummary {
    /// The scenario's name.
    pub scenario: String,
    /// The scenario file, as given.
    pub file: String,
    /// The driver: `world` or `madsim`.
    pub driver: String,
    /// The seed range, `A..B` (B excluded).
    pub seeds: String,
    /// The shards this summary covers, `K/N` each (empty for an unsharded sweep).
    pub shards: Vec<String>,
    /// How many seeds ran.
    pub seeds_run: u64,
    /// How many passed.
    pub passed: u64,
    /// The failing seeds, in seed order.
    pub failed: Vec<FailedSeed>,
    /// Seeds per second of wall time (for merged shards, the sum of theirs: shards run side by
    /// side). Not part of any verdict: it is the one figure that depends on the machine.
    pub seeds_per_second: f64,
}
