//! Parses the shipped scenarios and lessons natively, at build time, into the compact bundle
//! the classroom decodes (see `gregor_sim::compiled`), so the browser never parses TOML.
//! A shipped file that does not parse stops the build with its file, line and field.

use std::path::PathBuf;

fn main() {
    // The scenarios and lessons are built into gregor-sim and gregor-lessons, this script's
    // dependencies: a change to them rebuilds those crates, which reruns this script.
    println!("cargo:rerun-if-changed=build.rs");
    let bundle = gregor_sim::compiled::Bundle::build().unwrap_or_else(|e| panic!("{e}"));
    let out_dir = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR");
    let out = PathBuf::from(out_dir).join("bundle.bin");
    std::fs::write(&out, bundle.encode())
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
