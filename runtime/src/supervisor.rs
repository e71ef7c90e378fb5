//! Supervisors: processes that start, watch and restart other processes, OTP-style.
//!
//! A supervisor is a process that traps exits and starts its children from
//! [`ChildSpec`]s, each linked to it. When a child exits, the supervisor decides
//! from the child's [`Restart`] type whether to restart it, and from its
//! [`Strategy`] which other children to restart with it.
//!
//! | Erlang/Elixir                          | netsplit                                  |
//! |----------------------------------------|-------------------------------------------|
//! | `supervisor:start_link/3`              | [`start`], [`start_link`]                 |
//! | child spec map                         | [`ChildSpec`]                             |
//! | `one_for_one`, `one_for_all`, `rest_for_one` | [`Strategy`]                        |
//! | `intensity`, `period`                  | [`SupervisorSpec::max_restarts`], [`SupervisorSpec::max_seconds`] |
//! | `DynamicSupervisor.start_link/1`       | [`start_dynamic`], [`start_dynamic_link`] |
//! | `supervisor:start_child/2`             | [`start_child`], [`start_child_remote`]   |
//! | `which_children/1`, `count_children/1` | [`which_children`], [`count_children`]    |
//! | `terminate_child/2`, `restart_child/2`, `delete_child/2` | [`terminate_child`], [`restart_child`], [`delete_child`] |
//! | `gen_server:stop/2`                    | [`stop`]                                  |
//!
//! # Guarantees
//!
//! * **Start order.** Children start one at a time, in the order of the spec,
//!   each start finishing (a GenServer's `init` included) before the next begins.
//!   If one fails, the children already started are terminated (in reverse
//!   order) and the supervisor's start fails with
//!   [`SupervisorStartError::ChildFailed`]; nothing is left running.
//! * **Shutdown order.** Children are terminated in reverse start order, each
//!   completely (its `Down` seen) before the next: first an exit signal
//!   `Shutdown`, then `Kill` once its [`Shutdown::Timeout`] has passed.
//!   A [`DynamicSupervisor`](start_dynamic)'s children are unordered, so it
//!   terminates them all at once, as OTP's `simple_one_for_one` does.
//! * **Restarts.** `Permanent` children are always restarted, `Transient` ones
//!   only after an abnormal exit (anything but `Normal` or `Shutdown`),
//!   `Temporary` ones never (they are forgotten when they end). A static
//!   supervisor keeps the spec of a transient child that finished (shown with
//!   no pid); a dynamic one forgets it.
//!   [`Strategy::OneForAll`] terminates every other child (reverse order) and
//!   restarts them all (start order); [`Strategy::RestForOne`] does the same for
//!   the children started after the one that exited. A restarted child always
//!   has a new pid; the supervisor keeps its place in the start order.
//! * **Intensity.** Each restart is recorded; if more than `max_restarts`
//!   happen within `max_seconds`, the supervisor logs why, terminates all its
//!   children (reverse order) and exits with [`ExitReason::Shutdown`], so that its
//!   own supervisor can act. With OTP's defaults (3 in 5 s) the fourth crash in
//!   five seconds takes the supervisor down.
//! * **Its own end.** An exit signal from its parent (the process that called
//!   [`start_link`]) or from the runtime ([`Node::exit`], except `Normal`) makes
//!   it terminate its children in order and exit with the same reason. `Kill`
//!   cannot be trapped: the supervisor dies at once and its children, being
//!   linked to it, get the exit signal `Killed` (and die unless they trap exits).
//!   Exit signals from other processes that are not its children are ignored.
//!
//! # Remote children
//!
//! Rust cannot ship a closure to another node, so a [`ChildSpec`] (which holds
//! one) can only be given to a supervisor on the caller's node. To start a
//! child under a supervisor on *another* node, register the child's body on
//! that node under a module/function name with [`Node::rpc_register_spawn`], then call
//! [`start_child_remote`] with the name and serialized arguments: the
//! supervisor spawns the child on its own node, linked to itself, and
//! restarts it there. This is how a cluster "picks a node and starts a
//! uniquely named worker there under its DynamicSupervisor".
//!
//! # Differences from OTP
//!
//! * There is no `init/1` callback: the [`SupervisorSpec`] is the value `init`
//!   would return, and `ignore` has no equivalent.
//! * Child start functions return `Result<Pid, ExitReason>`; there is no
//!   `{ok, Pid, Info}` nor `ignore`. A start function that panics counts as a
//!   failed start (the supervisor survives it).
//! * The restart period is measured with a monotonic clock to the nanosecond
//!   (OTP counts whole seconds).
//! * When a restart fails, the supervisor retries it later (after the signals
//!   already in its mailbox), each try counting toward the intensity, as OTP does.
//!   While it waits, [`which_children`] shows the child with no pid.
//! * When [`start_link`]'s supervisor fails to start, it unlinks from the caller
//!   before exiting: the caller gets the error back and no exit signal.
//! * Exit signals sent with [`Node::exit`] (from "the runtime", no process)
//!   stop a supervisor as its parent's would; OTP ignores exit signals from
//!   non-parents. Use [`stop`] for an orderly stop that waits.
//! * As in OTP, `OneForAll`/`RestForOne` also start children that were stopped
//!   (by [`terminate_child`], or a transient child's normal exit) when they
//!   restart the group.
//! * Supervisor calls have no timeout argument; like OTP's `infinity` they wait
//!   as long as the supervisor takes, but end at once with
//!   [`SupervisorError::Call`] if it dies or its node becomes unreachable.
//! * Children of a dynamic supervisor have ids (from their spec) but need not
//!   be unique; they are addressed by pid.

use crate::exit::ExitReason;
use crate::gen_server::{self, CallError, GenServer, ServerStartError};
use crate::message::{Message, Payload};
use crate::node::{Dest, Node};
use crate::pid::{Pid, Ref};
use crate::process::{Ctx, Exit, ReplyBody, ReplyTo, Signal};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long supervisor calls wait: OTP uses `infinity`; a day is the same in practice.
const CALL_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// The default shutdown timeout of a worker (OTP's 5000 ms).
pub const DEFAULT_SHUTDOWN: Duration = Duration::from_secs(5);

// ==================================================================== specs

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

/// Which children restart when one exits and is to be restarted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Strategy {
    /// Only that child.
    #[default]
    OneForOne,
    /// All children: the others are terminated (reverse start order), then all
    /// are started again (start order).
    OneForAll,
    /// That child and every child started after it.
    RestForOne,
}

/// What a supervisor supervises and how (the value OTP's `init/1` returns).
#[derive(Clone, Debug)]
pub struct SupervisorSpec {
    /// Which children restart together.
    pub strategy: Strategy,
    /// At most this many restarts within `max_seconds` (OTP's `intensity`, default 3);
    /// one more and the supervisor gives up.
    pub max_restarts: u32,
    /// The window of the intensity, in seconds (OTP's `period`, default 5).
    pub max_seconds: u64,
    /// The children, in start order.
    pub children: Vec<ChildSpec>,
}

impl SupervisorSpec {
    /// A spec with OTP's default intensity: 3 restarts in 5 seconds.
    pub fn new(strategy: Strategy, children: Vec<ChildSpec>) -> Self {
        SupervisorSpec {
            strategy,
            max_restarts: 3,
            max_seconds: 5,
            children,
        }
    }

    /// Sets the restart intensity.
    pub fn intensity(mut self, max_restarts: u32, max_seconds: u64) -> Self {
        self.max_restarts = max_restarts;
        self.max_seconds = max_seconds;
        self
    }
}

/// The options of a dynamic supervisor (Elixir's `DynamicSupervisor`): it starts
/// with no children and is given them by [`start_child`] / [`start_child_remote`].
/// Its strategy is one-for-one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynamicSupervisorSpec {
    /// At most this many restarts within `max_seconds` (default 3).
    pub max_restarts: u32,
    /// The window of the intensity, in seconds (default 5).
    pub max_seconds: u64,
    /// The most children it will have at once (`None`: unlimited).
    pub max_children: Option<usize>,
}

impl Default for DynamicSupervisorSpec {
    fn default() -> Self {
        DynamicSupervisorSpec {
            max_restarts: 3,
            max_seconds: 5,
            max_children: None,
        }
    }
}

impl DynamicSupervisorSpec {
    /// Sets the restart intensity.
    pub fn intensity(mut self, max_restarts: u32, max_seconds: u64) -> Self {
        self.max_restarts = max_restarts;
        self.max_seconds = max_seconds;
        self
    }

    /// Limits the number of children.
    pub fn max_children(mut self, max: usize) -> Self {
        self.max_children = Some(max);
        self
    }
}

// ==================================================================== errors and replies

/// Why a supervisor did not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SupervisorStartError {
    /// The name is already registered to this pid.
    #[error("already started as {0}")]
    AlreadyStarted(Pid),
    /// Two children of the spec have the same id.
    #[error("duplicate child id {0:?}")]
    DuplicateChild(String),
    /// A child failed to start; the ones started before it were terminated.
    #[error("child {id:?} failed to start: {reason}")]
    ChildFailed {
        /// The child's id.
        id: String,
        /// Why its start function failed.
        reason: ExitReason,
    },
    /// The supervisor was killed while starting.
    #[error("the supervisor died while starting")]
    Died,
}

/// Which child: by id (static supervisors) or by pid (either kind).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChildRef {
    /// The id of its spec.
    Id(String),
    /// Its current pid.
    Pid(Pid),
}

impl fmt::Display for ChildRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChildRef::Id(id) => write!(f, "{id:?}"),
            ChildRef::Pid(p) => write!(f, "{p}"),
        }
    }
}

impl From<&str> for ChildRef {
    fn from(id: &str) -> Self {
        ChildRef::Id(id.to_string())
    }
}
impl From<String> for ChildRef {
    fn from(id: String) -> Self {
        ChildRef::Id(id)
    }
}
impl From<Pid> for ChildRef {
    fn from(p: Pid) -> Self {
        ChildRef::Pid(p)
    }
}
impl From<&Pid> for ChildRef {
    fn from(p: &Pid) -> Self {
        ChildRef::Pid(p.clone())
    }
}

/// Why a request to a supervisor failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum SupervisorError {
    /// No such child.
    #[error("no child {0}")]
    NotFound(ChildRef),
    /// The child is running (for `restart_child` and `delete_child`).
    #[error("the child is running")]
    Running,
    /// The child is waiting to be restarted after a failed restart.
    #[error("the child is being restarted")]
    Restarting,
    /// A child with this id is running, as this pid.
    #[error("a child with this id is already running as {0}")]
    AlreadyStarted(Pid),
    /// A child with this id exists (not running).
    #[error("a child with this id already exists")]
    AlreadyPresent,
    /// The child's start function failed.
    #[error("the child failed to start: {0}")]
    StartFailed(ExitReason),
    /// A dynamic supervisor already has `max_children` children.
    #[error("the supervisor has reached max_children")]
    MaxChildren,
    /// No function `module:fun` is registered with [`Node::rpc_register_spawn`] on the
    /// supervisor's node.
    #[error("undefined spawnable {0}:{1}")]
    Undef(String, String),
    /// A [`ChildSpec`] (a closure) was sent to a supervisor on another node; use
    /// [`start_child_remote`].
    #[error(
        "a ChildSpec can only be given to a supervisor on the same node (use start_child_remote)"
    )]
    NotLocal,
    /// The operation does not apply to this kind of supervisor (e.g.
    /// `restart_child` on a dynamic supervisor).
    #[error("not supported by a {0} supervisor")]
    NotSupported(String),
    /// The supervisor could not be reached: dead, unknown name, node down.
    /// (Last: a variant serde skips must not shift the indices of the others.)
    #[error("supervisor call failed: {0}")]
    #[serde(skip)]
    Call(CallError),
}

impl From<CallError> for SupervisorError {
    fn from(e: CallError) -> Self {
        SupervisorError::Call(e)
    }
}

/// Child counts, as OTP's `count_children/1` returns them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildCounts {
    /// Children known to the supervisor, running or not.
    pub specs: usize,
    /// Children running now.
    pub active: usize,
    /// Children that are supervisors (running or not).
    pub supervisors: usize,
    /// Children that are workers (running or not).
    pub workers: usize,
}

#[derive(Serialize, Deserialize)]
enum Request {
    Which,
    Count,
    StartLocal(u64),
    StartRemote(RemoteChildSpec),
    Terminate(ChildRef),
    Restart(String),
    Delete(String),
    Stop(ExitReason),
}

#[derive(Serialize, Deserialize)]
enum Reply {
    Which(Vec<(String, Option<Pid>)>),
    Count(ChildCounts),
    Started(Pid),
    Done,
    Refused(SupervisorError),
}

/// A restart to try again (sent by a supervisor to itself).
#[derive(Serialize, Deserialize)]
struct Retry(u64);

fn server_start_reason(e: ServerStartError) -> ExitReason {
    match e {
        ServerStartError::InitFailed(r) => r,
        ServerStartError::AlreadyStarted(p) => ExitReason::error(format!("already started as {p}")),
    }
}

fn sup_start_reason(e: SupervisorStartError) -> ExitReason {
    ExitReason::error(e)
}

/// Removes a parked spec the supervisor did not take (the call failed).
struct PendingGuard(Node, u64);

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.0.handoff_take(self.1);
    }
}

// ==================================================================== starting

/// Starts a supervisor (not linked to anything), optionally registered under a
/// local `name`. Returns once every child has started, in order; if one fails,
/// those already started are terminated and the start fails.
///
/// ```no_run
/// use netsplit::supervisor::{self, ChildSpec, Restart, Strategy, SupervisorSpec};
/// use netsplit::{gen_server::GenServer, Node};
/// use std::time::Duration;
///
/// struct Cache;
/// impl GenServer for Cache {
///     type Call = ();
///     type Reply = ();
///     type Cast = ();
///     type Info = ();
/// }
///
/// # async fn demo(node: Node) -> Result<(), supervisor::SupervisorStartError> {
/// let spec = SupervisorSpec::new(
///     Strategy::OneForOne,
///     vec![
///         ChildSpec::gen_server("cache", Some("cache"), || Cache),
///         ChildSpec::process("janitor", |ctx| async move {
///             while ctx.recv_timeout(Duration::from_secs(60)).await.is_some() {}
///             // Idle for a minute: done (a transient child is not restarted).
///         })
///         .restart(Restart::Transient),
///     ],
/// )
/// .intensity(3, 5);
/// let sup = supervisor::start(&node, spec, Some("app_sup")).await?;
/// let children = supervisor::which_children(&node, &sup).await.unwrap();
/// assert_eq!(children.len(), 2);
/// # Ok(()) }
/// ```
pub async fn start(
    node: &Node,
    spec: SupervisorSpec,
    name: Option<&str>,
) -> Result<Pid, SupervisorStartError> {
    start_opts(node, Config::from_spec(&spec), spec.children, name, None).await
}

/// Starts a supervisor linked to the calling process (its parent): when the
/// parent exits, the supervisor terminates its children and exits with the
/// same reason. This is how a supervisor becomes the child of another.
pub async fn start_link(
    ctx: &Ctx,
    spec: SupervisorSpec,
    name: Option<&str>,
) -> Result<Pid, SupervisorStartError> {
    let config = Config::from_spec(&spec);
    start_opts(
        ctx.node(),
        config,
        spec.children,
        name,
        Some(ctx.pid().clone()),
    )
    .await
}

/// Starts a dynamic supervisor (Elixir's `DynamicSupervisor`): no children at
/// first; give it some with [`start_child`] (a local [`ChildSpec`]) or
/// [`start_child_remote`] (from any node). One-for-one; children are
/// terminated all at once when it stops.
pub async fn start_dynamic(
    node: &Node,
    spec: DynamicSupervisorSpec,
    name: Option<&str>,
) -> Result<Pid, SupervisorStartError> {
    start_opts(node, Config::from_dynamic(&spec), vec![], name, None).await
}

/// Like [`start_dynamic`], linked to the calling process (its parent).
pub async fn start_dynamic_link(
    ctx: &Ctx,
    spec: DynamicSupervisorSpec,
    name: Option<&str>,
) -> Result<Pid, SupervisorStartError> {
    start_opts(
        ctx.node(),
        Config::from_dynamic(&spec),
        vec![],
        name,
        Some(ctx.pid().clone()),
    )
    .await
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Static(Strategy),
    Dynamic { max_children: Option<usize> },
}

#[derive(Clone, Copy, Debug)]
struct Config {
    kind: Kind,
    max_restarts: u32,
    period: Duration,
}

impl Config {
    fn from_spec(s: &SupervisorSpec) -> Self {
        Config {
            kind: Kind::Static(s.strategy),
            max_restarts: s.max_restarts,
            period: Duration::from_secs(s.max_seconds),
        }
    }

    fn from_dynamic(s: &DynamicSupervisorSpec) -> Self {
        Config {
            kind: Kind::Dynamic {
                max_children: s.max_children,
            },
            max_restarts: s.max_restarts,
            period: Duration::from_secs(s.max_seconds),
        }
    }
}

async fn start_opts(
    node: &Node,
    config: Config,
    children: Vec<ChildSpec>,
    name: Option<&str>,
    parent: Option<Pid>,
) -> Result<Pid, SupervisorStartError> {
    for (i, c) in children.iter().enumerate() {
        if children[..i].iter().any(|o| o.id == c.id) {
            return Err(SupervisorStartError::DuplicateChild(c.id.clone()));
        }
    }
    let (ack_tx, ack_rx) = tokio::sync::oneshot::channel();
    let name = name.map(str::to_string);
    let p = parent.clone();
    node.spawn_opts(
        move |ctx: Ctx| async move {
            let give_up = |ctx: &Ctx| {
                if let Some(p) = &p {
                    ctx.unlink(p);
                }
            };
            if let Some(n) = &name {
                if let Err(e) = ctx.register(n) {
                    let other = match e {
                        crate::node::RegisterError::NameTaken(_, pid) => pid,
                        _ => ctx.pid().clone(),
                    };
                    give_up(&ctx);
                    let _ = ack_tx.send(Err(SupervisorStartError::AlreadyStarted(other)));
                    return ExitReason::Normal;
                }
            }
            let mut sup = Sup::new(ctx.clone(), config, p.clone());
            for spec in children {
                let id = spec.id.clone();
                let key = sup.insert(spec);
                if let Err(reason) = sup.start_key(key).await {
                    tracing::error!(
                        "supervisor {}: child {id:?} failed to start: {reason}; stopping",
                        ctx.pid()
                    );
                    sup.children.remove(&key);
                    sup.terminate_all().await;
                    give_up(&ctx);
                    let _ = ack_tx.send(Err(SupervisorStartError::ChildFailed { id, reason }));
                    return ExitReason::Shutdown;
                }
            }
            let _ = ack_tx.send(Ok(ctx.pid().clone()));
            sup.run().await
        },
        parent.as_ref(),
        true,
    );
    ack_rx.await.unwrap_or(Err(SupervisorStartError::Died))
}

// ==================================================================== the process

struct Child {
    spec: ChildSpec,
    pid: Option<Pid>,
    /// A restart of this child failed and a retry is queued.
    restarting: bool,
}

struct Sup {
    ctx: Ctx,
    config: Config,
    parent: Option<Pid>,
    /// Children by key; keys grow with insertion, so key order is start order.
    children: BTreeMap<u64, Child>,
    by_pid: HashMap<Pid, u64>,
    next_key: u64,
    restarts: VecDeque<Instant>,
    /// Signals received while waiting for a child's `Down`, to handle next.
    deferred: VecDeque<Signal>,
}

impl Sup {
    fn new(ctx: Ctx, config: Config, parent: Option<Pid>) -> Self {
        Sup {
            ctx,
            config,
            parent,
            children: BTreeMap::new(),
            by_pid: HashMap::new(),
            next_key: 0,
            restarts: VecDeque::new(),
            deferred: VecDeque::new(),
        }
    }

    fn me(&self) -> &Pid {
        self.ctx.pid()
    }

    fn is_dynamic(&self) -> bool {
        matches!(self.config.kind, Kind::Dynamic { .. })
    }

    fn insert(&mut self, spec: ChildSpec) -> u64 {
        let key = self.next_key;
        self.next_key += 1;
        self.children.insert(
            key,
            Child {
                spec,
                pid: None,
                restarting: false,
            },
        );
        key
    }

    async fn run(mut self) -> ExitReason {
        loop {
            let sig = match self.deferred.pop_front() {
                Some(s) => s,
                None => self.ctx.recv().await,
            };
            match sig {
                Signal::Exit(Exit { from, reason }) => {
                    let from_parent = self.parent.as_ref() == Some(&from);
                    let from_runtime = from.id() == 0 && reason != ExitReason::Normal;
                    if from_parent || from_runtime {
                        tracing::debug!(
                            "supervisor {}: exit signal from {from} ({reason}); shutting down",
                            self.me()
                        );
                        self.terminate_all().await;
                        return reason;
                    }
                    match self.by_pid.get(&from).copied() {
                        Some(key) => {
                            if let Some(r) = self.child_exited(key, from, reason).await {
                                return r;
                            }
                        }
                        None => tracing::debug!(
                            "supervisor {}: ignored exit signal from {from} ({reason})",
                            self.me()
                        ),
                    }
                }
                Signal::Call(reply_to, payload) => match payload.decode::<Request>() {
                    Ok(Request::Stop(reason)) => {
                        self.terminate_all().await;
                        self.reply(&reply_to, Reply::Done);
                        return reason;
                    }
                    Ok(req) => {
                        let reply = self.handle_call(req).await;
                        self.reply(&reply_to, reply);
                    }
                    Err(e) => self
                        .ctx
                        .node()
                        .send_reply(&reply_to, ReplyBody::BadRequest(e)),
                },
                Signal::Message {
                    from: Some(from),
                    payload,
                } if from == *self.me() && payload.is::<Retry>() => {
                    if let Ok(Retry(key)) = payload.decode() {
                        if let Some(r) = self.retry(key).await {
                            return r;
                        }
                    }
                }
                other => tracing::debug!("supervisor {}: ignored {other:?}", self.me()),
            }
        }
    }

    fn reply(&self, to: &ReplyTo, reply: Reply) {
        self.ctx
            .node()
            .send_reply(to, ReplyBody::Ok(Payload::encode(&reply)));
    }

    /// A child exited. Returns the supervisor's exit reason if it must stop.
    async fn child_exited(&mut self, key: u64, pid: Pid, reason: ExitReason) -> Option<ExitReason> {
        self.by_pid.remove(&pid);
        let dynamic = self.is_dynamic();
        let child = self.children.get_mut(&key)?;
        child.pid = None;
        let id = child.spec.id.clone();
        let restart = child.spec.restart;
        if self.ctx.node().is_stopped() {
            // The node is going down and takes every process with it, in no
            // particular order: nothing to report, nothing to restart.
            return Some(ExitReason::Shutdown);
        }
        if reason.is_normal_or_shutdown() {
            tracing::debug!(
                "supervisor {}: child {id:?} ({pid}) exited: {reason}",
                self.me()
            );
        } else {
            tracing::error!(
                "supervisor {}: child {id:?} ({pid}) exited: {reason}",
                self.me()
            );
        }
        if !restart.restarts_after(&reason) {
            if restart == Restart::Temporary || dynamic {
                self.children.remove(&key);
            }
            return None;
        }
        if !self.add_restart() {
            return Some(self.give_up(&id).await);
        }
        self.restart_from(key).await;
        None
    }

    /// Retries a restart that failed. Returns the exit reason if the supervisor must stop.
    async fn retry(&mut self, key: u64) -> Option<ExitReason> {
        let child = self.children.get(&key)?;
        if !child.restarting || child.pid.is_some() {
            return None;
        }
        let id = child.spec.id.clone();
        if !self.add_restart() {
            return Some(self.give_up(&id).await);
        }
        self.restart_from(key).await;
        None
    }

    /// Records a restart; false if that makes too many within the period.
    fn add_restart(&mut self) -> bool {
        let now = Instant::now();
        self.restarts.push_back(now);
        while let Some(t) = self.restarts.front() {
            if now.duration_since(*t) >= self.config.period {
                self.restarts.pop_front();
            } else {
                break;
            }
        }
        self.restarts.len() <= self.config.max_restarts as usize
    }

    async fn give_up(&mut self, id: &str) -> ExitReason {
        tracing::error!(
            "supervisor {}: reached max restart intensity ({} restarts in {:?}) after child {id:?} exited; terminating all children and shutting down",
            self.me(),
            self.config.max_restarts,
            self.config.period
        );
        self.terminate_all().await;
        ExitReason::Shutdown
    }

    /// Restarts child `key` and, per the strategy, its group.
    async fn restart_from(&mut self, key: u64) {
        let (stop, start): (Vec<u64>, Vec<u64>) = match self.config.kind {
            Kind::Dynamic { .. } | Kind::Static(Strategy::OneForOne) => (vec![], vec![key]),
            Kind::Static(Strategy::OneForAll) => (
                self.children
                    .keys()
                    .copied()
                    .filter(|k| *k != key)
                    .collect(),
                self.children.keys().copied().collect(),
            ),
            Kind::Static(Strategy::RestForOne) => (
                self.children.range(key + 1..).map(|(k, _)| *k).collect(),
                self.children.range(key..).map(|(k, _)| *k).collect(),
            ),
        };
        for k in stop.into_iter().rev() {
            self.terminate_key(k).await;
        }
        for k in start {
            // Temporary children terminated above are gone.
            let Some(child) = self.children.get(&k) else {
                continue;
            };
            if child.pid.is_some() {
                continue;
            }
            let id = child.spec.id.clone();
            match self.start_key(k).await {
                Ok(pid) => {
                    tracing::info!("supervisor {}: restarted child {id:?} as {pid}", self.me())
                }
                Err(reason) => {
                    tracing::error!(
                        "supervisor {}: restarting child {id:?} failed: {reason}; will retry",
                        self.me()
                    );
                    if let Some(c) = self.children.get_mut(&k) {
                        c.restarting = true;
                    }
                    let _ = self.ctx.send(self.me().clone(), &Retry(k));
                    break;
                }
            }
        }
    }

    /// Runs child `key`'s start function; records and links the new pid.
    async fn start_key(&mut self, key: u64) -> Result<Pid, ExitReason> {
        let start = self.children.get(&key).map(|c| c.spec.start.clone());
        let Some(start) = start else {
            return Err(ExitReason::NoProc);
        };
        let res = AssertUnwindSafe(start(&self.ctx)).catch_unwind().await;
        let pid = match res {
            Ok(Ok(pid)) => pid,
            Ok(Err(reason)) => return Err(reason),
            Err(panic) => return Err(ExitReason::Error(crate::process::panic_message(&panic))),
        };
        // The start function should have linked it; linking again is harmless
        // and catches a child that was not (or has already died).
        self.ctx.link(&pid);
        if let Some(c) = self.children.get_mut(&key) {
            c.pid = Some(pid.clone());
            c.restarting = false;
        }
        self.by_pid.insert(pid.clone(), key);
        Ok(pid)
    }

    /// Terminates child `key` if it runs; forgets it if it is temporary.
    async fn terminate_key(&mut self, key: u64) {
        let Some(child) = self.children.get_mut(&key) else {
            return;
        };
        child.restarting = false;
        let pid = child.pid.take();
        let shutdown = child.spec.shutdown;
        let id = child.spec.id.clone();
        if child.spec.restart == Restart::Temporary {
            self.children.remove(&key);
        }
        if let Some(pid) = pid {
            self.by_pid.remove(&pid);
            self.shutdown_children(vec![(id, pid, shutdown)]).await;
        }
    }

    /// Terminates every child: in reverse start order, one by one, for a static
    /// supervisor; all at once for a dynamic one.
    async fn terminate_all(&mut self) {
        let running: Vec<(String, Pid, Shutdown)> = self
            .children
            .values_mut()
            .filter_map(|c| {
                c.restarting = false;
                c.pid
                    .take()
                    .map(|p| (c.spec.id.clone(), p, c.spec.shutdown))
            })
            .collect();
        self.by_pid.clear();
        if self.is_dynamic() {
            self.shutdown_children(running).await;
        } else {
            for child in running.into_iter().rev() {
                self.shutdown_children(vec![child]).await;
            }
        }
    }

    /// Stops these children (OTP's `shutdown/2`): monitor, unlink, exit
    /// `Shutdown` (or `Kill`), then `Kill` on timeout; returns once every one is
    /// gone. Other signals that arrive meanwhile are kept for later.
    async fn shutdown_children(&mut self, children: Vec<(String, Pid, Shutdown)>) {
        struct Pending {
            id: String,
            pid: Pid,
            shutdown: Shutdown,
            deadline: Option<Instant>,
        }
        let mut pending: HashMap<Ref, Pending> = HashMap::new();
        for (id, pid, shutdown) in children {
            let mref = self.ctx.monitor(&pid);
            self.ctx.unlink(&pid);
            let deadline = match shutdown {
                Shutdown::BrutalKill => {
                    self.ctx.exit(&pid, ExitReason::Kill);
                    None
                }
                Shutdown::Timeout(d) => {
                    self.ctx.exit(&pid, ExitReason::Shutdown);
                    Some(Instant::now() + d)
                }
                Shutdown::Infinity => {
                    self.ctx.exit(&pid, ExitReason::Shutdown);
                    None
                }
            };
            pending.insert(
                mref,
                Pending {
                    id,
                    pid,
                    shutdown,
                    deadline,
                },
            );
        }
        while !pending.is_empty() {
            let next = pending.values().filter_map(|p| p.deadline).min();
            let sig = match next {
                Some(at) => match tokio::time::timeout_at(at, self.ctx.recv()).await {
                    Ok(s) => s,
                    Err(_) => {
                        let now = Instant::now();
                        for p in pending.values_mut() {
                            if p.deadline.is_some_and(|d| d <= now) {
                                tracing::warn!(
                                    "supervisor {}: child {:?} ({}) did not stop in time; killing it",
                                    self.ctx.pid(),
                                    p.id,
                                    p.pid
                                );
                                p.deadline = None;
                                self.ctx.exit(&p.pid, ExitReason::Kill);
                            }
                        }
                        continue;
                    }
                },
                None => self.ctx.recv().await,
            };
            match sig {
                Signal::Down(d) if pending.contains_key(&d.mref) => {
                    let p = pending.remove(&d.mref).expect("checked above");
                    let expected = match p.shutdown {
                        Shutdown::BrutalKill => d.reason == ExitReason::Killed,
                        _ => d.reason == ExitReason::Shutdown,
                    };
                    // NoProc: it had already exited (its exit signal is queued).
                    if !expected && d.reason != ExitReason::NoProc {
                        tracing::warn!(
                            "supervisor {}: child {:?} ({}) shut down with reason {}",
                            self.ctx.pid(),
                            p.id,
                            p.pid,
                            d.reason
                        );
                    }
                }
                other => self.deferred.push_back(other),
            }
        }
    }

    async fn handle_call(&mut self, req: Request) -> Reply {
        match req {
            Request::Which => Reply::Which(
                self.children
                    .values()
                    .map(|c| (c.spec.id.clone(), c.pid.clone()))
                    .collect(),
            ),
            Request::Count => {
                let mut n = ChildCounts {
                    specs: self.children.len(),
                    ..Default::default()
                };
                for c in self.children.values() {
                    if c.pid.is_some() {
                        n.active += 1;
                    }
                    match c.spec.child_type {
                        ChildType::Worker => n.workers += 1,
                        ChildType::Supervisor => n.supervisors += 1,
                    }
                }
                Reply::Count(n)
            }
            Request::StartLocal(k) => {
                let entry = self.ctx.node().handoff_take(k);
                match entry.and_then(|b| b.downcast::<ChildSpec>().ok()) {
                    Some(spec) => self.add_child(*spec).await,
                    None => Reply::Refused(SupervisorError::NotLocal),
                }
            }
            Request::StartRemote(r) => {
                if !self.ctx.node().has_spawnable(&r.module, &r.fun) {
                    return Reply::Refused(SupervisorError::Undef(r.module, r.fun));
                }
                self.add_child(r.into()).await
            }
            Request::Terminate(which) => {
                let key = match &which {
                    ChildRef::Pid(p) => self.by_pid.get(p).copied(),
                    ChildRef::Id(id) if !self.is_dynamic() => self.key_of(id),
                    ChildRef::Id(_) => None,
                };
                let Some(key) = key else {
                    return Reply::Refused(SupervisorError::NotFound(which));
                };
                self.terminate_key(key).await;
                if self.is_dynamic() {
                    self.children.remove(&key);
                }
                Reply::Done
            }
            Request::Restart(id) => {
                if self.is_dynamic() {
                    return Reply::Refused(SupervisorError::NotSupported("dynamic".into()));
                }
                let Some(key) = self.key_of(&id) else {
                    return Reply::Refused(SupervisorError::NotFound(ChildRef::Id(id)));
                };
                let c = &self.children[&key];
                if c.pid.is_some() {
                    return Reply::Refused(SupervisorError::Running);
                }
                if c.restarting {
                    return Reply::Refused(SupervisorError::Restarting);
                }
                match self.start_key(key).await {
                    Ok(pid) => Reply::Started(pid),
                    Err(r) => Reply::Refused(SupervisorError::StartFailed(r)),
                }
            }
            Request::Delete(id) => {
                if self.is_dynamic() {
                    return Reply::Refused(SupervisorError::NotSupported("dynamic".into()));
                }
                let Some(key) = self.key_of(&id) else {
                    return Reply::Refused(SupervisorError::NotFound(ChildRef::Id(id)));
                };
                let c = &self.children[&key];
                if c.pid.is_some() {
                    return Reply::Refused(SupervisorError::Running);
                }
                if c.restarting {
                    return Reply::Refused(SupervisorError::Restarting);
                }
                self.children.remove(&key);
                Reply::Done
            }
            Request::Stop(_) => unreachable!("handled by run"),
        }
    }

    fn key_of(&self, id: &str) -> Option<u64> {
        self.children
            .iter()
            .find(|(_, c)| c.spec.id == id)
            .map(|(k, _)| *k)
    }

    async fn add_child(&mut self, spec: ChildSpec) -> Reply {
        match self.config.kind {
            Kind::Dynamic { max_children } => {
                if max_children.is_some_and(|m| self.children.len() >= m) {
                    return Reply::Refused(SupervisorError::MaxChildren);
                }
            }
            Kind::Static(_) => {
                if let Some(key) = self.key_of(&spec.id) {
                    return Reply::Refused(match &self.children[&key].pid {
                        Some(p) => SupervisorError::AlreadyStarted(p.clone()),
                        None => SupervisorError::AlreadyPresent,
                    });
                }
            }
        }
        let key = self.insert(spec);
        match self.start_key(key).await {
            Ok(pid) => Reply::Started(pid),
            Err(r) => {
                self.children.remove(&key);
                Reply::Refused(SupervisorError::StartFailed(r))
            }
        }
    }
}

// ==================================================================== calls

async fn request(node: &Node, sup: Dest, req: &Request) -> Result<Reply, SupervisorError> {
    match gen_server::call::<Request, Reply>(node, sup, req, CALL_TIMEOUT).await? {
        Reply::Refused(e) => Err(e),
        r => Ok(r),
    }
}

fn unexpected() -> SupervisorError {
    SupervisorError::Call(CallError::Exit(ExitReason::error(
        "unexpected reply from the supervisor",
    )))
}

async fn started(node: &Node, sup: Dest, req: &Request) -> Result<Pid, SupervisorError> {
    match request(node, sup, req).await? {
        Reply::Started(p) => Ok(p),
        _ => Err(unexpected()),
    }
}

async fn done(node: &Node, sup: Dest, req: &Request) -> Result<(), SupervisorError> {
    match request(node, sup, req).await? {
        Reply::Done => Ok(()),
        _ => Err(unexpected()),
    }
}

/// The children of a supervisor (static or dynamic), in start order: each id
/// with its pid, or `None` if it is not running (stopped, a transient child that
/// finished, or waiting for a restart to be retried).
pub async fn which_children(
    node: &Node,
    sup: impl Into<Dest>,
) -> Result<Vec<(String, Option<Pid>)>, SupervisorError> {
    match request(node, sup.into(), &Request::Which).await? {
        Reply::Which(v) => Ok(v),
        _ => Err(unexpected()),
    }
}

/// Counts a supervisor's children.
pub async fn count_children(
    node: &Node,
    sup: impl Into<Dest>,
) -> Result<ChildCounts, SupervisorError> {
    match request(node, sup.into(), &Request::Count).await? {
        Reply::Count(c) => Ok(c),
        _ => Err(unexpected()),
    }
}

/// Adds a child to a supervisor **of this node** and starts it; returns its pid.
///
/// For a dynamic supervisor this is the usual way to add work (refused with
/// [`SupervisorError::MaxChildren`] at the limit). For a static one the child
/// is appended to the start order; its id must be new
/// ([`SupervisorError::AlreadyStarted`] / [`SupervisorError::AlreadyPresent`]).
/// A child whose start fails is not added ([`SupervisorError::StartFailed`]).
///
/// A `ChildSpec` holds a closure, which cannot travel: a supervisor on another
/// node gets [`SupervisorError::NotLocal`]. Use [`start_child_remote`] there.
pub async fn start_child(
    node: &Node,
    sup: impl Into<Dest>,
    spec: ChildSpec,
) -> Result<Pid, SupervisorError> {
    let sup = sup.into();
    if sup.node().is_some_and(|n| n != node.name()) {
        return Err(SupervisorError::NotLocal);
    }
    let key = node.handoff_put(Box::new(spec));
    let _guard = PendingGuard(node.clone(), key);
    started(node, sup, &Request::StartLocal(key)).await
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

/// Terminates a child (by id, or by pid) as the supervisor would at shutdown.
/// A static supervisor keeps its spec (restart it with [`restart_child`]),
/// except for a temporary child; a dynamic supervisor forgets it.
/// Terminating a child that is not running succeeds.
pub async fn terminate_child(
    node: &Node,
    sup: impl Into<Dest>,
    child: impl Into<ChildRef>,
) -> Result<(), SupervisorError> {
    done(node, sup.into(), &Request::Terminate(child.into())).await
}

/// Starts again a stopped child of a static supervisor; returns its new pid.
/// [`SupervisorError::Running`] if it runs.
pub async fn restart_child(
    node: &Node,
    sup: impl Into<Dest>,
    id: &str,
) -> Result<Pid, SupervisorError> {
    started(node, sup.into(), &Request::Restart(id.to_string())).await
}

/// Removes a stopped child's spec from a static supervisor.
/// [`SupervisorError::Running`] if it runs.
pub async fn delete_child(
    node: &Node,
    sup: impl Into<Dest>,
    id: &str,
) -> Result<(), SupervisorError> {
    done(node, sup.into(), &Request::Delete(id.to_string())).await
}

/// Stops a supervisor in order: it terminates its children (as at any
/// shutdown), replies, and exits with `reason`. Returns once the children are gone.
pub async fn stop(
    node: &Node,
    sup: impl Into<Dest>,
    reason: ExitReason,
) -> Result<(), SupervisorError> {
    done(node, sup.into(), &Request::Stop(reason)).await
}
