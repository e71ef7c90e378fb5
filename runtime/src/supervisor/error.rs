//! What supervisor calls return when they fail, and what they report.

use crate::exit::ExitReason;
use crate::gen_server::CallError;
use crate::pid::Pid;
use serde::{Deserialize, Serialize};
use std::fmt;
#[cfg(doc)] // doc links
use {super::start_child_remote, super::ChildSpec, crate::node::Node};

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
