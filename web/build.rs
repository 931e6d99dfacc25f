//! Parses the shipped scenarios and lessons natively, at build time, into the compact bundle
//! the classroom decodes (see `gregor_sim::compiled`), so the browser never parses TOML.
//! A shipped file that does not parse stops the build with its file, line and field.
//!
//! It writes the bundle twice: as it is (`bundle.bin`, which native builds embed) and
//! zlib-compressed (`bundle.zlib`, which `cargo xtask bundle` copies beside the page as
//! `builtin.zlib`; the page fetches it and inflates it with the browser's own
//! `DecompressionStream`). The compressed form is about a quarter of the size, and no
//! decompressor is compiled into the page. The bundle's FNV-1a digest goes into the build as
//! `GREGOR_BUILTIN_FNV`, so that the page asks for this very bundle and knows it when it has it.

use std::path::PathBuf;

fn main() {
    // The scenarios and lessons are built into gregor-sim and gregor-lessons, this script's
    // dependencies: a change to them rebuilds those crates, which reruns this script.
    println!("cargo:rerun-if-changed=build.rs");
    let bundle = gregor_sim::compiled::Bundle::build().unwrap_or_else(|e| panic!("{e}"));
    let out_dir = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR");
    let out = PathBuf::from(out_dir).join("bundle.bin");
    let bytes = bundle.encode();
    write(&out, &bytes);
    println!(
        "cargo:rustc-env=GREGOR_BUILTIN_FNV={:016x}",
        gregor_core::rng::fnv1a(&bytes)
    );
    // Zopfli finds a smaller deflate stream than zlib's own levels (27.9 KB against miniz's
    // 29.0 KB at its smallest level), in about a second for this bundle; the browser inflates
    // either the same way.
    let mut zlib = Vec::new();
    zopfli::compress(
        zopfli::Options::default(),
        zopfli::Format::Zlib,
        &bytes[..],
        &mut zlib,
    )
    .unwrap_or_else(|e| panic!("cannot compress the bundle: {e}"));
    write(&out.with_extension("zlib"), &zlib);
}

fn write(path: &std::path::Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
