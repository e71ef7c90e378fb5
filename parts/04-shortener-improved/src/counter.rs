//! The view counter: pushes this node's new counts to the others in
//! batches, merges theirs, and brings a node that (re)connects up to date.
//!
//! Lesson: docs/src/part-4-shortener-improved.md, "Problem 3, view counts"
//! and "Problem 4, restarts".

// Until every todo!() below is filled in, some imports and arguments are
// unused. Delete this line when you are done: the compiler's warnings then
// help you check your work (an import your own code does not need is one of
// them: delete it too).
#![allow(unused)]

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
            CounterCast::SendAllTo(node) => todo!(
                "Problem 4 (docs/src/part-4-shortener-improved.md, 'Problem 4, restarts'): the \
                 counter on {node} (re)connected: send it every counter we hold"
            ),
        }
        Flow::Continue
    }

    async fn handle_info(&mut self, info: Info<Push>, ctx: &Ctx) -> Flow {
        match info {
            Info::Msg(Push) => {
                // TODO Problem 3 (docs/src/part-4-shortener-improved.md,
                // "Problem 3, view counts"): push the counters counted since the
                // last push to the counter of every other node, in one batch.
                ctx.send_after(&Push, PUSH_INTERVAL);
            }
            Info::NodeUp(node) => {
                // TODO Problem 4 (docs/src/part-4-shortener-improved.md, "Problem
                // 4, restarts"): {node} connected; ask its counter for everything
                // it holds.
            }
            _ => {}
        }
        Flow::Continue
    }
}
