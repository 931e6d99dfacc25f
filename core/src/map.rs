//! Ordered maps and sets kept as sorted vectors, for the model's many small maps.
//!
//! The model keeps dozens of little ordered maps: per partition, per broker, per member, per
//! in-flight request. With `BTreeMap` each key and value type gets its own copy of the B-tree's
//! node code (search, insert with splits, remove with merges, iterators, the bulk build behind
//! `collect`, and a stable sort for that), which made B-trees about a fifth of the classroom's
//! WebAssembly bundle. A sorted vector with binary search needs a few hundred bytes per type.
//!
//! [`VecMap`] and [`VecSet`] behave exactly like `BTreeMap` and `BTreeSet` wherever anything can
//! see them: iteration in ascending key order, the same serde form (a map, a sequence), the same
//! `Debug` text, the same comparisons and hash. Swapping one for the other changes no run, trace
//! or snapshot. What differs is cost: insertion and removal move the entries after the position,
//! so they are O(n). Use them for maps that stay small (tens to a few hundred entries); a
//! history that grows with a run's records stays a `BTreeMap`.
//!
//! `collect` and `extend` insert one entry at a time (a later duplicate key replaces the earlier
//! value, as in `BTreeMap`), so no sort is instantiated per type.

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::iter::FusedIterator;
use std::iter::Zip;
use std::marker::PhantomData;
use std::ops::{Bound, Index, RangeBounds};

/// An ordered map on a vector of keys in ascending order and a vector of their values; see the
/// module documentation. The keys are kept apart from the values so that a lookup's binary
/// search reads only keys, packed together, as a B-tree node's search does: with the values
/// beside them every probe lands on another cache line, which made lookups in maps of large
/// values (a broker's partitions, the checkers' state) slower than the B-tree's.
#[derive(Clone)]
pub struct VecMap<K, V> {
    /// Ascending, distinct.
    keys: Vec<K>,
    /// `values[i]` belongs to `keys[i]`.
    values: Vec<V>,
}

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

/// Where `key` is in the ascending `keys`: `Ok(index)` if present, `Err(index)` where it would go
/// (what `binary_search` answers). Halves the window while it is wide, then scans it, as a
/// B-tree node is scanned: a scan's comparisons go the same way until the end, so the processor
/// predicts them, where a binary search's late comparisons are coin flips. With a plain binary
/// search the per-step checkers' lookups by (broker, partition) made a run with 50 offsets
/// partitions slower than with B-trees; the scan brings it back.
fn search<K: Borrow<Q>, Q: Ord + ?Sized>(keys: &[K], key: &Q) -> Result<usize, usize> {
    let (mut low, mut high) = (0, keys.len());
    while high - low > 8 {
        let mid = low + (high - low) / 2;
        match keys[mid].borrow().cmp(key) {
            Ordering::Less => low = mid + 1,
            Ordering::Greater => high = mid,
            Ordering::Equal => return Ok(mid),
        }
    }
    for (i, k) in keys[low..high].iter().enumerate() {
        match k.borrow().cmp(key) {
            Ordering::Less => {}
            Ordering::Equal => return Ok(low + i),
            Ordering::Greater => return Err(low + i),
        }
    }
    Err(high)
}

/// The index range of the sorted `items` whose keys (what `key` reads) lie within `range`.
/// Panics like `BTreeMap::range` on a range that starts after it ends, or that is empty with
/// both ends excluded.
fn span<T, Q: Ord + ?Sized>(
    items: &[T],
    key: impl Fn(&T) -> &Q,
    range: &impl RangeBounds<Q>,
) -> (usize, usize) {
    match (range.start_bound(), range.end_bound()) {
        (Bound::Excluded(s), Bound::Excluded(e)) if s == e => {
            panic!("range start and end are equal and excluded")
        }
        (Bound::Included(s) | Bound::Excluded(s), Bound::Included(e) | Bound::Excluded(e))
            if s > e =>
        {
            panic!("range start is greater than range end")
        }
        _ => {}
    }
    let start = match range.start_bound() {
        Bound::Included(s) => items.partition_point(|t| key(t) < s),
        Bound::Excluded(s) => items.partition_point(|t| key(t) <= s),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(e) => items.partition_point(|t| key(t) <= e),
        Bound::Excluded(e) => items.partition_point(|t| key(t) < e),
        Bound::Unbounded => items.len(),
    };
    (start, end.max(start))
}

impl<K, V> VecMap<K, V> {
    /// An empty map.
    pub const fn new() -> Self {
        Self {
            keys: Vec::new(),
            values: Vec::new(),
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.keys.clear();
        self.values.clear();
    }

    /// The entries in ascending key order.
    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter(self.keys.iter().zip(self.values.iter()))
    }

    /// The entries in ascending key order, values mutable.
    pub fn iter_mut(&mut self) -> IterMut<'_, K, V> {
        IterMut(self.keys.iter().zip(self.values.iter_mut()))
    }

    /// The keys in ascending order.
    pub fn keys(&self) -> std::slice::Iter<'_, K> {
        self.keys.iter()
    }

    /// The values in ascending key order.
    pub fn values(&self) -> std::slice::Iter<'_, V> {
        self.values.iter()
    }

    /// The values in ascending key order, mutable.
    pub fn values_mut(&mut self) -> std::slice::IterMut<'_, V> {
        self.values.iter_mut()
    }

    /// The keys in ascending order, consuming the map.
    pub fn into_keys(self) -> std::vec::IntoIter<K> {
        self.keys.into_iter()
    }

    /// The values in ascending key order, consuming the map.
    pub fn into_values(self) -> std::vec::IntoIter<V> {
        self.values.into_iter()
    }

    /// The entry with the smallest key.
    pub fn first_key_value(&self) -> Option<(&K, &V)> {
        self.keys.first().zip(self.values.first())
    }

    /// The entry with the largest key.
    pub fn last_key_value(&self) -> Option<(&K, &V)> {
        self.keys.last().zip(self.values.last())
    }

    /// Removes and returns the entry with the smallest key.
    pub fn pop_first(&mut self) -> Option<(K, V)> {
        if self.keys.is_empty() {
            None
        } else {
            Some(self.remove_at(0))
        }
    }

    /// Removes and returns the entry with the largest key.
    pub fn pop_last(&mut self) -> Option<(K, V)> {
        self.keys.pop().zip(self.values.pop())
    }

    /// Keeps only the entries for which `keep` returns true, visiting them in key order.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        // Kept entries move down over the dropped ones, in order; what is left past `kept`
        // at the end is what was dropped.
        let mut kept = 0;
        for i in 0..self.keys.len() {
            if keep(&self.keys[i], &mut self.values[i]) {
                self.keys.swap(kept, i);
                self.values.swap(kept, i);
                kept += 1;
            }
        }
        self.keys.truncate(kept);
        self.values.truncate(kept);
    }

    fn remove_at(&mut self, index: usize) -> (K, V) {
        (self.keys.remove(index), self.values.remove(index))
    }

    fn insert_at(&mut self, index: usize, key: K, value: V) -> &mut V {
        self.keys.insert(index, key);
        self.values.insert(index, value);
        &mut self.values[index]
    }
}

impl<K: Ord, V> VecMap<K, V> {
    /// The value for `key`.
    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        search(&self.keys, key).ok().map(|i| &self.values[i])
    }

    /// The stored key and value for `key`.
    pub fn get_key_value<Q: Ord + ?Sized>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
    {
        search(&self.keys, key)
            .ok()
            .map(|i| (&self.keys[i], &self.values[i]))
    }

    /// The value for `key`, mutable.
    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        match search(&self.keys, key) {
            Ok(i) => Some(&mut self.values[i]),
            Err(_) => None,
        }
    }

    /// Whether the map has an entry for `key`.
    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        search(&self.keys, key).is_ok()
    }

    /// Sets the value for `key`, returning the value it replaced. As in `BTreeMap`, a replaced
    /// entry keeps its original key.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match search(&self.keys, &key) {
            Ok(i) => Some(std::mem::replace(&mut self.values[i], value)),
            Err(i) => {
                self.insert_at(i, key, value);
                None
            }
        }
    }

    /// Removes the entry for `key`, returning its value.
    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.remove_entry(key).map(|(_, v)| v)
    }

    /// Removes the entry for `key`, returning it.
    pub fn remove_entry<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
    {
        match search(&self.keys, key) {
            Ok(i) => Some(self.remove_at(i)),
            Err(_) => None,
        }
    }

    /// The entry for `key`, to read, insert or change in place.
    pub fn entry(&mut self, key: K) -> Entry<'_, K, V> {
        match search(&self.keys, &key) {
            Ok(index) => Entry::Occupied(OccupiedEntry { map: self, index }),
            Err(index) => Entry::Vacant(VacantEntry {
                map: self,
                index,
                key,
            }),
        }
    }

    /// The entries whose keys lie within `range`, in ascending key order.
    pub fn range<Q: Ord + ?Sized, R: RangeBounds<Q>>(&self, range: R) -> Iter<'_, K, V>
    where
        K: Borrow<Q>,
    {
        let (start, end) = span(&self.keys, |k| k.borrow(), &range);
        Iter(
            self.keys[start..end]
                .iter()
                .zip(self.values[start..end].iter()),
        )
    }

    /// The entries whose keys lie within `range`, in ascending key order, values mutable.
    pub fn range_mut<Q: Ord + ?Sized, R: RangeBounds<Q>>(&mut self, range: R) -> IterMut<'_, K, V>
    where
        K: Borrow<Q>,
    {
        let (start, end) = span(&self.keys, |k| k.borrow(), &range);
        IterMut(
            self.keys[start..end]
                .iter()
                .zip(self.values[start..end].iter_mut()),
        )
    }

    /// Moves every entry of `other` into `self`; on equal keys `other`'s value wins.
    pub fn append(&mut self, other: &mut Self) {
        self.extend(std::mem::take(other));
    }

    /// Splits off the entries with keys at or after `key`.
    pub fn split_off<Q: Ord + ?Sized>(&mut self, key: &Q) -> Self
    where
        K: Borrow<Q>,
    {
        let at = self.keys.partition_point(|k| k.borrow() < key);
        Self {
            keys: self.keys.split_off(at),
            values: self.values.split_off(at),
        }
    }
}

// Equality, order and hash as `BTreeMap`'s: over the entries, in key order.
impl<K: PartialEq, V: PartialEq> PartialEq for VecMap<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.keys == other.keys && self.values == other.values
    }
}

impl<K: Eq, V: Eq> Eq for VecMap<K, V> {}

impl<K: PartialOrd, V: PartialOrd> PartialOrd for VecMap<K, V> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.iter().partial_cmp(other.iter())
    }
}

impl<K: Ord, V: Ord> Ord for VecMap<K, V> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.iter().cmp(other.iter())
    }
}

impl<K: Hash, V: Hash> Hash for VecMap<K, V> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        for entry in self.iter() {
            entry.hash(state);
        }
    }
}

impl<K: Ord + Borrow<Q>, Q: Ord + ?Sized, V> Index<&Q> for VecMap<K, V> {
    type Output = V;

    fn index(&self, key: &Q) -> &V {
        self.get(key).expect("no entry found for key")
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for VecMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for VecMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = Self::new();
        map.extend(iter);
        map
    }
}

impl<K: Ord, V> Extend<(K, V)> for VecMap<K, V> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<'a, K: Ord + Copy, V: Copy> Extend<(&'a K, &'a V)> for VecMap<K, V> {
    fn extend<I: IntoIterator<Item = (&'a K, &'a V)>>(&mut self, iter: I) {
        for (&k, &v) in iter {
            self.insert(k, v);
        }
    }
}

impl<K: Ord, V, const N: usize> From<[(K, V); N]> for VecMap<K, V> {
    fn from(entries: [(K, V); N]) -> Self {
        entries.into_iter().collect()
    }
}

impl<K, V> IntoIterator for VecMap<K, V> {
    type Item = (K, V);
    type IntoIter = IntoIter<K, V>;

    fn into_iter(self) -> IntoIter<K, V> {
        IntoIter(self.keys.into_iter().zip(self.values))
    }
}

impl<'a, K, V> IntoIterator for &'a VecMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;

    fn into_iter(self) -> Iter<'a, K, V> {
        self.iter()
    }
}

impl<'a, K, V> IntoIterator for &'a mut VecMap<K, V> {
    type Item = (&'a K, &'a mut V);
    type IntoIter = IterMut<'a, K, V>;

    fn into_iter(self) -> IterMut<'a, K, V> {
        self.iter_mut()
    }
}

// Serialised exactly as serde serialises a `BTreeMap`: a map of known length, keys ascending.
impl<K: Serialize, V: Serialize> Serialize for VecMap<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de, K: Deserialize<'de> + Ord, V: Deserialize<'de>> Deserialize<'de> for VecMap<K, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<K, V>(PhantomData<(K, V)>);

        impl<'de, K: Deserialize<'de> + Ord, V: Deserialize<'de>> Visitor<'de> for MapVisitor<K, V> {
            type Value = VecMap<K, V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut map = VecMap::new();
                while let Some((k, v)) = access.next_entry()? {
                    map.insert(k, v);
                }
                Ok(map)
            }
        }

        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}

/// An entry of a [`VecMap`], from [`VecMap::entry`].
pub enum Entry<'a, K, V> {
    /// No value for the key yet.
    Vacant(VacantEntry<'a, K, V>),
    /// A value for the key.
    Occupied(OccupiedEntry<'a, K, V>),
}

/// A key with no value in a [`VecMap`] yet.
pub struct VacantEntry<'a, K, V> {
    map: &'a mut VecMap<K, V>,
    index: usize,
    key: K,
}

/// A key's entry in a [`VecMap`].
pub struct OccupiedEntry<'a, K, V> {
    map: &'a mut VecMap<K, V>,
    index: usize,
}

impl<'a, K, V> Entry<'a, K, V> {
    /// The value, inserting `default` first if there is none.
    pub fn or_insert(self, default: V) -> &'a mut V {
        match self {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => v.insert(default),
        }
    }

    /// The value, inserting what `default` makes first if there is none.
    pub fn or_insert_with(self, default: impl FnOnce() -> V) -> &'a mut V {
        match self {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => v.insert(default()),
        }
    }

    /// The value, inserting what `default` makes of the key first if there is none.
    pub fn or_insert_with_key(self, default: impl FnOnce(&K) -> V) -> &'a mut V {
        match self {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                let value = default(&v.key);
                v.insert(value)
            }
        }
    }

    /// The value, inserting `V::default()` first if there is none.
    pub fn or_default(self) -> &'a mut V
    where
        V: Default,
    {
        self.or_insert_with(V::default)
    }

    /// Changes the value in place if there is one.
    pub fn and_modify(self, change: impl FnOnce(&mut V)) -> Self {
        match self {
            Entry::Occupied(mut o) => {
                change(o.get_mut());
                Entry::Occupied(o)
            }
            vacant => vacant,
        }
    }

    /// The entry's key.
    pub fn key(&self) -> &K {
        match self {
            Entry::Occupied(o) => o.key(),
            Entry::Vacant(v) => v.key(),
        }
    }
}

impl<'a, K, V> VacantEntry<'a, K, V> {
    /// The key.
    pub fn key(&self) -> &K {
        &self.key
    }

    /// Gives the key back.
    pub fn into_key(self) -> K {
        self.key
    }

    /// Inserts `value` for the key.
    pub fn insert(self, value: V) -> &'a mut V {
        self.map.insert_at(self.index, self.key, value)
    }
}

impl<'a, K, V> OccupiedEntry<'a, K, V> {
    /// The key.
    pub fn key(&self) -> &K {
        &self.map.keys[self.index]
    }

    /// The value.
    pub fn get(&self) -> &V {
        &self.map.values[self.index]
    }

    /// The value, mutable.
    pub fn get_mut(&mut self) -> &mut V {
        &mut self.map.values[self.index]
    }

    /// The value, mutable for as long as the map is borrowed.
    pub fn into_mut(self) -> &'a mut V {
        &mut self.map.values[self.index]
    }

    /// Replaces the value, returning the old one.
    pub fn insert(&mut self, value: V) -> V {
        std::mem::replace(self.get_mut(), value)
    }

    /// Removes the entry, returning its value.
    pub fn remove(self) -> V {
        self.remove_entry().1
    }

    /// Removes the entry, returning it.
    pub fn remove_entry(self) -> (K, V) {
        self.map.remove_at(self.index)
    }
}

/// Declares an iterator over the map's entries that wraps a zip of its keys and values, with
/// the double-ended, exact-size and fused behaviour of the slices and vectors it reads.
macro_rules! entry_iterator {
    ($(#[$doc:meta])* $name:ident<$($lt:lifetime,)? $($p:ident),*>, $inner:ty, $item:ty) => {
        $(#[$doc])*
        pub struct $name<$($lt,)? $($p),*>($inner);

        impl<$($lt,)? $($p),*> Iterator for $name<$($lt,)? $($p),*> {
            type Item = $item;

            fn next(&mut self) -> Option<$item> {
                self.0.next()
            }

            fn size_hint(&self) -> (usize, Option<usize>) {
                self.0.size_hint()
            }
        }

        impl<$($lt,)? $($p),*> DoubleEndedIterator for $name<$($lt,)? $($p),*> {
            fn next_back(&mut self) -> Option<$item> {
                self.0.next_back()
            }
        }

        impl<$($lt,)? $($p),*> ExactSizeIterator for $name<$($lt,)? $($p),*> {}

        impl<$($lt,)? $($p),*> FusedIterator for $name<$($lt,)? $($p),*> {}
    };
}

entry_iterator!(
    /// The entries of a [`VecMap`] in key order.
    Iter<'a, K, V>, Zip<std::slice::Iter<'a, K>, std::slice::Iter<'a, V>>, (&'a K, &'a V)
);
entry_iterator!(
    /// The entries of a [`VecMap`] in key order, values mutable.
    IterMut<'a, K, V>, Zip<std::slice::Iter<'a, K>, std::slice::IterMut<'a, V>>, (&'a K, &'a mut V)
);
entry_iterator!(
    /// The entries of a [`VecMap`] in key order, owned.
    IntoIter<K, V>, Zip<std::vec::IntoIter<K>, std::vec::IntoIter<V>>, (K, V)
);

impl<K, V> Clone for Iter<'_, K, V> {
    fn clone(&self) -> Self {
        Iter(self.0.clone())
    }
}

/// An ordered set on a sorted vector; see the module documentation.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct VecSet<T> {
    /// Sorted, distinct.
    items: Vec<T>,
}

impl<T> Default for VecSet<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> VecSet<T> {
    /// An empty set.
    pub const fn new() -> Self {
        Self { items: Vec::new() }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the set has no elements.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Removes every element.
    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// The elements in ascending order.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }

    /// The smallest element.
    pub fn first(&self) -> Option<&T> {
        self.items.first()
    }

    /// The largest element.
    pub fn last(&self) -> Option<&T> {
        self.items.last()
    }

    /// Removes and returns the smallest element.
    pub fn pop_first(&mut self) -> Option<T> {
        if self.items.is_empty() {
            None
        } else {
            Some(self.items.remove(0))
        }
    }

    /// Removes and returns the largest element.
    pub fn pop_last(&mut self) -> Option<T> {
        self.items.pop()
    }

    /// Keeps only the elements for which `keep` returns true, visiting them in order.
    pub fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        self.items.retain(keep);
    }
}

impl<T: Ord> VecSet<T> {
    fn search<Q: Ord + ?Sized>(&self, value: &Q) -> Result<usize, usize>
    where
        T: Borrow<Q>,
    {
        search(&self.items, value)
    }

    /// Whether the set holds `value`.
    pub fn contains<Q: Ord + ?Sized>(&self, value: &Q) -> bool
    where
        T: Borrow<Q>,
    {
        self.search(value).is_ok()
    }

    /// The element equal to `value`.
    pub fn get<Q: Ord + ?Sized>(&self, value: &Q) -> Option<&T>
    where
        T: Borrow<Q>,
    {
        self.search(value).ok().map(|i| &self.items[i])
    }

    /// Adds `value`; returns whether it was new. An equal element already there is kept, as in
    /// `BTreeSet`.
    pub fn insert(&mut self, value: T) -> bool {
        match self.search(&value) {
            Ok(_) => false,
            Err(i) => {
                self.items.insert(i, value);
                true
            }
        }
    }

    /// Removes `value`; returns whether it was there.
    pub fn remove<Q: Ord + ?Sized>(&mut self, value: &Q) -> bool
    where
        T: Borrow<Q>,
    {
        self.take(value).is_some()
    }

    /// Removes and returns the element equal to `value`.
    pub fn take<Q: Ord + ?Sized>(&mut self, value: &Q) -> Option<T>
    where
        T: Borrow<Q>,
    {
        match self.search(value) {
            Ok(i) => Some(self.items.remove(i)),
            Err(_) => None,
        }
    }

    /// The elements within `range`, in ascending order.
    pub fn range<Q: Ord + ?Sized, R: RangeBounds<Q>>(&self, range: R) -> std::slice::Iter<'_, T>
    where
        T: Borrow<Q>,
    {
        let (start, end) = span(&self.items, |t| t.borrow(), &range);
        self.items[start..end].iter()
    }

    /// The elements of `self` not in `other`, in ascending order.
    pub fn difference<'a>(&'a self, other: &'a Self) -> impl Iterator<Item = &'a T> + 'a {
        self.items.iter().filter(move |t| !other.contains(*t))
    }

    /// The elements in both sets, in ascending order.
    pub fn intersection<'a>(&'a self, other: &'a Self) -> impl Iterator<Item = &'a T> + 'a {
        self.items.iter().filter(move |t| other.contains(*t))
    }

    /// Whether every element of `self` is in `other`.
    pub fn is_subset(&self, other: &Self) -> bool {
        self.items.iter().all(|t| other.contains(t))
    }

    /// Whether every element of `other` is in `self`.
    pub fn is_superset(&self, other: &Self) -> bool {
        other.is_subset(self)
    }

    /// Whether the sets have no element in common.
    pub fn is_disjoint(&self, other: &Self) -> bool {
        self.intersection(other).next().is_none()
    }

    /// Moves every element of `other` into `self`.
    pub fn append(&mut self, other: &mut Self) {
        for t in std::mem::take(&mut other.items) {
            self.insert(t);
        }
    }
}

// Hashed as `BTreeSet` hashes: the length, then each element on its own (a vector of integers
// would hash its elements as one block of bytes instead).
impl<T: Hash> Hash for VecSet<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        for t in self.iter() {
            t.hash(state);
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for VecSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl<T: Ord> FromIterator<T> for VecSet<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut set = Self::new();
        set.extend(iter);
        set
    }
}

impl<T: Ord> Extend<T> for VecSet<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        for t in iter {
            self.insert(t);
        }
    }
}

impl<'a, T: Ord + Copy + 'a> Extend<&'a T> for VecSet<T> {
    fn extend<I: IntoIterator<Item = &'a T>>(&mut self, iter: I) {
        for &t in iter {
            self.insert(t);
        }
    }
}

impl<T: Ord, const N: usize> From<[T; N]> for VecSet<T> {
    fn from(items: [T; N]) -> Self {
        items.into_iter().collect()
    }
}

impl<T> IntoIterator for VecSet<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;

    fn into_iter(self) -> std::vec::IntoIter<T> {
        self.items.into_iter()
    }
}

impl<'a, T> IntoIterator for &'a VecSet<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> std::slice::Iter<'a, T> {
        self.items.iter()
    }
}

// Serialised exactly as serde serialises a `BTreeSet`: a sequence of known length, ascending.
impl<T: Serialize> Serialize for VecSet<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de, T: Deserialize<'de> + Ord> Deserialize<'de> for VecSet<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SeqVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de> + Ord> Visitor<'de> for SeqVisitor<T> {
            type Value = VecSet<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut set = VecSet::new();
                while let Some(t) = access.next_element()? {
                    set.insert(t);
                }
                Ok(set)
            }
        }

        deserializer.deserialize_seq(SeqVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use std::collections::{BTreeMap, BTreeSet};

    /// Random inserts, removes and entry updates give the same contents, in the same order, as
    /// a `BTreeMap` given the same operations, and the same answers along the way.
    #[test]
    fn behaves_like_a_btreemap() {
        let mut rng = Rng::new(11);
        let mut ours: VecMap<u64, u64> = VecMap::new();
        let mut theirs: BTreeMap<u64, u64> = BTreeMap::new();
        for step in 0..5000u64 {
            let key = rng.next_u64() % 64;
            match rng.next_u64() % 5 {
                0 | 1 => assert_eq!(ours.insert(key, step), theirs.insert(key, step)),
                2 => assert_eq!(ours.remove(&key), theirs.remove(&key)),
                3 => {
                    *ours.entry(key).or_insert(0) += step;
                    *theirs.entry(key).or_insert(0) += step;
                }
                _ => {
                    ours.retain(|k, v| (k + *v) % 7 != 0);
                    theirs.retain(|k, v| (k + *v) % 7 != 0);
                }
            }
            assert_eq!(ours.get(&key), theirs.get(&key));
            assert_eq!(ours.len(), theirs.len());
        }
        let ours_entries: Vec<(u64, u64)> = ours.iter().map(|(k, v)| (*k, *v)).collect();
        let theirs_entries: Vec<(u64, u64)> = theirs.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(ours_entries, theirs_entries);
        assert_eq!(ours.first_key_value(), theirs.first_key_value());
        assert_eq!(ours.last_key_value(), theirs.last_key_value());
    }

    /// The halving-then-scanning search answers what `binary_search` answers, for every length
    /// around its switch-over and every key present or between two present ones.
    #[test]
    fn search_agrees_with_binary_search() {
        for len in 0..100u32 {
            let keys: Vec<u32> = (0..len).map(|k| k * 2 + 1).collect();
            for key in 0..=len * 2 + 1 {
                assert_eq!(search(&keys, &key), keys.binary_search(&key), "{len} {key}");
            }
        }
    }

    #[test]
    fn iterates_in_ascending_key_order_whatever_the_insertion_order() {
        let map: VecMap<i32, &str> = [(3, "c"), (1, "a"), (2, "b"), (1, "z")].into();
        let keys: Vec<i32> = map.keys().copied().collect();
        assert_eq!(keys, [1, 2, 3]);
        // A later duplicate replaces the value, as `BTreeMap::from_iter` does.
        assert_eq!(map[&1], "z");
        let back: Vec<i32> = map.iter().rev().map(|(k, _)| *k).collect();
        assert_eq!(back, [3, 2, 1]);
    }

    #[test]
    fn entry_inserts_modifies_and_removes() {
        let mut map: VecMap<String, u32> = VecMap::new();
        map.entry("b".into()).or_default();
        *map.entry("a".into()).or_insert(5) += 1;
        map.entry("a".into()).and_modify(|v| *v *= 10).or_insert(0);
        map.entry("c".into()).and_modify(|v| *v = 99).or_insert(7);
        assert_eq!(format!("{map:?}"), r#"{"a": 60, "b": 0, "c": 7}"#);
        match map.entry("b".into()) {
            Entry::Occupied(o) => assert_eq!(o.remove(), 0),
            Entry::Vacant(_) => panic!("b is there"),
        }
        match map.entry("bb".into()) {
            Entry::Vacant(v) => *v.insert(3) += 1,
            Entry::Occupied(_) => panic!("bb is not there"),
        }
        assert_eq!(format!("{map:?}"), r#"{"a": 60, "bb": 4, "c": 7}"#);
        // Lookups by a borrowed form of the key.
        assert_eq!(map.get("bb"), Some(&4));
        assert!(map.contains_key("c"));
        assert_eq!(map.remove("c"), Some(7));
        assert_eq!(map.remove("c"), None);
    }

    /// Every kind of bound, on keys that are present and absent, against `BTreeMap::range`.
    #[test]
    fn range_bounds_match_btreemap() {
        let keys = [2u32, 4, 6, 8];
        let ours: VecMap<u32, ()> = keys.iter().map(|&k| (k, ())).collect();
        let theirs: BTreeMap<u32, ()> = keys.iter().map(|&k| (k, ())).collect();
        let both = |a: Vec<&u32>, b: Vec<&u32>| assert_eq!(a, b);
        for lo in 0..10u32 {
            for hi in lo..10u32 {
                both(
                    ours.range(lo..hi).map(|(k, _)| k).collect(),
                    theirs.range(lo..hi).map(|(k, _)| k).collect(),
                );
                both(
                    ours.range(lo..=hi).map(|(k, _)| k).collect(),
                    theirs.range(lo..=hi).map(|(k, _)| k).collect(),
                );
                let excl = (Bound::Excluded(lo), Bound::Included(hi));
                both(
                    ours.range(excl).map(|(k, _)| k).collect(),
                    theirs.range(excl).map(|(k, _)| k).collect(),
                );
            }
            both(
                ours.range(lo..).map(|(k, _)| k).collect(),
                theirs.range(lo..).map(|(k, _)| k).collect(),
            );
            both(
                ours.range(..lo).map(|(k, _)| k).collect(),
                theirs.range(..lo).map(|(k, _)| k).collect(),
            );
            both(
                ours.range(..=lo).rev().map(|(k, _)| k).collect(),
                theirs.range(..=lo).rev().map(|(k, _)| k).collect(),
            );
        }
        let set: VecSet<u32> = keys.into();
        let std_set: BTreeSet<u32> = keys.into();
        for lo in 0..10u32 {
            for hi in lo..10u32 {
                assert!(set.range(lo..hi).eq(std_set.range(lo..hi)));
                assert!(set.range(lo..=hi).eq(std_set.range(lo..=hi)));
            }
        }
    }

    #[test]
    #[should_panic(expected = "range start is greater than range end")]
    fn a_backwards_range_panics_like_btreemap() {
        let map: VecMap<u32, ()> = [(1, ())].into();
        #[allow(clippy::reversed_empty_ranges)]
        let _ = map.range(3..1).count();
    }

    /// The same JSON as a `BTreeMap` and `BTreeSet` with the same contents, and back.
    #[test]
    fn serde_matches_btree_collections() {
        let ours: VecMap<String, VecSet<u32>> = [
            ("z".to_string(), [3, 1].into()),
            ("a".to_string(), VecSet::new()),
        ]
        .into();
        let theirs: BTreeMap<String, BTreeSet<u32>> = [
            ("z".to_string(), [3, 1].into()),
            ("a".to_string(), BTreeSet::new()),
        ]
        .into();
        let json = serde_json::to_string(&ours).unwrap();
        assert_eq!(json, serde_json::to_string(&theirs).unwrap());
        assert_eq!(json, r#"{"a":[],"z":[1,3]}"#);
        let back: VecMap<String, VecSet<u32>> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ours);
        // Out-of-order input is put in order, as a `BTreeMap` would be.
        let back: VecMap<u32, u32> = serde_json::from_str(r#"{"2":1,"1":2}"#).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), r#"{"1":2,"2":1}"#);
        assert_eq!(format!("{ours:#?}"), format!("{theirs:#?}"));
    }

    /// Comparisons and hashes agree with the B-trees', entry by entry in key order.
    #[test]
    fn order_and_hash_match_btree_collections() {
        use std::hash::{DefaultHasher, Hash, Hasher};
        fn hash_of(x: &impl Hash) -> u64 {
            let mut h = DefaultHasher::new();
            x.hash(&mut h);
            h.finish()
        }
        let pairs = [
            vec![(1u8, 9u8), (2, 0)],
            vec![(1, 9), (3, 0)],
            vec![(1, 8), (2, 5)],
            vec![(1, 9)],
        ];
        for a in &pairs {
            let (ours_a, theirs_a): (VecMap<u8, u8>, BTreeMap<u8, u8>) =
                (a.iter().copied().collect(), a.iter().copied().collect());
            assert_eq!(hash_of(&ours_a), hash_of(&theirs_a));
            let keys_a: VecSet<u8> = a.iter().map(|e| e.0).collect();
            let std_keys_a: BTreeSet<u8> = a.iter().map(|e| e.0).collect();
            assert_eq!(hash_of(&keys_a), hash_of(&std_keys_a));
            for b in &pairs {
                let (ours_b, theirs_b): (VecMap<u8, u8>, BTreeMap<u8, u8>) =
                    (b.iter().copied().collect(), b.iter().copied().collect());
                assert_eq!(ours_a.cmp(&ours_b), theirs_a.cmp(&theirs_b));
                assert_eq!(ours_a == ours_b, theirs_a == theirs_b);
            }
        }
    }

    #[test]
    fn set_operations_match_btreeset() {
        let a: VecSet<u32> = [5, 1, 3, 7].into();
        let b: VecSet<u32> = [3, 4, 5].into();
        let sa: BTreeSet<u32> = [5, 1, 3, 7].into();
        let sb: BTreeSet<u32> = [3, 4, 5].into();
        assert!(a.difference(&b).eq(sa.difference(&sb)));
        assert!(a.intersection(&b).eq(sa.intersection(&sb)));
        assert!(a.iter().eq(sa.iter()));
        let mut c = a.clone();
        assert!(!c.insert(3));
        assert!(c.remove(&3));
        assert!(!c.remove(&3));
        assert_eq!(c.pop_first(), Some(1));
        assert_eq!(c.pop_last(), Some(7));
        assert_eq!(format!("{c:?}"), "{5}");
        assert!(c.is_subset(&a) && a.is_superset(&c) && !a.is_disjoint(&b));
    }
}
