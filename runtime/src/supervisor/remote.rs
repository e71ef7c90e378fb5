//! Children started from another node: a closure cannot travel, so the child is
//! named by a function registered on the supervisor's node.

use super::calls::{started, Request};
use super::{ChildSpec, ChildType, Restart, Shutdown, StartFn, SupervisorError};
use crate::exit::ExitReason;
use crate::message::{Message, Payload};
use crate::node::{Dest, Node};
use crate::pid::Pid;
use crate::process::Ctx;
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A child to start under a supervisor on another node: a function registered
/// there with [`Node::rpc_register_spawn`], named by module and function, with serialized
/// arguments. See [`start_remote_child`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteChildSpec {
    /// The child's id in the supervisor (default `"module:fun"`).
    pub id: String,
    /// The registered module name.
    pub module: String,
    /// The registered function name.
    pub fun: String,
    /// The encoded arguments (decoded by the registered function's argument type).
    pub args: Payload,
    /// When it is restarted (default `Permanent`).
    pub restart: Restart,
    /// How it is stopped (default 5 s, then kill).
    pub shutdown: Shutdown,
}

impl RemoteChildSpec {
    /// A permanent child running `module:fun(args)`.
    pub fn new<A: Message>(module: &str, fun: &str, args: &A) -> Self {
        RemoteChildSpec {
            id: format!("{module}:{fun}"),
            module: module.to_string(),
            fun: fun.to_string(),
            args: Payload::encode(args),
            restart: Restart::Permanent,
            shutdown: Shutdown::default(),
        }
    }

    /// Sets the child's id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Sets the restart type.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// Sets how the child is stopped.
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }
}

impl From<RemoteChildSpec> for ChildSpec {
    /// The spec a supervisor runs: looks `module:fun` up on the supervisor's own
    /// node at every (re)start.
    fn from(r: RemoteChildSpec) -> ChildSpec {
        let RemoteChildSpec {
            id,
            module,
            fun,
            args,
            restart,
            shutdown,
        } = r;
        let start: StartFn = Arc::new(move |ctx: &Ctx| {
            let res = ctx
                .node()
                .spawn_registered(&module, &fun, args.clone(), Some(ctx.pid().clone()))
                .map_err(|e| ExitReason::error(format!("{e} on {}", ctx.node().name())));
            futures::future::ready(res).boxed()
        });
        ChildSpec {
            id,
            start,
            restart,
            shutdown,
            child_type: ChildType::Worker,
        }
    }
}

/// Starts the function registered as `module:fun` (with [`Node::rpc_register_spawn`]) on
/// the **supervisor's** node, with `args`, as a permanent child of `sup` — which
/// may be on any node. The child runs on the supervisor's node, linked to it,
/// and is restarted there. Its id is `"module:fun"`.
///
/// [`SupervisorError::Undef`] if the function is not registered there.
///
/// ```no_run
/// # async fn demo(a: netsplit::Node, b: netsplit::Node) -> Result<(), netsplit::supervisor::SupervisorError> {
/// use netsplit::supervisor::{self, DynamicSupervisorSpec};
/// // On node a: what may be started there, and the supervisor that runs it.
/// a.rpc_register_spawn("worker", "run", |ctx, name: String| async move {
///     ctx.register(&name).unwrap();
///     // Serve until told to stop (a message) or killed.
///     ctx.recv().await;
/// });
/// supervisor::start_dynamic(&a, DynamicSupervisorSpec::default(), Some("workers")).await.unwrap();
/// // On node b: start a uniquely named worker on a, supervised there.
/// let pid = supervisor::start_child_remote(&b, ("workers", a.name()), "worker", "run", &"job-42".to_string()).await?;
/// assert_eq!(pid.node(), a.name());
/// # Ok(()) }
/// ```
pub async fn start_child_remote<A: Message>(
    node: &Node,
    sup: impl Into<Dest>,
    module: &str,
    fun: &str,
    args: &A,
) -> Result<Pid, SupervisorError> {
    start_remote_child(node, sup, RemoteChildSpec::new(module, fun, args)).await
}

/// Like [`start_child_remote`], with a full [`RemoteChildSpec`] (id, restart
/// type, shutdown).
pub async fn start_remote_child(
    node: &Node,
    sup: impl Into<Dest>,
    spec: RemoteChildSpec,
) -> Result<Pid, SupervisorError> {
    started(node, sup.into(), &Request::StartRemote(spec)).await
}
