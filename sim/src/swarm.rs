//! Swarm testing: a scenario names the faults it may suffer, and each seed draws which of them
//! are on and how often, the way TigerBeetle's VOPR and FoundationDB's simulation do. Runs
//! differ in the mix of faults, not only in their timing, so a sweep explores combinations a
//! fixed timeline never would (Groce et al., "Swarm Testing", ISSTA 2012).
//!
//! A draw is a pure function of the scenario and the seed, with integer arithmetic only, so it
//! is the same on every target. It yields a network configuration for the safety phase and a
//! timeline of faults, each undone after an outage; the runner plays them after the cluster is
//! ready, and its final phase heals whatever is still broken.

use crate::network::NetworkConfig;
use crate::scenario::{Action, Link, Scenario, Target, TimedAction};
use gregor_core::rng::Rng;
use gregor_core::time::{Duration, Instant};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A kind of fault a swarm may turn on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SwarmFault {
    /// A server's process dies and restarts after an outage; its disk survives.
    Crash,
    /// A server's machine loses power (unflushed writes are lost) and comes back.
    PowerLoss,
    /// A server's process stops and continues.
    Pause,
    /// A server is cut from every other node, then healed.
    Isolate,
    /// One link (one way or both) is cut, then healed.
    Cut,
    /// The servers split into two sides, then heal.
    Split,
    /// A link holds its messages for a while.
    Clog,
    /// Messages are lost at a drawn rate.
    Loss,
    /// Latency spreads up to a drawn bound.
    Delay,
    /// Messages are delivered twice at a drawn rate.
    Duplicate,
    /// A client's next request of a drawn API arrives late, after the client may have given up
    /// on it and sent it again (the scenario action `delay`, KAFKA-17754). Only a scenario that
    /// names it draws it: it bites only when the delay passes the client's
    /// `request.timeout.ms`, so such a scenario sets short timeouts.
    LateRequest,
}

impl SwarmFault {
    /// Every fault, in the order draws are made.
    pub const ALL: [SwarmFault; 11] = [
        SwarmFault::Crash,
        SwarmFault::PowerLoss,
        SwarmFault::Pause,
        SwarmFault::Isolate,
        SwarmFault::Cut,
        SwarmFault::Split,
        SwarmFault::Clog,
        SwarmFault::Loss,
        SwarmFault::Delay,
        SwarmFault::Duplicate,
        SwarmFault::LateRequest,
    ];

    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            SwarmFault::Crash => "crash",
            SwarmFault::PowerLoss => "power_loss",
            SwarmFault::Pause => "pause",
            SwarmFault::Isolate => "isolate",
            SwarmFault::Cut => "cut",
            SwarmFault::Split => "split",
            SwarmFault::Clog => "clog",
            SwarmFault::Loss => "loss",
            SwarmFault::Delay => "delay",
            SwarmFault::Duplicate => "duplicate",
            SwarmFault::LateRequest => "late_request",
        }
    }

    /// The fault with this name.
    pub fn from_name(name: &str) -> Option<SwarmFault> {
        SwarmFault::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether the fault is a stream of events (as opposed to a network setting).
    fn is_event(self) -> bool {
        !matches!(
            self,
            SwarmFault::Loss | SwarmFault::Delay | SwarmFault::Duplicate
        )
    }
}

impl fmt::Display for SwarmFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A scenario's `[swarm]` section: what a seed may draw from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SwarmSpec {
    /// The faults a seed may turn on.
    pub faults: Vec<SwarmFault>,
    /// The range the mean time between two faults of one kind is drawn from.
    pub interval: (Duration, Duration),
    /// The range each fault's outage (until restart, resume or heal) is drawn from.
    pub outage: (Duration, Duration),
    /// The highest message loss rate a seed may draw.
    pub max_loss: f64,
    /// The highest one-way latency a seed may draw.
    pub max_latency: Duration,
    /// The highest duplication rate a seed may draw.
    pub max_duplicate: f64,
}

impl Default for SwarmSpec {
    fn default() -> SwarmSpec {
        SwarmSpec {
            faults: SwarmFault::ALL
                .into_iter()
                .filter(|&f| f != SwarmFault::LateRequest)
                .collect(),
            interval: (Duration::from_secs(3), Duration::from_secs(20)),
            outage: (Duration(500), Duration::from_secs(10)),
            max_loss: 0.05,
            max_latency: Duration(50),
            max_duplicate: 0.02,
        }
    }
}

/// One fault a seed turned on, and how much of it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DrawnFault {
    /// The fault's name.
    pub fault: String,
    /// How much, in words (`every ~4.2s, outages 0.5s to 10s`, `3.1% of messages`).
    pub setting: String,
}

/// What a seed drew: the faults that are on, the network of the safety phase, and the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct SwarmPlan {
    /// The faults that are on, with their settings, in [`SwarmFault::ALL`] order.
    pub on: Vec<DrawnFault>,
    /// The faults the scenario allows that this seed left off.
    pub off: Vec<String>,
    /// The network during the safety phase.
    pub network: NetworkConfig,
    /// The faults, each at a time counted from the moment the cluster is ready.
    pub timeline: Vec<TimedAction>,
}

/// The part of a plan a report shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SwarmSummary {
    /// The faults that are on, with their settings.
    pub on: Vec<DrawnFault>,
    /// The faults left off.
    pub off: Vec<String>,
    /// How many fault actions the timeline holds (undoing ones included).
    pub actions: usize,
}

/// Percent with one decimal, from a rate in per mille (no floating-point formatting surprises).
fn per_mille(rate: u64) -> String {
    format!("{}.{}%", rate / 10, rate % 10)
}

/// Seconds with one decimal, from milliseconds.
fn secs(d: Duration) -> String {
    format!("{}.{}s", d.0 / 1000, (d.0 % 1000) / 100)
}

impl SwarmPlan {
    /// Draws the plan of `seed` for a scenario with a `[swarm]` section.
    pub fn draw(spec: &SwarmSpec, scenario: &Scenario, seed: u64) -> SwarmPlan {
        let mut rng = Rng::derived(seed, "swarm");
        let allowed: Vec<SwarmFault> = SwarmFault::ALL
            .into_iter()
            .filter(|f| spec.faults.contains(f))
            .collect();
        // Each allowed fault is on with even odds; a seed with nothing on would test nothing.
        let mut on: Vec<SwarmFault> = allowed
            .iter()
            .copied()
            .filter(|_| rng.chance(0.5))
            .collect();
        if on.is_empty() && !allowed.is_empty() {
            on.push(allowed[rng.below(allowed.len() as u64) as usize]);
        }
        let mut network = scenario.network.clone();
        let mut drawn = Vec::new();
        let mut timeline = Vec::new();
        let servers = servers(scenario);
        let nodes = link_ends(scenario);
        for &fault in &on {
            let setting = match fault {
                SwarmFault::Loss => {
                    let rate = rng.between(1, ((spec.max_loss * 1000.0) as u64).max(1));
                    network.loss = rate as f64 / 1000.0;
                    format!("{} of messages lost", per_mille(rate))
                }
                SwarmFault::Duplicate => {
                    let rate = rng.between(1, ((spec.max_duplicate * 1000.0) as u64).max(1));
                    network.duplicate = rate as f64 / 1000.0;
                    format!("{} of messages delivered twice", per_mille(rate))
                }
                SwarmFault::Delay => {
                    let low = network.latency_min.0;
                    let high = rng.between(low, spec.max_latency.0.max(low));
                    network.latency_max = Duration(high);
                    format!("one-way latency {low}ms to {high}ms")
                }
                _ => {
                    let mean = Duration(rng.between(spec.interval.0.0, spec.interval.1.0));
                    let events = events(&mut rng, fault, mean, spec, scenario, &servers, &nodes);
                    // A late request is one action; the other faults start and end.
                    let (count, what) = if fault == SwarmFault::LateRequest {
                        (events.len(), "delays")
                    } else {
                        (events.len() / 2, "outages")
                    };
                    timeline.extend(events);
                    format!(
                        "{count} times, every ~{}, {what} {} to {}",
                        secs(mean),
                        secs(spec.outage.0),
                        secs(spec.outage.1)
                    )
                }
            };
            drawn.push(DrawnFault {
                fault: fault.name().into(),
                setting,
            });
        }
        // Actions at one time keep the order they were drawn in: the sort is stable.
        gregor_core::sort::sort_by_key(&mut timeline, |a| a.time);
        SwarmPlan {
            on: drawn,
            off: allowed
                .iter()
                .filter(|f| !on.contains(f))
                .map(|f| f.name().to_string())
                .collect(),
            network,
            timeline,
        }
    }

    /// What a report shows of the plan.
    pub fn summary(&self) -> SwarmSummary {
        SwarmSummary {
            on: self.on.clone(),
            off: self.off.clone(),
            actions: self.timeline.len(),
        }
    }

    /// The plan in one line, for the start of a run's story.
    pub fn describe(&self) -> String {
        let on: Vec<String> = self
            .on
            .iter()
            .map(|d| format!("{} ({})", d.fault, d.setting))
            .collect();
        let mut text = format!("swarm: this seed turned on {}", on.join(", "));
        if !self.off.is_empty() {
            text.push_str(&format!("; off: {}", self.off.join(", ")));
        }
        text
    }
}

/// The servers a fault may hit: every broker and the controller.
fn servers(scenario: &Scenario) -> Vec<Target> {
    let mut out: Vec<Target> = scenario
        .broker_ids()
        .into_iter()
        .map(Target::Broker)
        .collect();
    out.push(Target::Controller);
    out
}

/// The nodes a cut or clogged link may join: the servers and the scenario's clients.
fn link_ends(scenario: &Scenario) -> Vec<Target> {
    let mut out = servers(scenario);
    out.extend(
        scenario
            .producers
            .iter()
            .map(|p| Target::Client(p.name.clone())),
    );
    out.extend(
        scenario
            .consumers
            .iter()
            .map(|c| Target::Client(c.name.clone())),
    );
    out
}

fn pick<'t>(rng: &mut Rng, from: &'t [Target]) -> &'t Target {
    &from[rng.below(from.len() as u64) as usize]
}

/// The requests a late request may be, for a transactional producer.
const TRANSACTIONAL: &[&str] = &["EndTxn", "AddPartitionsToTxn", "Produce", "InitProducerId"];
/// For an idempotent or plain producer.
const PRODUCER: &[&str] = &["Produce", "InitProducerId"];
/// For a group member.
const MEMBER: &[&str] = &[
    "Fetch",
    "OffsetFetch",
    "OffsetCommit",
    "JoinGroup",
    "SyncGroup",
    "Heartbeat",
];
/// For a consumer with assigned partitions.
const ASSIGNED: &[&str] = &["Fetch", "ListOffsets"];
/// For a consume-transform-produce pipeline.
const PIPELINE: &[&str] = &[
    "EndTxn",
    "AddPartitionsToTxn",
    "AddOffsetsToTxn",
    "TxnOffsetCommit",
    "Produce",
    "Fetch",
    "OffsetFetch",
];

/// The clients a late request may come from, each with the requests worth delaying: those
/// whose retry after a timeout races the late copy.
fn late_requests(scenario: &Scenario) -> Vec<(String, &'static [&'static str])> {
    let producers = scenario.producers.iter().map(|p| {
        let apis = if p.config.config.transactional_id.is_some() {
            TRANSACTIONAL
        } else {
            PRODUCER
        };
        (p.name.clone(), apis)
    });
    let consumers = scenario.consumers.iter().map(|c| {
        let apis = if c.output.is_some() {
            PIPELINE
        } else if c.config.group_id.is_some() {
            MEMBER
        } else {
            ASSIGNED
        };
        (c.name.clone(), apis)
    });
    producers.chain(consumers).collect()
}

/// Two different nodes.
fn pair(rng: &mut Rng, from: &[Target]) -> (Target, Target) {
    let a = rng.below(from.len() as u64) as usize;
    let mut b = rng.below(from.len() as u64 - 1) as usize;
    if b >= a {
        b += 1;
    }
    (from[a].clone(), from[b].clone())
}

/// The occurrences of one event fault over the safety phase: each starts after a gap drawn
/// uniformly between a fifth of the mean and nine fifths of it (a mean of `mean` without the
/// floating point an exponential draw would need), and is undone after a drawn outage.
fn events(
    rng: &mut Rng,
    fault: SwarmFault,
    mean: Duration,
    spec: &SwarmSpec,
    scenario: &Scenario,
    servers: &[Target],
    nodes: &[Target],
) -> Vec<TimedAction> {
    debug_assert!(fault.is_event());
    let clients = late_requests(scenario);
    let mut out = Vec::new();
    let mut t = 0u64;
    loop {
        t += rng.between(mean.0 / 5, mean.0 * 9 / 5).max(1);
        if t >= scenario.duration.0 {
            return out;
        }
        let outage = rng.between(spec.outage.0.0, spec.outage.1.0);
        let (start, end) = match fault {
            SwarmFault::LateRequest => {
                if clients.is_empty() {
                    return out;
                }
                let (client, apis) = &clients[rng.below(clients.len() as u64) as usize];
                let request = apis[rng.below(apis.len() as u64) as usize];
                out.push(TimedAction {
                    time: Instant(t),
                    line: 0,
                    action: Action::Delay {
                        client: client.clone(),
                        request: request.to_string(),
                        by: Duration(outage),
                    },
                });
                continue; // a one-shot: nothing to undo
            }
            SwarmFault::Crash => {
                let s = pick(rng, servers).clone();
                (Action::Crash(s.clone()), Action::Restart(s))
            }
            SwarmFault::PowerLoss => {
                let s = pick(rng, servers).clone();
                (Action::PowerLoss(s.clone()), Action::Restart(s))
            }
            SwarmFault::Pause => {
                let s = pick(rng, servers).clone();
                (Action::Pause(s.clone()), Action::Resume(s))
            }
            SwarmFault::Isolate => (Action::Isolate(pick(rng, servers).clone()), Action::Heal),
            SwarmFault::Cut => {
                let (from, to) = pair(rng, nodes);
                let both_ways = rng.chance(0.5);
                (
                    Action::Cut(Link {
                        from,
                        to,
                        both_ways,
                    }),
                    Action::Heal,
                )
            }
            SwarmFault::Split => {
                // A random side that is neither empty nor everyone.
                let n = servers.len() as u64;
                let mask = rng.between(1, (1 << n) - 2);
                let (a, b): (Vec<_>, Vec<_>) = servers
                    .iter()
                    .enumerate()
                    .partition(|(i, _)| mask & (1 << i) != 0);
                let side =
                    |v: Vec<(usize, &Target)>| v.into_iter().map(|(_, t)| t.clone()).collect();
                (Action::Split(vec![side(a), side(b)]), Action::Heal)
            }
            SwarmFault::Clog => {
                let (from, to) = pair(rng, nodes);
                let link = Link {
                    from,
                    to,
                    both_ways: rng.chance(0.5),
                };
                (Action::Clog(link.clone()), Action::Unclog(link))
            }
            SwarmFault::Loss | SwarmFault::Delay | SwarmFault::Duplicate => return out,
        };
        out.push(TimedAction {
            time: Instant(t),
            line: 0,
            action: start,
        });
        out.push(TimedAction {
            time: Instant(t + outage),
            line: 0,
            action: end,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(swarm: &str) -> Scenario {
        let text = format!(
            r#"
name = "swarm"
duration = "60s"
[cluster]
brokers = 3
[[topic]]
name = "t"
partitions = 2
replication_factor = 3
[[producer]]
id = "p"
topic = "t"
rate_per_sec = 10
count = 100
[swarm]
{swarm}
"#
        );
        Scenario::parse("swarm.toml", &text).expect("valid")
    }

    #[test]
    fn a_seed_draws_the_same_plan_every_time_and_seeds_differ() {
        let s = scenario("");
        let spec = s.swarm.clone().expect("swarm");
        let a = SwarmPlan::draw(&spec, &s, 7);
        assert_eq!(a, SwarmPlan::draw(&spec, &s, 7));
        let distinct: std::collections::BTreeSet<Vec<String>> = (0..40)
            .map(|seed| {
                SwarmPlan::draw(&spec, &s, seed)
                    .on
                    .iter()
                    .map(|d| d.fault.clone())
                    .collect()
            })
            .collect();
        // Ten faults on or off give 1,023 mixes; forty seeds must not all draw the same few.
        assert!(distinct.len() > 20, "only {} mixes", distinct.len());
    }

    #[test]
    fn only_allowed_faults_are_drawn_and_at_least_one_is_on() {
        let s = scenario(r#"faults = ["pause", "loss"]"#);
        let spec = s.swarm.clone().expect("swarm");
        for seed in 0..50 {
            let plan = SwarmPlan::draw(&spec, &s, seed);
            assert!(!plan.on.is_empty());
            for d in &plan.on {
                assert!(d.fault == "pause" || d.fault == "loss", "{}", d.fault);
            }
            for a in &plan.timeline {
                assert!(
                    matches!(a.action, Action::Pause(_) | Action::Resume(_)),
                    "{:?}",
                    a.action
                );
            }
            let loss_on = plan.on.iter().any(|d| d.fault == "loss");
            assert_eq!(loss_on, plan.network.loss > 0.0);
            assert!(plan.network.loss <= 0.05);
        }
    }

    #[test]
    fn every_fault_is_undone_and_starts_inside_the_safety_phase() {
        let s = scenario(r#"faults = ["crash", "power_loss", "pause", "clog"]"#);
        let spec = s.swarm.clone().expect("swarm");
        for seed in 0..50 {
            let plan = SwarmPlan::draw(&spec, &s, seed);
            let starts = plan
                .timeline
                .iter()
                .filter(|a| {
                    matches!(
                        a.action,
                        Action::Crash(_)
                            | Action::PowerLoss(_)
                            | Action::Pause(_)
                            | Action::Clog(_)
                    )
                })
                .count();
            let ends = plan
                .timeline
                .iter()
                .filter(|a| {
                    matches!(
                        a.action,
                        Action::Restart(_) | Action::Resume(_) | Action::Unclog(_)
                    )
                })
                .count();
            assert_eq!(starts, ends);
            assert!(plan.timeline.windows(2).all(|w| w[0].time <= w[1].time));
            for a in &plan.timeline {
                if !matches!(
                    a.action,
                    Action::Restart(_) | Action::Resume(_) | Action::Unclog(_)
                ) {
                    assert!(a.time.0 < 60_000);
                }
            }
        }
    }

    #[test]
    fn splits_have_two_nonempty_sides() {
        let s = scenario(r#"faults = ["split"]"#);
        let spec = s.swarm.clone().expect("swarm");
        let mut seen = 0;
        for seed in 0..30 {
            for a in SwarmPlan::draw(&spec, &s, seed).timeline {
                if let Action::Split(sides) = a.action {
                    seen += 1;
                    assert_eq!(sides.len(), 2);
                    assert!(sides.iter().all(|s| !s.is_empty()));
                    assert_eq!(sides[0].len() + sides[1].len(), 4);
                }
            }
        }
        assert!(seen > 0);
    }

    #[test]
    fn late_requests_name_a_client_and_one_of_its_requests_and_need_no_undo() {
        let s = scenario(r#"faults = ["late_request"]"#);
        let spec = s.swarm.clone().expect("swarm");
        let mut seen = 0;
        for seed in 0..30 {
            let plan = SwarmPlan::draw(&spec, &s, seed);
            assert!(plan.on.iter().all(|d| d.fault == "late_request"));
            for a in plan.timeline {
                let Action::Delay {
                    client,
                    request,
                    by,
                } = a.action
                else {
                    panic!("{:?} is not a late request", a.action)
                };
                seen += 1;
                // The one producer is not transactional: only its requests that can race.
                assert_eq!(client, "p");
                assert!(
                    request == "Produce" || request == "InitProducerId",
                    "{request}"
                );
                assert!((500..=10_000).contains(&by.0), "{by}");
            }
        }
        assert!(seen > 0);
        // Every request it may draw is one a client sends (a typo would never match).
        for api in [TRANSACTIONAL, PRODUCER, MEMBER, ASSIGNED, PIPELINE].concat() {
            assert!(
                gregor_core::protocol::CLIENT_REQUESTS.contains(&api),
                "{api}"
            );
        }
        // A swarm that does not name it never draws it.
        let s = scenario("");
        let spec = s.swarm.clone().expect("swarm");
        assert!(!spec.faults.contains(&SwarmFault::LateRequest));
    }
}
