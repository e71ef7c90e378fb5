//! What a node does with a link: find it, create it, share it.
//!
//! Lesson: docs/src/part-3-shortener.md. The store's calls are in
//! `store.rs`, the cache in `cache.rs`, the messages between caches in
//! `contracts::shortener` (read it first). Run `cargo grade shortener` to
//! check your work; each problem has its own grader stage.

// Until every todo!() below is filled in, some imports and arguments are
// unused. Delete this line when you are done: the compiler's warnings then
// help you check your work (an import your own code does not need is one of
// them: delete it too).
#![allow(unused)]

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
        todo!(
            "Problem 1 (docs/src/part-3-shortener.md, 'Problem 1, a local cache'): answer \
             {code:?} from this node's cache when it has it, without asking anyone; \
             otherwise read through to the store (self.read_through)"
        )
    }

    /// A code this node has not cached, asked of the store.
    async fn read_through(&self, code: &str) -> Resolved {
        todo!(
            "Problems 3 and 5 (docs/src/part-3-shortener.md, 'Problem 3, read-through'): ask the \
             store for {code:?}; cache a link it has, so the next request needs no store; a \
             store that does not answer is Unavailable (503), never Unknown (404)"
        )
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

    /// Shares a link the store now holds with the whole cluster.
    fn replicate(&self, link: &Link) {
        todo!(
            "Problem 2 (docs/src/part-3-shortener.md, 'Problem 2, replicate on create'): send \
             {link:?} to the cache server ({CACHE}) of every node, this one included, as \
             CacheCast::Links, in one broadcast"
        )
    }
}
