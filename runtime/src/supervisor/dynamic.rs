//! The dynamic supervisor (Elixir's `DynamicSupervisor`): starts empty, is given
//! children at run time, restarts them one for one.

use super::process::{start_opts, Config};
use super::SupervisorStartError;
#[cfg(doc)] // doc links
use super::{start_child, start_child_remote, ChildSpec};
use crate::node::Node;
use crate::pid::Pid;
use crate::process::Ctx;

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
