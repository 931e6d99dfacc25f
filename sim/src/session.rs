//! An interactive run, as the classroom and the lessons drive one: a scenario under a seed,
//! played forward one unit at a time or up to a time, with actions a person takes at chosen
//! moments, and rewound to any earlier moment.
//!
//! A rewind plays the run again from its seed with the same actions at the same moments: the
//! World is deterministic, so the replay is exact. A moment is the run's unit count (events
//! processed plus timeline items played) and its clock, so an action taken between two events
//! of the same millisecond comes back between the same two events.
//!
//! Playing forward after a rewind takes the recorded actions again as their moments come
//! (redo); taking a new action there drops the recorded ones after it (a branch).

use crate::compiled::decode_scenario;
use crate::runner::{Run, RunOptions};
use crate::scenario::{Action, Scenario};
use crate::trace::{TRACE_FORMAT, TraceHeader};
use crate::world::World;
use gregor_core::time::Instant;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A moment of a run: how many units have happened, and the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Moment {
    /// Events processed plus timeline items played.
    pub units: u64,
    /// Virtual time in milliseconds.
    pub time_ms: u64,
}

/// An action taken at a moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TakenAction {
    /// When.
    pub at: Moment,
    /// What.
    pub action: Action,
}

/// Why a session could not be set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionError {
    /// The cluster never became ready (brokers registered, topics led).
    NotReady,
    /// A recorded action is not at a moment of this run: before the one above it, before the
    /// cluster was ready, or at a unit count and clock this seed never reaches together.
    ActionOutOfPlace {
        /// The index of the first action out of place.
        index: usize,
    },
    /// A trace file could not be read.
    Trace(String),
    /// The scenario inside a trace file is not valid.
    Scenario(String),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::NotReady => {
                f.write_str("the cluster never became ready (brokers registered, topics led)")
            }
            SessionError::ActionOutOfPlace { index } => write!(
                f,
                "action {} is not at a moment of this run (it comes before the one above it or before the cluster was ready, or this seed never reaches its moment)",
                index + 1
            ),
            SessionError::Trace(why) => write!(f, "not a Gregor trace: {why}"),
            SessionError::Scenario(why) => write!(f, "the trace's scenario is not valid: {why}"),
        }
    }
}

impl std::error::Error for SessionError {}

/// A run a person drives.
pub struct Session {
    // A run borrows its scenario; the session lives as long as whoever drives it, and a
    // program loads only a handful of scenarios, so each is kept for the program's life.
    scenario: &'static Scenario,
    seed: u64,
    run: Run<'static>,
    start: Moment,
    actions: Vec<TakenAction>,
    /// How many of `actions` this run has taken.
    taken: usize,
}

impl Session {
    /// Sets the scenario up under `seed` and plays it until the cluster is ready.
    pub fn new(scenario: Scenario, seed: u64) -> Result<Session, SessionError> {
        let scenario: &'static Scenario = Box::leak(Box::new(scenario));
        let run = Self::fresh_run(scenario, seed)?;
        let start = moment_of(&run);
        Ok(Session {
            scenario,
            seed,
            run,
            start,
            actions: Vec::new(),
            taken: 0,
        })
    }

    /// Sets the scenario up and takes `actions` at their moments, ending at the last one.
    pub fn with_actions(
        scenario: Scenario,
        seed: u64,
        actions: Vec<TakenAction>,
    ) -> Result<Session, SessionError> {
        let mut session = Session::new(scenario, seed)?;
        for (index, a) in actions.into_iter().enumerate() {
            if !session.act_at(a.at, a.action) {
                return Err(SessionError::ActionOutOfPlace { index });
            }
        }
        Ok(session)
    }

    /// Sets up the run a trace file recorded: its scenario (kept in the trace) under its seed.
    /// A trace holds no actions beyond its scenario's timeline; the World plays it again exactly.
    pub fn from_trace(text: &str) -> Result<Session, SessionError> {
        let header = Self::trace_header(text)?;
        let file = format!("{} (from a trace)", header.scenario);
        let scenario = Scenario::parse(&file, &header.scenario_source)
            .map_err(|e| SessionError::Scenario(e.to_string()))?;
        Session::new(scenario, header.seed)
    }

    /// [`Session::from_trace`] without a TOML parser, as the classroom opens traces: the trace
    /// must carry its scenario in compiled form (every trace this version writes does).
    pub fn from_compiled_trace(text: &str) -> Result<Session, SessionError> {
        let header = Self::trace_header(text)?;
        let refused = |why: &str| {
            SessionError::Trace(format!(
                "line 1, field `scenario_compiled`: {why}; run the scenario again with \
                 `gregor run SCENARIO --seed {} --trace FILE` and open that",
                header.seed
            ))
        };
        let compiled = header
            .scenario_compiled
            .as_deref()
            .ok_or_else(|| refused("missing (the trace was written by an older gregor)"))?;
        // The compact form follows this build's types. A trace from a build whose scenario
        // types differ may fail to decode, or decode into nonsense: the text kept beside it
        // (inside the compiled scenario too) tells the two apart.
        let mut scenario = decode_scenario(compiled)
            .ok()
            .filter(|s| s.source == header.scenario_source && s.name == header.scenario)
            .ok_or_else(|| refused("written by another version of gregor"))?;
        scenario.file = format!("{} (from a trace)", header.scenario);
        Session::new(scenario, header.seed)
    }

    fn trace_header(text: &str) -> Result<TraceHeader, SessionError> {
        let first = text
            .lines()
            .next()
            .ok_or_else(|| SessionError::Trace("the file is empty".into()))?;
        let header =
            TraceHeader::read(first).map_err(|e| SessionError::Trace(format!("line 1, {e}")))?;
        if header.format != TRACE_FORMAT {
            return Err(SessionError::Trace(format!(
                "line 1, field `format`: `{}` is not `{TRACE_FORMAT}`",
                header.format
            )));
        }
        Ok(header)
    }

    fn fresh_run(scenario: &'static Scenario, seed: u64) -> Result<Run<'static>, SessionError> {
        let options = RunOptions {
            seed: Some(seed),
            charts: true,
            ..RunOptions::default()
        };
        let mut run = Run::new(scenario, &options);
        if run.bootstrap() {
            Ok(run)
        } else {
            Err(SessionError::NotReady)
        }
    }

    /// The scenario.
    pub fn scenario(&self) -> &'static Scenario {
        self.scenario
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The run, for a look at its World, invariants and samples.
    pub fn run(&self) -> &Run<'static> {
        &self.run
    }

    /// The World.
    pub fn world(&self) -> &World {
        &self.run.world
    }

    /// Now.
    pub fn moment(&self) -> Moment {
        moment_of(&self.run)
    }

    /// The moment the cluster became ready: the earliest a rewind goes back to.
    pub fn start(&self) -> Moment {
        self.start
    }

    /// The actions recorded, taken or still ahead (after a rewind).
    pub fn actions(&self) -> &[TakenAction] {
        &self.actions
    }

    /// The actions taken so far in this run.
    pub fn taken(&self) -> &[TakenAction] {
        &self.actions[..self.taken]
    }

    /// The next recorded action, if it is due at the current unit count.
    fn due(&self) -> Option<&TakenAction> {
        self.actions
            .get(self.taken)
            .filter(|a| a.at.units == self.run.units())
    }

    fn take_due(&mut self, until: Instant) -> bool {
        let mut took = false;
        while let Some(a) = self.due().filter(|a| a.at.time_ms <= until.0).cloned() {
            self.run.wait_until(Instant(a.at.time_ms));
            self.run.apply(&a.action);
            self.taken += 1;
            took = true;
        }
        took
    }

    /// Plays one unit (an event, or a timeline item), or takes the recorded action due now.
    /// Returns false when nothing is left to play.
    pub fn step(&mut self) -> bool {
        if self.take_due(Instant(u64::MAX)) {
            return true;
        }
        self.run.step_unit()
    }

    /// Plays every unit at or before `until`, taking recorded actions as their moments come,
    /// and sets the clock to `until`.
    pub fn play_until(&mut self, until: Instant) {
        loop {
            self.take_due(until);
            if self.due().is_some() {
                break; // an action is due at this unit count but later than `until`
            }
            match self.run.next_unit_time() {
                Some(t) if t <= until => {
                    self.run.step_unit();
                }
                _ => break,
            }
        }
        self.run.wait_until(until);
    }

    /// Plays forward to exactly `moment`: to its unit count, then its clock. Returns false when
    /// `moment` is not one of this run (a hand-edited link: the run never reaches that unit
    /// count, or reaches it with units still due before that clock); the run then stays at the
    /// unit count it reached, with its own clock.
    fn play_to(&mut self, moment: Moment) -> bool {
        let time = Instant(moment.time_ms);
        while self.run.units() < moment.units {
            if self.take_due(time) {
                continue;
            }
            if !self.run.step_unit() {
                return false;
            }
        }
        let now = self.run.world.now();
        if time > now && self.run.next_unit_time().is_some_and(|t| t <= time) {
            return false;
        }
        self.run.wait_until(time);
        self.take_due(time);
        true
    }

    /// Plays forward to exactly `at` and takes `action` there. Returns false, taking nothing,
    /// when `at` is already behind (fewer units, or an earlier clock, than now) or is not a
    /// moment of this run.
    pub fn act_at(&mut self, at: Moment, action: Action) -> bool {
        let now = self.moment();
        if at.units < now.units || at.time_ms < now.time_ms || !self.play_to(at) {
            return false;
        }
        self.act(action);
        true
    }

    /// Plays forward to `time` and takes `action` there. Returns false, playing nothing, when
    /// the clock is already past `time`.
    pub fn act_at_time(&mut self, time: Instant, action: Action) -> bool {
        if time.0 < self.moment().time_ms {
            return false;
        }
        self.play_until(time);
        self.act(action);
        true
    }

    /// Takes an action now, recording it; recorded actions after now are dropped (a branch).
    pub fn act(&mut self, action: Action) {
        self.actions.truncate(self.taken);
        self.actions.push(TakenAction {
            at: self.moment(),
            action: action.clone(),
        });
        self.run.apply(&action);
        self.taken += 1;
    }

    /// Goes back to the state at `time` (or the start, if earlier): the cluster as it was with
    /// every unit and action at or before `time`. Recorded actions after it stay ahead.
    pub fn rewind_to_time(&mut self, time: Instant) {
        self.restart();
        self.play_until(time.max(Instant(self.start.time_ms)));
    }

    /// Goes back to exactly `moment` (or the start, if earlier).
    pub fn rewind_to(&mut self, moment: Moment) {
        self.restart();
        // A moment not of this run (a hand-edited link) ends at the unit count it names.
        let _ = self.play_to(moment.max(self.start));
    }

    /// Goes back one unit.
    pub fn step_back(&mut self) {
        let now = self.moment();
        if now.units > self.start.units {
            // The unit before this one ended at a time no later than now; playing to its unit
            // count and stopping there finds it.
            let target = now.units - 1;
            self.restart();
            while self.run.units() < target {
                if !self.take_due(Instant(u64::MAX)) && !self.run.step_unit() {
                    break;
                }
            }
        }
    }

    fn restart(&mut self) {
        // A fresh run of the same scenario and seed became ready before, so it does again.
        if let Ok(run) = Self::fresh_run(self.scenario, self.seed) {
            self.run = run;
            self.taken = 0;
        }
    }
}

fn moment_of(run: &Run<'static>) -> Moment {
    Moment {
        units: run.units(),
        time_ms: run.world.now().0,
    }
}
