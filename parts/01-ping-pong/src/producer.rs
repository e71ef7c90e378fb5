//! The producer: sends numbered pings to every consumer in the cluster.
//!
//! Lesson: docs/src/part-1-ping-pong.md. The message types are in
//! `contracts::ping_pong` (read it first). Run `cargo grade ping-pong` to check
//! your work; each problem has its own grader stage.

// Until every todo!() below is filled in, some imports and arguments are
// unused. Delete this line when you are done: the compiler's warnings then
// help you check your work (an import your own code does not need is one of
// them: delete it too).
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
                    "Problem 1 (docs/src/part-1-ping-pong.md, 'Problem 1, broadcast'): send {n} \
                     pings. For each one, add one to self.sent and cast self.ping(ctx) to the \
                     consumer registered on every node, this one included (gen_server::abcast; \
                     Node::nodes_and_self). Then reply with the new total, ProducerReply::Count."
                )
            }
            ProducerCall::CurrentCount => CallResponse::Reply(ProducerReply::Count(self.sent)),
            ProducerCall::GetCounts { timeout_ms } => {
                todo!(
                    "Problem 2 (docs/src/part-1-ping-pong.md, 'Problem 2, get_counts'): ask the \
                     consumer on every node, this one included, for its Counts \
                     (ConsumerCall::Counts) all at once, waiting at most {timeout_ms} ms in total \
                     (gen_server::multi_call). Reply ProducerReply::Cluster with the answers and \
                     the nodes that did not answer (ClusterCounts)."
                )
            }
        }
    }

    async fn handle_cast(&mut self, msg: ProducerCast, ctx: &Ctx) -> Flow {
        match msg {
            ProducerCast::SendCountTo(node) => {
                todo!(
                    "Problem 3 (docs/src/part-1-ping-pong.md, 'Problem 3, crash recovery'): the \
                     consumer on {node} has just started and asks for our count: cast \
                     self.ping(ctx) to the consumer registered on that node (gen_server::cast to \
                     (CONSUMER, &node))."
                )
            }
        }
    }

    async fn handle_info(&mut self, info: Info<()>, ctx: &Ctx) -> Flow {
        if let Info::NodeUp(node) = info {
            // TODO Problem 4 (docs/src/part-1-ping-pong.md, "Problem 4, late
            // joiners"): `node` just connected, and its consumer may have
            // missed our pings. Cast self.ping(ctx) to the consumer registered
            // on that node (gen_server::cast).
            // (Not a todo!(): a panic here would restart the producer on every
            // nodeup and reset its count while you work on the other problems.)
            tracing::warn!(
                "Problem 4 is not done yet: {node} connected and was not told our count"
            );
        }
        Flow::Continue
    }
}
