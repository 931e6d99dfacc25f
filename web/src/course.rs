//! The lessons in the classroom: the course (every shipped lesson, its meaning checked), the
//! lesson a learner follows (its current step, and which steps' checks have held), and the
//! learner's progress, kept in the browser's local storage as a short text.
//!
//! Pure and tested natively; the app draws it in a side panel and evaluates the current step's
//! check on the live session after every update.

use gregor_core::map::{VecMap, VecSet};
use gregor_lessons::Lesson;
use gregor_sim::lesson::{Baseline, CheckedLesson, Condition, Context};
use gregor_sim::live::LiveTally;
use gregor_sim::session::Session;

/// Every shipped lesson, with what its words mean, checked and parsed at build time; `None`
/// while the page has not loaded the lessons yet (native builds have them at once).
pub fn course() -> Option<Result<Vec<CheckedLesson>, String>> {
    crate::builtin::course()
}

/// The steps each lesson's learner has done, by lesson id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress(pub VecMap<String, VecSet<usize>>);

impl Progress {
    /// The text kept in local storage: `why-a-log:0,1,2;acks:0`.
    pub fn encode(&self) -> String {
        self.0
            .iter()
            .filter(|(_, steps)| !steps.is_empty())
            .map(|(id, steps)| {
                let steps: Vec<String> = steps.iter().map(ToString::to_string).collect();
                format!("{id}:{}", steps.join(","))
            })
            .collect::<Vec<_>>()
            .join(";")
    }

    /// Reads the stored text; what does not read (an older or edited store) is dropped, never
    /// an error a learner has to deal with.
    pub fn decode(text: &str) -> Progress {
        let mut progress = VecMap::new();
        for item in text.split(';') {
            let Some((id, steps)) = item.split_once(':') else {
                continue;
            };
            let steps: VecSet<usize> = steps.split(',').filter_map(|s| s.parse().ok()).collect();
            if !id.is_empty() && !steps.is_empty() {
                progress.insert(id.to_string(), steps);
            }
        }
        Progress(progress)
    }

    /// Steps done of a lesson.
    pub fn done(&self, id: &str) -> usize {
        self.0.get(id).map_or(0, VecSet::len)
    }

    /// Marks a step done.
    pub fn mark(&mut self, id: &str, step: usize) {
        self.0.entry(id.to_string()).or_default().insert(step);
    }

    /// Whether a step is done.
    pub fn is_done(&self, id: &str, step: usize) -> bool {
        self.0.get(id).is_some_and(|s| s.contains(&step))
    }
}

/// The lesson a learner follows.
#[derive(Clone, Debug)]
pub struct Tutor {
    /// Which lesson of the course.
    pub lesson: usize,
    /// The current step.
    pub step: usize,
    /// What the current step's growths count from: read the first time the step is looked at.
    pub baseline: Option<Baseline>,
}

/// Where the current step stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepStatus {
    /// Whether its check holds now.
    pub holds: bool,
    /// The numbers the check compares, as they are now.
    pub now: Vec<String>,
}

impl Tutor {
    /// The lesson followed.
    pub fn lesson<'c>(&self, course: &'c [CheckedLesson]) -> &'c Lesson {
        &course[self.lesson].lesson
    }

    /// The current step's check.
    pub fn condition<'c>(&self, course: &'c [CheckedLesson]) -> Option<&'c Condition> {
        course[self.lesson].steps.get(self.step).map(|(_, c)| c)
    }

    /// A tutor at the first step of a lesson.
    pub fn new(lesson: usize, step: usize) -> Tutor {
        Tutor {
            lesson,
            step,
            baseline: None,
        }
    }

    /// Moves to another step; its growths count from when it is next looked at.
    pub fn go(&mut self, step: usize) {
        self.step = step;
        self.baseline = None;
    }

    /// Evaluates the current step's check on the session; when it holds, the step is marked
    /// done in `progress` (returns whether that is new).
    pub fn observe(
        &mut self,
        course: &[CheckedLesson],
        session: &Session,
        live: &LiveTally,
        progress: &mut Progress,
    ) -> (StepStatus, bool) {
        let Some(condition) = self.condition(course) else {
            return (
                StepStatus {
                    holds: false,
                    now: Vec::new(),
                },
                false,
            );
        };
        let cx = Context::of(session, live);
        let baseline = self
            .baseline
            .get_or_insert_with(|| condition.baseline(&cx))
            .clone();
        let holds = condition.holds(&cx, &baseline);
        let id = &self.lesson(course).id;
        let new = holds && !progress.is_done(id, self.step);
        if new {
            progress.mark(id, self.step);
        }
        let now = if holds {
            Vec::new()
        } else {
            condition.now(&cx, &baseline)
        };
        (StepStatus { holds, now }, new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gregor_core::time::Instant;

    #[test]
    fn progress_reads_back_what_it_writes_and_drops_what_does_not_read() {
        let mut p = Progress::default();
        p.mark("why-a-log", 0);
        p.mark("why-a-log", 2);
        p.mark("acks", 1);
        assert_eq!(p.encode(), "acks:1;why-a-log:0,2");
        assert_eq!(Progress::decode(&p.encode()), p);
        assert_eq!(p.done("why-a-log"), 2);
        let odd = Progress::decode("why-a-log:0,x,1;garbage;:3;acks:");
        assert_eq!(odd.encode(), "why-a-log:0,1");
    }

    #[test]
    fn every_shipped_lesson_means_something_in_its_scenario() {
        let course = course().unwrap().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(course.len(), gregor_lessons::SHIPPED.len());
    }

    #[test]
    fn a_step_is_marked_done_once_when_its_check_holds() {
        let course = course().unwrap().unwrap();
        let mut tutor = Tutor::new(0, 0);
        let mut session = Session::new(course[0].scenario.clone(), course[0].lesson.seed).unwrap();
        let mut live = LiveTally::default();
        let mut progress = Progress::default();
        live.update(session.world(), session.scenario());
        let (status, new) = tutor.observe(&course, &session, &live, &mut progress);
        assert!(!status.holds && !new);
        assert!(!status.now.is_empty(), "a count to watch: {status:?}");
        for a in &course[0].steps[0].0 {
            session.act(a.clone());
        }
        let t = session.moment().time_ms;
        session.play_until(Instant(t + course[0].lesson.steps[0].within_ms));
        live.update(session.world(), session.scenario());
        let (status, new) = tutor.observe(&course, &session, &live, &mut progress);
        assert!(status.holds && new);
        assert!(progress.is_done(&course[0].lesson.id, 0));
        let (_, again) = tutor.observe(&course, &session, &live, &mut progress);
        assert!(!again, "marked once");
    }
}
