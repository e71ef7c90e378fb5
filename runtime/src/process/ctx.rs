//! `Ctx`: what a running process can do.

use super::{ProcShared, Signal};
use crate::exit::ExitReason;
use crate::message::{Message, Payload};
use crate::node::{Dest, Node, SendError};
use crate::pid::{Pid, Ref};
use crate::timer::TimerRef;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// A process's handle on itself: its mailbox, its pid, its node.
///
/// Every process body and every GenServer callback gets one. It is `Clone` so a
/// helper task can hold it, but the mailbox has one reader: only the process
/// itself should call [`recv`](Ctx::recv).
#[derive(Clone)]
pub struct Ctx {
    node: Node,
    shared: Arc<ProcShared>,
}

impl Ctx {
    pub(crate) fn new(node: Node, shared: Arc<ProcShared>) -> Self {
        Ctx { node, shared }
    }

    /// This process's pid.
    pub fn pid(&self) -> &Pid {
        &self.shared.pid
    }

    /// The node this process runs on.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Waits for the next signal in the mailbox (messages, casts, calls, Down,
    /// trapped exits, node events), in arrival order.
    pub async fn recv(&self) -> Signal {
        self.shared.mailbox.pop().await
    }

    /// Like [`recv`](Ctx::recv) with a deadline; `None` if nothing came in time.
    pub async fn recv_timeout(&self, timeout: Duration) -> Option<Signal> {
        tokio::time::timeout(timeout, self.recv()).await.ok()
    }

    /// Takes the next signal if there is one, without waiting.
    pub fn try_recv(&self) -> Option<Signal> {
        self.shared.mailbox.try_pop()
    }

    /// Sends a message from this process (the receiver sees `from`).
    pub fn send<T: Message>(&self, to: impl Into<Dest>, msg: &T) -> Result<(), SendError> {
        self.node.send_payload(
            Some(self.shared.pid.clone()),
            to.into(),
            Payload::encode(msg),
            false,
        )
    }

    /// Monitors a process (or registered name): a single `Down` arrives when it
    /// ends, at once with `NoProc` if it does not exist, or with `NoConnection`
    /// if its node is or becomes unreachable.
    pub fn monitor(&self, target: impl Into<Dest>) -> Ref {
        self.node.monitor(&self.shared, target.into(), true)
    }

    /// [`Ctx::monitor`] that never opens a connection (OTP's services must not
    /// reconnect a node the cluster has lost): `Down(NoConnection)` at once if
    /// the target's node is not connected.
    pub(crate) fn monitor_noconnect(&self, target: impl Into<Dest>) -> Ref {
        self.node.monitor(&self.shared, target.into(), false)
    }

    /// Removes a monitor and any `Down` it already queued. True if it was active.
    pub fn demonitor(&self, mref: &Ref) -> bool {
        self.node.demonitor(&self.shared, mref)
    }

    /// Links this process with `pid`: when either ends abnormally, the other gets
    /// an exit signal (and dies, unless it traps exits). Linking to a dead process
    /// delivers `NoProc`; losing its node delivers `NoConnection`.
    pub fn link(&self, pid: &Pid) {
        self.node.link(&self.shared, pid.clone())
    }

    /// Removes a link.
    pub fn unlink(&self, pid: &Pid) {
        self.node.unlink(&self.shared, pid)
    }

    /// Turns exit signals into [`Signal::Exit`] messages (except `Kill`).
    pub fn trap_exit(&self, on: bool) {
        self.shared.trap_exit.store(on, Ordering::Relaxed);
    }

    /// Whether this process traps exits.
    pub fn traps_exits(&self) -> bool {
        self.shared.traps_exits()
    }

    /// Subscribes to `NodeUp`/`NodeDown` for visible nodes (Erlang's
    /// `net_kernel:monitor_nodes(true)`).
    pub fn monitor_nodes(&self, on: bool) {
        self.node.monitor_nodes(&self.shared.pid, on, false)
    }

    /// Registers this process under a local name.
    pub fn register(&self, name: &str) -> Result<(), crate::node::RegisterError> {
        self.node.register(name, &self.shared.pid)
    }

    /// Sends an exit signal to `pid` (Erlang's `exit/2`).
    pub fn exit(&self, pid: &Pid, reason: ExitReason) {
        self.node.exit_signal(
            self.shared.pid.clone(),
            pid,
            reason,
            crate::node::ExitKind::Exit2,
        )
    }

    /// Spawns a process linked to this one (atomically: no gap in which either
    /// could die unnoticed).
    pub fn spawn_link<F, Fut>(&self, body: F) -> Pid
    where
        F: FnOnce(Ctx) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: Into<ExitReason>,
    {
        self.node.spawn_opts(body, Some(&self.shared.pid), false)
    }

    /// Sends `msg` to this process after `delay` (Erlang's `send_after(T, self(), Msg)`).
    pub fn send_after<T: Message>(&self, msg: &T, delay: Duration) -> TimerRef {
        crate::timer::send_after(
            &self.node,
            Some(self.shared.pid.clone()),
            self.shared.pid.clone().into(),
            msg,
            delay,
        )
    }

    /// Number of signals waiting in the mailbox.
    pub fn mailbox_len(&self) -> usize {
        self.shared.mailbox.len()
    }
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ctx({})", self.shared.pid)
    }
}

impl From<()> for ExitReason {
    fn from(_: ()) -> Self {
        ExitReason::Normal
    }
}
