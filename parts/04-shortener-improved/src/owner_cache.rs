//! The owner cache: the server other nodes ask for the links this node
//! owns, and send the links it should own.

use crate::cache::Cache;
use crate::protocol::{OwnerCall, OwnerCast, OwnerReply};
use netsplit::gen_server::{CallResponse, Caller, Flow, GenServer};
use netsplit::Ctx;

/// Answers lookups from this node's [`Cache`], and fills it.
pub struct OwnerCache {
    cache: Cache,
}

impl OwnerCache {
    /// A server for `cache`.
    pub fn new(cache: Cache) -> OwnerCache {
        OwnerCache { cache }
    }
}

impl GenServer for OwnerCache {
    type Call = OwnerCall;
    type Reply = OwnerReply;
    type Cast = OwnerCast;
    type Info = ();

    async fn handle_call(
        &mut self,
        request: OwnerCall,
        _from: Caller<OwnerReply>,
        _ctx: &Ctx,
    ) -> CallResponse<OwnerReply> {
        match request {
            // Problem 2: answer from memory only. A miss is the caller's to
            // read from the store: this server never waits on the store, so
            // one slow read cannot queue every other lookup behind it.
            OwnerCall::Lookup(code) => CallResponse::Reply(match self.cache.get(&code) {
                Some(url) => OwnerReply::Hit(url),
                None => OwnerReply::Miss,
            }),
        }
    }

    async fn handle_cast(&mut self, msg: OwnerCast, _ctx: &Ctx) -> Flow {
        match msg {
            OwnerCast::Fill(link) => self.cache.insert_all([link]),
        }
        Flow::Continue
    }
}
