//! The consumer: counts the pings it has seen from each producer.

use contracts::ping_pong::{ConsumerCall, Counts, Ping, ProducerCast, PRODUCER};
use netsplit::gen_server::{self, CallResponse, Caller, Flow, GenServer};
use netsplit::{Ctx, ExitReason};

/// Producer node → the highest ping count seen from it.
#[derive(Default)]
pub struct Consumer {
    counts: Counts,
}

impl GenServer for Consumer {
    type Call = ConsumerCall;
    type Reply = Counts;
    type Cast = Ping;
    type Info = ();

    async fn init(&mut self, ctx: &Ctx) -> Result<(), ExitReason> {
        // Problem 3: we may be a restart that missed pings. Ask every producer
        // for its count; each answers with a Ping. Asking (rather than having
        // producers monitor us) cannot miss a consumer that is not up yet.
        let me = ctx.node().name().clone();
        let nodes = ctx.node().nodes_and_self();
        gen_server::abcast(ctx.node(), &nodes, PRODUCER, &ProducerCast::SendCountTo(me));
        Ok(())
    }

    async fn handle_call(
        &mut self,
        request: ConsumerCall,
        _from: Caller<Counts>,
        _ctx: &Ctx,
    ) -> CallResponse<Counts> {
        match request {
            ConsumerCall::Counts => CallResponse::Reply(self.counts.clone()),
        }
    }

    async fn handle_cast(&mut self, ping: Ping, _ctx: &Ctx) -> Flow {
        // Problem 1: a ping says "at least this many"; a late or repeated one
        // must never move a count backwards.
        let count = self.counts.entry(ping.producer).or_insert(0);
        *count = (*count).max(ping.count);
        Flow::Continue
    }
}
