//! The producer: sends numbered pings to every consumer in the cluster.

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
        // Problem 4: hear about every node that joins, to bring it up to date.
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
                // Problem 1: every ping goes to the consumer of every node, ours included.
                for _ in 0..n {
                    self.sent += 1;
                    let nodes = ctx.node().nodes_and_self();
                    gen_server::abcast(ctx.node(), &nodes, CONSUMER, &self.ping(ctx));
                }
                CallResponse::Reply(ProducerReply::Count(self.sent))
            }
            ProducerCall::CurrentCount => CallResponse::Reply(ProducerReply::Count(self.sent)),
            ProducerCall::GetCounts { timeout_ms } => {
                // Problem 2: one multi_call, bounded by the timeout, so a dead or
                // paused node is reported instead of waited on forever.
                let nodes = ctx.node().nodes_and_self();
                let answers = gen_server::multi_call::<ConsumerCall, Counts>(
                    ctx.node(),
                    &nodes,
                    CONSUMER,
                    &ConsumerCall::Counts,
                    Duration::from_millis(timeout_ms),
                )
                .await;
                CallResponse::Reply(ProducerReply::Cluster(ClusterCounts {
                    counts: answers.replies.into_iter().collect(),
                    bad_nodes: answers.bad_nodes,
                }))
            }
        }
    }

    async fn handle_cast(&mut self, msg: ProducerCast, ctx: &Ctx) -> Flow {
        match msg {
            // Problem 3: a consumer that (re)started asks for our count.
            ProducerCast::SendCountTo(node) => {
                let _ = gen_server::cast(ctx.node(), (CONSUMER, &node), &self.ping(ctx));
            }
        }
        Flow::Continue
    }

    async fn handle_info(&mut self, info: Info<()>, ctx: &Ctx) -> Flow {
        // Problem 4: a node joined (or came back): tell its consumer our count.
        if let Info::NodeUp(node) = info {
            let _ = gen_server::cast(ctx.node(), (CONSUMER, &node), &self.ping(ctx));
        }
        Flow::Continue
    }
}
