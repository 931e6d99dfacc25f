//! Running a property over generated scenarios ([`crate::generate`]), with proptest's runner, and
//! turning its shrunk counterexample into something a person can open: the scenario file, the
//! run's trace (for `gregor replay` and the classroom's "Open trace…"), and the commands.
//!
//! Case counts are small by default so that the whole test command stays within CI's budget (a
//! debug build, as a plain `cargo test` makes, runs an eighth of them);
//! `GREGOR_PROPTEST_CASES=N` runs N cases of every property instead (for a long local search),
//! and `GREGOR_PROPTEST_SEED=N` draws another sequence of cases (the default seed is fixed, so
//! that CI is as deterministic as the simulator; `GREGOR_PROPTEST_SEED=random` lets proptest
//! pick one). Failing seeds are kept in `tests/proptest-regressions/NAME.txt` and tried first
//! on every later run. Counterexamples go to `target/counterexamples/` unless `GREGOR_COUNTEREXAMPLES`
//! names another folder.

use crate::generate::Case;
use gregor_sim::runner::{Run, RunOptions, RunReport};
use gregor_sim::world::World;
use proptest::strategy::BoxedStrategy;
use proptest::test_runner::{
    Config, FileFailurePersistence, RngAlgorithm, RngSeed, TestCaseError, TestError, TestRunner,
};
use std::path::PathBuf;

/// The seed of proptest's own generator when `GREGOR_PROPTEST_SEED` is not set.
const DEFAULT_SEED: u64 = 20_250_601;

/// What a property says about one run: `Ok`, or what went wrong, in words.
pub type Verdict = Result<(), String>;

/// A property over generated scenarios.
pub struct Property {
    name: &'static str,
    source_file: &'static str,
    cases: u32,
    max_shrink_iters: u32,
}

/// What a run of a case left: the report and the World at the end (its log holds every event).
pub struct Outcome<'a> {
    /// The run's report.
    pub report: RunReport,
    /// The World, for properties that read its log.
    pub world: &'a World,
}

impl Property {
    /// A property called `name` (a file name too), defined in `source_file` (`file!()`, where
    /// proptest keeps its regressions).
    pub fn new(name: &'static str, source_file: &'static str) -> Property {
        Property {
            name,
            source_file,
            cases: 16,
            max_shrink_iters: 200,
        }
    }

    /// How many cases CI runs (`GREGOR_PROPTEST_CASES` overrides it).
    pub fn cases(mut self, cases: u32) -> Property {
        self.cases = cases;
        self
    }

    /// How many shrinking steps a failure may take (each is a whole run).
    pub fn max_shrink_iters(mut self, n: u32) -> Property {
        self.max_shrink_iters = n;
        self
    }

    /// proptest's runner for the property, with its case count, seed and regressions file
    /// (for properties that drive proptest themselves, such as state machines).
    pub fn runner(&self) -> TestRunner {
        // A debug build runs the model several times slower: a plain `cargo test` runs an
        // eighth of the cases, so that it stays quick; CI runs the release build.
        let default = if cfg!(debug_assertions) {
            (self.cases / 8).max(4)
        } else {
            self.cases
        };
        let cases = std::env::var("GREGOR_PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default);
        let rng_seed = match std::env::var("GREGOR_PROPTEST_SEED").ok().as_deref() {
            Some("random") => RngSeed::Random,
            Some(v) => RngSeed::Fixed(v.parse().unwrap_or_else(|_| {
                panic!("GREGOR_PROPTEST_SEED must be a number or `random`, not {v:?}")
            })),
            None => RngSeed::Fixed(DEFAULT_SEED),
        };
        TestRunner::new(Config {
            cases,
            max_shrink_iters: self.max_shrink_iters,
            source_file: Some(self.source_file),
            failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions_file(
                self.name,
            )))),
            rng_algorithm: RngAlgorithm::ChaCha,
            rng_seed,
            // A generated scenario never needs another draw: every case is run.
            max_global_rejects: 10_000,
            ..Config::default()
        })
    }

    /// Checks that `property` holds for every case `strategy` draws. On failure, writes the
    /// shrunk counterexample's scenario and trace, prints how to replay and open it, and
    /// panics with the property's complaint.
    pub fn check(
        self,
        strategy: BoxedStrategy<Case>,
        property: impl Fn(&Case, &Outcome) -> Verdict,
    ) {
        let mut runner = self.runner();
        let result = runner.run(&strategy, |case| {
            run_case(&case, |outcome| property(&case, outcome)).map_err(TestCaseError::fail)
        });
        match result {
            Ok(()) => {}
            Err(TestError::Fail(why, case)) => {
                let written = write_counterexample(self.name, &case);
                panic!(
                    "property `{}` does not hold: {why}\n\nshrunk counterexample:{case:?}\n{}",
                    self.name, written.instructions
                );
            }
            Err(TestError::Abort(why)) => panic!("property `{}` aborted: {why}", self.name),
        }
    }

    /// Searches for a case where `property` fails, which a negative property demands (the
    /// configuration allows the loss, and a search must find it). Returns the shrunk
    /// counterexample, written out as a failing property's is; panics if no case fails.
    pub fn find_counterexample(
        self,
        strategy: BoxedStrategy<Case>,
        property: impl Fn(&Case, &Outcome) -> Verdict,
    ) -> Counterexample {
        let mut runner = self.runner();
        let result = runner.run(&strategy, |case| {
            run_case(&case, |outcome| property(&case, outcome)).map_err(TestCaseError::fail)
        });
        match result {
            Ok(()) => panic!(
                "no case broke `{}`: the search must find a schedule that does",
                self.name
            ),
            Err(TestError::Fail(why, case)) => {
                let written = write_counterexample(self.name, &case);
                println!(
                    "`{}` found, as it must: {why}\nshrunk counterexample:{case:?}\n{}",
                    self.name, written.instructions
                );
                Counterexample {
                    case,
                    why: why.to_string(),
                    ..written
                }
            }
            Err(TestError::Abort(why)) => panic!("property `{}` aborted: {why}", self.name),
        }
    }
}

/// Runs a case to its verdict and asks `judge` about it.
pub fn run_case(case: &Case, judge: impl FnOnce(&Outcome) -> Verdict) -> Verdict {
    let scenario = case.scenario();
    let mut run = Run::new(
        &scenario,
        &RunOptions {
            seed: Some(case.seed),
            trace: false,
            ..RunOptions::default()
        },
    );
    let report = run.run_in_place();
    judge(&Outcome {
        report,
        world: &run.world,
    })
}

/// Where proptest keeps the seeds of a property's failures, one file per property
/// (`tests/proptest-regressions/NAME.txt`, committed): they are tried first on every run.
fn regressions_file(name: &str) -> &'static str {
    let path = format!(
        "{}/proptest-regressions/{name}.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    // proptest wants a path that lives as long as the program; a test leaks one per property.
    Box::leak(path.into_boxed_str())
}

/// Where counterexamples are written.
fn counterexample_dir() -> PathBuf {
    match std::env::var_os("GREGOR_COUNTEREXAMPLES") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/counterexamples"),
    }
}

/// A shrunk counterexample and where it was written.
#[derive(Debug)]
pub struct Counterexample {
    /// The case.
    pub case: Case,
    /// What the property said about it.
    pub why: String,
    /// Its scenario file.
    pub scenario_path: PathBuf,
    /// The trace of its run, for `gregor replay` and the classroom.
    pub trace_path: PathBuf,
    /// How to replay it, run it and open it, in words (printed with the failure).
    pub instructions: String,
}

/// Writes the case's scenario file and the trace of its run, and says how to use them.
pub fn write_counterexample(name: &str, case: &Case) -> Counterexample {
    let dir = counterexample_dir();
    let scenario_path = dir.join(format!("{name}.toml"));
    let trace_path = dir.join(format!("{name}.trace.jsonl"));
    let scenario = case.scenario();
    let report = Run::new(
        &scenario,
        &RunOptions {
            seed: Some(case.seed),
            trace: true,
            ..RunOptions::default()
        },
    )
    .run();
    let mut trace = report.trace_lines.unwrap_or_default().join("\n");
    trace.push('\n');
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&scenario_path, case.toml()))
        .and_then(|()| std::fs::write(&trace_path, trace));
    let instructions = match written {
        Err(e) => format!(
            "(could not write the counterexample to {}: {e})",
            dir.display()
        ),
        Ok(()) => {
            let (scenario, trace) = (scenario_path.display(), trace_path.display());
            format!(
                "The counterexample's scenario is {scenario} and its trace {trace}.\n\
                 Replay the trace:                 cargo run --release --bin gregor -- replay {trace}\n\
                 Run it again, with a report:      cargo run --release --bin gregor -- run {scenario} --seed {seed} --report target/counterexamples/{name}-report\n\
                 Step through it in the classroom: `cargo xtask classroom`, then \"Open trace…\" (or drop the file on the page) and pick {trace}\n",
                seed = case.seed
            )
        }
    };
    Counterexample {
        case: case.clone(),
        why: String::new(),
        scenario_path,
        trace_path,
        instructions,
    }
}
