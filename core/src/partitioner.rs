//! Kafka's default partitioner, bit-exact (KAFKA.md 1).
//!
//! Keyed records go to `toPositive(murmur2(serializedKey)) % numPartitions`, where `toPositive` is
//! a mask (`h & 0x7fffffff`, not `abs`) and `numPartitions` counts every partition of the topic,
//! including leaderless ones. A null key is not hashed; an empty key is. Keyless records use the
//! built-in "strictly uniform sticky" logic of KIP-794 (`BuiltInPartitioner.java`): stay on one
//! partition until about `batch.size` bytes went there, then draw the next one, weighted by how
//! short each partition's queue is when adaptive partitioning is on.

use crate::rng::Rng;

/// `Utils.murmur2`: 32-bit MurmurHash2 with Kafka's seed, over little-endian 4-byte words, with
/// Java's wrapping `int` arithmetic and unsigned shifts. Returns the signed value Java returns.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len();
    let mut h: u32 = SEED ^ (length as u32);
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for chunk in chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    // The tail falls through from 3 to 1, and only a non-empty tail multiplies by m.
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// `Utils.toPositive`: clears the sign bit. It is not `Math.abs` (KAFKA.md 0, item 1).
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition of a serialized key: `toPositive(murmur2(key)) % numPartitions`.
///
/// # Panics
/// If `num_partitions` is 0; a topic always has at least one partition.
pub fn partition_for_key(key: &[u8], num_partitions: u32) -> u32 {
    assert!(num_partitions > 0, "a topic has at least one partition");
    (to_positive(murmur2(key)) as u32) % num_partitions
}

/// The size in bytes of an unsigned varint.
fn varint_unsigned_size(mut v: u64) -> u64 {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// The size of a zig-zag varint, as Kafka's `ByteUtils.sizeOfVarint`/`sizeOfVarlong` compute it.
fn varlong_size(v: i64) -> u64 {
    varint_unsigned_size(((v << 1) ^ (v >> 63)) as u64)
}

/// The bytes a record takes in a v2 record batch (`DefaultRecord.sizeInBytes`), with no headers.
pub fn record_size_in_bytes(
    offset_delta: u64,
    timestamp_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> u64 {
    let field = |b: Option<&[u8]>| match b {
        None => 1,
        Some(b) => varlong_size(b.len() as i64) + b.len() as u64,
    };
    let body = 1 // attributes
        + varlong_size(timestamp_delta)
        + varlong_size(offset_delta as i64)
        + field(key)
        + field(value)
        + 1; // header count 0
    varlong_size(body as i64) + body
}

/// The fixed overhead of a v2 record batch (`DefaultRecordBatch.RECORD_BATCH_OVERHEAD`).
pub const RECORD_BATCH_OVERHEAD: u64 = 61;

/// What the sticky partitioner needs to know about one partition when it draws a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionLoad {
    /// The partition number.
    pub partition: u32,
    /// Whether the partition has a leader (Kafka's "available" partitions).
    pub available: bool,
    /// How many batches wait in the producer's queue for this partition.
    pub queue_size: u64,
}

/// The built-in sticky partitioner of one topic (KIP-794, `BuiltInPartitioner.java`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StickyPartitioner {
    current: Option<u32>,
    produced_bytes: u64,
}

impl StickyPartitioner {
    /// The partition keyless records go to now, drawing one if none is chosen yet.
    pub fn partition(&mut self, loads: &[PartitionLoad], adaptive: bool, rng: &mut Rng) -> u32 {
        match self.current {
            Some(p) => p,
            None => {
                let p = next_partition(loads, adaptive, rng);
                self.current = Some(p);
                self.produced_bytes = 0;
                p
            }
        }
    }

    /// Records that `appended_bytes` went to the sticky partition, and drops the choice when
    /// it has taken `batch.size` bytes and switching is allowed (the partition's last batch is
    /// full or sent), or `2 * batch.size` bytes in any case (`updatePartitionInfo`).
    pub fn record_append(&mut self, appended_bytes: u64, batch_size: u64, enable_switch: bool) {
        self.produced_bytes += appended_bytes;
        let sticky = batch_size.max(1);
        if self.produced_bytes >= sticky * 2 || (self.produced_bytes >= sticky && enable_switch) {
            self.current = None;
        }
    }

    /// The current sticky partition, if one is chosen.
    pub fn current(&self) -> Option<u32> {
        self.current
    }
}

/// `BuiltInPartitioner.nextPartition`: a uniform draw among available partitions (all
/// partitions when none is available), or with adaptive partitioning a draw weighted by
/// `(maxQueue + 1) - queueSize` over the available partitions. The adaptive table is skipped
/// when fewer than two partitions are known or when every queue is equal and none is excluded
/// (`updatePartitionLoadStats`).
fn next_partition(loads: &[PartitionLoad], adaptive: bool, rng: &mut Rng) -> u32 {
    let random = (rng.next_u64() as u32 & 0x7fff_ffff) as u64;
    let available: Vec<&PartitionLoad> = loads.iter().filter(|l| l.available).collect();
    if adaptive && loads.len() >= 2 && !available.is_empty() {
        let max = available.iter().map(|l| l.queue_size).max().unwrap_or(0);
        let all_equal = available
            .iter()
            .all(|l| l.queue_size == available[0].queue_size);
        if !(all_equal && available.len() == loads.len()) {
            let mut cumulative = Vec::with_capacity(available.len());
            let mut sum = 0;
            for l in &available {
                sum += max + 1 - l.queue_size;
                cumulative.push(sum);
            }
            let weighted = random % sum;
            // Arrays.binarySearch then `abs(result + 1)`: the first entry greater than the draw.
            let index = cumulative.partition_point(|&c| c <= weighted);
            return available[index].partition;
        }
    }
    if available.is_empty() {
        (random % loads.len().max(1) as u64) as u32
    } else {
        available[(random % available.len() as u64) as usize].partition
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafkas_utils_test() {
        // UtilsTest.testMurmur2 (KAFKA.md 1.3a).
        let cases: &[(&[u8], i32)] = &[
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107),
        ];
        for (input, expected) in cases {
            assert_eq!(
                murmur2(input),
                *expected,
                "murmur2({:?})",
                String::from_utf8_lossy(input)
            );
        }
        assert_eq!(
            murmur2(b""),
            275646681,
            "the empty key is hashed (KAFKA.md 1.2)"
        );
    }

    #[test]
    fn to_positive_is_a_mask_not_abs() {
        assert_eq!(to_positive(-973932308), 1173551340);
        assert_eq!(to_positive(i32::MIN), 0);
        // Key "21" on 3 partitions is partition 0; abs() would give 2 (KAFKA.md 0, item 1).
        assert_eq!(partition_for_key(b"21", 3), 0);
        assert_eq!((-973932308i32).unsigned_abs() % 3, 2);
    }

    #[test]
    fn record_size_follows_default_record() {
        // attributes 1 + ts delta 1 + offset delta 1 + key (1 + 5) + value (1 + 5) + headers 1
        // = 16 body bytes, plus 1 byte of length.
        assert_eq!(
            record_size_in_bytes(0, 0, Some(b"key-1"), Some(b"value")),
            17
        );
        assert_eq!(record_size_in_bytes(0, 0, None, Some(b"value")), 12);
        // Offset delta 64 needs two zig-zag bytes.
        assert_eq!(record_size_in_bytes(64, 0, None, Some(b"value")), 13);
    }

    #[test]
    fn sticky_partition_holds_until_batch_size_bytes_then_switches() {
        // BuiltInPartitionerTest.testStickyPartitioning: batch size 3, three 1-byte appends.
        let loads: Vec<PartitionLoad> = (0..3)
            .map(|p| PartitionLoad {
                partition: p,
                available: true,
                queue_size: 0,
            })
            .collect();
        let mut rng = Rng::new(1);
        let mut sticky = StickyPartitioner::default();
        let first = sticky.partition(&loads, true, &mut rng);
        sticky.record_append(1, 3, true);
        assert_eq!(sticky.partition(&loads, true, &mut rng), first);
        sticky.record_append(1, 3, true);
        assert_eq!(sticky.partition(&loads, true, &mut rng), first);
        sticky.record_append(1, 3, true);
        assert_eq!(sticky.current(), None, "the third byte reaches batch.size");
        // Without the switch enabled, only twice the batch size forces a switch.
        let mut sticky = StickyPartitioner::default();
        sticky.partition(&loads, true, &mut rng);
        sticky.record_append(5, 3, false);
        assert!(sticky.current().is_some());
        sticky.record_append(1, 3, false);
        assert_eq!(sticky.current(), None);
    }

    #[test]
    fn single_partition_topic_always_gets_partition_zero() {
        let loads = [PartitionLoad {
            partition: 0,
            available: true,
            queue_size: 4,
        }];
        let mut rng = Rng::new(9);
        for _ in 0..20 {
            assert_eq!(next_partition(&loads, true, &mut rng), 0);
        }
    }

    #[test]
    fn adaptive_draw_follows_the_cumulative_table_from_the_kip() {
        // Queue sizes 0 3 1 give the running sums 4 5 8: draws 0-3 pick index 0, 4 picks
        // index 1, 5-7 pick index 2 (KAFKA.md 1.4). Count picks over many draws.
        let loads: Vec<PartitionLoad> = [0, 3, 1]
            .iter()
            .enumerate()
            .map(|(p, &q)| PartitionLoad {
                partition: p as u32,
                available: true,
                queue_size: q,
            })
            .collect();
        let mut rng = Rng::new(3);
        let mut counts = [0u32; 3];
        for _ in 0..8000 {
            counts[next_partition(&loads, true, &mut rng) as usize] += 1;
        }
        // Expected shares 4/8, 1/8, 3/8.
        assert!((3700..4300).contains(&counts[0]), "{counts:?}");
        assert!((800..1200).contains(&counts[1]), "{counts:?}");
        assert!((2700..3300).contains(&counts[2]), "{counts:?}");
    }

    #[test]
    fn unavailable_partitions_are_skipped_unless_none_is_available() {
        let mut loads: Vec<PartitionLoad> = (0..3)
            .map(|p| PartitionLoad {
                partition: p,
                available: p == 2,
                queue_size: 0,
            })
            .collect();
        let mut rng = Rng::new(5);
        for _ in 0..50 {
            assert_eq!(next_partition(&loads, false, &mut rng), 2);
        }
        loads[2].available = false;
        let picks: std::collections::BTreeSet<u32> = (0..200)
            .map(|_| next_partition(&loads, false, &mut rng))
            .collect();
        assert_eq!(
            picks.len(),
            3,
            "with nothing available, every partition can be drawn"
        );
    }
}
