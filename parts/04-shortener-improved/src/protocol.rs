//! What the nodes of this part say to each other (the grader's calls are in
//! `contracts::shortener_improved`).

use contracts::shortener::Link;
use netsplit::NodeName;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The name every node registers its owner cache under: the server other
/// nodes ask for the links this node owns.
pub const OWNER_CACHE: &str = "shortener_owner_cache";

/// The name every node registers its view counter under.
pub const COUNTER: &str = "shortener_counter";

/// Calls an owner cache serves.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum OwnerCall {
    /// Where does this code go, if you have it cached?
    Lookup(String),
}

/// An owner cache's answers.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum OwnerReply {
    /// Cached: redirect here.
    Hit(String),
    /// Not cached (the caller asks the store, then fills the owner).
    Miss,
}

/// Casts to an owner cache.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum OwnerCast {
    /// Cache this link you own (a create, or a link someone read from the
    /// store).
    Fill(Link),
}

/// Whose views a count is: a node in one incarnation (the creation its
/// pids carry). A node killed and started again counts in a new slot.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot {
    /// The node.
    pub node: NodeName,
    /// Its incarnation.
    pub creation: u32,
}

/// A grow-only counter: slot → the views that slot has counted. Two copies
/// merge by taking, per slot, the larger value.
pub type GCounter = BTreeMap<Slot, u64>;

/// Casts between view counters.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum CounterCast {
    /// Merge these counters (code → its counter) into yours.
    Merge(BTreeMap<String, GCounter>),
    /// The counter on node `0` (re)connected: send it every counter you hold.
    SendAllTo(NodeName),
}
