//! The writer: the one process of the cluster that changes the table. It
//! holds the `:global` name `kv_writer`, numbers every write, and
//! acknowledges a put only once every connected replica has stored it.

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
        let request = KvCall::Sync(self.table.clone());
        let answers = gen_server::multi_call::<KvCall, KvReply>(
            ctx.node(),
            nodes,
            KV,
            &request,
            REPLICA_TIMEOUT,
        )
        .await;
        let mut learnt = false;
        for (_, reply) in answers.replies {
            if let KvReply::Table(theirs) = reply {
                learnt |= kv::merge(&mut self.table, theirs);
            }
        }
        if !answers.bad_nodes.is_empty() {
            tracing::warn!("no sync with the replicas of {:?}", answers.bad_nodes);
        }
        // Numbering goes on after the highest write any copy has seen.
        self.seq = self.seq.max(kv::highest_seq(&self.table));
        learnt
    }
}

impl GenServer for Writer {
    type Call = WriterCall;
    type Reply = KvReply;
    type Cast = ();
    type Info = ();

    async fn init(&mut self, ctx: &Ctx) -> Result<(), ExitReason> {
        // Problem 2: hear of every node that connects, to bring it up to date.
        ctx.monitor_nodes(true);
        // Problem 3: we may replace a writer that died. Every write it
        // acknowledged is in every replica: gather them all, then send the
        // merged table back, so that the replicas agree on what a write
        // that was never acknowledged left behind.
        let all = ctx.node().nodes_and_self();
        if self.sync(ctx, &all).await {
            self.sync(ctx, &all).await;
        }
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
                // Problem 1: number the write, keep it, and copy it to the
                // replica of every node, this one's included. Acknowledge it
                // only once every one of them has confirmed.
                self.seq += 1;
                let entry = Entry {
                    value,
                    seq: self.seq,
                };
                kv::merge_entry(&mut self.table, key.clone(), entry.clone());
                let nodes = ctx.node().nodes_and_self();
                let answers = gen_server::multi_call::<KvCall, KvReply>(
                    ctx.node(),
                    &nodes,
                    KV,
                    &KvCall::Apply { key, entry },
                    REPLICA_TIMEOUT,
                )
                .await;
                let mut unconfirmed: Vec<String> =
                    answers.bad_nodes.iter().map(ToString::to_string).collect();
                for (node, reply) in &answers.replies {
                    if *reply != KvReply::Applied {
                        unconfirmed.push(node.to_string());
                    }
                }
                if unconfirmed.is_empty() {
                    CallResponse::Reply(KvReply::Done)
                } else {
                    CallResponse::Reply(KvReply::Failed(format!(
                        "write {} was not confirmed by the replicas of {}",
                        self.seq,
                        unconfirmed.join(", ")
                    )))
                }
            }
            // Problem 1: a get through the writer reads the writer's own copy.
            WriterCall::Get(key) => CallResponse::Reply(KvReply::Value(
                self.table.get(&key).map(|e| e.value.clone()),
            )),
        }
    }

    async fn handle_info(&mut self, info: Info<()>, ctx: &Ctx) -> Flow {
        if let Info::NodeUp(node) = info {
            // Problem 2: `node` connected: it may have been cut off, or be
            // new. Bring its replica up to date.
            // Problem 3: and learn what it holds. When two writers meet
            // (the old writer's node is back, or a partition heals),
            // :global keeps one, and it may be the one that missed the
            // writes. If the replica held something new, every other
            // replica needs it too.
            if self.sync(ctx, std::slice::from_ref(&node)).await {
                let others: Vec<NodeName> = ctx
                    .node()
                    .nodes_and_self()
                    .into_iter()
                    .filter(|n| *n != node)
                    .collect();
                self.sync(ctx, &others).await;
            }
        }
        Flow::Continue
    }
}
