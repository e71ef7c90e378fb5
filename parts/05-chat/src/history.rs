//! A room's history: the chat's message store, one copy per room process
//! (primary and replicas alike), merged when copies meet again.
//!
//! The order of a history is `(at, from, seq)`. A room stamps each new
//! message with a time never lower than its last message's, so appending
//! keeps that order, and so does a failover (the new primary starts from the
//! old one's last stamp). Two copies that diverged during a partition merge
//! into the same order on every node, each sender's messages still in `seq`
//! order. `(from, seq)` names a message: merging a copy twice adds nothing.
//!
//! Lesson: docs/src/part-5-chat.md, "Problem 1, a chat on one node" and "Problem 5, partitions".

// Until every hole below is filled in, some imports and arguments are
// unused. Delete this line when you are done: the compiler's warnings then
// help you check your work (an import your own code does not need is one of
// them: delete it too).
#![allow(unused)]

use contracts::chat::{ChatMessage, Cursor, HISTORY_KEPT};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The messages of one room, oldest first, at most [`HISTORY_KEPT`].
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    messages: Vec<ChatMessage>,
    /// The highest `seq` of each sender ever seen here, kept when the
    /// message itself is dropped, so numbering never goes back.
    last_seq: BTreeMap<String, u64>,
}

/// The sort key of the history's order, which every list of messages the
/// room hands out follows.
pub fn key(m: &ChatMessage) -> (u64, &str, u64) {
    (m.at, m.from.as_str(), m.seq)
}

impl History {
    /// Numbers and stamps a new message of `from` in `room` and appends it:
    /// `seq` one above the sender's last, `at` the later of `now_us` and
    /// just after the last message.
    pub fn append(&mut self, room: &str, from: &str, text: &str, now_us: u64) -> ChatMessage {
        todo!(
            "Problem 1 (docs/src/part-5-chat.md, 'Problem 1, a chat on one node'): \
             number a new message: seq one above the sender's last (last_seq), at the \
             later of now_us and just after the last message; insert it, return it"
        )
    }

    /// Adds a message numbered elsewhere (a replica's copy, a merge) in its
    /// place; false if it was here already.
    pub fn insert(&mut self, msg: ChatMessage) -> bool {
        todo!(
            "Problem 1 (docs/src/part-5-chat.md, 'Problem 1, a chat on one node'): \
             add a message numbered elsewhere at its place in the (at, from, seq) \
             order, unless it is here; raise last_seq; keep at most HISTORY_KEPT"
        )
    }

    /// Whether the message `seq` of `from` is here.
    pub fn contains(&self, from: &str, seq: u64) -> bool {
        self.messages.iter().any(|m| m.from == from && m.seq == seq)
    }

    /// Adds every message of `other` missing here; returns them, in order.
    pub fn merge(&mut self, other: &History) -> Vec<ChatMessage> {
        todo!(
            "Problem 5 (docs/src/part-5-chat.md, 'Problem 5, partitions'): add every \
             message of the other copy that is missing here (insert does the work) \
             and take the higher last_seq of each sender; return what was new"
        )
    }

    /// The newest `n` messages, oldest first.
    pub fn last(&self, n: usize) -> Vec<ChatMessage> {
        todo!(
            "Problem 1 (docs/src/part-5-chat.md, 'Problem 1, a chat on one node'): \
             the newest n messages, oldest first"
        )
    }

    /// Every message after `cursor` (each sender's messages above the
    /// `seq` the cursor has for it), oldest first.
    pub fn since(&self, cursor: &Cursor) -> Vec<ChatMessage> {
        todo!(
            "Problem 1 (docs/src/part-5-chat.md, 'Problem 1, a chat on one node'): \
             every message whose seq is above the cursor's entry for its sender (0 if \
             none), oldest first"
        )
    }

    /// The highest `seq` of each sender: where a session that joins now
    /// starts.
    pub fn cursor(&self) -> Cursor {
        self.last_seq.clone()
    }
}

// Your tests for Problems 1 and 5: `cargo test -p chat --features exercises
// history`. They fail until the holes above are filled, so the kit's own
// test suite (`cargo test --workspace`) leaves them out; the solution's copy
// of this file runs them there.
#[cfg(all(test, feature = "exercises"))]
mod tests {
    use super::*;

    fn texts(v: &[ChatMessage]) -> Vec<String> {
        v.iter().map(|m| format!("{}{}", m.from, m.seq)).collect()
    }

    #[test]
    fn each_sender_is_numbered_from_one_and_stamps_never_go_back() {
        let mut h = History::default();
        let a1 = h.append("r", "a", "x", 100);
        let b1 = h.append("r", "b", "y", 50); // a clock behind
        let a2 = h.append("r", "a", "z", 300);
        assert_eq!((a1.seq, b1.seq, a2.seq), (1, 1, 2));
        assert_eq!(b1.at, 101);
        assert_eq!(texts(&h.last(10)), ["a1", "b1", "a2"]);
        assert_eq!(texts(&h.last(2)), ["b1", "a2"]);
    }

    #[test]
    fn since_gives_what_a_cursor_has_not_seen() {
        let mut h = History::default();
        for (who, t) in [("a", 1), ("b", 2), ("a", 3), ("b", 4), ("a", 5)] {
            h.append("r", who, "x", t);
        }
        let cursor = Cursor::from([("a".to_string(), 2), ("b".to_string(), 1)]);
        assert_eq!(texts(&h.since(&cursor)), ["b2", "a3"]);
        assert_eq!(h.since(&Cursor::new()).len(), 5);
    }

    #[test]
    fn merging_diverged_copies_orders_them_and_drops_duplicates() {
        let mut common = History::default();
        common.append("r", "a", "x", 10);
        let (mut left, mut right) = (common.clone(), common.clone());
        left.append("r", "a", "l", 20);
        right.append("r", "b", "r", 15);
        right.append("r", "b", "r", 30);
        let added = left.merge(&right);
        assert_eq!(texts(&added), ["b1", "b2"]);
        assert_eq!(texts(&left.last(10)), ["a1", "b1", "a2", "b2"]);
        assert!(left.merge(&right).is_empty());
        let mut other_way = right.clone();
        other_way.merge(&left);
        assert_eq!(other_way.last(10), left.last(10));
        // Numbering goes on after the highest seq either side used.
        assert_eq!(left.append("r", "b", "n", 40).seq, 3);
    }

    #[test]
    fn a_full_history_drops_its_oldest_but_keeps_numbering() {
        let mut h = History::default();
        for t in 0..(HISTORY_KEPT as u64 + 5) {
            h.append("r", "a", "x", t);
        }
        assert_eq!(h.last(usize::MAX).len(), HISTORY_KEPT);
        assert_eq!(h.last(1)[0].seq, HISTORY_KEPT as u64 + 5);
        assert_eq!(h.last(HISTORY_KEPT)[0].seq, 6);
    }
}
