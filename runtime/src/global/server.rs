//! The per-node name server: the only writer of this node's name replica and
//! of the locks set on this node. It answers every request at once; anything
//! that waits (taking locks, joining partitions) runs in other processes.

use super::{shared, sync, GlobalNameConflict, LockId, Resolve, Shared, RESERVED_RESOURCE};
use crate::gen_server::{CallResponse, Caller, Flow, GenServer, Info};
use crate::node::Node;
use crate::pid::{NodeName, Pid, Ref};
use crate::process::Ctx;
use crate::ExitReason;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Requests to a name server.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Req {
    /// Grant the lock on this node, or refuse it: `Bool`.
    SetLock(LockId),
    /// Release one hold of the lock on this node: `Bool(true)`.
    DelLock(LockId),
    /// Write a name (the registrar `by` must hold `:global`'s lock here).
    Register {
        name: String,
        pid: Pid,
        resolve: Resolve,
        by: Pid,
    },
    /// Remove a name (same condition).
    Unregister { name: String, by: Pid },
    /// This node's known nodes and name table: `Info`.
    SyncInfo,
    /// Merge partitions: apply `ops` and learn `nodes` (the joining session
    /// `by` must hold `:global`'s lock here).
    Apply {
        by: Pid,
        ops: Vec<Op>,
        nodes: Vec<NodeName>,
    },
    /// Answer `Synced` once every node of the list is known or disconnected.
    AwaitSynced(Vec<NodeName>),
}

/// Replies of a name server.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Rep {
    Bool(bool),
    Info(SyncInfo),
    Synced,
}

/// A node's view, for joining partitions.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SyncInfo {
    pub(crate) known: Vec<NodeName>,
    pub(crate) names: Vec<(String, Pid, Resolve)>,
}

/// A change to a name replica.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Op {
    Insert(String, Pid, Resolve),
    Delete(String),
}

/// Messages the server sends itself (from its helpers).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Note {
    /// A joining session with this node ended.
    SessionEnded(NodeName, Pid),
    /// A node learnt from a merge could not be connected to.
    Unreachable(NodeName),
    /// `reporter` (incarnation `creation`) lost its connection to `lost`;
    /// `op` orders its reports. Sent to every node it knows, and passed on
    /// by each (see [`NameServer::lost_connection`]).
    LostConnection {
        reporter: NodeName,
        creation: u32,
        op: u64,
        lost: NodeName,
    },
    /// "Disconnect from this node": the sender drops one side of an
    /// overlapping partition.
    RemoveConnection(NodeName),
}

/// How long a lost-connection report is remembered, so that its copies
/// passed on by other nodes are recognised.
const LOST_REPORT_KEPT: std::time::Duration = std::time::Duration::from_secs(60);

/// What a monitor of the server watches.
enum Mon {
    Name(String),
    Lock(String),
}

struct HeldLock {
    requester: Pid,
    count: u32,
    mref: Ref,
}

pub(crate) struct NameServer {
    shared: Arc<Shared>,
    name_mons: FxHashMap<String, Ref>,
    mons: FxHashMap<Ref, Mon>,
    locks: FxHashMap<String, HeldLock>,
    /// Joining sessions this node drives, one per peer.
    sessions: FxHashMap<NodeName, Pid>,
    waiters: Vec<(Caller<Rep>, Vec<NodeName>)>,
    /// The last lost-connection report this node sent.
    lost_op: u64,
    /// Reports seen, by (reporter, lost): (creation, op, when).
    lost_seen: FxHashMap<(NodeName, NodeName), (u32, u64, std::time::Instant)>,
}

impl NameServer {
    pub(crate) fn new(node: &Node) -> Self {
        NameServer {
            shared: shared(node),
            name_mons: FxHashMap::default(),
            mons: FxHashMap::default(),
            locks: FxHashMap::default(),
            sessions: FxHashMap::default(),
            waiters: vec![],
            lost_op: 0,
            lost_seen: FxHashMap::default(),
        }
    }

    /// This node lost its connection to `peer`: with overlapping partitions
    /// prevented, it tells every node it still knows.
    fn report_lost(&mut self, peer: &NodeName, ctx: &Ctx) {
        let node = ctx.node();
        if !node.config().prevent_overlapping_partitions || node.is_stopped() {
            return;
        }
        self.lost_op += 1;
        let note = Note::LostConnection {
            reporter: node.name().clone(),
            creation: node.creation(),
            op: self.lost_op,
            lost: peer.clone(),
        };
        for n in node.nodes() {
            let _ = node.send((super::NAME_SERVER, &n), &note);
        }
    }

    /// OTP 25's rule against overlapping partitions: `reporter` lost `lost`,
    /// so this node, if connected to both, must not stay a bridge between
    /// them. It passes the report on (so that every node hears it, even one
    /// that loses the reporter meanwhile), then asks `lost` to disconnect
    /// from it — or the reporter, when this node is the one lost.
    fn lost_connection(
        &mut self,
        reporter: NodeName,
        creation: u32,
        op: u64,
        lost: NodeName,
        ctx: &Ctx,
    ) {
        let node = ctx.node();
        if !node.config().prevent_overlapping_partitions {
            return;
        }
        let now = std::time::Instant::now();
        self.lost_seen
            .retain(|_, (_, _, at)| now.duration_since(*at) < LOST_REPORT_KEPT);
        let key = (reporter.clone(), lost.clone());
        if matches!(self.lost_seen.get(&key), Some((c, o, _)) if *c == creation && *o >= op) {
            return;
        }
        self.lost_seen.insert(key, (creation, op, now));
        let note = Note::LostConnection {
            reporter: reporter.clone(),
            creation,
            op,
            lost: lost.clone(),
        };
        let connected = node.nodes();
        for n in connected.iter().filter(|n| **n != reporter) {
            let _ = node.send((super::NAME_SERVER, n), &note);
        }
        let drop = if &lost == node.name() {
            reporter.clone()
        } else {
            lost.clone()
        };
        if connected.contains(&drop) {
            tracing::warn!(
                parent: node.span(),
                "global: asking {drop} to disconnect from {}, to prevent overlapping partitions ({reporter} lost its connection to {lost})",
                node.name()
            );
            let _ = node.send(
                (super::NAME_SERVER, &drop),
                &Note::RemoveConnection(node.name().clone()),
            );
            self.shared.known.write().remove(&drop);
            self.check_waiters(ctx);
        }
    }

    fn set_lock(&mut self, id: LockId, ctx: &Ctx) -> bool {
        let node = ctx.node();
        if id.requester.node() == node.name() && !node.is_alive(&id.requester) {
            return false;
        }
        match self.locks.get_mut(&id.resource) {
            Some(l) if l.requester == id.requester => {
                l.count += 1;
                true
            }
            Some(_) => false,
            None => {
                // Noconnect: a request that outlived its node's connection
                // must not reconnect it; the lock is released by the Down.
                let mref = ctx.monitor_noconnect(&id.requester);
                self.mons
                    .insert(mref.clone(), Mon::Lock(id.resource.clone()));
                self.locks.insert(
                    id.resource,
                    HeldLock {
                        requester: id.requester,
                        count: 1,
                        mref,
                    },
                );
                true
            }
        }
    }

    fn del_lock(&mut self, id: &LockId, ctx: &Ctx) {
        let Some(l) = self.locks.get_mut(&id.resource) else {
            return;
        };
        if l.requester != id.requester {
            return;
        }
        l.count -= 1;
        if l.count == 0 {
            let mref = l.mref.clone();
            self.locks.remove(&id.resource);
            self.mons.remove(&mref);
            ctx.demonitor(&mref);
        }
    }

    /// True if `by` holds `:global`'s own lock on this node: only then may it
    /// change names (OTP's `lock_still_set`), so a request that outlived its
    /// lock (its sender's node went down meanwhile) changes nothing.
    fn global_lock_held_by(&self, by: &Pid) -> bool {
        self.locks
            .get(RESERVED_RESOURCE)
            .is_some_and(|l| &l.requester == by)
    }

    fn insert_name(&mut self, name: &str, pid: &Pid, resolve: Resolve, ctx: &Ctx) {
        self.remove_name(name, ctx);
        let mref = ctx.monitor(pid);
        self.mons.insert(mref.clone(), Mon::Name(name.to_string()));
        self.name_mons.insert(name.to_string(), mref);
        self.shared.names.write().insert(name, pid, resolve);
    }

    fn remove_name(&mut self, name: &str, ctx: &Ctx) {
        if let Some(mref) = self.name_mons.remove(name) {
            self.mons.remove(&mref);
            ctx.demonitor(&mref);
        }
        self.shared.names.write().remove(name);
    }

    fn apply(&mut self, ops: Vec<Op>, nodes: Vec<NodeName>, ctx: &Ctx) {
        for op in ops {
            match op {
                Op::Insert(name, pid, resolve) => self.insert_name(&name, &pid, resolve, ctx),
                Op::Delete(name) => self.remove_name(&name, ctx),
            }
        }
        let node = ctx.node();
        let connected = node.nodes();
        for n in nodes {
            if &n == node.name() || !self.shared.known.write().insert(n.clone()) {
                continue;
            }
            if !connected.contains(&n) {
                // A node of the other side we are not connected to yet: connect
                // (the mesh normally does it already); forget it if we cannot.
                let node = node.clone();
                tokio::spawn(async move {
                    if !node.connect(&n).await {
                        let _ = node.send(super::NAME_SERVER, &Note::Unreachable(n));
                    }
                });
            }
        }
    }

    /// A registered process or a lock's requester is gone (exited, or its node
    /// is unreachable): its name or its lock goes, if still the same one.
    fn down(&mut self, mref: &Ref) {
        match self.mons.remove(mref) {
            Some(Mon::Name(name)) if self.name_mons.get(&name) == Some(mref) => {
                self.name_mons.remove(&name);
                self.shared.names.write().remove(&name);
            }
            Some(Mon::Lock(resource))
                if self.locks.get(&resource).is_some_and(|l| &l.mref == mref) =>
            {
                self.locks.remove(&resource);
            }
            _ => {}
        }
    }

    fn node_up(&mut self, peer: NodeName, ctx: &Ctx) {
        let node = ctx.node();
        if self.shared.known.read().contains(&peer) || node.name() > &peer {
            // Already merged, or the peer (lower-named) drives the join.
            return;
        }
        if self.sessions.get(&peer).is_some_and(|p| node.is_alive(p)) {
            return;
        }
        let p = peer.clone();
        let pid = node.spawn(move |ctx| sync::session(ctx, p));
        self.sessions.insert(peer, pid);
    }

    fn is_synced(&self, node: &Node, targets: &[NodeName]) -> bool {
        let known = self.shared.known.read();
        let connected = node.nodes();
        targets
            .iter()
            .all(|t| known.contains(t) || !connected.contains(t))
    }

    fn check_waiters(&mut self, ctx: &Ctx) {
        let node = ctx.node();
        let waiters = std::mem::take(&mut self.waiters);
        for (caller, targets) in waiters {
            if self.is_synced(node, &targets) {
                caller.reply(node, &Rep::Synced);
            } else {
                self.waiters.push((caller, targets));
            }
        }
    }
}

impl GenServer for NameServer {
    type Call = Req;
    type Reply = Rep;
    type Cast = ();
    type Info = Note;

    async fn init(&mut self, ctx: &Ctx) -> Result<(), ExitReason> {
        ctx.monitor_nodes(true);
        for n in ctx.node().nodes() {
            self.node_up(n, ctx);
        }
        Ok(())
    }

    async fn handle_call(&mut self, req: Req, from: Caller<Rep>, ctx: &Ctx) -> CallResponse<Rep> {
        let rep = match req {
            Req::SetLock(id) => Rep::Bool(self.set_lock(id, ctx)),
            Req::DelLock(id) => {
                self.del_lock(&id, ctx);
                Rep::Bool(true)
            }
            Req::Register {
                name,
                pid,
                resolve,
                by,
            } => {
                let ok = self.global_lock_held_by(&by);
                if ok {
                    self.insert_name(&name, &pid, resolve, ctx);
                }
                Rep::Bool(ok)
            }
            Req::Unregister { name, by } => {
                let ok = self.global_lock_held_by(&by);
                if ok {
                    self.remove_name(&name, ctx);
                }
                Rep::Bool(ok)
            }
            Req::SyncInfo => Rep::Info(SyncInfo {
                known: self.shared.known().into_iter().collect(),
                names: self.shared.names.read().entries(),
            }),
            Req::Apply { by, ops, nodes } => {
                let ok = self.global_lock_held_by(&by);
                if ok {
                    self.apply(ops, nodes, ctx);
                    self.check_waiters(ctx);
                }
                Rep::Bool(ok)
            }
            Req::AwaitSynced(targets) => {
                if self.is_synced(ctx.node(), &targets) {
                    Rep::Synced
                } else {
                    self.waiters.push((from, targets));
                    return CallResponse::NoReply;
                }
            }
        };
        CallResponse::Reply(rep)
    }

    async fn handle_info(&mut self, info: Info<Note>, ctx: &Ctx) -> Flow {
        match info {
            Info::NodeUp(n) => {
                self.node_up(n, ctx);
                self.check_waiters(ctx);
            }
            Info::NodeDown(n, _) => {
                self.report_lost(&n, ctx);
                self.shared.known.write().remove(&n);
                if let Some(pid) = self.sessions.remove(&n) {
                    ctx.node().exit(&pid, ExitReason::Kill);
                }
                self.check_waiters(ctx);
            }
            Info::Down(d) => self.down(&d.mref),
            Info::Msg(Note::SessionEnded(n, pid)) => {
                if self.sessions.get(&n) == Some(&pid) {
                    self.sessions.remove(&n);
                }
            }
            Info::Msg(Note::Unreachable(n)) => {
                if !ctx.node().nodes().contains(&n) {
                    tracing::warn!("global: {} failed to connect to {n}", ctx.node().name());
                    self.shared.known.write().remove(&n);
                    self.check_waiters(ctx);
                }
            }
            Info::Msg(Note::LostConnection {
                reporter,
                creation,
                op,
                lost,
            }) => self.lost_connection(reporter, creation, op, lost, ctx),
            Info::Msg(Note::RemoveConnection(n)) => {
                let node = ctx.node().clone();
                if node.nodes().contains(&n) {
                    tracing::warn!(
                        parent: node.span(),
                        "global: disconnecting {n}, at its request, to prevent overlapping partitions"
                    );
                    tokio::spawn(async move { node.disconnect(&n).await });
                }
            }
            Info::Exit(_) => {}
        }
        Flow::Continue
    }
}

/// What resolving a clash asks to be done to the processes involved.
pub(crate) enum Action {
    Kill { name: String, keep: Pid, kill: Pid },
    Notify { to: Pid, msg: GlobalNameConflict },
}

impl Action {
    pub(crate) fn run(self, node: &Node) {
        match self {
            Action::Kill { name, keep, kill } => {
                tracing::warn!(
                    parent: node.span(),
                    "global: name conflict for {name:?}: keeping {keep}, terminating {kill}"
                );
                node.exit(&kill, ExitReason::Kill);
            }
            Action::Notify { to, msg } => {
                tracing::info!(
                    parent: node.span(),
                    "global: name conflict for {:?}: notifying {to}",
                    msg.name
                );
                let _ = node.send(&to, &msg);
            }
        }
    }
}
