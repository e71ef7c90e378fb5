//! The consumer: counts the pings it has seen from each producer.
//!
//! Lesson: docs/src/part-1-ping-pong.md. The message types are in
//! `contracts::ping_pong` (read it first).

// Until every todo!() below is filled in, some imports and arguments are
// unused. Delete this line when you are done: the compiler's warnings then
// help you check your work (an import your own code does not need is one of
// them: delete it too).
#![allow(unused)]

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
        // TODO Problem 3 (docs/src/part-1-ping-pong.md, "Problem 3, crash
        // recovery"): this consumer may be a restart that missed pings. Ask
        // the producer on every node, this one included, to send us its count:
        // cast ProducerCast::SendCountTo(<this node's name>) to all of them at
        // once (gen_server::abcast). Each answers with a Ping, which
        // handle_cast records. Do the producer's half (its handle_cast) first.
        // (Not a todo!(): a panic in init would stop the node from starting.)
        tracing::warn!("Problem 3 is not done yet: this consumer starts with empty counts");
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
        todo!(
            "Problem 1 (docs/src/part-1-ping-pong.md, 'Problem 1, broadcast'): record this \
             ping from {} in self.counts. A ping means 'at least this many', so a late or \
             repeated one must never make a count go down. Then keep serving (Flow::Continue).",
            ping.producer
        )
    }
}
