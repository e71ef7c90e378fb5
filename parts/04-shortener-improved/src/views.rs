//! View counts: one grow-only counter per link, counted locally, merged from
//! the other nodes.
//!
//! A counter maps each slot (a node in one incarnation) to the views that
//! slot served. A node only ever increments its own slot, so every copy of
//! a slot's value is a count that slot really reached, and merging two
//! copies by taking the larger value per slot loses nothing and counts
//! nothing twice, however often, late or out of order the copies arrive.
//! The total is the sum of the slots.
//!
//! Lesson: docs/src/part-4-shortener-improved.md, "Problem 3, view counts".

// Until every todo!() below is filled in, some imports and arguments are
// unused. Delete this line when you are done: the compiler's warnings then
// help you check your work (an import your own code does not need is one of
// them: delete it too).
#![allow(unused)]

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

    /// One view of `code`, served here.
    pub fn count(&self, code: &str) {
        todo!(
            "Problem 3 (docs/src/part-4-shortener-improved.md, 'Problem 3, view counts'): one \
             more view of {code:?} in this node's own slot (self.me), and remember the code \
             for the next push"
        )
    }

    /// Views of `code`, cluster-wide, as far as this node has heard.
    pub fn total(&self, code: &str) -> u64 {
        self.inner
            .lock()
            .by_code
            .get(code)
            .map_or(0, |c| c.values().sum())
    }

    /// Merges counters from another node.
    pub fn merge(&self, counters: BTreeMap<String, GCounter>) {
        todo!(
            "Problem 3 (docs/src/part-4-shortener-improved.md, 'Problem 3, view counts'): merge \
             these {} counters into ours, slot by slot; the same views arrive many times",
            counters.len()
        )
    }

    /// The counters of the codes counted here since the last call, whole
    /// (a receiver that missed a push catches up on the next one).
    pub fn take_dirty(&self) -> BTreeMap<String, GCounter> {
        todo!(
            "Problem 3 (docs/src/part-4-shortener-improved.md, 'Problem 3, view counts'): the \
             whole counters of the codes counted here since the last push, and forget them"
        )
    }

    /// Every counter, for a node that (re)connected.
    pub fn all(&self) -> BTreeMap<String, GCounter> {
        todo!(
            "Problem 4 (docs/src/part-4-shortener-improved.md, 'Problem 4, restarts'): every \
             counter this node holds"
        )
    }
}
