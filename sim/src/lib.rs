//! The world around Gregor's Kafka model: the deterministic stepper ([`world::World`]), the
//! network and storage faults, scenario files and their runner, the checkers (per-step
//! invariants and the end-of-run history oracle), traces and their replay, and the `gregor`
//! command's building blocks.
//!
//! Nothing here reads a clock or draws from an unseeded generator: one seed, one run.

pub mod assign;
pub mod checker;
pub mod classroom;
pub mod cluster;
pub mod compiled;
pub mod describe;
pub mod digest;
pub mod driver;
pub mod groups;
pub mod html;
pub mod lesson;
pub mod library;
pub mod live;
#[cfg(madsim)]
pub mod madsim_driver;
pub mod metrics;
pub mod network;
pub mod nodes;
pub mod replay;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod session;
pub mod swarm;
pub mod sweep;
pub mod trace;
pub mod world;
