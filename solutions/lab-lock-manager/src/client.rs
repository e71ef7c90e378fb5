//! The client: takes and releases locks for the grader (and the shell), and
//! runs critical sections that update a counter.
//!
//! This file is provided. It uses the lock manager's API
//! (`lock_manager.rs`) the way any program would: the exercise is that API
//! and the lock server behind it.

use crate::lock_manager::{self, LockError};
use contracts::lock_manager::{
    ClientCall, ClientReply, CounterCall, CounterReply, SectionsReport, COUNTER,
};
use futures::FutureExt;
use netsplit::gen_server::{self, CallResponse, Caller, GenServer};
use netsplit::{Ctx, ExitReason, NodeName};
use std::panic::AssertUnwindSafe;
use std::time::Duration;

/// How long a critical section waits for the counter's answer.
const COUNTER_TIMEOUT: Duration = Duration::from_secs(5);

/// The client holds no state of its own: the locks it holds are the lock
/// server's to know.
#[derive(Default)]
pub struct Client;

impl GenServer for Client {
    type Call = ClientCall;
    type Reply = ClientReply;
    type Cast = ();
    type Info = ();

    async fn handle_call(
        &mut self,
        request: ClientCall,
        from: Caller<ClientReply>,
        ctx: &Ctx,
    ) -> CallResponse<ClientReply> {
        match request {
            // The client process itself is the holder: a crash of the client
            // (or of its node) is the death of the holder.
            ClientCall::Acquire { lock, timeout_ms } => {
                let timeout = Duration::from_millis(timeout_ms);
                CallResponse::Reply(
                    match lock_manager::acquire(ctx.node(), &lock, ctx.pid(), timeout).await {
                        Ok(()) => ClientReply::Acquired,
                        Err(LockError::TimedOut) => ClientReply::TimedOut,
                        Err(e) => ClientReply::Failed(e.to_string()),
                    },
                )
            }
            ClientCall::Release { lock } => CallResponse::Reply(
                match lock_manager::release(ctx.node(), &lock, ctx.pid()).await {
                    Ok(true) => ClientReply::Released,
                    Ok(false) => ClientReply::NotHeld,
                    Err(e) => ClientReply::Failed(e.to_string()),
                },
            ),
            // A new process runs the sections and answers for the client,
            // which goes on serving meanwhile.
            ClientCall::Sections {
                lock,
                count,
                hold_ms,
                counter,
                timeout_ms,
            } => {
                ctx.node().spawn(move |ctx: Ctx| async move {
                    let hold = Duration::from_millis(hold_ms);
                    let timeout = Duration::from_millis(timeout_ms);
                    let run = sections(&ctx, &lock, count, hold, &counter, timeout);
                    let reply = match AssertUnwindSafe(run).catch_unwind().await {
                        Ok(report) => ClientReply::Sections(report),
                        Err(panic) => ClientReply::Failed(format!(
                            "the process running the critical sections panicked: {}",
                            netsplit::panic_text(&*panic).unwrap_or("(no message)")
                        )),
                    };
                    from.reply(ctx.node(), &reply);
                    ExitReason::Normal
                });
                CallResponse::NoReply
            }
        }
    }
}

/// Runs `count` critical sections on `lock`, one after the other, as the
/// process `ctx`.
async fn sections(
    ctx: &Ctx,
    lock: &str,
    count: u32,
    hold: Duration,
    counter: &NodeName,
    timeout: Duration,
) -> SectionsReport {
    let mut report = SectionsReport::default();
    for _ in 0..count {
        let section = critical_section(ctx, counter, hold);
        match lock_manager::with_lock(ctx, lock, timeout, || section).await {
            Ok(Ok(())) => report.done += 1,
            Ok(Err(e)) => {
                report.error = Some(e);
                break;
            }
            Err(LockError::TimedOut) => report.timed_out += 1,
            Err(e) => {
                report.error = Some(format!("taking {lock:?}: {e}"));
                break;
            }
        }
    }
    report
}

/// Reads the counter, holds on for `hold`, writes the value read plus one:
/// an update that is lost if another process does the same meanwhile.
async fn critical_section(ctx: &Ctx, counter: &NodeName, hold: Duration) -> Result<(), String> {
    let node = ctx.node();
    let read = gen_server::call(
        node,
        (COUNTER, counter),
        &CounterCall::Read,
        COUNTER_TIMEOUT,
    );
    let value = match read.await {
        Ok(CounterReply::Value(v)) => v,
        Ok(other) => {
            return Err(format!(
                "the counter on {counter} answered {other:?} to Read"
            ))
        }
        Err(e) => return Err(format!("reading the counter on {counter}: {e}")),
    };
    tokio::time::sleep(hold).await;
    let write = CounterCall::Write(value + 1);
    match gen_server::call(node, (COUNTER, counter), &write, COUNTER_TIMEOUT).await {
        Ok(CounterReply::Written) => Ok(()),
        Ok(other) => Err(format!(
            "the counter on {counter} answered {other:?} to Write"
        )),
        Err(e) => Err(format!("writing the counter on {counter}: {e}")),
    }
}
