//! `gregor sweep`: runs a scenario under a range of seeds on several threads (or one shard of
//! the range, for a batch engine spreading a sweep over machines), shows progress, and prints a
//! summary in which every failing seed has its verdict class, its first finding and the command
//! that reproduces it; `gregor sweep merge` joins the shards' JSON summaries.
//!
//! The wall clock is read here and only here (besides the build helper): for the progress bar
//! and the seeds-per-second figure, never for anything a verdict depends on.

use super::{DriverName, SweepArgs, SweepCommand, bad, write_page, write_run_report};
use gregor_sim::runner::{Run, RunOptions, RunReport};
use gregor_sim::scenario::Scenario;
use gregor_sim::sweep::{
    self, SeedRange, SeedResult, Shard, SweepOptions, SweepSummary, merge, render, summarise,
};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The most seeds one sweep (or one shard) runs; a larger range is a job for shards.
const MOST_SEEDS: u64 = 100_000_000;
/// The most failing seeds a sweep report writes a run report for.
const MOST_REPORTS: usize = 100;

/// A stopwatch over the wall clock.
struct Stopwatch(std::time::Instant);

impl Stopwatch {
    #[allow(clippy::disallowed_methods)] // progress and throughput only; no verdict reads it
    fn start() -> Stopwatch {
        Stopwatch(std::time::Instant::now())
    }

    fn seconds(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}

/// Runs `gregor sweep`.
pub fn command(args: SweepArgs) -> ExitCode {
    if let Some(SweepCommand::Merge {
        files,
        json,
        report,
    }) = args.merge
    {
        return merge_files(&files, json, report.as_deref());
    }
    let (Some(path), Some(seeds)) = (args.scenario, args.seeds) else {
        return bad("sweep needs a scenario and --seeds A..B");
    };
    #[cfg(not(madsim))]
    if args.driver == DriverName::Madsim {
        return super::madsim_flavour::delegate();
    }
    let scenario = match Scenario::from_file(&path) {
        Ok(s) => s,
        Err(e) => return bad(e),
    };
    let range = match SeedRange::parse(&seeds) {
        Ok(r) => r,
        Err(e) => return bad(format!("--seeds: {e}")),
    };
    let shard = match args.shard.as_deref().map(Shard::parse).transpose() {
        Ok(s) => s,
        Err(e) => return bad(format!("--shard: {e}")),
    };
    let count = shard.map_or(range.len(), |s| range.len().div_ceil(s.count));
    if count > MOST_SEEDS {
        return bad(format!(
            "--seeds: {range} holds {count} seeds for this run, more than {MOST_SEEDS}; spread it over shards"
        ));
    }
    let seeds: Vec<u64> = match shard {
        Some(s) => s.seeds(range).collect(),
        None => (range.start..range.end).collect(),
    };
    if seeds.is_empty() {
        return bad(format!(
            "--shard: shard {} of {range} holds no seed",
            args.shard.unwrap_or_default()
        ));
    }
    let jobs = match args.jobs {
        Some(0) => return bad("--jobs must be at least 1"),
        Some(j) => j,
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    let driver = args.driver;
    if let Err(e) = supported(&scenario, driver, seeds[0]) {
        return bad(format!("{}: {e}", scenario.file));
    }
    let run = |seed: u64| run_once(&scenario, driver, seed, false);
    let reproduce = |seed: u64| {
        format!(
            "gregor run {} --seed {seed} --driver {}",
            scenario.file,
            driver.name()
        )
    };
    let clock = Stopwatch::start();
    let mut bar = Progress::new(seeds.len());
    let results = sweep::sweep(
        &seeds,
        SweepOptions {
            jobs,
            fail_fast: args.fail_fast,
        },
        &reproduce,
        &run,
        &mut |result, done| bar.update(result, done, clock.seconds()),
    );
    bar.finish();
    let seconds = clock.seconds();
    let per_second = if seconds > 0.0 {
        results.len() as f64 / seconds
    } else {
        0.0
    };
    let summary = summarise(&scenario, driver.name(), range, shard, &results, per_second);
    if let Some(dir) = &args.report
        && let Err(e) = write_sweep_report(dir, &summary, &|seed| {
            sweep::quietly(|| run_once(&scenario, driver, seed, true))
        })
    {
        return bad(e);
    }
    print_summary(&summary, &[], args.json)
}

/// Refuses up front what the driver cannot run, rather than as a crash of every seed.
fn supported(scenario: &Scenario, driver: DriverName, seed: u64) -> Result<(), String> {
    match driver {
        DriverName::World => Ok(()),
        #[cfg(madsim)]
        DriverName::Madsim => match gregor_sim::madsim_driver::unsupported(scenario, seed) {
            Some(why) => Err(why),
            None => Ok(()),
        },
        #[cfg(not(madsim))]
        DriverName::Madsim => {
            let _ = (scenario, seed);
            Err("the madsim driver runs in the madsim build of gregor".into())
        }
    }
}

/// One seed's run on the chosen driver.
fn run_once(scenario: &Scenario, driver: DriverName, seed: u64, charts: bool) -> RunReport {
    let options = RunOptions {
        seed: Some(seed),
        charts,
        ..RunOptions::default()
    };
    match driver {
        DriverName::World => Run::new(scenario, &options).run(),
        #[cfg(madsim)]
        DriverName::Madsim => match gregor_sim::madsim_driver::run(scenario, &options) {
            Ok(report) => report,
            // `supported` refused such scenarios before the sweep began.
            Err(why) => panic!("the madsim driver refused the scenario: {why}"),
        },
        #[cfg(not(madsim))]
        DriverName::Madsim => panic!("the madsim driver runs in the madsim build of gregor"),
    }
}

/// Prints the summary (text or JSON) and exits 1 when a seed failed.
fn print_summary(summary: &SweepSummary, missing: &[String], json: bool) -> ExitCode {
    if json {
        match serde_json::to_string_pretty(summary) {
            Ok(s) => println!("{s}"),
            Err(e) => return bad(format!("cannot encode the summary: {e}")),
        }
    } else {
        print!("{}", render(summary, missing));
    }
    if summary.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Writes `dir/index.html` and, for each failing seed (up to [`MOST_REPORTS`]), the run report
/// at `dir/seed-N/index.html`. A seed whose run panics has no report to link to.
fn write_sweep_report(
    dir: &Path,
    summary: &SweepSummary,
    rerun: &dyn Fn(u64) -> Option<RunReport>,
) -> Result<(), String> {
    let mut links = BTreeMap::new();
    for failed in summary.failed.iter().take(MOST_REPORTS) {
        // A run is a function of its seed: running it again gives the run that failed.
        if let Some(report) = rerun(failed.seed) {
            let name = format!("seed-{}", failed.seed);
            write_run_report(&dir.join(&name), &report)?;
            links.insert(failed.seed, format!("{name}/index.html"));
        }
    }
    write_summary_page(dir, summary, &links)
}

fn write_summary_page(
    dir: &Path,
    summary: &SweepSummary,
    links: &BTreeMap<u64, String>,
) -> Result<(), String> {
    write_page(dir, &gregor_sim::html::sweep_page(summary, links))
}

/// `gregor sweep merge FILES...`.
fn merge_files(files: &[PathBuf], json: bool, report: Option<&Path>) -> ExitCode {
    let mut parts = Vec::new();
    for f in files {
        let name = f.display().to_string();
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => return bad(format!("{name}: cannot read the summary: {e}")),
        };
        match serde_json::from_str::<SweepSummary>(&text) {
            Ok(s) => parts.push((name, s)),
            Err(e) => {
                return bad(format!(
                    "{name}:{}:{}: not a sweep summary (`gregor sweep ... --json`): {e}",
                    e.line(),
                    e.column()
                ));
            }
        }
    }
    let (merged, missing) = match merge(&parts) {
        Ok(m) => m,
        Err(e) => return bad(e),
    };
    if !missing.is_empty() {
        eprintln!("gregor: missing shards: {}", missing.join(", "));
    }
    if let Some(dir) = report
        && let Err(e) = write_summary_page(dir, &merged, &BTreeMap::new())
    {
        return bad(e);
    }
    print_summary(&merged, &missing, json)
}

/// The progress shown while a sweep runs: a bar redrawn in place on a terminal, plain lines
/// (every tenth of the sweep, and each failure) otherwise. It goes to standard error, so that
/// standard output holds the summary alone.
struct Progress {
    total: usize,
    failed: usize,
    terminal: bool,
    last_drawn: f64,
    last_tenth: usize,
}

impl Progress {
    fn new(total: usize) -> Progress {
        Progress {
            total,
            failed: 0,
            terminal: std::io::stderr().is_terminal(),
            last_drawn: f64::NEG_INFINITY,
            last_tenth: 0,
        }
    }

    fn update(&mut self, result: &SeedResult, done: usize, seconds: f64) {
        let rate = if seconds > 0.0 {
            done as f64 / seconds
        } else {
            0.0
        };
        let mut err = std::io::stderr().lock();
        if let Some(f) = &result.failure {
            self.failed += 1;
            if self.terminal {
                let _ = write!(err, "\r\x1b[2K");
            }
            let _ = writeln!(err, "seed {} failed [{}]: {}", f.seed, f.verdict, f.finding);
        }
        if self.terminal {
            if seconds - self.last_drawn >= 0.1 || done == self.total || result.failure.is_some() {
                self.last_drawn = seconds;
                let width = 30;
                let filled = done * width / self.total.max(1);
                let _ = write!(
                    err,
                    "\r\x1b[2K[{}{}] {done}/{} seeds  {rate:.0} seeds/s  {} failed",
                    "#".repeat(filled),
                    " ".repeat(width - filled),
                    self.total,
                    self.failed
                );
                let _ = err.flush();
            }
        } else {
            let tenth = done * 10 / self.total.max(1);
            if tenth > self.last_tenth {
                self.last_tenth = tenth;
                let _ = writeln!(
                    err,
                    "swept {done}/{} seeds, {rate:.0} seeds/s, {} failed",
                    self.total, self.failed
                );
            }
        }
    }

    fn finish(&self) {
        if self.terminal {
            let _ = writeln!(std::io::stderr());
        }
    }
}
