//! The replica: this node's copy of the table, and the node's front door.

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
            // Problem 1: a local read is this process's own table, nothing more.
            KvCall::GetLocal(key) => CallResponse::Reply(KvReply::Value(
                self.table.get(&key).map(|e| e.value.clone()),
            )),
            // Problem 1: the writer's copy of a write.
            KvCall::Apply { key, entry } => {
                kv::merge_entry(&mut self.table, key, entry);
                CallResponse::Reply(KvReply::Applied)
            }
            // Problem 2: the writer brings us up to date, and learns what we hold.
            KvCall::Sync(theirs) => {
                kv::merge(&mut self.table, theirs);
                CallResponse::Reply(KvReply::Table(self.table.clone()))
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
