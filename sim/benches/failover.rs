//! The reference failover scenario on the World (DESIGN.md budgets): 3 brokers, RF 3, 1,000
//! records, a leader crash, 30 s of virtual time, every checker on. Budget: 10 ms per seed.
//!
//! Two baselines run in the same process, so the figures can be read as ratios on a noisy
//! machine: the same run without the per-step invariants (what the checkers cost), and a quiet
//! cluster with no workload and no fault for the same virtual time (what the World and the
//! controller's and brokers' timers cost on their own).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gregor_sim::runner::{Run, RunOptions};
use gregor_sim::scenario::Scenario;
use std::hint::black_box;
use std::path::PathBuf;

fn reference() -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/leader-failover.toml");
    Scenario::from_file(&path).expect("the reference scenario")
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
