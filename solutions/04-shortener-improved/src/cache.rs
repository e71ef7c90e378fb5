//! This node's cache of the links it owns: memory every request handler
//! reads directly, without a message to anyone (Part 3's table).

use contracts::shortener::Link;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;

/// Code → URL, shared by every handle. Clones are the same table.
///
/// Links never change, so a cached link is never stale: the only question
/// a cache answers is "do I have it yet?".
#[derive(Clone, Default)]
pub struct Cache {
    links: Arc<RwLock<HashMap<String, String>>>,
}

impl Cache {
    /// The URL of `code`, if this node has it.
    pub fn get(&self, code: &str) -> Option<String> {
        self.links.read().get(code).cloned()
    }

    /// Adds links (a link already present is left as it is).
    pub fn insert_all(&self, links: impl IntoIterator<Item = Link>) {
        let mut table = self.links.write();
        for link in links {
            table.entry(link.code).or_insert(link.url);
        }
    }

    /// How many links are cached.
    pub fn len(&self) -> usize {
        self.links.read().len()
    }
}
