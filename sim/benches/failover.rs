//! The reference failover scenario on the World (DESIGN.md budgets): 3 brokers, RF 3, 1,000
//! records, a leader crash, 30 s of virtual time, every checker on. Budget: 10 ms per seed.
//!
//! Two baselines run in the same process, so the figures can be read as ratios on a noisy
//! machine: the same run without the per-step invariants (what the checkers cost), and a quiet
//! cluster with no workload and no fault for the same virtual time (what the World and the
//! controller's and brokers' timers cost on their own). The group variant adds three consumers
//! in one group reading every record (budget: 15 ms per seed).
//!
//! The sweep group runs 32 seeds of the reference scenario through `gregor_sim::sweep` with one
//! thread and with two, in the same process, with seeds as the throughput unit: criterion then
//! reports seeds per second, and the ratio of the two medians is the sweep's parallel speed-up.
//! Budget: 10,000 seeds a minute (167 seeds per second) on two cores, and two threads at least
//! 1.7x one.
//!
//! Built with `--cfg madsim` (`RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target/madsim cargo bench
//! -p gregor-sim --bench failover`), the same binary also runs the reference scenario under the
//! madsim driver, beside the World in the same process. Budget: madsim at most 10x the World.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gregor_sim::runner::{Run, RunOptions};
use gregor_sim::scenario::Scenario;
use gregor_sim::sweep::{SweepOptions, sweep};
use std::hint::black_box;
use std::path::PathBuf;

fn reference() -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/leader-failover.toml");
    Scenario::from_file(&path).expect("the reference scenario")
}

/// The reference scenario plus a group of three members consuming everything, with
/// `offsets_partitions` partitions of `__consumer_offsets`. Budget: 15 ms per seed with 3 (the
/// count the shipped group scenarios use); Kafka's default of 50 is measured for comparison,
/// since every follower fetches every one of them.
fn with_group(offsets_partitions: u32) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/leader-failover.toml");
    let text = std::fs::read_to_string(&path).expect("the reference scenario");
    let mut text = text.replace(
        "config = { \"min.insync.replicas\" = 2 }",
        &format!(
            "config = {{ \"min.insync.replicas\" = 2, \"offsets.topic.num.partitions\" = {offsets_partitions} }}"
        ),
    );
    for i in 1..=3 {
        text.push_str(&format!(
            "\n[[consumer]]\nid = \"c{i}\"\ntopic = \"orders\"\ngroup = \"reference\"\n"
        ));
    }
    Scenario::parse("leader-failover-group.toml", &text).expect("the group scenario")
}

fn quiet() -> Scenario {
    Scenario::parse(
        "quiet.toml",
        "name = \"quiet\"\nduration = \"30s\"\n[cluster]\nbrokers = 3\n[[topic]]\nname = \"orders\"\npartitions = 3\nreplication_factor = 3\n",
    )
    .expect("the quiet scenario")
}

fn bench(c: &mut Criterion) {
    let full = RunOptions::default();
    let bare = RunOptions {
        skip_invariants: true,
        ..RunOptions::default()
    };
    let mut group = c.benchmark_group("world");
    for (name, scenario, options) in [
        ("leader-failover, all checkers", reference(), &full),
        (
            "leader-failover, no per-step invariants",
            reference(),
            &bare,
        ),
        ("quiet cluster, 30 s", quiet(), &full),
        (
            "leader-failover + 3-member group, all checkers",
            with_group(3),
            &full,
        ),
        (
            "leader-failover + 3-member group, 50 offsets partitions",
            with_group(50),
            &full,
        ),
    ] {
        let report = Run::new(&scenario, options).run();
        assert!(report.passed(), "{name} must pass before it is measured");
        // Throughput in events: criterion then reports events per second.
        group.throughput(Throughput::Elements(report.events));
        group.bench_function(name, |b| {
            b.iter(|| black_box(Run::new(&scenario, options).run()))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("sweep");
    group.sample_size(10);
    let scenario = reference();
    let seeds: Vec<u64> = (1..=32).collect();
    group.throughput(Throughput::Elements(seeds.len() as u64));
    for jobs in [1, 2] {
        let run = |seed| {
            Run::new(
                &scenario,
                &RunOptions {
                    seed: Some(seed),
                    ..RunOptions::default()
                },
            )
            .run()
        };
        let options = SweepOptions {
            jobs,
            fail_fast: false,
        };
        let results = sweep(&seeds, options, &|_| String::new(), &run, &mut |_, _| {});
        assert!(
            results.iter().all(|r| r.failure.is_none()),
            "every seed must pass before the sweep is measured"
        );
        group.bench_function(format!("leader-failover, 32 seeds, --jobs {jobs}"), |b| {
            b.iter(|| {
                black_box(sweep(
                    &seeds,
                    options,
                    &|_| String::new(),
                    &run,
                    &mut |_, _| {},
                ))
            })
        });
    }
    group.finish();

    #[cfg(madsim)]
    {
        let mut group = c.benchmark_group("drivers");
        let scenario = reference();
        let world = Run::new(&scenario, &full).run();
        let madsim = gregor_sim::madsim_driver::run(&scenario, &full).expect("supported");
        assert!(
            world.passed() && madsim.passed(),
            "both must pass before they are measured"
        );
        group.bench_function("leader-failover on the World", |b| {
            b.iter(|| black_box(Run::new(&scenario, &full).run()))
        });
        group.bench_function("leader-failover on madsim", |b| {
            b.iter(|| black_box(gregor_sim::madsim_driver::run(&scenario, &full)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
