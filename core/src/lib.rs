//! Gregor's Kafka model: brokers, the KRaft controller, producer and consumer clients, the
//! partitioner and the logs, as pure state machines.
//!
//! The core is sans-IO: no clock, no socket, no async, no unseeded randomness. Every node takes
//! inputs with the current virtual time and hands back messages to send, events and its next
//! deadline (see [`node`]). It builds for `wasm32-unknown-unknown`, so the same model runs under
//! the deterministic stepper, under madsim, and in the browser classroom.
//!
//! The rules follow Apache Kafka 4.0 in KRaft mode; `KAFKA.md` (the project's reference) and
//! `docs/kafka-source-notes.md` cite the Kafka sources each rule comes from.

pub mod broker;
pub mod bytes;
pub mod client;
pub mod config;
pub mod controller;
pub mod decimal;
pub mod error;
pub mod group;
pub mod ids;
pub mod json;
pub mod log;
pub mod map;
pub mod metadata;
pub mod node;
pub mod partitioner;
pub mod protocol;
pub mod record;
pub mod rng;
pub mod sort;
pub mod time;
pub mod txn;
