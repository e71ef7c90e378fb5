//! What a node does with a link: find it, create it, share it.
//!
//! Lesson: docs/src/part-3-shortener.md. The store's calls are in
//! `store.rs`, the cache in `cache.rs`, the messages between caches in
//! `contracts::shortener`.

use crate::cache::Cache;
use crate::store::{Claim, Store, StoreError};
use contracts::shortener::{derived_code, CacheCast, Link, CACHE, MAX_ATTEMPTS};
use netsplit::{gen_server, Node};

/// The answer to "where does this code go?".
#[derive(Debug)]
pub enum Resolved {
    /// Redirect here (302).
    Found(String),
    /// No such link (404).
    Unknown,
    /// This node has no copy and the store did not answer (503).
    Unavailable(StoreError),
}

/// Why a create failed.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The custom code is taken by another URL (422).
    #[error("the code {0:?} is already taken by another URL")]
    Taken(String),
    /// Every derived code is taken (503; it does not happen in practice).
    #[error("no free code for this URL after {MAX_ATTEMPTS} attempts")]
    NoFreeCode,
    /// The store did not answer (503): nothing was written or shared.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone)]
pub struct Links {
    pub node: Node,
    pub cache: Cache,
    pub store: Store,
}

impl Links {
    /// Where `code` redirects.
    pub async fn resolve(&self, code: &str) -> Resolved {
        // Problem 1: our own memory first; no message, no store.
        if let Some(url) = self.cache.get(code) {
            return Resolved::Found(url);
        }
        self.read_through(code).await
    }

    /// Problem 3: a code this node has not cached is asked of the store, and
    /// a link found there is cached for next time. Problem 5: a store that
    /// does not answer is "unavailable", never "unknown" (a 404 would tell
    /// the user the link does not exist).
    async fn read_through(&self, code: &str) -> Resolved {
        match self.store.get(code).await {
            Ok(Some(url)) => {
                self.cache.insert_all([Link {
                    code: code.to_string(),
                    url: url.clone(),
                }]);
                Resolved::Found(url)
            }
            Ok(None) => Resolved::Unknown,
            Err(e) => Resolved::Unavailable(e),
        }
    }

    /// Shortens `url`, under `custom` if given, and returns the code. The
    /// store has the link before anyone else hears of it.
    pub async fn create(&self, url: &str, custom: Option<&str>) -> Result<String, CreateError> {
        let link = match custom {
            Some(code) => {
                let link = Link {
                    code: code.to_string(),
                    url: url.to_string(),
                };
                match self.store.claim(&link).await? {
                    Claim::Claimed | Claim::AlreadyOurs => link,
                    Claim::TakenBy(_) => return Err(CreateError::Taken(code.to_string())),
                }
            }
            None => self.claim_derived(url).await?,
        };
        self.replicate(&link);
        Ok(link.code)
    }

    /// The first derived code that is free or already this URL's: a code
    /// taken by another URL is a collision, and the next attempt parts them.
    async fn claim_derived(&self, url: &str) -> Result<Link, CreateError> {
        for attempt in 0..MAX_ATTEMPTS {
            let link = Link {
                code: derived_code(url, attempt),
                url: url.to_string(),
            };
            match self.store.claim(&link).await? {
                Claim::Claimed | Claim::AlreadyOurs => return Ok(link),
                Claim::TakenBy(_) => continue,
            }
        }
        Err(CreateError::NoFreeCode)
    }

    /// Problem 2: every cache in the cluster gets the new link, ours
    /// included, in one abcast. Nodes out of reach now catch up on nodeup
    /// (Problem 4) or read through (Problem 3).
    fn replicate(&self, link: &Link) {
        let nodes = self.node.nodes_and_self();
        gen_server::abcast(
            &self.node,
            &nodes,
            CACHE,
            &CacheCast::Links(vec![link.clone()]),
        );
    }
}
