//! Gregor's classroom: a yew app, compiled to wasm, that drives a [`Session`] of the World
//! live and draws it, and the pure parts beneath it that are tested natively.
//!
//! The World knows nothing of the browser (yew's game-of-life pattern): [`view`] turns a
//! session into what a learner sees, [`share`] turns a session's scenario, seed and actions into
//! a link and back, and [`library`] (from the simulator, which the lessons share) holds the
//! scenarios a learner can pick. Only the `app` module, built for wasm32, touches yew and the
//! DOM.

pub mod course;
pub mod share;
pub mod view;

#[cfg(target_arch = "wasm32")]
pub mod app;
#[cfg(target_arch = "wasm32")]
mod charts;

pub use gregor_sim::library;
pub use gregor_sim::session::Session;
