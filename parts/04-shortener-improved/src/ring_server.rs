//! The ring server: keeps this node's ring in step with the cluster, and
//! answers the grader's questions about it.
//!
//! Lesson: docs/src/part-4-shortener-improved.md, "Problem 1, the ring".

// Until every todo!() below is filled in, some imports and arguments are
// unused. Delete this line when you are done: the compiler's warnings then
// help you check your work (an import your own code does not need is one of
// them: delete it too).
#![allow(unused)]

use crate::cache::Cache;
use crate::ring::{Ring, SharedRing};
use contracts::shortener_improved::{RingCall, RingReply};
use netsplit::gen_server::{CallResponse, Caller, Flow, GenServer, Info};
use netsplit::{Ctx, ExitReason};

/// Rebuilds the [`SharedRing`] whenever a node comes or goes.
pub struct RingServer {
    ring: SharedRing,
    cache: Cache,
}

impl RingServer {
    /// A server keeping `ring` up to date; `cache` is only read, to answer
    /// [`RingCall::Cached`].
    pub fn new(ring: SharedRing, cache: Cache) -> RingServer {
        RingServer { ring, cache }
    }

    /// Problem 1: the ring is every node this one sees, itself included.
    fn rebuild(&self, ctx: &Ctx) {
        self.ring.set(Ring::new(&ctx.node().nodes_and_self()));
    }
}

impl GenServer for RingServer {
    type Call = RingCall;
    type Reply = RingReply;
    type Cast = ();
    type Info = ();

    async fn init(&mut self, ctx: &Ctx) -> Result<(), ExitReason> {
        // TODO Problem 1 (docs/src/part-4-shortener-improved.md, "Problem 1,
        // the ring"): build the ring now (self.rebuild), and hear of every
        // node that comes or goes, to build it again then (handle_info).
        // (Not a todo!(): a panic in init would stop the node from starting.)
        tracing::warn!(
            "Problem 1 is not done yet: the ring is empty, so this node owns every link"
        );
        Ok(())
    }

    async fn handle_call(
        &mut self,
        request: RingCall,
        _from: Caller<RingReply>,
        _ctx: &Ctx,
    ) -> CallResponse<RingReply> {
        let reply = match request {
            RingCall::Owners(codes) => {
                RingReply::Owners(codes.iter().filter_map(|c| self.ring.owner(c)).collect())
            }
            RingCall::Cached(codes) => {
                RingReply::Cached(codes.iter().map(|c| self.cache.get(c).is_some()).collect())
            }
            RingCall::Members => RingReply::Members(self.ring.members()),
        };
        CallResponse::Reply(reply)
    }

    async fn handle_cast(&mut self, _msg: (), _ctx: &Ctx) -> Flow {
        Flow::Continue
    }

    async fn handle_info(&mut self, info: Info<()>, ctx: &Ctx) -> Flow {
        // TODO Problem 1: a node that comes or goes changes the owners.
        Flow::Continue
    }
}
