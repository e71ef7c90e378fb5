//! The process table: id → process (or call reply slot), sharded by id.
//!
//! Every send, call and spawn goes through it, from every worker thread, so it
//! is split into independent shards (one lock each, on its own cache line), and
//! each shard hashes ids so that consecutive ids land in consecutive buckets:
//! spawning many processes writes the table front to back instead of touching a
//! random cache line per insert.

use super::Entry;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

const SHARDS: usize = 16;

/// Hashes a `u64` id: the low bits keep the id's order (bucket = id / SHARDS
/// modulo the table size), the top 7 bits — the tag hashbrown compares before
/// the key — come from a multiplicative mix so equal-tag collisions stay rare.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        let spread = self.0 / SHARDS as u64;
        let tag = self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15) & 0xFE00_0000_0000_0000;
        (spread & 0x01FF_FFFF_FFFF_FFFF) | tag
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; keep a correct fallback anyway.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Shard = HashMap<u64, Entry, BuildHasherDefault<IdHasher>>;

#[repr(align(64))]
struct Padded(RwLock<Shard>);

pub(crate) struct ProcTable {
    shards: Box<[Padded]>,
}

impl Default for ProcTable {
    fn default() -> Self {
        ProcTable {
            shards: (0..SHARDS)
                .map(|_| Padded(RwLock::new(Shard::default())))
                .collect(),
        }
    }
}

impl ProcTable {
    fn shard(&self, id: u64) -> &RwLock<Shard> {
        &self.shards[(id % SHARDS as u64) as usize].0
    }

    pub(crate) fn insert(&self, id: u64, e: Entry) {
        self.shard(id).write().insert(id, e);
    }

    pub(crate) fn remove(&self, id: u64) -> Option<Entry> {
        self.shard(id).write().remove(&id)
    }

    /// Applies `f` to the entry of `id` under its shard's read lock.
    pub(crate) fn with<R>(&self, id: u64, f: impl FnOnce(Option<&Entry>) -> R) -> R {
        f(self.shard(id).read().get(&id))
    }

    pub(crate) fn get(&self, id: u64) -> Option<Entry> {
        self.with(id, |e| e.cloned())
    }

    /// Every entry for which `f` returns something (a snapshot, shard by shard).
    pub(crate) fn collect<T>(&self, mut f: impl FnMut(&Entry) -> Option<T>) -> Vec<T> {
        let mut out = Vec::new();
        for s in self.shards.iter() {
            out.extend(s.0.read().values().filter_map(&mut f));
        }
        out
    }

    /// Counts the entries for which `f` holds.
    pub(crate) fn count(&self, mut f: impl FnMut(&Entry) -> bool) -> usize {
        self.shards
            .iter()
            .map(|s| s.0.read().values().filter(|e| f(e)).count())
            .sum()
    }
}
