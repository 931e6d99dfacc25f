//! The functions both sides of the determinism check run: one scenario under one seed on the
//! World, with its trace hash (every input every node received, hashed), or without a trace,
//! for timing. Compiled natively they are called by `main.rs`; compiled for
//! `wasm32-unknown-unknown` they are exported to JavaScript with wasm-bindgen and called by
//! `node/driver.cjs`. Nothing here depends on the target: that is the point.

use gregor_sim::runner::{Run, RunOptions};
use gregor_sim::scenario::Scenario;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen::prelude::wasm_bindgen;

/// Runs `source` (a scenario file's text; `file` names it in errors) under `seed` with a trace,
/// and returns one JSON object: `hash` (the trace hash), `events`, `virtual_time_ms` and
/// `verdict`, or `error` when the scenario does not parse.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen)]
pub fn traced_run(file: &str, source: &str, seed: u64) -> String {
    let scenario = match Scenario::parse(file, source) {
        Ok(s) => s,
        Err(e) => return serde_json::json!({ "error": e.to_string() }).to_string(),
    };
    let report = Run::new(
        &scenario,
        &RunOptions {
            seed: Some(seed),
            trace: true,
            ..RunOptions::default()
        },
    )
    .run();
    serde_json::json!({
        "hash": report.trace_hash,
        "events": report.events,
        "virtual_time_ms": report.virtual_time_ms,
        "verdict": report.verdict,
    })
    .to_string()
}

/// Runs `source` under `seed` without a trace, as the classroom does, and returns how many
/// events the World processed (0 when the scenario does not parse). The timing loop measures
/// this.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen)]
pub fn untraced_run(file: &str, source: &str, seed: u64) -> u64 {
    let Ok(scenario) = Scenario::parse(file, source) else {
        return 0;
    };
    Run::new(
        &scenario,
        &RunOptions {
            seed: Some(seed),
            ..RunOptions::default()
        },
    )
    .run()
    .events
}
