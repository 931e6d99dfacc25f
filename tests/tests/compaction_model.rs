//! Log compaction against Kafka's guarantees (KAFKA.md 6.3, the design doc's "Log Compaction
//! Guarantees"), over random histories of a compacted partition log: appends of keyed records
//! and tombstones in batches of one to three, the HW moving, time passing, and cleanings at
//! random moments (forced, whatever the dirty ratio, so that every history gets cleaned).
//!
//! After every cleaning:
//!
//! * offsets never change: every record left sits at the offset it was appended at, with the
//!   same key and value, and the log start and end stay where they were;
//! * nothing is reordered (offsets stay strictly increasing) and the segments still account for
//!   exactly the log's batches and bytes;
//! * the latest record of every key is still there, unless it is a tombstone (which goes
//!   `delete.retention.ms` after its first cleaning);
//! * a record is gone only if a later record of its key was appended before the cleaning, or it
//!   is a tombstone whose horizon had passed;
//! * nothing at or above the cleanable section's end changed.

use gregor_core::bytes::Bytes;
use gregor_core::config::{CleanupPolicy, TopicConfig};
use gregor_core::ids::{LeaderEpoch, Offset};
use gregor_core::log::PartitionLog;
use gregor_core::record::Record;
use gregor_core::time::{Duration, Instant};
use gregor_tests::property::Property;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// How often the interesting cases came up over the whole property, so that it cannot pass by
/// never reaching them.
static REPLACED: AtomicU64 = AtomicU64::new(0);
static EXPIRED: AtomicU64 = AtomicU64::new(0);

/// One thing that happens to the log.
#[derive(Clone, Debug)]
enum Op {
    /// A batch of `(key, value or tombstone)` appended as leader.
    Append(Vec<(u8, Option<u8>)>),
    /// The HW moves to this share (out of 4) of the way from where it is to the log end.
    Hw(u8),
    /// Time passes, in seconds.
    Wait(u8),
    /// A cleaning now.
    Clean,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec((0u8..6, prop::option::weighted(0.85, 0u8..100)), 1..4)
            .prop_map(Op::Append),
        2 => (1u8..=4).prop_map(Op::Hw),
        1 => (1u8..60).prop_map(Op::Wait),
        2 => Just(Op::Clean),
    ]
}

/// What was appended at each offset: key and value.
type Appended = BTreeMap<u64, (u8, Option<u8>)>;

fn contents(log: &PartitionLog) -> BTreeMap<u64, (u8, Option<u8>)> {
    let mut out = BTreeMap::new();
    for b in log.batches() {
        for (o, r) in b.records_with_offsets() {
            let key = r.key.as_ref().expect("keyed").as_slice()[0];
            let value = r.value.as_ref().map(|v| v.as_slice()[0]);
            assert!(out.insert(o.0, (key, value)).is_none(), "offset {o} twice");
        }
    }
    out
}

fn check(log: &PartitionLog) {
    let sizes: u64 = log.batches().iter().map(|b| b.size_in_bytes()).sum();
    assert_eq!(log.size_in_bytes(), sizes, "segment bytes");
    let counted: usize = log.segments().iter().map(|s| s.batches).sum();
    assert_eq!(counted, log.batches().len(), "segment batch counts");
    assert!(
        log.segments()
            .windows(2)
            .all(|w| w[0].base_offset < w[1].base_offset)
    );
    assert!(
        log.batches()
            .windows(2)
            .all(|w| w[0].next_offset() <= w[1].base_offset),
        "batches overlap or go back"
    );
}

fn run(ops: &[Op], delete_retention: u64) {
    let config = TopicConfig {
        cleanup_policy: CleanupPolicy::COMPACT,
        segment_bytes: 300,
        delete_retention_ms: Duration(delete_retention),
        ..TopicConfig::default()
    };
    let mut log = PartitionLog::with_config(&config);
    let mut appended: Appended = BTreeMap::new();
    let mut now = 1_000u64;
    // Offsets of tombstones and the time of the first cleaning that could see them.
    let mut first_cleaned: BTreeMap<u64, u64> = BTreeMap::new();
    for op in ops {
        match op {
            Op::Append(recs) => {
                let records: Arc<[Record]> = recs
                    .iter()
                    .map(|(k, v)| Record {
                        key: Some(Bytes::from(vec![*k])),
                        value: v.map(|v| Bytes::from(vec![v])),
                        timestamp: Instant(now),
                    })
                    .collect();
                let base = log.log_end_offset().0;
                log.append_as_leader(records, None, LeaderEpoch(0))
                    .expect("appended");
                for (i, r) in recs.iter().enumerate() {
                    appended.insert(base + i as u64, *r);
                }
            }
            Op::Hw(share) => {
                let (hw, leo) = (log.high_watermark().0, log.log_end_offset().0);
                log.set_high_watermark(Offset(hw + (leo - hw) * *share as u64 / 4));
            }
            Op::Wait(s) => now += *s as u64 * 1000,
            Op::Clean => {
                let before = contents(&log);
                let (start, end) = (log.log_start_offset(), log.log_end_offset());
                let Some(ltc) = log.to_clean(Instant(now)) else {
                    continue;
                };
                let upper = ltc.first_uncleanable_offset.0;
                let c = log.clean(Instant(now), &ltc);
                REPLACED.fetch_add(c.records_removed, Ordering::Relaxed);
                EXPIRED.fetch_add(c.tombstones_removed, Ordering::Relaxed);
                let after = contents(&log);
                check(&log);
                assert_eq!((log.log_start_offset(), log.log_end_offset()), (start, end));
                for (o, r) in &after {
                    assert_eq!(appended.get(o), Some(r), "offset {o} holds another record");
                }
                for (o, r) in &before {
                    if *o >= upper {
                        assert_eq!(after.get(o), Some(r), "offset {o} above {upper} changed");
                    }
                    if r.1.is_none() && *o < upper {
                        first_cleaned.entry(*o).or_insert(now);
                    }
                    if after.contains_key(o) {
                        continue;
                    }
                    let replaced = appended.range(o + 1..).any(|(_, later)| later.0 == r.0);
                    let expired = r.1.is_none()
                        && first_cleaned
                            .get(o)
                            .is_some_and(|&t| t + delete_retention <= now && t < now);
                    assert!(
                        replaced || expired,
                        "offset {o} ({r:?}) removed with no later record of its key and no passed horizon"
                    );
                }
                let mut latest: BTreeMap<u8, (u64, Option<u8>)> = BTreeMap::new();
                for (o, (k, v)) in &appended {
                    latest.insert(*k, (*o, *v));
                }
                for (k, (o, v)) in latest {
                    if v.is_some() {
                        assert!(
                            after.contains_key(&o),
                            "key {k}'s latest record at {o} is gone"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn compaction_keeps_offsets_order_and_the_latest_record_of_every_key() {
    let mut runner = Property::new(
        "compaction_keeps_offsets_order_and_the_latest_record_of_every_key",
        file!(),
    )
    .cases(256)
    .runner();
    let strategy = (prop::collection::vec(op(), 1..80), 0u64..30_000);
    let result = runner.run(&strategy, |(ops, delete_retention)| {
        run(&ops, delete_retention);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    for (what, counter) in [
        ("records removed for a later record of their key", &REPLACED),
        ("tombstones removed after their horizon", &EXPIRED),
    ] {
        assert!(
            counter.load(Ordering::Relaxed) > 0,
            "no history reached {what}: the generated histories miss part of the cleaner"
        );
    }
}
