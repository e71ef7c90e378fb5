//! Consistent hashing: which node owns a code.
//!
//! Lesson: docs/src/part-4-shortener-improved.md, "Problem 1, the ring".
//! Run `cargo grade shortener-improved` to check your work.

// Until every todo!() below is filled in, some imports and arguments are
// unused. Delete this line when you are done: the compiler's warnings then
// help you check your work (an import your own code does not need is one of
// them: delete it too).
#![allow(unused)]

use netsplit::NodeName;
use parking_lot::RwLock;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Points per node: more points, smaller differences in load.
pub const VNODES: u32 = 256;

/// The ring of the current members.
#[derive(Debug, Clone, Default)]
pub struct Ring {
    // TODO Problem 1: what a ring needs to answer `owner` quickly: every
    // member's points on the circle, sorted, and the members themselves.
    members: Vec<NodeName>,
}

impl Ring {
    /// The ring of `members` (in any order; duplicates are ignored).
    pub fn new(members: &[NodeName]) -> Ring {
        todo!(
            "Problem 1 (docs/src/part-4-shortener-improved.md, 'Problem 1, the ring'): put \
             VNODES points on the circle for each of the {} members, at position(<member>#<i>), \
             sorted, so owner() can search them",
            members.len()
        )
    }

    /// The member that owns `code` (`None` only for a ring with no member).
    pub fn owner(&self, code: &str) -> Option<&NodeName> {
        todo!(
            "Problem 1 (docs/src/part-4-shortener-improved.md, 'Problem 1, the ring'): the \
             member of the first point at or after position({code:?}), going round past the end"
        )
    }

    /// The members, sorted.
    pub fn members(&self) -> &[NodeName] {
        &self.members
    }
}

/// The node's current ring, read by every request handler and replaced by
/// the ring server when the members change. Clones are the same ring.
#[derive(Clone, Default)]
pub struct SharedRing(Arc<RwLock<Ring>>);

impl SharedRing {
    /// The owner of `code` now.
    pub fn owner(&self, code: &str) -> Option<NodeName> {
        let ring = self.0.read();
        if ring.members().is_empty() {
            return None;
        }
        ring.owner(code).cloned()
    }

    /// The members now.
    pub fn members(&self) -> Vec<NodeName> {
        self.0.read().members().to_vec()
    }

    /// Replaces the ring.
    pub fn set(&self, ring: Ring) {
        *self.0.write() = ring;
    }
}

/// A position on the circle for `key`.
fn position(key: &str) -> u64 {
    todo!(
        "Problem 1 (docs/src/part-4-shortener-improved.md, 'Problem 1, the ring'): a 64-bit \
         hash of {key:?} that every process computes the same (no random seed: sha2 is a \
         dependency)"
    )
}
