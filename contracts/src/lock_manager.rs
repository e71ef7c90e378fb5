//! Lab, distributed lock manager: one lock server for the whole cluster, and
//! on every node a client that takes locks and a counter that critical
//! sections update.
//!
//! The lock server is registered cluster-wide with `:global` as
//! [`LOCK_SERVER`]; the grader finds it with `global:whereis_name`, and
//! never calls it: how a node talks to the lock server is the lab's own
//! protocol (`src/lock_server.rs` of the lab). The grader drives each node's
//! client, registered as [`CLIENT`], and reads the counters, registered as
//! [`COUNTER`].
//!
//! # How the grader sees mutual exclusion
//!
//! A critical section ([`ClientCall::Sections`]) reads a counter on some
//! node with one call, waits a moment, and writes the value it read plus
//! one with a second call. Two holders in the critical section at once read
//! the same value and write the same value back: one update is lost, and
//! the counter ends lower than its number of writes
//! ([`CounterReply::Stats`]). A lock that keeps every holder alone leaves
//! `value == writes`.
//!
//! # Who holds a lock
//!
//! A lock is held by a process, and only that process may release it. For
//! [`ClientCall::Acquire`] and [`ClientCall::Release`] it is the client
//! process itself; for [`ClientCall::Sections`] it is the process the client
//! starts to run them. When a holder dies, or its node goes down, its locks
//! must be freed and handed to the next waiter.

use netsplit::NodeName;
use serde::{Deserialize, Serialize};

/// The `:global` name of the cluster's one lock server.
pub const LOCK_SERVER: &str = "lock_server";
/// The name every node registers its client under (locally, on each node).
pub const CLIENT: &str = "lock_client";
/// The name every node registers its counter under (locally, on each node).
pub const COUNTER: &str = "counter";

/// The client, with the types of its calls.
pub const CLIENT_SERVER: crate::Server<ClientCall, ClientReply> = crate::Server::new(CLIENT);
/// The counter, with the types of its calls.
pub const COUNTER_SERVER: crate::Server<CounterCall, CounterReply> = crate::Server::new(COUNTER);

/// Calls a node's client serves.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum ClientCall {
    /// Take `lock` for the client process itself, waiting at most
    /// `timeout_ms` while another process holds it, and keep it until
    /// [`ClientCall::Release`] or until the client dies. Reply
    /// [`ClientReply::Acquired`] once it is held, [`ClientReply::TimedOut`]
    /// when `timeout_ms` passed first (and then the client does not hold it,
    /// not now and not later), or [`ClientReply::Failed`].
    Acquire {
        /// The lock's name.
        lock: String,
        /// The longest wait, in milliseconds.
        timeout_ms: u64,
    },
    /// Release `lock`, held by the client process. Reply
    /// [`ClientReply::Released`], or [`ClientReply::NotHeld`] when the client
    /// does not hold it: then the lock stays with whoever holds it.
    Release {
        /// The lock's name.
        lock: String,
    },
    /// Run `count` critical sections on `lock`, one after another, in a new
    /// process (their holder). Each one takes the lock, waiting at most
    /// `timeout_ms`; reads the counter on node `counter`
    /// ([`CounterCall::Read`]); waits `hold_ms`; writes the value read plus
    /// one ([`CounterCall::Write`]); and releases the lock. A section whose
    /// lock did not come in time is skipped and counted in
    /// [`SectionsReport::timed_out`]. Reply [`ClientReply::Sections`] once
    /// all are done.
    Sections {
        /// The lock's name.
        lock: String,
        /// How many critical sections to run.
        count: u32,
        /// How long each one holds the lock between its read and its write,
        /// in milliseconds.
        hold_ms: u64,
        /// The node whose counter the sections update.
        counter: NodeName,
        /// The longest wait for the lock, per section, in milliseconds.
        timeout_ms: u64,
    },
}

/// A client's replies.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum ClientReply {
    /// The client holds the lock.
    Acquired,
    /// The timeout passed before the lock was free; the client does not hold
    /// it and will not be given it.
    TimedOut,
    /// The lock was the client's and is released.
    Released,
    /// The client did not hold the lock; nothing changed.
    NotHeld,
    /// What [`ClientCall::Sections`] did.
    Sections(SectionsReport),
    /// The request could not be carried out (the lock server could not be
    /// reached, crashed, or answered something unexpected), and why.
    Failed(String),
}

/// What a run of critical sections did.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct SectionsReport {
    /// Sections that held the lock and wrote the counter.
    pub done: u32,
    /// Sections skipped because the lock did not come within the timeout.
    pub timed_out: u32,
    /// Why the run stopped early, if it did (a failed lock request or
    /// counter call); the sections after it were not run.
    pub error: Option<String>,
}

/// Calls a node's counter serves.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum CounterCall {
    /// Reply [`CounterReply::Value`] with the current value.
    Read,
    /// Set the value (reply [`CounterReply::Written`]) and count one write.
    Write(u64),
    /// Reply [`CounterReply::Stats`].
    Stats,
}

/// A counter's replies.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum CounterReply {
    /// The current value.
    Value(u64),
    /// The write is done.
    Written,
    /// The current value, and how many writes set it. Critical sections that
    /// never overlap leave them equal; each lost update makes the value one
    /// lower.
    Stats {
        /// The current value.
        value: u64,
        /// How many [`CounterCall::Write`]s it has served.
        writes: u64,
    },
}
