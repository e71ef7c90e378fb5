//! GenServer: a process that serves calls, casts and info messages, OTP-style.
//!
//! ```no_run
//! use netsplit::gen_server::{self, CallResponse, Caller, Flow, GenServer};
//! use netsplit::{Ctx, Node};
//! use std::time::Duration;
//!
//! struct Counter(u64);
//!
//! impl GenServer for Counter {
//!     type Call = ();          // "what is the count?"
//!     type Reply = u64;
//!     type Cast = u64;         // "add this much"
//!     type Info = ();
//!
//!     async fn handle_call(&mut self, _: (), _from: Caller<u64>, _ctx: &Ctx) -> CallResponse<u64> {
//!         CallResponse::Reply(self.0)
//!     }
//!     async fn handle_cast(&mut self, n: u64, _ctx: &Ctx) -> Flow {
//!         self.0 += n;
//!         Flow::Continue
//!     }
//! }
//!
//! # async fn demo(node: Node) -> Result<(), Box<dyn std::error::Error>> {
//! gen_server::start(&node, Counter(0), Some("counter")).await?;
//! gen_server::cast(&node, "counter", &5u64)?;
//! let n: u64 = gen_server::call(&node, "counter", &(), Duration::from_secs(1)).await?;
//! assert_eq!(n, 5);
//! # Ok(()) }
//! ```

use crate::exit::{ExitReason, NodeDownReason};
use crate::message::{DecodeError, Message, Payload};
use crate::node::{Dest, Node, SendError, SlotEvent};
use crate::pid::{NodeName, Pid};
use crate::process::{Ctx, Down, Exit, ReplyBody, ReplyTo, Signal};
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::marker::PhantomData;
use std::time::Duration;

/// The callbacks of a server. Each has a default, except what your server is for.
///
/// Callbacks run one at a time, in mailbox order: the state needs no lock.
/// A panic in a callback ends the server with an `Error` reason (its links and
/// monitors see it), never the node.
pub trait GenServer: Send + Sized + 'static {
    /// Requests served by `handle_call`.
    type Call: Message;
    /// Replies to calls.
    type Reply: Message;
    /// Messages served by `handle_cast`.
    type Cast: Message;
    /// Plain messages (`send`, timers) served by `handle_info`.
    type Info: Message;

    /// Runs in the new process before `start` returns. An error aborts the start.
    fn init(&mut self, ctx: &Ctx) -> impl Future<Output = Result<(), ExitReason>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }

    /// Serves a call: reply now, later (keep the [`Caller`]), or stop.
    fn handle_call(
        &mut self,
        request: Self::Call,
        from: Caller<Self::Reply>,
        ctx: &Ctx,
    ) -> impl Future<Output = CallResponse<Self::Reply>> + Send {
        let _ = (request, from, ctx);
        async {
            CallResponse::Stop(
                ExitReason::error("this server does not implement handle_call"),
                None,
            )
        }
    }

    /// Serves a cast.
    fn handle_cast(&mut self, msg: Self::Cast, ctx: &Ctx) -> impl Future<Output = Flow> + Send {
        let _ = (msg, ctx);
        async {
            tracing::warn!("cast received but this server does not implement handle_cast");
            Flow::Continue
        }
    }

    /// Serves everything else: plain messages, `Down`, trapped exits, node events.
    fn handle_info(
        &mut self,
        info: Info<Self::Info>,
        ctx: &Ctx,
    ) -> impl Future<Output = Flow> + Send {
        let _ = ctx;
        async move {
            let what = match info {
                Info::Msg(_) => "a message".to_string(),
                Info::Down(d) => format!("{d:?}"),
                Info::Exit(e) => format!("{e:?}"),
                Info::NodeUp(n) => format!("nodeup {n}"),
                Info::NodeDown(n, r) => format!("nodedown {n} ({r})"),
            };
            tracing::debug!("unhandled info: {what}");
            Flow::Continue
        }
    }

    /// Runs when the server stops by returning `Stop` (or on its parent's exit
    /// when it traps exits). Not run when it is killed or panics.
    fn terminate(&mut self, reason: &ExitReason, ctx: &Ctx) -> impl Future<Output = ()> + Send {
        let _ = (reason, ctx);
        async {}
    }
}

/// What `handle_call` decides.
#[derive(Debug)]
pub enum CallResponse<R> {
    /// Reply now and go on.
    Reply(R),
    /// Reply later through the [`Caller`] (or never: the caller times out).
    NoReply,
    /// Stop with a reason, replying first if a reply is given.
    Stop(ExitReason, Option<R>),
}

/// What the other callbacks decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    /// Keep serving.
    Continue,
    /// Stop with this reason (`terminate` runs first).
    Stop(ExitReason),
}

/// Messages `handle_info` receives.
#[derive(Debug)]
pub enum Info<T> {
    /// A plain message of the server's `Info` type.
    Msg(T),
    /// A monitor fired.
    Down(Down),
    /// A linked process exited and this server traps exits.
    Exit(Exit),
    /// A node connected (after `ctx.monitor_nodes(true)`).
    NodeUp(NodeName),
    /// A node disconnected, and why.
    NodeDown(NodeName, NodeDownReason),
}

/// Who called: reply through it, now or later, from any process of this node.
#[derive(Serialize, Deserialize)]
pub struct Caller<R> {
    to: ReplyTo,
    #[serde(skip)]
    _reply: PhantomData<fn(R)>,
}

impl<R> Clone for Caller<R> {
    fn clone(&self) -> Self {
        Caller {
            to: self.to.clone(),
            _reply: PhantomData,
        }
    }
}

impl<R> std::fmt::Debug for Caller<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Caller({})", self.to.slot)
    }
}

impl<R: Message> Caller<R> {
    /// Sends the reply. Replying twice, or after the caller gave up, does nothing.
    pub fn reply(&self, node: &Node, reply: &R) {
        node.send_reply(&self.to, ReplyBody::Ok(Payload::encode(reply)));
    }

    /// The node the caller is on.
    pub fn node(&self) -> &NodeName {
        &self.to.slot.node
    }
}

/// Why a call failed. Every call ends: with a reply or with one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No reply within the timeout.
    #[error("no reply within the timeout")]
    Timeout,
    /// The server's node is down or unreachable (before or during the call).
    #[error("node {0} is down or unreachable")]
    NodeDown(NodeName),
    /// No such process (dead pid, or nothing registered under the name).
    #[error("no such process")]
    NoProc,
    /// The server exited before replying.
    #[error("the server exited before replying: {0}")]
    Exit(ExitReason),
    /// The request or the reply was not of the expected type.
    #[error("{0}")]
    Decode(DecodeError),
}

/// Why a server did not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerStartError {
    /// The name is already registered (to this pid): the lookup-or-start idiom's signal.
    #[error("already started as {0}")]
    AlreadyStarted(Pid),
    /// `init` failed, or the process died during it.
    #[error("init failed: {0}")]
    InitFailed(ExitReason),
}

/// Starts a server, optionally registered under a local name. Returns once
/// `init` has finished.
pub async fn start<S: GenServer>(
    node: &Node,
    server: S,
    name: Option<&str>,
) -> Result<Pid, ServerStartError> {
    start_opts(node, server, name.map(Naming::Local), None).await
}

/// Starts a server linked to `parent` (a local process), as supervisors do.
pub async fn start_link<S: GenServer>(
    ctx: &Ctx,
    server: S,
    name: Option<&str>,
) -> Result<Pid, ServerStartError> {
    start_opts(
        ctx.node(),
        server,
        name.map(Naming::Local),
        Some(ctx.pid().clone()),
    )
    .await
}

/// Starts a server registered under a cluster-wide `:global` name (Elixir's
/// `name: {:global, name}`). The name is registered from the new process before
/// `init` runs, with the default clash resolver.
///
/// If the name is already taken anywhere in the cluster, nothing is started and
/// the result is [`ServerStartError::AlreadyStarted`] with the pid that holds
/// the name: the lookup-or-start idiom (`{:error, {:already_started, pid}}`).
/// See [`crate::global::register_name`] for what registration guarantees.
pub async fn start_global<S: GenServer>(
    node: &Node,
    server: S,
    name: &str,
) -> Result<Pid, ServerStartError> {
    start_opts(node, server, Some(Naming::Global(name)), None).await
}

/// Like [`start_global`], linked to the calling process (as supervisors start children).
pub async fn start_link_global<S: GenServer>(
    ctx: &Ctx,
    server: S,
    name: &str,
) -> Result<Pid, ServerStartError> {
    start_opts(
        ctx.node(),
        server,
        Some(Naming::Global(name)),
        Some(ctx.pid().clone()),
    )
    .await
}

/// How a starting server is named.
#[derive(Clone, Copy)]
pub(crate) enum Naming<'a> {
    /// Registered on its own node only.
    Local(&'a str),
    /// Registered cluster-wide with `:global`.
    Global(&'a str),
}

pub(crate) async fn start_opts<S: GenServer>(
    node: &Node,
    server: S,
    name: Option<Naming<'_>>,
    parent: Option<Pid>,
) -> Result<Pid, ServerStartError> {
    let (ack_tx, ack_rx) = tokio::sync::oneshot::channel();
    let global = matches!(name, Some(Naming::Global(_)));
    let name = name.map(|n| match n {
        Naming::Local(n) | Naming::Global(n) => n.to_string(),
    });
    let p = parent.clone();
    node.spawn_opts(
        move |ctx| async move {
            if let (Some(n), true) = (&name, global) {
                if let Err(e) = crate::global::register_self(&ctx, n).await {
                    let _ = ack_tx.send(Err(e));
                    return ExitReason::Normal;
                }
            } else if let Some(n) = &name {
                if let Err(e) = ctx.register(n) {
                    let other = match e {
                        crate::node::RegisterError::NameTaken(_, pid) => pid,
                        _ => ctx.pid().clone(),
                    };
                    let _ = ack_tx.send(Err(ServerStartError::AlreadyStarted(other)));
                    return ExitReason::Normal;
                }
            }
            let mut server = server;
            // A panic in init is the start's error, as a crash in OTP's init
            // is `{error, Reason}`: the caller learns why, not only that it died.
            let init = std::panic::AssertUnwindSafe(server.init(&ctx)).catch_unwind();
            let failed = match init.await {
                Ok(Ok(())) => None,
                Ok(Err(reason)) => Some(reason),
                Err(panic) => Some(ExitReason::Error(crate::process::panic_message(&panic))),
            };
            if let Some(reason) = failed {
                let _ = ack_tx.send(Err(ServerStartError::InitFailed(reason.clone())));
                return reason;
            }
            let _ = ack_tx.send(Ok(ctx.pid().clone()));
            serve(server, ctx, p).await
        },
        parent.as_ref(),
        false,
    );
    match ack_rx.await {
        Ok(r) => r,
        Err(_) => {
            // The process died before acking: killed or panicked in init.
            Err(ServerStartError::InitFailed(ExitReason::error(
                "the server died during init",
            )))
        }
    }
}

async fn serve<S: GenServer>(mut s: S, ctx: Ctx, parent: Option<Pid>) -> ExitReason {
    loop {
        let flow = match ctx.recv().await {
            Signal::Call(reply_to, payload) => match payload.decode::<S::Call>() {
                Ok(req) => {
                    let caller = Caller {
                        to: reply_to,
                        _reply: PhantomData,
                    };
                    match s.handle_call(req, caller.clone(), &ctx).await {
                        CallResponse::Reply(r) => {
                            caller.reply(ctx.node(), &r);
                            Flow::Continue
                        }
                        CallResponse::NoReply => Flow::Continue,
                        CallResponse::Stop(reason, r) => {
                            if let Some(r) = r {
                                caller.reply(ctx.node(), &r);
                            }
                            Flow::Stop(reason)
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!("{} got a call it cannot decode: {e}", ctx.pid());
                    ctx.node().send_reply(&reply_to, ReplyBody::BadRequest(e));
                    Flow::Continue
                }
            },
            Signal::Cast(p) => match p.decode::<S::Cast>() {
                Ok(m) => s.handle_cast(m, &ctx).await,
                Err(e) => {
                    tracing::error!("{} dropped a cast: {e}", ctx.pid());
                    Flow::Continue
                }
            },
            Signal::Message { payload, .. } => match payload.decode::<S::Info>() {
                Ok(m) => s.handle_info(Info::Msg(m), &ctx).await,
                Err(e) => {
                    tracing::warn!("{} ignored an unexpected message: {e}", ctx.pid());
                    Flow::Continue
                }
            },
            Signal::Down(d) => s.handle_info(Info::Down(d), &ctx).await,
            Signal::Exit(e) if Some(&e.from) == parent.as_ref() => Flow::Stop(e.reason),
            Signal::Exit(e) => s.handle_info(Info::Exit(e), &ctx).await,
            Signal::NodeUp(n) => s.handle_info(Info::NodeUp(n), &ctx).await,
            Signal::NodeDown(n, r) => s.handle_info(Info::NodeDown(n, r), &ctx).await,
            Signal::Reply(..) => Flow::Continue,
        };
        if let Flow::Stop(reason) = flow {
            s.terminate(&reason, &ctx).await;
            return reason;
        }
    }
}

/// Calls a server and waits for its reply, at most `timeout`.
///
/// The server is monitored for the length of the call, so a dead server, an
/// unknown name or a lost node end the call at once with a typed error instead of
/// waiting out the timeout.
pub async fn call<Req: Message, Rep: Message>(
    node: &Node,
    dest: impl Into<Dest>,
    request: &Req,
    timeout: Duration,
) -> Result<Rep, CallError> {
    call_with(node, dest.into(), request, timeout, true).await
}

/// [`call`] that never opens a connection (OTP's `noconnect`): a node not
/// connected is [`CallError::NodeDown`] at once. For the runtime's own
/// services, which must not reconnect a node the cluster has just lost.
pub(crate) async fn call_noconnect<Req: Message, Rep: Message>(
    node: &Node,
    dest: impl Into<Dest>,
    request: &Req,
    timeout: Duration,
) -> Result<Rep, CallError> {
    call_with(node, dest.into(), request, timeout, false).await
}

async fn call_with<Req: Message, Rep: Message>(
    node: &Node,
    dest: Dest,
    request: &Req,
    timeout: Duration,
    connect: bool,
) -> Result<Rep, CallError> {
    let target_node = dest.node().cloned().unwrap_or_else(|| node.name().clone());
    let (slot, rx, _guard) = node.new_slot();
    let local_server = node.start_call(&slot, dest, Payload::encode(request), connect);
    match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(SlotEvent::Reply(ReplyBody::Ok(p)))) => p.decode::<Rep>().map_err(CallError::Decode),
        Ok(Ok(SlotEvent::Reply(ReplyBody::BadRequest(e)))) => Err(CallError::Decode(e)),
        Ok(Ok(SlotEvent::Reply(ReplyBody::TooLarge(bytes, limit)))) => {
            Err(CallError::Exit(ExitReason::error(format!(
                "the reply ({bytes} bytes) is over the {limit}-byte frame limit, so the server could not send it"
            ))))
        }
        Ok(Ok(SlotEvent::Down(reason))) => Err(match reason {
            ExitReason::NoProc => CallError::NoProc,
            ExitReason::NoConnection => CallError::NodeDown(target_node),
            r => CallError::Exit(r),
        }),
        Ok(Err(_)) => Err(CallError::Exit(ExitReason::error("call slot closed"))),
        Err(_) => {
            if target_node == *node.name() {
                node.forget_local_call_monitor(&slot, local_server);
            } else {
                node.forget_call_monitor(&slot, &target_node);
            }
            Err(CallError::Timeout)
        }
    }
}

/// Sends a cast (fire-and-forget). Only a local name that is not registered is an error.
pub fn cast<T: Message>(node: &Node, dest: impl Into<Dest>, msg: &T) -> Result<(), SendError> {
    node.send_payload(None, dest.into(), Payload::encode(msg), true)
}

/// Casts `msg` to the server registered as `name` on each of `nodes`
/// (Erlang's `abcast/3`). Fire-and-forget: unreachable nodes are skipped silently.
pub fn abcast<T: Message>(node: &Node, nodes: &[NodeName], name: &str, msg: &T) {
    let payload = Payload::encode(msg);
    for n in nodes {
        let _ = node.send_payload(
            None,
            Dest::Remote(name.to_string(), n.clone()),
            payload.clone(),
            true,
        );
    }
}

/// Replies gathered by [`multi_call`].
#[derive(Debug, Clone, PartialEq)]
pub struct MultiCall<R> {
    /// One reply per node that answered in time, in the order of `nodes`.
    pub replies: Vec<(NodeName, R)>,
    /// Nodes that did not: down, unreachable, no such server, timed out, or a bad reply.
    pub bad_nodes: Vec<NodeName>,
}

/// Calls the server registered as `name` on each of `nodes` in parallel and
/// waits at most `timeout` in total (Erlang's `multi_call/4`). Never hangs.
pub async fn multi_call<Req: Message, Rep: Message>(
    node: &Node,
    nodes: &[NodeName],
    name: &str,
    request: &Req,
    timeout: Duration,
) -> MultiCall<Rep> {
    multi_call_with(node, nodes, name, request, timeout, true).await
}

/// [`multi_call`] that never opens a connection: nodes not connected are bad
/// nodes at once (see [`call_noconnect`]).
pub(crate) async fn multi_call_noconnect<Req: Message, Rep: Message>(
    node: &Node,
    nodes: &[NodeName],
    name: &str,
    request: &Req,
    timeout: Duration,
) -> MultiCall<Rep> {
    multi_call_with(node, nodes, name, request, timeout, false).await
}

async fn multi_call_with<Req: Message, Rep: Message>(
    node: &Node,
    nodes: &[NodeName],
    name: &str,
    request: &Req,
    timeout: Duration,
    connect: bool,
) -> MultiCall<Rep> {
    let calls = nodes.iter().map(|n| {
        let dest = Dest::Remote(name.to_string(), n.clone());
        async move {
            let r = call_with::<Req, Rep>(node, dest, request, timeout, connect).await;
            (n.clone(), r)
        }
    });
    let mut out = MultiCall {
        replies: vec![],
        bad_nodes: vec![],
    };
    for (n, r) in futures::future::join_all(calls).await {
        match r {
            Ok(rep) => out.replies.push((n, rep)),
            Err(_) => out.bad_nodes.push(n),
        }
    }
    out
}

impl Node {
    /// Ends the remote monitor of a call that timed out.
    pub(crate) fn forget_call_monitor(&self, slot: &Pid, target: &NodeName) {
        let mref = Node::slot_ref(slot);
        let r = mref.clone();
        self.inner.dist.send_if_connected(
            self,
            target,
            crate::dist::DistMsg::Demonitor { mref },
            move |book| {
                book.out_monitors.remove(&r);
            },
        );
    }

    /// All nodes this node sees plus itself: the usual target list of `abcast`
    /// and `multi_call`.
    pub fn nodes_and_self(&self) -> Vec<NodeName> {
        let mut v = vec![self.name().clone()];
        v.extend(self.nodes());
        v
    }
}
