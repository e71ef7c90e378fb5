//! The supervisor's call protocol: the requests, the replies, how the process
//! answers them, and the public functions that send them.

use super::process::{Kind, Sup};
#[cfg(doc)] // doc links
use super::start_child_remote;
use super::{ChildCounts, ChildRef, ChildSpec, ChildType, RemoteChildSpec, SupervisorError};
use crate::exit::ExitReason;
use crate::gen_server::{self, CallError};
use crate::node::{Dest, Node};
use crate::pid::Pid;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long supervisor calls wait: OTP uses `infinity`; a day is the same in practice.
const CALL_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

#[derive(Serialize, Deserialize)]
pub(super) enum Request {
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
pub(super) enum Reply {
    Which(Vec<(String, Option<Pid>)>),
    Count(ChildCounts),
    Started(Pid),
    Done,
    Refused(SupervisorError),
}

/// Removes a parked spec the supervisor did not take (the call failed).
struct PendingGuard(Node, u64);

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.0.handoff_take(self.1);
    }
}

impl Sup {
    pub(super) async fn handle_call(&mut self, req: Request) -> Reply {
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

pub(super) async fn started(node: &Node, sup: Dest, req: &Request) -> Result<Pid, SupervisorError> {
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
