//! Gregor's lessons: the course material (prose, a scenario, steps with checks) and its loader.
//!
//! Lessons start from the same scenario files as `gregor run` (see `gregor_sim::scenario`), so
//! a lesson's claim about Kafka is checked by the same runner and checkers. The lesson format,
//! the loader and the curriculum are built on top of the classroom; until then this crate holds
//! only the place where the course will live.
