//! The cache server: the process other nodes talk to about links. It fills
//! this node's cache from their messages and shares the cache with nodes
//! that missed links.

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

    /// Problem 4: ask the cache on `node` for every link it holds.
    fn ask_for_links(&self, ctx: &Ctx, node: &NodeName) {
        let me = ctx.node().name().clone();
        let _ = gen_server::cast(ctx.node(), (CACHE, node), &CacheCast::SendLinksTo(me));
    }
}

impl GenServer for CacheServer {
    type Call = CacheCall;
    type Reply = CacheReply;
    type Cast = CacheCast;
    type Info = ();

    async fn init(&mut self, ctx: &Ctx) -> Result<(), ExitReason> {
        // Problem 4: we may have missed links while we were down or apart.
        // Ask every node we can reach now, and every node that connects later
        // (a node that comes back after a partition is a nodeup too).
        ctx.monitor_nodes(true);
        for node in ctx.node().nodes() {
            self.ask_for_links(ctx, &node);
        }
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
            // Problem 2: a link created anywhere, or links we missed.
            CacheCast::Links(links) => self.cache.insert_all(links),
            // Problem 4: a peer missed links; send it all of ours.
            CacheCast::SendLinksTo(node) => {
                let links = CacheCast::Links(self.cache.snapshot());
                let _ = gen_server::cast(ctx.node(), (CACHE, &node), &links);
            }
        }
        Flow::Continue
    }

    async fn handle_info(&mut self, info: Info<()>, ctx: &Ctx) -> Flow {
        if let Info::NodeUp(node) = info {
            self.ask_for_links(ctx, &node);
        }
        Flow::Continue
    }
}
