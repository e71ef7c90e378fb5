//! Part 4, improved shortener: each link is cached by one owner node, chosen
//! by consistent hashing, and every redirect counts one view, in a counter
//! every node converges on.
//!
//! The HTTP contract is Part 3's ([`crate::shortener`]: the same statuses,
//! codes, store keys and limits), plus:
//!
//! | request | answer |
//! |---|---|
//! | `GET /<code>/stats` of a link | `200`, JSON `{"code": …, "url": …, "redirects": N}` |
//! | `GET /<code>/stats` of no link | `404` |
//! | `GET /<code>/stats`, not known here and the store unreachable | `503` |
//!
//! `redirects` is this node's view of the total: every `302` any node has
//! served for the code, as far as this node has heard. Only `302`s count:
//! never a `404`, a `503`, a create or a stats request.
//!
//! Every node registers a ring server as [`RING`]: the grader asks it who
//! owns a code ([`RingCall::Owners`]), whether this node caches a code
//! ([`RingCall::Cached`]) and which nodes the ring is made of
//! ([`RingCall::Members`]).

use netsplit::NodeName;
use serde::{Deserialize, Serialize};

/// The name every node registers its ring server under.
pub const RING: &str = "shortener_ring";

/// The ring server, with the types of its calls.
pub const RING_SERVER: crate::Server<RingCall, RingReply> = crate::Server::new(RING);

/// Calls a ring server serves (the grader's window on the ring).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum RingCall {
    /// The owner of each of these codes, as this node's ring says now, in
    /// order: [`RingReply::Owners`].
    Owners(Vec<String>),
    /// Whether this node's cache holds each of these codes, in order:
    /// [`RingReply::Cached`].
    Cached(Vec<String>),
    /// The nodes this node's ring is made of, sorted:
    /// [`RingReply::Members`].
    Members,
}

/// A ring server's replies.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum RingReply {
    /// One owner per code asked.
    Owners(Vec<NodeName>),
    /// One answer per code asked.
    Cached(Vec<bool>),
    /// The ring's nodes.
    Members(Vec<NodeName>),
}

/// What `GET /<code>/stats` answers.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// The code.
    pub code: String,
    /// Where it redirects.
    pub url: String,
    /// Redirects served for it, cluster-wide, as this node knows.
    pub redirects: u64,
}
