//! The grader as a user of the nodes: it sends HTTP requests and opens
//! client sessions straight to a node's own port (never through the fabric:
//! the grader is the user, not a node), and records what came back and when.
//!
//! * [`http`]: requests with a timeout each, no redirect followed, status,
//!   headers, body and latency recorded; raw bytes for malformed requests.
//! * [`lines`]: a JSON-lines client over TCP that collects events with their
//!   arrival times and waits for them with bounded waits.
//! * [`latency`]: latency summaries (p50, p99, max) through a histogram.

pub mod http;
pub mod latency;
pub mod lines;

use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Instant;

/// Most entries a journal keeps for the timeline; later ones are counted
/// but not drawn.
const JOURNAL_LIMIT: usize = 5_000;

/// What the probes of one stage did, for the timeline: one entry per
/// request or client event, on the lane of the node it concerned. Cheap to
/// clone; every clone writes to the same journal.
#[derive(Debug, Clone, Default)]
pub struct Journal {
    inner: Arc<Mutex<JournalInner>>,
}

#[derive(Debug, Default)]
struct JournalInner {
    entries: Vec<JournalEntry>,
    dropped: u64,
}

/// One thing a probe saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// When.
    pub at: Instant,
    /// The node's short name (its timeline lane).
    pub lane: String,
    /// What happened, e.g. `GET /abc → 302 (1.2 ms)`.
    pub label: String,
}

impl Journal {
    /// An empty journal.
    pub fn new() -> Journal {
        Journal::default()
    }

    /// Records one entry.
    pub fn record(&self, lane: &str, label: String) {
        let mut j = self.inner.lock();
        if j.entries.len() < JOURNAL_LIMIT {
            j.entries.push(JournalEntry {
                at: Instant::now(),
                lane: lane.to_string(),
                label,
            });
        } else {
            j.dropped += 1;
        }
    }

    /// Every entry kept, oldest first, and how many were not kept.
    pub fn entries(&self) -> (Vec<JournalEntry>, u64) {
        let j = self.inner.lock();
        (j.entries.clone(), j.dropped)
    }
}
