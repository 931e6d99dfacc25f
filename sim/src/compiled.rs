//! Scenarios and lessons in a compact binary form (postcard), for the browser classroom.
//!
//! The classroom's WebAssembly bundle has a size budget, and the TOML parser with the scenario
//! and lesson checks behind it was about a quarter of the bundle. So the classroom does not
//! parse TOML: `web/build.rs` parses every shipped scenario and lesson natively at build time
//! into a [`Bundle`] of scenarios, which the page carries, and a course of
//! [`CompiledLesson`]s, which it fetches when a learner opens the lessons; the page decodes
//! them, and a trace carries its scenario in this form too
//! ([`encode_scenario`], next to the TOML text people read). Decoding gives exactly the values
//! parsing gives (but for a shipped scenario's TOML text, which the bundle leaves out): postcard
//! keeps every number bit for bit, so a run in the browser is the run of the command line.
//! serde writes the form; [`decode`] reads it by hand, in a fraction of the code serde's derived
//! decoders put in the page.

use crate::lesson::{CheckedLesson, Condition};
use crate::library::{Custom, SHIPPED};
use crate::scenario::{Action, Scenario};
use gregor_lessons::Lesson;
use serde::Serialize;

pub mod decode;

/// The scenarios the classroom would otherwise parse: the shipped ones, and one custom cluster
/// to make the others from. (The lessons come apart: see [`build_lessons`].)
///
/// The shipped scenarios leave their TOML text (`source`) empty: the page never shows it, and
/// it was more than a third of the bundle. A trace the command line writes still carries it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bundle {
    /// Each shipped scenario by id, as parsed (without the classroom's clients).
    pub shipped: Vec<(String, Scenario)>,
    /// The default custom cluster, as parsed (see [`Custom::scenario_from`]).
    pub custom: Scenario,
}

/// A lesson as [`crate::lesson::check`] reads it, without its scenario (the bundle has it):
/// the page then needs no parser for checks.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CompiledLesson {
    /// The lesson as written.
    pub lesson: Lesson,
    /// Per step: its actions and its check.
    pub steps: Vec<(Vec<Action>, Condition)>,
}

impl Bundle {
    /// Parses every shipped scenario (natively, at build time).
    pub fn build() -> Result<Bundle, String> {
        let shipped = SHIPPED
            .iter()
            .map(|s| {
                let file = format!("scenarios/{}.toml", s.id);
                Scenario::parse(&file, s.source)
                    .map(|scenario| (s.id.to_string(), without_source(scenario)))
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<_, _>>()?;
        let custom = Custom::default();
        // [`Custom::scenario_from`] writes each custom cluster's own text.
        let custom = Scenario::parse(&custom.file(), &custom.source())
            .map(without_source)
            .map_err(|e| e.to_string())?;
        Ok(Bundle { shipped, custom })
    }

    /// The bytes the page carries.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("a bundle encodes")
    }

    /// Reads the bytes [`Bundle::encode`] wrote.
    pub fn decode(bytes: &[u8]) -> Result<Bundle, String> {
        decode::Reader::read_all(bytes)
            .map_err(|e| format!("the built-in scenarios do not read: {e}"))
    }

    /// The lessons with what their words mean, as [`crate::lesson::check`] gives them (each
    /// with its scenario as [`Bundle::scenario`] gives it).
    pub fn course(&self, lessons: &[CompiledLesson]) -> Result<Vec<CheckedLesson>, String> {
        lessons
            .iter()
            .map(|c| {
                Ok(CheckedLesson {
                    lesson: c.lesson.clone(),
                    scenario: self.scenario(&c.lesson.scenario.value)?,
                    steps: c.steps.clone(),
                })
            })
            .collect()
    }

    /// The scenario a link's id names, exactly as [`crate::library::scenario`] gives it, except
    /// that a shipped one has no TOML text.
    pub fn scenario(&self, id: &str) -> Result<Scenario, String> {
        let scenario = if let Some((_, s)) = self.shipped.iter().find(|(sid, _)| sid == id) {
            s.clone()
        } else if id.starts_with("custom-") {
            Custom::parse(id)?.scenario_from(&self.custom)
        } else {
            return Err(format!("no scenario is called `{id}`"));
        };
        Ok(scenario.with_classroom_clients())
    }
}

/// Checks every shipped lesson (natively, at build time): its actions and checks parsed
/// against its scenario.
pub fn build_lessons() -> Result<Vec<CompiledLesson>, String> {
    gregor_lessons::shipped()
        .map_err(|e| e.to_string())?
        .iter()
        .map(|lesson| {
            let checked = crate::lesson::check(lesson).map_err(|e| e.to_string())?;
            Ok(CompiledLesson {
                lesson: checked.lesson,
                steps: checked.steps,
            })
        })
        .collect()
}

/// The lessons' bytes, which the page fetches when they are wanted.
pub fn encode_lessons(lessons: &[CompiledLesson]) -> Vec<u8> {
    postcard::to_allocvec(lessons).expect("lessons encode")
}

/// Reads the bytes [`encode_lessons`] wrote.
pub fn decode_lessons(bytes: &[u8]) -> Result<Vec<CompiledLesson>, String> {
    decode::Reader::read_all(bytes).map_err(|e| format!("the lessons do not read: {e}"))
}

fn without_source(mut scenario: Scenario) -> Scenario {
    scenario.source = String::new();
    scenario
}

/// A scenario as text for a trace header: postcard bytes in hexadecimal.
pub fn encode_scenario(scenario: &Scenario) -> String {
    let bytes = postcard::to_allocvec(scenario).expect("a scenario encodes");
    let mut text = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        text.push(char::from(HEX[usize::from(b >> 4)]));
        text.push(char::from(HEX[usize::from(b & 15)]));
    }
    text
}

/// Reads what [`encode_scenario`] wrote.
pub fn decode_scenario(text: &str) -> Result<Scenario, String> {
    let digit = |c: u8| -> Result<u8, String> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            _ => Err(format!("`{}` is not a hexadecimal digit", char::from(c))),
        }
    };
    let text = text.as_bytes();
    if !text.len().is_multiple_of(2) {
        return Err("an odd number of hexadecimal digits".into());
    }
    let bytes = text
        .chunks(2)
        .map(|pair| Ok(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect::<Result<Vec<u8>, String>>()?;
    decode::Reader::read_all(&bytes).map_err(|e| format!("the scenario does not read: {e}"))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library;

    /// The bundle gives what parsing gives, for every shipped scenario (but its text) and every
    /// lesson, and survives its own encoding.
    #[test]
    fn the_bundle_gives_what_parsing_gives() {
        let bundle = Bundle::decode(&Bundle::build().unwrap().encode()).unwrap();
        let lessons = decode_lessons(&encode_lessons(&build_lessons().unwrap())).unwrap();
        for s in SHIPPED {
            let parsed = library::scenario(s.id).unwrap();
            let built = bundle.scenario(s.id).unwrap();
            assert!(
                built.source.is_empty() && !parsed.source.is_empty(),
                "{}",
                s.id
            );
            assert_eq!(built, without_source(parsed), "{}", s.id);
        }
        let course = bundle.course(&lessons).unwrap();
        let lessons = gregor_lessons::shipped().unwrap();
        assert_eq!(course.len(), lessons.len());
        for (built, lesson) in course.into_iter().zip(&lessons) {
            let checked = crate::lesson::check(lesson).unwrap();
            assert_eq!(
                built,
                // The scenario as the bundle gives it, which the loop above compares with
                // parsing.
                CheckedLesson {
                    scenario: bundle.scenario(&lesson.scenario.value).unwrap(),
                    ..checked
                },
                "{}",
                lesson.id
            );
        }
        assert_eq!(
            bundle.scenario("nope").unwrap_err(),
            library::scenario("nope").unwrap_err()
        );
        assert_eq!(
            bundle.scenario("custom-9-1-1-1").unwrap_err(),
            library::scenario("custom-9-1-1-1").unwrap_err()
        );
    }

    /// Every custom cluster made from the template equals its parsed source.
    #[test]
    fn every_custom_cluster_made_from_the_template_equals_its_parsed_source() {
        let template = Bundle::build().unwrap().custom;
        let mut shapes = 0;
        for b in 1..=5 {
            for p in 1..=8 {
                for r in 1..=b {
                    for m in 1..=r {
                        let id = format!("custom-{b}-{p}-{r}-{m}");
                        let c = Custom::parse(&id).unwrap();
                        let parsed = Scenario::parse(&c.file(), &c.source()).unwrap();
                        assert_eq!(c.scenario_from(&template), parsed, "{id}");
                        shapes += 1;
                    }
                }
            }
        }
        assert_eq!(shapes, 280);
    }

    /// A scenario with a swarm and float rates comes back bit for bit; bad text is an error.
    #[test]
    fn a_scenario_survives_a_trace_header() {
        let s = library::scenario("swarm-unsafe").unwrap();
        let text = encode_scenario(&s);
        assert!(text.bytes().all(|c| HEX.contains(&c)));
        assert_eq!(decode_scenario(&text).unwrap(), s);
        assert!(decode_scenario("0").unwrap_err().contains("odd"));
        assert!(decode_scenario("zz").unwrap_err().contains("hexadecimal"));
        assert!(decode_scenario(&text[..text.len() / 2]).is_err());
    }
}
