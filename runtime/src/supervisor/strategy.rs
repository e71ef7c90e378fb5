//! The static supervisor: its spec, how it starts, and how a restart follows
//! the strategy within the restart intensity.

use super::process::{start_opts, Config, Kind, Retry, Sup};
use super::{ChildSpec, Restart, SupervisorStartError};
use crate::exit::ExitReason;
use crate::node::Node;
use crate::pid::Pid;
use crate::process::Ctx;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

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

impl Sup {
    /// A child exited. Returns the supervisor's exit reason if it must stop.
    pub(super) async fn child_exited(
        &mut self,
        key: u64,
        pid: Pid,
        reason: ExitReason,
    ) -> Option<ExitReason> {
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
    pub(super) async fn retry(&mut self, key: u64) -> Option<ExitReason> {
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
}
