//! The writer: the one process of the cluster that changes the table. It
//! holds the `:global` name `kv_writer`, numbers every write, and
//! acknowledges a put only once every connected replica has stored it.
//!
//! Lesson: docs/src/lab-kv.md. The message types are in `contracts::kv`
//! (read it first), with the rule of which entry is the newer
//! (`kv::newer`) and the merges that keep it (`kv::merge_entry`,
//! `kv::merge`).

// Until every todo!() below is filled in, some imports and arguments are
// unused. Delete this line when you are done: the compiler's warnings then
// help you check your work (an import your own code does not need is one of
// them: delete it too).
#![allow(unused)]

use contracts::kv::{self, Entry, KvCall, KvReply, Table, WriterCall, KV};
use netsplit::gen_server::{self, CallResponse, Caller, Flow, GenServer, Info};
use netsplit::{Ctx, ExitReason, NodeName};
use std::time::Duration;

/// How long the writer waits for one replica to confirm.
const REPLICA_TIMEOUT: Duration = Duration::from_secs(1);

/// The writer's own copy of the table, and the number of its last write.
#[derive(Default)]
pub struct Writer {
    table: Table,
    seq: u64,
}

impl Writer {
    /// Sends our table to the replicas of `nodes`, all at once: each merges
    /// it and answers with its own, which we merge in turn. True if a
    /// replica held something we did not.
    async fn sync(&mut self, ctx: &Ctx, nodes: &[NodeName]) -> bool {
        todo!(
            "Problem 2 (docs/src/lab-kv.md, 'Problem 2, catch-up'): call the replica (KV) of \
             each of {nodes:?} at once with KvCall::Sync(a copy of self.table), each call \
             bounded by REPLICA_TIMEOUT (gen_server::multi_call). Merge every table they answer \
             into self.table (kv::merge), make self.seq at least the highest write number \
             the table now holds, and return whether any answer brought something new."
        )
    }
}

impl GenServer for Writer {
    type Call = WriterCall;
    type Reply = KvReply;
    type Cast = ();
    type Info = ();

    async fn init(&mut self, ctx: &Ctx) -> Result<(), ExitReason> {
        // TODO Problem 2 (docs/src/lab-kv.md, "Problem 2, catch-up"): from
        // now on, this process must hear of every node that connects (as
        // Info::NodeUp in handle_info).
        tracing::warn!("Problem 2 is not done yet: this writer hears of no node that connects");
        // TODO Problem 3 (docs/src/lab-kv.md, "Problem 3, failover"): this
        // writer may replace one that died. Every write the old one
        // acknowledged is in the table of every replica still here: gather
        // them all (sync with every node, this one included) before serving,
        // and if that brought anything, send the merged table to them all
        // too, so that they agree. (Not a todo!(): a panic in init would
        // stop any writer from starting.)
        tracing::warn!("Problem 3 is not done yet: this writer starts with an empty table");
        tracing::info!(
            "writer on {}: {} keys, numbering from write {}",
            ctx.node().name(),
            self.table.len(),
            self.seq + 1
        );
        Ok(())
    }

    async fn handle_call(
        &mut self,
        request: WriterCall,
        _from: Caller<KvReply>,
        ctx: &Ctx,
    ) -> CallResponse<KvReply> {
        match request {
            WriterCall::Put { key, value } => {
                todo!(
                    "Problem 1 (docs/src/lab-kv.md, 'Problem 1, single writer'): put {key} = \
                     {value:?}. Give the write the next number (self.seq), keep the entry in \
                     self.table, and copy it with KvCall::Apply to the replica (KV) of every node, \
                     this one included, all at once and each bounded by REPLICA_TIMEOUT. Reply \
                     KvReply::Done only if every one of them answered Applied; otherwise \
                     KvReply::Failed, saying which did not."
                )
            }
            WriterCall::Get(key) => {
                todo!(
                    "Problem 1 (docs/src/lab-kv.md, 'Problem 1, single writer'): reply \
                     KvReply::Value with the value the writer's own table holds for {key} (None \
                     if it has none)."
                )
            }
        }
    }

    async fn handle_info(&mut self, info: Info<()>, ctx: &Ctx) -> Flow {
        if let Info::NodeUp(node) = info {
            // TODO Problem 2 (docs/src/lab-kv.md, "Problem 2, catch-up"):
            // `node` just connected: it may have been cut off, or be new.
            // Sync with its replica. If that taught this writer something
            // (this writer is new, or was away, and the others went on
            // without it: see Problem 3), sync with every other node too.
            // (Not a todo!(): a panic here would kill the writer at every
            // nodeup while you work on the other problems.)
            tracing::warn!("Problem 2 is not done yet: {node} connected and was not synced");
        }
        Flow::Continue
    }
}
