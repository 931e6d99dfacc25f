//! Parses the shipped scenarios and lessons natively, at build time, into the compact form the
//! classroom decodes (see `gregor_sim::compiled`), so the browser never parses TOML. A shipped
//! file that does not parse stops the build with its file, line and field.
//!
//! It writes:
//! - `scenarios.bin`, the scenarios, which every build embeds: the page needs them to start;
//! - `lessons.bin`, the lessons, which native builds embed;
//! - `lessons.zlib`, the lessons zlib-compressed (about a fifth of the size), which
//!   `cargo xtask bundle` copies beside the page; the page fetches it when a learner opens the
//!   lessons and inflates it with the browser's own `DecompressionStream`, so no decompressor
//!   is compiled into the page. The lessons' FNV-1a digest goes into the build as
//!   `GREGOR_LESSONS_FNV`, so that the page asks for these very lessons and knows them when it
//!   has them.

use std::path::{Path, PathBuf};

fn main() {
    // The scenarios and lessons are built into gregor-sim and gregor-lessons, this script's
    // dependencies: a change to them rebuilds those crates, which reruns this script.
    println!("cargo:rerun-if-changed=build.rs");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let scenarios = gregor_sim::compiled::Bundle::build().unwrap_or_else(|e| panic!("{e}"));
    write(&out_dir.join("scenarios.bin"), &scenarios.encode());
    let lessons = gregor_sim::compiled::build_lessons().unwrap_or_else(|e| panic!("{e}"));
    let bytes = gregor_sim::compiled::encode_lessons(&lessons);
    write_compressed(&out_dir.join("lessons.bin"), &bytes);
    println!(
        "cargo:rustc-env=GREGOR_LESSONS_FNV={:016x}",
        gregor_core::rng::fnv1a(&bytes)
    );
}

/// Writes `bytes` at `path`, and zlib-compressed beside it (`.zlib`). Zopfli finds a smaller
/// deflate stream than zlib's own levels (about 4% smaller here), in about a second; the
/// browser inflates either the same way.
fn write_compressed(path: &Path, bytes: &[u8]) {
    write(path, bytes);
    let mut zlib = Vec::new();
    zopfli::compress(
        zopfli::Options::default(),
        zopfli::Format::Zlib,
        bytes,
        &mut zlib,
    )
    .unwrap_or_else(|e| panic!("cannot compress {}: {e}", path.display()));
    write(&path.with_extension("zlib"), &zlib);
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
