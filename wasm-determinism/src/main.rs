//! `gregor-wasm-determinism MODULE_DIR`: the native side of the native-versus-wasm check.
//!
//! It runs every shipped scenario under a few seeds here, natively, and in the World compiled
//! to `wasm32-unknown-unknown` under Node (`node/driver.cjs` loads the module the wasm-bindgen
//! CLI wrote into `MODULE_DIR`), and compares the trace hashes, event counts, virtual end times
//! and verdicts run by run. The same seed must give the same run on both targets (DESIGN.md,
//! "Budgets"): a difference is a determinism bug (an iteration order, a float, a width that
//! differs between targets), and the command exits 1.
//!
//! It also times the reference scenario (`leader-failover.toml`, seed 1, no trace) on both
//! sides in the same invocation and prints the medians and their ratio, for the budget of wasm
//! at most twice native. The ratio is reported, not asserted: budgets are measured, not timed
//! in tests, and a busy machine would make such an assertion flaky.
//!
//! `cargo xtask test` builds the module and runs this; see `xtask/src/wasm_determinism.rs`.

use gregor_wasm_determinism::{traced_run, untraced_run};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The seeds every shipped scenario runs under.
const SEEDS: [u64; 3] = [1, 2, 3];
/// The scenario timed on both sides, and its seed.
const TIMED: (&str, u64) = ("leader-failover.toml", 1);
/// Runs before timing (the wasm engine compiles lazily, and optimises hot code in the
/// background), timed runs per round, and rounds: the two sides take turns, so that a machine
/// busy with something else for a while slows both.
const WARMUP: u32 = 5;
const TIMED_RUNS: u32 = 9;
const ROUNDS: u32 = 3;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [module_dir] = args.as_slice() else {
        eprintln!("usage: gregor-wasm-determinism MODULE_DIR (run from the repository root)");
        return ExitCode::from(2);
    };
    let scenarios = Path::new("scenarios");
    let files = match shipped(scenarios) {
        Ok(f) if !f.is_empty() => f,
        Ok(_) => {
            eprintln!("no scenario in {}", scenarios.display());
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("cannot read {}: {e}", scenarios.display());
            return ExitCode::from(2);
        }
    };
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("node/driver.cjs");

    let mut node_args: Vec<String> = vec![driver.display().to_string(), module_dir.clone()];
    node_args.push("run".into());
    for f in &files {
        for seed in SEEDS {
            node_args.push(f.display().to_string());
            node_args.push(seed.to_string());
        }
    }
    let wasm = match node(&node_args) {
        Ok(lines) => lines,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };

    let mut differ = 0;
    let mut compared = 0;
    for (i, f) in files.iter().enumerate() {
        let source = match std::fs::read_to_string(f) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("cannot read {}: {e}", f.display());
                return ExitCode::FAILURE;
            }
        };
        for (j, seed) in SEEDS.iter().enumerate() {
            let name = f.display().to_string();
            let native: Value = serde_json::from_str(&traced_run(&name, &source, *seed))
                .expect("the native run answers JSON");
            let Some(w) = wasm.get(i * SEEDS.len() + j) else {
                eprintln!("the wasm side gave no result for {name} seed {seed}");
                return ExitCode::FAILURE;
            };
            let same = same_run(&name, &native, w);
            compared += 1;
            if same {
                println!(
                    "same     {name} seed {seed}: trace hash {} ({} events, {})",
                    show(&native, "hash"),
                    show(&native, "events"),
                    show(&native, "verdict")
                );
            } else {
                differ += 1;
                println!("DIFFERS  {name} seed {seed}:\n  native {native}\n  wasm   {w}");
            }
        }
    }
    println!(
        "{compared} runs compared: {} the same on wasm32 and natively, {differ} different",
        compared - differ
    );

    // The speed of the same run on both targets, in the same invocation.
    let timed = scenarios.join(TIMED.0);
    let mut ratios = Vec::new();
    for round in 1..=ROUNDS {
        match (
            native_median(&timed, TIMED.1),
            wasm_median(&driver, module_dir, &timed, TIMED.1),
        ) {
            (Ok(native), Ok(wasm)) => {
                let ratio = wasm.0 as f64 / native.0 as f64;
                ratios.push(ratio);
                println!(
                    "speed of {} seed {} without a trace, round {round} (medians of {TIMED_RUNS} runs): native {:.2} ms, wasm {:.2} ms, wasm/native {ratio:.2} (fastest runs: {:.2} ms and {:.2} ms, {:.2})",
                    timed.display(),
                    TIMED.1,
                    native.0 as f64 / 1e6,
                    wasm.0 as f64 / 1e6,
                    native.1 as f64 / 1e6,
                    wasm.1 as f64 / 1e6,
                    wasm.1 as f64 / native.1 as f64,
                );
            }
            (Err(e), _) | (_, Err(e)) => println!("(speed not measured: {e})"),
        }
    }
    if !ratios.is_empty() {
        #[allow(clippy::disallowed_methods)] // a native tool: the bundle size rule does not apply
        ratios.sort_by(f64::total_cmp);
        println!(
            "wasm/native speed ratio: {:.2} (median of {} rounds; the budget is 2)",
            ratios[ratios.len() / 2],
            ratios.len()
        );
    }

    if differ == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Whether the native run and the wasm one of the scenario file `name` are the same run: the
/// same trace hash, event count, virtual end time and verdict (and neither failed to parse).
fn same_run(name: &str, native: &Value, wasm: &Value) -> bool {
    let fields = ["hash", "events", "virtual_time_ms", "verdict"];
    native.get("error").is_none()
        && native.get("hash").is_some_and(Value::is_string)
        && fields.iter().all(|k| native.get(k) == wasm.get(k))
        && wasm.get("file").and_then(Value::as_str) == Some(name)
}

/// The shipped scenario files, in name order.
fn shipped(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    #[allow(clippy::disallowed_methods)] // a native tool: the bundle size rule does not apply
    files.sort();
    Ok(files)
}

fn show(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => "-".into(),
    }
}

/// Runs Node with `args`; returns its output's JSON lines.
fn node(args: &[String]) -> Result<Vec<Value>, String> {
    let out = Command::new("node")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run node (Node.js 18 or later is needed): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "node {} failed ({}):\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).map_err(|e| format!("node printed {l:?}: {e}")))
        .collect()
}

/// The median and the fastest of some run times (the fastest shows what the machine gives
/// when nothing else runs on it).
fn median(mut times: Vec<u64>) -> (u64, u64) {
    #[allow(clippy::disallowed_methods)] // a native tool: the bundle size rule does not apply
    times.sort_unstable();
    (times[times.len() / 2], times[0])
}

/// The median and fastest wall times of the timed scenario natively, in nanoseconds.
#[allow(clippy::disallowed_methods)] // timing the run from outside; the model reads no clock
fn native_median(file: &Path, seed: u64) -> Result<(u64, u64), String> {
    let name = file.display().to_string();
    let source = std::fs::read_to_string(file).map_err(|e| format!("{name}: {e}"))?;
    for _ in 0..WARMUP {
        untraced_run(&name, &source, seed);
    }
    let times = (0..TIMED_RUNS)
        .map(|_| {
            let start = std::time::Instant::now();
            std::hint::black_box(untraced_run(&name, &source, seed));
            start.elapsed().as_nanos() as u64
        })
        .collect();
    Ok(median(times))
}

/// The median and fastest wall times of the timed scenario under Node, in nanoseconds.
fn wasm_median(
    driver: &Path,
    module_dir: &str,
    file: &Path,
    seed: u64,
) -> Result<(u64, u64), String> {
    let args: Vec<String> = vec![
        driver.display().to_string(),
        module_dir.to_string(),
        "time".into(),
        file.display().to_string(),
        seed.to_string(),
        WARMUP.to_string(),
        TIMED_RUNS.to_string(),
    ];
    let line = node(&args)?
        .into_iter()
        .next()
        .ok_or("node printed no timing")?;
    let times: Vec<u64> = line
        .get("times_ns")
        .and_then(Value::as_array)
        .ok_or("no times_ns in the timing")?
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    if times.is_empty() {
        return Err("no timed run".into());
    }
    Ok(median(times))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(file: &str, hash: &str, events: u64) -> Value {
        serde_json::json!({"file": file, "hash": hash, "events": events, "virtual_time_ms": 30_000, "verdict": "pass"})
    }

    #[test]
    fn a_run_is_the_same_only_if_every_field_agrees() {
        let native = run("a.toml", "00ff", 7);
        assert!(same_run("a.toml", &native, &run("a.toml", "00ff", 7)));
        assert!(!same_run("a.toml", &native, &run("a.toml", "00fe", 7)));
        assert!(!same_run("a.toml", &native, &run("a.toml", "00ff", 8)));
        assert!(!same_run("a.toml", &native, &run("b.toml", "00ff", 7)));
        let broken = serde_json::json!({"error": "bad"});
        assert!(!same_run("a.toml", &broken, &broken));
    }

    #[test]
    fn a_run_of_a_scenario_gives_a_trace_hash() {
        let source = "name = \"x\"\nduration = \"2s\"\n[cluster]\nbrokers = 1\n[[topic]]\nname = \"t\"\npartitions = 1\nreplication_factor = 1\n";
        let a: Value = serde_json::from_str(&traced_run("x.toml", source, 1)).unwrap();
        let b: Value = serde_json::from_str(&traced_run("x.toml", source, 1)).unwrap();
        assert!(a.get("hash").is_some_and(Value::is_string), "{a}");
        assert!(same_run(
            "x.toml",
            &a,
            &serde_json::json!({"file": "x.toml", "hash": b["hash"], "events": b["events"], "virtual_time_ms": b["virtual_time_ms"], "verdict": b["verdict"]})
        ));
        let bad: Value = serde_json::from_str(&traced_run("y.toml", "not toml", 1)).unwrap();
        assert!(bad.get("error").is_some(), "{bad}");
    }
}
