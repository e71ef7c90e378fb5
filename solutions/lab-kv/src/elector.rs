//! The elector: makes sure the cluster has a writer. It finds the one
//! `:global` names, or starts one on this node, and watches it: when the
//! writer dies (or its node goes), it elects a new one. The electors of all
//! nodes do this at once; `:global` lets exactly one of them win.

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
        // Problem 1: names registered elsewhere reach this node's `:global`
        // once it has merged with the nodes it is connected to.
        if tokio::time::timeout(SYNC_TIMEOUT, global::sync(ctx.node()))
            .await
            .is_err()
        {
            tracing::warn!("global::sync took over {SYNC_TIMEOUT:?}; electing without it");
        }
        let writer = match global::whereis_name(ctx.node(), WRITER) {
            Some(pid) => pid,
            // Nobody holds the name: try to take it. Of all the electors
            // that try at once, :global lets one register; the others learn
            // the winner's pid.
            None => match gen_server::start_global(ctx.node(), Writer::default(), WRITER).await {
                Ok(pid) => {
                    tracing::info!("this node's writer {pid} holds {WRITER}");
                    pid
                }
                Err(ServerStartError::AlreadyStarted(pid)) => pid,
                Err(ServerStartError::InitFailed(reason)) => {
                    tracing::warn!("the writer did not start ({reason}); trying again");
                    ctx.send_after(&ElectorMsg::Elect, RETRY);
                    return;
                }
            },
        };
        // Problem 3: just after a writer dies, :global may still name it
        // for a moment (it learns of the death as we do): look again soon.
        if self.gone.as_ref() == Some(&writer) {
            ctx.send_after(&ElectorMsg::Elect, RETRY);
            return;
        }
        let mref = ctx.monitor(&writer);
        self.watching = Some((writer, mref));
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
                // Problem 3: the writer is gone (it died, its node died, or
                // we lost the connection to it): elect a new one.
                let (writer, _) = self.watching.take().expect("is_writer checked it");
                tracing::info!("the writer {writer} is gone ({}): electing", down.reason);
                self.gone = Some(writer);
                self.elect(ctx).await;
            }
            _ => {}
        }
        Flow::Continue
    }
}
