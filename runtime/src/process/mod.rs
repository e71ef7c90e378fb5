//! Processes: lightweight tasks with a mailbox, links and monitors.
//!
//! A process is a tokio task wrapped so that (1) a panic ends the process with
//! an error reason instead of reaching the node, and (2) an exit signal can end
//! it at any `.await`, as an Erlang exit signal can end a process anywhere.
//! When it ends, for whatever reason, the node tells its monitors (`Down`) and
//! its links (exit signals) — see [`crate::Node`].

mod ctx;
mod mailbox;

pub use ctx::Ctx;
pub(crate) use mailbox::Mailbox;

use crate::exit::{ExitReason, NodeDownReason};
use crate::message::Payload;
use crate::node::Node;
use crate::pid::{NodeName, Pid, Ref};
use parking_lot::Mutex;
use pin_project_lite::pin_project;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// What a monitor watches: a pid, or a registered name on a node.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Target {
    /// A process id.
    Pid(Pid),
    /// A name registered on a node (resolved once, when the monitor is set).
    Name(String, NodeName),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Pid(p) => write!(f, "{p}"),
            Target::Name(n, node) => write!(f, "{{{n}, {node}}}"),
        }
    }
}

/// A monitor fired: the monitored process is gone, or never existed, or its
/// node is unreachable. Monitors are one-shot: after `Down`, the monitor is gone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Down {
    /// The reference `monitor` returned.
    pub mref: Ref,
    /// What was monitored.
    pub target: Target,
    /// `NoProc` if it did not exist, `NoConnection` if its node is unreachable,
    /// otherwise the reason it exited.
    pub reason: ExitReason,
}

/// A trapped exit signal: a linked process ended (or `exit(pid, reason)` was called
/// on this process) and this process traps exits, so it gets a message instead of dying.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    /// Who sent the signal (the linked process that ended).
    pub from: Pid,
    /// Why; `NoConnection` when the link was lost with its node.
    pub reason: ExitReason,
}

/// Where a call's reply goes. Stored by a server that wants to reply later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyTo {
    /// The caller's one-shot reply address (an alias that dies with the call).
    pub(crate) slot: Pid,
    /// The server that received the call (its monitor for this call ends with the reply).
    pub(crate) server: Pid,
}

/// The body of a call reply on the wire (internal; only call slots see it).
#[doc(hidden)]
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ReplyBody {
    /// The reply.
    Ok(Payload),
    /// The server could not decode the request as its `Call` type.
    BadRequest(crate::message::DecodeError),
    /// The reply was too large to send (its size, and the frame limit).
    TooLarge(usize, usize),
}

/// Everything a mailbox can hold.
#[derive(Debug)]
pub enum Signal {
    /// A plain message (`send`).
    Message {
        /// The sending process, when it was one.
        from: Option<Pid>,
        /// The encoded message.
        payload: Payload,
    },
    /// A GenServer cast.
    Cast(Payload),
    /// A GenServer call awaiting a reply.
    Call(ReplyTo, Payload),
    /// A reply to a call (only ever delivered to a call's reply slot).
    #[doc(hidden)]
    Reply(Pid, ReplyBody),
    /// A monitor fired.
    Down(Down),
    /// A trapped exit signal.
    Exit(Exit),
    /// A node connected (only for processes that called `monitor_nodes`).
    NodeUp(NodeName),
    /// A node disconnected.
    NodeDown(NodeName, NodeDownReason),
}

/// Links and monitors of one process. Boxed and created on first use, so a
/// process that never links or monitors pays one pointer for them.
#[derive(Default)]
pub(crate) struct Relations {
    pub(crate) links: FxHashSet<Pid>,
    /// Monitors others hold on this process: ref → watcher.
    pub(crate) monitored_by: FxHashMap<Ref, Pid>,
    /// Monitors this process holds: ref → what it watches, and the target's
    /// process id when it is local (so the monitor can be removed there).
    pub(crate) monitoring: FxHashMap<Ref, (Target, Option<u64>)>,
}

pub(crate) struct ProcState {
    pub(crate) alive: bool,
    pub(crate) name: Option<String>,
    pub(crate) relations: Option<Box<Relations>>,
    /// An exit signal that must end the process at its next poll.
    pub(crate) pending_exit: Option<ExitReason>,
}

impl ProcState {
    pub(crate) fn rel(&mut self) -> &mut Relations {
        self.relations.get_or_insert_with(Default::default)
    }
}

/// The part of a process other tasks can reach.
pub(crate) struct ProcShared {
    pub(crate) pid: Pid,
    pub(crate) mailbox: Mailbox,
    pub(crate) trap_exit: AtomicBool,
    pub(crate) state: Mutex<ProcState>,
}

impl ProcShared {
    pub(crate) fn new(pid: Pid) -> Self {
        ProcShared {
            pid,
            mailbox: Mailbox::default(),
            trap_exit: AtomicBool::new(false),
            state: Mutex::new(ProcState {
                alive: true,
                name: None,
                relations: None,
                pending_exit: None,
            }),
        }
    }

    /// Applies `f` to this process's relations if it is still alive, under its
    /// lock: nothing is recorded on a process whose exit handling already ran.
    /// False when it is dead (the caller answers `NoProc`).
    pub(crate) fn relate_if_alive(&self, f: impl FnOnce(&mut Relations)) -> bool {
        let mut st = self.state.lock();
        if st.alive {
            f(st.rel());
        }
        st.alive
    }

    pub(crate) fn traps_exits(&self) -> bool {
        self.trap_exit.load(Ordering::Relaxed)
    }

    /// Ends the process at its next poll with `reason` (first reason wins).
    pub(crate) fn kill(&self, reason: ExitReason) {
        let mut st = self.state.lock();
        if st.alive && st.pending_exit.is_none() {
            st.pending_exit = Some(reason);
            drop(st);
            self.mailbox.task_waker.wake();
        }
    }
}

pin_project! {
    /// A process as a tokio task: runs the body, then the node's exit handling.
    ///
    /// One hand-written future rather than nested `async` blocks and an
    /// `Instrumented` wrapper: it is the whole per-process task allocation, so
    /// every byte here is paid 100k times by 100k processes.
    pub(crate) struct ProcTask<F> {
        node: Node,
        shared: Arc<ProcShared>,
        // `None` once the body has ended: it is dropped (releasing whatever the
        // process owned) before monitors and links hear of the exit.
        #[pin]
        body: Option<F>,
    }
}

impl<F> ProcTask<F> {
    pub(crate) fn new(node: Node, shared: Arc<ProcShared>, body: F) -> Self {
        ProcTask {
            node,
            shared,
            body: Some(body),
        }
    }
}

impl<F> Future for ProcTask<F>
where
    F: Future,
    F::Output: Into<ExitReason>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let _span = this.node.inner.span.enter();
        this.shared.mailbox.task_waker.register(cx.waker());
        let pending_exit = this.shared.state.lock().pending_exit.take();
        let reason = match pending_exit {
            Some(reason) => reason,
            None => {
                let Some(body) = this.body.as_mut().as_pin_mut() else {
                    return Poll::Ready(());
                };
                match std::panic::catch_unwind(AssertUnwindSafe(|| body.poll(cx))) {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(r)) => r.into(),
                    Err(panic) => ExitReason::Error(panic_message(&panic)),
                }
            }
        };
        this.body.set(None);
        this.node.process_exited(this.shared, reason);
        Poll::Ready(())
    }
}

pub(crate) fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    match crate::exit::panic_text(&**panic) {
        Some(s) => format!("panicked: {s}"),
        None => "panicked".to_string(),
    }
}
