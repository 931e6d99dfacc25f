//! Seed sweeps: run one scenario under many seeds, on several threads or spread over machines
//! by shards, and summarise the verdicts so that every failing seed comes with its class, its
//! first finding and the command that reproduces it.
//!
//! A sweep's result never depends on how it was run: each seed's run is a pure function of the
//! scenario and the seed, results are put back in seed order, and a panic in one seed's run is
//! caught and reported as that seed's crash verdict.

use crate::runner::RunReport;
use crate::scenario::Scenario;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

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

/// Seeds `start..end` (the end excluded, as in Rust ranges).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedRange {
    /// The first seed.
    pub start: u64,
    /// One past the last seed.
    pub end: u64,
}

impl SeedRange {
    /// Reads `A..B` (B excluded), `A..=B` (B included) or a single seed `A`.
    ///
    /// # Errors
    ///
    /// When the text is none of these, or the range is empty.
    pub fn parse(text: &str) -> Result<SeedRange, String> {
        let number = |s: &str| {
            s.trim()
                .replace('_', "")
                .parse::<u64>()
                .map_err(|_| format!("`{s}` is not a seed (a whole number from 0)"))
        };
        let (start, end) = if let Some((a, b)) = text.split_once("..=") {
            let b = number(b)?;
            (
                number(a)?,
                b.checked_add(1)
                    .ok_or_else(|| format!("`{text}` goes past the last seed"))?,
            )
        } else if let Some((a, b)) = text.split_once("..") {
            (number(a)?, number(b)?)
        } else {
            let a = number(text)?;
            (a, a.saturating_add(1))
        };
        if start >= end {
            return Err(format!(
                "`{text}` holds no seed (write A..B with A below B)"
            ));
        }
        Ok(SeedRange { start, end })
    }

    /// How many seeds.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the range is empty (never, once parsed).
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

impl fmt::Display for SeedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// Shard `index` of `count` (from 1): the seeds whose position in the range is `index - 1`
/// modulo `count`. Interleaving keeps shards equally slow when some stretch of seeds is slower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, from 1.
    pub index: u64,
    /// How many shards.
    pub count: u64,
}

impl Shard {
    /// Reads `K/N` with K from 1 to N.
    ///
    /// # Errors
    ///
    /// When the text is not of that form.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("`{text}` is not a shard (write K/N with K from 1 to N, as in 3/8)");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let index: u64 = k.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// The seeds of this shard within a range.
    pub fn seeds(&self, range: SeedRange) -> impl Iterator<Item = u64> {
        let (skip, step) = (self.index - 1, self.count);
        (range.start..range.end)
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
            .step_by(usize::try_from(step).unwrap_or(usize::MAX))
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What one seed's run came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// `None` when the run passed.
    pub failure: Option<FailedSeed>,
}

impl SeedResult {
    /// The result of a finished run.
    pub fn of(report: &RunReport) -> SeedResult {
        let failure = (!report.passed()).then(|| {
            let first = report.first_finding();
            FailedSeed {
                seed: report.seed,
                verdict: report.class.map_or("safety", |c| c.name()).into(),
                check: first.map_or_else(String::new, |c| c.name.clone()),
                finding: first.map_or_else(String::new, |c| format!("{}: {}", c.name, c.detail)),
                reproduce: report.reproduce.clone(),
            }
        });
        SeedResult {
            seed: report.seed,
            failure,
        }
    }
}

thread_local! {
    /// Where the last panic on this thread happened, kept by the sweep's panic hook.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs one seed, turning a panic into a crash verdict. `run` runs the scenario under the seed;
/// `reproduce` gives the command line that runs a seed again (asked only when it panicked).
pub fn run_seed(
    seed: u64,
    reproduce: &(dyn Fn(u64) -> String + Sync),
    run: &(dyn Fn(u64) -> RunReport + Sync),
) -> SeedResult {
    LAST_PANIC.with(|p| p.borrow_mut().take());
    match panic::catch_unwind(AssertUnwindSafe(|| run(seed))) {
        Ok(report) => SeedResult::of(&report),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            let place = LAST_PANIC.with(|p| p.borrow_mut().take());
            let finding = match place {
                Some(place) => format!("the model panicked at {place}: {message}"),
                None => format!("the model panicked: {message}"),
            };
            SeedResult {
                seed,
                failure: Some(FailedSeed {
                    seed,
                    verdict: "crash".into(),
                    check: "crash".into(),
                    finding,
                    reproduce: reproduce(seed),
                }),
            }
        }
    }
}

/// Runs `f`, returning `None` instead of unwinding when it panics, without printing the panic
/// (a sweep reports it as a crash verdict already).
pub fn quietly<T>(f: impl FnOnce() -> T) -> Option<T> {
    let previous_hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let out = panic::catch_unwind(AssertUnwindSafe(f)).ok();
    panic::set_hook(previous_hook);
    out
}

/// How a sweep runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SweepOptions {
    /// Threads running seeds side by side (at least 1).
    pub jobs: usize,
    /// Stop at the first failing seed.
    pub fail_fast: bool,
}

/// Runs `run` for every seed on `options.jobs` threads, calling `progress` on the calling thread
/// after each seed with the seeds done and the results so far. Returns the results in seed
/// order, the same whatever the number of threads.
///
/// With `fail_fast`, no seed is started once one failed, and the results stop at the lowest
/// failing seed: every seed below it was started before it (seeds are handed out in order), so
/// the results are still the same whatever the number of threads.
///
/// A panic in a run becomes that seed's crash verdict; the panic message is kept for the
/// summary instead of being printed.
pub fn sweep(
    seeds: &[u64],
    options: SweepOptions,
    reproduce: &(dyn Fn(u64) -> String + Sync),
    run: &(dyn Fn(u64) -> RunReport + Sync),
    progress: &mut dyn FnMut(&SeedResult, usize),
) -> Vec<SeedResult> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (send, receive) = mpsc::channel::<(usize, SeedResult)>();
    let mut results: Vec<Option<SeedResult>> = vec![None; seeds.len()];
    let previous_hook = panic::take_hook();
    panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "an unknown place".into());
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(place));
    }));
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.max(1).min(seeds.len().max(1)) {
            let send = send.clone();
            let (next, stop) = (&next, &stop);
            scope.spawn(move || {
                loop {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&seed) = seeds.get(i) else {
                        return;
                    };
                    let result = run_seed(seed, reproduce, run);
                    if options.fail_fast && result.failure.is_some() {
                        stop.store(true, Ordering::SeqCst);
                    }
                    if send.send((i, result)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(send);
        let mut done = 0;
        for (i, result) in receive {
            done += 1;
            progress(&result, done);
            results[i] = Some(result);
        }
    });
    panic::set_hook(previous_hook);
    let mut out: Vec<SeedResult> = results.into_iter().flatten().collect();
    if options.fail_fast
        && let Some(first) = out.iter().position(|r| r.failure.is_some())
    {
        out.truncate(first + 1);
    }
    out
}

/// The summary of a sweep's results.
pub fn summarise(
    scenario: &Scenario,
    driver: &str,
    range: SeedRange,
    shard: Option<Shard>,
    results: &[SeedResult],
    seeds_per_second: f64,
) -> SweepSummary {
    SweepSummary {
        scenario: scenario.name.clone(),
        file: scenario.file.clone(),
        driver: driver.into(),
        seeds: range.to_string(),
        shards: shard.map(|s| vec![s.to_string()]).unwrap_or_default(),
        seeds_run: results.len() as u64,
        passed: results.iter().filter(|r| r.failure.is_none()).count() as u64,
        failed: results.iter().filter_map(|r| r.failure.clone()).collect(),
        seeds_per_second,
    }
}

/// Merges the summaries of a sweep's shards (each named by its file, for errors): they must be
/// of one scenario, driver and seed range, with no shard twice. The merged summary lists the
/// shards it covers, and says which are missing.
///
/// # Errors
///
/// When the summaries do not belong to one sweep, or a shard appears twice.
pub fn merge(parts: &[(String, SweepSummary)]) -> Result<(SweepSummary, Vec<String>), String> {
    let Some((first_file, first)) = parts.first() else {
        return Err("no summary to merge".into());
    };
    let mut merged = SweepSummary {
        scenario: first.scenario.clone(),
        file: first.file.clone(),
        driver: first.driver.clone(),
        seeds: first.seeds.clone(),
        shards: Vec::new(),
        seeds_run: 0,
        passed: 0,
        failed: Vec::new(),
        seeds_per_second: 0.0,
    };
    let mut shards: BTreeMap<u64, (u64, String)> = BTreeMap::new();
    let mut count = None;
    for (file, s) in parts {
        for (what, mine, theirs) in [
            ("scenario file", &s.file, &first.file),
            ("driver", &s.driver, &first.driver),
            ("seed range", &s.seeds, &first.seeds),
        ] {
            if mine != theirs {
                return Err(format!(
                    "{file}: its {what} is {mine}, but {first_file}'s is {theirs}: not shards of one sweep"
                ));
            }
        }
        if s.shards.is_empty() && parts.len() > 1 {
            return Err(format!(
                "{file}: an unsharded sweep cannot be merged with others of the same range"
            ));
        }
        for text in &s.shards {
            let shard = Shard::parse(text).map_err(|e| format!("{file}: shards: {e}"))?;
            if *count.get_or_insert(shard.count) != shard.count {
                return Err(format!(
                    "{file}: shard {shard} is of {} shards, others of {}",
                    shard.count,
                    count.unwrap_or(0)
                ));
            }
            if let Some((_, other)) = shards.insert(shard.index, (shard.count, file.clone())) {
                return Err(format!("{file}: shard {shard} is also in {other}"));
            }
        }
        merged.seeds_run += s.seeds_run;
        merged.passed += s.passed;
        merged.failed.extend(s.failed.iter().cloned());
        merged.seeds_per_second += s.seeds_per_second;
    }
    gregor_core::sort::sort_by_key(&mut merged.failed, |f| f.seed);
    merged.shards = shards
        .iter()
        .map(|(k, (n, _))| {
            Shard {
                index: *k,
                count: *n,
            }
            .to_string()
        })
        .collect();
    let missing = match count {
        Some(n) => (1..=n)
            .filter(|k| !shards.contains_key(k))
            .map(|k| Shard { index: k, count: n }.to_string())
            .collect(),
        None => Vec::new(),
    };
    Ok((merged, missing))
}

/// The summary in words: counts, then each failing seed with its class, first finding and the
/// command that reproduces it.
pub fn render(s: &SweepSummary, missing: &[String]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let count = s
        .shards
        .first()
        .and_then(|k| Shard::parse(k).ok())
        .map(|k| k.count);
    let shards = match count {
        None => String::new(),
        Some(n) if s.shards.len() as u64 == n => format!(", all {n} shards"),
        Some(_) => format!(", shard {}", s.shards.join(", ")),
    };
    let _ = writeln!(
        out,
        "Sweep: {} ({}), seeds {}{shards}, driver {}",
        s.scenario, s.file, s.seeds, s.driver
    );
    let _ = writeln!(
        out,
        "{} seeds run: {} passed, {} failed ({:.0} seeds/s)",
        s.seeds_run,
        s.passed,
        s.failed.len(),
        s.seeds_per_second
    );
    if !missing.is_empty() {
        let _ = writeln!(out, "Missing shards: {}", missing.join(", "));
    }
    if !s.failed.is_empty() {
        let _ = writeln!(out, "\nFailing seeds:");
        for f in &s.failed {
            let _ = writeln!(out, "  seed {}  [{}]  {}", f.seed, f.verdict, f.finding);
            let _ = writeln!(out, "      {}", f.reproduce);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::{Run, RunOptions};

    fn tiny() -> Scenario {
        Scenario::parse(
            "tiny.toml",
            r#"
name = "tiny"
duration = "3s"
[cluster]
brokers = 3
config = { "min.insync.replicas" = 2 }
[[topic]]
name = "t"
partitions = 1
replication_factor = 3
[[producer]]
id = "p"
topic = "t"
rate_per_sec = 50
count = 50
[[at]]
time = "1s"
crash = "leader of t/0"
[expect]
lost_acknowledged = 0
"#,
        )
        .expect("valid")
    }

    fn no_progress(_: &SeedResult, _: usize) {}

    #[test]
    fn ranges_and_shards_parse_and_partition_the_seeds_exactly() {
        assert_eq!(
            SeedRange::parse("1..10001"),
            Ok(SeedRange {
                start: 1,
                end: 10_001
            })
        );
        assert_eq!(SeedRange::parse("5..=7").map(|r| r.len()), Ok(3));
        assert_eq!(
            SeedRange::parse("42").map(|r| r.to_string()),
            Ok("42..43".into())
        );
        assert!(SeedRange::parse("9..3").is_err());
        assert!(SeedRange::parse("a..b").is_err());
        assert!(SeedRange::parse("0..=18446744073709551615").is_err());
        assert!(Shard::parse("0/4").is_err());
        assert!(Shard::parse("5/4").is_err());
        assert!(Shard::parse("2-4").is_err());
        let range = SeedRange::parse("10..47").expect("range");
        let mut all: Vec<u64> = (1..=4)
            .flat_map(|k| {
                Shard { index: k, count: 4 }
                    .seeds(range)
                    .collect::<Vec<_>>()
            })
            .collect();
        gregor_core::sort::sort(&mut all);
        assert_eq!(all, (10..47).collect::<Vec<_>>());
        assert_eq!(
            Shard { index: 2, count: 4 }
                .seeds(range)
                .take(3)
                .collect::<Vec<_>>(),
            vec![11, 15, 19]
        );
    }

    #[test]
    fn results_are_the_same_whatever_the_number_of_threads() {
        let s = tiny();
        let run = |seed| {
            Run::new(
                &s,
                &RunOptions {
                    seed: Some(seed),
                    ..RunOptions::default()
                },
            )
            .run()
        };
        let seeds: Vec<u64> = (1..9).collect();
        let reproduce = |seed| format!("again {seed}");
        let one = sweep(
            &seeds,
            SweepOptions {
                jobs: 1,
                fail_fast: false,
            },
            &reproduce,
            &run,
            &mut no_progress,
        );
        let three = sweep(
            &seeds,
            SweepOptions {
                jobs: 3,
                fail_fast: false,
            },
            &reproduce,
            &run,
            &mut no_progress,
        );
        assert_eq!(one, three);
        assert_eq!(one.iter().map(|r| r.seed).collect::<Vec<_>>(), seeds);
        // The tiny scenario is safe: every seed passes.
        assert!(one.iter().all(|r| r.failure.is_none()), "{one:?}");
    }

    #[test]
    fn a_panic_is_a_crash_verdict_of_its_seed_and_fail_fast_stops_there() {
        let s = tiny();
        let run = |seed: u64| {
            assert!(seed != 4, "seed four breaks the model");
            Run::new(
                &s,
                &RunOptions {
                    seed: Some(seed),
                    ..RunOptions::default()
                },
            )
            .run()
        };
        let seeds: Vec<u64> = (1..8).collect();
        let reproduce = |seed| format!("gregor run tiny.toml --seed {seed}");
        let mut seen = 0;
        let all = sweep(
            &seeds,
            SweepOptions {
                jobs: 2,
                fail_fast: false,
            },
            &reproduce,
            &run,
            &mut |_, done| seen = done,
        );
        assert_eq!(seen, 7, "progress saw every seed");
        assert_eq!(all.len(), 7);
        let crash = all[3].failure.as_ref().expect("seed 4 failed");
        assert_eq!(crash.verdict, "crash");
        assert!(
            crash.finding.contains("seed four breaks the model"),
            "{}",
            crash.finding
        );
        assert!(
            crash.finding.contains("sweep.rs:"),
            "names the place: {}",
            crash.finding
        );
        assert_eq!(crash.reproduce, "gregor run tiny.toml --seed 4");
        assert!(all.iter().filter(|r| r.failure.is_some()).count() == 1);
        for jobs in [1, 2, 4] {
            let fast = sweep(
                &seeds,
                SweepOptions {
                    jobs,
                    fail_fast: true,
                },
                &reproduce,
                &run,
                &mut no_progress,
            );
            assert_eq!(fast, all[..4].to_vec(), "fail-fast with {jobs} jobs");
        }
    }

    fn summary(shards: &[&str], failed: &[u64]) -> SweepSummary {
        SweepSummary {
            scenario: "tiny".into(),
            file: "tiny.toml".into(),
            driver: "world".into(),
            seeds: "1..101".into(),
            shards: shards.iter().map(ToString::to_string).collect(),
            seeds_run: 25,
            passed: 25 - failed.len() as u64,
            failed: failed
                .iter()
                .map(|&seed| FailedSeed {
                    seed,
                    verdict: "liveness".into(),
                    check: "converged after healing".into(),
                    finding: "converged after healing: no".into(),
                    reproduce: format!("gregor run tiny.toml --seed {seed} --driver world"),
                })
                .collect(),
            seeds_per_second: 100.0,
        }
    }

    #[test]
    fn merging_shards_adds_them_up_and_names_what_is_missing() {
        let parts = vec![
            ("b.json".to_string(), summary(&["3/4"], &[7, 91])),
            ("a.json".to_string(), summary(&["1/4"], &[5])),
            ("c.json".to_string(), summary(&["2/4"], &[])),
        ];
        let (m, missing) = merge(&parts).expect("merges");
        assert_eq!(m.seeds_run, 75);
        assert_eq!(m.passed, 72);
        assert_eq!(
            m.failed.iter().map(|f| f.seed).collect::<Vec<_>>(),
            vec![5, 7, 91]
        );
        assert_eq!(m.shards, vec!["1/4", "2/4", "3/4"]);
        assert_eq!(missing, vec!["4/4"]);
        assert!((m.seeds_per_second - 300.0).abs() < 1e-9);
        let text = render(&m, &missing);
        assert!(text.contains("75 seeds run: 72 passed, 3 failed"), "{text}");
        assert!(text.contains("Missing shards: 4/4"), "{text}");
        assert!(
            text.contains("gregor run tiny.toml --seed 91 --driver world"),
            "{text}"
        );
    }

    #[test]
    fn merging_refuses_shards_of_different_sweeps_or_the_same_shard_twice() {
        let twice = vec![
            ("a.json".to_string(), summary(&["1/4"], &[])),
            ("b.json".to_string(), summary(&["1/4"], &[])),
        ];
        let e = merge(&twice).expect_err("same shard twice");
        assert!(e.contains("b.json") && e.contains("a.json"), "{e}");
        let mut other = summary(&["2/4"], &[]);
        other.driver = "madsim".into();
        let mixed = vec![
            ("a.json".to_string(), summary(&["1/4"], &[])),
            ("b.json".to_string(), other),
        ];
        assert!(
            merge(&mixed)
                .expect_err("drivers differ")
                .contains("driver")
        );
        let counts = vec![
            ("a.json".to_string(), summary(&["1/4"], &[])),
            ("b.json".to_string(), summary(&["2/3"], &[])),
        ];
        assert!(merge(&counts).is_err());
        assert!(merge(&[]).is_err());
    }
}
