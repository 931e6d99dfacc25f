//! Gregor's lessons: the course material and its file format.
//!
//! A lesson is a TOML file in `lessons/content/` (the format is documented in
//! `lessons/README.md`): an id, a title, the concepts it teaches, the Kafka sources it cites,
//! the scenario it starts from, and steps. A step has prose, an instruction, the actions that
//! accomplish it (what "show me" does), a check that tells when the learner got there, and
//! optional questions. It ends with what to remember, in three lines.
//!
//! This crate reads the format and checks its shape, with errors that name the file, line and
//! field. What the words mean (the scenario, the actions in the scenario's action language, the
//! checks on a live World) is checked and run by `gregor_sim::lesson`, which depends on this
//! crate so that the `gregor` command can list and check the lessons.

use serde::{Deserialize, Serialize};
use std::fmt;
use toml::Spanned;

/// A value with where it was written, so a later check of its meaning can name the place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1.
    pub column: usize,
    /// The field, as a path (`step[2].check`).
    pub field: String,
}

/// A lesson file that cannot be used: where, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LessonError {
    /// The file (as given).
    pub file: String,
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1.
    pub column: usize,
    /// The field, as a path (`step[2].check`), or empty when the file as a whole is wrong.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl LessonError {
    /// An error at a located value.
    pub fn at<T>(file: &str, place: &Located<T>, message: impl Into<String>) -> LessonError {
        LessonError {
            file: file.to_string(),
            line: place.line,
            column: place.column,
            field: place.field.clone(),
            message: message.into(),
        }
    }
}

impl fmt::Display for LessonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for LessonError {}

/// A question the learner answers for themselves, then reveals the answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// The question.
    pub ask: String,
    /// Its answer.
    pub answer: String,
}

/// One step of a lesson.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// A short title.
    pub title: String,
    /// What the learner reads first.
    pub prose: String,
    /// What to do, in words ("crash the leader of orders/0").
    pub instruction: String,
    /// The actions that accomplish it, in the scenario's one-line action language: what "show
    /// me" takes, and what the test suite takes.
    pub actions: Vec<Located<String>>,
    /// The condition that tells when the learner got there, in the lessons' check language.
    pub check: Located<String>,
    /// How much virtual time the check may take to hold after the actions (default 60 s).
    pub within_ms: u64,
    /// Questions to think about.
    pub questions: Vec<Question>,
}

/// A lesson.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lesson {
    /// The file it came from.
    pub file: String,
    /// Its id, in links and in the learner's progress.
    pub id: String,
    /// Its place in the course, from 1.
    pub number: u32,
    /// Its title.
    pub title: String,
    /// The concepts it teaches.
    pub concepts: Vec<String>,
    /// The Kafka documentation, KIPs or sources it teaches from.
    pub sources: Vec<String>,
    /// The scenario it starts from: a shipped scenario's id or `custom-B-P-R-M`.
    pub scenario: Located<String>,
    /// The seed.
    pub seed: u64,
    /// What the lesson is about, read before the first step.
    pub intro: String,
    /// The steps.
    pub steps: Vec<Step>,
    /// What to remember, in three lines.
    pub remember: Vec<String>,
}

/// The default time a step's check may take to hold after its actions.
pub const DEFAULT_WITHIN_MS: u64 = 60_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLesson {
    id: Spanned<String>,
    number: Spanned<u32>,
    title: Spanned<String>,
    concepts: Spanned<Vec<String>>,
    sources: Spanned<Vec<String>>,
    scenario: Spanned<String>,
    seed: Option<u64>,
    intro: Spanned<String>,
    remember: Spanned<Vec<String>>,
    step: Spanned<Vec<RawStep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    title: Spanned<String>,
    prose: Spanned<String>,
    instruction: Spanned<String>,
    actions: Option<Vec<Spanned<String>>>,
    check: Spanned<String>,
    within: Option<Spanned<String>>,
    question: Option<Vec<RawQuestion>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuestion {
    ask: String,
    answer: String,
}

/// Reads a duration written as `500ms`, `30s` or `2m`.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, ""), |i| text.split_at(i));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (write `500ms`, `30s` or `2m`)"))?;
    match unit {
        "ms" => Ok(n),
        "s" => Ok(n * 1000),
        "m" => Ok(n * 60_000),
        _ => Err(format!(
            "`{text}` is not a duration (write `500ms`, `30s` or `2m`)"
        )),
    }
}

/// Where a byte offset of `text` is: line and column, from 1.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, column)
}

impl Lesson {
    /// Reads a lesson file's text and checks its shape.
    pub fn parse(file: &str, text: &str) -> Result<Lesson, LessonError> {
        let error = |offset: usize, field: &str, message: String| {
            let (line, column) = line_column(text, offset);
            LessonError {
                file: file.to_string(),
                line,
                column,
                field: field.to_string(),
                message,
            }
        };
        let raw: RawLesson = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            error(offset, "", e.message().to_string())
        })?;
        let located = |s: &Spanned<String>, field: String| {
            let (line, column) = line_column(text, s.span().start);
            Located {
                value: s.get_ref().trim().to_string(),
                line,
                column,
                field,
            }
        };
        let non_empty = |s: &Spanned<String>, field: &str| {
            if s.get_ref().trim().is_empty() {
                Err(error(s.span().start, field, "must not be empty".into()))
            } else {
                Ok(s.get_ref().trim().to_string())
            }
        };
        let id = non_empty(&raw.id, "id")?;
        if !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(error(
                raw.id.span().start,
                "id",
                format!("`{id}` must be lower-case letters, digits and dashes (it goes in links)"),
            ));
        }
        if *raw.number.get_ref() == 0 {
            return Err(error(
                raw.number.span().start,
                "number",
                "lessons are numbered from 1".into(),
            ));
        }
        if raw.concepts.get_ref().is_empty() {
            return Err(error(
                raw.concepts.span().start,
                "concepts",
                "name at least one concept the lesson teaches".into(),
            ));
        }
        if raw.sources.get_ref().is_empty() {
            return Err(error(
                raw.sources.span().start,
                "sources",
                "cite the Kafka documentation or KIP the lesson teaches".into(),
            ));
        }
        if raw.remember.get_ref().len() != 3 {
            return Err(error(
                raw.remember.span().start,
                "remember",
                format!(
                    "a lesson ends with three lines to remember, not {}",
                    raw.remember.get_ref().len()
                ),
            ));
        }
        if raw.step.get_ref().is_empty() {
            return Err(error(
                raw.step.span().start,
                "step",
                "a lesson has at least one step".into(),
            ));
        }
        let mut steps = Vec::new();
        for (i, s) in raw.step.get_ref().iter().enumerate() {
            let field = |f: &str| format!("step[{i}].{f}");
            let within_ms = match &s.within {
                None => DEFAULT_WITHIN_MS,
                Some(w) => parse_duration(w.get_ref())
                    .map_err(|m| error(w.span().start, &field("within"), m))?,
            };
            let actions = s
                .actions
                .iter()
                .flatten()
                .enumerate()
                .map(|(j, a)| located(a, format!("step[{i}].actions[{j}]")))
                .collect();
            steps.push(Step {
                title: non_empty(&s.title, &field("title"))?,
                prose: non_empty(&s.prose, &field("prose"))?,
                instruction: non_empty(&s.instruction, &field("instruction"))?,
                actions,
                check: located(&s.check, field("check")),
                within_ms,
                questions: s
                    .question
                    .iter()
                    .flatten()
                    .map(|q| Question {
                        ask: q.ask.trim().to_string(),
                        answer: q.answer.trim().to_string(),
                    })
                    .collect(),
            });
        }
        Ok(Lesson {
            file: file.to_string(),
            id,
            number: *raw.number.get_ref(),
            title: non_empty(&raw.title, "title")?,
            concepts: raw.concepts.get_ref().clone(),
            sources: raw.sources.get_ref().clone(),
            scenario: located(&raw.scenario, "scenario".into()),
            seed: raw.seed.unwrap_or(1),
            intro: non_empty(&raw.intro, "intro")?,
            steps,
            remember: raw.remember.get_ref().clone(),
        })
    }
}

/// A lesson file shipped with Gregor: its path and text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shipped {
    /// Its path in the repository.
    pub file: &'static str,
    /// Its text.
    pub text: &'static str,
}

macro_rules! shipped {
    ($($name:literal),* $(,)?) => {
        &[$(Shipped {
            file: concat!("lessons/content/", $name, ".toml"),
            text: include_str!(concat!("../content/", $name, ".toml")),
        }),*]
    };
}

/// The course, in order.
pub const SHIPPED: &[Shipped] = shipped![
    "01-why-a-log",
    "02-topics-partitions-offsets",
    "03-keys-and-ordering",
    "04-brokers-and-metadata",
    "05-replication",
    "06-isr-and-high-watermark",
    "07-acks",
    "08-min-insync-replicas",
    "09-leader-failover",
    "10-unclean-leader-election",
    "11-network-partitions",
    "12-consumer-groups",
    "13-rebalancing",
    "14-delivery-semantics",
    "15-idempotent-producer",
    "16-consumer-lag",
    "17-the-controller",
    "18-coordinator-and-offsets",
    "19-retention",
    "20-compaction",
    "21-transactions",
    "22-exactly-once",
    "23-delayed-endtxn",
];

/// Every shipped lesson, read; a shipped file that does not read is an error (the test suite
/// keeps that from happening).
pub fn shipped() -> Result<Vec<Lesson>, LessonError> {
    SHIPPED
        .iter()
        .map(|s| Lesson::parse(s.file, s.text))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "why-a-log"
number = 1
title = "Why a log"
concepts = ["log", "asynchronous messaging"]
sources = ["Kafka documentation, 1.2 Use cases"]
scenario = "custom-1-1-1-1"
intro = "A log keeps what was written."
remember = ["one", "two", "three"]

[[step]]
title = "Write"
prose = "Producers append."
instruction = "Send a record."
actions = ["send console-all key=a"]
check = "console-all acknowledged at least 1"
within = "5s"

[[step.question]]
ask = "Where did it go?"
answer = "To the end of the log."
"#;

    #[test]
    fn a_lesson_reads_with_the_places_of_what_is_checked_later() {
        let l = Lesson::parse("l.toml", GOOD).unwrap();
        assert_eq!(l.id, "why-a-log");
        assert_eq!(l.seed, 1);
        assert_eq!(l.scenario.value, "custom-1-1-1-1");
        assert_eq!(l.scenario.line, 7);
        let s = &l.steps[0];
        assert_eq!(s.within_ms, 5_000);
        assert_eq!(s.actions[0].value, "send console-all key=a");
        assert_eq!(
            (s.actions[0].line, s.actions[0].field.as_str()),
            (15, "step[0].actions[0]")
        );
        assert_eq!(
            (s.check.line, s.check.field.as_str()),
            (16, "step[0].check")
        );
        assert_eq!(s.questions[0].answer, "To the end of the log.");
    }

    #[test]
    fn a_bad_lesson_names_the_file_line_and_field() {
        for (from, to, line, field, why) in [
            (
                "remember = [\"one\", \"two\", \"three\"]",
                "remember = [\"one\"]",
                9,
                "remember",
                "three lines",
            ),
            (
                "within = \"5s\"",
                "within = \"soon\"",
                17,
                "step[0].within",
                "not a duration",
            ),
            (
                "id = \"why-a-log\"",
                "id = \"Why A Log\"",
                2,
                "id",
                "lower-case",
            ),
            ("number = 1", "number = 0", 3, "number", "from 1"),
            (
                "sources = [\"Kafka documentation, 1.2 Use cases\"]",
                "sources = []",
                6,
                "sources",
                "cite",
            ),
            (
                "prose = \"Producers append.\"",
                "prose = \"  \"",
                13,
                "step[0].prose",
                "must not be empty",
            ),
            (
                "within = \"5s\"",
                "within = \"5s\"\nwhen = 3",
                18,
                "",
                "unknown field `when`",
            ),
        ] {
            let text = GOOD.replace(from, to);
            let e = Lesson::parse("l.toml", &text).unwrap_err();
            assert_eq!((e.line, e.field.as_str()), (line, field), "{e}");
            assert!(e.message.contains(why), "{e}");
            assert!(e.to_string().starts_with(&format!("l.toml:{line}:")), "{e}");
        }
    }

    #[test]
    fn durations_read_as_milliseconds() {
        assert_eq!(parse_duration("500ms"), Ok(500));
        assert_eq!(parse_duration("30s"), Ok(30_000));
        assert_eq!(parse_duration("2m"), Ok(120_000));
        assert!(parse_duration("2h").is_err());
        assert!(parse_duration("s").is_err());
    }
}
