//! The clients: a producer (Kafka's `KafkaProducer` with its accumulator, sender, partitioner and
//! idempotence), a consumer (assign mode or in a group), a consume-transform-produce pipeline
//! made of both, plus the cluster metadata view they share.
//!
//! Clients are nodes like brokers: they run their workload from `handle_timeout`, so the same
//! seed gives the same sends on every driver.

pub mod connections;
pub mod consumer;
pub mod metadata;
pub mod pipeline;
pub mod producer;

/// The result of Kafka's `ExponentialBackoff(initial, 2, max, jitter)` for `attempts` previous
/// failures, with the jitter drawn from `rng`.
pub(crate) fn exponential_backoff(
    initial: crate::time::Duration,
    max: crate::time::Duration,
    attempts: u32,
    jitter_percent: u64,
    rng: &mut crate::rng::Rng,
) -> crate::time::Duration {
    let base = if max.0 <= initial.0 {
        initial.0
    } else {
        (initial.0 << attempts.min(20)).min(max.0)
    };
    let jitter = base * jitter_percent / 100;
    crate::time::Duration(base - jitter + rng.below(2 * jitter + 1))
}
