//! Child specs: how a supervisor starts, restarts and stops one child.

use super::{
    start_dynamic_link, start_link, DynamicSupervisorSpec, RemoteChildSpec, SupervisorSpec,
    SupervisorStartError,
};
use crate::exit::ExitReason;
use crate::gen_server::{self, GenServer, ServerStartError};
use crate::message::Message;
use crate::pid::Pid;
use crate::process::Ctx;
use futures::future::BoxFuture;
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
#[cfg(doc)] // doc links
use {super::count_children, super::start_dynamic, crate::node::Node};

/// The default shutdown timeout of a worker (OTP's 5000 ms).
pub const DEFAULT_SHUTDOWN: Duration = Duration::from_secs(5);

/// A child's start function: given the supervisor's context, start the child
/// *linked to the supervisor* and return its pid.
///
/// It runs inside the supervisor process, which waits for it; the future must
/// not wait on the supervisor itself (calling it would deadlock until the call
/// times out).
pub type StartFn = Arc<dyn Fn(&Ctx) -> BoxFuture<'static, Result<Pid, ExitReason>> + Send + Sync>;

/// When a child is restarted after it exits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Restart {
    /// Always restarted.
    #[default]
    Permanent,
    /// Restarted only if it exits abnormally (with a reason other than
    /// `Normal` or `Shutdown`).
    Transient,
    /// Never restarted; forgotten when it ends.
    Temporary,
}

impl Restart {
    /// True if a child of this type that exited with `reason` is restarted.
    pub fn restarts_after(&self, reason: &ExitReason) -> bool {
        match self {
            Restart::Permanent => true,
            Restart::Transient => !reason.is_normal_or_shutdown(),
            Restart::Temporary => false,
        }
    }
}

/// How a child is terminated by its supervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Shutdown {
    /// Killed at once with the untrappable `Kill` (OTP's `brutal_kill`).
    BrutalKill,
    /// Sent the exit signal `Shutdown`, then `Kill` if it is still alive after
    /// this long. A child that traps exits can use the time to clean up.
    Timeout(Duration),
    /// Sent `Shutdown` and waited for as long as it takes (the default for
    /// child supervisors, which must terminate their own children first).
    Infinity,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::Timeout(DEFAULT_SHUTDOWN)
    }
}

/// Whether a child is a worker or a supervisor (only reported by [`count_children`]
/// and used for the default [`Shutdown`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChildType {
    /// Any process that is not a supervisor.
    #[default]
    Worker,
    /// A supervisor.
    Supervisor,
}

/// How to start, restart and stop one child.
///
/// Build one with [`worker`](ChildSpec::worker), [`process`](ChildSpec::process),
/// [`gen_server`](ChildSpec::gen_server), [`supervisor`](ChildSpec::supervisor),
/// [`dynamic_supervisor`](ChildSpec::dynamic_supervisor) or
/// [`spawnable`](ChildSpec::spawnable), then adjust it with
/// [`restart`](ChildSpec::restart) and [`shutdown`](ChildSpec::shutdown).
/// A spec is cheap to clone (the start function is shared).
#[derive(Clone)]
pub struct ChildSpec {
    /// The child's name within its supervisor (unique in a static supervisor).
    pub id: String,
    /// Starts the child linked to the supervisor.
    pub start: StartFn,
    /// When it is restarted.
    pub restart: Restart,
    /// How it is stopped.
    pub shutdown: Shutdown,
    /// Worker or supervisor.
    pub child_type: ChildType,
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .field("child_type", &self.child_type)
            .finish_non_exhaustive()
    }
}

impl ChildSpec {
    /// A permanent worker from a raw [`StartFn`].
    pub fn new(id: impl Into<String>, start: StartFn) -> Self {
        ChildSpec {
            id: id.into(),
            start,
            restart: Restart::Permanent,
            shutdown: Shutdown::default(),
            child_type: ChildType::Worker,
        }
    }

    /// A permanent worker started by `start`, which gets (a clone of) the
    /// supervisor's context and must start the child linked to it — with
    /// [`Ctx::spawn_link`], [`gen_server::start_link`], or
    /// [`rpc::spawn_opts`](crate::rpc::spawn_opts) with `Some(ctx.pid())`.
    ///
    /// ```no_run
    /// # use netsplit::supervisor::ChildSpec;
    /// # use netsplit::{Ctx, ExitReason};
    /// async fn ticker(ctx: Ctx) -> ExitReason {
    ///     loop {
    ///         ctx.recv().await;
    ///     }
    /// }
    /// let spec = ChildSpec::worker("ticker", |ctx| async move { Ok(ctx.spawn_link(ticker)) });
    /// ```
    pub fn worker<F, Fut>(id: impl Into<String>, start: F) -> Self
    where
        F: Fn(Ctx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Pid, ExitReason>> + Send + 'static,
    {
        let start: StartFn = Arc::new(move |ctx: &Ctx| start(ctx.clone()).boxed());
        Self::new(id, start)
    }

    /// A permanent worker that is a plain process running `body`, spawned
    /// linked to the supervisor (a fresh call of `body` at every restart).
    pub fn process<F, Fut>(id: impl Into<String>, body: F) -> Self
    where
        F: Fn(Ctx) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Into<ExitReason>,
    {
        let body = Arc::new(body);
        let start: StartFn = Arc::new(move |ctx: &Ctx| {
            let body = body.clone();
            let pid = ctx.spawn_link(move |c| body(c));
            futures::future::ready(Ok(pid)).boxed()
        });
        Self::new(id, start)
    }

    /// A permanent worker that is a [`GenServer`] made by `factory` (called at
    /// every start), started with [`gen_server::start_link`] and optionally
    /// registered under `name`. Its `init` failing fails the start.
    pub fn gen_server<S, F>(id: impl Into<String>, name: Option<&str>, factory: F) -> Self
    where
        S: GenServer,
        F: Fn() -> S + Send + Sync + 'static,
    {
        let name = name.map(str::to_string);
        Self::worker(id, move |ctx| {
            let server = factory();
            let name = name.clone();
            async move {
                gen_server::start_link(&ctx, server, name.as_deref())
                    .await
                    .map_err(server_start_reason)
            }
        })
    }

    /// A permanent child that is itself a supervisor (a supervision tree),
    /// with [`Shutdown::Infinity`] so it can stop its own children in order.
    pub fn supervisor(id: impl Into<String>, name: Option<&str>, spec: SupervisorSpec) -> Self {
        let name = name.map(str::to_string);
        Self::worker(id, move |ctx| {
            let spec = spec.clone();
            let name = name.clone();
            async move {
                start_link(&ctx, spec, name.as_deref())
                    .await
                    .map_err(sup_start_reason)
            }
        })
        .supervising()
    }

    /// A permanent child that is a dynamic supervisor (see [`start_dynamic`]).
    pub fn dynamic_supervisor(
        id: impl Into<String>,
        name: Option<&str>,
        spec: DynamicSupervisorSpec,
    ) -> Self {
        let name = name.map(str::to_string);
        Self::worker(id, move |ctx| {
            let spec = spec.clone();
            let name = name.clone();
            async move {
                start_dynamic_link(&ctx, spec, name.as_deref())
                    .await
                    .map_err(sup_start_reason)
            }
        })
        .supervising()
    }

    /// A permanent worker running the function registered as `module:fun` with
    /// [`Node::rpc_register_spawn`] on the supervisor's node, with `args`.
    pub fn spawnable<A: Message>(id: impl Into<String>, module: &str, fun: &str, args: &A) -> Self {
        RemoteChildSpec::new(module, fun, args).id(id).into()
    }

    /// Marks the child as a supervisor, given all the time it needs to stop
    /// its own children in order.
    fn supervising(mut self) -> Self {
        self.child_type = ChildType::Supervisor;
        self.shutdown = Shutdown::Infinity;
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

    /// Sets the child type (does not change the shutdown).
    pub fn child_type(mut self, child_type: ChildType) -> Self {
        self.child_type = child_type;
        self
    }
}

fn server_start_reason(e: ServerStartError) -> ExitReason {
    match e {
        ServerStartError::InitFailed(r) => r,
        ServerStartError::AlreadyStarted(p) => ExitReason::error(format!("already started as {p}")),
    }
}

fn sup_start_reason(e: SupervisorStartError) -> ExitReason {
    ExitReason::error(e)
}
