//! View counts: one grow-only counter per link, counted locally, merged from
//! the other nodes.
//!
//! A counter maps each slot (a node in one incarnation) to the views that
//! slot served. A node only ever increments its own slot, so every copy of
//! a slot's value is a count that slot really reached, and merging two
//! copies by taking the larger value per slot loses nothing and counts
//! nothing twice, however often, late or out of order the copies arrive.
//! The total is the sum of the slots.

use crate::protocol::{GCounter, Slot};
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// This node's counters. Clones are the same counters.
#[derive(Clone)]
pub struct Views {
    me: Slot,
    inner: Arc<Mutex<Counters>>,
}

#[derive(Default)]
struct Counters {
    by_code: HashMap<String, GCounter>,
    /// Codes this node counted a view of since the last push.
    dirty: BTreeSet<String>,
}

impl Views {
    /// Counters counting for `me` (this node, this incarnation).
    pub fn new(me: Slot) -> Views {
        Views {
            me,
            inner: Arc::default(),
        }
    }

    /// Problem 3: one view of `code`, served here.
    pub fn count(&self, code: &str) {
        let mut c = self.inner.lock();
        *c.by_code
            .entry(code.to_string())
            .or_default()
            .entry(self.me.clone())
            .or_insert(0) += 1;
        c.dirty.insert(code.to_string());
    }

    /// Views of `code`, cluster-wide, as far as this node has heard.
    pub fn total(&self, code: &str) -> u64 {
        self.inner
            .lock()
            .by_code
            .get(code)
            .map_or(0, |c| c.values().sum())
    }

    /// Problem 3: merges counters from another node, slot by slot, keeping
    /// the larger value (never the sum: the same views arrive many times).
    pub fn merge(&self, counters: BTreeMap<String, GCounter>) {
        let mut c = self.inner.lock();
        for (code, theirs) in counters {
            let ours = c.by_code.entry(code).or_default();
            for (slot, n) in theirs {
                let v = ours.entry(slot).or_insert(0);
                *v = (*v).max(n);
            }
        }
    }

    /// The counters of the codes counted here since the last call, whole
    /// (a receiver that missed a push catches up on the next one).
    pub fn take_dirty(&self) -> BTreeMap<String, GCounter> {
        let mut c = self.inner.lock();
        let dirty = std::mem::take(&mut c.dirty);
        dirty
            .into_iter()
            .filter_map(|code| c.by_code.get(&code).map(|v| (code, v.clone())))
            .collect()
    }

    /// Every counter, for a node that (re)connected.
    pub fn all(&self) -> BTreeMap<String, GCounter> {
        self.inner
            .lock()
            .by_code
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netsplit::NodeName;

    fn slot(n: &str, creation: u32) -> Slot {
        Slot {
            node: NodeName::new(&format!("{n}@127.0.0.1")).unwrap(),
            creation,
        }
    }

    #[test]
    fn merging_the_same_counter_twice_counts_it_once() {
        let a = Views::new(slot("a", 1));
        let b = Views::new(slot("b", 1));
        a.count("x");
        a.count("x");
        b.count("x");
        let pushed = a.take_dirty();
        b.merge(pushed.clone());
        b.merge(pushed);
        assert_eq!(b.total("x"), 3);
        assert!(a.take_dirty().is_empty());
    }

    #[test]
    fn a_new_incarnation_adds_to_the_old_one() {
        let old = Views::new(slot("a", 1));
        for _ in 0..5 {
            old.count("x");
        }
        let new = Views::new(slot("a", 2));
        new.merge(old.all());
        new.count("x");
        assert_eq!(new.total("x"), 6);
    }
}
