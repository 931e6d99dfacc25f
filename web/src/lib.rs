//! Gregor's classroom: a yew app, compiled to wasm, that drives a [`Session`] of the World
//! live and draws it, and the pure parts beneath it that are tested natively.
//!
//! The World knows nothing of the browser (yew's game-of-life pattern): [`view`] turns a
//! session into what a learner sees, [`share`] turns a session's scenario, seed and actions into
//! a link and back, and [`builtin`] holds the scenarios a learner can pick and the lessons,
//! parsed when the classroom is built (the page carries no TOML parser; [`library`], from the
//! simulator, describes the custom clusters). Only the `app` module, built for wasm32, touches yew and the
//! DOM.

pub mod builtin;
pub mod course;
pub mod share;
pub mod view;

#[cfg(target_arch = "wasm32")]
pub mod app;
#[cfg(target_arch = "wasm32")]
mod charts;

pub use gregor_sim::library;
pub use gregor_sim::session::Session;
