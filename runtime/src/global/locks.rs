//! Taking and releasing `:global` locks across nodes (the requesting side).
//!
//! Each node's name server grants or refuses a lock on its own node at once;
//! this side asks a set of nodes, boss first, and backs off at random on
//! refusal, as OTP's `set_lock` does.

use super::{call_timeout, shared, LockId, Rep, Req, NAME_SERVER, RESERVED_RESOURCE};
use crate::gen_server;
use crate::node::Node;
use crate::pid::NodeName;
use rand::Rng;
use std::time::Duration;

/// One attempt to set `id` on every node of `nodes` (sorted, deduplicated):
/// the boss (highest name) first, so that of several contenders only the one
/// holding the boss goes on to the others, then the rest. On refusal,
/// whatever was set is released. Unreachable nodes are skipped, and no call
/// here ever opens a connection (nodes join `:global` by connecting, never
/// because `:global` called them).
pub(crate) async fn set_on_nodes(node: &Node, id: &LockId, nodes: &[NodeName]) -> bool {
    let Some(boss) = nodes.iter().max() else {
        return true;
    };
    if !multi_set(node, id, std::slice::from_ref(boss)).await {
        return false;
    }
    let rest: Vec<NodeName> = nodes.iter().filter(|n| *n != boss).cloned().collect();
    if rest.is_empty() || multi_set(node, id, &rest).await {
        return true;
    }
    del_on_nodes(node, id, std::slice::from_ref(boss)).await;
    false
}

/// Asks every node of `nodes` at once; all must grant (unreachable ones do not
/// count). On any refusal, releases the grants.
async fn multi_set(node: &Node, id: &LockId, nodes: &[NodeName]) -> bool {
    let r = gen_server::multi_call_noconnect::<Req, Rep>(
        node,
        nodes,
        NAME_SERVER,
        &Req::SetLock(id.clone()),
        call_timeout(node),
    )
    .await;
    let granted: Vec<NodeName> = r
        .replies
        .iter()
        .filter(|(_, rep)| matches!(rep, Rep::Bool(true)))
        .map(|(n, _)| n.clone())
        .collect();
    if granted.len() == r.replies.len() {
        return true;
    }
    if !granted.is_empty() {
        del_on_nodes(node, id, &granted).await;
    }
    false
}

/// Releases one hold of `id` on every node of `nodes` that is still connected
/// (a grant whose reply was lost is released too). A node no longer connected
/// is left alone: it released this node's locks when it lost the connection,
/// and a call would reconnect it behind the cluster's back.
pub(crate) async fn del_on_nodes(node: &Node, id: &LockId, nodes: &[NodeName]) {
    let _ = gen_server::multi_call_noconnect::<Req, Rep>(
        node,
        nodes,
        NAME_SERVER,
        &Req::DelLock(id.clone()),
        call_timeout(node),
    )
    .await;
}

/// Takes `:global`'s own lock (requester `requester`) on this node and every
/// node it knows, retrying forever; returns the nodes locked. As OTP's
/// `set_lock_known`: if the known set grew while locking, the lock is
/// released and taken again, so no node that joined meanwhile is left out.
pub(crate) async fn lock_known(node: &Node, requester: &crate::Pid) -> Vec<NodeName> {
    let id = LockId::new(RESERVED_RESOURCE, requester);
    let g = shared(node);
    let mut times = 0;
    loop {
        let mut nodes: Vec<NodeName> = g.known().into_iter().collect();
        nodes.push(node.name().clone());
        nodes.sort();
        if set_on_nodes(node, &id, &nodes).await {
            if g.known().iter().all(|k| nodes.contains(k)) {
                return nodes;
            }
            del_on_nodes(node, &id, &nodes).await;
        }
        random_sleep(node, times).await;
        times = times.saturating_add(1);
    }
}

/// OTP's backoff: a uniform sleep of up to 1/8 s × 2^times, at most 8 s.
pub(crate) async fn random_sleep(node: &Node, times: u32) {
    let max_ms: u64 = if times > 5 {
        8000
    } else {
        (1000u64 << times) / 8
    };
    let ms = shared(node).rng.lock().gen_range(1..=max_ms);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Releases a lock taken by `trans` when the transaction ends, however it ends.
pub(crate) struct Release {
    held: Option<(Node, LockId, Vec<NodeName>)>,
}

impl Release {
    pub(crate) fn new(node: &Node, id: &LockId, nodes: Vec<NodeName>) -> Self {
        Release {
            held: Some((node.clone(), id.clone(), nodes)),
        }
    }

    pub(crate) async fn release(&mut self) {
        if let Some((node, id, nodes)) = self.held.take() {
            del_on_nodes(&node, &id, &nodes).await;
        }
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        // The transaction panicked or was cancelled: release in the background.
        if let Some((node, id, nodes)) = self.held.take() {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move { del_on_nodes(&node, &id, &nodes).await });
            }
        }
    }
}
