//! What the command-line tests share: running the built `gregor` and finding shipped scenarios.

// Each test file is its own crate and uses only part of this module.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs the `gregor` binary of this build with `args`.
pub fn gregor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gregor"))
        .args(args)
        .output()
        .expect("the gregor binary runs")
}

/// The path of a shipped scenario.
pub fn scenario(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(name)
        .display()
        .to_string()
}
