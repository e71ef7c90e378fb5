//! Remote procedure calls by name (Erlang's `rpc`/`erpc`).
//!
//! Rust cannot send a closure to another machine, so — the lesson of "use MFA,
//! not lambdas" — a node *registers* named functions, and callers name the
//! module and function and send serialized arguments. Every node runs a server
//! registered as `rex` (the name Erlang uses) that executes requests, each in a
//! fresh process, so a panicking function fails that one call with `Exit`.
//!
//! ```no_run
//! # async fn demo(a: netsplit::Node, b: netsplit::Node) {
//! use std::time::Duration;
//! b.rpc_register("math", "add", |_node, (x, y): (i64, i64)| async move { x + y });
//! let sum: i64 = netsplit::rpc::call(&a, b.name(), "math", "add", &(2i64, 3i64), Duration::from_secs(1))
//!     .await
//!     .unwrap();
//! assert_eq!(sum, 5);
//! # }
//! ```

use crate::exit::ExitReason;
use crate::gen_server::{self, CallError};
use crate::message::{Message, Payload};
use crate::node::{Dest, Node};
use crate::pid::{NodeName, Pid};
use crate::process::{ReplyBody, Signal};
use futures::future::BoxFuture;
use futures::FutureExt;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

/// The registered name of every node's rpc server.
pub const REX: &str = "rex";

type Fun =
    Arc<dyn Fn(Node, Payload) -> BoxFuture<'static, Result<Payload, ExitReason>> + Send + Sync>;
type SpawnFun = Arc<dyn Fn(&Node, Payload, Option<Pid>) -> Result<Pid, ExitReason> + Send + Sync>;

/// A node's table of callable and spawnable functions.
#[derive(Default)]
pub(crate) struct Registry {
    funs: RwLock<HashMap<(String, String), Fun>>,
    spawns: RwLock<HashMap<(String, String), SpawnFun>>,
}

/// Why an rpc failed (Erlang's `{badrpc, Reason}`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum BadRpc {
    /// The node is down or unreachable.
    #[error("node {0} is down or unreachable")]
    NodeDown(NodeName),
    /// No answer within the timeout.
    #[error("timeout")]
    Timeout,
    /// No function `module:function` is registered on that node.
    #[error("undefined function {0}:{1}")]
    Undef(String, String),
    /// The function failed (panicked, or its arguments did not decode).
    #[error("the function exited: {0}")]
    Exit(ExitReason),
}

#[derive(Serialize, Deserialize)]
enum Request {
    Apply {
        module: String,
        fun: String,
        args: Payload,
    },
    Spawn {
        module: String,
        fun: String,
        args: Payload,
        link: Option<Pid>,
    },
}

#[derive(Serialize, Deserialize)]
enum Response {
    Value(Payload),
    Spawned(Pid),
    Undef(String, String),
    Exit(ExitReason),
}

impl Node {
    /// Makes `module:fun` callable by rpc. `f` gets this node and the decoded arguments.
    pub fn rpc_register<A, R, F, Fut>(&self, module: &str, fun: &str, f: F)
    where
        A: Message,
        R: Message,
        F: Fn(Node, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
    {
        let f = Arc::new(f);
        let wrapped: Fun = Arc::new(move |node, args: Payload| {
            let f = f.clone();
            async move {
                let a: A = args
                    .decode()
                    .map_err(|e| ExitReason::error(format!("bad arguments: {e}")))?;
                Ok(Payload::encode(&f(node, a).await))
            }
            .boxed()
        });
        self.inner
            .rpc
            .funs
            .write()
            .insert((module.into(), fun.into()), wrapped);
    }

    /// Makes `module:fun` spawnable from other nodes ([`spawn`]): `f` is the body
    /// of the new process, given its context and the decoded arguments.
    pub fn rpc_register_spawn<A, F, Fut>(&self, module: &str, fun: &str, f: F)
    where
        A: Message,
        F: Fn(crate::Ctx, A) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Into<ExitReason>,
    {
        let f = Arc::new(f);
        let wrapped: SpawnFun = Arc::new(move |node, args: Payload, link| {
            let a: A = args
                .decode()
                .map_err(|e| ExitReason::error(format!("bad arguments: {e}")))?;
            let f = f.clone();
            Ok(node.spawn_remote_linked(move |ctx| f(ctx, a), link))
        });
        self.inner
            .rpc
            .spawns
            .write()
            .insert((module.into(), fun.into()), wrapped);
    }

    /// True if `module:fun` is registered as spawnable on this node.
    pub(crate) fn has_spawnable(&self, module: &str, fun: &str) -> bool {
        self.inner
            .rpc
            .spawns
            .read()
            .contains_key(&(module.to_string(), fun.to_string()))
    }

    /// Spawns the registered spawnable `module:fun` here with encoded `args`,
    /// linked to `link` (supervisors keep children's arguments encoded).
    pub(crate) fn spawn_registered(
        &self,
        module: &str,
        fun: &str,
        args: Payload,
        link: Option<Pid>,
    ) -> Result<Pid, BadRpc> {
        let key = (module.to_string(), fun.to_string());
        let f = self.inner.rpc.spawns.read().get(&key).cloned();
        match f {
            Some(f) => f(self, args, link).map_err(BadRpc::Exit),
            None => Err(BadRpc::Undef(key.0, key.1)),
        }
    }

    /// Spawns with a link to a (possibly remote) pid, for remote `spawn_link`.
    fn spawn_remote_linked<F, Fut>(&self, body: F, link: Option<Pid>) -> Pid
    where
        F: FnOnce(crate::Ctx) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: Into<ExitReason>,
    {
        match link {
            None => self.spawn(body),
            Some(l) => self.spawn(move |ctx| {
                ctx.link(&l);
                body(ctx)
            }),
        }
    }
}

/// Starts the `rex` server of a node, with the built-in functions every node serves.
pub(crate) fn start_server(node: &Node) {
    register_builtins(node);
    let pid = node.spawn(rex);
    let _ = node.register(REX, &pid);
}

/// The functions every node answers by rpc, named as on the BEAM, so any node
/// (a shell, the grader, a student's tool) can drive another one:
///
/// | module:function            | argument   | result            |
/// |----------------------------|------------|-------------------|
/// | `net_kernel:connect_node`  | `NodeName` | `bool`            |
/// | `erlang:disconnect_node`   | `NodeName` | `bool`            |
/// | `erlang:nodes`             | `()`       | `Vec<NodeName>` (visible peers) |
/// | `erlang:whereis`           | `String`   | `Option<Pid>`     |
/// | `global:whereis_name`      | `String`   | `Option<Pid>`     |
/// | `global:registered_names`  | `()`       | `Vec<String>`     |
/// | `global:sync`              | `()`       | `()`, once the node's names are merged with every node it is connected to |
/// | `pg:get_members`           | `(String, String)` (scope, group) | `Vec<Pid>` |
/// | `pg:which_groups`          | `String` (scope) | `Vec<String>` |
///
/// The `global` and `pg` ones read the called node's own view, so asking
/// each node in turn shows where views disagree (during a partition, say).
fn register_builtins(node: &Node) {
    node.rpc_register(
        "net_kernel",
        "connect_node",
        |node, peer: NodeName| async move { node.connect(&peer).await },
    );
    node.rpc_register(
        "erlang",
        "disconnect_node",
        |node, peer: NodeName| async move { node.disconnect(&peer).await },
    );
    node.rpc_register(
        "erlang",
        "nodes",
        |node, (): ()| async move { node.nodes() },
    );
    node.rpc_register("erlang", "whereis", |node, name: String| async move {
        node.whereis(&name)
    });
    node.rpc_register("global", "whereis_name", |node, name: String| async move {
        crate::global::whereis_name(&node, &name)
    });
    node.rpc_register("global", "sync", |node, (): ()| async move {
        crate::global::sync(&node).await
    });
    node.rpc_register("global", "registered_names", |node, (): ()| async move {
        crate::global::registered_names(&node)
    });
    node.rpc_register(
        "pg",
        "get_members",
        |node, (scope, group): (String, String)| async move {
            crate::pg::get_members(&node, &scope, &group)
        },
    );
    node.rpc_register("pg", "which_groups", |node, scope: String| async move {
        crate::pg::which_groups(&node, &scope)
    });
}

/// The rpc server: serves calls (answered) and casts (not answered).
async fn rex(ctx: crate::Ctx) -> ExitReason {
    loop {
        let (reply_to, payload) = match ctx.recv().await {
            Signal::Call(reply_to, payload) => (Some(reply_to), payload),
            Signal::Cast(payload) => (None, payload),
            _ => continue,
        };
        let node = ctx.node().clone();
        let req: Request = match payload.decode() {
            Ok(r) => r,
            Err(e) => {
                match &reply_to {
                    Some(r) => node.send_reply(r, ReplyBody::BadRequest(e)),
                    None => tracing::warn!("rex dropped a cast: {e}"),
                }
                continue;
            }
        };
        match req {
            Request::Apply { module, fun, args } => {
                let f = node
                    .inner
                    .rpc
                    .funs
                    .read()
                    .get(&(module.clone(), fun.clone()))
                    .cloned();
                let Some(f) = f else {
                    respond(&node, reply_to.as_ref(), Response::Undef(module, fun));
                    continue;
                };
                // Each call runs in its own process: slow calls do not block
                // rex, and a panic fails only this call.
                node.spawn(move |ctx| async move {
                    let node = ctx.node().clone();
                    let out = AssertUnwindSafe(f(node.clone(), args)).catch_unwind().await;
                    let resp = match out {
                        Ok(Ok(v)) => Response::Value(v),
                        Ok(Err(reason)) => Response::Exit(reason),
                        Err(panic) => {
                            Response::Exit(ExitReason::Error(crate::process::panic_message(&panic)))
                        }
                    };
                    respond(&node, reply_to.as_ref(), resp);
                });
            }
            Request::Spawn {
                module,
                fun,
                args,
                link,
            } => {
                let resp = match node.spawn_registered(&module, &fun, args, link) {
                    Ok(pid) => Response::Spawned(pid),
                    Err(BadRpc::Undef(m, f)) => Response::Undef(m, f),
                    Err(e) => Response::Exit(ExitReason::error(e)),
                };
                respond(&node, reply_to.as_ref(), resp);
            }
        }
    }
}

/// Answers a call; a cast gets no answer.
fn respond(node: &Node, reply_to: Option<&crate::process::ReplyTo>, resp: Response) {
    if let Some(r) = reply_to {
        node.send_reply(r, ReplyBody::Ok(Payload::encode(&resp)));
    }
}

async fn request(
    node: &Node,
    target: &NodeName,
    req: &Request,
    timeout: Duration,
) -> Result<Response, BadRpc> {
    gen_server::call::<Request, Response>(
        node,
        Dest::Remote(REX.into(), target.clone()),
        req,
        timeout,
    )
    .await
    .map_err(|e| match e {
        CallError::Timeout => BadRpc::Timeout,
        CallError::NodeDown(n) => BadRpc::NodeDown(n),
        CallError::NoProc => BadRpc::NodeDown(target.clone()),
        CallError::Exit(r) => BadRpc::Exit(r),
        CallError::Decode(d) => BadRpc::Exit(ExitReason::error(d)),
    })
}

/// Calls `module:fun(args)` on `target` and waits at most `timeout`.
pub async fn call<A: Message, R: Message>(
    node: &Node,
    target: &NodeName,
    module: &str,
    fun: &str,
    args: &A,
    timeout: Duration,
) -> Result<R, BadRpc> {
    let req = Request::Apply {
        module: module.into(),
        fun: fun.into(),
        args: Payload::encode(args),
    };
    match request(node, target, &req, timeout).await? {
        Response::Value(v) => v.decode().map_err(|e| BadRpc::Exit(ExitReason::error(e))),
        Response::Undef(m, f) => Err(BadRpc::Undef(m, f)),
        Response::Exit(r) => Err(BadRpc::Exit(r)),
        Response::Spawned(_) => Err(BadRpc::Exit(ExitReason::error("unexpected spawn reply"))),
    }
}

/// Runs `module:fun(args)` on `target` without waiting for (or getting) a result.
pub fn cast<A: Message>(node: &Node, target: &NodeName, module: &str, fun: &str, args: &A) {
    let req = Request::Apply {
        module: module.into(),
        fun: fun.into(),
        args: Payload::encode(args),
    };
    let _ = gen_server::cast(node, Dest::Remote(REX.into(), target.clone()), &req);
}

/// Results of [`multicall`].
#[derive(Debug, Clone, PartialEq)]
pub struct MultiCall<R> {
    /// Nodes that answered, with the function's result or its failure (`Undef`, `Exit`).
    pub results: Vec<(NodeName, Result<R, BadRpc>)>,
    /// Nodes that did not answer: down, unreachable or timed out.
    pub bad_nodes: Vec<NodeName>,
}

/// Calls `module:fun(args)` on every node of `nodes` in parallel, waiting at most `timeout`.
pub async fn multicall<A: Message, R: Message>(
    node: &Node,
    nodes: &[NodeName],
    module: &str,
    fun: &str,
    args: &A,
    timeout: Duration,
) -> MultiCall<R> {
    let calls = nodes.iter().map(|n| async move {
        (
            n.clone(),
            call::<A, R>(node, n, module, fun, args, timeout).await,
        )
    });
    let mut out = MultiCall {
        results: vec![],
        bad_nodes: vec![],
    };
    for (n, r) in futures::future::join_all(calls).await {
        match r {
            Err(BadRpc::NodeDown(_)) | Err(BadRpc::Timeout) => out.bad_nodes.push(n),
            r => out.results.push((n, r)),
        }
    }
    out
}

/// Spawns the registered spawnable function `module:fun(args)` on `target`.
pub async fn spawn<A: Message>(
    node: &Node,
    target: &NodeName,
    module: &str,
    fun: &str,
    args: &A,
) -> Result<Pid, BadRpc> {
    spawn_opts(node, target, module, fun, args, None).await
}

/// Like [`spawn`], linking the new process to `link` (e.g. a supervisor's pid).
pub async fn spawn_opts<A: Message>(
    node: &Node,
    target: &NodeName,
    module: &str,
    fun: &str,
    args: &A,
    link: Option<Pid>,
) -> Result<Pid, BadRpc> {
    let req = Request::Spawn {
        module: module.into(),
        fun: fun.into(),
        args: Payload::encode(args),
        link,
    };
    match request(node, target, &req, node.config().setup_time * 2).await? {
        Response::Spawned(pid) => Ok(pid),
        Response::Undef(m, f) => Err(BadRpc::Undef(m, f)),
        Response::Exit(r) => Err(BadRpc::Exit(r)),
        Response::Value(_) => Err(BadRpc::Exit(ExitReason::error("unexpected value reply"))),
    }
}
