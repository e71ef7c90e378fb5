//! Consistent hashing: which node owns a code.
//!
//! Every member puts [`VNODES`] points on a circle of 64-bit positions (the
//! hash of its name and the point's number); a code belongs to the first
//! point at or after its own hash, going round. A node that joins takes
//! over only the arcs just before its points, from their old owners; a node
//! that leaves gives its arcs to the next points. Every node computes the
//! same owners from the same members, so the hash must not depend on the
//! process: no random seed.

use netsplit::NodeName;
use parking_lot::RwLock;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Points per node: more points, smaller differences in load.
pub const VNODES: u32 = 256;

/// The ring of the current members.
#[derive(Debug, Clone, Default)]
pub struct Ring {
    /// (position, member), sorted by position.
    points: Vec<(u64, NodeName)>,
    members: Vec<NodeName>,
}

impl Ring {
    /// The ring of `members` (in any order; duplicates are ignored).
    pub fn new(members: &[NodeName]) -> Ring {
        let mut members = members.to_vec();
        members.sort();
        members.dedup();
        let mut points: Vec<(u64, NodeName)> = members
            .iter()
            .flat_map(|m| (0..VNODES).map(move |i| (position(&format!("{m}#{i}")), m.clone())))
            .collect();
        points.sort();
        Ring { points, members }
    }

    /// The member that owns `code` (`None` only for a ring with no member).
    pub fn owner(&self, code: &str) -> Option<&NodeName> {
        if self.points.is_empty() {
            return None;
        }
        let h = position(code);
        let i = self.points.partition_point(|(p, _)| *p < h);
        Some(&self.points[i % self.points.len()].1)
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
        self.0.read().owner(code).cloned()
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

/// A position on the circle: the first 8 bytes of SHA-256, the same in
/// every process.
fn position(key: &str) -> u64 {
    let digest = Sha256::digest(key.as_bytes());
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<NodeName> {
        (1..=n)
            .map(|i| NodeName::new(&format!("n{i}@127.0.0.1")).unwrap())
            .collect()
    }

    #[test]
    fn a_joining_node_takes_codes_only_for_itself() {
        let codes: Vec<String> = (0..5000).map(|i| format!("code{i}")).collect();
        let four = Ring::new(&names(4));
        let five = Ring::new(&names(5));
        let mut moved = 0;
        for c in &codes {
            let (a, b) = (four.owner(c).unwrap(), five.owner(c).unwrap());
            if a != b {
                moved += 1;
                assert_eq!(b.as_str(), "n5@127.0.0.1");
            }
        }
        assert!(moved > 0 && moved < codes.len() * 13 / 50, "{moved} moved");
    }
}
