//! `gregor`: run scenarios and sweep them over seeds, replay traces, describe a cluster at a
//! time, compute Kafka's default partition for keys, run Kafka's assignors, and list and check
//! the lessons.
//!
//! Exit codes: 0 when everything holds, 1 when a run fails a check (or a replay diverges), 2 on
//! bad input (a malformed scenario or trace, a bad argument).

use clap::{Args, Parser, Subcommand, ValueEnum};
use gregor_core::partitioner::{murmur2, to_positive};
use gregor_core::time::Instant;
use gregor_sim::describe::describe;
use gregor_sim::replay::replay;
use gregor_sim::report::render;
use gregor_sim::runner::{Run, RunOptions};
use gregor_sim::scenario::{Scenario, parse_duration};
use std::path::PathBuf;
use std::process::ExitCode;

#[path = "gregor/sweep.rs"]
mod sweep;

#[derive(Parser)]
#[command(
    name = "gregor",
    version,
    about = "A deterministic laboratory for Kafka-style clusters"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario: exit 0 when every expectation and check holds, 1 when one fails.
    Run {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// The seed (default: the scenario's own).
        #[arg(long)]
        seed: Option<u64>,
        /// Write the trace (JSON Lines) to this file.
        #[arg(long)]
        trace: Option<PathBuf>,
        /// Print one JSON object instead of the story.
        #[arg(long)]
        json: bool,
        /// What runs the nodes: the deterministic stepper, or madsim (each node an async
        /// service on madsim's simulated network, clock and node kills).
        #[arg(long, value_enum, default_value_t = DriverName::World)]
        driver: DriverName,
        /// Write an HTML report (charts, timeline, findings) to DIR/index.html.
        #[arg(long, value_name = "DIR")]
        report: Option<PathBuf>,
    },
    /// Run a scenario under many seeds: exit 0 when every seed passes, 1 when one fails.
    Sweep(SweepArgs),
    /// Re-execute a trace through the core and check every state digest.
    Replay {
        /// The trace file.
        trace: PathBuf,
    },
    /// Show the cluster at a virtual time, as `kafka-topics --describe` would.
    Describe {
        /// The scenario file.
        scenario: PathBuf,
        /// The virtual time (`12s`, `1500ms`).
        #[arg(long)]
        at: String,
        /// The seed (default: the scenario's own).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Kafka's default partition for keys (murmur2, bit-exact).
    Partition {
        /// The partition count.
        #[arg(long)]
        partitions: u32,
        /// Read keys as hexadecimal bytes instead of UTF-8 text.
        #[arg(long)]
        hex: bool,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
        /// The keys.
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Run one of Kafka's classic assignors on a group described in a JSON file.
    Assign {
        /// The assignor: range, roundrobin, sticky or cooperative-sticky.
        #[arg(long, value_parser = gregor_sim::assign::parse_strategy)]
        strategy: gregor_core::group::assignor::AssignorName,
        /// The group: `{"topics": {...}, "members": [...]}` (see `gregor_sim::assign`).
        input: PathBuf,
    },
    /// The classroom's lessons: list them, or run them headless and check every step.
    Lessons {
        #[command(subcommand)]
        command: LessonsCommand,
    },
}

#[derive(Subcommand)]
enum LessonsCommand {
    /// List the lessons: number, id, title and concepts.
    List {
        /// Print a JSON array of `{number, id, title, concepts}`.
        #[arg(long)]
        json: bool,
    },
    /// Run lessons headless, taking each step's actions, and check that every step's check
    /// holds: exit 0 when all do, 1 when one does not, 2 when a lesson file is malformed.
    Check {
        /// Lesson files to check instead of the shipped course.
        files: Vec<PathBuf>,
    },
}

/// `gregor sweep`.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct SweepArgs {
    #[command(subcommand)]
    merge: Option<SweepCommand>,
    /// The scenario file (TOML).
    #[arg(required = true)]
    scenario: Option<PathBuf>,
    /// The seeds: `A..B` (B excluded), `A..=B`, or one seed.
    #[arg(long, required = true)]
    seeds: Option<String>,
    /// What runs the nodes.
    #[arg(long, value_enum, default_value_t = DriverName::World)]
    driver: DriverName,
    /// Threads running seeds side by side (default: the number of cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Run only shard K of N (K from 1): the seeds at positions K-1, K-1+N, ... of the range.
    #[arg(long, value_name = "K/N")]
    shard: Option<String>,
    /// Stop at the first failing seed.
    #[arg(long)]
    fail_fast: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    /// Write an HTML summary to DIR/index.html and a run report for each failing seed.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
}

#[derive(Subcommand)]
enum SweepCommand {
    /// Merge the JSON summaries of a sweep's shards into one.
    Merge {
        /// The summaries (`gregor sweep ... --shard K/N --json` output).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the merged summary as JSON.
        #[arg(long)]
        json: bool,
        /// Write an HTML summary to DIR/index.html.
        #[arg(long, value_name = "DIR")]
        report: Option<PathBuf>,
    },
}

/// The drivers `--driver` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DriverName {
    /// The discrete-event stepper.
    World,
    /// madsim's runtime.
    Madsim,
}

impl DriverName {
    /// The name on the command line.
    fn name(self) -> &'static str {
        match self {
            DriverName::World => "world",
            DriverName::Madsim => "madsim",
        }
    }
}

fn bad(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("gregor: {message}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            scenario,
            seed,
            trace,
            json,
            driver,
            report,
        } => run(&scenario, seed, trace, json, driver, report),
        Command::Sweep(args) => sweep::command(args),
        Command::Replay { trace } => {
            let file = trace.display().to_string();
            let text = match std::fs::read_to_string(&trace) {
                Ok(t) => t,
                Err(e) => return bad(format!("{file}: cannot read the trace: {e}")),
            };
            match replay(&file, &text) {
                Ok(s) => {
                    println!(
                        "replayed {file}: scenario {}, seed {}, {} inputs, {} digests matched",
                        s.header.scenario, s.header.seed, s.inputs, s.digests
                    );
                    ExitCode::SUCCESS
                }
                Err(e) if e.message.starts_with("state digest differs") => {
                    eprintln!("gregor: {e}");
                    ExitCode::from(1)
                }
                Err(e) => bad(e),
            }
        }
        Command::Describe { scenario, at, seed } => {
            let s = match Scenario::from_file(&scenario) {
                Ok(s) => s,
                Err(e) => return bad(e),
            };
            let at = match parse_duration(&at) {
                Ok(d) => Instant(d.0),
                Err(m) => return bad(format!("--at: {m}")),
            };
            let mut r = Run::new(
                &s,
                &RunOptions {
                    seed,
                    trace: false,
                    ..RunOptions::default()
                },
            );
            if !r.bootstrap() {
                return bad("the cluster never became ready");
            }
            r.play_until(at);
            print!("{}", describe(&r.world, &s));
            ExitCode::SUCCESS
        }
        Command::Partition {
            partitions,
            hex,
            json,
            keys,
        } => partition(partitions, hex, json, &keys),
        Command::Lessons { command } => lessons(command),
        Command::Assign { strategy, input } => {
            match gregor_sim::assign::run_file(strategy, &input) {
                Ok(out) => {
                    for w in &out.warnings {
                        eprintln!("gregor: {w}");
                    }
                    print!("{}", out.json);
                    ExitCode::SUCCESS
                }
                Err(e) => bad(e),
            }
        }
    }
}

fn lessons(command: LessonsCommand) -> ExitCode {
    use gregor_lessons::Lesson;
    match command {
        LessonsCommand::List { json } => {
            let lessons = match gregor_lessons::shipped() {
                Ok(l) => l,
                Err(e) => return bad(e),
            };
            if json {
                let list: Vec<serde_json::Value> = lessons
                    .iter()
                    .map(|l| {
                        serde_json::json!({
                            "number": l.number,
                            "id": l.id,
                            "title": l.title,
                            "concepts": l.concepts,
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                for l in &lessons {
                    println!("{:>2}  {:<22} {}", l.number, l.id, l.title);
                    println!("    {:<22} teaches: {}", "", l.concepts.join(", "));
                }
            }
            ExitCode::SUCCESS
        }
        LessonsCommand::Check { files } => {
            let lessons: Result<Vec<Lesson>, String> = if files.is_empty() {
                gregor_lessons::shipped().map_err(|e| e.to_string())
            } else {
                files
                    .iter()
                    .map(|f| {
                        let name = f.display().to_string();
                        let text = std::fs::read_to_string(f)
                            .map_err(|e| format!("{name}: cannot read the lesson: {e}"))?;
                        Lesson::parse(&name, &text).map_err(|e| e.to_string())
                    })
                    .collect()
            };
            let lessons = match lessons {
                Ok(l) => l,
                Err(e) => return bad(e),
            };
            let mut checked = Vec::new();
            for l in &lessons {
                match gregor_sim::lesson::check(l) {
                    Ok(c) => checked.push(c),
                    Err(e) => return bad(e),
                }
            }
            let mut failed = 0;
            for c in &checked {
                match gregor_sim::lesson::run(c) {
                    Ok(r) => {
                        println!(
                            "{} lesson {} ({}): {}",
                            if r.ok { "ok  " } else { "FAIL" },
                            c.lesson.number,
                            c.lesson.id,
                            c.lesson.title
                        );
                        print!("{r}");
                        failed += usize::from(!r.ok);
                    }
                    Err(e) => {
                        println!("FAIL lesson {} ({}): {e}", c.lesson.number, c.lesson.id);
                        failed += 1;
                    }
                }
            }
            println!("\n{} lesson(s) checked, {} failed", checked.len(), failed);
            if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn run(
    path: &std::path::Path,
    seed: Option<u64>,
    trace: Option<PathBuf>,
    json: bool,
    driver: DriverName,
    report_dir: Option<PathBuf>,
) -> ExitCode {
    let scenario = match Scenario::from_file(path) {
        Ok(s) => s,
        Err(e) => return bad(e),
    };
    let options = RunOptions {
        seed,
        trace: trace.is_some(),
        charts: report_dir.is_some(),
        ..RunOptions::default()
    };
    let report = match driver {
        DriverName::World => Run::new(&scenario, &options).run(),
        #[cfg(madsim)]
        DriverName::Madsim => match gregor_sim::madsim_driver::run(&scenario, &options) {
            Ok(r) => r,
            Err(why) => return bad(format!("{}: {why}", scenario.file)),
        },
        #[cfg(not(madsim))]
        DriverName::Madsim => return madsim_flavour::delegate(),
    };
    if let (Some(file), Some(lines)) = (&trace, &report.trace_lines) {
        let mut text = lines.join("\n");
        text.push('\n');
        if let Err(e) = std::fs::write(file, text) {
            return bad(format!("{}: cannot write the trace: {e}", file.display()));
        }
    }
    if let Some(dir) = &report_dir
        && let Err(e) = write_run_report(dir, &report)
    {
        return bad(e);
    }
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => return bad(format!("cannot encode the report: {e}")),
        }
    } else {
        print!("{}", render(&report));
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Writes a run's HTML report to `dir/index.html`, creating `dir`.
fn write_run_report(
    dir: &std::path::Path,
    report: &gregor_sim::runner::RunReport,
) -> Result<(), String> {
    // A run without charts (never the case from this command) still gets its page.
    let no_charts = gregor_sim::metrics::Charts::default();
    let charts = report.charts.as_ref().unwrap_or(&no_charts);
    write_page(dir, &gregor_sim::html::run_page(report, charts))
}

/// Writes a report page to `dir/index.html`, creating `dir`.
fn write_page(dir: &std::path::Path, html: &str) -> Result<(), String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("{}: cannot create the report directory: {e}", dir.display()))?;
    let file = dir.join("index.html");
    std::fs::write(&file, html)
        .map_err(|e| format!("{}: cannot write the report: {e}", file.display()))
}

fn partition(partitions: u32, hex: bool, json: bool, keys: &[String]) -> ExitCode {
    if partitions == 0 {
        return bad("--partitions must be at least 1");
    }
    let mut rows = Vec::new();
    for key in keys {
        let bytes = if hex {
            let clean: String = key.chars().filter(|c| !c.is_whitespace()).collect();
            let clean = clean.strip_prefix("0x").unwrap_or(&clean).to_string();
            if !clean.len().is_multiple_of(2) || !clean.chars().all(|c| c.is_ascii_hexdigit()) {
                return bad(format!("`{key}` is not hexadecimal bytes"));
            }
            (0..clean.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).expect("checked hex"))
                .collect()
        } else {
            key.as_bytes().to_vec()
        };
        let h = murmur2(&bytes);
        rows.push((key.clone(), h, (to_positive(h) as u32) % partitions));
    }
    if json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(k, h, p)| serde_json::json!({"key": k, "murmur2": h, "partition": p}))
            .collect();
        println!("{}", serde_json::Value::Array(v));
    } else {
        for (k, h, p) in rows {
            println!("{k}\tmurmur2={h}\tpartition={p}");
        }
    }
    ExitCode::SUCCESS
}

/// `--driver madsim` from the ordinary build: madsim's simulation replaces the system's clock,
/// network and threads at compile time (`--cfg madsim`), so the madsim driver lives in a second
/// build of this same program, in its own target directory. This finds that build, making it
/// first when this program runs from its workspace, and hands it the command line.
#[cfg(not(madsim))]
mod madsim_flavour {
    use super::bad;
    use std::path::{Path, PathBuf};
    use std::process::{Command, ExitCode};

    /// The workspace this program was built from.
    fn workspace() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    /// Where the madsim build of this program is: `GREGOR_MADSIM_BIN` if set, else
    /// `TARGET/madsim/PROFILE/gregor` beside this program's `TARGET/PROFILE/gregor`.
    fn location() -> Option<PathBuf> {
        if let Some(path) = std::env::var_os("GREGOR_MADSIM_BIN") {
            return Some(PathBuf::from(path));
        }
        let exe = std::env::current_exe().ok()?;
        let profile_dir = exe.parent()?;
        let profile = profile_dir.file_name()?;
        let target = profile_dir.parent()?;
        Some(target.join("madsim").join(profile).join(exe.file_name()?))
    }

    /// Brings the madsim build up to date with the workspace's sources (cargo does nothing when
    /// it is), if this program runs from its workspace and cargo is at hand.
    fn build(bin: &Path) -> Result<(), String> {
        let workspace = workspace();
        if std::env::var_os("GREGOR_MADSIM_BIN").is_some()
            || !workspace.join("Cargo.toml").is_file()
        {
            return Ok(());
        }
        let Some(target) = bin.parent().and_then(Path::parent) else {
            return Ok(());
        };
        let release = bin
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|p| p == "release");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .current_dir(&workspace)
            .args(["build", "--quiet", "-p", "gregor-sim", "--bin", "gregor"])
            .env("RUSTFLAGS", "--cfg madsim")
            .env("CARGO_TARGET_DIR", target);
        if release {
            command.arg("--release");
        }
        match command.status() {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(format!(
                "building the madsim flavour of gregor failed ({s})"
            )),
            // Without cargo, an existing build is used as it is.
            Err(_) if bin.is_file() => Ok(()),
            Err(e) => Err(format!("cannot run cargo to build the madsim flavour: {e}")),
        }
    }

    /// Runs the madsim build with this command line and exits as it does.
    pub fn delegate() -> ExitCode {
        let Some(bin) = location() else {
            return bad("cannot tell where the madsim build of gregor is; set GREGOR_MADSIM_BIN");
        };
        if let Err(e) = build(&bin) {
            return bad(e);
        }
        if !bin.is_file() {
            return bad(format!(
                "the madsim build of gregor is missing at {}; build it with \
                 `RUSTFLAGS=\"--cfg madsim\" CARGO_TARGET_DIR=target/madsim cargo build --release -p gregor-sim` \
                 or set GREGOR_MADSIM_BIN",
                bin.display()
            ));
        }
        match Command::new(&bin)
            .args(std::env::args_os().skip(1))
            .status()
        {
            Ok(s) => match s.code() {
                Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
                None => bad(format!("the madsim build of gregor was killed ({s})")),
            },
            Err(e) => bad(format!("cannot run {}: {e}", bin.display())),
        }
    }
}
