//! Stable sorting that costs the classroom's WebAssembly bundle one sort, not one per type.
//!
//! The standard library's stable sort is fast, but every element type and comparator it is
//! called with gets its own copy of a large algorithm (driftsort with its small-sort networks,
//! several kilobytes each). The model sorts a few dozen different things, almost all of them
//! short (group members, topics, replica lists), and the copies added up to about 8% of the
//! browser bundle. These functions sort a permutation of indices instead: the standard sort is
//! instantiated once, for `usize` under a `dyn` comparator, and each caller's type only adds a
//! small loop that applies the permutation.
//!
//! The result is exactly the standard stable sort's: elements that compare equal keep their
//! order. Runs must not depend on which algorithm sorted them, so the simulator, the core and
//! the classroom use these (clippy's `disallowed-methods` in `clippy.toml` says so); tests and
//! tools may use the standard sorts freely.

use std::cmp::Ordering;

/// Sorts `v` stably by `compare`, like `slice::sort_by`.
pub fn sort_by<T>(v: &mut [T], mut compare: impl FnMut(&T, &T) -> Ordering) {
    if v.len() < 2 {
        return;
    }
    let order = stable_order(v.len(), &mut |a, b| compare(&v[a], &v[b]));
    permute(v, order);
}

/// Sorts `v` stably by the key `key` extracts, like `slice::sort_by_key`.
pub fn sort_by_key<T, K: Ord>(v: &mut [T], mut key: impl FnMut(&T) -> K) {
    sort_by(v, |a, b| key(a).cmp(&key(b)));
}

/// Sorts `v` stably in ascending order, like `slice::sort`.
pub fn sort<T: Ord>(v: &mut [T]) {
    sort_by(v, T::cmp);
}

/// The indices `0..n` in the order a stable sort by `compare` puts the elements they name.
/// This is the one place the standard sort is instantiated.
fn stable_order(n: usize, compare: &mut dyn FnMut(usize, usize) -> Ordering) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    #[allow(clippy::disallowed_methods)] // the one instance this module exists to share
    order.sort_by(|&a, &b| compare(a, b));
    order
}

/// Rearranges `v` so that position `k` holds what was at `order[k]`, following each cycle of
/// the permutation with swaps; `order` is used up as the record of what is done.
fn permute<T>(v: &mut [T], mut order: Vec<usize>) {
    for start in 0..v.len() {
        let mut at = start;
        // A position whose entry names itself is in place (or its cycle is finished).
        while order[at] != at {
            let from = order[at];
            order[at] = at;
            if from == start {
                break;
            }
            v.swap(at, from);
            at = from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Against the standard stable sort on many shuffled vectors with many equal keys: the same
    /// order, including among equal keys (each element carries its original position).
    #[test]
    fn matches_the_standard_stable_sort() {
        let mut rng = Rng::new(7);
        for len in 0..200usize {
            let v: Vec<(u64, usize)> = (0..len).map(|i| (rng.next_u64() % 7, i)).collect();
            let mut ours = v.clone();
            let mut theirs = v.clone();
            sort_by_key(&mut ours, |e| e.0);
            #[allow(clippy::disallowed_methods)]
            theirs.sort_by_key(|e| e.0);
            assert_eq!(ours, theirs, "length {len}");
        }
    }

    #[test]
    fn sorts_in_descending_order_by_comparator_and_plain_order() {
        let mut v = vec![3, 1, 4, 1, 5, 9, 2, 6];
        sort_by(&mut v, |a, b| b.cmp(a));
        assert_eq!(v, [9, 6, 5, 4, 3, 2, 1, 1]);
        sort(&mut v);
        assert_eq!(v, [1, 1, 2, 3, 4, 5, 6, 9]);
    }

    /// Elements that are not `Copy` and own memory move without being cloned or dropped twice.
    #[test]
    fn moves_owned_elements() {
        let mut v: Vec<String> = ["pear", "apple", "fig", "kiwi"].map(String::from).to_vec();
        sort_by_key(&mut v, |s| s.len());
        assert_eq!(v, ["fig", "pear", "kiwi", "apple"]);
    }
}
