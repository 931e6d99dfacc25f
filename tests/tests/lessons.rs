//! The course: every shipped lesson run headless, taking each step's actions as "show me"
//! does, must see every step's check hold, so a lesson can never claim what the model does not
//! do. A lesson whose words mean nothing in its scenario is refused with its file, line and
//! field, and each lesson's step list is kept as a reviewed snapshot.

use gregor_lessons::{Lesson, SHIPPED};
use gregor_sim::lesson::{check, run};

fn shipped() -> Vec<Lesson> {
    gregor_lessons::shipped().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_lesson_holds_step_by_step_when_run_headless() {
    let lessons = shipped();
    assert!(
        lessons.len() >= 18,
        "the curriculum has {} lessons",
        lessons.len()
    );
    let mut failures = Vec::new();
    for lesson in &lessons {
        let checked = check(lesson).unwrap_or_else(|e| panic!("{e}"));
        let r = run(&checked).unwrap_or_else(|e| panic!("{}: {e}", lesson.id));
        assert_eq!(
            r.steps.len(),
            if r.ok {
                lesson.steps.len()
            } else {
                r.steps.len()
            }
        );
        if !r.ok {
            failures.push(format!("lesson {} ({}):\n{r}", lesson.number, lesson.id));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_course_is_numbered_in_order_with_distinct_ids() {
    let lessons = shipped();
    let numbers: Vec<u32> = lessons.iter().map(|l| l.number).collect();
    assert_eq!(numbers, (1..=lessons.len() as u32).collect::<Vec<_>>());
    let mut ids: Vec<&str> = lessons.iter().map(|l| l.id.as_str()).collect();
    gregor_core::sort::sort(&mut ids);
    ids.dedup();
    assert_eq!(ids.len(), lessons.len(), "lesson ids are distinct");
    for (s, l) in SHIPPED.iter().zip(&lessons) {
        assert!(
            s.file.contains(&format!("{:02}-{}", l.number, l.id)),
            "{} holds lesson {} ({})",
            s.file,
            l.number,
            l.id
        );
    }
}

#[test]
fn a_check_that_never_holds_fails_the_lesson_and_says_what_it_saw() {
    // The runner must be able to fail: the first lesson with its last check made impossible.
    let text = SHIPPED[0].text.replace(
        "lag of group readers is at most 5",
        "lag of group readers is at most 5 and records processed by c1 is at least 1000000",
    );
    let lesson = Lesson::parse("altered.toml", &text).unwrap();
    let r = run(&check(&lesson).unwrap()).unwrap();
    assert!(!r.ok);
    let last = r.steps.last().unwrap();
    assert_eq!(last.held_at, None);
    assert!(
        last.now
            .iter()
            .any(|n| n.starts_with("records processed by c1: ")),
        "{:?}",
        last.now
    );
}

#[test]
fn words_that_mean_nothing_in_the_scenario_name_the_file_line_and_field() {
    let base = SHIPPED[0].text;
    for (from, to, field, why) in [
        (
            "scenario = \"custom-1-1-1-1\"",
            "scenario = \"no-such-scenario\"",
            "scenario",
            "no scenario is called",
        ),
        (
            "actions = [\"start p1\"]",
            "actions = [\"start p9\"]",
            "step[1].actions[0]",
            "no producer or consumer is called `p9`",
        ),
        (
            "check = \"records acknowledged by p1 is at least 60\"",
            "check = \"records acknowledged by p1 is lots\"",
            "step[1].check",
            "not a whole number",
        ),
        (
            "check = \"records acknowledged by p1 is at least 60\"",
            "check = \"leader of orders/7 is broker 1\"",
            "step[1].check",
            "does not exist",
        ),
        (
            "check = \"records acknowledged by p1 is at least 60\"",
            "check = \"p1 saw TROUBLE\"",
            "step[1].check",
            "not a Kafka error name",
        ),
        (
            "check = \"records acknowledged by p1 is at least 60\"",
            "check = \"q7 saw OFFSET_OUT_OF_RANGE\"",
            "step[1].check",
            "no producer is called `q7`, and no consumer either",
        ),
        (
            "check = \"records acknowledged by p1 is at least 60\"",
            "check = \"segments of orders/4 is at least 2\"",
            "step[1].check",
            "does not exist",
        ),
        (
            "check = \"records acknowledged by p1 is at least 60\"",
            "check = \"the moon is full\"",
            "step[1].check",
            "not something a check can count",
        ),
    ] {
        assert!(base.contains(from), "{from}");
        let text = base.replace(from, to);
        let lesson = Lesson::parse("bad.toml", &text).unwrap();
        let e = check(&lesson).unwrap_err();
        let line = text
            .lines()
            .position(|l| l.contains(to.split('\n').next().unwrap()))
            .unwrap()
            + 1;
        assert_eq!((e.field.as_str(), e.line), (field, line), "{e}");
        assert!(e.message.contains(why), "{e}");
        assert!(
            e.to_string().starts_with(&format!("bad.toml:{line}:")),
            "{e}"
        );
    }
}

/// A lesson as its step list reads: what a reviewer checks when a lesson changes.
fn step_list(l: &Lesson) -> String {
    let mut out = format!(
        "Lesson {}: {} ({})\nscenario {} seed {}\nconcepts: {}\n",
        l.number,
        l.title,
        l.id,
        l.scenario.value,
        l.seed,
        l.concepts.join(", ")
    );
    for (i, s) in l.steps.iter().enumerate() {
        out.push_str(&format!(
            "{}. {}\n   do: {}\n",
            i + 1,
            s.title,
            s.instruction
        ));
        for a in &s.actions {
            out.push_str(&format!("   show me: {}\n", a.value));
        }
        out.push_str(&format!(
            "   done when: {} (within {} s)\n",
            s.check.value,
            s.within_ms / 1000
        ));
        for q in &s.questions {
            out.push_str(&format!("   question: {}\n", q.ask));
        }
    }
    out.push_str("remember:\n");
    for r in &l.remember {
        out.push_str(&format!("   - {r}\n"));
    }
    out
}

#[test]
fn each_lesson_s_step_list() {
    for l in shipped() {
        insta::assert_snapshot!(format!("lesson_{:02}_{}", l.number, l.id), step_list(&l));
    }
}
