//! This node's copy of the links: memory every request handler reads
//! directly, without a message to anyone (the ETS-table idea).
//!
//! Lesson: docs/src/part-3-shortener.md, "Problem 1, a local cache". Run
//! `cargo grade shortener` to check your work.

// Until every todo!() below is filled in, some imports and arguments are
// unused. Delete this line when you are done: the compiler's warnings then
// help you check your work (an import your own code does not need is one of
// them: delete it too).
#![allow(unused)]

use contracts::shortener::Link;
use std::collections::HashMap;
use std::sync::Arc;

/// Code → URL, shared by every handle. Clones are the same table.
///
/// Links never change, so a cached link is never stale: the only question
/// a cache answers is "do I have it yet?".
#[derive(Clone, Default)]
pub struct Cache {
    // TODO Problem 1: the table itself. Every HTTP handler and the cache
    // server hold a clone of this Cache at the same time, from several
    // threads, and all of them must see the same links: choose a shared,
    // thread-safe structure (the lesson compares a few). Reads are far more
    // frequent than writes.
}

impl Cache {
    /// The URL of `code`, if this node has it.
    pub fn get(&self, code: &str) -> Option<String> {
        todo!(
            "Problem 1 (docs/src/part-3-shortener.md, 'Problem 1, a local cache'): look up \
             {code:?} in this node's table; a read must never wait on a process's mailbox"
        )
    }

    /// Adds links (a link already present is left as it is).
    pub fn insert_all(&self, links: impl IntoIterator<Item = Link>) {
        todo!(
            "Problem 1 (docs/src/part-3-shortener.md, 'Problem 1, a local cache'): add these \
             links to the table, keeping a code's URL if it is already there"
        )
    }

    /// Every cached link, for a peer that missed them.
    pub fn snapshot(&self) -> Vec<Link> {
        todo!(
            "Problem 4 (docs/src/part-3-shortener.md, 'Problem 4, warm-up'): every link in the \
             table, to send to a node that missed them"
        )
    }

    /// How many links are cached.
    pub fn len(&self) -> usize {
        todo!("Problem 1 (docs/src/part-3-shortener.md, 'Problem 1, a local cache'): the table's size")
    }
}
