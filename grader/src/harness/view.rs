//! A cheap, clonable view of a stage's cluster.
//!
//! The harness is borrowed mutably by every check, so a probe that runs
//! inside [`Harness::eventually`], or several probes run concurrently
//! (`futures::future::join_all` over nodes), cannot borrow it. A view holds
//! only what probing needs (the control node, the names, the fabric's
//! counters), clones in a few reference-count increments, and never
//! records anything: the stage decides what its answers mean.

use super::Harness;
use crate::net::fabric::{Counters, LinkStats};
use contracts::Server;
use netsplit::gen_server::{self, CallError};
use netsplit::rpc::{self, BadRpc};
use netsplit::{Message, Node, NodeName, Pid};
use std::time::Duration;

/// A cheap, clonable view of a stage's cluster, for probes that run while
/// the harness is borrowed (inside [`Harness::eventually`], or several at
/// once). It records nothing: the stage decides what the answers mean.
#[derive(Clone)]
pub struct ClusterView {
    control: Node,
    counters: Counters,
    /// Timeout of one rpc, already scaled.
    timeout: Duration,
}

impl std::fmt::Debug for ClusterView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterView").finish_non_exhaustive()
    }
}

impl Harness {
    /// A view of this stage's cluster for probes that run while the harness
    /// is busy; its rpcs time out after 2 s (scaled).
    pub fn view(&self) -> ClusterView {
        ClusterView {
            control: self.control.clone(),
            counters: self.fabric.counters(),
            timeout: self.scaled(Duration::from_secs(2)),
        }
    }

    /// A typed call from the control node to `server` on node `short`: the
    /// reply type comes with the server, so it cannot be the wrong one.
    pub async fn ask<Req: Message, Rep: Message>(
        &self,
        short: &str,
        server: Server<Req, Rep>,
        req: &Req,
        timeout: Duration,
    ) -> Result<Rep, CallError> {
        self.view().ask(short, server, req, timeout).await
    }
}

impl ClusterView {
    /// The full node name of a short one: `n1` → `n1@127.0.0.1`.
    pub fn full(&self, short: &str) -> NodeName {
        super::full_name(short)
    }

    /// A typed call to `server` on node `short` (see [`Harness::ask`]).
    pub async fn ask<Req: Message, Rep: Message>(
        &self,
        short: &str,
        server: Server<Req, Rep>,
        req: &Req,
        timeout: Duration,
    ) -> Result<Rep, CallError> {
        let full = self.full(short);
        gen_server::call(&self.control, (server.name, &full), req, timeout).await
    }

    /// An rpc to node `short`.
    pub async fn rpc<A: Message, R: Message>(
        &self,
        short: &str,
        module: &str,
        fun: &str,
        args: &A,
    ) -> Result<R, BadRpc> {
        rpc::call(
            &self.control,
            &self.full(short),
            module,
            fun,
            args,
            self.timeout,
        )
        .await
    }

    /// The nodes `short` lists as connected (`erlang:nodes`), short names,
    /// sorted.
    pub async fn nodes_of(&self, short: &str) -> Result<Vec<String>, BadRpc> {
        let seen: Vec<NodeName> = self.rpc(short, "erlang", "nodes", &()).await?;
        let mut names: Vec<String> = seen
            .iter()
            .map(|n| n.as_str().split('@').next().unwrap_or("").to_string())
            .collect();
        names.sort();
        Ok(names)
    }

    /// The pid registered as `name` on `short`, if any.
    pub async fn whereis(&self, short: &str, name: &str) -> Result<Option<Pid>, BadRpc> {
        self.rpc(short, "erlang", "whereis", &name.to_string())
            .await
    }

    /// Whether the grader's control node is connected to `short`.
    pub fn reaches(&self, short: &str) -> bool {
        self.control.nodes_connected().contains(&self.full(short))
    }

    /// The fabric's counters of the directed link `from` → `to`.
    pub fn link_stats(&self, from: &str, to: &str) -> LinkStats {
        self.counters.stats(from, to)
    }
}
