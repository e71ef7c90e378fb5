//! Lab: replicated KV store. One writer for the whole cluster, a copy of the
//! table on every node.
//!
//! - Every node runs a **replica**, registered locally as [`KV`]: its own
//!   copy of the table, and the node's front door. It answers
//!   [`KvCall::GetLocal`] from its own copy, without a message to any other
//!   node, and passes [`KvCall::Put`] and [`KvCall::Get`] on to the writer.
//! - One process in the cluster, the **writer**, holds the `:global` name
//!   [`WRITER`]. It numbers every write ([`Entry::seq`]), copies it to the
//!   replica of every node it is connected to, its own node's included
//!   ([`KvCall::Apply`]), and acknowledges the put only once every one of
//!   them has confirmed.
//! - A node that was cut off and comes back is brought up to date by the
//!   writer ([`KvCall::Sync`]). When the writer's node dies, the survivors
//!   register a new writer, which starts from what the replicas hold: every
//!   acknowledged write is on every survivor, so none is lost.
//!
//! The grader calls [`KV_SERVER`] on the nodes and asks each node's own
//! view of `:global` where [`WRITER`] is (`global:whereis_name`). It never
//! sends [`KvCall::Apply`], [`KvCall::Sync`] or a [`WriterCall`]: those are
//! between the writer and the replicas.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The local name of every node's replica.
pub const KV: &str = "kv";
/// The `:global` name of the writer: one process in the whole cluster.
pub const WRITER: &str = "kv_writer";

/// Every node's replica, with the types of its calls.
pub const KV_SERVER: crate::Server<KvCall, KvReply> = crate::Server::new(KV);

/// One value of the table, with the number of the write that set it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The value.
    pub value: String,
    /// The writer numbers its writes 1, 2, 3, …, and a new writer goes on
    /// after the highest number it finds in the replicas. Of two entries
    /// for one key, the one with the higher `seq` is the newer.
    pub seq: u64,
}

/// A table: key → its entry. Keys are kept sorted, so two tables with the
/// same contents compare and print the same.
pub type Table = BTreeMap<String, Entry>;

/// Whether `new` replaces `old`: it has the higher `seq`. Two writers can
/// give one number to different writes (one on each side of a partition);
/// then the larger value wins, so that every copy picks the same one.
///
/// Every copy of the table (the writer's, each replica's) keeps, per key,
/// the newest entry it has seen by this rule: then copies that were sent
/// the same writes agree, whatever order the writes and the merges came in.
pub fn newer(new: &Entry, old: &Entry) -> bool {
    (new.seq, &new.value) > (old.seq, &old.value)
}

/// Stores `entry` under `key`, unless `table` already holds that entry or
/// a [`newer`] one. True if the table changed.
pub fn merge_entry(table: &mut Table, key: String, entry: Entry) -> bool {
    match table.get(&key) {
        Some(old) if !newer(&entry, old) => false,
        _ => {
            table.insert(key, entry);
            true
        }
    }
}

/// Takes every entry of `other` that is [`newer`] than `table`'s (with
/// [`merge_entry`]). True if `table` changed.
pub fn merge(table: &mut Table, other: Table) -> bool {
    let mut changed = false;
    for (key, entry) in other {
        changed |= merge_entry(table, key, entry);
    }
    changed
}

/// The highest write number in `table` (0 if it is empty).
pub fn highest_seq(table: &Table) -> u64 {
    table.values().map(|e| e.seq).max().unwrap_or(0)
}

/// Calls a replica serves.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum KvCall {
    /// Set `key` to `value`, through the writer. Reply [`KvReply::Done`]
    /// once the writer has acknowledged it (every connected node's replica
    /// has it), or [`KvReply::Failed`] (no writer, or it did not confirm in
    /// time: the write may or may not have happened).
    Put {
        /// The key.
        key: String,
        /// Its new value.
        value: String,
    },
    /// Read `key` through the writer: reply [`KvReply::Value`] with what
    /// the writer holds, or [`KvReply::Failed`] if there is no writer.
    Get(String),
    /// Read `key` from this node's own table, with no message to any other
    /// node: reply [`KvReply::Value`].
    GetLocal(String),
    /// Reply [`KvReply::Table`] with this node's whole table.
    Table,
    /// From the writer: store this write (unless the table already holds a
    /// newer entry for the key) and reply [`KvReply::Applied`].
    Apply {
        /// The key.
        key: String,
        /// Its entry.
        entry: Entry,
    },
    /// From the writer: merge this table into yours, keeping the newer entry
    /// of each key, and reply [`KvReply::Table`] with the merged result.
    Sync(Table),
}

/// Calls the writer serves, each answered with a [`KvReply`]. Its name is
/// a `:global` one: call it with `netsplit::global::call(node, WRITER, …)`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum WriterCall {
    /// Number the write, store it in every connected node's replica, then
    /// reply [`KvReply::Done`]; [`KvReply::Failed`] if a replica did not
    /// confirm in time.
    Put {
        /// The key.
        key: String,
        /// Its new value.
        value: String,
    },
    /// Reply [`KvReply::Value`] with the writer's own value for the key.
    Get(String),
}

/// The replies of replicas and of the writer.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum KvReply {
    /// The put was acknowledged.
    Done,
    /// A key's value; `None` if the key is not in the table.
    Value(Option<String>),
    /// A whole table.
    Table(Table),
    /// A replica stored the write it was sent.
    Applied,
    /// The request could not be served, and why.
    Failed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(value: &str, seq: u64) -> Entry {
        Entry {
            value: value.into(),
            seq,
        }
    }

    #[test]
    fn the_higher_seq_wins_in_any_order() {
        let (old, new) = (entry("a", 1), entry("b", 2));
        let mut t = Table::new();
        assert!(merge_entry(&mut t, "k".into(), new.clone()));
        assert!(!merge_entry(&mut t, "k".into(), old.clone()));
        assert_eq!(t["k"].value, "b");
        let mut u = Table::new();
        merge_entry(&mut u, "k".into(), old);
        assert!(merge(&mut u, t.clone()));
        assert_eq!(u, t);
        assert!(!merge(&mut u, t));
        assert_eq!(highest_seq(&u), 2);
        assert_eq!(highest_seq(&Table::new()), 0);
    }

    #[test]
    fn equal_seqs_settle_on_the_same_value_everywhere() {
        let mut a = Table::from([("k".to_string(), entry("x", 5))]);
        let mut b = Table::from([("k".to_string(), entry("y", 5))]);
        let (a0, b0) = (a.clone(), b.clone());
        merge(&mut a, b0);
        merge(&mut b, a0);
        assert_eq!(a, b);
    }
}
