//! Checkers, kept apart from the model and from the faults: invariants after every step, and the
//! history oracle at the end of a run, with its consumer side.

pub mod delivery;
pub mod exactly_once;
pub mod forks;
pub mod history;
pub mod invariants;
pub mod ownership;
pub mod transactions;
