//! The producer: sends numbered pings to every consumer in the cluster.
//!
//! Lesson: docs/src/part-1-ping-pong.md. The message types are in
//! `contracts::ping_pong` (read it first). Run `cargo grade ping-pong` to check
//! your work; each problem has its own grader stage.

// Until every todo!() below is filled in, some imports and arguments are
// unused. Delete this line when you are done: the compiler's warnings then
// help you check your work.
#![allow(unused)]

use contracts::ping_pong::{
    ClusterCounts, ConsumerCall, Counts, Ping, ProducerCall, ProducerCast, ProducerReply, CONSUMER,
};
use netsplit::gen_server::{self, CallResponse, Caller, Flow, GenServer, Info};
use netsplit::{Ctx, ExitReason};
use std::time::Duration;

/// How many pings this node's producer has sent.
#[derive(Default)]
pub struct Producer {
    sent: u64,
}

impl Producer {
    /// The ping that says "this producer has sent `self.sent` pings".
    fn ping(&self, ctx: &Ctx) -> Ping {
        Ping {
            producer: ctx.node().name().clone(),
            count: self.sent,
        }
    }
}

impl GenServer for Producer {
    type Call = ProducerCall;
    type Reply = ProducerReply;
    type Cast = ProducerCast;
    type Info = ();

    async fn init(&mut self, ctx: &Ctx) -> Result<(), ExitReason> {
        // Provided: from now on this process gets Info::NodeUp / Info::NodeDown
        // in handle_info (Problem 4 uses them).
        ctx.monitor_nodes(true);
        Ok(())
    }

    async fn handle_call(
        &mut self,
        request: ProducerCall,
        _from: Caller<ProducerReply>,
        ctx: &Ctx,
    ) -> CallResponse<ProducerReply> {
        match request {
            ProducerCall::SendPings(n) => {
                todo!(
                    "Problem 1 (lesson: 'Problem 1, broadcast'): {n} times, add one to \
                     self.sent and cast self.ping(ctx) to the consumer of every node, this one \
                     included: gen_server::abcast(ctx.node(), &ctx.node().nodes_and_self(), \
                     CONSUMER, &ping). Then reply CallResponse::Reply(ProducerReply::Count(self.sent))"
                )
            }
            ProducerCall::CurrentCount => CallResponse::Reply(ProducerReply::Count(self.sent)),
            ProducerCall::GetCounts { timeout_ms } => {
                todo!(
                    "Problem 2 (lesson: 'Problem 2, get_counts'): ask the consumer of every \
                     node (this one included) for its Counts with ONE \
                     gen_server::multi_call::<ConsumerCall, Counts>(..., CONSUMER, \
                     &ConsumerCall::Counts, Duration::from_millis({timeout_ms})) and reply \
                     ProducerReply::Cluster(ClusterCounts {{ counts, bad_nodes }}) built from \
                     its replies and bad_nodes. Never wait longer than the timeout."
                )
            }
        }
    }

    async fn handle_cast(&mut self, msg: ProducerCast, ctx: &Ctx) -> Flow {
        match msg {
            ProducerCast::SendCountTo(node) => {
                todo!(
                    "Problem 3 (lesson: 'Problem 3, crash recovery'): the consumer on {node} \
                     has just started and asks for our count: cast self.ping(ctx) to it with \
                     gen_server::cast(ctx.node(), (CONSUMER, &node), &ping)"
                )
            }
        }
    }

    async fn handle_info(&mut self, info: Info<()>, ctx: &Ctx) -> Flow {
        if let Info::NodeUp(node) = info {
            // TODO Problem 4 (lesson: "Problem 4, late joiners"): `node` just
            // connected, and its consumer may have missed our pings. Cast
            // self.ping(ctx) to it: gen_server::cast(ctx.node(), (CONSUMER, &node), &ping).
            // (Not a todo!(): a panic here would restart the producer on every
            // nodeup and reset its count while you work on the other problems.)
            tracing::warn!(
                "Problem 4 is not done yet: {node} connected and was not told our count"
            );
        }
        Flow::Continue
    }
}
