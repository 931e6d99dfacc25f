//! The few pieces of Java the assignors' results depend on: `String.hashCode`, `String.compareTo`,
//! `TopicPartition.hashCode`, and the iteration order of `java.util.HashMap` and `HashSet`.
//!
//! Kafka's assignors iterate `HashMap`s in several places where the order decides the result (the
//! sticky assignors' owned-partition pass walks members in `HashMap` order, KAFKA.md 2.3; the range
//! assignor walks topics in `HashMap` order, which decides the order of each member's list). To be
//! bit-exact this module replays what `java.util.HashMap` (JDK 8 and later) does with its table:
//!
//! * the bucket of a key is `(h ^ (h >>> 16)) & (capacity - 1)`, where `h` is the key's
//!   `hashCode()` (`HashMap.hash`);
//! * the table starts at 16 buckets on the first insertion and doubles whenever the size exceeds
//!   `0.75 * capacity` (`HashMap.resize`); a resize splits every bucket into a "low" and a "high"
//!   bucket and keeps the relative order of the entries in each;
//! * `put` appends a new key to the end of its bucket's chain, while `computeIfAbsent` puts it at
//!   the head and resizes lazily ([`JavaHashMap::compute_if_absent`]); replacing the value of a
//!   present key keeps its place; removing a key keeps the order of the others;
//! * iteration walks the buckets in index order and each chain from head to tail.
//!
//! Treeification (`HashMap.treeifyBin`): when a key is appended to a chain that already holds 8
//! entries, Java either doubles the table (capacity below 64) or turns the bucket into a red-black
//! tree (capacity 64 or more). The resize is emulated, because it changes the order of everything.
//! The tree is not: a tree bucket is iterated in an order that depends on the tree's shape, and for
//! keys that are not `Comparable` with equal hashes (such as `TopicPartition`) on
//! `System.identityHashCode`, so not even Java is deterministic there. This module keeps such a
//! bucket in insertion order instead and records that it happened ([`JavaHashMap::had_tree_bin`]).
//! It takes at least nine keys in one bucket of a table of at least 64, which only adversarial
//! names (Java strings with equal hash codes, such as `"Aa"` and `"BB"`) produce.
//!
//! Only the default constructor (`new HashMap<>()`) is modelled, because it is the only one whose
//! iteration order the assignors depend on.

use crate::ids::{TopicName, TopicPartition};
use std::cmp::Ordering;

/// Java's `String.hashCode`: `s[0]*31^(n-1) + ... + s[n-1]` over the UTF-16 code units, with
/// `int` wrapping.
pub fn string_hash_code(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// Java's `String.compareTo`: lexicographic over UTF-16 code units. It differs from Rust's `str`
/// order (code points) only when one side has a character above U+FFFF and the other a character
/// in U+E000..=U+FFFF at the same place.
pub fn string_compare(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// `TopicPartition.hashCode`: `31 * (31 + partition) + topic.hashCode()`, in `int` arithmetic.
pub fn topic_partition_hash_code(tp: &TopicPartition) -> i32 {
    let result = 31i32.wrapping_add(tp.partition as i32);
    result
        .wrapping_mul(31)
        .wrapping_add(string_hash_code(tp.topic.as_str()))
}

/// The `hashCode()` Java computes for a key type.
pub trait JavaHashCode {
    /// The value of `hashCode()`.
    fn java_hash_code(&self) -> i32;
}

impl JavaHashCode for String {
    fn java_hash_code(&self) -> i32 {
        string_hash_code(self)
    }
}

impl JavaHashCode for TopicName {
    fn java_hash_code(&self) -> i32 {
        string_hash_code(self.as_str())
    }
}

impl JavaHashCode for TopicPartition {
    fn java_hash_code(&self) -> i32 {
        topic_partition_hash_code(self)
    }
}

/// `HashMap.hash`: the hash code with its high half folded into the low half.
fn spread(h: i32) -> u32 {
    let h = h as u32;
    h ^ (h >> 16)
}

const DEFAULT_CAPACITY: usize = 16;
const TREEIFY_THRESHOLD: usize = 8;
const MIN_TREEIFY_CAPACITY: usize = 64;

/// A map that iterates in the order a `java.util.HashMap` built by the same calls would.
///
/// Lookups are linear in the bucket, as in Java; the maps here hold at most a few thousand keys.
#[derive(Clone, Debug)]
pub struct JavaHashMap<K, V> {
    /// The buckets; empty until the first insertion, as Java allocates the table lazily.
    table: Vec<Vec<(u32, K, V)>>,
    len: usize,
    threshold: usize,
    had_tree_bin: bool,
}

impl<K, V> Default for JavaHashMap<K, V> {
    fn default() -> Self {
        JavaHashMap {
            table: Vec::new(),
            len: 0,
            threshold: 0,
            had_tree_bin: false,
        }
    }
}

impl<K: JavaHashCode + Eq, V> JavaHashMap<K, V> {
    /// An empty map, as `new HashMap<>()`.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The number of buckets of Java's table (0 before the first insertion).
    pub fn capacity(&self) -> usize {
        self.table.len()
    }

    /// True if Java would have turned a bucket into a tree at some point, so that this map's
    /// iteration order may differ from Java's (see the module documentation).
    pub fn had_tree_bin(&self) -> bool {
        self.had_tree_bin
    }

    fn bucket_of(&self, hash: u32) -> usize {
        (hash as usize) & (self.table.len() - 1)
    }

    fn position(&self, key: &K) -> Option<(usize, usize)> {
        if self.table.is_empty() {
            return None;
        }
        let hash = spread(key.java_hash_code());
        let b = self.bucket_of(hash);
        self.table[b]
            .iter()
            .position(|(h, k, _)| *h == hash && k == key)
            .map(|i| (b, i))
    }

    /// The value of `key`, as `get`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.position(key).map(|(b, i)| &self.table[b][i].2)
    }

    /// The value of `key`, mutably.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        match self.position(key) {
            Some((b, i)) => Some(&mut self.table[b][i].2),
            None => None,
        }
    }

    /// True if `key` is present, as `containsKey`.
    pub fn contains_key(&self, key: &K) -> bool {
        self.position(key).is_some()
    }

    /// `put`: replaces the value of a present key in place, or appends a new key to its bucket,
    /// then resizes as Java does. Returns the old value.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        if self.table.is_empty() {
            self.resize();
        }
        if let Some((b, i)) = self.position(&key) {
            return Some(std::mem::replace(&mut self.table[b][i].2, value));
        }
        let hash = spread(key.java_hash_code());
        let b = self.bucket_of(hash);
        let chain_before = self.table[b].len();
        self.table[b].push((hash, key, value));
        // `putVal` calls `treeifyBin` when it appends to a chain of 8 or more, and `treeifyBin`
        // only resizes while the table is smaller than 64 buckets.
        if chain_before >= TREEIFY_THRESHOLD {
            if self.table.len() < MIN_TREEIFY_CAPACITY {
                self.resize();
            } else {
                self.had_tree_bin = true;
            }
        }
        self.len += 1;
        if self.len > self.threshold {
            self.resize();
        }
        None
    }

    /// `computeIfAbsent`: inserts `make()` for `key` if the key is absent (then read the value
    /// with [`JavaHashMap::get_mut`]).
    ///
    /// Java's `computeIfAbsent` is not `put`: it resizes *before* inserting, and only if the size
    /// already exceeds the threshold, so a map filled only this way can end one resize behind; it
    /// inserts the new key at the *head* of its bucket; and it calls `treeifyBin` when the chain
    /// already held 7 entries (`binCount >= TREEIFY_THRESHOLD - 1`, counting every node).
    pub fn compute_if_absent(&mut self, key: K, make: impl FnOnce() -> V) {
        if self.len > self.threshold || self.table.is_empty() {
            self.resize();
        }
        if self.position(&key).is_some() {
            return;
        }
        let value = make();
        let hash = spread(key.java_hash_code());
        let b = self.bucket_of(hash);
        let chain_before = self.table[b].len();
        self.table[b].insert(0, (hash, key, value));
        if chain_before + 1 >= TREEIFY_THRESHOLD {
            if self.table.len() < MIN_TREEIFY_CAPACITY {
                self.resize();
            } else {
                self.had_tree_bin = true;
            }
        }
        self.len += 1;
    }

    /// `remove`: takes `key` out, keeping the order of the other entries.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let (b, i) = self.position(key)?;
        self.len -= 1;
        Some(self.table[b].remove(i).2)
    }

    /// `HashMap.resize` for a map made by the default constructor: 16 buckets first, then double.
    fn resize(&mut self) {
        let old_capacity = self.table.len();
        if old_capacity == 0 {
            self.table = (0..DEFAULT_CAPACITY).map(|_| Vec::new()).collect();
            self.threshold = DEFAULT_CAPACITY * 3 / 4;
            return;
        }
        let new_capacity = old_capacity * 2;
        let mut table: Vec<Vec<(u32, K, V)>> = (0..new_capacity).map(|_| Vec::new()).collect();
        for (j, bucket) in std::mem::take(&mut self.table).into_iter().enumerate() {
            // Java splits each chain into the entries that stay at `j` and those that move to
            // `j + oldCap`, keeping their relative order.
            for entry in bucket {
                let target = if (entry.0 as usize) & old_capacity == 0 {
                    j
                } else {
                    j + old_capacity
                };
                table[target].push(entry);
            }
        }
        self.table = table;
        self.threshold *= 2;
    }

    /// The entries in Java's iteration order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.table
            .iter()
            .flat_map(|bucket| bucket.iter().map(|(_, k, v)| (k, v)))
    }

    /// The keys in Java's iteration order.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.iter().map(|(k, _)| k)
    }
}

/// A set that iterates as a `java.util.HashSet` (a `HashMap` underneath) built by the same calls.
#[derive(Clone, Debug)]
pub struct JavaHashSet<K> {
    map: JavaHashMap<K, ()>,
}

impl<K> Default for JavaHashSet<K> {
    fn default() -> Self {
        JavaHashSet {
            map: JavaHashMap::default(),
        }
    }
}

impl<K: JavaHashCode + Eq> JavaHashSet<K> {
    /// An empty set, as `new HashSet<>()`.
    pub fn new() -> Self {
        Self::default()
    }

    /// `add`: true if the element was not present.
    pub fn insert(&mut self, key: K) -> bool {
        self.map.insert(key, ()).is_none()
    }

    /// `remove`: true if the element was present.
    pub fn remove(&mut self, key: &K) -> bool {
        self.map.remove(key).is_some()
    }

    /// `contains`.
    pub fn contains(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when the set is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The elements in Java's iteration order.
    pub fn iter(&self) -> impl Iterator<Item = &K> {
        self.map.keys()
    }

    /// True if Java would have used a tree bucket (see [`JavaHashMap::had_tree_bin`]).
    pub fn had_tree_bin(&self) -> bool {
        self.map.had_tree_bin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(map: &JavaHashMap<String, u32>) -> Vec<&str> {
        map.keys().map(String::as_str).collect()
    }

    #[test]
    fn string_hash_codes_match_java() {
        // Values printed by Java 17: "".hashCode(), "a".hashCode(), "hello".hashCode(),
        // "consumer1".hashCode(), "topic1".hashCode(), and a character outside the BMP, which Java
        // hashes as its two UTF-16 surrogates ("\uD83D\uDE00".hashCode() == 1772899).
        assert_eq!(string_hash_code(""), 0);
        assert_eq!(string_hash_code("a"), 97);
        assert_eq!(string_hash_code("hello"), 99_162_322);
        assert_eq!(string_hash_code("consumer1"), -421_004_549);
        assert_eq!(string_hash_code("topic1"), -868_034_334);
        assert_eq!(string_hash_code("\u{1F600}"), 55357 * 31 + 56832);
        assert_eq!(string_hash_code("polygenelubricants"), i32::MIN);
        assert_eq!(string_hash_code("Aa"), string_hash_code("BB"));
    }

    #[test]
    fn topic_partition_hash_code_matches_java() {
        // new TopicPartition("topic1", 0).hashCode() == 31 * 31 + "topic1".hashCode().
        let tp = TopicPartition::new("topic1", 0);
        assert_eq!(
            topic_partition_hash_code(&tp),
            961i32.wrapping_add(-868_034_334)
        );
        assert_eq!(
            topic_partition_hash_code(&TopicPartition::new("t", 5)),
            31 * 36 + 116
        );
    }

    #[test]
    fn string_compare_is_utf16_order() {
        assert_eq!(string_compare("a", "b"), Ordering::Less);
        assert_eq!(string_compare("ab", "a"), Ordering::Greater);
        // U+FF61 is one code unit 0xFF61; U+10000 is the surrogates 0xD800 0xDC00. Java puts the
        // supplementary character first, Rust's str order puts it last.
        assert_eq!(string_compare("\u{10000}", "\u{FF61}"), Ordering::Less);
        assert!("\u{10000}" > "\u{FF61}");
    }

    #[test]
    fn consumers_one_to_four_iterate_backwards() {
        // KAFKA.md 2.3: a HashMap of "consumer1".."consumer4" iterates consumer4, consumer3,
        // consumer2, consumer1 (printed by Java 17's HashMap.keySet()).
        let mut map = JavaHashMap::new();
        for (i, c) in ["consumer1", "consumer2", "consumer3", "consumer4"]
            .iter()
            .enumerate()
        {
            map.insert(c.to_string(), i as u32);
        }
        assert_eq!(
            keys(&map),
            ["consumer4", "consumer3", "consumer2", "consumer1"]
        );
        // The insertion order does not matter when the buckets differ.
        let mut reversed = JavaHashMap::new();
        for c in ["consumer4", "consumer2", "consumer1", "consumer3"] {
            reversed.insert(c.to_string(), 0);
        }
        assert_eq!(
            keys(&reversed),
            ["consumer4", "consumer3", "consumer2", "consumer1"]
        );
    }

    #[test]
    fn colliding_keys_keep_insertion_order_and_replacing_keeps_the_place() {
        let mut map = JavaHashMap::new();
        map.insert("BB".to_string(), 1);
        map.insert("Aa".to_string(), 2);
        assert_eq!(keys(&map), ["BB", "Aa"]);
        assert_eq!(map.insert("BB".to_string(), 3), Some(1));
        assert_eq!(keys(&map), ["BB", "Aa"]);
        assert_eq!(map.get(&"BB".to_string()), Some(&3));
        assert_eq!(map.remove(&"BB".to_string()), Some(3));
        map.insert("BB".to_string(), 4);
        assert_eq!(keys(&map), ["Aa", "BB"]);
    }

    #[test]
    fn the_table_doubles_past_three_quarters() {
        let mut map = JavaHashMap::new();
        assert_eq!(map.capacity(), 0);
        for i in 0..12 {
            map.insert(format!("k{i}"), i);
        }
        assert_eq!(map.capacity(), 16);
        map.insert("k12".to_string(), 12);
        assert_eq!(map.capacity(), 32);
        for i in 13..25 {
            map.insert(format!("k{i}"), i);
        }
        assert_eq!(map.capacity(), 64);
    }

    /// Strings made of "Aa"/"BB" blocks all share one hash code.
    fn colliding(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                (0..4)
                    .map(|bit| if i >> bit & 1 == 0 { "Aa" } else { "BB" })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_long_chain_doubles_a_small_table_and_is_treeified_in_a_large_one() {
        let keys_ = colliding(11);
        let mut map = JavaHashMap::new();
        for k in &keys_[..8] {
            map.insert(k.clone(), 0);
        }
        assert_eq!(map.capacity(), 16);
        // The ninth key on one chain: treeifyBin resizes instead, while capacity < 64.
        map.insert(keys_[8].clone(), 0);
        assert_eq!(map.capacity(), 32);
        map.insert(keys_[9].clone(), 0);
        assert_eq!(map.capacity(), 64);
        assert!(!map.had_tree_bin());
        map.insert(keys_[10].clone(), 0);
        assert_eq!(map.capacity(), 64);
        assert!(map.had_tree_bin());
        // The chain itself stays in insertion order.
        let got: Vec<&str> = map.keys().map(String::as_str).collect();
        let want: Vec<&str> = keys_.iter().map(String::as_str).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_resize_keeps_relative_order_within_split_buckets() {
        // Insert 13 keys so the table doubles once, then check the order is bucket by bucket in
        // the new table: recompute it independently from the spread hashes.
        let names: Vec<String> = (0..13).map(|i| format!("member-{i}")).collect();
        let mut map = JavaHashMap::new();
        for n in &names {
            map.insert(n.clone(), 0);
        }
        assert_eq!(map.capacity(), 32);
        let mut expected = names.clone();
        // A stable sort by bucket index gives Java's order when the insertion order is the
        // within-bucket order, which a split preserves.
        crate::sort::sort_by_key(&mut expected, |n| spread(string_hash_code(n)) as usize & 31);
        let got: Vec<&String> = map.keys().collect();
        assert_eq!(got, expected.iter().collect::<Vec<_>>());
    }

    #[test]
    fn compute_if_absent_inserts_at_the_head_and_resizes_late() {
        // CollectionUtils.groupPartitionsByTopic([t0-0, BB-3, Aa-9, BB-6, topic-0, Aa-10, Aa-5])
        // prints {Aa=[9, 10, 5], BB=[3, 6], topic=[0], t0=[0]} on Java 17: "BB" came first, but
        // computeIfAbsent put "Aa" (same hash code) at the head of the bucket.
        let mut map: JavaHashMap<String, Vec<u32>> = JavaHashMap::new();
        for (t, p) in [
            ("t0", 0),
            ("BB", 3),
            ("Aa", 9),
            ("BB", 6),
            ("topic", 0),
            ("Aa", 10),
            ("Aa", 5),
        ] {
            map.compute_if_absent(t.to_string(), Vec::new);
            if let Some(list) = map.get_mut(&t.to_string()) {
                list.push(p);
            }
        }
        let got: Vec<(&str, &[u32])> = map
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        assert_eq!(
            got,
            [
                ("Aa", &[9, 10, 5][..]),
                ("BB", &[3, 6][..]),
                ("topic", &[0][..]),
                ("t0", &[0][..])
            ]
        );
        // The 13th key leaves the table at 16 buckets; the next call resizes first.
        let mut lazy: JavaHashMap<String, ()> = JavaHashMap::new();
        for i in 0..13 {
            lazy.compute_if_absent(format!("k{i}"), || ());
        }
        assert_eq!(lazy.capacity(), 16);
        lazy.compute_if_absent("k0".to_string(), || ());
        assert_eq!(lazy.capacity(), 32);
    }

    #[test]
    fn hash_set_iterates_like_the_map() {
        let mut set = JavaHashSet::new();
        assert!(set.insert(TopicPartition::new("topic", 2)));
        assert!(set.insert(TopicPartition::new("topic", 0)));
        assert!(!set.insert(TopicPartition::new("topic", 0)));
        assert_eq!(set.len(), 2);
        // Java 17 prints [topic-0, topic-2] for this HashSet.
        let order: Vec<u32> = set.iter().map(|tp| tp.partition).collect();
        assert_eq!(order, [0, 2]);
        assert!(set.remove(&TopicPartition::new("topic", 0)));
        assert!(!set.contains(&TopicPartition::new("topic", 0)));
    }
}
