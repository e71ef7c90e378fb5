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

mod calls;
mod dynamic;
mod error;
mod process;
mod remote;
mod shutdown;
mod spec;
mod strategy;

pub use calls::{
    count_children, delete_child, restart_child, start_child, stop, terminate_child, which_children,
};
pub use dynamic::{start_dynamic, start_dynamic_link, DynamicSupervisorSpec};
pub use error::{ChildCounts, ChildRef, SupervisorError, SupervisorStartError};
pub use remote::{start_child_remote, start_remote_child, RemoteChildSpec};
pub use spec::{ChildSpec, ChildType, Restart, Shutdown, StartFn, DEFAULT_SHUTDOWN};
pub use strategy::{start, start_link, Strategy, SupervisorSpec};

#[cfg(doc)] // doc links
use crate::{exit::ExitReason, node::Node};
