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

use crate::runner::{Run, RunOptions, StoryLine};
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
    /// The recorded actions are not in the order of their moments, or one comes before the
    /// cluster was ready.
    ActionsOutOfOrder {
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
            SessionError::ActionsOutOfOrder { index } => write!(
                f,
                "action {} comes before the one above it or before the cluster was ready",
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
        let mut previous = session.start;
        for (index, a) in actions.iter().enumerate() {
            if a.at.units < previous.units || a.at.time_ms < previous.time_ms {
                return Err(SessionError::ActionsOutOfOrder { index });
            }
            previous = a.at;
        }
        let end = actions.last().map(|a| a.at);
        session.actions = actions;
        if let Some(end) = end {
            session.play_to(end);
        }
        Ok(session)
    }

    /// Sets up the run a trace file recorded: its scenario (kept in the trace) under its seed.
    /// A trace holds no actions beyond its scenario's timeline; the World plays it again exactly.
    pub fn from_trace(text: &str) -> Result<Session, SessionError> {
        let first = text
            .lines()
            .next()
            .ok_or_else(|| SessionError::Trace("the file is empty".into()))?;
        let header: TraceHeader =
            serde_json::from_str(first).map_err(|e| SessionError::Trace(format!("line 1: {e}")))?;
        if header.format != TRACE_FORMAT {
            return Err(SessionError::Trace(format!(
                "line 1, field `format`: `{}` is not `{TRACE_FORMAT}`",
                header.format
            )));
        }
        let file = format!("{} (from a trace)", header.scenario);
        let scenario = Scenario::parse(&file, &header.scenario_source)
            .map_err(|e| SessionError::Scenario(e.to_string()))?;
        Session::new(scenario, header.seed)
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

    /// The story so far.
    pub fn story(&self) -> Vec<StoryLine> {
        self.run.story_so_far()
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

    /// Plays forward to exactly `moment`: to its unit count, then its clock.
    pub fn play_to(&mut self, moment: Moment) {
        while self.run.units() < moment.units {
            if self.take_due(Instant(moment.time_ms)) {
                continue;
            }
            if !self.run.step_unit() {
                break;
            }
        }
        self.run.wait_until(Instant(moment.time_ms));
        self.take_due(Instant(moment.time_ms));
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
        self.play_to(moment.max(self.start));
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
