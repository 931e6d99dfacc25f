//! Checkers, kept apart from the model and from the faults: invariants after every step, and the
//! history oracle at the end of a run.

pub mod history;
pub mod invariants;
