//! The replica: this node's copy of the table, and the node's front door.
//!
//! Lesson: docs/src/lab-kv.md. The message types are in `contracts::kv`
//! (read it first). Run `cargo grade kv` to check your work; each problem
//! has its own grader stage.

// Until every todo!() below is filled in, some imports and arguments are
// unused. Delete this line when you are done: the compiler's warnings then
// help you check your work (an import your own code does not need is one of
// them: delete it too).
#![allow(unused)]

use contracts::kv::{self, KvCall, KvReply, Table, WriterCall, WRITER};
use netsplit::gen_server::{CallError, CallResponse, Caller, GenServer};
use netsplit::{global, Ctx, ExitReason};
use std::time::Duration;

/// How long a put or a get waits for the writer. A put takes the writer one
/// round trip to every replica (each bounded by a second), so this is more.
const WRITER_TIMEOUT: Duration = Duration::from_secs(3);

/// This node's copy of the table.
#[derive(Default)]
pub struct Replica {
    table: Table,
}

impl GenServer for Replica {
    type Call = KvCall;
    type Reply = KvReply;
    type Cast = ();
    type Info = ();

    async fn handle_call(
        &mut self,
        request: KvCall,
        from: Caller<KvReply>,
        ctx: &Ctx,
    ) -> CallResponse<KvReply> {
        match request {
            // Provided: puts and gets go to the writer (see `forward`).
            KvCall::Put { key, value } => {
                forward(ctx, from, WriterCall::Put { key, value });
                CallResponse::NoReply
            }
            KvCall::Get(key) => {
                forward(ctx, from, WriterCall::Get(key));
                CallResponse::NoReply
            }
            KvCall::Table => CallResponse::Reply(KvReply::Table(self.table.clone())),
            KvCall::GetLocal(key) => {
                todo!(
                    "Problem 1 (docs/src/lab-kv.md, 'Problem 1, single writer'): reply \
                     KvReply::Value with the value self.table holds for {key} (None if it has \
                     none), without a message to any other process: that is what makes a read \
                     local."
                )
            }
            KvCall::Apply { key, entry } => {
                todo!(
                    "Problem 1 (docs/src/lab-kv.md, 'Problem 1, single writer'): the writer \
                     sends write {} of {key}. Store it in self.table unless the table holds a \
                     newer entry (kv::merge_entry decides), then reply KvReply::Applied.",
                    entry.seq
                )
            }
            KvCall::Sync(theirs) => {
                todo!(
                    "Problem 2 (docs/src/lab-kv.md, 'Problem 2, catch-up'): the writer sends its \
                     table ({} keys). Merge it into self.table (kv::merge), then reply \
                     KvReply::Table with the whole merged table, so the writer learns what this \
                     node holds.",
                    theirs.len()
                )
            }
        }
    }
}

/// Passes a put or a get on to the writer, from a process of its own that
/// answers the caller when the writer has: the replica goes on serving
/// meanwhile. It must, because the writer's answer to a put waits for every
/// replica's `Apply`, this one's included: a replica that waited for the
/// writer itself would never apply, and the put would time out.
fn forward(ctx: &Ctx, from: Caller<KvReply>, call: WriterCall) {
    ctx.node().spawn(move |ctx: Ctx| async move {
        let reply =
            match global::call::<WriterCall, KvReply>(ctx.node(), WRITER, &call, WRITER_TIMEOUT)
                .await
            {
                Ok(reply) => reply,
                Err(CallError::NoProc) => KvReply::Failed(format!(
                    "no {WRITER} is registered in :global on {} (none elected yet?)",
                    ctx.node().name()
                )),
                Err(e) => KvReply::Failed(format!("the writer did not answer: {e}")),
            };
        from.reply(ctx.node(), &reply);
        ExitReason::Normal
    });
}
