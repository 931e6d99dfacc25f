//! What one animation frame of the classroom costs outside the browser (DESIGN.md budget: 60
//! frames a second with 3 brokers, 6 partitions and 3 consumers at 100 records a second, which
//! is `group-rebalance`). A frame at real-time speed plays 16 ms of virtual time, reads the new
//! log entries into the tally and computes the view; yew's diff and the browser's layout and
//! paint come on top, and the end-to-end test measures whole frames in Chromium.
//!
//! Three variants run in the same process so the figures read as ratios on a noisy machine:
//! playing alone (the simulator's share), playing and tallying, and the whole frame. Each
//! iteration is the next frame of one long session, so the figures are a median over the
//! scenario's phases (the group forming, steady traffic, a member's crash and rebalance).

use criterion::{Criterion, criterion_group, criterion_main};
use gregor_core::time::Instant;
use gregor_sim::session::Session;
use gregor_web::library;
use gregor_web::view::{Tally, classroom_view};
use std::hint::black_box;

/// Virtual milliseconds per frame at real-time speed and 60 frames a second.
const FRAME_MS: u64 = 16;

fn session() -> Session {
    let scenario = library::scenario("group-rebalance").expect("a shipped scenario");
    let mut s = Session::new(scenario, 1).expect("the cluster gets ready");
    s.play_until(Instant(8_000));
    s
}

/// Plays one more frame; a session that has run for ten virtual minutes starts over, so every
/// variant sees the same mix of phases.
fn next_frame(s: &mut Session, tally: &mut Tally, with_tally: bool) {
    let t = s.moment().time_ms + FRAME_MS;
    if t > 600_000 {
        *s = session();
        *tally = Tally::default();
    }
    s.play_until(Instant(t));
    if with_tally {
        tally.update(s);
    }
}

fn frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("classroom frame (group-rebalance, 16 ms of virtual time)");
    group.bench_function("play", |b| {
        let (mut s, mut tally) = (session(), Tally::default());
        b.iter(|| next_frame(&mut s, &mut tally, false));
    });
    group.bench_function("play and tally", |b| {
        let (mut s, mut tally) = (session(), Tally::default());
        b.iter(|| next_frame(&mut s, &mut tally, true));
    });
    group.bench_function("play, tally and view", |b| {
        let (mut s, mut tally) = (session(), Tally::default());
        b.iter(|| {
            next_frame(&mut s, &mut tally, true);
            black_box(classroom_view(&s, &tally));
        });
    });
    group.finish();
}

criterion_group!(benches, frames);
criterion_main!(benches);
