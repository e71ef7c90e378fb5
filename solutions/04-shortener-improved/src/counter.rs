//! The view counter: pushes this node's new counts to the others in
//! batches, merges theirs, and brings a node that (re)connects up to date.

use crate::protocol::{CounterCast, COUNTER};
use crate::views::Views;
use netsplit::gen_server::{self, CallResponse, Caller, Flow, GenServer, Info};
use netsplit::{Ctx, ExitReason};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How often counts are pushed: a busy link costs one message per node per
/// interval, however many views it gets, and a node killed between two
/// pushes loses at most one interval of its views.
pub const PUSH_INTERVAL: Duration = Duration::from_millis(200);

/// The counter's own timer message.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Push;

/// Owns the pushing of a node's [`Views`].
pub struct Counter {
    views: Views,
}

impl Counter {
    /// A counter for `views`.
    pub fn new(views: Views) -> Counter {
        Counter { views }
    }
}

impl GenServer for Counter {
    type Call = ();
    type Reply = ();
    type Cast = CounterCast;
    type Info = Push;

    async fn init(&mut self, ctx: &Ctx) -> Result<(), ExitReason> {
        ctx.monitor_nodes(true);
        ctx.send_after(&Push, PUSH_INTERVAL);
        Ok(())
    }

    async fn handle_call(&mut self, _: (), _from: Caller<()>, _ctx: &Ctx) -> CallResponse<()> {
        CallResponse::Reply(())
    }

    async fn handle_cast(&mut self, msg: CounterCast, ctx: &Ctx) -> Flow {
        match msg {
            CounterCast::Merge(counters) => self.views.merge(counters),
            // Problem 4: a node that (re)connected gets everything we know,
            // its own old slots included.
            CounterCast::SendAllTo(node) => {
                let all = CounterCast::Merge(self.views.all());
                let _ = gen_server::cast(ctx.node(), (COUNTER, &node), &all);
            }
        }
        Flow::Continue
    }

    async fn handle_info(&mut self, info: Info<Push>, ctx: &Ctx) -> Flow {
        match info {
            // Problem 3: one batch per interval for all the views since the last.
            Info::Msg(Push) => {
                let dirty = self.views.take_dirty();
                if !dirty.is_empty() {
                    let nodes = ctx.node().nodes();
                    gen_server::abcast(ctx.node(), &nodes, COUNTER, &CounterCast::Merge(dirty));
                }
                ctx.send_after(&Push, PUSH_INTERVAL);
            }
            // Problem 4: ask every node that connects for what it knows.
            Info::NodeUp(node) => {
                let me = ctx.node().name().clone();
                let _ = gen_server::cast(ctx.node(), (COUNTER, &node), &CounterCast::SendAllTo(me));
            }
            _ => {}
        }
        Flow::Continue
    }
}
