//! The cache server: the process other nodes talk to about links. It fills
//! this node's cache from their messages and shares the cache with nodes
//! that missed links.
//!
//! Lesson: docs/src/part-3-shortener.md. Run `cargo grade shortener` to
//! check your work.

// Until every todo!() below is filled in, some imports and arguments are
// unused. Delete this line when you are done: the compiler's warnings then
// help you check your work (an import your own code does not need is one of
// them: delete it too).
#![allow(unused)]

use crate::cache::Cache;
use contracts::shortener::{CacheCall, CacheCast, CacheReply, CACHE};
use netsplit::gen_server::{self, CallResponse, Caller, Flow, GenServer, Info};
use netsplit::{Ctx, ExitReason, NodeName};

/// Writes into the node's [`Cache`] on behalf of the cluster.
pub struct CacheServer {
    cache: Cache,
}

impl CacheServer {
    /// A server filling `cache`.
    pub fn new(cache: Cache) -> CacheServer {
        CacheServer { cache }
    }
}

impl GenServer for CacheServer {
    type Call = CacheCall;
    type Reply = CacheReply;
    type Cast = CacheCast;
    type Info = ();

    async fn init(&mut self, ctx: &Ctx) -> Result<(), ExitReason> {
        // TODO Problem 4 (docs/src/part-3-shortener.md, "Problem 4, warm-up"):
        // this node may have missed links while it was down or apart from the
        // others. Ask the cache server of every node that connects, now or
        // later (a node back from a partition connects again), for the links
        // it holds: CacheCast::SendLinksTo(<this node>). Which signal tells a
        // process that a node connected? (Part 1, Problem 4.)
        // (Not a todo!(): a panic in init would stop the node from starting.)
        tracing::warn!("Problem 4 is not done yet: this node never asks its peers for links");
        Ok(())
    }

    async fn handle_call(
        &mut self,
        request: CacheCall,
        _from: Caller<CacheReply>,
        _ctx: &Ctx,
    ) -> CallResponse<CacheReply> {
        match request {
            CacheCall::Size => CallResponse::Reply(CacheReply::Size(self.cache.len() as u64)),
        }
    }

    async fn handle_cast(&mut self, msg: CacheCast, ctx: &Ctx) -> Flow {
        match msg {
            CacheCast::Links(links) => todo!(
                "Problem 2 (docs/src/part-3-shortener.md, 'Problem 2, replicate on create'): \
                 put these {} links in this node's cache",
                links.len()
            ),
            CacheCast::SendLinksTo(node) => todo!(
                "Problem 4 (docs/src/part-3-shortener.md, 'Problem 4, warm-up'): the cache on \
                 {node} missed links: send it every link this node holds, as CacheCast::Links"
            ),
        }
    }
}
