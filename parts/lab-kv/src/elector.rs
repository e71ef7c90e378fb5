//! The elector: makes sure the cluster has a writer. It finds the one
//! `:global` names, or starts one on this node, and watches it: when the
//! writer dies (or its node goes), it elects a new one. The electors of all
//! nodes do this at once; `:global` lets exactly one of them win.
//!
//! Lesson: docs/src/lab-kv.md. Start here: without a writer, no put or get
//! can work.

// Until every hole below is filled in, some imports and arguments are
// unused. Delete this line when you are done: the compiler's warnings then
// help you check your work (an import your own code does not need is one of
// them: delete it too).
#![allow(unused)]

use crate::writer::Writer;
use contracts::kv::WRITER;
use netsplit::gen_server::{self, Flow, GenServer, Info, ServerStartError};
use netsplit::{global, Ctx, Down, ExitReason, Pid, Ref};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The local name of every node's elector.
pub const ELECTOR: &str = "kv_elector";

/// How long to wait before looking again, when `:global` still names a
/// writer that is gone, or a start failed.
const RETRY: Duration = Duration::from_millis(50);

/// How long an election waits for `:global` to merge its names with the
/// nodes it is connected to.
const SYNC_TIMEOUT: Duration = Duration::from_secs(2);

/// What the elector sends itself.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectorMsg {
    /// Find the writer, or start one.
    Elect,
}

/// The writer this elector watches, and the last one it saw go.
#[derive(Default)]
pub struct Elector {
    watching: Option<(Pid, Ref)>,
    gone: Option<Pid>,
}

impl Elector {
    /// Whether `down` is about the writer this elector watches.
    fn is_writer(&self, down: &Down) -> bool {
        matches!(&self.watching, Some((_, mref)) if *mref == down.mref)
    }

    /// Finds the writer `:global` names, or starts one here, and monitors it.
    async fn elect(&mut self, ctx: &Ctx) {
        // TODO Problem 1 (docs/src/lab-kv.md, "Problem 1, single writer"):
        // find the cluster's writer, or start it. First let this node's
        // :global merge its names with the nodes it is connected to
        // (global::sync, bounded by SYNC_TIMEOUT). If :global names a
        // WRITER, that is the writer. If not, start a Writer registered
        // under that global name (gen_server::start_global): of every
        // elector that tries at once, one wins, and the others' error
        // carries the winner's pid. Then monitor the writer, and keep its
        // pid and the monitor's reference in self.watching. If the start
        // failed for another reason, try again a little later
        // (ctx.send_after(&ElectorMsg::Elect, RETRY)).
        // (Not a todo!(): a panic here would restart the elector over and
        // over, until its supervisor gives up on the whole node.)
        tracing::warn!("Problem 1 is not done yet: this node elects no writer");
    }
}

impl GenServer for Elector {
    type Call = ();
    type Reply = ();
    type Cast = ();
    type Info = ElectorMsg;

    async fn init(&mut self, ctx: &Ctx) -> Result<(), ExitReason> {
        // The election runs once init has returned, so the node's start
        // does not wait for it.
        let _ = ctx.send(ctx.pid().clone(), &ElectorMsg::Elect);
        Ok(())
    }

    async fn handle_info(&mut self, info: Info<ElectorMsg>, ctx: &Ctx) -> Flow {
        match info {
            // Only while no writer is watched: a retry can arrive late.
            Info::Msg(ElectorMsg::Elect) if self.watching.is_none() => self.elect(ctx).await,
            Info::Down(down) if self.is_writer(&down) => {
                // TODO Problem 3 (docs/src/lab-kv.md, "Problem 3, failover"):
                // the writer is gone (it died, its node died, or this node
                // lost its connection to it). Forget it and elect a new one.
                // For a moment, :global may still name the writer that just
                // died: remember it in self.gone, and make elect look again
                // a little later (ElectorMsg::Elect after RETRY) while
                // :global still names that pid.
                tracing::warn!(
                    "Problem 3 is not done yet: the writer is gone ({}) and this node elects \
                     no new one",
                    down.reason
                );
            }
            _ => {}
        }
        Flow::Continue
    }
}
