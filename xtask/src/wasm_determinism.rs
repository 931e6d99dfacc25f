//! `cargo xtask test`'s native-versus-wasm determinism check: the World compiled to
//! `wasm32-unknown-unknown` must give, for every shipped scenario and seed, the same trace
//! hash as the native build (DESIGN.md, "Budgets").
//!
//! It builds the `gregor-wasm-determinism` library for wasm32, binds it for Node with the
//! wasm-bindgen CLI at the version `Cargo.lock` pins (installed like the classroom's, see
//! `classroom.rs`), and runs the crate's native binary, which runs both sides and compares
//! them run by run. Node comes from the system, installed with apt when missing and possible.

use crate::{output, step};

/// Where the module bound for Node goes.
const MODULE_DIR: &str = "target/wasm-determinism";
/// The wasm the build produces.
const WASM: &str = "target/wasm32-unknown-unknown/release/gregor_wasm_determinism.wasm";

/// Node from the system, installed with apt when missing and possible.
fn node() -> bool {
    if output("node", &["--version"]).is_some() {
        return true;
    }
    if output("apt-get", &["--version"]).is_none() {
        eprintln!("Node.js is missing: install Debian's `nodejs` (apt-get install nodejs)");
        return false;
    }
    let _ = step(
        "update the package lists",
        "apt-get",
        &["update", "-qq"],
        &[],
    );
    step(
        "install Node.js",
        "apt-get",
        &["install", "-y", "-qq", "--no-install-recommends", "nodejs"],
        &[("DEBIAN_FRONTEND", "noninteractive")],
    )
}

/// Builds the wasm module, binds it for Node and compares every shipped scenario's runs on
/// both targets; returns whether every run was the same.
pub fn check(cargo: &str) -> bool {
    let Some(bindgen) = crate::classroom::wasm_bindgen(cargo) else {
        return false;
    };
    node()
        && step(
            "build the World for wasm32 (determinism check)",
            cargo,
            &[
                "build",
                "-p",
                "gregor-wasm-determinism",
                "--lib",
                "--target",
                "wasm32-unknown-unknown",
                "--release",
            ],
            &[],
        )
        && step(
            "bind it for Node",
            &bindgen,
            &[
                "--target",
                "nodejs",
                "--no-typescript",
                "--out-dir",
                MODULE_DIR,
                WASM,
            ],
            &[],
        )
        && step(
            "native and wasm32 runs give the same trace hashes",
            cargo,
            &[
                "run",
                "--quiet",
                "--release",
                "-p",
                "gregor-wasm-determinism",
                "--",
                MODULE_DIR,
            ],
            &[],
        )
}
