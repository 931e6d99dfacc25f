//! The scenarios and lessons built into the classroom, parsed at build time by `build.rs` (see
//! [`gregor_sim::compiled`]): the page decodes them instead of parsing TOML, which keeps the
//! TOML parser and the scenario checks out of the WebAssembly bundle.

use gregor_lessons::Lesson;
use gregor_sim::compiled::Bundle;
use gregor_sim::scenario::Scenario;
use std::sync::OnceLock;

static BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bundle.bin"));

fn bundle() -> &'static Bundle {
    static BUNDLE: OnceLock<Bundle> = OnceLock::new();
    // The bytes were written by this very build from the same types, so they always read.
    BUNDLE.get_or_init(|| Bundle::decode(BYTES).expect("the built-in bundle reads"))
}

/// The scenario a link's id names (a shipped one or `custom-B-P-R-M`), with the classroom's
/// clients, exactly as [`gregor_sim::library::scenario`] parses it.
pub fn scenario(id: &str) -> Result<Scenario, String> {
    bundle().scenario(id)
}

/// The shipped scenarios' ids, the default first.
pub fn shipped_ids() -> impl Iterator<Item = &'static str> {
    bundle().shipped.iter().map(|(id, _)| id.as_str())
}

/// The shipped lessons.
pub fn lessons() -> &'static [Lesson] {
    &bundle().lessons
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The classroom's scenarios and lessons are the command line's, shipped and custom.
    #[test]
    fn the_built_in_material_is_what_the_files_say() {
        let ids: Vec<&str> = shipped_ids().collect();
        let files: Vec<&str> = gregor_sim::library::SHIPPED.iter().map(|s| s.id).collect();
        assert_eq!(ids, files);
        for id in ids.into_iter().chain(["custom-1-1-1-1", "custom-5-8-3-2"]) {
            assert_eq!(scenario(id), gregor_sim::library::scenario(id), "{id}");
        }
        assert_eq!(lessons(), gregor_lessons::shipped().unwrap());
    }
}
