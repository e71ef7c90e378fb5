//! The counter: a number that critical sections read with one call and
//! write with another, so that two holders at once lose an update.
//!
//! This file is provided: it is the grader's witness, not part of the
//! exercise.

use contracts::lock_manager::{CounterCall, CounterReply};
use netsplit::gen_server::{CallResponse, Caller, GenServer};
use netsplit::Ctx;

/// The value, and how many writes set it.
#[derive(Default)]
pub struct Counter {
    value: u64,
    writes: u64,
}

impl GenServer for Counter {
    type Call = CounterCall;
    type Reply = CounterReply;
    type Cast = ();
    type Info = ();

    async fn handle_call(
        &mut self,
        request: CounterCall,
        _from: Caller<CounterReply>,
        _ctx: &Ctx,
    ) -> CallResponse<CounterReply> {
        CallResponse::Reply(match request {
            CounterCall::Read => CounterReply::Value(self.value),
            CounterCall::Write(value) => {
                self.value = value;
                self.writes += 1;
                CounterReply::Written
            }
            CounterCall::Stats => CounterReply::Stats {
                value: self.value,
                writes: self.writes,
            },
        })
    }
}
