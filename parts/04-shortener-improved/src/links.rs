//! What a node does with a link: find it through its owner, create it,
//! count its views.
//!
//! Lesson: docs/src/part-4-shortener-improved.md. The store's calls are in
//! `store.rs`, the ring in `ring.rs`, the messages between nodes in
//! `protocol.rs`. Run `cargo grade shortener-improved` to check your work.

// Until every todo!() below is filled in, some imports and arguments are
// unused. Delete this line when you are done: the compiler's warnings then
// help you check your work (an import your own code does not need is one of
// them: delete it too).
#![allow(unused)]

use crate::cache::Cache;
use crate::protocol::{OwnerCall, OwnerCast, OwnerReply, OWNER_CACHE};
use crate::ring::SharedRing;
use crate::store::{Claim, Store, StoreError};
use crate::views::Views;
use contracts::shortener::{derived_code, Link, MAX_ATTEMPTS};
use netsplit::{gen_server, Node, NodeName};
use std::time::Duration;

/// How long a node waits for a link's owner before it asks the store
/// instead: a dead or paused owner costs at most this much.
pub const OWNER_TIMEOUT: Duration = Duration::from_millis(300);

/// The answer to "where does this code go?".
#[derive(Debug)]
pub enum Resolved {
    /// Redirect here (302).
    Found(String),
    /// No such link (404).
    Unknown,
    /// No node had it and the store did not answer (503).
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
    pub ring: SharedRing,
    pub cache: Cache,
    pub store: Store,
    pub views: Views,
}

impl Links {
    /// Where `code` redirects.
    pub async fn resolve(&self, code: &str) -> Resolved {
        match self.ring.owner(code) {
            Some(owner) if owner != *self.node.name() => self.via_owner(&owner, code).await,
            _ => self.as_owner(code).await,
        }
    }

    /// We own `code`: our cache, else the store (and then our cache).
    async fn as_owner(&self, code: &str) -> Resolved {
        if let Some(url) = self.cache.get(code) {
            return Resolved::Found(url);
        }
        let found = self.read_store(code).await;
        if let Resolved::Found(url) = &found {
            self.cache.insert_all([link(code, url)]);
        }
        found
    }

    /// Another node owns `code`.
    async fn via_owner(&self, owner: &NodeName, code: &str) -> Resolved {
        todo!(
            "Problem 2 (docs/src/part-4-shortener-improved.md, 'Problem 2, routing'): {owner} \
             owns {code:?}: ask its owner cache ({OWNER_CACHE}) with one call, waiting at most \
             OWNER_TIMEOUT; on a miss read the store and give the owner the link (a cast); if \
             it does not answer in time, read the store"
        )
    }

    async fn read_store(&self, code: &str) -> Resolved {
        match self.store.get(code).await {
            Ok(Some(url)) => Resolved::Found(url),
            Ok(None) => Resolved::Unknown,
            Err(e) => Resolved::Unavailable(e),
        }
    }

    /// Shortens `url`, under `custom` if given, and returns the code. The
    /// store has the link before anyone else hears of it.
    pub async fn create(&self, url: &str, custom: Option<&str>) -> Result<String, CreateError> {
        let link = match custom {
            Some(code) => {
                let link = link(code, url);
                match self.store.claim(&link).await? {
                    Claim::Claimed | Claim::AlreadyOurs => link,
                    Claim::TakenBy(_) => return Err(CreateError::Taken(code.to_string())),
                }
            }
            None => self.claim_derived(url).await?,
        };
        self.give_to_owner(link.clone());
        Ok(link.code)
    }

    /// The first derived code that is free or already this URL's.
    async fn claim_derived(&self, url: &str) -> Result<Link, CreateError> {
        for attempt in 0..MAX_ATTEMPTS {
            let link = link(&derived_code(url, attempt), url);
            match self.store.claim(&link).await? {
                Claim::Claimed | Claim::AlreadyOurs => return Ok(link),
                Claim::TakenBy(_) => continue,
            }
        }
        Err(CreateError::NoFreeCode)
    }

    /// Gives a new link to the node that owns it.
    fn give_to_owner(&self, link: Link) {
        todo!(
            "Problem 2 (docs/src/part-4-shortener-improved.md, 'Problem 2, routing'): {} goes \
             to the cache of its owner only: ours if we own it, else one cast to the owner's \
             owner cache",
            link.code
        )
    }

    /// Problem 3: a redirect was served: one view, counted here.
    pub fn count_view(&self, code: &str) {
        self.views.count(code);
    }
}

fn link(code: &str, url: &str) -> Link {
    Link {
        code: code.to_string(),
        url: url.to_string(),
    }
}
